/* test-channel-crypto.c — ConfabChannel with a passphrase, over real loopback sockets
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <gio/gio.h>

#include "confab-channel.h"
#include "confab-wire.h"
#include "test-util.h"

static ConfabKey *key_a;
static ConfabKey *key_b;

static ConfabEpoch
epoch_at (guint64 time)
{
  ConfabEpoch epoch = { time, g_random_int () };

  return epoch;
}

static ConfabChannel *
bound_channel (void)
{
  ConfabChannel *channel = confab_channel_new ();

  g_assert_true (confab_channel_bind (channel, "127.0.0.1", 0, NULL));
  return channel;
}

static void
pair (ConfabChannel *a,
      ConfabChannel *b)
{
  confab_channel_set_peer (a, "127.0.0.1", confab_channel_get_local_port (b));
  confab_channel_set_peer (b, "127.0.0.1", confab_channel_get_local_port (a));
}

static void
on_message (ConfabChannel        *channel,
            const ConfabIncoming *incoming,
            GPtrArray            *texts)
{
  g_ptr_array_add (texts, g_strdup (incoming->text));
}

static void
on_count (gpointer  channel,
          guint    *count)
{
  (*count)++;
}

static void
on_delivered (ConfabChannel *channel,
              guint64        origin,
              guint64        number,
              guint         *count)
{
  (*count)++;
}

static void
send_text (ConfabChannel *channel,
           const char    *text)
{
  guint64 origin = 0, number = 0;
  g_autoptr(GError) error = NULL;

  g_assert_true (confab_channel_send_message (channel, &origin, &number, 0, "ann", text,
                                              &error));
  g_assert_no_error (error);
}

static gboolean
at_least_one (gpointer data)
{
  return *(guint *)data > 0;
}

static gboolean
has_texts (gpointer data)
{
  return ((GPtrArray *)data)->len > 0;
}

/* Different passphrases: nothing is delivered, the mismatch is reported,
 * nothing crashes; both go on working once the passphrases match.
 */
static void
test_different_passphrase (void)
{
  g_autoptr(ConfabChannel) a = bound_channel ();
  g_autoptr(ConfabChannel) b = bound_channel ();
  g_autoptr(GPtrArray) texts = g_ptr_array_new_with_free_func (g_free);
  ConfabChannelStats stats;
  guint unreadable = 0;

  pair (a, b);
  confab_channel_set_key (a, key_a, epoch_at (g_get_real_time ()), 0);
  confab_channel_set_key (b, key_b, epoch_at (g_get_real_time ()), 0);
  g_assert_true (confab_channel_get_encrypted (a));
  g_signal_connect (b, "message", G_CALLBACK (on_message), texts);
  g_signal_connect (b, "unreadable", G_CALLBACK (on_count), &unreadable);

  send_text (a, "can you read this?");
  TEST_WAIT_UNTIL (at_least_one, &unreadable);
  test_run_for (300);
  g_assert_cmpuint (texts->len, ==, 0);
  confab_channel_get_stats (b, &stats);
  g_assert_cmpuint (stats.dropped_forged, >=, 1);

  /* Same passphrase now: the message in flight arrives. */
  confab_channel_set_key (b, key_a, epoch_at (g_get_real_time ()), 0);
  TEST_WAIT_UNTIL (has_texts, texts);
  g_assert_cmpstr (g_ptr_array_index (texts, 0), ==, "can you read this?");

  g_signal_handlers_disconnect_by_data (b, texts);
  g_signal_handlers_disconnect_by_data (b, &unreadable);
}

/* One side with a passphrase, the other without: neither reads the other,
 * and both say so.
 */
