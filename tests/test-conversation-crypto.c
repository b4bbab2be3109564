/* test-conversation-crypto.c — conversations with a shared passphrase, over loopback
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <gio/gio.h>

#include "confab-conversation.h"
#include "test-util.h"

typedef struct
{
  char *dir;
} Fixture;

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  fixture->dir = test_make_tmpdir ("conversation-crypto");
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  test_remove_tree (fixture->dir);
  g_free (fixture->dir);
}

static ConfabConversation *
conversation_new (Fixture    *fixture,
                  const char *name,
                  guint16     port)
{
  ConfabConversation *conversation = confab_conversation_new ();
  g_autofree char *state = g_build_filename (fixture->dir, name, "crypto-state.ini", NULL);

  g_assert_true (confab_conversation_set_local_port (conversation, port));
  confab_conversation_set_crypto_state_path (conversation, state);
  return conversation;
}

static void
pair_up (ConfabConversation *a,
         ConfabConversation *b)
{
  confab_conversation_set_peer (a, "127.0.0.1", confab_conversation_get_local_port (b));
  confab_conversation_set_peer (b, "127.0.0.1", confab_conversation_get_local_port (a));
}

static gboolean
encrypted (gpointer data)
{
  return confab_conversation_get_encrypted (data);
}

static gboolean
delivered (gpointer data)
{
  return confab_message_get_state (data) == CONFAB_MESSAGE_STATE_DELIVERED;
}

static gboolean
has_items (gpointer data)
{
  return g_list_model_get_n_items (data) > 0;
}

static void
set_passphrase_and_wait (ConfabConversation *conversation,
                         const char         *passphrase)
{
  confab_conversation_set_passphrase (conversation, passphrase);
  g_assert_true (confab_conversation_get_deriving (conversation));
  TEST_WAIT_UNTIL (encrypted, conversation);
  g_assert_false (confab_conversation_get_deriving (conversation));
}

/* Same passphrase: the same safety code, and messages arrive, even with
 * the plain-text setting on (it does not apply under a passphrase).
 */
static void
test_same_passphrase (Fixture       *fixture,
                      gconstpointer  data)
{
  ConfabConversation *a = conversation_new (fixture, "a", 0);
  ConfabConversation *b = conversation_new (fixture, "b", 0);
  g_autoptr(ConfabMessage) received = NULL;
  ConfabMessage *sent;

  pair_up (a, b);
  set_passphrase_and_wait (a, "blue tractor at noon");
  set_passphrase_and_wait (b, "blue tractor at noon");
  g_assert_cmpstr (confab_conversation_get_safety_code (a), ==,
                   confab_conversation_get_safety_code (b));

  confab_conversation_set_plain_text (a, TRUE);
  sent = confab_conversation_send (a, "sealed and delivered");
  g_assert_false (confab_message_get_plain (sent));
  TEST_WAIT_UNTIL (delivered, sent);
  TEST_WAIT_UNTIL (has_items, b);
  received = g_list_model_get_item (G_LIST_MODEL (b), 0);
  g_assert_cmpstr (confab_message_get_text (received), ==, "sealed and delivered");

  /* Passphrase off again: back in the clear */
  confab_conversation_set_passphrase (a, NULL);
  g_assert_false (confab_conversation_get_encrypted (a));
  g_assert_null (confab_conversation_get_safety_code (a));

  g_assert_finalize_object (a);
  g_clear_object (&received);
  g_assert_finalize_object (b);
}

static void
on_unreadable (ConfabConversation *conversation,
               const char         *host,
               guint              *count)
{
  g_assert_cmpstr (host, ==, "127.0.0.1");
  (*count)++;
}

/* Different passphrases: nothing arrives, and the person is told once,
 * not once per datagram.
 */
