/* test-conversation.c — ConfabConversation over real loopback sockets
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "confab-conversation.h"

typedef gboolean (*Condition) (gpointer data);

static gboolean
on_timeout (gpointer data)
{
  *(gboolean *)data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs the main loop until @condition holds; fails the test after 5 s
 * instead of hanging.
 */
static void
wait_until (Condition condition,
            gpointer  data)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add_seconds (5, on_timeout, &timed_out);

  while (!condition (data) && !timed_out)
    g_main_context_iteration (NULL, TRUE);

  g_assert_false (timed_out);
  g_source_remove (id);
}

static gboolean
has_items (gpointer data)
{
  return g_list_model_get_n_items (G_LIST_MODEL (data)) > 0;
}

static gboolean
not_sending (gpointer data)
{
  return confab_message_get_state (data) != CONFAB_MESSAGE_STATE_SENDING;
}

static ConfabConversation *
conversation_new_bound (void)
{
  ConfabConversation *conversation = confab_conversation_new ();

  g_assert_true (confab_conversation_set_local_port (conversation, 0));
  g_assert_cmpuint (confab_conversation_get_local_port (conversation), !=, 0);
  g_assert_null (confab_conversation_get_bind_error (conversation));

  return conversation;
}

static void
pair_up (ConfabConversation *a,
         ConfabConversation *b,
         const char         *host)
{
  confab_conversation_set_peer (a, host, confab_conversation_get_local_port (b));
  confab_conversation_set_peer (b, host, confab_conversation_get_local_port (a));
}

static void
exchange (const char *host,
          gboolean    plain_text)
{
  ConfabConversation *a = conversation_new_bound ();
  ConfabConversation *b = conversation_new_bound ();
  g_autoptr(ConfabMessage) received = NULL;
  ConfabMessage *sent;

  pair_up (a, b, host);
  confab_conversation_set_nickname (a, "ann");
  confab_conversation_set_plain_text (a, plain_text);

  sent = confab_conversation_send (a, "grüße ✓ <b>bold</b>");
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (a)), ==, 1);
  g_assert_cmpint (confab_message_get_direction (sent), ==, CONFAB_DIRECTION_OUTGOING);
  g_assert_cmpstr (confab_message_get_sender (sent), ==, "ann");

  wait_until (has_items, b);
  wait_until (not_sending, sent);

  received = g_list_model_get_item (G_LIST_MODEL (b), 0);
  g_assert_cmpint (confab_message_get_direction (received), ==, CONFAB_DIRECTION_INCOMING);
  g_assert_cmpstr (confab_message_get_text (received), ==, "grüße ✓ <b>bold</b>");
  g_assert_cmpint (confab_message_get_state (received), ==, CONFAB_MESSAGE_STATE_RECEIVED);
  g_assert_cmpint (confab_message_get_plain (sent), ==, plain_text);
  g_assert_cmpint (confab_message_get_plain (received), ==, plain_text);

  if (plain_text)
    {
      /* A bare datagram carries no nickname and gets no receipt. */
      g_assert_cmpint (confab_message_get_state (sent), ==, CONFAB_MESSAGE_STATE_SENT);
      g_assert_cmpstr (confab_message_get_sender (received), ==, host);
    }
  else
    {
      g_assert_cmpint (confab_message_get_state (sent), ==, CONFAB_MESSAGE_STATE_DELIVERED);
      g_assert_cmpstr (confab_message_get_sender (received), ==, "ann");
      g_assert_cmpuint (confab_message_get_origin (received), ==, confab_message_get_origin (sent));
      g_assert_cmpuint (confab_message_get_number (received), ==, confab_message_get_number (sent));
      g_assert_cmpuint (confab_message_get_origin (sent), !=, 0);
      /* The sender's clock, to the microsecond. */
      g_assert_true (g_date_time_equal (confab_message_get_time (received),
                                        confab_message_get_time (sent)));
    }

  g_assert_finalize_object (a);
  g_clear_object (&received);
  g_assert_finalize_object (b);
}

static void
test_conversation_exchange_ipv4 (void)
{
  exchange ("127.0.0.1", FALSE);
}

static void
test_conversation_exchange_plain (void)
{
  exchange ("127.0.0.1", TRUE);
}

static void
test_conversation_exchange_ipv6 (void)
{
  g_autoptr(GSocket) probe = g_socket_new (G_SOCKET_FAMILY_IPV6, G_SOCKET_TYPE_DATAGRAM,
                                           G_SOCKET_PROTOCOL_UDP, NULL);
  g_autoptr(GSocketAddress) loopback = g_inet_socket_address_new_from_string ("::1", 0);

  if (probe == NULL || !g_socket_bind (probe, loopback, FALSE, NULL))
    {
      g_test_skip ("IPv6 loopback is not available");
      return;
    }

  exchange ("::1", FALSE);
}

