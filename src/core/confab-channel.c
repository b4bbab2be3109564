/* confab-channel.c — one UDP socket: bind, resolve the peer, send, receive
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "confab-channel"

#include "config.h"

#include <string.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <glib/gi18n-lib.h>

#include "confab-channel-private.h"

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

enum {
  PROP_0,
  PROP_LOCAL_PORT,
  PROP_PEER_HOST,
  PROP_PEER_PORT,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];
guint confab_channel_signals[N_CHANNEL_SIGNALS];

typedef struct
{
  ConfabChannel *self;          /* not a reference: cancelled before self goes */
  GCancellable  *cancellable;
} ResolveData;

typedef struct
{
  GSocketAddress *from;
  gsize           length;
  char            data[];       /* length + 1 bytes */
} HeldDatagram;

static void flush_pending (ConfabChannel *self);
static void start_resolve (ConfabChannel *self);

/* Returns @address, or for an IPv4-mapped IPv6 address its IPv4 form. */
static GInetAddress *
unmap_address (GInetAddress *address)
{
  static const guint8 mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
  const guint8 *bytes;

  g_assert (G_IS_INET_ADDRESS (address));

  if (g_inet_address_get_family (address) != G_SOCKET_FAMILY_IPV6)
    return g_object_ref (address);

  bytes = g_inet_address_to_bytes (address);
  if (memcmp (bytes, mapped_prefix, sizeof mapped_prefix) != 0)
    return g_object_ref (address);

  return g_inet_address_new_from_bytes (bytes + sizeof mapped_prefix, G_SOCKET_FAMILY_IPV4);
}