static void
test_one_side_only (void)
{
  g_autoptr(ConfabChannel) a = bound_channel ();
  g_autoptr(ConfabChannel) b = bound_channel ();
  g_autoptr(GPtrArray) texts_a = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) texts_b = g_ptr_array_new_with_free_func (g_free);
  ConfabChannelStats stats;
  guint unreadable_a = 0, unreadable_b = 0;

  pair (a, b);
  confab_channel_set_key (a, key_a, epoch_at (g_get_real_time ()), 0);
  g_signal_connect (a, "message", G_CALLBACK (on_message), texts_a);
  g_signal_connect (b, "message", G_CALLBACK (on_message), texts_b);
  g_signal_connect (a, "unreadable", G_CALLBACK (on_count), &unreadable_a);
  g_signal_connect (b, "unreadable", G_CALLBACK (on_count), &unreadable_b);

  send_text (a, "sealed");
  send_text (b, "in the clear");
  TEST_WAIT_UNTIL (at_least_one, &unreadable_a);
  TEST_WAIT_UNTIL (at_least_one, &unreadable_b);
  g_assert_cmpuint (texts_a->len, ==, 0);
  g_assert_cmpuint (texts_b->len, ==, 0);

  confab_channel_get_stats (a, &stats);
  g_assert_cmpuint (stats.dropped_unsealed, >=, 1);
  confab_channel_get_stats (b, &stats);
  g_assert_cmpuint (stats.dropped_sealed, >=, 1);

  g_signal_handlers_disconnect_by_data (a, texts_a);
  g_signal_handlers_disconnect_by_data (b, texts_b);
  g_signal_handlers_disconnect_by_data (a, &unreadable_a);
  g_signal_handlers_disconnect_by_data (b, &unreadable_b);
}

/* An attacker on the path: forwards between the two and records what the
 * sender sends, to replay it later.
 */
typedef struct
{
  GSocket   *socket;
  guint16    sender_port;
  guint16    receiver_port;
  GPtrArray *captured;   /* GBytes */
} Tap;

static void
tap_send (Tap          *tap,
          guint16       port,
          gconstpointer data,
          gsize         size)
{
  g_autoptr(GSocketAddress) to = g_inet_socket_address_new_from_string ("127.0.0.1", port);

  g_socket_send_to (tap->socket, to, data, size, NULL, NULL);
}

static gboolean
on_tap_readable (GSocket      *socket,
                 GIOCondition  condition,
                 gpointer      user_data)
{
  Tap *tap = user_data;
  char buffer[2048];
  gssize n;

  for (;;)
    {
      g_autoptr(GSocketAddress) from = NULL;
      guint16 from_port;

      n = g_socket_receive_from (socket, &from, buffer, sizeof buffer, NULL, NULL);
      if (n <= 0)
        break;

      from_port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (from));
      if (from_port == tap->sender_port)
        {
          g_ptr_array_add (tap->captured, g_bytes_new (buffer, n));
          tap_send (tap, tap->receiver_port, buffer, n);
        }
      else
        {
          tap_send (tap, tap->sender_port, buffer, n);
        }
    }

  return G_SOURCE_CONTINUE;
}

static void
replay_all (Tap *tap)
{
  guint n = tap->captured->len;

  for (guint i = 0; i < n; i++)
    {
      gsize size;
      gconstpointer data = g_bytes_get_data (g_ptr_array_index (tap->captured, i), &size);

      tap_send (tap, tap->receiver_port, data, size);
    }
}

static void
on_peer_epoch (ConfabChannel *channel,
               guint64        time,
               guint64       *kept)
{
  *kept = time;
}

static void
on_own_epoch (ConfabChannel *channel,
              guint64        time,
              guint64       *epoch)
{
  *epoch = time;
}

static ConfabChannel *
receiver_new (guint16     port,
              guint64     closed_until,
              Tap        *tap,
              GPtrArray  *texts)
{
  ConfabChannel *receiver = confab_channel_new ();
  g_autoptr(GSocketAddress) tap_address = g_socket_get_local_address (tap->socket, NULL);

  g_assert_true (confab_channel_bind (receiver, "127.0.0.1", port, NULL));
  confab_channel_set_key (receiver, key_a, epoch_at (g_get_real_time ()), closed_until);
  confab_channel_set_peer (receiver, "127.0.0.1",
                           g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (tap_address)));
  g_signal_connect (receiver, "message", G_CALLBACK (on_message), texts);
  return receiver;
}

static gboolean
two_texts (gpointer data)
{
  return ((GPtrArray *)data)->len >= 2;
}

/* Everything captured, replayed to the receiver: rejected while it runs
 * and after it restarts with what it kept. The sender, told its epoch is
 * closed, begins a new one and is heard again.
 */
