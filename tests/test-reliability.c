/* test-reliability.c — two conversations through a lossy relay on loopback
 *
 * The relay sits between two endpoints and drops, duplicates, delays and
 * reorders datagrams, deciding with a GRand of fixed seed.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "confab-conversation.h"

#define MESSAGES      2000
#define BIG_EVERY     100
#define BIG_SIZE      (20 * 1024)

typedef struct _Relay Relay;

typedef struct
{
  Relay          *relay;
  GSocket        *socket;      /* the endpoint on this side sends here */
  GSocketAddress *endpoint;    /* learnt from the first datagram */
  GSource        *source;
} RelaySide;

struct _Relay
{
  GRand     *rand;
  double     loss;
  double     duplicate;
  double     reorder;
  guint      max_delay_ms;
  RelaySide  sides[2];
  guint      pending;          /* datagrams waiting out their delay */
  guint64    forwarded;
  guint64    dropped;
  guint64    sealed;           /* datagrams seen sealed (confab-crypto) */
  guint64    seen;
};

typedef struct
{
  RelaySide *to;
  GBytes    *bytes;
} Delayed;

static gboolean
deliver_delayed (gpointer data)
{
  Delayed *delayed = data;
  RelaySide *to = delayed->to;
  gsize size;
  gconstpointer bytes = g_bytes_get_data (delayed->bytes, &size);

  if (to->endpoint != NULL)
    g_socket_send_to (to->socket, to->endpoint, bytes, size, NULL, NULL);

  to->relay->pending--;
  to->relay->forwarded++;
  g_bytes_unref (delayed->bytes);
  g_free (delayed);

  return G_SOURCE_REMOVE;
}

static void
schedule (Relay     *relay,
          RelaySide *to,
          GBytes    *bytes)
{
  Delayed *delayed = g_new0 (Delayed, 1);
  guint delay = g_rand_int_range (relay->rand, 0, relay->max_delay_ms + 1);

  /* A reordered datagram is held back past the ones behind it. */
  if (g_rand_double (relay->rand) < relay->reorder)
    delay += relay->max_delay_ms;

  delayed->to = to;
  delayed->bytes = g_bytes_ref (bytes);
  relay->pending++;
  g_timeout_add (delay, deliver_delayed, delayed);
}

static gboolean
on_relay_readable (GSocket      *socket,
                   GIOCondition  condition,
                   gpointer      user_data)
{
  RelaySide *from = user_data;
  Relay *relay = from->relay;
  RelaySide *to = &relay->sides[from == &relay->sides[0] ? 1 : 0];

  for (;;)
    {
      g_autoptr(GSocketAddress) sender = NULL;
      g_autoptr(GBytes) bytes = NULL;
      char buffer[65536];
      gssize length;

      length = g_socket_receive_from (socket, &sender, buffer, sizeof buffer, NULL, NULL);
      if (length < 0)
        break;

      if (from->endpoint == NULL)
        from->endpoint = g_object_ref (sender);

      relay->seen++;
      if (confab_crypto_is_sealed ((const guint8 *)buffer, length))
        relay->sealed++;

      if (g_rand_double (relay->rand) < relay->loss)
        {
          relay->dropped++;
          continue;
        }

      bytes = g_bytes_new (buffer, length);
      schedule (relay, to, bytes);
      if (g_rand_double (relay->rand) < relay->duplicate)
        schedule (relay, to, bytes);
    }

  return G_SOURCE_CONTINUE;
}

static guint16
socket_port (GSocket *socket)
{
  g_autoptr(GSocketAddress) address = g_socket_get_local_address (socket, NULL);

  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (address));
}

static Relay *
relay_new (const char *loopback,
           guint32     seed)
{
  Relay *relay = g_new0 (Relay, 1);

  relay->rand = g_rand_new_with_seed (seed);
  relay->max_delay_ms = 30;

  for (guint i = 0; i < 2; i++)
    {
      RelaySide *side = &relay->sides[i];
      g_autoptr(GSocketAddress) address = g_inet_socket_address_new_from_string (loopback, 0);

      side->relay = relay;
      side->socket = g_socket_new (g_socket_address_get_family (address), G_SOCKET_TYPE_DATAGRAM,
                                   G_SOCKET_PROTOCOL_UDP, NULL);
      g_assert_nonnull (side->socket);
      g_assert_true (g_socket_bind (side->socket, address, FALSE, NULL));
      g_socket_set_blocking (side->socket, FALSE);
      side->source = g_socket_create_source (side->socket, G_IO_IN, NULL);
      g_source_set_callback (side->source, G_SOURCE_FUNC (on_relay_readable), side, NULL);
      g_source_attach (side->source, NULL);
    }

  return relay;
}

static void
relay_set_faults (Relay  *relay,
                  double  loss,
                  double  duplicate,
                  double  reorder)
{
  relay->loss = loss;
  relay->duplicate = duplicate;
  relay->reorder = reorder;
}

