/* confab-channel.c — one UDP socket: bind, resolve the peer, send, receive
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "confab-channel"
/* recvmmsg() */
#define _GNU_SOURCE

#include "config.h"

#include <errno.h>
#include <string.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <glib/gi18n-lib.h>

#include "confab-channel-private.h"
#include "confab-crypto.h"
#include "confab-marshal.h"
#include "confab-utf8.h"

/* Datagrams sealed after a batch's, and sent before them (acks, pongs), are
 * counters out of order at the peer: fewer than its replay window.
 */
G_STATIC_ASSERT (SEND_BATCH < CONFAB_CRYPTO_REPLAY_WINDOW);

/* Bounded work per dispatch keeps the UI responsive under a flood; the
 * source is level-triggered, so whatever is left fires it again.
 */
#define RECV_MAX_PER_DISPATCH  256
/* Room for a burst while the main thread is busy; the kernel caps it. */
#define RECV_SOCKET_BUFFER     (1 << 20)
/* Datagrams kept while the peer's name resolves, so that the first words of
 * a peer given by name are not lost at startup.
 */
#define MAX_HELD               64
/* A failed lookup of the peer's name is tried again when a datagram comes,
 * but not more often than this: the network may not have been up yet.
 */
#define RESOLVE_RETRY_INTERVAL (2 * G_USEC_PER_SEC)

G_DEFINE_FINAL_TYPE (ConfabChannel, confab_channel, G_TYPE_OBJECT)

#define properties confab_channel_properties
GParamSpec *confab_channel_properties[N_CHANNEL_PROPS];
guint confab_channel_signals[N_CHANNEL_SIGNALS];

/* A sender's address as the kernel gives it: no object to make for each
 * datagram of a flood.
 */
typedef struct
{
  struct sockaddr_storage native;
  socklen_t               length;
} Sender;

typedef struct
{
  Sender  from;
  gsize   length;
  char    data[];       /* length + 1 bytes */
} HeldDatagram;

/* GLib's g_socket_receive_messages() makes an address object for each
 * datagram, and reads again until the socket is empty: one more system call
 * before each acknowledgement. The channel calls recvmmsg() itself.
 */
struct _ChannelReceive
{
  guint8         *buffers;
  struct iovec    vectors[RECV_BATCH];
  struct mmsghdr  messages[RECV_BATCH];
  Sender          senders[RECV_BATCH];
};


static gboolean
debug_enabled (void)
{
  return !g_log_writer_default_would_drop (G_LOG_LEVEL_DEBUG, G_LOG_DOMAIN);
}

static void
debug_dropped (const Sender *from,
               gsize         length,
               const char   *why)
{
  g_autoptr(GSocketAddress) address = NULL;
  g_autofree char *sender = NULL;

  /* Formatting the sender costs allocations: not for every datagram of a flood. */
  if (!debug_enabled ())
    return;

  address = g_socket_address_new_from_native ((gpointer)&from->native, from->length);
  if (address != NULL)
    sender = g_socket_connectable_to_string (G_SOCKET_CONNECTABLE (address));
  g_debug ("Dropped a datagram of %" G_GSIZE_FORMAT " bytes from %s: %s",
           length, sender ? sender : "an unknown sender", why);
}

static void
set_local_port (ConfabChannel *self,
                guint16        port)
{
  if (self->local_port == port)
    return;

  self->local_port = port;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LOCAL_PORT]);
}

/* Receiving */

static gboolean
is_from_peer (ConfabChannel *self,
              const Sender  *from)
{
  GSocketFamily family;
  const guint8 *bytes;
  gsize size;
  guint16 port;

  if (self->peer_addresses == NULL)
    return FALSE;

  if (from->native.ss_family == AF_INET && from->length >= sizeof (struct sockaddr_in))
    {
      const struct sockaddr_in *in = (const struct sockaddr_in *)(gconstpointer)&from->native;

      family = G_SOCKET_FAMILY_IPV4;
      bytes = (const guint8 *)&in->sin_addr;
      size = 4;
      port = g_ntohs (in->sin_port);
    }
  else if (from->native.ss_family == AF_INET6 && from->length >= sizeof (struct sockaddr_in6))
    {
      const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(gconstpointer)&from->native;
      /* The peer's addresses are kept unmapped: ::ffff:a.b.c.d is a.b.c.d. */
      gboolean mapped = IN6_IS_ADDR_V4MAPPED (&in6->sin6_addr);

      family = mapped ? G_SOCKET_FAMILY_IPV4 : G_SOCKET_FAMILY_IPV6;
      bytes = in6->sin6_addr.s6_addr + (mapped ? 12 : 0);
      size = mapped ? 4 : 16;
      port = g_ntohs (in6->sin6_port);
    }
  else
    {
      return FALSE;
    }

  if (port != self->peer_port)
    return FALSE;

  for (guint i = 0; i < self->peer_addresses->len; i++)
    {
      GInetAddress *address = g_ptr_array_index (self->peer_addresses, i);

      if (g_inet_address_get_family (address) == family &&
          memcmp (g_inet_address_to_bytes (address), bytes, size) == 0)
        return TRUE;
    }

  return FALSE;
}