/* The largest message, 64 KiB of multibyte text, arrives whole. */
static void
test_conversation_largest_message (void)
{
  ConfabConversation *a = conversation_new_bound ();
  ConfabConversation *b = conversation_new_bound ();
  g_autoptr(GString) text = g_string_new (NULL);
  g_autoptr(ConfabMessage) received = NULL;
  ConfabMessage *sent;

  pair_up (a, b, "127.0.0.1");
  while (text->len + strlen ("ü€𝄞 ") <= 65536)
    g_string_append (text, "ü€𝄞 ");
  while (text->len < 65536)
    g_string_append_c (text, '.');
  g_assert_cmpuint (text->len, ==, confab_conversation_get_max_length (a));

  sent = confab_conversation_send (a, text->str);
  wait_until (has_items, b);
  wait_until (not_sending, sent);
  g_assert_cmpint (confab_message_get_state (sent), ==, CONFAB_MESSAGE_STATE_DELIVERED);
  received = g_list_model_get_item (G_LIST_MODEL (b), 0);
  g_assert_cmpstr (confab_message_get_text (received), ==, text->str);

  g_clear_object (&received);
  g_assert_finalize_object (a);
  g_assert_finalize_object (b);
}

/* A bare socket on loopback, as nc -u would be, made the conversation's
 * peer; @target is where it reaches the conversation.
 */
static GSocket *
plain_peer_new (ConfabConversation  *conversation,
                GSocketAddress     **target)
{
  GSocket *plain = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
                                 G_SOCKET_PROTOCOL_UDP, NULL);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new_from_string ("127.0.0.1", 0);
  g_autoptr(GSocketAddress) local = NULL;

  g_assert_true (g_socket_bind (plain, any, FALSE, NULL));
  local = g_socket_get_local_address (plain, NULL);
  confab_conversation_set_peer (conversation, "127.0.0.1",
                                g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local)));
  *target = g_inet_socket_address_new_from_string ("127.0.0.1",
                                                   confab_conversation_get_local_port (conversation));

  return plain;
}

typedef struct
{
  guint signals;
  guint added;
} Changes;

static void
on_items_changed (GListModel *model,
                  guint       position,
                  guint       removed,
                  guint       added,
                  Changes    *changes)
{
  g_assert_cmpuint (position, ==, changes->added);
  g_assert_cmpuint (removed, ==, 0);
  g_assert_cmpuint (g_list_model_get_n_items (model), ==, position + added);
  changes->signals++;
  changes->added += added;
}

static gboolean
has_100_items (gpointer data)
{
  return g_list_model_get_n_items (G_LIST_MODEL (data)) == 100;
}

/* A burst that arrives in one go makes one ::items-changed, not one per
 * message, so the list view lays out once.
 */
static void
test_conversation_burst_is_one_change (void)
{
  ConfabConversation *conversation = conversation_new_bound ();
  g_autoptr(GSocketAddress) target = NULL;
  g_autoptr(GSocket) plain = plain_peer_new (conversation, &target);
  Changes changes = { 0, 0 };

  g_signal_connect (conversation, "items-changed", G_CALLBACK (on_items_changed), &changes);

  for (guint i = 0; i < 100; i++)
    {
      g_autofree char *text = g_strdup_printf ("line %u", i);

      g_socket_send_to (plain, target, text, strlen (text), NULL, NULL);
    }

  wait_until (has_100_items, conversation);
  g_assert_cmpuint (changes.added, ==, 100);
  g_assert_cmpuint (changes.signals, ==, 1);

  g_signal_handlers_disconnect_by_data (conversation, &changes);
  g_assert_finalize_object (conversation);
}

static void
test_conversation_plain_line_end (void)
{
  ConfabConversation *conversation = conversation_new_bound ();
  g_autoptr(GSocketAddress) target = NULL;
  g_autoptr(GSocket) plain = plain_peer_new (conversation, &target);
  g_autoptr(ConfabMessage) received = NULL;

  /* nc -u sends each line with its newline */
  g_assert_cmpint (g_socket_send_to (plain, target, "hello there\n", 12, NULL, NULL), ==, 12);

  wait_until (has_items, conversation);
  received = g_list_model_get_item (G_LIST_MODEL (conversation), 0);
  g_assert_cmpstr (confab_message_get_text (received), ==, "hello there");

  g_clear_object (&received);
  g_assert_finalize_object (conversation);
}

