/* test-conversation-history.c — a conversation keeping its history in a real SQLite file
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "confab-conversation.h"
#include "confab-wire.h"
#include "test-util.h"

typedef struct
{
  char *dir;
  char *path_a;
  char *path_b;
} Fixture;

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  fixture->dir = test_make_tmpdir ("conversation-history");
  fixture->path_a = g_build_filename (fixture->dir, "a", "history.db", NULL);
  fixture->path_b = g_build_filename (fixture->dir, "b", "history.db", NULL);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  test_remove_tree (fixture->dir);
  g_free (fixture->dir);
  g_free (fixture->path_a);
  g_free (fixture->path_b);
}

/* As the application does: socket and peer first, then the history, so
 * that the outbox can go out at once.
 */
static ConfabConversation *
conversation_new (const char *history_path,
                  guint16     peer_port)
{
  ConfabConversation *conversation = confab_conversation_new ();

  g_assert_true (confab_conversation_set_local_port (conversation, 0));
  if (peer_port != 0)
    confab_conversation_set_peer (conversation, "127.0.0.1", peer_port);
  confab_conversation_set_history_path (conversation, history_path);
  g_assert_true (confab_conversation_get_keep_history (conversation));

  return conversation;
}

static void
pair_up (ConfabConversation *a,
         ConfabConversation *b)
{
  confab_conversation_set_peer (a, "127.0.0.1", confab_conversation_get_local_port (b));
  confab_conversation_set_peer (b, "127.0.0.1", confab_conversation_get_local_port (a));
}

static guint
n_items (ConfabConversation *conversation)
{
  return g_list_model_get_n_items (G_LIST_MODEL (conversation));
}

static ConfabMessage *
item (ConfabConversation *conversation,
      guint               position)
{
  g_autoptr(ConfabMessage) message = g_list_model_get_item (G_LIST_MODEL (conversation),
                                                            position);

  /* The list holds it. */
  return message;
}

static gboolean
delivered (gpointer data)
{
  return confab_message_get_state (data) == CONFAB_MESSAGE_STATE_DELIVERED;
}

typedef struct
{
  ConfabConversation *conversation;
  guint               count;
} CountWait;

static gboolean
has_count (gpointer data)
{
  CountWait *wait = data;

  return n_items (wait->conversation) >= wait->count;
}

static void
wait_for_items (ConfabConversation *conversation,
                guint               count)
{
  CountWait wait = { conversation, count };

  TEST_WAIT_UNTIL (has_count, &wait);
}