static GInetAddress *
map_address (GInetAddress *address)
{
  guint8 bytes[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

  g_assert (g_inet_address_get_family (address) == G_SOCKET_FAMILY_IPV4);

  memcpy (bytes + 12, g_inet_address_to_bytes (address), 4);
  return g_inet_address_new_from_bytes (bytes, G_SOCKET_FAMILY_IPV6);
}

static gboolean
debug_enabled (void)
{
  return !g_log_writer_default_would_drop (G_LOG_LEVEL_DEBUG, G_LOG_DOMAIN);
}

static void
debug_dropped (GSocketAddress *from,
               gsize           length,
               const char     *why)
{
  g_autofree char *sender = NULL;

  /* Formatting the sender costs an allocation: not for every datagram of a flood. */
  if (!debug_enabled ())
    return;

  if (from != NULL)
    sender = g_socket_connectable_to_string (G_SOCKET_CONNECTABLE (from));
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
is_from_peer (ConfabChannel  *self,
              GSocketAddress *from)
{
  g_autoptr(GInetAddress) sender = NULL;
  GInetSocketAddress *inet_from;

  if (self->peer_addresses == NULL || !G_IS_INET_SOCKET_ADDRESS (from))
    return FALSE;

  inet_from = G_INET_SOCKET_ADDRESS (from);
  if (g_inet_socket_address_get_port (inet_from) != self->peer_port)
    return FALSE;

  sender = unmap_address (g_inet_socket_address_get_address (inet_from));
  for (guint i = 0; i < self->peer_addresses->len; i++)
    {
      if (g_inet_address_equal (sender, g_ptr_array_index (self->peer_addresses, i)))
        return TRUE;
    }

  return FALSE;
}

static void
held_datagram_free (gpointer data)
{
  HeldDatagram *held = data;

  g_clear_object (&held->from);
  g_free (held);
}

static void
hold_datagram (ConfabChannel  *self,
               GSocketAddress *from,
               const char     *data,
               gsize           length)
{
  HeldDatagram *held;

  if (self->held.length >= MAX_HELD)
    {
      self->stats.dropped_not_peer++;
      debug_dropped (from, length, "too many while resolving the peer");
      return;
    }

  held = g_malloc (sizeof *held + length + 1);
  held->from = from != NULL ? g_object_ref (from) : NULL;
  held->length = length;
  memcpy (held->data, data, length);
  g_queue_push_tail (&self->held, held);
}

/* @data has room for one byte past @length. */
static void
handle_datagram (ConfabChannel  *self,
                 GSocketAddress *from,
                 char           *data,
                 gsize           length)
{
  if (length == 0)
    {
      self->stats.dropped_empty++;
      debug_dropped (from, length, "empty");
      return;
    }

  if (self->resolve_error != NULL && self->peer_host != NULL &&
      g_get_monotonic_time () - self->resolve_failed_at >= RESOLVE_RETRY_INTERVAL)
    start_resolve (self);

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

  /* 0xFF never occurs in UTF-8: this is no text but a Confab datagram. */
  if ((guint8)data[0] == 0xFF)
    {
      confab_channel_handle_confab (self, (const guint8 *)data, length);
      return;
    }

  /* With a length, an embedded NUL is invalid too. */
  if (!g_utf8_validate (data, length, NULL))
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
static void
release_held (ConfabChannel *self)
{
  g_autoptr(ConfabChannel) hold G_GNUC_UNUSED = NULL;
  HeldDatagram *held;

  if (g_queue_is_empty (&self->held))
    return;

  hold = g_object_ref (self);
  while (!self->resolving && (held = g_queue_pop_head (&self->held)) != NULL)
    {
      handle_datagram (self, held->from, held->data, held->length);
      held_datagram_free (held);
    }

  confab_channel_flush (self);
}

/* Reads up to @max datagrams into the batch; returns how many, or -1. */
static int
receive_batch (ConfabChannel  *self,
               GSocket        *socket,
               guint           max,
               GError        **error)
{
  for (guint i = 0; i < max; i++)
    self->recv_addresses[i] = NULL;

  return g_socket_receive_messages (socket, self->recv_messages, max, G_SOCKET_MSG_NONE,
                                    NULL, error);
}

static void
handle_batch (ConfabChannel *self,
              GSocket       *socket,
              guint          n)
{
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(GSocketAddress) from = g_steal_pointer (&self->recv_addresses[i]);

      /* A ::received handler may have unbound or rebound the channel. */
      if (self->socket == socket)
        handle_datagram (self, from, self->recv_vectors[i].buffer,
                         self->recv_messages[i].bytes_received);
    }
}

static gboolean
on_socket_readable (GSocket      *socket,
                    GIOCondition  condition G_GNUC_UNUSED,
                    gpointer      user_data)
{
  g_autoptr(ConfabChannel) self = g_object_ref (CONFAB_CHANNEL (user_data));
  guint handled = 0;

  while (handled < RECV_MAX_PER_DISPATCH && self->socket == socket)
    {
      g_autoptr(GError) error = NULL;
      guint max = MIN (RECV_BATCH, RECV_MAX_PER_DISPATCH - handled);
      int n = receive_batch (self, socket, max, &error);

      if (n > 0)
        {
          handle_batch (self, socket, n);
          handled += n;
        }
      else if (n == 0 || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          break;
        }
      else
        {
          /* Typically ICMP "port unreachable" for an earlier send, which
           * Linux reports as ECONNREFUSED: reading it clears it, and the
           * datagrams behind it are still to be read.
           */
          g_debug ("Ignoring a receive error: %s", error->message);
          handled++;
        }
    }

  /* Messages are handed out, then acknowledged, once per batch. */
  confab_channel_flush (self);

  return G_SOURCE_CONTINUE;
}

static void
ensure_receive_buffers (ConfabChannel *self)
{
  if (self->recv_buffers != NULL)
    return;

  self->recv_buffers = g_malloc (RECV_BATCH * (RECV_BUFFER_SIZE + 1));
  for (guint i = 0; i < RECV_BATCH; i++)
    {
      self->recv_vectors[i].buffer = self->recv_buffers + i * (RECV_BUFFER_SIZE + 1);
      self->recv_vectors[i].size = RECV_BUFFER_SIZE;
      self->recv_messages[i].address = &self->recv_addresses[i];
      self->recv_messages[i].vectors = &self->recv_vectors[i];
      self->recv_messages[i].num_vectors = 1;
    }
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
  unmapped = unmap_address (parsed);
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
  g_source_set_static_name (self->in_source, "[confab] channel receive");
  g_source_set_callback (self->in_source, G_SOURCE_FUNC (on_socket_readable), self, NULL);
  g_source_attach (self->in_source, g_main_context_get_thread_default ());
}

/* Resolving the peer */

static void
clear_peer_addresses (ConfabChannel *self)
{
  g_clear_object (&self->destination);
  g_clear_pointer (&self->peer_addresses, g_ptr_array_unref);
  g_clear_error (&self->resolve_error);
}

static void
cancel_resolve (ConfabChannel *self)
{
  if (self->resolve_cancellable != NULL)
    {
      g_cancellable_cancel (self->resolve_cancellable);
      g_clear_object (&self->resolve_cancellable);
    }

  self->resolving = FALSE;
}

static void
set_peer_addresses (ConfabChannel *self,
                    GList         *addresses)
{
  clear_peer_addresses (self);

  self->peer_addresses = g_ptr_array_new_with_free_func (g_object_unref);
  for (const GList *l = addresses; l != NULL; l = l->next)
    g_ptr_array_add (self->peer_addresses, unmap_address (l->data));
}

static GError *
describe_resolve_error (const char   *host,
                        const GError *error)
{
  if (g_error_matches (error, G_RESOLVER_ERROR, G_RESOLVER_ERROR_NOT_FOUND))
    return g_error_new (error->domain, error->code, _("Could not find “%s”"), host);

  /* GResolver's other messages already name the host. */
  return g_error_copy (error);
}

static void
on_resolved (GObject      *object,
             GAsyncResult *result,
             gpointer      user_data)
{
  ResolveData *data = user_data;
  g_autoptr(GCancellable) cancellable = g_steal_pointer (&data->cancellable);
  g_autoptr(ConfabChannel) self = NULL;
  g_autoptr(GError) error = NULL;
  GList *addresses;

  addresses = g_resolver_lookup_by_name_finish (G_RESOLVER (object), result, &error);

  /* Cancelled means the peer changed or the channel is gone: it may be freed. */
  if (g_cancellable_is_cancelled (cancellable))
    {
      g_resolver_free_addresses (addresses);
      g_free (data);
      return;
    }

  /* Held for the ::received handlers and send callbacks run below. */
  self = g_object_ref (data->self);
  g_free (data);

  g_assert (self->resolve_cancellable == cancellable);
  g_clear_object (&self->resolve_cancellable);
  self->resolving = FALSE;

  if (addresses != NULL)
    {
      set_peer_addresses (self, addresses);
      g_resolver_free_addresses (addresses);
    }
  else
    {
      clear_peer_addresses (self);
      self->resolve_error = describe_resolve_error (self->peer_host, error);
      self->resolve_failed_at = g_get_monotonic_time ();
      g_debug ("%s", self->resolve_error->message);
      confab_channel_resolve_failed (self, self->resolve_error);
    }

  release_held (self);
  flush_pending (self);
}

static void
start_resolve (ConfabChannel *self)
{
  g_autoptr(GInetAddress) literal = NULL;
  g_autoptr(GResolver) resolver = NULL;
  ResolveData *data;

  g_assert (self->peer_host != NULL);

  cancel_resolve (self);
  clear_peer_addresses (self);

  literal = g_inet_address_new_from_string (self->peer_host);
  if (literal != NULL)
    {
      GList addresses = { literal, NULL, NULL };

      set_peer_addresses (self, &addresses);
      return;
    }

  self->resolving = TRUE;
  self->resolve_cancellable = g_cancellable_new ();

  data = g_new0 (ResolveData, 1);
  data->self = self;
  data->cancellable = g_object_ref (self->resolve_cancellable);

  resolver = g_resolver_get_default ();
  g_resolver_lookup_by_name_async (resolver, self->peer_host, self->resolve_cancellable,
                                   on_resolved, data);
}

/* Sending */

static GInetAddress *
pick_destination (ConfabChannel  *self,
                  GError        **error)
{
  GSocketFamily family = g_socket_get_family (self->socket);

  for (guint i = 0; i < self->peer_addresses->len; i++)
    {
      GInetAddress *address = g_ptr_array_index (self->peer_addresses, i);
      GSocketFamily address_family = g_inet_address_get_family (address);

      if (address_family == family)
        return g_object_ref (address);

      if (self->dual_stack && address_family == G_SOCKET_FAMILY_IPV4)
        return map_address (address);
    }

  if (family == G_SOCKET_FAMILY_IPV4)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_HOST_UNREACHABLE,
                 _("“%s” has no IPv4 address, and Confab listens on IPv4 only"),
                 self->peer_host);
  else
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_HOST_UNREACHABLE,
                 _("“%s” has no IPv6 address, and Confab listens on IPv6 only"),
                 self->peer_host);

  return NULL;
}