static void
hold_datagram (ConfabChannel *self,
               const Sender  *from,
               const char    *data,
               gsize          length)
{
  HeldDatagram *held;

  if (self->held.length >= MAX_HELD)
    {
      self->stats.dropped_not_peer++;
      debug_dropped (from, length, "too many while resolving the peer");
      return;
    }

  held = g_malloc (sizeof *held + length + 1);
  held->from = *from;
  held->length = length;
  memcpy (held->data, data, length);
  g_queue_push_tail (&self->held, held);
}

/* @data has room for one byte past @length. */
static void
handle_datagram (ConfabChannel *self,
                 const Sender  *from,
                 char          *data,
                 gsize          length)
{
  if (length == 0)
    {
      self->stats.dropped_empty++;
      debug_dropped (from, length, "empty");
      return;
    }

  if (self->resolve_error != NULL && self->peer_host != NULL &&
      g_get_monotonic_time () - self->resolve_failed_at >= RESOLVE_RETRY_INTERVAL)
    confab_channel_start_resolve (self);

  if (self->resolving)
    {
      hold_datagram (self, from, data, length);
      return;
    }

  if (!is_from_peer (self, from))
    {
      self->stats.dropped_not_peer++;
      debug_dropped (from, length, "not from the peer");
      return;
    }

  /* With a passphrase, only sealed datagrams are read; a sealed one without
   * a passphrase is counted and reported.
   */
  if (self->key != NULL || confab_crypto_is_sealed ((const guint8 *)data, length))
    {
      confab_channel_handle_sealed (self, (const guint8 *)data, length);
      return;
    }

  /* 0xFF never occurs in UTF-8: this is no text but a Confab datagram. */
  if ((guint8)data[0] == 0xFF)
    {
      confab_channel_handle_confab (self, (const guint8 *)data, length);
      return;
    }

  /* With a length, an embedded NUL is invalid too. */
  if (!confab_utf8_validate (data, length))
    {
      self->stats.dropped_invalid_utf8++;
      debug_dropped (from, length, "not valid UTF-8");
      return;
    }

  data[length] = '\0';
  self->stats.received++;
  g_signal_emit (self, confab_channel_signals[SIGNAL_RECEIVED], 0, data);
}

/* Judges held datagrams against the peer now known; a ::received handler may
 * start resolving again, which holds the rest once more.
 */
void
confab_channel_release_held (ConfabChannel *self)
{
  g_autoptr(ConfabChannel) hold G_GNUC_UNUSED = NULL;
  HeldDatagram *held;

  if (g_queue_is_empty (&self->held))
    return;

  hold = g_object_ref (self);
  while (!self->resolving && (held = g_queue_pop_head (&self->held)) != NULL)
    {
      handle_datagram (self, &held->from, held->data, held->length);
      g_free (held);
    }

  confab_channel_flush (self);
}

/* Reads up to @max datagrams into the batch; returns how many, or -1 with
 * errno set.
 */
static int
receive_batch (ConfabChannel *self,
               GSocket       *socket,
               guint          max)
{
  struct _ChannelReceive *recv = self->recv;
  int n;

  for (guint i = 0; i < max; i++)
    recv->messages[i].msg_hdr.msg_namelen = sizeof recv->senders[i].native;

  do
    n = recvmmsg (g_socket_get_fd (socket), recv->messages, max, MSG_DONTWAIT, NULL);
  while (n < 0 && errno == EINTR);

  return n;
}