static void
flush_main_loop (void)
{
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

/* Both sides store what went and came, with every field. */
static void
test_stored_both_sides (Fixture       *fixture,
                        gconstpointer  data)
{
  ConfabConversation *a = conversation_new (fixture->path_a, 0);
  ConfabConversation *b = conversation_new (fixture->path_b, 0);
  g_autoptr(GPtrArray) stored_a = NULL;
  g_autoptr(GPtrArray) stored_b = NULL;
  ConfabMessage *hello;
  ConfabMessage *reply;
  ConfabMessage *row;

  pair_up (a, b);
  confab_conversation_set_nickname (a, "ann");
  confab_conversation_set_nickname (b, "bob");

  hello = confab_conversation_send (a, "hello 'bob' \"; --");
  TEST_WAIT_UNTIL (delivered, hello);
  reply = confab_conversation_send (b, "hi ann ✓");
  TEST_WAIT_UNTIL (delivered, reply);
  wait_for_items (a, 2);
  flush_main_loop ();

  stored_a = test_read_history (fixture->path_a);
  stored_b = test_read_history (fixture->path_b);
  g_assert_cmpuint (stored_a->len, ==, 2);
  g_assert_cmpuint (stored_b->len, ==, 2);

  row = g_ptr_array_index (stored_a, 0);
  g_assert_cmpint (confab_message_get_direction (row), ==, CONFAB_DIRECTION_OUTGOING);
  g_assert_cmpstr (confab_message_get_text (row), ==, "hello 'bob' \"; --");
  g_assert_cmpstr (confab_message_get_sender (row), ==, "ann");
  g_assert_cmpint (confab_message_get_state (row), ==, CONFAB_MESSAGE_STATE_DELIVERED);
  g_assert_cmpint (confab_message_get_delivered_time (row), >, 0);
  g_assert_cmpuint (confab_message_get_origin (row), ==, confab_message_get_origin (hello));
  g_assert_cmpuint (confab_message_get_number (row), ==, confab_message_get_number (hello));
  g_assert_cmpstr (confab_message_get_peer_host (row), ==, "127.0.0.1");
  g_assert_cmpuint (confab_message_get_peer_port (row), ==, confab_conversation_get_local_port (b));

  row = g_ptr_array_index (stored_a, 1);
  g_assert_cmpint (confab_message_get_direction (row), ==, CONFAB_DIRECTION_INCOMING);
  g_assert_cmpstr (confab_message_get_text (row), ==, "hi ann ✓");
  g_assert_cmpstr (confab_message_get_sender (row), ==, "bob");
  g_assert_cmpint (confab_message_get_state (row), ==, CONFAB_MESSAGE_STATE_RECEIVED);
  g_assert_cmpint (confab_message_get_received_time (row), >, 0);
  g_assert_cmpint (confab_message_get_time_usec (row), ==, confab_message_get_time_usec (reply));

  row = g_ptr_array_index (stored_b, 0);
  g_assert_cmpint (confab_message_get_direction (row), ==, CONFAB_DIRECTION_INCOMING);
  g_assert_cmpuint (confab_message_get_origin (row), ==, confab_message_get_origin (hello));

  g_assert_finalize_object (a);
  g_assert_finalize_object (b);
}

typedef struct
{
  const char *path;
  gint64      stored_at_delivery;
} AckState;

static void
on_state_count_peer (ConfabMessage *message,
                     GParamSpec    *pspec,
                     AckState      *state)
{
  g_autoptr(GPtrArray) stored = NULL;

  if (confab_message_get_state (message) != CONFAB_MESSAGE_STATE_DELIVERED)
    return;

  stored = test_read_history (state->path);
  state->stored_at_delivery = stored->len;
}

/* When the sender learns a message arrived, it is on the receiver's disk. */
static void
test_ack_means_stored (Fixture       *fixture,
                       gconstpointer  data)
{
  ConfabConversation *a = conversation_new (fixture->path_a, 0);
  ConfabConversation *b = conversation_new (fixture->path_b, 0);
  AckState state = { fixture->path_b, -1 };
  ConfabMessage *sent;

  pair_up (a, b);
  sent = confab_conversation_send (a, "on disk first");
  g_signal_connect (sent, "notify::state", G_CALLBACK (on_state_count_peer), &state);
  TEST_WAIT_UNTIL (delivered, sent);
  g_assert_cmpint (state.stored_at_delivery, ==, 1);

  g_signal_handlers_disconnect_by_data (sent, &state);
  g_assert_finalize_object (a);
  g_assert_finalize_object (b);
}

static void
fill (const char *path,
      guint       count)
{
  g_autoptr(ConfabHistory) history = confab_history_open (path, NULL);

  g_assert_nonnull (history);
  for (guint i = 1; i <= count; i++)
    {
      g_autofree char *text = g_strdup_printf ("old %u", i);
      g_autoptr(ConfabMessage) message = confab_message_new (CONFAB_DIRECTION_INCOMING, "bob",
                                                             text, NULL);

      confab_message_set_id (message, 1234, i);
      confab_message_set_peer (message, "127.0.0.1", 9);
      g_assert_true (confab_history_add (history, message, NULL));
    }
  g_assert_true (confab_history_commit (history, NULL));
}

/* A new run shows the newest page and reads older ones on demand. */
static void
test_restart_pages (Fixture       *fixture,
                    gconstpointer  data)
{
  ConfabConversation *a = NULL;
  guint loads = 0;

  fill (fixture->path_a, 120);
  a = conversation_new (fixture->path_a, 0);

  /* The first page only fills a window; the next ones are larger. */
  g_assert_cmpuint (n_items (a), ==, 12);
  g_assert_cmpstr (confab_message_get_text (item (a, 11)), ==, "old 120");
  g_assert_cmpstr (confab_message_get_text (item (a, 0)), ==, "old 109");
  g_assert_true (confab_conversation_get_has_older (a));

  while (confab_conversation_load_older (a))
    loads++;
  /* 12 + 25 + 25 + 25 + 25 + 8: it knew after the sixth page that nothing was left */
  g_assert_cmpuint (loads, ==, 5);
  g_assert_cmpuint (n_items (a), ==, 120);
  g_assert_false (confab_conversation_get_has_older (a));
  for (guint i = 0; i < 120; i++)
    {
      g_autofree char *text = g_strdup_printf ("old %u", i + 1);

      g_assert_cmpstr (confab_message_get_text (item (a, i)), ==, text);
    }

  /* New messages follow, and are not read back a second time. */
  confab_conversation_set_peer (a, "127.0.0.1", 9);
  confab_conversation_send (a, "new");
  g_assert_false (confab_conversation_load_older (a));
  g_assert_cmpuint (n_items (a), ==, 121);

  g_assert_finalize_object (a);
}

/* "m 1" to "m @count" from @conversation, as fast as it takes them */
static void
send_numbered (ConfabConversation *conversation,
               guint               count)
{
  for (guint i = 1; i <= count; i++)
    {
      g_autofree char *text = g_strdup_printf ("m %u", i);

      confab_conversation_send (conversation, text);
    }
}

/* The list holds "m 1" to "m @count", in order */
static void
assert_numbered (ConfabConversation *conversation,
                 guint               count)
{
  g_assert_cmpuint (n_items (conversation), ==, count);
  for (guint i = 0; i < count; i++)
    {
      g_autofree char *text = g_strdup_printf ("m %u", i + 1);

      g_assert_cmpstr (confab_message_get_text (item (conversation, i)), ==, text);
    }
}

static gboolean
shows_last (gpointer data)
{
  ConfabConversation *conversation = data;
  guint n = n_items (conversation);

  return n > 0 && g_str_equal (confab_message_get_text (item (conversation, n - 1)), "m 5000");
}

/* The most messages one change added at the end of the list */
static void
count_most_added (GListModel *model,
                  guint       position,
                  guint       removed,
                  guint       added,
                  gpointer    data)
{
  guint *most_added = data;

  if (position + added == g_list_model_get_n_items (model))
    *most_added = MAX (*most_added, added);
}

/* While a view follows the newest, a flood does not pile up in memory: the
 * list keeps the newest few thousand, a view is given a few at a time, and
 * the rest are read back in order.
 */
static void
test_follow_newest_bounded (Fixture       *fixture,
                            gconstpointer  data)
{
  ConfabConversation *a = conversation_new (fixture->path_a, 0);
  ConfabConversation *b = conversation_new (fixture->path_b, 0);
  guint most_added = 0;

  pair_up (a, b);
  confab_conversation_set_follow_newest (b, TRUE);
  g_signal_connect (b, "items-changed", G_CALLBACK (count_most_added), &most_added);
  send_numbered (a, 5000);
  TEST_WAIT_UNTIL (shows_last, b);

  /* A view is given the newest few at a time; the rest were skipped. */
  g_assert_cmpuint (most_added, <=, CONFAB_CONVERSATION_APPEND_MAX);
  g_assert_cmpuint (confab_conversation_get_n_skipped (b), >, 0);
  g_assert_cmpuint (confab_conversation_get_n_skipped (b), <, 5000);
  g_assert_cmpuint (n_items (b), <=, 4000);
  g_assert_true (confab_conversation_get_has_older (b));
  g_signal_handlers_disconnect_by_func (b, count_most_added, &most_added);
  while (confab_conversation_load_older (b))
    ;
  assert_numbered (b, 5000);

  g_assert_finalize_object (a);
  g_assert_finalize_object (b);
}

static gboolean
skipped_all_but_shown (gpointer data)
{
  ConfabConversation *conversation = data;

  return confab_conversation_get_n_skipped (conversation) + n_items (conversation) >= 5000;
}

/* @b, which no view follows, gets 5,000 messages from @a, and has left in
 * the history all it does not show
 */
static void
flood_unfollowed (Fixture             *fixture,
                  ConfabConversation **a,
                  ConfabConversation **b)
{
  *a = conversation_new (fixture->path_a, 0);
  *b = conversation_new (fixture->path_b, 0);
  pair_up (*a, *b);
  confab_conversation_set_follow_newest (*b, FALSE);
  send_numbered (*a, 5000);
  TEST_WAIT_UNTIL (skipped_all_but_shown, *b);
}

/* Scrolled up while a flood comes: the list stops growing, and the new
 * messages stay in the history; back at the newest, the list moves on to
 * them, and everything reads back in order.
 */
static void
test_unfollowed_bounded (Fixture       *fixture,
                         gconstpointer  data)
{
  ConfabConversation *a = NULL;
  ConfabConversation *b = NULL;

  flood_unfollowed (fixture, &a, &b);
  test_run_for (100);

  g_assert_cmpuint (n_items (b), <=, 4000);
  g_assert_false (shows_last (b));

  confab_conversation_set_follow_newest (b, TRUE);
  TEST_WAIT_UNTIL (shows_last, b);
  while (confab_conversation_load_older (b))
    ;
  assert_numbered (b, 5000);

  g_assert_finalize_object (a);
  g_assert_finalize_object (b);
}

/* Scrolled up while a flood comes, the person writes: the list moves on to
 * the newest, and their message shows after them.
 */
static void
test_unfollowed_then_send (Fixture       *fixture,
                           gconstpointer  data)
{
  ConfabConversation *a = NULL;
  ConfabConversation *b = NULL;
  g_autoptr(ConfabMessage) mine = NULL;
  guint n;

  flood_unfollowed (fixture, &a, &b);
  g_assert_cmpuint (n_items (b), <=, 4000);

  mine = g_object_ref (confab_conversation_send (b, "mine"));
  n = n_items (b);
  g_assert_true (item (b, n - 1) == mine);
  g_assert_cmpstr (confab_message_get_text (item (b, n - 2)), ==, "m 5000");

  g_assert_finalize_object (a);
  g_clear_object (&mine);
  g_assert_finalize_object (b);
}

/* A history of exactly two pages (the first one and a full one): nothing is
 * left to load after the second.
 */
static void
test_pages_exact (Fixture       *fixture,
                  gconstpointer  data)
{
  ConfabConversation *a = NULL;

  fill (fixture->path_a, 12 + 25);
  a = conversation_new (fixture->path_a, 0);
  g_assert_true (confab_conversation_get_has_older (a));
  g_assert_true (confab_conversation_load_older (a));
  g_assert_cmpuint (n_items (a), ==, 12 + 25);
  g_assert_false (confab_conversation_get_has_older (a));
  g_assert_finalize_object (a);
}

/* A socket that takes datagrams and never answers: a peer that is away. */
static GSocket *
silent_socket (void)
{
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);

  socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP,
                         NULL);
  g_assert_nonnull (socket);
  g_assert_true (g_socket_bind (socket, address, FALSE, NULL));

  return g_steal_pointer (&socket);
}

