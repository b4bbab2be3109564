/* test-channel.c — ConfabChannel over real UDP sockets on loopback
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include <string.h>

#include <gio/gio.h>

#include "confab-channel.h"
#include "confab-wire.h"

/* Generous: only a broken channel gets near it. */
#define TIMEOUT_SECONDS 30

static gboolean
on_timeout (gpointer user_data)
{
  gboolean *timed_out = user_data;

  *timed_out = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs the default main context until @condition holds; fails the test
 * instead of hanging when it never does.
 */
#define WAIT_UNTIL(condition) \
  G_STMT_START { \
    gboolean timed_out_ = FALSE; \
    guint timeout_id_ = g_timeout_add_seconds (TIMEOUT_SECONDS, on_timeout, &timed_out_); \
    while (!(condition) && !timed_out_) \
      g_main_context_iteration (NULL, TRUE); \
    if (timed_out_) \
      g_test_message ("Timed out after %d s waiting for: %s", TIMEOUT_SECONDS, #condition); \
    else \
      g_source_remove (timeout_id_); \
    g_assert_true (condition); \
  } G_STMT_END

/* A resolver whose first lookup fails, as when Confab starts before the
 * network, and which then finds every name on the IPv4 loopback.
 */
typedef GResolver FlakyResolver;
typedef GResolverClass FlakyResolverClass;
GType flaky_resolver_get_type (void);
G_DEFINE_TYPE (FlakyResolver, flaky_resolver, G_TYPE_RESOLVER)

static guint flaky_lookups;

static void
flaky_lookup_by_name_async (GResolver           *resolver,
                            const char          *host,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (resolver, cancellable, callback, user_data);

  if (flaky_lookups++ == 0)
    g_task_return_new_error (task, G_RESOLVER_ERROR, G_RESOLVER_ERROR_NOT_FOUND, "not yet");
  else
    g_task_return_pointer (task, g_list_append (NULL, g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4)),
                           (GDestroyNotify)g_resolver_free_addresses);
}

static GList *
flaky_lookup_by_name_finish (GResolver     *resolver,
                             GAsyncResult  *result,
                             GError       **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
flaky_resolver_class_init (FlakyResolverClass *klass)
{
  klass->lookup_by_name_async = flaky_lookup_by_name_async;
  klass->lookup_by_name_finish = flaky_lookup_by_name_finish;
}

static void
flaky_resolver_init (FlakyResolver *resolver)
{
}

/* Helpers */

static void
on_received (ConfabChannel *channel G_GNUC_UNUSED,
             const char    *text,
             gpointer       user_data)
{
  GPtrArray *texts = user_data;

  g_ptr_array_add (texts, g_strdup (text));
}

static GPtrArray *
collect_received (ConfabChannel *channel)
{
  GPtrArray *texts = g_ptr_array_new_with_free_func (g_free);

  g_signal_connect (channel, "received", G_CALLBACK (on_received), texts);
  return texts;
}

static ConfabChannel *
bound_channel (const char *address)
{
  ConfabChannel *channel = confab_channel_new ();
  g_autoptr(GError) error = NULL;

  g_assert_true (confab_channel_bind (channel, address, 0, &error));
  g_assert_no_error (error);
  g_assert_true (confab_channel_is_bound (channel));
  g_assert_cmpuint (confab_channel_get_local_port (channel), !=, 0);

  return channel;
}

typedef struct
{
  gboolean  done;
  GError   *error;
} SendResult;

static void
on_sent (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  SendResult *send_result = user_data;

  confab_channel_send_finish (CONFAB_CHANNEL (object), result, &send_result->error);
  send_result->done = TRUE;
}

/* Returns the error of sending @text, or NULL. */
static GError *
send_and_wait (ConfabChannel *channel,
               const char    *text)
{
  SendResult result = { FALSE, NULL };

  confab_channel_send_async (channel, text, NULL, on_sent, &result);
  WAIT_UNTIL (result.done);

  return result.error;
}

static void
send_ok (ConfabChannel *channel,
         const char    *text)
{
  g_autoptr(GError) error = send_and_wait (channel, text);

  g_assert_no_error (error);
}

static void
send_and_expect (ConfabChannel *from,
                 GPtrArray     *to_texts,
                 const char    *text)
{
  guint before = to_texts->len;

  send_ok (from, text);
  WAIT_UNTIL (to_texts->len > before);

  g_assert_cmpuint (to_texts->len, ==, before + 1);
  g_assert_cmpstr (g_ptr_array_index (to_texts, before), ==, text);
}

/* Two channels on @address, each the other's peer. */
static void
make_pair (const char     *address,
           const char     *peer_host,
           ConfabChannel **a,
           ConfabChannel **b)
{
  *a = bound_channel (address);
  *b = bound_channel (address);

  confab_channel_set_peer (*a, peer_host, confab_channel_get_local_port (*b));
  confab_channel_set_peer (*b, peer_host, confab_channel_get_local_port (*a));
}

static void
converse (ConfabChannel *a,
          ConfabChannel *b)
{
  g_autoptr(GPtrArray) a_texts = collect_received (a);
  g_autoptr(GPtrArray) b_texts = collect_received (b);
  ConfabChannelStats stats;

  send_and_expect (a, b_texts, "hello");
  send_and_expect (b, a_texts, "hi there");
  send_and_expect (a, b_texts, "grüße ✓ 日本語");
  send_and_expect (b, a_texts, "grüße ✓ 日本語");

  confab_channel_get_stats (b, &stats);
  g_assert_cmpuint (stats.received, ==, 2);
  g_assert_cmpuint (stats.dropped_empty, ==, 0);
  g_assert_cmpuint (stats.dropped_not_peer, ==, 0);
  g_assert_cmpuint (stats.dropped_invalid_utf8, ==, 0);

  g_signal_handlers_disconnect_by_data (a, a_texts);
  g_signal_handlers_disconnect_by_data (b, b_texts);
}

/* A socket as `nc -u` has one, blocking with a timeout, at @port (0: any) */
static GSocket *
plain_socket_at (const char *address,
                 guint16     port)
{
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GInetAddress) inet_address = g_inet_address_new_from_string (address);
  g_autoptr(GSocketAddress) socket_address = g_inet_socket_address_new (inet_address, port);
  g_autoptr(GError) error = NULL;

  socket = g_socket_new (g_inet_address_get_family (inet_address), G_SOCKET_TYPE_DATAGRAM,
                         G_SOCKET_PROTOCOL_UDP, &error);
  g_assert_no_error (error);
  g_socket_bind (socket, socket_address, FALSE, &error);
  g_assert_no_error (error);
  g_socket_set_timeout (socket, TIMEOUT_SECONDS);

  return g_steal_pointer (&socket);
}

static GSocket *
plain_socket (const char *address)
{
  return plain_socket_at (address, 0);
}

static guint16
socket_port (GSocket *socket)
{
  g_autoptr(GSocketAddress) address = NULL;
  g_autoptr(GError) error = NULL;

  address = g_socket_get_local_address (socket, &error);
  g_assert_no_error (error);

  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (address));
}

