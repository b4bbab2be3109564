/* confab-channel-peer.c — who the channel talks to: resolving the peer's
 * name without blocking, and the address datagrams go to
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "confab-channel"

#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>

#include "confab-channel-private.h"

typedef struct
{
  ConfabChannel *self;          /* not a reference: cancelled before self goes */
  GCancellable  *cancellable;
} ResolveData;

/* Returns @address, or for an IPv4-mapped IPv6 address its IPv4 form. */
GInetAddress *
confab_channel_unmap_address (GInetAddress *address)
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

GInetAddress *
confab_channel_map_address (GInetAddress *address)
{
  guint8 bytes[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

  g_assert (g_inet_address_get_family (address) == G_SOCKET_FAMILY_IPV4);

  memcpy (bytes + 12, g_inet_address_to_bytes (address), 4);
  return g_inet_address_new_from_bytes (bytes, G_SOCKET_FAMILY_IPV6);
}

/* Resolving the peer */

void
confab_channel_clear_peer_addresses (ConfabChannel *self)
{
  g_clear_object (&self->destination);
  g_clear_pointer (&self->peer_addresses, g_ptr_array_unref);
  g_clear_error (&self->resolve_error);
}

void
confab_channel_cancel_resolve (ConfabChannel *self)
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
  confab_channel_clear_peer_addresses (self);

  self->peer_addresses = g_ptr_array_new_with_free_func (g_object_unref);
  for (const GList *l = addresses; l != NULL; l = l->next)
    g_ptr_array_add (self->peer_addresses, confab_channel_unmap_address (l->data));
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
      confab_channel_resolved (self);
    }
  else
    {
      confab_channel_clear_peer_addresses (self);
      self->resolve_error = describe_resolve_error (self->peer_host, error);
      self->resolve_failed_at = g_get_monotonic_time ();
      g_debug ("%s", self->resolve_error->message);
      confab_channel_resolve_failed (self, self->resolve_error);
    }

  confab_channel_release_held (self);
  confab_channel_flush_plain (self);
}

void
confab_channel_start_resolve (ConfabChannel *self)
{
  g_autoptr(GInetAddress) literal = NULL;
  g_autoptr(GResolver) resolver = NULL;
  ResolveData *data;

  g_assert (self->peer_host != NULL);

  confab_channel_cancel_resolve (self);
  confab_channel_clear_peer_addresses (self);

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
        return confab_channel_map_address (address);
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
    confab_channel_start_resolve (self);

  return TRUE;
}