static guint16
socket_port (GSocket *socket)
{
  g_autoptr(GSocketAddress) address = g_socket_get_local_address (socket, NULL);

  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (address));
}

static gboolean
all_delivered (gpointer data)
{
  ConfabConversation *conversation = data;

  for (guint i = 0; i < n_items (conversation); i++)
    {
      ConfabMessage *message = item (conversation, i);

      if (confab_message_get_direction (message) == CONFAB_DIRECTION_OUTGOING &&
          confab_message_get_state (message) != CONFAB_MESSAGE_STATE_DELIVERED)
        return FALSE;
    }

  return TRUE;
}

/* What was never acknowledged goes out again in the next run, under the
 * same ids, and the peer shows each once. One of them is older than the
 * first page: paged in later, it is the same message, delivered.
 */
static void
test_outbox_resumes (Fixture       *fixture,
                     gconstpointer  data)
{
  g_autoptr(GSocket) away = silent_socket ();
  ConfabConversation *a = conversation_new (fixture->path_a, socket_port (away));
  ConfabConversation *b = NULL;
  guint64 first_number;
  guint16 away_port;

  confab_conversation_set_nickname (a, "ann");
  first_number = confab_message_get_number (confab_conversation_send (a, "while away 1"));
  confab_conversation_send (a, "while away 2");
  g_assert_finalize_object (a);

  /* 60 later messages push the first two off the first page. */
  fill (fixture->path_a, 60);

  /* The peer comes back, on the port it was away from. */
  away_port = socket_port (away);
  g_clear_object (&away);
  b = conversation_new (fixture->path_b, 0);
  g_assert_true (confab_conversation_set_local_port (b, away_port));
  a = conversation_new (fixture->path_a, away_port);
  confab_conversation_set_peer (b, "127.0.0.1", confab_conversation_get_local_port (a));

  wait_for_items (b, 2);
  g_assert_cmpstr (confab_message_get_text (item (b, 0)), ==, "while away 1");
  g_assert_cmpstr (confab_message_get_text (item (b, 1)), ==, "while away 2");
  g_assert_cmpuint (confab_message_get_number (item (b, 0)), ==, first_number);

  while (confab_conversation_load_older (a))
    ;
  g_assert_cmpuint (n_items (a), ==, 62);
  TEST_WAIT_UNTIL (all_delivered, a);

  /* Nothing more arrives at b. */
  g_usleep (200 * 1000);
  flush_main_loop ();
  g_assert_cmpuint (n_items (b), ==, 2);

  g_assert_finalize_object (a);
  g_assert_finalize_object (b);
}