static void
handle_batch (ConfabChannel *self,
              GSocket       *socket,
              guint          n)
{
  struct _ChannelReceive *recv = self->recv;

  for (guint i = 0; i < n; i++)
    {
      recv->senders[i].length = recv->messages[i].msg_hdr.msg_namelen;
      /* A ::received handler may have unbound or rebound the channel. */
      if (self->socket == socket)
        handle_datagram (self, &recv->senders[i], recv->vectors[i].iov_base,
                         recv->messages[i].msg_len);
    }
}

static gboolean
on_socket_readable (GSocket      *socket,
                    GIOCondition  condition G_GNUC_UNUSED,
                    gpointer      user_data)
{
  g_autoptr(ConfabChannel) self = NULL;
  guint handled = 0;

  /* From a main loop run by a handler below (Confab runs none, and a
   * handler must not): the batch being handled is not read over, nor are
   * messages acknowledged that its handlers have not stored.
   */
  if (CONFAB_CHANNEL (user_data)->receiving)
    return G_SOURCE_CONTINUE;

  self = g_object_ref (CONFAB_CHANNEL (user_data));
  self->receiving = TRUE;
  while (handled < RECV_MAX_PER_DISPATCH && self->socket == socket)
    {
      guint max = MIN (RECV_BATCH, RECV_MAX_PER_DISPATCH - handled);
      int n = receive_batch (self, socket, max);

      if (n > 0)
        {
          handle_batch (self, socket, n);
          handled += n;
          /* Most likely all there was: the acknowledgements go out now
           * rather than after one more call that finds nothing. What came
           * meanwhile makes the source ready again.
           */
          if ((guint)n < max)
            break;
        }
      else if (n == 0 || errno == EAGAIN || errno == EWOULDBLOCK)
        {
          break;
        }
      else
        {
          /* Typically ICMP "port unreachable" for an earlier send, which
           * Linux reports as ECONNREFUSED: reading it clears it, and the
           * datagrams behind it are still to be read.
           */
          g_debug ("Ignoring a receive error: %s", g_strerror (errno));
          handled++;
        }
    }

  /* Messages are handed out, then acknowledged, once per batch. */
  confab_channel_flush (self);
  self->receiving = FALSE;

  return G_SOURCE_CONTINUE;
}

static void
ensure_receive_buffers (ConfabChannel *self)
{
  struct _ChannelReceive *recv;

  if (self->recv != NULL)
    return;

  recv = self->recv = g_new0 (struct _ChannelReceive, 1);
  recv->buffers = g_malloc (RECV_BATCH * (RECV_BUFFER_SIZE + 1));
  for (guint i = 0; i < RECV_BATCH; i++)
    {
      recv->vectors[i].iov_base = recv->buffers + i * (RECV_BUFFER_SIZE + 1);
      recv->vectors[i].iov_len = RECV_BUFFER_SIZE;
      recv->messages[i].msg_hdr.msg_name = &recv->senders[i].native;
      recv->messages[i].msg_hdr.msg_iov = &recv->vectors[i];
      recv->messages[i].msg_hdr.msg_iovlen = 1;
    }
}

static void
free_receive_buffers (struct _ChannelReceive *recv)
{
  g_free (recv->buffers);
  g_free (recv);
}

/* Binding */

static GSocket *
bind_socket (GInetAddress  *address,
             guint16        port,
             gboolean      *dual_stack,
             GError       **error)
{
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GSocketAddress) socket_address = NULL;
  GSocketFamily family = g_inet_address_get_family (address);

  *dual_stack = FALSE;

  socket = g_socket_new (family, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP, error);
  if (socket == NULL)
    return NULL;

  if (family == G_SOCKET_FAMILY_IPV6 && g_inet_address_get_is_any (address))
    {
      g_autoptr(GError) local_error = NULL;

      if (g_socket_set_option (socket, IPPROTO_IPV6, IPV6_V6ONLY, 0, &local_error))
        *dual_stack = TRUE;
      else
        g_debug ("Could not make the socket dual-stack: %s", local_error->message);
    }

  socket_address = g_inet_socket_address_new (address, port);
  if (!g_socket_bind (socket, socket_address, FALSE, error))
    return NULL;

  return g_steal_pointer (&socket);
}