static gboolean
relay_idle (gpointer data)
{
  return ((Relay *)data)->pending == 0;
}

static void wait_until (gboolean (*condition) (gpointer), gpointer data, guint seconds);

static void
relay_free (Relay *relay)
{
  wait_until (relay_idle, relay, 5);

  for (guint i = 0; i < 2; i++)
    {
      g_source_destroy (relay->sides[i].source);
      g_source_unref (relay->sides[i].source);
      g_clear_object (&relay->sides[i].socket);
      g_clear_object (&relay->sides[i].endpoint);
    }

  g_rand_free (relay->rand);
  g_free (relay);
}

static gboolean
on_timeout (gpointer data)
{
  *(gboolean *)data = TRUE;
  return G_SOURCE_REMOVE;
}

static void
wait_until (gboolean (*condition) (gpointer),
            gpointer   data,
            guint      seconds)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add_seconds (seconds, on_timeout, &timed_out);

  while (!condition (data) && !timed_out)
    g_main_context_iteration (NULL, TRUE);

  g_assert_false (timed_out);
  g_source_remove (id);
}

/* A text that says which message it is, all through, so a misplaced or
 * corrupted fragment shows; big ones have multibyte characters at every
 * fragment boundary sooner or later.
 */
static char *
make_text (char  side,
           guint index)
{
  GString *text = g_string_new (NULL);

  g_string_append_printf (text, "%c-%04u", side, index);
  if (index % BIG_EVERY == 7)
    {
      while (text->len < BIG_SIZE)
        g_string_append_printf (text, " %c%u·ünïcødé✓", side, index);
    }

  return g_string_free (text, FALSE);
}

typedef struct
{
  ConfabConversation *conversation;
  guint               expected;
} Count;

static guint
count_direction (ConfabConversation *conversation,
                 ConfabDirection     direction,
                 ConfabMessageState  state)
{
  guint n = 0;

  for (guint i = 0; i < g_list_model_get_n_items (G_LIST_MODEL (conversation)); i++)
    {
      g_autoptr(ConfabMessage) message = g_list_model_get_item (G_LIST_MODEL (conversation), i);

      if (confab_message_get_direction (message) == direction &&
          confab_message_get_state (message) == state)
        n++;
    }

  return n;
}

static gboolean
all_received (gpointer data)
{
  Count *count = data;

  return count_direction (count->conversation, CONFAB_DIRECTION_INCOMING,
                          CONFAB_MESSAGE_STATE_RECEIVED) >= count->expected;
}

static gboolean
all_delivered (gpointer data)
{
  Count *count = data;

  return count_direction (count->conversation, CONFAB_DIRECTION_OUTGOING,
                          CONFAB_MESSAGE_STATE_DELIVERED) == count->expected;
}

static gboolean
all_failed (gpointer data)
{
  Count *count = data;

  return count_direction (count->conversation, CONFAB_DIRECTION_OUTGOING,
                          CONFAB_MESSAGE_STATE_FAILED) == count->expected;
}

/* Every message of the other side, exactly once, in order, intact. */
static void
assert_received_in_order (ConfabConversation *conversation,
                          char                other,
                          guint               n)
{
  guint next = 0;

  for (guint i = 0; i < g_list_model_get_n_items (G_LIST_MODEL (conversation)); i++)
    {
      g_autoptr(ConfabMessage) message = g_list_model_get_item (G_LIST_MODEL (conversation), i);
      g_autofree char *expected = NULL;

      if (confab_message_get_direction (message) != CONFAB_DIRECTION_INCOMING)
        continue;

      expected = make_text (other, next);
      g_assert_cmpstr (confab_message_get_text (message), ==, expected);
      next++;
    }

  g_assert_cmpuint (next, ==, n);
}

static ConfabConversation *
endpoint_new (Relay      *relay,
              guint       side,
              const char *loopback)
{
  ConfabConversation *conversation = confab_conversation_new ();

  g_assert_true (confab_conversation_set_local_port (conversation, 0));
  confab_conversation_set_peer (conversation, loopback, socket_port (relay->sides[side].socket));

  return conversation;
}

static void
send_all (ConfabConversation *conversation,
          char                side,
          guint               n)
{
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *text = make_text (side, i);

      confab_conversation_send (conversation, text);
    }
}

static gboolean
ipv6_available (void)
{
  g_autoptr(GSocket) probe = g_socket_new (G_SOCKET_FAMILY_IPV6, G_SOCKET_TYPE_DATAGRAM,
                                           G_SOCKET_PROTOCOL_UDP, NULL);
  g_autoptr(GSocketAddress) loopback = g_inet_socket_address_new_from_string ("::1", 0);

  return probe != NULL && g_socket_bind (probe, loopback, FALSE, NULL);
}

static void
seal_with (ConfabConversation *conversation,
           ConfabKey          *key)
{
  ConfabEpoch epoch = { g_get_real_time (), g_random_int () };

  confab_channel_set_key (confab_conversation_get_channel (conversation), key, epoch, 0);
}