/* What was written to one peer and not acknowledged is not sent to
 * another: it fails, saying to whom it was written, and Retry is the
 * person's choice.
 */
static void
test_outbox_stays_with_its_peer (Fixture       *fixture,
                                 gconstpointer  data)
{
  g_autoptr(GSocket) away = silent_socket ();
  g_autoptr(GSocket) other = silent_socket ();
  ConfabConversation *a = conversation_new (fixture->path_a, socket_port (away));
  g_autofree char *expected = g_strdup_printf ("Not sent: it was written to 127.0.0.1 port %u",
                                               socket_port (away));

  confab_conversation_send (a, "for the first peer");
  g_assert_finalize_object (a);

  a = conversation_new (fixture->path_a, socket_port (other));
  g_assert_cmpuint (n_items (a), ==, 1);
  g_assert_cmpint (confab_message_get_state (item (a, 0)), ==, CONFAB_MESSAGE_STATE_FAILED);
  g_assert_cmpstr (confab_message_get_error (item (a, 0)), ==, expected);
  g_usleep (100 * 1000);
  g_assert_false (g_socket_condition_check (other, G_IO_IN) & G_IO_IN);
  g_assert_finalize_object (a);
}

static gsize
encode (guint64  session,
        guint64  number,
        guint8  *datagram)
{
  ConfabWireMessage m = {
    .session = session, .seq = 1, .low = 1, .origin = 77, .number = number, .time = 0,
    .total = 5, .offset = 0, .frag = 0, .nfrags = 1, .nick_len = 3, .nick = "bob",
    .payload = (const guint8 *)"again", .payload_len = 5,
  };

  return confab_wire_encode_message (&m, datagram, CONFAB_WIRE_MAX_DATAGRAM);
}

