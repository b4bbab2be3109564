/* confab-channel-reliable.c — the reliable protocol on the channel's socket:
 * messages, acknowledgements, retransmission and pings
 *
 * The rules live in ConfabSender and ConfabReceiver, which do no I/O; this
 * file feeds them datagrams and time, and turns what they decide into
 * datagrams and signals. docs/protocol.md is the specification.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "confab-channel"

#include "config.h"

#include <glib/gi18n-lib.h>

#include "confab-channel-private.h"
#include "confab-ready-source.h"

#define PING_RESEND_MS  1000
#define PING_TIMEOUT    (5 * G_USEC_PER_SEC)

typedef struct
{
  guint64  token;
  gint64   started;
  gint64   last_sent;
  GSource *resend;
} PingData;

static guint64
random_id (void)
{
  guint64 id;

  do
    id = ((guint64)g_random_int () << 32) | g_random_int ();
  while (id == 0);

  return id;
}

/* Sender callbacks: called from inside ConfabSender, so they only record. */

static void
on_sender_transmit (gpointer      user_data,
                    const guint8 *datagram,
                    gsize         length)
{
  ConfabChannel *self = user_data;
  g_autoptr(GError) error = NULL;

  if (!confab_channel_transmit_later (self, datagram, length, &error))
    g_debug ("A segment did not go out now and will be retransmitted: %s", error->message);
}

static void
push_event (ConfabChannel    *self,
            ChannelEventType  type,
            guint64           origin,
            guint64           number)
{
  ChannelEvent event = { type, origin, number, NULL };

  if (type == CHANNEL_EVENT_FAILED)
    event.reason = g_strdup (self->fail_reason != NULL ? self->fail_reason : "");

  g_array_append_val (self->events, event);
}

static void
on_sender_delivered (gpointer user_data,
                     guint64  origin,
                     guint64  number)
{
  push_event (user_data, CHANNEL_EVENT_DELIVERED, origin, number);
}

static void
on_sender_failed (gpointer user_data,
                  guint64  origin,
                  guint64  number)
{
  push_event (user_data, CHANNEL_EVENT_FAILED, origin, number);
}

static const ConfabSenderCallbacks sender_callbacks = {
  on_sender_transmit,
  on_sender_delivered,
  on_sender_failed,
};

/* The one timer */

static void
rearm_timer (ConfabChannel *self)
{
  gint64 deadline, current;

  if (self->timer == NULL)
    return;

  deadline = MIN (confab_sender_get_deadline (self->sender),
                  confab_receiver_get_deadline (self->receiver));
  /* Moving a ready time wakes the main context (a write to its eventfd and
   * one more turn of the loop), twice a message if done at each send and
   * ack. So it is only ever brought forward: a timer that fires early finds
   * nothing due, and is armed again for what is, or not at all.
   */
  current = g_source_get_ready_time (self->timer);
  if (deadline != G_MAXINT64 && (current == -1 || deadline < current))
    g_source_set_ready_time (self->timer, deadline);
}

static gboolean
on_timer (gpointer user_data)
{
  g_autoptr(ConfabChannel) self = g_object_ref (CONFAB_CHANNEL (user_data));
  gint64 now = g_get_monotonic_time ();

  self->fail_reason = _("The peer did not confirm the message in time");
  confab_sender_tick (self->sender, now);
  self->fail_reason = NULL;
  confab_receiver_expire (self->receiver, now, self->incoming);
  confab_channel_flush (self);

  return G_SOURCE_CONTINUE;
}

/* Pings */

static void
stop_resending (PingData *ping)
{
  if (ping->resend != NULL)
    {
      g_source_destroy (ping->resend);
      g_clear_pointer (&ping->resend, g_source_unref);
    }
}

static void
ping_data_free (gpointer data)
{
  PingData *ping = data;

  stop_resending (ping);
  g_free (ping);
}

static void
send_ping (ConfabChannel *self,
           PingData      *ping)
{
  guint8 datagram[CONFAB_WIRE_PING_SIZE];
  gsize length = confab_wire_encode_ping (CONFAB_WIRE_TYPE_PING, ping->token,
                                          datagram, sizeof datagram);
  g_autoptr(GError) error = NULL;

  ping->last_sent = g_get_monotonic_time ();
  if (!confab_channel_transmit (self, datagram, length, &error))
    g_debug ("Ping not sent now: %s", error->message);
}

/* Completes the ping's task; @error or else @rtt. */
static void
finish_ping (ConfabChannel *self,
             GTask         *task,
             gint64         rtt,
             GError        *error)
{
  PingData *ping = g_task_get_task_data (task);
  g_autoptr(GTask) owned = NULL;

  stop_resending (ping);
  owned = g_object_ref (task);
  g_hash_table_remove (self->pings, &ping->token);

  if (error != NULL)
    g_task_return_error (owned, error);
  else
    g_task_return_int (owned, rtt);
}