/* With @key, both sides seal every datagram under it. */
static void
lossy_exchange (const char *loopback,
                guint       n,
                ConfabKey  *key)
{
  Relay *relay = relay_new (loopback, 20261125);
  ConfabConversation *a = endpoint_new (relay, 0, loopback);
  ConfabConversation *b = endpoint_new (relay, 1, loopback);
  Count a_count = { a, n };
  Count b_count = { b, n };

  if (key != NULL)
    {
      seal_with (a, key);
      seal_with (b, key);
    }

  relay_set_faults (relay, 0.30, 0.10, 0.20);

  send_all (a, 'a', n);
  send_all (b, 'b', n);

  wait_until (all_received, &a_count, 240);
  wait_until (all_received, &b_count, 240);
  wait_until (all_delivered, &a_count, 240);
  wait_until (all_delivered, &b_count, 240);

  assert_received_in_order (a, 'b', n);
  assert_received_in_order (b, 'a', n);
  g_assert_cmpuint (relay->dropped, >, 0);

  g_test_message ("relay forwarded %" G_GUINT64_FORMAT ", dropped %" G_GUINT64_FORMAT,
                  relay->forwarded, relay->dropped);
  g_assert_cmpuint (relay->sealed, ==, key != NULL ? relay->seen : 0);

  g_assert_finalize_object (a);
  g_assert_finalize_object (b);
  relay_free (relay);
}

static void
test_lossy_ipv4 (void)
{
  lossy_exchange ("127.0.0.1", MESSAGES, NULL);
}

/* The same, with a shared passphrase: every datagram sealed */
static void
test_lossy_encrypted (void)
{
  g_autoptr(ConfabKey) key = confab_key_derive ("a shared passphrase for the relay", NULL);

  g_assert_nonnull (key);
  lossy_exchange ("127.0.0.1", MESSAGES, key);
}

static void
test_lossy_ipv6 (void)
{
  if (!ipv6_available ())
    {
      g_test_skip ("IPv6 loopback is not available");
      return;
    }

  lossy_exchange ("::1", MESSAGES / 4, NULL);
}

static void
retry_failed (ConfabConversation *conversation)
{
  for (guint i = 0; i < g_list_model_get_n_items (G_LIST_MODEL (conversation)); i++)
    {
      g_autoptr(ConfabMessage) message = g_list_model_get_item (G_LIST_MODEL (conversation), i);

      if (confab_message_get_state (message) == CONFAB_MESSAGE_STATE_FAILED)
        confab_conversation_retry (conversation, message);
    }
}

static void
test_total_loss_then_retry (void)
{
  const guint n = MESSAGES;
  Relay *relay = relay_new ("127.0.0.1", 7);
  ConfabConversation *a = endpoint_new (relay, 0, "127.0.0.1");
  ConfabConversation *b = endpoint_new (relay, 1, "127.0.0.1");
  Count a_count = { a, n };
  Count b_count = { b, n };

  /* Give up after 2 s rather than 30 s, to keep the test short. */
  confab_channel_set_give_up_time (confab_conversation_get_channel (a), 2 * G_USEC_PER_SEC);
  confab_channel_set_give_up_time (confab_conversation_get_channel (b), 2 * G_USEC_PER_SEC);
  relay_set_faults (relay, 1.0, 0, 0);

  send_all (a, 'a', n);
  send_all (b, 'b', n);
  wait_until (all_failed, &a_count, 240);
  wait_until (all_failed, &b_count, 240);
  g_assert_cmpuint (count_direction (a, CONFAB_DIRECTION_INCOMING, CONFAB_MESSAGE_STATE_RECEIVED),
                    ==, 0);

  /* The link comes back, with ordinary faults; Retry delivers everything once. */
  confab_channel_set_give_up_time (confab_conversation_get_channel (a), 30 * G_USEC_PER_SEC);
  confab_channel_set_give_up_time (confab_conversation_get_channel (b), 30 * G_USEC_PER_SEC);
  relay_set_faults (relay, 0.30, 0.10, 0.20);
  retry_failed (a);
  retry_failed (b);
  wait_until (all_received, &a_count, 240);
  wait_until (all_received, &b_count, 240);
  wait_until (all_delivered, &a_count, 240);
  wait_until (all_delivered, &b_count, 240);
  assert_received_in_order (a, 'b', n);
  assert_received_in_order (b, 'a', n);

  g_assert_finalize_object (a);
  g_assert_finalize_object (b);
  relay_free (relay);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/reliability/lossy-ipv4", test_lossy_ipv4);
  g_test_add_func ("/reliability/lossy-ipv6", test_lossy_ipv6);
  g_test_add_func ("/reliability/lossy-encrypted", test_lossy_encrypted);
  g_test_add_func ("/reliability/total-loss-then-retry", test_total_loss_then_retry);

  return g_test_run ();
}
