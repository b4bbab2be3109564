/* test-crash.c — kill -9 in mid-conversation loses nothing: two real processes, two real files
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <signal.h>

#include <gio/gio.h>

#include "confab-history.h"
#include "test-util.h"

#define COUNT 2000

typedef struct
{
  GSubprocess      *process;
  GDataInputStream *out;
} Peer;

static guint16
free_port (void)
{
  g_autoptr(GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
                                            G_SOCKET_PROTOCOL_UDP, NULL);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;

  g_assert_true (g_socket_bind (socket, address, FALSE, NULL));
  bound = g_socket_get_local_address (socket, NULL);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

static void
peer_start (Peer       *peer,
            const char *db,
            guint16     local_port,
            guint16     peer_port,
            guint       count)
{
  g_autofree char *program = g_test_build_filename (G_TEST_BUILT, "history-peer", NULL);
  g_autofree char *local = g_strdup_printf ("%u", local_port);
  g_autofree char *remote = g_strdup_printf ("%u", peer_port);
  g_autofree char *n = g_strdup_printf ("%u", count);
  g_autoptr(GError) error = NULL;

  peer->process = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error, program, db,
                                    local, remote, count > 0 ? n : NULL, NULL);
  g_assert_no_error (error);
  peer->out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (peer->process));
}

/* SIGKILL: no handler, no cleanup, nothing flushed that was not already. */
static void
peer_kill (Peer *peer)
{
  g_subprocess_force_exit (peer->process);
  g_assert_true (g_subprocess_wait (peer->process, NULL, NULL));
  g_assert_true (g_subprocess_get_if_signaled (peer->process));
  g_assert_cmpint (g_subprocess_get_term_sig (peer->process), ==, SIGKILL);
  g_clear_object (&peer->out);
  g_clear_object (&peer->process);
}

/* Reads the peer's lines until @line; fails if it exits first. */
static void
peer_read_until (Peer       *peer,
                 const char *line)
{
  for (;;)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *got = g_data_input_stream_read_line_utf8 (peer->out, NULL, NULL, &error);

      g_assert_no_error (error);
      if (got == NULL)
        g_error ("history-peer ended before printing \"%s\"", line);
      if (g_str_equal (got, line))
        return;
      if (g_str_has_prefix (got, "failed"))
        g_error ("history-peer: %s", got);
    }
}

/* Returns the texts stored in @db, each with how often it is there;
 * @delivered_only keeps only messages stored as delivered.
 */
static GHashTable *
stored_texts (const char *db,
              gboolean    delivered_only)
{
  g_autoptr(GPtrArray) messages = test_read_history (db);
  GHashTable *texts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  for (guint i = 0; i < messages->len; i++)
    {
      ConfabMessage *message = g_ptr_array_index (messages, i);
      const char *text = confab_message_get_text (message);

      if (delivered_only &&
          confab_message_get_state (message) != CONFAB_MESSAGE_STATE_DELIVERED)
        continue;

      g_hash_table_insert (texts, g_strdup (text),
                           GUINT_TO_POINTER (GPOINTER_TO_UINT (g_hash_table_lookup (texts, text))
                                             + 1));
    }

  return texts;
}

static void
assert_subset (GHashTable *part,
               GHashTable *whole,
               const char *what)
{
  GHashTableIter iter;
  gpointer text;

  g_hash_table_iter_init (&iter, part);
  while (g_hash_table_iter_next (&iter, &text, NULL))
    if (!g_hash_table_contains (whole, text))
      g_error ("%s: \"%s\" is missing", what, (const char *)text);
}

static void
assert_each_once (GHashTable *texts,
                  guint       count)
{
  g_assert_cmpuint (g_hash_table_size (texts), ==, count);
  for (guint i = 1; i <= count; i++)
    {
      g_autofree char *text = g_strdup_printf ("message %u", i);

      g_assert_cmpuint (GPOINTER_TO_UINT (g_hash_table_lookup (texts, text)), ==, 1);
    }
}

static void
assert_acked_on_receiver (const char *db_a,
                          const char *db_b,
                          const char *when)
{
  g_autoptr(GHashTable) acked = stored_texts (db_a, TRUE);
  g_autoptr(GHashTable) on_a = stored_texts (db_a, FALSE);
  g_autoptr(GHashTable) on_b = stored_texts (db_b, FALSE);

  g_test_message ("%s: %u stored by the sender, %u acknowledged, %u at the receiver", when,
                  g_hash_table_size (on_a), g_hash_table_size (acked),
                  g_hash_table_size (on_b));
  assert_subset (acked, on_b, "acknowledged but not on the receiver's disk");
  assert_subset (on_b, on_a, "received but not in the sender's history");
}

/* The receiver is killed; the sender goes on sending into the void and is
 * killed too; both restart. At each kill, whatever the sender had seen
 * acknowledged is on the receiver's disk. In the end every message is in
 * both files exactly once, delivered: those never acknowledged were sent
 * again after the restart.
 */
static void
test_kill_mid_stream (void)
{
  g_autofree char *dir = test_make_tmpdir ("crash");
  g_autofree char *db_a = g_build_filename (dir, "a.db", NULL);
  g_autofree char *db_b = g_build_filename (dir, "b.db", NULL);
  guint16 port_a = free_port ();
  guint16 port_b = free_port ();
  Peer sender = { 0 }, receiver = { 0 };

  peer_start (&receiver, db_b, port_b, port_a, 0);
  peer_start (&sender, db_a, port_a, port_b, COUNT);

  peer_read_until (&sender, "sent 400");
  peer_kill (&receiver);
  assert_acked_on_receiver (db_a, db_b, "receiver killed");

  peer_read_until (&sender, "sent 1200");
  peer_kill (&sender);
  assert_acked_on_receiver (db_a, db_b, "sender killed");
  {
    g_autoptr(GHashTable) acked = stored_texts (db_a, TRUE);

    /* Sent while the receiver was down: resending them is the point. */
    g_assert_cmpuint (g_hash_table_size (acked), <, 1000);
  }

  peer_start (&receiver, db_b, port_b, port_a, 0);
  peer_start (&sender, db_a, port_a, port_b, COUNT);
  peer_read_until (&sender, "done");
  g_assert_true (g_subprocess_wait_check (sender.process, NULL, NULL));
  g_clear_object (&sender.out);
  g_clear_object (&sender.process);
  peer_kill (&receiver);

  {
    g_autoptr(GHashTable) delivered = stored_texts (db_a, TRUE);
    g_autoptr(GHashTable) on_a = stored_texts (db_a, FALSE);
    g_autoptr(GHashTable) on_b = stored_texts (db_b, FALSE);

    assert_each_once (on_a, COUNT);
    assert_each_once (delivered, COUNT);
    assert_each_once (on_b, COUNT);
  }

  test_remove_tree (dir);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/crash/kill-mid-stream", test_kill_mid_stream);

  return g_test_run ();
}
