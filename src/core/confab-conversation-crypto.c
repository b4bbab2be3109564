/* confab-conversation-crypto.c — ConfabConversation: the shared passphrase
 *
 * The key is derived in a worker thread; until it is ready, messages go as
 * before. Epoch times are kept in a small state file, so that a restart of
 * either side can neither reuse a nonce nor accept a replay.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "confab-conversation"

#include "config.h"

#include "confab-conversation-private.h"

/* How often, at most, the person hears that the peer's datagrams could not
 * be read.
 */
#define UNREADABLE_INTERVAL (60 * G_USEC_PER_SEC)

static void
save_state (ConfabConversation *self,
            guint64             own_id,
            guint64             own,
            guint64             peer_closed)
{
  g_autoptr(GError) error = NULL;

  if (self->crypto_state_path == NULL || self->key == NULL)
    return;

  if (!confab_crypto_state_save (self->crypto_state_path, self->key, own_id, own, peer_closed,
                                 &error))
    g_message ("Replay state not saved: %s", error->message);
}

static void
on_own_epoch (ConfabConversation *self,
              guint64             time,
              ConfabChannel      *channel)
{
  save_state (self, 0, time, 0);
}

static void
on_peer_epoch (ConfabConversation *self,
               guint64             time,
               ConfabChannel      *channel)
{
  save_state (self, 0, 0, time);
}

static void
on_unreadable (ConfabConversation *self,
               ConfabChannel      *channel)
{
  gint64 now = g_get_monotonic_time ();

  if (self->unreadable_reported_at != 0 && now - self->unreadable_reported_at < UNREADABLE_INTERVAL)
    return;

  self->unreadable_reported_at = now;
  g_signal_emit (self, confab_conversation_signals[UNREADABLE], 0,
                 confab_conversation_get_peer_host (self));
}

static void
set_key (ConfabConversation *self,
         ConfabKey          *key)
{
  ConfabEpoch epoch = { 0, 0 };
  guint64 own_id = 0, own = 0, closed = 0;

  g_clear_pointer (&self->key, confab_key_unref);
  g_clear_pointer (&self->safety_code, g_free);

  if (key != NULL)
    {
      self->key = confab_key_ref (key);
      self->safety_code = confab_key_get_safety_code (key);
      if (self->crypto_state_path != NULL)
        confab_crypto_state_load (self->crypto_state_path, key, &own_id, &own, &closed);

      /* The id is made once and kept: a datagram of any earlier run sent
       * back to this side is known as its own.
       */
      while (own_id == 0)
        own_id = g_random_int () | ((guint64)g_random_int () << 32);

      /* After every earlier run's, kept before the first datagram carries it */
      epoch.time = MAX ((guint64)g_get_real_time (), own + 1);
      epoch.random = own_id;
      save_state (self, own_id, epoch.time, 0);
    }

  self->unreadable_reported_at = 0;
  confab_channel_set_key (confab_conversation_get_channel (self), key, epoch, closed);

  g_object_freeze_notify (G_OBJECT (self));
  g_object_notify_by_pspec (G_OBJECT (self), confab_conversation_properties[PROP_ENCRYPTED]);
  g_object_notify_by_pspec (G_OBJECT (self), confab_conversation_properties[PROP_SAFETY_CODE]);
  g_object_thaw_notify (G_OBJECT (self));
}

/* While a key is being made, nothing leaves: it would leave unsealed. */
static void
hold_for_key (ConfabConversation *self,
              gboolean            hold)
{
  if (self->holding_for_key == hold)
    return;

  self->holding_for_key = hold;
  if (hold)
    confab_conversation_hold_sending (self);
  else
    confab_conversation_release_sending (self);
}

static void
set_key_error (ConfabConversation *self,
               const char         *error)
{
  if (g_strcmp0 (self->key_error, error) == 0)
    return;

  g_free (self->key_error);
  self->key_error = g_strdup (error);
  g_object_notify_by_pspec (G_OBJECT (self), confab_conversation_properties[PROP_KEY_ERROR]);
}

static void
set_deriving (ConfabConversation *self,
              GCancellable       *cancellable)
{
  if (self->derive_cancellable != NULL)
    g_cancellable_cancel (self->derive_cancellable);
  g_clear_object (&self->derive_cancellable);
  self->derive_cancellable = cancellable != NULL ? g_object_ref (cancellable) : NULL;
  g_object_notify_by_pspec (G_OBJECT (self), confab_conversation_properties[PROP_DERIVING]);
}