static GSocket *
bind_any (guint16    port,
          gboolean  *dual_stack,
          GError   **error)
{
  g_autoptr(GInetAddress) any6 = g_inet_address_new_any (G_SOCKET_FAMILY_IPV6);
  g_autoptr(GInetAddress) any4 = g_inet_address_new_any (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GError) ipv6_error = NULL;
  GSocket *socket;

  socket = bind_socket (any6, port, dual_stack, &ipv6_error);
  if (socket != NULL)
    return socket;

  /* A busy port is busy for IPv4 too, and the user must hear why. Anything
   * else means IPv6 is missing or disabled.
   */
  if (g_error_matches (ipv6_error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE) ||
      g_error_matches (ipv6_error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED))
    {
      g_propagate_error (error, g_steal_pointer (&ipv6_error));
      return NULL;
    }

  g_debug ("No IPv6, binding to IPv4 only: %s", ipv6_error->message);
  return bind_socket (any4, port, dual_stack, error);
}

static GSocket *
bind_literal (const char  *address,
              guint16      port,
              gboolean    *dual_stack,
              GError     **error)
{
  g_autoptr(GInetAddress) parsed = g_inet_address_new_from_string (address);
  g_autoptr(GInetAddress) unmapped = NULL;

  if (parsed == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   _("“%s” is not an IP address"), address);
      return NULL;
    }

  /* ::ffff:a.b.c.d is an IPv4 address in disguise. */
  unmapped = confab_channel_unmap_address (parsed);
  return bind_socket (unmapped, port, dual_stack, error);
}

static void
enlarge_receive_buffer (GSocket *socket)
{
  g_autoptr(GError) error = NULL;
  int size = 0;

  if (!g_socket_get_option (socket, SOL_SOCKET, SO_RCVBUF, &size, &error) ||
      size >= RECV_SOCKET_BUFFER)
    return;

  if (!g_socket_set_option (socket, SOL_SOCKET, SO_RCVBUF, RECV_SOCKET_BUFFER, &error))
    g_debug ("Could not enlarge the receive buffer: %s", error->message);
}

static guint16
query_local_port (GSocket *socket)
{
  g_autoptr(GSocketAddress) address = NULL;
  g_autoptr(GError) error = NULL;

  address = g_socket_get_local_address (socket, &error);
  if (address == NULL)
    {
      g_debug ("Could not get the local address: %s", error->message);
      return 0;
    }

  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (address));
}

/* Closes the socket without failing the queued sends: a rebind may follow. */
static void
close_socket (ConfabChannel *self)
{
  if (self->in_source != NULL)
    {
      g_source_destroy (self->in_source);
      g_clear_pointer (&self->in_source, g_source_unref);
    }

  if (self->out_source != NULL)
    {
      g_source_destroy (self->out_source);
      g_clear_pointer (&self->out_source, g_source_unref);
    }

  /* Segments on their first way out go now, rather than at their
   * retransmission.
   */
  confab_channel_send_batch (self);
  if (self->socket != NULL)
    {
      g_socket_close (self->socket, NULL);
      g_clear_object (&self->socket);
    }

  self->dual_stack = FALSE;
  g_clear_object (&self->destination);
}

static void
attach_socket (ConfabChannel *self,
               GSocket       *socket,
               gboolean       dual_stack)
{
  g_assert (self->socket == NULL);

  g_socket_set_blocking (socket, FALSE);
  enlarge_receive_buffer (socket);
  ensure_receive_buffers (self);

  self->socket = g_object_ref (socket);
  self->dual_stack = !!dual_stack;

  self->in_source = g_socket_create_source (socket, G_IO_IN, NULL);
  /* GLib takes a source's descriptor out of the poll set for the time it
   * dispatches a source that cannot recurse, and puts it back after: each
   * a write to the context's eventfd, and one more turn of the loop, for
   * every datagram that wakes the program. on_socket_readable() does not
   * recurse itself instead.
   */
  g_source_set_can_recurse (self->in_source, TRUE);
  g_source_set_static_name (self->in_source, "[confab] channel receive");
  g_source_set_callback (self->in_source, G_SOURCE_FUNC (on_socket_readable), self, NULL);
  g_source_attach (self->in_source, g_main_context_get_thread_default ());
}

/* Sending */