static void
test_replay_rejected_across_restart (void)
{
  g_autoptr(ConfabChannel) sender = bound_channel ();
  g_autoptr(ConfabChannel) receiver = NULL;
  g_autoptr(GPtrArray) texts = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) captured = g_ptr_array_new_with_free_func ((GDestroyNotify)g_bytes_unref);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new_from_string ("127.0.0.1", 0);
  g_autoptr(GSocketAddress) tap_address = NULL;
  g_autoptr(GSource) tap_source = NULL;
  Tap tap = { NULL, 0, 0, captured };
  guint64 kept = 0, sender_epoch = 0;
  guint16 receiver_port;
  guint delivered = 0;
  ConfabChannelStats stats;
  guint n_captured;

  tap.socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
                             G_SOCKET_PROTOCOL_UDP, NULL);
  g_assert_true (g_socket_bind (tap.socket, any, FALSE, NULL));
  g_socket_set_blocking (tap.socket, FALSE);
  tap_address = g_socket_get_local_address (tap.socket, NULL);
  tap_source = g_socket_create_source (tap.socket, G_IO_IN, NULL);
  g_source_set_callback (tap_source, G_SOURCE_FUNC (on_tap_readable), &tap, NULL);
  g_source_attach (tap_source, NULL);

  receiver = bound_channel ();
  receiver_port = confab_channel_get_local_port (receiver);
  g_clear_object (&receiver);
  receiver = receiver_new (receiver_port, 0, &tap, texts);
  g_signal_connect (receiver, "peer-epoch", G_CALLBACK (on_peer_epoch), &kept);

  tap.sender_port = confab_channel_get_local_port (sender);
  tap.receiver_port = receiver_port;
  confab_channel_set_key (sender, key_a, epoch_at (1000), 0);
  g_signal_connect (sender, "own-epoch", G_CALLBACK (on_own_epoch), &sender_epoch);
  g_signal_connect (sender, "delivered", G_CALLBACK (on_delivered), &delivered);
  confab_channel_set_peer (sender, "127.0.0.1",
                           g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (tap_address)));

  send_text (sender, "said once");
  TEST_WAIT_UNTIL (at_least_one, &delivered);
  g_assert_cmpuint (texts->len, ==, 1);
  g_assert_cmpuint (kept, ==, 1000);
  n_captured = captured->len;
  g_assert_cmpuint (n_captured, >=, 1);

  /* Live: the replay is refused, and the sender is not made to rekey. */
  replay_all (&tap);
  test_run_for (300);
  g_assert_cmpuint (texts->len, ==, 1);
  confab_channel_get_stats (receiver, &stats);
  g_assert_cmpuint (stats.dropped_replayed, >=, n_captured);
  g_assert_cmpuint (sender_epoch, ==, 0);

  /* The receiver restarts, knowing only the epoch time it kept. */
  g_signal_handlers_disconnect_by_data (receiver, texts);
  g_signal_handlers_disconnect_by_data (receiver, &kept);
  g_clear_object (&receiver);
  receiver = receiver_new (receiver_port, kept, &tap, texts);

  g_ptr_array_set_size (captured, n_captured);
  replay_all (&tap);
  test_run_for (300);
  g_assert_cmpuint (texts->len, ==, 1);
  confab_channel_get_stats (receiver, &stats);
  g_assert_cmpuint (stats.dropped_stale, >=, n_captured);

  /* The sender heard it is stale and began a new epoch; it is heard again. */
  send_text (sender, "after the restart");
  TEST_WAIT_UNTIL (two_texts, texts);
  g_assert_cmpstr (g_ptr_array_index (texts, 1), ==, "after the restart");
  g_assert_cmpuint (sender_epoch, >, 1000);

  g_source_destroy (tap_source);
  g_clear_object (&tap.socket);
  g_signal_handlers_disconnect_by_data (receiver, texts);
  g_signal_handlers_disconnect_by_data (sender, &delivered);
  g_signal_handlers_disconnect_by_data (sender, &sender_epoch);
}

int
main (int   argc,
      char *argv[])
{
  int result;

  g_test_init (&argc, &argv, NULL);
  key_a = confab_key_derive ("the same words on both sides", NULL);
  key_b = confab_key_derive ("other words on the other side", NULL);

  g_test_add_func ("/channel-crypto/different-passphrase", test_different_passphrase);
  g_test_add_func ("/channel-crypto/one-side-only", test_one_side_only);
  g_test_add_func ("/channel-crypto/replay-rejected-across-restart",
                   test_replay_rejected_across_restart);

  result = g_test_run ();
  confab_key_unref (key_a);
  confab_key_unref (key_b);
  return result;
}