/* No reference is held on @user_data: a conversation cancels its
 * derivation when disposed, and a cancelled one touches nothing.
 */
static void
derive_cb (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  ConfabConversation *self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(ConfabKey) key = NULL;

  if (g_cancellable_is_cancelled (g_task_get_cancellable (G_TASK (result))))
    return;

  key = confab_key_derive_finish (result, &error);
  g_clear_object (&self->derive_cancellable);
  g_object_notify_by_pspec (G_OBJECT (self), confab_conversation_properties[PROP_DERIVING]);

  if (key == NULL)
    {
      /* Messages keep waiting: the person asked for them to be sealed. */
      g_message ("No key from the passphrase: %s", error->message);
      set_key_error (self, error->message);
      return;
    }

  set_key_error (self, NULL);
  set_key (self, key);
  hold_for_key (self, FALSE);
}

/**
 * confab_conversation_set_passphrase:
 * @passphrase: (nullable): the passphrase both sides use; %NULL or "" for none
 *
 * Derives the key in a worker thread; #ConfabConversation:encrypted turns
 * on once it is ready. Messages sent meanwhile wait and then go out sealed.
 */
void
confab_conversation_set_passphrase (ConfabConversation *self,
                                    const char         *passphrase)
{
  g_autoptr(GCancellable) cancellable = NULL;

  g_return_if_fail (CONFAB_IS_CONVERSATION (self));

  set_key_error (self, NULL);

  if (passphrase == NULL || passphrase[0] == '\0')
    {
      set_deriving (self, NULL);
      set_key (self, NULL);
      hold_for_key (self, FALSE);
      return;
    }

  cancellable = g_cancellable_new ();
  set_deriving (self, cancellable);
  hold_for_key (self, TRUE);
  confab_key_derive_async (passphrase, cancellable, derive_cb, self);
}

gboolean
confab_conversation_get_encrypted (ConfabConversation *self)
{
  g_return_val_if_fail (CONFAB_IS_CONVERSATION (self), FALSE);

  return self->key != NULL;
}

gboolean
confab_conversation_get_deriving (ConfabConversation *self)
{
  g_return_val_if_fail (CONFAB_IS_CONVERSATION (self), FALSE);

  return self->derive_cancellable != NULL;
}

/**
 * confab_conversation_get_safety_code:
 *
 * Returns: (nullable): see #ConfabConversation:safety-code
 */
const char *
confab_conversation_get_safety_code (ConfabConversation *self)
{
  g_return_val_if_fail (CONFAB_IS_CONVERSATION (self), NULL);

  return self->safety_code;
}

/**
 * confab_conversation_set_crypto_state_path:
 * @path: (nullable): where epoch times are kept between runs
 */
void
confab_conversation_set_crypto_state_path (ConfabConversation *self,
                                           const char         *path)
{
  g_return_if_fail (CONFAB_IS_CONVERSATION (self));

  g_free (self->crypto_state_path);
  self->crypto_state_path = g_strdup (path);
}

void
confab_conversation_crypto_init (ConfabConversation *self)
{
  ConfabChannel *channel = confab_conversation_get_channel (self);

  g_signal_connect_object (channel, "own-epoch", G_CALLBACK (on_own_epoch), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (channel, "peer-epoch", G_CALLBACK (on_peer_epoch), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (channel, "unreadable", G_CALLBACK (on_unreadable), self,
                           G_CONNECT_SWAPPED);
}

void
confab_conversation_crypto_dispose (ConfabConversation *self)
{
  if (self->derive_cancellable != NULL)
    g_cancellable_cancel (self->derive_cancellable);
  g_clear_object (&self->derive_cancellable);
}

const char *
confab_conversation_get_key_error (ConfabConversation *self)
{
  g_return_val_if_fail (CONFAB_IS_CONVERSATION (self), NULL);

  return self->key_error;
}

void
confab_conversation_crypto_finalize (ConfabConversation *self)
{
  g_clear_pointer (&self->key_error, g_free);
  g_clear_pointer (&self->key, confab_key_unref);
  g_clear_pointer (&self->safety_code, g_free);
  g_clear_pointer (&self->crypto_state_path, g_free);
}