gssize
confab_channel_send_datagram (ConfabChannel   *self,
               GSocketAddress  *destination,
               const char      *data,
               gsize            length,
               GError         **error)
{
  g_autoptr(GError) local_error = NULL;
  gssize sent;

  sent = g_socket_send_to (self->socket, destination, data, length, NULL, &local_error);

  /* The refusal of an earlier datagram, reported now; this one did not go. */
  if (sent < 0 && g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED))
    {
      g_clear_error (&local_error);
      sent = g_socket_send_to (self->socket, destination, data, length, NULL, &local_error);
    }

  if (sent < 0)
    g_propagate_error (error, g_steal_pointer (&local_error));

  return sent;
}

/* Where a protocol datagram goes now, or %NULL with @error set */
static GSocketAddress *
transmit_destination (ConfabChannel  *self,
                      GError        **error)
{
  if (self->socket == NULL || self->peer_addresses == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                           "The peer's address is not known yet");
      return NULL;
    }

  return confab_channel_get_destination (self, error);
}

static const guint8 *
seal (ConfabChannel  *self,
      const guint8   *data,
      gsize          *length,
      guint8         *buffer,
      GError        **error)
{
  data = confab_channel_seal (self, data, length, buffer, CONFAB_WIRE_MAX_DATAGRAM);
  if (data == NULL)
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                         "The datagram is too long to seal");
  return data;
}

/**
 * confab_channel_transmit:
 *
 * Sends one protocol datagram to the peer now, sealed if a key is set, if
 * its address is known and the socket is open. A datagram that cannot go is not queued: the protocol
 * retransmits what is not acknowledged.
 */
gboolean
confab_channel_transmit (ConfabChannel  *self,
                         const guint8   *data,
                         gsize           length,
                         GError        **error)
{
  guint8 sealed[CONFAB_WIRE_MAX_DATAGRAM];
  GSocketAddress *destination = transmit_destination (self, error);

  if (destination == NULL)
    return FALSE;

  data = seal (self, data, &length, sealed, error);
  if (data == NULL)
    return FALSE;

  return confab_channel_send_datagram (self, destination, (const char *)data, length, error) >= 0;
}

/**
 * confab_channel_transmit_later:
 *
 * Like confab_channel_transmit(), but the datagram, sealed now, goes with
 * the others of this operation at confab_channel_send_batch(), which
 * confab_channel_flush() calls.
 */
gboolean
confab_channel_transmit_later (ConfabChannel  *self,
                               const guint8   *data,
                               gsize           length,
                               GError        **error)
{
  GSocketAddress *destination = transmit_destination (self, error);
  guint8 *slot;

  if (destination == NULL)
    return FALSE;

  if (self->send_count == SEND_BATCH ||
      (self->send_count > 0 && destination != self->send_destination))
    confab_channel_send_batch (self);

  if (self->send_buffers == NULL)
    self->send_buffers = g_malloc (SEND_BATCH * CONFAB_WIRE_MAX_DATAGRAM);
  slot = self->send_buffers + self->send_count * CONFAB_WIRE_MAX_DATAGRAM;
  data = seal (self, data, &length, slot, error);
  if (data == NULL)
    return FALSE;
  if (data != slot)
    memcpy (slot, data, length);

  g_set_object (&self->send_destination, destination);
  self->send_vectors[self->send_count] = (GOutputVector) { slot, length };
  self->send_messages[self->send_count] = (GOutputMessage) {
    .address = destination,
    .vectors = &self->send_vectors[self->send_count],
    .num_vectors = 1,
  };
  self->send_count++;
  return TRUE;
}

/* Forgets the datagrams waiting to be sent: the socket or the peer changed. */
void
confab_channel_drop_batch (ConfabChannel *self)
{
  self->send_count = 0;
  g_clear_object (&self->send_destination);
}

/**
 * confab_channel_send_batch:
 *
 * Sends the datagrams of confab_channel_transmit_later(), in order. One
 * that cannot go is skipped, as confab_channel_transmit() would: the
 * protocol retransmits it.
 */
void
confab_channel_send_batch (ConfabChannel *self)
{
  gboolean retried = FALSE;
  guint sent = 0;

  while (self->socket != NULL && sent < self->send_count)
    {
      g_autoptr(GError) error = NULL;
      int n = g_socket_send_messages (self->socket, self->send_messages + sent,
                                      self->send_count - sent, G_SOCKET_MSG_NONE, NULL, &error);

      if (n > 0)
        {
          sent += n;
          retried = FALSE;
        }
      /* The refusal of an earlier datagram, reported now; this one did not go. */
      else if (!retried && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED))
        {
          retried = TRUE;
        }
      else
        {
          g_debug ("A segment did not go out now and will be retransmitted: %s",
                   error != NULL ? error->message : "nothing sent");
          sent++;
          retried = FALSE;
        }
    }

  confab_channel_drop_batch (self);
}