static gboolean
on_ping_resend (gpointer user_data)
{
  GTask *task = user_data;
  ConfabChannel *self = g_task_get_source_object (task);
  PingData *ping = g_task_get_task_data (task);

  if (g_cancellable_is_cancelled (g_task_get_cancellable (task)))
    {
      finish_ping (self, task, 0, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                                       "The ping was cancelled"));
      return G_SOURCE_REMOVE;
    }

  if (g_get_monotonic_time () - ping->started >= PING_TIMEOUT)
    {
      finish_ping (self, task, 0, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                                                       _("No answer")));
      return G_SOURCE_REMOVE;
    }

  send_ping (self, ping);

  return G_SOURCE_CONTINUE;
}

static void
answer_ping (ConfabChannel *self,
             guint64        token)
{
  guint8 datagram[CONFAB_WIRE_PING_SIZE];
  gsize length = confab_wire_encode_ping (CONFAB_WIRE_TYPE_PONG, token, datagram, sizeof datagram);
  g_autoptr(GError) error = NULL;

  self->stats.pings++;
  if (!confab_channel_transmit (self, datagram, length, &error))
    g_debug ("Could not answer a ping: %s", error->message);
}

static void
handle_pong (ConfabChannel *self,
             guint64        token,
             gint64         now)
{
  GTask *task = g_hash_table_lookup (self->pings, &token);
  PingData *ping;

  if (task == NULL)
    return;

  ping = g_task_get_task_data (task);
  finish_ping (self, task, now - ping->last_sent, NULL);
}

/* Receiving */

static void
ack_due (ConfabChannel *self,
         guint64        session)
{
  for (guint i = 0; i < self->acks_due->len; i++)
    {
      if (g_array_index (self->acks_due, guint64, i) == session)
        return;
    }

  g_array_append_val (self->acks_due, session);
}

static void
send_acks (ConfabChannel *self)
{
  for (guint i = 0; i < self->acks_due->len; i++)
    {
      guint8 bitmap[CONFAB_WIRE_MAX_ACK_BITS / 8];
      guint8 datagram[CONFAB_WIRE_ACK_FIXED_SIZE + sizeof bitmap];
      g_autoptr(GError) error = NULL;
      ConfabWireAck ack;
      gsize length;

      if (!confab_receiver_build_ack (self->receiver, g_array_index (self->acks_due, guint64, i),
                                      &ack, bitmap, sizeof bitmap))
        continue;

      length = confab_wire_encode_ack (&ack, datagram, sizeof datagram);
      if (length > 0 && !confab_channel_transmit (self, datagram, length, &error))
        g_debug ("Could not send an ack: %s", error->message);
    }

  g_array_set_size (self->acks_due, 0);
}

/* Called for a datagram from the peer whose first byte is 0xFF. */
void
confab_channel_handle_confab (ConfabChannel *self,
                              const guint8  *data,
                              gsize          length)
{
  ConfabWireDatagram datagram;
  gint64 now;

  switch (confab_wire_decode (data, length, &datagram))
    {
    case CONFAB_WIRE_OK:
      break;

    case CONFAB_WIRE_OVERSIZED:
      self->stats.dropped_oversized++;
      return;

    case CONFAB_WIRE_BAD_VERSION:
      self->stats.dropped_version++;
      return;

    case CONFAB_WIRE_BAD_TYPE:
      self->stats.dropped_type++;
      return;

    case CONFAB_WIRE_PLAIN:
    case CONFAB_WIRE_MALFORMED:
    default:
      self->stats.dropped_malformed++;
      return;
    }

  now = g_get_monotonic_time ();

  switch (datagram.type)
    {
    case CONFAB_WIRE_TYPE_MESSAGE:
      if (confab_receiver_push (self->receiver, &datagram.message, now, self->incoming)
          != CONFAB_RECEIVER_DROPPED)
        ack_due (self, datagram.message.session);
      break;

    case CONFAB_WIRE_TYPE_ACK:
      self->stats.acks++;
      confab_sender_ack (self->sender, &datagram.ack, now);
      break;

    case CONFAB_WIRE_TYPE_PING:
      answer_ping (self, datagram.token);
      break;

    case CONFAB_WIRE_TYPE_PONG:
      handle_pong (self, datagram.token, now);
      break;

    case CONFAB_WIRE_TYPE_STALE:
      /* Only a sealed, authentic one means anything. */
      if (self->key != NULL)
        confab_channel_handle_stale (self, datagram.token);
      else
        self->stats.dropped_type++;
      break;

    default:
      self->stats.dropped_type++;
      break;
    }
}