GSocketAddress *
confab_channel_get_destination (ConfabChannel  *self,
                                GError        **error)
{
  g_autoptr(GInetAddress) address = NULL;

  if (self->destination != NULL)
    return self->destination;

  address = pick_destination (self, error);
  if (address == NULL)
    return NULL;

  self->destination = g_inet_socket_address_new (address, self->peer_port);
  return self->destination;
}

static gssize
send_datagram (ConfabChannel   *self,
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

/**
 * confab_channel_transmit:
 *
 * Sends one protocol datagram to the peer now, if its address is known and
 * the socket is open. A datagram that cannot go is not queued: the protocol
 * retransmits what is not acknowledged.
 */
gboolean
confab_channel_transmit (ConfabChannel  *self,
                         const guint8   *data,
                         gsize           length,
                         GError        **error)
{
  GSocketAddress *destination;

  if (self->socket == NULL || self->peer_addresses == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                           "The peer's address is not known yet");
      return FALSE;
    }

  destination = confab_channel_get_destination (self, error);
  if (destination == NULL)
    return FALSE;

  return send_datagram (self, destination, (const char *)data, length, error) >= 0;
}

/**
 * confab_channel_ensure_peer:
 *
 * Checks that there is a peer to send to and a socket to send from, and
 * resolves the peer's name again if the last attempt failed.
 */