/* GObject */

static void
confab_channel_dispose (GObject *object)
{
  ConfabChannel *self = (ConfabChannel *)object;

  confab_channel_reliable_dispose (self);
  confab_channel_crypto_clear (self);
  close_socket (self);
  confab_channel_cancel_resolve (self);
  confab_channel_fail_plain (self);
  g_queue_clear_full (&self->held, g_free);
  g_clear_pointer (&self->peer_addresses, g_ptr_array_unref);

  G_OBJECT_CLASS (confab_channel_parent_class)->dispose (object);
}

static void
confab_channel_finalize (GObject *object)
{
  ConfabChannel *self = (ConfabChannel *)object;

  g_clear_pointer (&self->peer_host, g_free);
  g_clear_error (&self->resolve_error);
  g_clear_pointer (&self->recv, free_receive_buffers);
  g_clear_pointer (&self->send_buffers, g_free);
  confab_channel_reliable_finalize (self);

  G_OBJECT_CLASS (confab_channel_parent_class)->finalize (object);
}

static void
confab_channel_get_property (GObject    *object,
                             guint       prop_id,
                             GValue     *value,
                             GParamSpec *pspec)
{
  ConfabChannel *self = CONFAB_CHANNEL (object);

  switch (prop_id)
    {
    case PROP_LOCAL_PORT:
      g_value_set_uint (value, self->local_port);
      break;

    case PROP_PEER_HOST:
      g_value_set_string (value, self->peer_host);
      break;

    case PROP_PEER_PORT:
      g_value_set_uint (value, self->peer_port);
      break;

    case PROP_ENCRYPTED:
      g_value_set_boolean (value, confab_channel_get_encrypted (self));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
confab_channel_class_init (ConfabChannelClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = confab_channel_dispose;
  object_class->finalize = confab_channel_finalize;
  object_class->get_property = confab_channel_get_property;

  /**
   * ConfabChannel:local-port:
   *
   * The UDP port the channel is bound to, or 0 when it is not bound.
   */
  properties[PROP_LOCAL_PORT] =
    g_param_spec_uint ("local-port", NULL, NULL,
                       0, G_MAXUINT16, 0,
                       (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * ConfabChannel:peer-host:
   *
   * The peer's host name or address literal, or %NULL for no peer.
   */
  properties[PROP_PEER_HOST] =
    g_param_spec_string ("peer-host", NULL, NULL,
                         NULL,
                         (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * ConfabChannel:peer-port:
   *
   * The peer's UDP port.
   */
  properties[PROP_PEER_PORT] =
    g_param_spec_uint ("peer-port", NULL, NULL,
                       0, G_MAXUINT16, 0,
                       (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * ConfabChannel:encrypted:
   *
   * Whether a passphrase's key seals every datagram (confab_channel_set_key()).
   */
  properties[PROP_ENCRYPTED] =
    g_param_spec_boolean ("encrypted", NULL, NULL,
                          FALSE,
                          (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_CHANNEL_PROPS, properties);

  /**
   * ConfabChannel::unreadable:
   * @self: a #ConfabChannel
   *
   * A datagram from the peer's address could not be read: sealed under
   * another passphrase, forged, sealed while no passphrase is set here, or
   * unsealed while one is. Emitted per datagram; whoever tells the person
   * limits how often.
   */
  confab_channel_signals[SIGNAL_UNREADABLE] =
    g_signal_new ("unreadable",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 0);

  /**
   * ConfabChannel::own-epoch:
   * @self: a #ConfabChannel
   * @time: the epoch time this side seals under from now on
   *
   * Keep it: the next run's epoch must begin after it.
   */
  confab_channel_signals[SIGNAL_OWN_EPOCH] =
    g_signal_new ("own-epoch",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_UINT64);

  /**
   * ConfabChannel::peer-epoch:
   * @self: a #ConfabChannel
   * @time: the newest epoch time of the peer accepted
   *
   * Keep it for the next run's confab_channel_set_key(): after a restart,
   * that epoch and older ones are refused, so that nothing captured from
   * them can be replayed.
   */
  confab_channel_signals[SIGNAL_PEER_EPOCH] =
    g_signal_new ("peer-epoch",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_UINT64);

  /**
   * ConfabChannel::received:
   * @self: a #ConfabChannel
   * @text: the datagram, valid UTF-8 without NUL; only valid during emission
   *
   * Emitted for each non-empty, valid UTF-8 datagram from the peer.
   */
  confab_channel_signals[SIGNAL_RECEIVED] =
    g_signal_new ("received",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0,
                  NULL, NULL,
                  NULL,
                  G_TYPE_NONE, 1, G_TYPE_STRING | G_SIGNAL_TYPE_STATIC_SCOPE);

  /**
   * ConfabChannel::message:
   * @self: a #ConfabChannel
   * @incoming: a complete message from the peer, shown for the first time
   *
   * Emitted in the sender's order. Once the batch's #ConfabChannel::batch-end
   * handlers return, the message is acknowledged: a handler that stores
   * messages must have stored them by then.
   */
  confab_channel_signals[SIGNAL_MESSAGE] =
    g_signal_new ("message",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0,
                  NULL, NULL,
                  NULL,
                  G_TYPE_NONE, 1, CONFAB_TYPE_INCOMING | G_SIGNAL_TYPE_STATIC_SCOPE);

  /**
   * ConfabChannel::batch-end:
   * @self: a #ConfabChannel
   *
   * Emitted after one or more #ConfabChannel::message, just before they are
   * acknowledged: where a handler that stores them in batches commits.
   */
  confab_channel_signals[SIGNAL_BATCH_END] =
    g_signal_new ("batch-end",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0,
                  NULL, NULL,
                  NULL,
                  G_TYPE_NONE, 0);

  /**
   * ConfabChannel::delivered:
   * @self: a #ConfabChannel
   * @origin: the message id's first half
   * @number: the message id's second half
   *
   * The peer acknowledged every fragment of a message.
   */
  confab_channel_signals[SIGNAL_DELIVERED] =
    g_signal_new ("delivered",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0,
                  NULL, NULL,
                  confab_marshal_VOID__UINT64_UINT64,
                  G_TYPE_NONE, 2, G_TYPE_UINT64, G_TYPE_UINT64);
  g_signal_set_va_marshaller (confab_channel_signals[SIGNAL_DELIVERED],
                              G_TYPE_FROM_CLASS (klass),
                              confab_marshal_VOID__UINT64_UINT64v);

  /**
   * ConfabChannel::failed:
   * @self: a #ConfabChannel
   * @origin: the message id's first half
   * @number: the message id's second half
   * @reason: why, in words for the person
   *
   * Confab gave up on a message: no acknowledgement in time, the peer's
   * name did not resolve, or the peer changed.
   */
  confab_channel_signals[SIGNAL_FAILED] =
    g_signal_new ("failed",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0,
                  NULL, NULL,
                  confab_marshal_VOID__UINT64_UINT64_STRING,
                  G_TYPE_NONE, 3, G_TYPE_UINT64, G_TYPE_UINT64, G_TYPE_STRING);
  g_signal_set_va_marshaller (confab_channel_signals[SIGNAL_FAILED],
                              G_TYPE_FROM_CLASS (klass),
                              confab_marshal_VOID__UINT64_UINT64_STRINGv);
}

static void
confab_channel_init (ConfabChannel *self)
{
  g_queue_init (&self->pending);
  g_queue_init (&self->held);
  confab_channel_reliable_init (self);
}

/* Public API */

ConfabChannel *
confab_channel_new (void)
{
  return g_object_new (CONFAB_TYPE_CHANNEL, NULL);
}

/**
 * confab_channel_bind:
 * @self: a #ConfabChannel
 * @address: (nullable): an IP address literal to bind to, or %NULL for any
 * @port: the UDP port, or 0 for one chosen by the system
 * @error: return location for a #GError
 *
 * Opens the channel's socket. With no @address it listens on IPv6 and IPv4
 * (or IPv4 only where there is no IPv6).
 *
 * Any previous socket is closed first, whether or not binding succeeds: after
 * a failure the channel is unbound and the port it had is free again. Sends
 * waiting for the peer's name survive a rebind.
 *
 * Returns: %TRUE on success; otherwise @error holds GLib's #GIOErrorEnum code,
 *   such as %G_IO_ERROR_ADDRESS_IN_USE or %G_IO_ERROR_PERMISSION_DENIED
 */
gboolean
confab_channel_bind (ConfabChannel  *self,
                     const char     *address,
                     guint16         port,
                     GError        **error)
{
  g_autoptr(GSocket) socket = NULL;
  gboolean dual_stack = FALSE;

  g_return_val_if_fail (CONFAB_IS_CHANNEL (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  close_socket (self);

  if (address == NULL || *address == '\0')
    socket = bind_any (port, &dual_stack, error);
  else
    socket = bind_literal (address, port, &dual_stack, error);

  if (socket != NULL)
    attach_socket (self, socket, dual_stack);

  set_local_port (self, socket != NULL ? query_local_port (socket) : 0);
  confab_channel_flush_plain (self);

  return socket != NULL;
}

/**
 * confab_channel_unbind:
 * @self: a #ConfabChannel
 *
 * Closes the socket. Sends waiting for the socket fail with
 * %G_IO_ERROR_NOT_CONNECTED; those waiting for the peer's name keep waiting.
 */
void
confab_channel_unbind (ConfabChannel *self)
{
  g_return_if_fail (CONFAB_IS_CHANNEL (self));

  close_socket (self);
  set_local_port (self, 0);
  confab_channel_flush_plain (self);
}

gboolean
confab_channel_is_bound (ConfabChannel *self)
{
  g_return_val_if_fail (CONFAB_IS_CHANNEL (self), FALSE);

  return self->socket != NULL;
}

guint16
confab_channel_get_local_port (ConfabChannel *self)
{
  g_return_val_if_fail (CONFAB_IS_CHANNEL (self), 0);

  return self->local_port;
}

/**
 * confab_channel_set_peer:
 * @self: a #ConfabChannel
 * @host: (nullable): a host name or IP address literal; %NULL or "" for none
 * @port: the peer's UDP port
 *
 * Sets who to talk to and starts resolving @host. Only datagrams from one of
 * its addresses and @port are received; those arriving while it resolves are
 * held (up to a few dozen) and judged once it has. Queued sends go to the new
 * peer, or fail with %G_IO_ERROR_INVALID_ARGUMENT when there is none.
 */
void
confab_channel_set_peer (ConfabChannel *self,
                         const char    *host,
                         guint16        port)
{
  gboolean changed;

  g_return_if_fail (CONFAB_IS_CHANNEL (self));

  if (host != NULL && *host == '\0')
    host = NULL;

  g_object_freeze_notify (G_OBJECT (self));

  changed = g_strcmp0 (self->peer_host, host) != 0 || self->peer_port != port;

  if (g_strcmp0 (self->peer_host, host) != 0)
    {
      g_free (self->peer_host);
      self->peer_host = g_strdup (host);
      confab_channel_cancel_resolve (self);
      confab_channel_clear_peer_addresses (self);
      if (self->peer_host != NULL)
        confab_channel_start_resolve (self);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PEER_HOST]);
    }

  if (self->peer_port != port)
    {
      self->peer_port = port;
      g_clear_object (&self->destination);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PEER_PORT]);
    }

  /* Only now, with the new peer in place: a handler of ::failed may retry. */
  if (changed)
    {
      confab_channel_peer_changed (self);
      confab_channel_crypto_peer_changed (self);
    }

  confab_channel_release_held (self);
  confab_channel_flush_plain (self);

  g_object_thaw_notify (G_OBJECT (self));
}

const char *
confab_channel_get_peer_host (ConfabChannel *self)
{
  g_return_val_if_fail (CONFAB_IS_CHANNEL (self), NULL);

  return self->peer_host;
}

guint16
confab_channel_get_peer_port (ConfabChannel *self)
{
  g_return_val_if_fail (CONFAB_IS_CHANNEL (self), 0);

  return self->peer_port;
}

void
confab_channel_get_stats (ConfabChannel      *self,
                          ConfabChannelStats *stats)
{
  g_return_if_fail (CONFAB_IS_CHANNEL (self));
  g_return_if_fail (stats != NULL);

  *stats = self->stats;
  confab_receiver_get_stats (self->receiver, &stats->receiver);
}