static void
plain_send (GSocket       *socket,
            ConfabChannel *to,
            const char    *data,
            gsize          length)
{
  g_autoptr(GInetAddress) loopback = NULL;
  g_autoptr(GSocketAddress) destination = NULL;
  g_autoptr(GError) error = NULL;
  gssize sent;

  loopback = g_inet_address_new_loopback (g_socket_get_family (socket));
  destination = g_inet_socket_address_new (loopback, confab_channel_get_local_port (to));
  sent = g_socket_send_to (socket, destination, data, length, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (sent, ==, length);
}

/* Whether a fresh socket can take @port: the channel has let it go. */
static gboolean
port_is_free (guint16 port)
{
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, port);

  socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP,
                         NULL);
  g_assert_nonnull (socket);

  return g_socket_bind (socket, address, FALSE, NULL);
}

/* A port that was free a moment ago. */
static guint16
free_port (void)
{
  g_autoptr(GSocket) socket = plain_socket ("127.0.0.1");

  return socket_port (socket);
}

static gboolean
can_bind_ipv6_loopback (void)
{
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV6);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);

  socket = g_socket_new (G_SOCKET_FAMILY_IPV6, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP,
                         NULL);

  return socket != NULL && g_socket_bind (socket, address, FALSE, NULL);
}

/* Tests */

static void
test_ipv4 (void)
{
  ConfabChannel *a, *b;

  make_pair ("127.0.0.1", "127.0.0.1", &a, &b);
  g_assert_cmpstr (confab_channel_get_peer_host (a), ==, "127.0.0.1");
  g_assert_cmpuint (confab_channel_get_peer_port (a), ==, confab_channel_get_local_port (b));

  converse (a, b);

  g_assert_finalize_object (a);
  g_assert_finalize_object (b);
}

static void
test_ipv6 (void)
{
  ConfabChannel *a, *b;

  if (!can_bind_ipv6_loopback ())
    {
      g_test_skip ("Cannot bind to ::1");
      return;
    }

  make_pair ("::1", "::1", &a, &b);
  converse (a, b);

  g_assert_finalize_object (a);
  g_assert_finalize_object (b);
}

/* Bound to no address: IPv6 and IPv4 peers on one socket. */
static void
test_dual_stack (void)
{
  ConfabChannel *any = bound_channel (NULL);
  ConfabChannel *v4 = bound_channel ("127.0.0.1");

  confab_channel_set_peer (any, "127.0.0.1", confab_channel_get_local_port (v4));
  confab_channel_set_peer (v4, "127.0.0.1", confab_channel_get_local_port (any));
  converse (any, v4);

  if (can_bind_ipv6_loopback ())
    {
      ConfabChannel *v6 = bound_channel ("::1");

      confab_channel_set_peer (any, "::1", confab_channel_get_local_port (v6));
      confab_channel_set_peer (v6, "::1", confab_channel_get_local_port (any));
      converse (any, v6);

      g_assert_finalize_object (v6);
    }

  g_assert_finalize_object (any);
  g_assert_finalize_object (v4);
}

static void
test_plain_peer (void)
{
  static const char reply[] = "réponse ✓";
  g_autoptr(GSocket) plain = plain_socket ("127.0.0.1");
  g_autoptr(GPtrArray) texts = NULL;
  g_autoptr(GSocketAddress) from = NULL;
  g_autoptr(GError) error = NULL;
  ConfabChannel *channel = bound_channel ("127.0.0.1");
  char buffer[256];
  gssize length;

  texts = collect_received (channel);
  confab_channel_set_peer (channel, "127.0.0.1", socket_port (plain));

  /* What `nc -u` sends for a typed line: the newline is part of the text. */
  plain_send (plain, channel, "hello from nc\n", strlen ("hello from nc\n"));
  WAIT_UNTIL (texts->len == 1);
  g_assert_cmpstr (g_ptr_array_index (texts, 0), ==, "hello from nc\n");

  send_ok (channel, reply);
  length = g_socket_receive_from (plain, &from, buffer, sizeof buffer, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (buffer, length, reply, strlen (reply));
  g_assert_cmpuint (g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (from)), ==,
                    confab_channel_get_local_port (channel));

  g_signal_handlers_disconnect_by_data (channel, texts);
  g_assert_finalize_object (channel);
}

