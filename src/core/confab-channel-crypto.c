/* confab-channel-crypto.c — ConfabChannel: sealing and opening datagrams under a passphrase's key
 *
 * With a key set, every Confab datagram leaves sealed and only sealed ones
 * from the peer are read; bare text is neither sent nor shown, since it
 * cannot be authenticated. docs/protocol.md §11 is the design.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "confab-channel"

#include "config.h"

#include <glib/gi18n-lib.h>

#include "confab-channel-private.h"

/* At most one STALE notice a second: a replaying stranger cannot make the
 * channel send more than that.
 */
#define STALE_NOTICE_INTERVAL G_USEC_PER_SEC

static void
unreadable (ConfabChannel *self)
{
  g_signal_emit (self, confab_channel_signals[SIGNAL_UNREADABLE], 0);
}

/* The peer's epoch is closed here: tell it, so that it begins a new one.
 * Once one of its epochs is accepted, a stale datagram is a leftover of an
 * earlier run (or a replay), and its current run needs no notice.
 */
static void
send_stale_notice (ConfabChannel *self)
{
  guint8 datagram[CONFAB_WIRE_PING_SIZE];
  gint64 now = g_get_monotonic_time ();
  g_autoptr(GError) error = NULL;
  gsize length;

  if (confab_opener_has_epoch (self->opener))
    return;

  if (self->stale_notice_at != 0 && now - self->stale_notice_at < STALE_NOTICE_INTERVAL)
    return;

  self->stale_notice_at = now;
  length = confab_wire_encode_ping (CONFAB_WIRE_TYPE_STALE,
                                    confab_opener_get_newest (self->opener),
                                    datagram, sizeof datagram);
  if (!confab_channel_transmit (self, datagram, length, &error))
    g_debug ("Could not send a stale-epoch notice: %s", error->message);
}

/**
 * confab_channel_handle_sealed:
 *
 * Called for every datagram from the peer while a key is set, and for
 * sealed ones when none is.
 */
void
confab_channel_handle_sealed (ConfabChannel *self,
                              const guint8  *data,
                              gsize          length)
{
  guint8 inner[CONFAB_WIRE_MAX_DATAGRAM];
  gsize inner_length = 0;
  guint64 newest;

  if (self->opener == NULL)
    {
      /* The peer uses a passphrase and this side does not. */
      self->stats.dropped_sealed++;
      unreadable (self);
      return;
    }

  newest = confab_opener_get_newest (self->opener);
  switch (confab_opener_open (self->opener, data, length, inner, sizeof inner, &inner_length))
    {
    case CONFAB_OPEN_OK:
      break;

    case CONFAB_OPEN_NOT_SEALED:
      /* Plain Confab or bare text: nothing says it is the peer's. */
      self->stats.dropped_unsealed++;
      unreadable (self);
      return;

    case CONFAB_OPEN_FORGED:
      self->stats.dropped_forged++;
      unreadable (self);
      return;

    case CONFAB_OPEN_REPLAYED:
      self->stats.dropped_replayed++;
      return;

    case CONFAB_OPEN_STALE:
      self->stats.dropped_stale++;
      send_stale_notice (self);
      return;

    case CONFAB_OPEN_REFLECTED:
      self->stats.dropped_reflected++;
      return;

    case CONFAB_OPEN_MALFORMED:
    default:
      self->stats.dropped_malformed++;
      return;
    }

  if (confab_opener_get_newest (self->opener) != newest)
    g_signal_emit (self, confab_channel_signals[SIGNAL_PEER_EPOCH], 0,
                   confab_opener_get_newest (self->opener));

  /* One seal only, around a Confab datagram */
  if (inner_length == 0 || inner[0] != 0xFF || confab_crypto_is_sealed (inner, inner_length))
    {
      self->stats.dropped_malformed++;
      return;
    }

  confab_channel_handle_confab (self, inner, inner_length);
}