static void
emit_events (ConfabChannel *self)
{
  g_autoptr(GArray) events = NULL;

  if (self->events->len == 0)
    return;

  events = g_steal_pointer (&self->events);
  self->events = g_array_new (FALSE, FALSE, sizeof (ChannelEvent));

  for (guint i = 0; i < events->len; i++)
    {
      ChannelEvent *event = &g_array_index (events, ChannelEvent, i);

      if (event->type == CHANNEL_EVENT_DELIVERED)
        g_signal_emit (self, confab_channel_signals[SIGNAL_DELIVERED], 0,
                       event->origin, event->number);
      else
        g_signal_emit (self, confab_channel_signals[SIGNAL_FAILED], 0,
                       event->origin, event->number, event->reason);

      g_clear_pointer (&event->reason, g_free);
    }
}

/**
 * confab_channel_flush:
 *
 * Ends a batch: hands out complete messages and ends the batch with
 * ::batch-end, then acknowledges them (so that an ack follows storage),
 * reports deliveries and failures, and re-arms the timer.
 */
void
confab_channel_flush (ConfabChannel *self)
{
  g_autoptr(ConfabChannel) hold G_GNUC_UNUSED = g_object_ref (self);
  guint generation = self->peer_generation;
  gboolean emitted = FALSE;

  if (self->flush_depth > 0)
    {
      rearm_timer (self);
      return;
    }

  self->flush_depth++;

  while (self->incoming->len > 0 && generation == self->peer_generation)
    {
      g_autoptr(GPtrArray) incoming = g_steal_pointer (&self->incoming);

      self->incoming = g_ptr_array_new_with_free_func ((GDestroyNotify)confab_incoming_free);
      for (guint i = 0; i < incoming->len && generation == self->peer_generation; i++)
        g_signal_emit (self, confab_channel_signals[SIGNAL_MESSAGE], 0,
                       g_ptr_array_index (incoming, i));
      emitted = TRUE;
    }

  if (emitted)
    g_signal_emit (self, confab_channel_signals[SIGNAL_BATCH_END], 0);

  send_acks (self);
  emit_events (self);
  /* Last, for what the handlers sent too */
  confab_channel_send_batch (self);
  rearm_timer (self);

  self->flush_depth--;
}

/* Peer changes and failures */

void
confab_channel_peer_changed (ConfabChannel *self)
{
  self->fail_reason = _("The peer changed before the message arrived");
  confab_sender_abandon_all (self->sender);
  self->fail_reason = NULL;

  /* The new peer's sessions start afresh; a batch from the old one stops. */
  confab_receiver_reset_sessions (self->receiver);
  confab_channel_drop_batch (self);
  g_array_set_size (self->acks_due, 0);
  g_ptr_array_set_size (self->incoming, 0);
  self->peer_generation++;

  confab_channel_flush (self);
}

void
confab_channel_resolve_failed (ConfabChannel *self,
                               const GError  *error)
{
  self->fail_reason = error->message;
  confab_sender_abandon_all (self->sender);
  self->fail_reason = NULL;

  confab_channel_flush (self);
}

/* What went out while the peer's name was resolving never left: send it now
 * rather than after a timeout.
 */
void
confab_channel_resolved (ConfabChannel *self)
{
  if (confab_sender_get_in_flight (self->sender) == 0)
    return;

  confab_sender_transmit_again (self->sender, g_get_monotonic_time ());
  confab_channel_flush (self);
}

/* Life cycle */

void
confab_channel_reliable_init (ConfabChannel *self)
{
  self->sender = confab_sender_new (random_id (), &sender_callbacks, self);
  self->receiver = confab_receiver_new ();
  self->acks_due = g_array_new (FALSE, FALSE, sizeof (guint64));
  self->incoming = g_ptr_array_new_with_free_func ((GDestroyNotify)confab_incoming_free);
  self->events = g_array_new (FALSE, FALSE, sizeof (ChannelEvent));
  self->pings = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, g_object_unref);

  self->timer = confab_ready_source_new ("[confab] channel timer", on_timer, self);
}

void
confab_channel_reliable_dispose (ConfabChannel *self)
{
  GHashTableIter iter;
  gpointer task;

  if (self->timer != NULL)
    {
      g_source_destroy (self->timer);
      g_clear_pointer (&self->timer, g_source_unref);
    }

  while (g_hash_table_size (self->pings) > 0)
    {
      g_hash_table_iter_init (&iter, self->pings);
      g_hash_table_iter_next (&iter, NULL, &task);
      finish_ping (self, task, 0, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                                       "The channel was closed"));
    }
}

void
confab_channel_reliable_finalize (ConfabChannel *self)
{
  for (guint i = 0; i < self->events->len; i++)
    g_free (g_array_index (self->events, ChannelEvent, i).reason);

  g_clear_pointer (&self->events, g_array_unref);
  g_clear_pointer (&self->incoming, g_ptr_array_unref);
  g_clear_pointer (&self->acks_due, g_array_unref);
  g_clear_pointer (&self->pings, g_hash_table_unref);
  g_clear_pointer (&self->sender, confab_sender_free);
  g_clear_pointer (&self->receiver, confab_receiver_free);
}