static guint64
dropped_total (ConfabChannel *channel)
{
  ConfabChannelStats stats;

  confab_channel_get_stats (channel, &stats);
  return stats.dropped_empty + stats.dropped_not_peer + stats.dropped_invalid_utf8;
}

static void
test_dropped (void)
{
  static const char invalid[] = "caf\xc3";
  static const char with_nul[] = { 'a', '\0', 'b' };
  g_autoptr(GSocket) peer = plain_socket ("127.0.0.1");
  g_autoptr(GSocket) stranger = plain_socket ("127.0.0.1");
  g_autoptr(GPtrArray) texts = NULL;
  ConfabChannel *channel = bound_channel ("127.0.0.1");
  ConfabChannelStats stats;

  texts = collect_received (channel);
  confab_channel_set_peer (channel, "127.0.0.1", socket_port (peer));

  plain_send (peer, channel, invalid, strlen (invalid));
  plain_send (peer, channel, "", 0);
  plain_send (peer, channel, with_nul, sizeof with_nul);
  plain_send (stranger, channel, "let me in", strlen ("let me in"));
  WAIT_UNTIL (dropped_total (channel) == 4);

  confab_channel_get_stats (channel, &stats);
  g_assert_cmpuint (stats.received, ==, 0);
  g_assert_cmpuint (stats.dropped_empty, ==, 1);
  g_assert_cmpuint (stats.dropped_not_peer, ==, 1);
  g_assert_cmpuint (stats.dropped_invalid_utf8, ==, 2);
  g_assert_cmpuint (texts->len, ==, 0);

  plain_send (peer, channel, "still here", strlen ("still here"));
  WAIT_UNTIL (texts->len == 1);
  g_assert_cmpstr (g_ptr_array_index (texts, 0), ==, "still here");
  g_assert_cmpuint (dropped_total (channel), ==, 4);

  g_signal_handlers_disconnect_by_data (channel, texts);
  g_assert_finalize_object (channel);
}

/* On a socket of both families, where the peer's IPv4 datagrams come as
 * ::ffff:127.0.0.1, the peer is known by its address as well as its port:
 * the same port at another address is a stranger's.
 */
static void
test_stranger_at_peer_port (void)
{
  g_autoptr(GSocket) peer = plain_socket ("127.0.0.1");
  g_autoptr(GSocket) stranger = NULL;
  g_autoptr(GPtrArray) texts = NULL;
  ConfabChannel *channel;
  ConfabChannelStats stats;

  if (!can_bind_ipv6_loopback ())
    {
      g_test_skip ("Cannot bind to ::1");
      return;
    }

  stranger = plain_socket_at ("::1", socket_port (peer));
  channel = bound_channel (NULL);
  texts = collect_received (channel);
  confab_channel_set_peer (channel, "127.0.0.1", socket_port (peer));

  plain_send (stranger, channel, "let me in", strlen ("let me in"));
  plain_send (peer, channel, "hello", strlen ("hello"));
  WAIT_UNTIL (texts->len == 1);
  g_assert_cmpstr (g_ptr_array_index (texts, 0), ==, "hello");
  WAIT_UNTIL (dropped_total (channel) == 1);
  confab_channel_get_stats (channel, &stats);
  g_assert_cmpuint (stats.dropped_not_peer, ==, 1);

  g_signal_handlers_disconnect_by_data (channel, texts);
  g_assert_finalize_object (channel);
}

static guint64
bad_total (ConfabChannel *channel)
{
  ConfabChannelStats stats;

  confab_channel_get_stats (channel, &stats);
  return stats.dropped_malformed + stats.dropped_oversized +
         stats.dropped_version + stats.dropped_type;
}

static guint64
pings_answered (ConfabChannel *channel)
{
  ConfabChannelStats stats;

  confab_channel_get_stats (channel, &stats);
  return stats.pings;
}

static void
on_message (ConfabChannel        *channel G_GNUC_UNUSED,
            const ConfabIncoming *incoming,
            gpointer              user_data)
{
  g_ptr_array_add (user_data, g_strdup (incoming->text));
}

/* Bad Confab datagrams from the peer itself are counted and dropped; the
 * channel goes on working.
 */