static void
begin_epoch (ConfabChannel *self,
             ConfabEpoch    epoch)
{
  /* Kept by the handler before a datagram carries it, so that no later run
   * can begin at or before it.
   */
  g_signal_emit (self, confab_channel_signals[SIGNAL_OWN_EPOCH], 0, epoch.time);
  g_clear_pointer (&self->sealer, confab_sealer_free);
  self->sealer = confab_sealer_new (self->key, epoch);
}

/**
 * confab_channel_handle_stale:
 * @closed_until: the time up to which the peer refuses epochs
 *
 * The peer restarted and refuses this run's epoch: a new one begins, and
 * what is in flight goes out again under it.
 */
void
confab_channel_handle_stale (ConfabChannel *self,
                             guint64        closed_until)
{
  ConfabEpoch epoch;

  if (self->sealer == NULL || closed_until < confab_sealer_get_epoch (self->sealer).time)
    return;

  epoch.time = MAX ((guint64)g_get_real_time (), closed_until + 1);
  epoch.random = confab_sealer_get_epoch (self->sealer).random;
  begin_epoch (self, epoch);
  confab_channel_resolved (self);
}

/* Returns: the datagram to send: @data itself, or sealed into @buffer; NULL
 * if it cannot be sealed.
 */
const guint8 *
confab_channel_seal (ConfabChannel *self,
                     const guint8  *data,
                     gsize         *length,
                     guint8        *buffer,
                     gsize          size)
{
  if (self->sealer == NULL)
    return data;

  *length = confab_sealer_seal (self->sealer, data, *length, buffer, size);
  return *length > 0 ? buffer : NULL;
}

void
confab_channel_crypto_peer_changed (ConfabChannel *self)
{
  guint64 closed;

  if (self->opener == NULL)
    return;

  /* Whatever the last peer's epochs were, the new one starts from there. */
  closed = confab_opener_get_newest (self->opener);
  g_clear_pointer (&self->opener, confab_opener_free);
  self->opener = confab_opener_new (self->key, confab_sealer_get_epoch (self->sealer).random,
                                    closed);
}

void
confab_channel_crypto_clear (ConfabChannel *self)
{
  g_clear_pointer (&self->sealer, confab_sealer_free);
  g_clear_pointer (&self->opener, confab_opener_free);
  g_clear_pointer (&self->key, confab_key_unref);
}

/**
 * confab_channel_set_key:
 * @key: (nullable): the passphrase's key; %NULL to send and read in the clear
 * @epoch: this run's epoch: its time above any this side used before, and
 *   this side's id, which it keeps for good
 * @closed_until: the newest epoch time of the peer accepted in an earlier
 *   run under this key, or 0
 *
 * From now on, datagrams are sealed and only sealed ones from the peer are
 * read. #ConfabChannel::own-epoch and #ConfabChannel::peer-epoch report
 * the times to keep for the next run.
 */
void
confab_channel_set_key (ConfabChannel *self,
                        ConfabKey     *key,
                        ConfabEpoch    epoch,
                        guint64        closed_until)
{
  g_return_if_fail (CONFAB_IS_CHANNEL (self));
  g_return_if_fail (key == NULL || epoch.time != 0);

  confab_channel_crypto_clear (self);
  self->stale_notice_at = 0;

  if (key != NULL)
    {
      self->key = confab_key_ref (key);
      self->sealer = confab_sealer_new (key, epoch);
      self->opener = confab_opener_new (key, epoch.random, closed_until);
    }

  g_object_notify_by_pspec (G_OBJECT (self), confab_channel_properties[PROP_ENCRYPTED]);

  /* What is in flight goes out again, sealed or not as now set. */
  if (self->peer_addresses != NULL)
    confab_channel_resolved (self);
}

gboolean
confab_channel_get_encrypted (ConfabChannel *self)
{
  g_return_val_if_fail (CONFAB_IS_CHANNEL (self), FALSE);

  return self->key != NULL;
}
