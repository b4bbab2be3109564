/* history-peer.c — a Confab conversation with a history file, as its own process, for test-crash
 *
 *   history-peer DB LOCAL-PORT PEER-PORT [COUNT]
 *
 * Keeps its history in DB and talks to 127.0.0.1:PEER-PORT. With COUNT it
 * sends "message 1" to "message COUNT", a few every millisecond, carrying on
 * after the ones already in DB (a restart), printing "sent N" for each; it
 * prints "done" and exits once all are stored as delivered, or exits 1 if
 * one failed. Without COUNT it
 * only receives, until killed.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "confab-conversation.h"

#define BURST 8

typedef struct
{
  ConfabConversation *conversation;
  GMainLoop          *loop;
  guint               next;
  guint               count;
} Peer;

/* Done once every message is stored as delivered; a failed one ends the run. */
static gboolean
on_check (gpointer user_data)
{
  Peer *peer = user_data;
  ConfabHistory *history = confab_conversation_get_history (peer->conversation);
  g_autoptr(GPtrArray) stored = confab_history_load (history, 0, peer->count + 1, NULL);
  guint delivered = 0;

  for (guint i = 0; stored != NULL && i < stored->len; i++)
    {
      ConfabMessage *message = g_ptr_array_index (stored, i);

      if (confab_message_get_state (message) == CONFAB_MESSAGE_STATE_FAILED)
        {
          printf ("failed %s: %s\n", confab_message_get_text (message),
                  confab_message_get_error (message));
          exit (1);
        }
      if (confab_message_get_state (message) == CONFAB_MESSAGE_STATE_DELIVERED)
        delivered++;
    }

  if (delivered < peer->count)
    return G_SOURCE_CONTINUE;

  printf ("done\n");
  g_main_loop_quit (peer->loop);
  return G_SOURCE_REMOVE;
}

static gboolean
on_tick (gpointer user_data)
{
  Peer *peer = user_data;

  for (guint i = 0; i < BURST && peer->next <= peer->count; i++, peer->next++)
    {
      g_autofree char *text = g_strdup_printf ("message %u", peer->next);

      confab_conversation_send (peer->conversation, text);
      printf ("sent %u\n", peer->next);
    }

  if (peer->next <= peer->count)
    return G_SOURCE_CONTINUE;

  g_timeout_add (50, on_check, peer);
  return G_SOURCE_REMOVE;
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(ConfabConversation) conversation = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  Peer peer = { 0 };

  if (argc != 4 && argc != 5)
    {
      fprintf (stderr, "usage: %s DB LOCAL-PORT PEER-PORT [COUNT]\n", argv[0]);
      return 2;
    }

  setvbuf (stdout, NULL, _IOLBF, 0);

  conversation = confab_conversation_new ();
  if (!confab_conversation_set_local_port (conversation, atoi (argv[2])))
    {
      fprintf (stderr, "%s\n", confab_conversation_get_bind_error (conversation)->message);
      return 1;
    }
  confab_conversation_set_nickname (conversation, argc == 5 ? "sender" : "receiver");
  confab_conversation_set_peer (conversation, "127.0.0.1", atoi (argv[3]));
  confab_conversation_set_history_path (conversation, argv[1]);
  if (confab_conversation_get_history (conversation) == NULL)
    {
      fprintf (stderr, "no history: %s\n",
               confab_conversation_get_history_problem (conversation)->message);
      return 1;
    }

  loop = g_main_loop_new (NULL, FALSE);
  peer.conversation = conversation;
  peer.loop = loop;

  if (argc == 5)
    {
      peer.count = atoi (argv[4]);
      peer.next = confab_history_count (confab_conversation_get_history (conversation), NULL) + 1;
      g_timeout_add (1, on_tick, &peer);
    }

  g_main_loop_run (loop);

  return 0;
}