static void
test_bad_protocol_datagrams (void)
{
  static const guint8 good_ping[] = { 0xFF, 'C', 'F', 'B', 1, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
  g_autoptr(GSocket) peer = plain_socket ("127.0.0.1");
  g_autoptr(GPtrArray) messages = g_ptr_array_new_with_free_func (g_free);
  ConfabChannel *channel = bound_channel ("127.0.0.1");
  guint8 datagram[1300];
  ConfabChannelStats stats;
  ConfabWireMessage m = {
    .session = 9, .seq = 1, .low = 1, .origin = 9, .number = 1, .time = 0,
    .total = 2, .offset = 0, .frag = 0, .nfrags = 1, .nick_len = 0, .nick = "",
    .payload = (const guint8 *)"hi", .payload_len = 2,
  };
  gsize length;

  g_signal_connect (channel, "message", G_CALLBACK (on_message), messages);
  confab_channel_set_peer (channel, "127.0.0.1", socket_port (peer));

  /* Truncated at every length. */
  length = confab_wire_encode_message (&m, datagram, sizeof datagram);
  for (gsize i = 1; i < length; i++)
    plain_send (peer, channel, (const char *)datagram, i);
  WAIT_UNTIL (bad_total (channel) == length - 1);

  /* Wrong version, unknown type, oversized, bad magic. */
  datagram[4] = 2;
  plain_send (peer, channel, (const char *)datagram, length);
  datagram[4] = 1;
  datagram[5] = 9;
  plain_send (peer, channel, (const char *)datagram, length);
  datagram[5] = 1;
  memset (datagram + length, 'x', sizeof datagram - length);
  plain_send (peer, channel, (const char *)datagram, sizeof datagram);
  datagram[1] = 'X';
  plain_send (peer, channel, (const char *)datagram, length);
  datagram[1] = 'C';
  WAIT_UNTIL (bad_total (channel) == length - 1 + 4);

  confab_channel_get_stats (channel, &stats);
  g_assert_cmpuint (stats.dropped_version, ==, 1);
  g_assert_cmpuint (stats.dropped_type, ==, 1);
  g_assert_cmpuint (stats.dropped_oversized, ==, 1);
  g_assert_cmpuint (stats.dropped_malformed, ==, length - 1 + 1);
  g_assert_cmpuint (messages->len, ==, 0);

  /* The intact datagram is still shown, once, and a ping still answered. */
  plain_send (peer, channel, (const char *)datagram, length);
  plain_send (peer, channel, (const char *)datagram, length);
  plain_send (peer, channel, (const char *)good_ping, sizeof good_ping);
  WAIT_UNTIL (messages->len == 1 && pings_answered (channel) == 1);
  confab_channel_get_stats (channel, &stats);
  g_assert_cmpstr (g_ptr_array_index (messages, 0), ==, "hi");
  g_assert_cmpuint (stats.receiver.duplicates, ==, 1);

  g_signal_handlers_disconnect_by_data (channel, messages);
  g_assert_finalize_object (channel);
}

static void
on_pinged (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  GError **error = user_data;
  gint64 rtt;

  rtt = confab_channel_ping_finish (CONFAB_CHANNEL (object), result, error);
  if (*error == NULL)
    {
      g_assert_cmpint (rtt, >=, 0);
      g_set_error_literal (error, G_IO_ERROR, 0, "answered");
    }
}

static void
test_ping (void)
{
  ConfabChannel *a = bound_channel ("127.0.0.1");
  ConfabChannel *b = bound_channel ("127.0.0.1");
  g_autoptr(GError) result = NULL;
  ConfabChannelStats stats;

  confab_channel_set_peer (a, "127.0.0.1", confab_channel_get_local_port (b));
  confab_channel_set_peer (b, "127.0.0.1", confab_channel_get_local_port (a));

  confab_channel_ping_async (a, NULL, on_pinged, &result);
  WAIT_UNTIL (result != NULL);
  g_assert_error (result, G_IO_ERROR, 0);
  confab_channel_get_stats (b, &stats);
  g_assert_cmpuint (stats.pings, ==, 1);

  g_assert_finalize_object (a);
  g_assert_finalize_object (b);
}

static void
test_ping_unanswered (void)
{
  g_autoptr(GSocket) silent = plain_socket ("127.0.0.1");
  ConfabChannel *channel = bound_channel ("127.0.0.1");
  g_autoptr(GError) result = NULL;
  gint64 started = g_get_monotonic_time ();

  /* A plain socket never answers: the ping gives up after 5 s. */
  confab_channel_set_peer (channel, "127.0.0.1", socket_port (silent));
  confab_channel_ping_async (channel, NULL, on_pinged, &result);
  WAIT_UNTIL (result != NULL);
  g_assert_error (result, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_cmpint (g_get_monotonic_time () - started, >=, 5 * G_USEC_PER_SEC);

  g_assert_finalize_object (channel);
}

static gsize
encode_test_message (guint64  seq,
                     const char *text,
                     guint8  *datagram)
{
  ConfabWireMessage m = {
    .session = 9, .seq = seq, .low = 1, .origin = 9, .number = seq, .time = 0,
    .total = strlen (text), .offset = 0, .frag = 0, .nfrags = 1, .nick_len = 0, .nick = "",
    .payload = (const guint8 *)text, .payload_len = strlen (text),
  };

  return confab_wire_encode_message (&m, datagram, CONFAB_WIRE_MAX_DATAGRAM);
}

typedef struct
{
  GSocket *peer;
  guint    handled;
  guint64  acked_while_handling;
} NestedState;

/* Acks may leave only once the whole batch is handed out, even when a
 * handler sends (and so flushes) in the middle of it.
 */
static void
on_message_send_reply (ConfabChannel        *channel,
                       const ConfabIncoming *incoming,
                       gpointer              user_data)
{
  NestedState *state = user_data;
  char buffer[2048];
  gssize n;

  while ((n = g_socket_receive (state->peer, buffer, sizeof buffer, NULL, NULL)) > 0)
    {
      ConfabWireDatagram datagram;

      if (confab_wire_decode ((const guint8 *)buffer, n, &datagram) == CONFAB_WIRE_OK &&
          datagram.type == CONFAB_WIRE_TYPE_ACK)
        state->acked_while_handling = MAX (state->acked_while_handling, datagram.ack.next - 1);
    }

  if (state->handled++ == 0)
    {
      guint64 origin = 0, number = 0;

      g_assert_true (confab_channel_send_message (channel, &origin, &number, 0, "bot",
                                                  "auto-reply", NULL));
    }
}

static void
test_ack_after_nested_send (void)
{
  g_autoptr(GSocket) peer = plain_socket ("127.0.0.1");
  ConfabChannel *channel = bound_channel ("127.0.0.1");
  NestedState state = { peer, 0, 0 };
  guint8 datagram[CONFAB_WIRE_MAX_DATAGRAM];

  g_socket_set_blocking (peer, FALSE);
  confab_channel_set_peer (channel, "127.0.0.1", socket_port (peer));
  g_signal_connect (channel, "message", G_CALLBACK (on_message_send_reply), &state);

  for (guint64 seq = 1; seq <= 3; seq++)
    plain_send (peer, channel, (const char *)datagram, encode_test_message (seq, "x", datagram));
  g_usleep (50 * 1000);
  WAIT_UNTIL (state.handled == 3);
  g_assert_cmpuint (state.acked_while_handling, ==, 0);

  g_signal_handlers_disconnect_by_data (channel, &state);
  g_assert_finalize_object (channel);
}

typedef struct
{
  GSocket *peer;
  guint    messages;
  guint    batch_ends;
  guint    messages_at_batch_end;
  gboolean acked_before_batch_end;
} BatchState;

static void
on_batch_message (ConfabChannel        *channel,
                  const ConfabIncoming *incoming,
                  BatchState           *state)
{
  state->messages++;
}

/* Whatever a batch-end handler stores is on disk before the peer learns of it. */
static void
on_batch_end (ConfabChannel *channel,
              BatchState    *state)
{
  char buffer[2048];

  state->batch_ends++;
  state->messages_at_batch_end = state->messages;
  if (g_socket_receive (state->peer, buffer, sizeof buffer, NULL, NULL) > 0)
    state->acked_before_batch_end = TRUE;
}

static void
test_batch_end_before_ack (void)
{
  g_autoptr(GSocket) peer = plain_socket ("127.0.0.1");
  ConfabChannel *channel = bound_channel ("127.0.0.1");
  BatchState state = { peer, 0, 0, 0, FALSE };
  guint8 datagram[CONFAB_WIRE_MAX_DATAGRAM];
  char buffer[2048];
  ConfabWireDatagram ack;
  gssize n;

  g_socket_set_blocking (peer, FALSE);
  confab_channel_set_peer (channel, "127.0.0.1", socket_port (peer));
  g_signal_connect (channel, "message", G_CALLBACK (on_batch_message), &state);
  g_signal_connect (channel, "batch-end", G_CALLBACK (on_batch_end), &state);

  for (guint64 seq = 1; seq <= 3; seq++)
    plain_send (peer, channel, (const char *)datagram, encode_test_message (seq, "x", datagram));
  g_usleep (50 * 1000);
  WAIT_UNTIL (state.messages == 3);

  g_assert_cmpuint (state.batch_ends, >=, 1);
  g_assert_cmpuint (state.messages_at_batch_end, ==, 3);
  g_assert_false (state.acked_before_batch_end);

  g_socket_set_blocking (peer, TRUE);
  n = g_socket_receive (peer, buffer, sizeof buffer, NULL, NULL);
  g_assert_cmpint (confab_wire_decode ((const guint8 *)buffer, n, &ack), ==, CONFAB_WIRE_OK);
  g_assert_cmpint (ack.type, ==, CONFAB_WIRE_TYPE_ACK);

  g_signal_handlers_disconnect_by_data (channel, &state);
  g_assert_finalize_object (channel);
}

/* An id given out before sending is the one the message travels under. */
static void
test_new_message_id (void)
{
  g_autoptr(ConfabChannel) a = NULL;
  g_autoptr(ConfabChannel) b = NULL;
  g_autoptr(GPtrArray) got = g_ptr_array_new_with_free_func (g_free);
  guint64 origin = 0, number = 0, origin2 = 0, number2 = 0;
  guint64 sent_origin, sent_number;

  make_pair ("127.0.0.1", "127.0.0.1", &a, &b);
  confab_channel_new_message_id (a, &origin, &number);
  confab_channel_new_message_id (a, &origin2, &number2);
  g_assert_cmpuint (origin, ==, confab_channel_get_session (a));
  g_assert_cmpuint (origin2, ==, origin);
  g_assert_cmpuint (number2, ==, number + 1);

  g_signal_connect (b, "message", G_CALLBACK (on_message), got);
  sent_origin = origin;
  sent_number = number;
  g_assert_true (confab_channel_send_message (a, &sent_origin, &sent_number, 0, "ann", "hi",
                                              NULL));
  g_assert_cmpuint (sent_origin, ==, origin);
  g_assert_cmpuint (sent_number, ==, number);
  WAIT_UNTIL (got->len == 1);
  g_assert_cmpstr (g_ptr_array_index (got, 0), ==, "hi");
  g_signal_handlers_disconnect_by_data (b, got);
}

/* Going to another peer and back does not show a message again when the
 * first peer retransmits it (its ack was lost).
 */
static void
test_no_repeat_after_peer_change (void)
{
  g_autoptr(GSocket) peer = plain_socket ("127.0.0.1");
  g_autoptr(GPtrArray) messages = g_ptr_array_new_with_free_func (g_free);
  ConfabChannel *channel = bound_channel ("127.0.0.1");
  guint8 datagram[CONFAB_WIRE_MAX_DATAGRAM];
  gsize length = encode_test_message (1, "once", datagram);
  ConfabChannelStats stats;

  g_signal_connect (channel, "message", G_CALLBACK (on_message), messages);
  confab_channel_set_peer (channel, "127.0.0.1", socket_port (peer));
  plain_send (peer, channel, (const char *)datagram, length);
  WAIT_UNTIL (messages->len == 1);

  confab_channel_set_peer (channel, "127.0.0.1", socket_port (peer) + 1);
  confab_channel_set_peer (channel, "127.0.0.1", socket_port (peer));
  plain_send (peer, channel, (const char *)datagram, length);
  WAIT_UNTIL ((confab_channel_get_stats (channel, &stats), stats.receiver.repeated == 1));
  g_assert_cmpuint (messages->len, ==, 1);

  g_signal_handlers_disconnect_by_data (channel, messages);
  g_assert_finalize_object (channel);
}

static void
on_failed_check_peer (ConfabChannel *channel,
                      guint64        origin,
                      guint64        number,
                      const char    *reason,
                      gpointer       user_data)
{
  guint16 *port_seen = user_data;

  *port_seen = confab_channel_get_peer_port (channel);
}

/* ::failed for the messages a peer change abandons comes once the new peer
 * is in place, so that a handler retrying at once sends to the new peer.
 */
static void
test_failed_after_peer_change (void)
{
  g_autoptr(GSocket) silent = plain_socket ("127.0.0.1");
  ConfabChannel *channel = bound_channel ("127.0.0.1");
  guint64 origin = 0, number = 0;
  guint16 port_seen = 0;
  guint16 new_port = socket_port (silent) + 1;

  confab_channel_set_peer (channel, "127.0.0.1", socket_port (silent));
  g_assert_true (confab_channel_send_message (channel, &origin, &number, 0, "me", "hi", NULL));
  g_signal_connect (channel, "failed", G_CALLBACK (on_failed_check_peer), &port_seen);
  confab_channel_set_peer (channel, "127.0.0.1", new_port);
  g_assert_cmpuint (port_seen, ==, new_port);

  g_signal_handlers_disconnect_by_data (channel, &port_seen);
  g_assert_finalize_object (channel);
}

/* The peer's name did not resolve at first; what it sends later is heard. */
static void
test_lookup_retried_on_arrival (void)
{
  g_autoptr(GResolver) original = g_resolver_get_default ();
  g_autoptr(GResolver) flaky = g_object_new (flaky_resolver_get_type (), NULL);
  g_autoptr(GSocket) peer = plain_socket ("127.0.0.1");
  g_autoptr(GPtrArray) texts = NULL;
  ConfabChannel *channel;

  g_resolver_set_default (flaky);
  channel = bound_channel ("127.0.0.1");
  texts = collect_received (channel);
  confab_channel_set_peer (channel, "peer.example", socket_port (peer));
  WAIT_UNTIL (flaky_lookups == 1);

  /* A peer repeats itself until heard, as a Confab sender would. */
  for (guint i = 0; i < 50 && texts->len == 0; i++)
    {
      plain_send (peer, channel, "are you up?", strlen ("are you up?"));
      g_usleep (100 * 1000);
      while (g_main_context_iteration (NULL, FALSE))
        ;
    }
  g_assert_cmpuint (texts->len, >=, 1);
  g_assert_cmpuint (flaky_lookups, ==, 2);

  g_signal_handlers_disconnect_by_data (channel, texts);
  g_assert_finalize_object (channel);
  g_resolver_set_default (original);
}

/* An IPv4-only socket cannot reach an IPv6 peer: the send fails at once,
 * saying why, rather than 30 s later.
 */
static void
test_unreachable_family_fails_at_once (void)
{
  ConfabChannel *channel = bound_channel ("127.0.0.1");
  g_autoptr(GError) error = NULL;
  guint64 origin = 0, number = 0;

  confab_channel_set_peer (channel, "::1", 48484);
  g_assert_false (confab_channel_send_message (channel, &origin, &number, 0, "me", "hi", &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_HOST_UNREACHABLE);
  g_assert_finalize_object (channel);
}

static void
test_address_in_use (void)
{
  ConfabChannel *a = bound_channel ("127.0.0.1");
  ConfabChannel *b = bound_channel ("127.0.0.1");
  guint16 a_port = confab_channel_get_local_port (a);
  guint16 b_port = confab_channel_get_local_port (b);
  g_autoptr(GError) error = NULL;

  g_assert_false (confab_channel_bind (b, "127.0.0.1", a_port, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE);
  g_clear_error (&error);

  /* A failed rebind leaves the channel unbound and frees its old port. */
  g_assert_false (confab_channel_is_bound (b));
  g_assert_cmpuint (confab_channel_get_local_port (b), ==, 0);
  g_assert_true (port_is_free (b_port));

  g_assert_false (confab_channel_bind (b, "not an address", 0, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  g_assert_true (confab_channel_bind (b, "127.0.0.1", 0, &error));
  g_assert_no_error (error);
  confab_channel_set_peer (a, "127.0.0.1", confab_channel_get_local_port (b));
  confab_channel_set_peer (b, "127.0.0.1", a_port);
  converse (a, b);

  g_assert_finalize_object (a);
  g_assert_finalize_object (b);
}

static void
on_notify (GObject    *object G_GNUC_UNUSED,
           GParamSpec *pspec G_GNUC_UNUSED,
           gpointer    user_data)
{
  guint *count = user_data;

  (*count)++;
}

static void
test_rebind (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) a_texts = NULL;
  g_autoptr(GPtrArray) b_texts = NULL;
  ConfabChannel *a, *b;
  guint16 old_port, new_port;
  guint notified = 0;

  make_pair ("127.0.0.1", "127.0.0.1", &a, &b);
  a_texts = collect_received (a);
  b_texts = collect_received (b);
  send_and_expect (a, b_texts, "before");

  old_port = confab_channel_get_local_port (b);
  new_port = free_port ();
  g_signal_connect (b, "notify::local-port", G_CALLBACK (on_notify), &notified);
  g_assert_true (confab_channel_bind (b, "127.0.0.1", new_port, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (confab_channel_get_local_port (b), ==, new_port);
  g_assert_cmpuint (notified, ==, 1);
  g_assert_true (port_is_free (old_port));

  confab_channel_set_peer (a, "127.0.0.1", new_port);
  send_and_expect (a, b_texts, "after");
  send_and_expect (b, a_texts, "and back");

  confab_channel_unbind (b);
  g_assert_false (confab_channel_is_bound (b));
  g_assert_cmpuint (confab_channel_get_local_port (b), ==, 0);
  g_assert_cmpuint (notified, ==, 2);
  g_assert_true (port_is_free (new_port));

  g_signal_handlers_disconnect_by_data (a, a_texts);
  g_signal_handlers_disconnect_by_data (b, b_texts);
  g_signal_handlers_disconnect_by_data (b, &notified);
  g_assert_finalize_object (a);
  g_assert_finalize_object (b);
}

static void
test_send_errors (void)
{
  g_autoptr(GError) error = NULL;
  ConfabChannel *channel = confab_channel_new ();

  confab_channel_set_peer (channel, "127.0.0.1", 9);
  error = send_and_wait (channel, "not bound");
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED);
  g_clear_error (&error);

  g_assert_true (confab_channel_bind (channel, "127.0.0.1", 0, &error));
  g_assert_no_error (error);

  confab_channel_set_peer (channel, NULL, 0);
  error = send_and_wait (channel, "nobody");
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  confab_channel_set_peer (channel, "", 9);
  error = send_and_wait (channel, "nobody");
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  /* An IPv4 socket cannot reach an IPv6 peer. */
  confab_channel_set_peer (channel, "::1", 9);
  error = send_and_wait (channel, "wrong family");
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_HOST_UNREACHABLE);
  g_assert_nonnull (strstr (error->message, "::1"));
  g_clear_error (&error);

  g_assert_finalize_object (channel);
}

static void
test_unresolvable (void)
{
  g_autoptr(GError) error = NULL;
  ConfabChannel *channel = bound_channel ("127.0.0.1");

  confab_channel_set_peer (channel, "nonexistent.invalid", 9);

  /* The second send resolves again. */
  for (guint i = 0; i < 2; i++)
    {
      error = send_and_wait (channel, "anyone?");
      g_assert_nonnull (error);
      g_test_message ("Resolving nonexistent.invalid: %s", error->message);
      /* Without a resolver configuration any error will do. */
      if (error->domain == G_RESOLVER_ERROR)
        g_assert_nonnull (strstr (error->message, "nonexistent.invalid"));
      g_clear_error (&error);
    }

  g_assert_finalize_object (channel);
}

static void
test_localhost (void)
{
  ConfabChannel *a, *b;

  make_pair ("127.0.0.1", "localhost", &a, &b);
  g_assert_cmpstr (confab_channel_get_peer_host (a), ==, "localhost");

  converse (a, b);

  g_assert_finalize_object (a);
  g_assert_finalize_object (b);
}

static void
on_lookup_done (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  gboolean *done = user_data;
  GList *addresses;

  addresses = g_resolver_lookup_by_name_finish (G_RESOLVER (object), result, NULL);
  g_resolver_free_addresses (addresses);
  *done = TRUE;
}

/* Waits for a lookup started now, which most likely ends after earlier ones. */
static void
wait_for_resolver (void)
{
  g_autoptr(GResolver) resolver = g_resolver_get_default ();
  gboolean done = FALSE;

  g_resolver_lookup_by_name_async (resolver, "localhost", NULL, on_lookup_done, &done);
  WAIT_UNTIL (done);
}

static void
test_pending_resolution (void)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  SendResult unbound = { FALSE, NULL };
  SendResult cancelled = { FALSE, NULL };
  ConfabChannel *channel = bound_channel ("127.0.0.1");
  ConfabChannel *gone = bound_channel ("127.0.0.1");

  /* Queued while "localhost" resolves; the channel is closed meanwhile. */
  confab_channel_set_peer (channel, "localhost", 9);
  confab_channel_send_async (channel, "queued", NULL, on_sent, &unbound);
  confab_channel_send_async (channel, "cancelled", cancellable, on_sent, &cancelled);
  g_cancellable_cancel (cancellable);
  confab_channel_unbind (channel);
  WAIT_UNTIL (unbound.done && cancelled.done);
  g_assert_error (unbound.error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED);
  g_assert_error (cancelled.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&unbound.error);
  g_clear_error (&cancelled.error);

  /* A channel may go while its peer's name is still resolving. */
  confab_channel_set_peer (gone, "localhost", 9);
  g_assert_finalize_object (gone);
  wait_for_resolver ();

  g_assert_finalize_object (channel);
}

/* A peer named by host name may speak before its name has resolved. */
static void
test_held_while_resolving (void)
{
  g_autoptr(GSocket) peer = plain_socket ("127.0.0.1");
  g_autoptr(GPtrArray) texts = NULL;
  ConfabChannel *channel = bound_channel ("127.0.0.1");
  ConfabChannelStats stats;

  texts = collect_received (channel);
  confab_channel_set_peer (channel, "localhost", socket_port (peer));
  plain_send (peer, channel, "early", strlen ("early"));
  plain_send (peer, channel, "bird", strlen ("bird"));
  WAIT_UNTIL (texts->len == 2);
  g_assert_cmpstr (g_ptr_array_index (texts, 0), ==, "early");
  g_assert_cmpstr (g_ptr_array_index (texts, 1), ==, "bird");

  confab_channel_get_stats (channel, &stats);
  g_assert_cmpuint (stats.dropped_not_peer, ==, 0);

  g_signal_handlers_disconnect_by_data (channel, texts);
  g_assert_finalize_object (channel);
}

static void
test_burst (void)
{
  const guint total = 500;
  /* A round larger than one dispatch reads, and within socket buffers. */
  const guint per_round = 300;
  g_autoptr(GSocket) peer = plain_socket ("127.0.0.1");
  g_autoptr(GPtrArray) texts = NULL;
  ConfabChannel *channel = bound_channel ("127.0.0.1");
  ConfabChannelStats stats;
  guint sent = 0;

  texts = collect_received (channel);
  confab_channel_set_peer (channel, "127.0.0.1", socket_port (peer));

  while (sent < total)
    {
      guint before = sent;
      guint end = MIN (sent + per_round, total);

      for (; sent < end; sent++)
        {
          g_autofree char *text = g_strdup_printf ("burst %u", sent);

          plain_send (peer, channel, text, strlen (text));
        }

      /* One dispatch does bounded work; the rest waits for the next. */
      WAIT_UNTIL (texts->len > before);
      g_test_message ("One dispatch read %u of %u", texts->len - before, sent - before);
      g_assert_cmpuint (texts->len, <=, before + 256);

      WAIT_UNTIL (texts->len == sent);
    }

  for (guint i = 0; i < total; i++)
    {
      g_autofree char *expected = g_strdup_printf ("burst %u", i);

      g_assert_cmpstr (g_ptr_array_index (texts, i), ==, expected);
    }

  confab_channel_get_stats (channel, &stats);
  g_assert_cmpuint (stats.received, ==, total);

  g_signal_handlers_disconnect_by_data (channel, texts);
  g_assert_finalize_object (channel);
}

static void
unbind_on_received (ConfabChannel *channel,
                    const char    *text G_GNUC_UNUSED,
                    gpointer       user_data)
{
  guint *count = user_data;

  (*count)++;
  confab_channel_unbind (channel);
}

/* A handler may close the channel with more datagrams in the batch. */
static void
test_unbind_in_handler (void)
{
  g_autoptr(GSocket) peer = plain_socket ("127.0.0.1");
  ConfabChannel *channel = bound_channel ("127.0.0.1");
  guint count = 0;

  g_signal_connect (channel, "received", G_CALLBACK (unbind_on_received), &count);
  confab_channel_set_peer (channel, "127.0.0.1", socket_port (peer));
  for (guint i = 0; i < 5; i++)
    plain_send (peer, channel, "one of five", strlen ("one of five"));

  WAIT_UNTIL (count > 0);
  g_assert_cmpuint (count, ==, 1);
  g_assert_false (confab_channel_is_bound (channel));

  g_signal_handlers_disconnect_by_data (channel, &count);
  g_assert_finalize_object (channel);
}

static void
unref_on_received (ConfabChannel *channel,
                   const char    *text G_GNUC_UNUSED,
                   gpointer       user_data G_GNUC_UNUSED)
{
  g_signal_handlers_disconnect_by_func (channel, unref_on_received, NULL);
  g_object_unref (channel);
}

/* A handler may drop the last reference with more datagrams in the batch. */
static void
test_unref_in_handler (void)
{
  g_autoptr(GSocket) peer = plain_socket ("127.0.0.1");
  ConfabChannel *channel = bound_channel ("127.0.0.1");

  g_object_add_weak_pointer (G_OBJECT (channel), (gpointer *) &channel);
  g_signal_connect (channel, "received", G_CALLBACK (unref_on_received), NULL);
  confab_channel_set_peer (channel, "127.0.0.1", socket_port (peer));
  for (guint i = 0; i < 5; i++)
    plain_send (peer, channel, "one of five", strlen ("one of five"));

  WAIT_UNTIL (channel == NULL);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/channel/ipv4", test_ipv4);
  g_test_add_func ("/channel/ipv6", test_ipv6);
  g_test_add_func ("/channel/dual-stack", test_dual_stack);
  g_test_add_func ("/channel/plain-peer", test_plain_peer);
  g_test_add_func ("/channel/dropped", test_dropped);
  g_test_add_func ("/channel/stranger-at-peer-port", test_stranger_at_peer_port);
  g_test_add_func ("/channel/bad-protocol-datagrams", test_bad_protocol_datagrams);
  g_test_add_func ("/channel/ping", test_ping);
  g_test_add_func ("/channel/ping-unanswered", test_ping_unanswered);
  g_test_add_func ("/channel/ack-after-nested-send", test_ack_after_nested_send);
  g_test_add_func ("/channel/batch-end-before-ack", test_batch_end_before_ack);
  g_test_add_func ("/channel/new-message-id", test_new_message_id);
  g_test_add_func ("/channel/no-repeat-after-peer-change", test_no_repeat_after_peer_change);
  g_test_add_func ("/channel/failed-after-peer-change", test_failed_after_peer_change);
  g_test_add_func ("/channel/lookup-retried-on-arrival", test_lookup_retried_on_arrival);
  g_test_add_func ("/channel/unreachable-family-fails-at-once", test_unreachable_family_fails_at_once);
  g_test_add_func ("/channel/address-in-use", test_address_in_use);
  g_test_add_func ("/channel/rebind", test_rebind);
  g_test_add_func ("/channel/send-errors", test_send_errors);
  g_test_add_func ("/channel/unresolvable", test_unresolvable);
  g_test_add_func ("/channel/localhost", test_localhost);
  g_test_add_func ("/channel/pending-resolution", test_pending_resolution);
  g_test_add_func ("/channel/held-while-resolving", test_held_while_resolving);
  g_test_add_func ("/channel/burst", test_burst);
  g_test_add_func ("/channel/unbind-in-handler", test_unbind_in_handler);
  g_test_add_func ("/channel/unref-in-handler", test_unref_in_handler);

  return g_test_run ();
}