gboolean
confab_channel_ensure_peer (ConfabChannel  *self,
                            GError        **error)
{
  if (self->peer_host == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           _("No peer address is set"));
      return FALSE;
    }

  if (self->socket == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                           _("No local port is open. Choose a free local port in Preferences"));
      return FALSE;
    }

  if (self->resolve_error != NULL && !self->resolving)
    start_resolve (self);

  return TRUE;
}

/* Returns FALSE with G_IO_ERROR_WOULD_BLOCK when the task must wait. */
static gboolean
try_send (ConfabChannel  *self,
          GTask          *task,
          GError        **error)
{
  const char *text = g_task_get_task_data (task);
  GSocketAddress *destination;

  if (self->peer_host == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           _("No peer address is set"));
      return FALSE;
    }

  if (self->resolve_error != NULL)
    {
      g_propagate_error (error, g_error_copy (self->resolve_error));
      return FALSE;
    }

  if (self->socket == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                           _("No local port is open. Choose a free local port in Preferences"));
      return FALSE;
    }

  destination = confab_channel_get_destination (self, error);
  if (destination == NULL)
    return FALSE;

  return send_datagram (self, destination, text, strlen (text), error) >= 0;
}

static gboolean
on_socket_writable (GSocket      *socket G_GNUC_UNUSED,
                    GIOCondition  condition G_GNUC_UNUSED,
                    gpointer      user_data)
{
  ConfabChannel *self = CONFAB_CHANNEL (user_data);

  /* Returning G_SOURCE_REMOVE destroys it; flushing may add a new one. */
  g_clear_pointer (&self->out_source, g_source_unref);
  flush_pending (self);

  return G_SOURCE_REMOVE;
}

static void
wait_until_writable (ConfabChannel *self)
{
  if (self->out_source != NULL)
    return;

  self->out_source = g_socket_create_source (self->socket, G_IO_OUT, NULL);
  g_source_set_static_name (self->out_source, "[confab] channel send");
  g_source_set_callback (self->out_source, G_SOURCE_FUNC (on_socket_writable), self, NULL);
  g_source_attach (self->out_source, g_main_context_get_thread_default ());
}

/* Sends or fails queued tasks in order until one has to wait. Completing a
 * task may run its callback at once, which may send again or unbind.
 */
