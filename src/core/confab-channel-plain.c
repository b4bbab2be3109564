/* confab-channel-plain.c — sending bare text datagrams, for classic peers
 * (netcat, socat, scripts): queued in order while the peer's name resolves
 * or the socket is full, with no receipt and no retransmission
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "confab-channel"

#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>

#include "confab-channel-private.h"

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

  /* Bare text would leave the conversation readable and forgeable. */
  if (self->key != NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                           _("Plain text is not sent while a passphrase is set"));
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

  return confab_channel_send_datagram (self, destination, text, strlen (text), error) >= 0;
}

static gboolean
on_socket_writable (GSocket      *socket G_GNUC_UNUSED,
                    GIOCondition  condition G_GNUC_UNUSED,
                    gpointer      user_data)
{
  ConfabChannel *self = CONFAB_CHANNEL (user_data);

  /* Returning G_SOURCE_REMOVE destroys it; flushing may add a new one. */
  g_clear_pointer (&self->out_source, g_source_unref);
  confab_channel_flush_plain (self);

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
void
confab_channel_flush_plain (ConfabChannel *self)
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

void
confab_channel_fail_plain (ConfabChannel *self)
{
  GTask *task;

  while ((task = g_queue_pop_head (&self->pending)) != NULL)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                               _("The channel was closed"));
      g_object_unref (task);
    }
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
  confab_channel_flush_plain (self);
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