static gboolean
acked (gpointer data)
{
  char buffer[2048];

  return g_socket_receive (data, buffer, sizeof buffer, NULL, NULL) > 0;
}

/* A message shown in the last run and sent again after both sides
 * restarted (its ack was lost) is acknowledged, not shown twice.
 */
static void
test_no_repeat_across_restart (Fixture       *fixture,
                               gconstpointer  data)
{
  g_autoptr(GSocket) peer = silent_socket ();
  guint8 datagram[CONFAB_WIRE_MAX_DATAGRAM];
  ConfabConversation *b;
  gsize length;

  g_socket_set_blocking (peer, FALSE);
  for (guint run = 0; run < 2; run++)
    {
      g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
      g_autoptr(GSocketAddress) to = NULL;

      b = conversation_new (fixture->path_b, socket_port (peer));
      to = g_inet_socket_address_new (loopback, confab_conversation_get_local_port (b));
      /* A new session each run, as a restarted sender has */
      length = encode (100 + run, 1, datagram);
      g_assert_cmpint (g_socket_send_to (peer, to, (const char *)datagram, length, NULL, NULL),
                       ==, length);
      TEST_WAIT_UNTIL (acked, peer);
      flush_main_loop ();

      g_assert_cmpuint (n_items (b), ==, 1);
      g_assert_cmpstr (confab_message_get_text (item (b, 0)), ==, "again");
      g_assert_finalize_object (b);
    }

  {
    g_autoptr(GPtrArray) stored = test_read_history (fixture->path_b);

    g_assert_cmpuint (stored->len, ==, 1);
  }
}

/* Datagrams waiting at @socket, read and counted without blocking */
static guint
waiting_datagrams (GSocket *socket)
{
  char buffer[2048];
  guint count = 0;

  g_socket_set_blocking (socket, FALSE);
  while (g_socket_receive (socket, buffer, sizeof buffer, NULL, NULL) > 0)
    count++;

  return count;
}

/* A message written is on disk and on its way before the main loop runs
 * again, and so are more in the same turn: each is in the history's log
 * as it is added.
 */