static void
flush_pending (ConfabChannel *self)
{
  g_autoptr(ConfabChannel) hold G_GNUC_UNUSED = g_object_ref (self);

  while (!g_queue_is_empty (&self->pending) && !self->resolving && self->out_source == NULL)
    {
      GTask *head = g_queue_peek_head (&self->pending);
      g_autoptr(GError) error = NULL;
      g_autoptr(GTask) task = NULL;

      /* Off the queue before completing: the callback may send again. */
      if (g_cancellable_is_cancelled (g_task_get_cancellable (head)))
        {
          task = g_queue_pop_head (&self->pending);
          g_task_return_error_if_cancelled (task);
          continue;
        }

      if (!try_send (self, head, &error) &&
          g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          wait_until_writable (self);
          break;
        }

      task = g_queue_pop_head (&self->pending);
      if (error != NULL)
        g_task_return_error (task, g_steal_pointer (&error));
      else
        g_task_return_boolean (task, TRUE);
    }
}

static void
fail_pending (ConfabChannel *self)
{
  GTask *task;

  while ((task = g_queue_pop_head (&self->pending)) != NULL)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                               _("The channel was closed"));
      g_object_unref (task);
    }
}

/* GObject */

static void
confab_channel_dispose (GObject *object)
{
  ConfabChannel *self = (ConfabChannel *)object;

  confab_channel_reliable_dispose (self);
  close_socket (self);
  cancel_resolve (self);
  fail_pending (self);
  g_queue_clear_full (&self->held, held_datagram_free);
  g_clear_pointer (&self->peer_addresses, g_ptr_array_unref);

  G_OBJECT_CLASS (confab_channel_parent_class)->dispose (object);
}

static void
confab_channel_finalize (GObject *object)
{
  ConfabChannel *self = (ConfabChannel *)object;

  g_clear_pointer (&self->peer_host, g_free);
  g_clear_error (&self->resolve_error);
  g_clear_pointer (&self->recv_buffers, g_free);
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

  g_object_class_install_properties (object_class, N_PROPS, properties);

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
   * Emitted in the sender's order. When the handler returns, the message is
   * acknowledged: a handler that stores messages must have stored it.
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
                  NULL,
                  G_TYPE_NONE, 2, G_TYPE_UINT64, G_TYPE_UINT64);

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
                  NULL,
                  G_TYPE_NONE, 3, G_TYPE_UINT64, G_TYPE_UINT64, G_TYPE_STRING);
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
  flush_pending (self);

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
  flush_pending (self);
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
      cancel_resolve (self);
      clear_peer_addresses (self);
      if (self->peer_host != NULL)
        start_resolve (self);
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
    confab_channel_peer_changed (self);

  release_held (self);
  flush_pending (self);

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

/**
 * confab_channel_send_async:
 * @self: a #ConfabChannel
 * @text: the text, sent as its bytes in one datagram
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the datagram is sent or cannot be
 * @user_data: data for @callback
 *
 * Sends @text to the peer, first resolving its name if needed (again, if the
 * last attempt failed). Sends complete in the order they were made.
 *
 * Errors: %G_IO_ERROR_INVALID_ARGUMENT without a peer, %G_IO_ERROR_NOT_CONNECTED
 * when not bound, a #GResolverError naming the host, %G_IO_ERROR_HOST_UNREACHABLE
 * when no address of the peer fits the socket, or the socket's error.
 */
void
confab_channel_send_async (ConfabChannel       *self,
                           const char          *text,
                           GCancellable        *cancellable,
                           GAsyncReadyCallback  callback,
                           gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;

  g_return_if_fail (CONFAB_IS_CHANNEL (self));
  g_return_if_fail (text != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, confab_channel_send_async);
  g_task_set_task_data (task, g_strdup (text), g_free);

  if (!confab_channel_ensure_peer (self, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  g_queue_push_tail (&self->pending, g_steal_pointer (&task));
  flush_pending (self);
}

gboolean
confab_channel_send_finish (ConfabChannel  *self,
                            GAsyncResult   *result,
                            GError        **error)
{
  g_return_val_if_fail (CONFAB_IS_CHANNEL (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == confab_channel_send_async,
                        FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
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