static void
test_mismatch_reported_once (Fixture       *fixture,
                             gconstpointer  data)
{
  ConfabConversation *a = conversation_new (fixture, "a", 0);
  ConfabConversation *b = conversation_new (fixture, "b", 0);
  guint unreadable = 0;

  pair_up (a, b);
  set_passphrase_and_wait (a, "blue tractor at noon");
  set_passphrase_and_wait (b, "red tractor at noon");
  g_assert_cmpstr (confab_conversation_get_safety_code (a), !=,
                   confab_conversation_get_safety_code (b));
  g_signal_connect (b, "unreadable", G_CALLBACK (on_unreadable), &unreadable);

  for (guint i = 0; i < 20; i++)
    confab_conversation_send (a, "you cannot read this");
  test_run_for (1500);

  g_assert_cmpuint (unreadable, ==, 1);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (b)), ==, 0);

  g_signal_handlers_disconnect_by_data (b, &unreadable);
  g_assert_finalize_object (a);
  g_assert_finalize_object (b);
}

/* Bare text from the peer's address is not shown under a passphrase. */
static void
test_plain_not_shown (Fixture       *fixture,
                      gconstpointer  data)
{
  ConfabConversation *b = conversation_new (fixture, "b", 0);
  g_autoptr(GSocket) peer = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
                                          G_SOCKET_PROTOCOL_UDP, NULL);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new_from_string ("127.0.0.1", 0);
  g_autoptr(GSocketAddress) local = NULL;
  g_autoptr(GSocketAddress) to = NULL;
  guint unreadable = 0;

  g_assert_true (g_socket_bind (peer, any, FALSE, NULL));
  local = g_socket_get_local_address (peer, NULL);
  confab_conversation_set_peer (b, "127.0.0.1",
                                g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local)));
  set_passphrase_and_wait (b, "blue tractor at noon");
  g_signal_connect (b, "unreadable", G_CALLBACK (on_unreadable), &unreadable);

  to = g_inet_socket_address_new_from_string ("127.0.0.1", confab_conversation_get_local_port (b));
  g_socket_send_to (peer, to, "hello from nc\n", 14, NULL, NULL);
  test_run_for (300);

  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (b)), ==, 0);
  g_assert_cmpuint (unreadable, ==, 1);
  g_signal_handlers_disconnect_by_data (b, &unreadable);
  g_assert_finalize_object (b);
}

static gboolean
two_items (gpointer data)
{
  return g_list_model_get_n_items (data) >= 2;
}

/* Both sides restart on their state files: the conversation goes on, and
 * each new run's epoch comes after the last.
 */
static void
test_restarts (Fixture       *fixture,
               gconstpointer  data)
{
  ConfabConversation *a = conversation_new (fixture, "a", 0);
  ConfabConversation *b = conversation_new (fixture, "b", 0);
  guint16 port_a = confab_conversation_get_local_port (a);
  guint16 port_b = confab_conversation_get_local_port (b);
  ConfabMessage *sent;

  pair_up (a, b);
  set_passphrase_and_wait (a, "blue tractor at noon");
  set_passphrase_and_wait (b, "blue tractor at noon");
  sent = confab_conversation_send (a, "before");
  TEST_WAIT_UNTIL (delivered, sent);

  /* The receiver restarts; the sender keeps running in its old epoch. */
  g_assert_finalize_object (b);
  b = conversation_new (fixture, "b", port_b);
  confab_conversation_set_peer (b, "127.0.0.1", port_a);
  set_passphrase_and_wait (b, "blue tractor at noon");
  sent = confab_conversation_send (a, "after the receiver restarted");
  TEST_WAIT_UNTIL (delivered, sent);
  TEST_WAIT_UNTIL (has_items, b);

  /* The sender restarts too. */
  g_assert_finalize_object (a);
  a = conversation_new (fixture, "a", port_a);
  confab_conversation_set_peer (a, "127.0.0.1", port_b);
  set_passphrase_and_wait (a, "blue tractor at noon");
  sent = confab_conversation_send (a, "after the sender restarted");
  TEST_WAIT_UNTIL (delivered, sent);
  TEST_WAIT_UNTIL (two_items, b);

  g_assert_finalize_object (a);
  g_assert_finalize_object (b);
}