static void
test_all_go_at_once (Fixture       *fixture,
                         gconstpointer  data)
{
  g_autoptr(GSocket) peer = silent_socket ();
  ConfabConversation *a = conversation_new (fixture->path_a, socket_port (peer));

  flush_main_loop ();
  confab_conversation_send (a, "alone in its turn");
  {
    g_autoptr(GPtrArray) stored = test_read_history (fixture->path_a);

    g_assert_cmpuint (stored->len, ==, 1);
  }
  g_assert_cmpuint (waiting_datagrams (peer), ==, 1);

  confab_conversation_send (a, "second");
  confab_conversation_send (a, "third");
  {
    g_autoptr(GPtrArray) stored = test_read_history (fixture->path_a);

    g_assert_cmpuint (stored->len, ==, 3);
  }
  g_assert_cmpuint (waiting_datagrams (peer), ==, 2);

  g_assert_finalize_object (a);
}

/* Off: the file is emptied, messages stay on screen and are not stored. */
static void
test_keep_history_off (Fixture       *fixture,
                       gconstpointer  data)
{
  ConfabConversation *a = NULL;
  g_autoptr(GPtrArray) stored = NULL;

  fill (fixture->path_a, 5);
  a = conversation_new (fixture->path_a, 9);
  g_assert_cmpuint (n_items (a), ==, 5);

  confab_conversation_set_keep_history (a, FALSE);
  g_assert_null (confab_conversation_get_history (a));
  g_assert_cmpuint (n_items (a), ==, 5);
  confab_conversation_send (a, "memory only");
  g_assert_cmpuint (n_items (a), ==, 6);
  flush_main_loop ();

  stored = test_read_history (fixture->path_a);
  g_assert_cmpuint (stored->len, ==, 0);
  g_assert_finalize_object (a);

  /* A damaged file found with history off is deleted, not kept aside. */
  {
    g_autofree char *dir = g_path_get_dirname (fixture->path_a);
    g_autoptr(GDir) listing = NULL;
    const char *name;

    g_assert_true (g_file_set_contents (fixture->path_a, "damaged, and to be forgotten, "
                                        "long enough to be read as a header", -1, NULL));
    a = confab_conversation_new ();
    confab_conversation_set_keep_history (a, FALSE);
    confab_conversation_set_history_path (a, fixture->path_a);
    g_assert_finalize_object (a);
    listing = g_dir_open (dir, 0, NULL);
    while ((name = g_dir_read_name (listing)) != NULL)
      g_assert_null (strstr (name, "corrupt"));
  }

  /* A file left from when history was kept is emptied at start. */
  fill (fixture->path_a, 3);
  a = confab_conversation_new ();
  confab_conversation_set_keep_history (a, FALSE);
  confab_conversation_set_history_path (a, fixture->path_a);
  g_assert_cmpuint (n_items (a), ==, 0);
  g_clear_pointer (&stored, g_ptr_array_unref);
  stored = test_read_history (fixture->path_a);
  g_assert_cmpuint (stored->len, ==, 0);
  g_assert_finalize_object (a);
}