static void
on_send_failed (ConfabConversation *conversation,
                ConfabMessage      *message,
                const char         *error,
                char              **out)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (conversation));
  g_autoptr(ConfabMessage) last = n > 0 ? g_list_model_get_item (G_LIST_MODEL (conversation),
                                                                 n - 1) : NULL;

  /* As the signal says: the message is in the list, marked failed. */
  g_assert_true (last == message);
  g_assert_cmpint (confab_message_get_state (message), ==, CONFAB_MESSAGE_STATE_FAILED);
  g_assert_nonnull (error);
  g_free (*out);
  *out = g_strdup (error);
}

static void
test_conversation_failure_keeps_text_and_retries (void)
{
  ConfabConversation *a = conversation_new_bound ();
  ConfabConversation *b = conversation_new_bound ();
  g_autofree char *error = NULL;
  ConfabMessage *sent;

  g_signal_connect (a, "send-failed", G_CALLBACK (on_send_failed), &error);

  /* No peer yet: the message fails, stays in the list, keeps its text. */
  sent = confab_conversation_send (a, "are you there?");
  wait_until (not_sending, sent);
  g_assert_cmpint (confab_message_get_state (sent), ==, CONFAB_MESSAGE_STATE_FAILED);
  g_assert_nonnull (error);
  g_assert_nonnull (confab_message_get_error (sent));
  g_assert_cmpstr (confab_message_get_text (sent), ==, "are you there?");
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (a)), ==, 1);

  /* Retry after the peer is set delivers the same message. */
  pair_up (a, b, "127.0.0.1");
  confab_conversation_retry (a, sent);
  wait_until (has_items, b);
  wait_until (not_sending, sent);
  g_assert_cmpint (confab_message_get_state (sent), ==, CONFAB_MESSAGE_STATE_DELIVERED);
  g_assert_null (confab_message_get_error (sent));
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (a)), ==, 1);

  g_assert_finalize_object (a);
  g_assert_finalize_object (b);
}

static void
count_notify (GObject    *object,
              GParamSpec *pspec,
              guint      *count)
{
  (*count)++;
}

static void
test_conversation_port_in_use (void)
{
  ConfabConversation *a = conversation_new_bound ();
  ConfabConversation *b = conversation_new_bound ();
  guint16 taken = confab_conversation_get_local_port (a);
  guint notified = 0;

  g_signal_connect (b, "notify::bind-error", G_CALLBACK (count_notify), &notified);

  g_assert_false (confab_conversation_set_local_port (b, taken));
  g_assert_error ((GError *)confab_conversation_get_bind_error (b),
                  G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE);
  g_assert_cmpuint (confab_conversation_get_local_port (b), ==, taken);
  g_assert_cmpuint (notified, ==, 1);

  /* Choosing another port recovers without a restart. */
  g_assert_true (confab_conversation_set_local_port (b, 0));
  g_assert_null (confab_conversation_get_bind_error (b));
  g_assert_cmpuint (notified, ==, 2);
  g_assert_cmpuint (confab_conversation_get_local_port (b), !=, taken);

  g_assert_finalize_object (a);
  g_assert_finalize_object (b);
}

static void
test_conversation_nickname_default (void)
{
  ConfabConversation *conversation = confab_conversation_new ();
  const char *name = confab_conversation_get_nickname (conversation);

  g_assert_nonnull (name);
  g_assert_cmpstr (name, !=, "");

  confab_conversation_set_nickname (conversation, "  zoe  ");
  g_assert_cmpstr (confab_conversation_get_nickname (conversation), ==, "zoe");

  confab_conversation_set_nickname (conversation, "   ");
  g_assert_cmpstr (confab_conversation_get_nickname (conversation), ==, name);

  g_assert_finalize_object (conversation);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/conversation/exchange-ipv4", test_conversation_exchange_ipv4);
  g_test_add_func ("/conversation/exchange-ipv6", test_conversation_exchange_ipv6);
  g_test_add_func ("/conversation/exchange-plain", test_conversation_exchange_plain);
  g_test_add_func ("/conversation/largest-message", test_conversation_largest_message);
  g_test_add_func ("/conversation/plain-line-end", test_conversation_plain_line_end);
  g_test_add_func ("/conversation/burst-is-one-change", test_conversation_burst_is_one_change);
  g_test_add_func ("/conversation/failure-keeps-text-and-retries",
                   test_conversation_failure_keeps_text_and_retries);
  g_test_add_func ("/conversation/port-in-use", test_conversation_port_in_use);
  g_test_add_func ("/conversation/nickname-default", test_conversation_nickname_default);

  return g_test_run ();
}