/* Public API */

guint64
confab_channel_get_session (ConfabChannel *self)
{
  g_return_val_if_fail (CONFAB_IS_CHANNEL (self), 0);

  return confab_sender_get_session (self->sender);
}

/**
 * confab_channel_new_message_id:
 * @origin: (out): the new id's first half
 * @number: (out): its second half
 *
 * Gives out the id of a message not yet sent, so that it can be stored
 * before confab_channel_send_message() sends it under that id.
 */
void
confab_channel_new_message_id (ConfabChannel *self,
                               guint64       *origin,
                               guint64       *number)
{
  g_return_if_fail (CONFAB_IS_CHANNEL (self));
  g_return_if_fail (origin != NULL && number != NULL);

  confab_sender_new_message_id (self->sender, origin, number);
}

/**
 * confab_channel_send_message:
 * @self: a #ConfabChannel
 * @origin: (inout): the message id's first half; 0 for a new message
 * @number: (inout): the message id's second half
 * @time: when the message was written, µs since the Unix epoch
 * @nick: the sender's nickname (cut to 64 bytes)
 * @text: the text, valid UTF-8, 1 to 65536 bytes
 * @error: return location for a #GError
 *
 * Queues a message for reliable delivery. A new message gets its id here; a
 * message sent again (Retry, or resumed after a restart) keeps the one given,
 * so that the peer shows it once. #ConfabChannel::delivered or
 * #ConfabChannel::failed follows.
 *
 * Returns: %FALSE if the message cannot be sent at all: no peer, no socket,
 *   or text that is empty or too long (%G_IO_ERROR_MESSAGE_TOO_LARGE)
 */
gboolean
confab_channel_send_message (ConfabChannel  *self,
                             guint64        *origin,
                             guint64        *number,
                             gint64          time,
                             const char     *nick,
                             const char     *text,
                             GError        **error)
{
  g_return_val_if_fail (CONFAB_IS_CHANNEL (self), FALSE);
  g_return_val_if_fail (origin != NULL && number != NULL, FALSE);
  g_return_val_if_fail (nick != NULL && text != NULL, FALSE);

  if (!confab_channel_ensure_peer (self, error))
    return FALSE;

  /* An address known not to fit the socket will not fit in 30 s either. */
  if (self->peer_addresses != NULL && confab_channel_get_destination (self, error) == NULL)
    return FALSE;

  if (!confab_sender_queue (self->sender, origin, number, time, nick, text,
                            g_get_monotonic_time (), error))
    return FALSE;

  confab_channel_flush (self);

  return TRUE;
}

/**
 * confab_channel_set_give_up_time:
 * @usec: how long a message may go unacknowledged before it fails
 *
 * 30 s unless changed; tests shorten it.
 */
void
confab_channel_set_give_up_time (ConfabChannel *self,
                                 gint64         usec)
{
  g_return_if_fail (CONFAB_IS_CHANNEL (self));
  g_return_if_fail (usec > 0);

  confab_sender_set_give_up (self->sender, usec);
  rearm_timer (self);
}

/**
 * confab_channel_ping_async:
 *
 * Asks the peer's Confab to answer, once a second for up to 5 s. The result
 * is the round-trip time in µs, or %G_IO_ERROR_TIMED_OUT.
 */
void
confab_channel_ping_async (ConfabChannel       *self,
                           GCancellable        *cancellable,
                           GAsyncReadyCallback  callback,
                           gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  PingData *ping;

  g_return_if_fail (CONFAB_IS_CHANNEL (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, confab_channel_ping_async);

  if (!confab_channel_ensure_peer (self, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  ping = g_new0 (PingData, 1);
  ping->token = random_id ();
  ping->started = g_get_monotonic_time ();
  g_task_set_task_data (task, ping, ping_data_free);
  g_hash_table_insert (self->pings, &ping->token, g_object_ref (task));

  send_ping (self, ping);
  ping->resend = g_timeout_source_new (PING_RESEND_MS);
  g_source_set_static_name (ping->resend, "[confab] ping resend");
  g_source_set_callback (ping->resend, on_ping_resend, task, NULL);
  g_source_attach (ping->resend, g_main_context_get_thread_default ());
}

gint64
confab_channel_ping_finish (ConfabChannel  *self,
                            GAsyncResult   *result,
                            GError        **error)
{
  g_return_val_if_fail (CONFAB_IS_CHANNEL (self), -1);
  g_return_val_if_fail (g_task_is_valid (result, self), -1);

  return g_task_propagate_int (G_TASK (result), error);
}