static void
test_clear (Fixture       *fixture,
            gconstpointer  data)
{
  ConfabConversation *a = NULL;
  g_autoptr(GPtrArray) stored = NULL;
  g_autoptr(GError) error = NULL;

  fill (fixture->path_a, 80);
  a = conversation_new (fixture->path_a, 9);
  g_assert_cmpuint (n_items (a), ==, 12);

  g_assert_true (confab_conversation_clear_history (a, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (n_items (a), ==, 0);
  g_assert_false (confab_conversation_get_has_older (a));
  stored = test_read_history (fixture->path_a);
  g_assert_cmpuint (stored->len, ==, 0);

  confab_conversation_send (a, "after clearing");
  g_assert_cmpuint (n_items (a), ==, 1);
  g_assert_finalize_object (a);
}

static void
on_problem (GObject    *object,
            GParamSpec *pspec,
            guint      *count)
{
  (*count)++;
}

static gboolean
was_told (gpointer data)
{
  return *(guint *)data > 0;
}

/* A full disk: said once, and every message stays on screen. */
static void
test_full_disk (Fixture       *fixture,
                gconstpointer  data)
{
  g_autoptr(GSocket) away = silent_socket ();
  ConfabConversation *a = conversation_new (fixture->path_a, socket_port (away));
  g_autoptr(GString) text = g_string_new (NULL);
  const GError *problem;
  guint problems = 0;

  while (text->len < 3000)
    g_string_append (text, "no room ");

  g_signal_connect (a, "notify::history-problem", G_CALLBACK (on_problem), &problems);
  confab_history_set_max_pages (confab_conversation_get_history (a), 30);
  for (guint i = 0; i < 100; i++)
    confab_conversation_send (a, text->str);
  /* Found when the database commits, within a second */
  TEST_WAIT_UNTIL (was_told, &problems);
  flush_main_loop ();

  g_assert_cmpuint (problems, ==, 1);
  problem = confab_conversation_get_history_problem (a);
  g_assert_error (problem, CONFAB_HISTORY_ERROR, CONFAB_HISTORY_ERROR_FAILED);
  g_assert_cmpuint (n_items (a), ==, 100);
  for (guint i = 0; i < 100; i++)
    g_assert_cmpint (confab_message_get_state (item (a, i)), ==, CONFAB_MESSAGE_STATE_SENDING);

  g_signal_handlers_disconnect_by_data (a, &problems);
  g_assert_finalize_object (a);
}

/* A damaged file is moved aside and reported; the conversation goes on. */
static void
test_corrupt_reported (Fixture       *fixture,
                       gconstpointer  data)
{
  g_autofree char *dir = g_path_get_dirname (fixture->path_a);
  ConfabConversation *a = NULL;
  const GError *problem;

  g_mkdir_with_parents (dir, 0700);
  g_assert_true (g_file_set_contents (fixture->path_a, "this is not a database at all, "
                                      "but it is long enough to look like one's header", -1,
                                      NULL));
  a = conversation_new (fixture->path_a, 9);

  problem = confab_conversation_get_history_problem (a);
  g_assert_error (problem, CONFAB_HISTORY_ERROR, CONFAB_HISTORY_ERROR_CORRUPT);
  g_assert_nonnull (strstr (problem->message, confab_history_get_moved_to (
                              confab_conversation_get_history (a))));
  g_assert_nonnull (confab_conversation_get_history (a));
  confab_conversation_send (a, "fresh start");
  flush_main_loop ();

  {
    g_autoptr(GPtrArray) stored = test_read_history (fixture->path_a);

    g_assert_cmpuint (stored->len, ==, 1);
  }
  g_assert_finalize_object (a);
}

/* No history can be made: memory only, said so, chatting works. */
static void
test_unavailable (Fixture       *fixture,
                  gconstpointer  data)
{
  g_autofree char *blocker = g_build_filename (fixture->dir, "file", NULL);
  g_autofree char *path = g_build_filename (blocker, "history.db", NULL);
  ConfabConversation *a = NULL;
  ConfabConversation *b = conversation_new (fixture->path_b, 0);
  ConfabMessage *sent;

  g_assert_true (g_file_set_contents (blocker, "x", 1, NULL));
  a = conversation_new (path, confab_conversation_get_local_port (b));
  confab_conversation_set_peer (b, "127.0.0.1", confab_conversation_get_local_port (a));

  g_assert_error (confab_conversation_get_history_problem (a), CONFAB_HISTORY_ERROR,
                  CONFAB_HISTORY_ERROR_FAILED);
  g_assert_null (confab_conversation_get_history (a));
  sent = confab_conversation_send (a, "still works");
  TEST_WAIT_UNTIL (delivered, sent);

  g_assert_finalize_object (a);
  g_assert_finalize_object (b);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(name, func) \
  g_test_add ("/conversation-history/" name, Fixture, NULL, fixture_set_up, func, \
              fixture_tear_down)

  ADD ("stored-both-sides", test_stored_both_sides);
  ADD ("ack-means-stored", test_ack_means_stored);
  ADD ("restart-pages", test_restart_pages);
  ADD ("pages-exact", test_pages_exact);
  ADD ("follow-newest-bounded", test_follow_newest_bounded);
  ADD ("unfollowed-bounded", test_unfollowed_bounded);
  ADD ("unfollowed-then-send", test_unfollowed_then_send);
  ADD ("outbox-resumes", test_outbox_resumes);
  ADD ("outbox-stays-with-its-peer", test_outbox_stays_with_its_peer);
  ADD ("no-repeat-across-restart", test_no_repeat_across_restart);
  ADD ("all-go-at-once", test_all_go_at_once);
  ADD ("keep-history-off", test_keep_history_off);
  ADD ("clear", test_clear);
  ADD ("full-disk", test_full_disk);
  ADD ("corrupt-reported", test_corrupt_reported);
  ADD ("unavailable", test_unavailable);

#undef ADD

  return g_test_run ();
}