static gboolean
datagram_waiting (gpointer data)
{
  return g_socket_condition_check (data, G_IO_IN) & G_IO_IN;
}

/* Sent while the key is still being made: it waits, and leaves sealed. */
static void
test_nothing_unsealed_while_deriving (Fixture       *fixture,
                                      gconstpointer  data)
{
  ConfabConversation *a = conversation_new (fixture, "a", 0);
  g_autoptr(GSocket) peer = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
                                          G_SOCKET_PROTOCOL_UDP, NULL);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new_from_string ("127.0.0.1", 0);
  g_autoptr(GSocketAddress) local = NULL;
  guint8 buffer[2048];
  gssize n;

  g_assert_true (g_socket_bind (peer, any, FALSE, NULL));
  local = g_socket_get_local_address (peer, NULL);
  confab_conversation_set_peer (a, "127.0.0.1",
                                g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local)));
  confab_conversation_set_plain_text (a, TRUE);

  confab_conversation_set_passphrase (a, "blue tractor at noon");
  confab_conversation_send (a, "typed at once");
  g_assert_false (g_socket_condition_check (peer, G_IO_IN) & G_IO_IN);

  TEST_WAIT_UNTIL (encrypted, a);
  TEST_WAIT_UNTIL (datagram_waiting, peer);
  n = g_socket_receive (peer, (char *)buffer, sizeof buffer, NULL, NULL);
  g_assert_cmpint (n, >, 0);
  g_assert_true (confab_crypto_is_sealed (buffer, n));

  g_assert_finalize_object (a);
}

static guint64
kept_own_epoch (const char *path)
{
  g_autoptr(GKeyFile) file = g_key_file_new ();

  g_assert_true (g_key_file_load_from_file (file, path, G_KEY_FILE_NONE, NULL));
  return g_key_file_get_uint64 (file, "own", "last-epoch", NULL);
}

/* A run's epoch comes after the last one kept, even when the clock is
 * behind it (set back, or another machine's): nonces cannot repeat.
 */
static void
test_epoch_after_last_run (Fixture       *fixture,
                           gconstpointer  data)
{
  g_autofree char *state = g_build_filename (fixture->dir, "a", "crypto-state.ini", NULL);
  g_autofree char *dir = g_path_get_dirname (state);
  guint64 future = (guint64)g_get_real_time () + (guint64)3600 * G_USEC_PER_SEC;
  g_autofree char *contents = g_strdup_printf ("[own]\nlast-epoch=%" G_GUINT64_FORMAT "\n",
                                               future);
  ConfabConversation *a = NULL;
  guint64 first;

  g_mkdir_with_parents (dir, 0700);
  g_assert_true (g_file_set_contents (state, contents, -1, NULL));

  a = conversation_new (fixture, "a", 0);
  set_passphrase_and_wait (a, "blue tractor at noon");
  first = kept_own_epoch (state);
  g_assert_cmpuint (first, ==, future + 1);
  g_assert_finalize_object (a);

  /* And the next run after that */
  a = conversation_new (fixture, "a", 0);
  set_passphrase_and_wait (a, "blue tractor at noon");
  g_assert_cmpuint (kept_own_epoch (state), ==, first + 1);
  g_assert_finalize_object (a);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(name, func) \
  g_test_add ("/conversation-crypto/" name, Fixture, NULL, fixture_set_up, func, \
              fixture_tear_down)

  ADD ("same-passphrase", test_same_passphrase);
  ADD ("mismatch-reported-once", test_mismatch_reported_once);
  ADD ("plain-not-shown", test_plain_not_shown);
  ADD ("restarts", test_restarts);
  ADD ("epoch-after-last-run", test_epoch_after_last_run);
  ADD ("nothing-unsealed-while-deriving", test_nothing_unsealed_while_deriving);

#undef ADD

  return g_test_run ();
}
