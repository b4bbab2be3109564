/* confab-conversation.c — the list of messages with one peer, joined to the channel
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "confab-conversation"

#include "config.h"

#include <glib/gi18n-lib.h>

#include "confab-conversation-private.h"
#include "confab-utf8.h"
#include "confab-wire.h"

static void list_model_iface_init (GListModelInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (ConfabConversation, confab_conversation, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_LIST_MODEL, list_model_iface_init))

GParamSpec *confab_conversation_properties[N_PROPS];
guint confab_conversation_signals[N_SIGNALS];

#define properties confab_conversation_properties
#define signals confab_conversation_signals

typedef struct
{
  ConfabConversation *self;
  ConfabMessage      *message;
} SendData;

static void
send_data_free (SendData *data)
{
  g_clear_object (&data->self);
  g_clear_object (&data->message);
  g_free (data);
}

static void
track (ConfabConversation *self,
       ConfabMessage      *message)
{
  ConfabMessageId *id = g_new (ConfabMessageId, 1);

  id->origin = confab_message_get_origin (message);
  id->number = confab_message_get_number (message);
  g_hash_table_replace (self->in_flight, id, g_object_ref (message));
}

/* Returns (transfer full) the message with that id, no longer tracked. */
static ConfabMessage *
untrack (ConfabConversation *self,
         guint64             origin,
         guint64             number)
{
  ConfabMessageId id = { origin, number };
  gpointer key = NULL;
  gpointer message = NULL;

  if (!g_hash_table_steal_extended (self->in_flight, &id, &key, &message))
    return NULL;

  g_free (key);
  return message;
}

static GType
confab_conversation_get_item_type (GListModel *model)
{
  return CONFAB_TYPE_MESSAGE;
}

static guint
confab_conversation_get_n_items (GListModel *model)
{
  return CONFAB_CONVERSATION (model)->published;
}

static gpointer
confab_conversation_get_item (GListModel *model,
                              guint       position)
{
  ConfabConversation *self = CONFAB_CONVERSATION (model);

  if (position >= self->published)
    return NULL;

  return g_object_ref (g_ptr_array_index (self->messages, position));
}

static void
list_model_iface_init (GListModelInterface *iface)
{
  iface->get_item_type = confab_conversation_get_item_type;
  iface->get_n_items = confab_conversation_get_n_items;
  iface->get_item = confab_conversation_get_item;
}

/* A view lays out a row for each message it is given, and GTK 4.8's list
 * keeps up to 200 rows: hundreds of new messages stall the main loop for
 * the time it takes to lay out 200. Up to PUBLISH_FEW messages in each
 * PUBLISH_FEW_INTERVAL show at once; beyond that, what came meanwhile shows
 * at most every PUBLISH_BURST_INTERVAL, so that a flood leaves the window
 * responsive in between. A view that follows the newest is given no more
 * than CONFAB_CONVERSATION_APPEND_MAX at a time (see publish()).
 */
#define PUBLISH_FEW 16
#define PUBLISH_FEW_INTERVAL_USEC (100 * 1000)
#define PUBLISH_BURST_INTERVAL_USEC (2 * G_USEC_PER_SEC)

/* How many messages the list holds while a view follows the newest and the
 * history keeps the rest: from LOADED_MAX it is cut to LOADED_KEEP.
 */
#define LOADED_MAX 2000
#define LOADED_KEEP 1000
/* While no view follows the newest, the list stops growing at this; what
 * comes after is in the history only (see leave_newest_stored()).
 */
#define UNFOLLOWED_MAX (2 * LOADED_MAX)

static gboolean
history_keeps (ConfabConversation *self)
{
  return self->history != NULL && confab_history_get_failure (self->history) == NULL;
}

static gboolean
may_forget (ConfabConversation *self)
{
  return self->follow_newest && history_keeps (self);
}

/* Returns: how many of the @count messages from @from on are in the
 *   history, up to the first that is not
 */
static guint
stored_run (ConfabConversation *self,
            guint               from,
            guint               count)
{
  for (guint i = 0; i < count; i++)
    if (confab_message_get_history_id (g_ptr_array_index (self->messages, from + i)) == 0)
      return i;

  return count;
}

/* Drops up to @count messages from @from on, as far as each is in the
 * history to be read back (always fewer than all). @incoming, if given,
 * is increased by how many of them came from the peer.
 *
 * Returns: how many
 */
static guint
forget (ConfabConversation *self,
        guint               from,
        guint               count,
        guint64            *incoming)
{
  count = stored_run (self, from, count);
  for (guint i = 0; incoming != NULL && i < count; i++)
    if (confab_message_get_direction (g_ptr_array_index (self->messages, from + i)) ==
        CONFAB_DIRECTION_INCOMING)
      (*incoming)++;

  g_ptr_array_remove_range (self->messages, from, count);
  return count;
}

/* Drops what waits to be shown down to the newest @keep, as far as the
 * history keeps them; the list is then cut to follow on from what is left
 * (see cut_to_newest()).
 */
static void
skip_waiting (ConfabConversation *self,
              guint               keep)
{
  guint waiting = self->messages->len - self->published;

  if (may_forget (self) && waiting > keep &&
      forget (self, self->published, waiting - keep, &self->n_skipped) > 0)
    self->gap = TRUE;
}

/* Cuts the list to the newest: all that was shown before @shown, if some
 * that came after it were dropped while waiting, or else the oldest beyond
 * LOADED_KEEP. Done after the newest were added, so that a view following
 * them has moved on and the rows that go are out of its sight.
 */
static void
cut_to_newest (ConfabConversation *self,
               guint               shown)
{
  guint cut;

  if (!may_forget (self) || (!self->gap && self->messages->len <= LOADED_MAX))
    return;

  cut = forget (self, 0, self->gap ? shown : self->messages->len - LOADED_KEEP, NULL);
  self->gap = FALSE;
  if (cut == 0)
    return;

  self->published -= cut;
  self->oldest_loaded = confab_message_get_history_id (g_ptr_array_index (self->messages, 0));
  confab_conversation_set_has_older (self, TRUE);
  /* The new first message has nothing before it now (a view shows its day
   * and group by what precedes it).
   */
  g_list_model_items_changed (G_LIST_MODEL (self), 0, cut + 1, 1);
}

static void
publish (ConfabConversation *self)
{
  guint shown = self->published;

  g_clear_handle_id (&self->publish_id, g_source_remove);
  skip_waiting (self, CONFAB_CONVERSATION_APPEND_MAX);
  if (self->messages->len == shown)
    return;

  self->published = self->messages->len;
  self->published_recently += self->published - shown;
  g_list_model_items_changed (G_LIST_MODEL (self), shown, 0, self->published - shown);
  cut_to_newest (self, shown);
}

static gboolean
publish_cb (gpointer user_data)
{
  ConfabConversation *self = user_data;
  guint waiting = self->messages->len - self->published;
  gint64 now = g_get_monotonic_time ();
  gint64 burst_due = self->burst_published_at + PUBLISH_BURST_INTERVAL_USEC;

  self->publish_id = 0;
  if (now - self->recent_since >= PUBLISH_FEW_INTERVAL_USEC)
    {
      self->recent_since = now;
      self->published_recently = 0;
    }

  if (self->published_recently + waiting > PUBLISH_FEW)
    {
      if (now < burst_due)
        {
          self->publish_id = g_timeout_add_full (G_PRIORITY_DEFAULT, (burst_due - now) / 1000 + 1,
                                                 publish_cb, self, NULL);
          return G_SOURCE_REMOVE;
        }
      self->burst_published_at = now;
    }

  publish (self);

  return G_SOURCE_REMOVE;
}

/* No view follows the newest, and the list has grown past UNFOLLOWED_MAX:
 * the newest that wait to be shown beyond it are dropped, all being in the
 * history, and from now on new messages stay in the history only, until a
 * view follows again (see confab_conversation_show_newest()).
 */
static void
leave_newest_stored (ConfabConversation *self)
{
  guint from = MAX (self->published, UNFOLLOWED_MAX);
  guint count = self->messages->len - from;

  if (stored_run (self, from, count) < count)
    return;

  forget (self, from, count, &self->n_skipped);
  self->newer_stored = TRUE;
}

/* Something the person did shows at once; what arrives, per batch. */
static void
confab_conversation_append (ConfabConversation *self,
                            ConfabMessage      *message,
                            gboolean            at_once)
{
  if (self->newer_stored)
    {
      /* What arrives joins the newer ones in the history; what the history
       * failed to keep shows after them.
       */
      if (confab_message_get_history_id (message) != 0)
        {
          if (confab_message_get_direction (message) == CONFAB_DIRECTION_INCOMING)
            self->n_skipped++;
          return;
        }
      confab_conversation_show_newest (self);
    }

  g_ptr_array_add (self->messages, g_object_ref (message));

  /* Under a flood, what waits to be shown is cut to the newest. */
  if (self->messages->len - self->published > LOADED_MAX)
    skip_waiting (self, LOADED_KEEP);
  if (!at_once && !self->follow_newest && self->messages->len > UNFOLLOWED_MAX &&
      history_keeps (self))
    leave_newest_stored (self);

  if (at_once)
    publish (self);
  else if (self->publish_id == 0)
    self->publish_id = g_idle_add_full (G_PRIORITY_DEFAULT, publish_cb, self, NULL);
}

/* A message from the peer: stored with the dispatch's batch (on disk at
 * ::batch-end, before the channel acknowledges it) and shown with the batch.
 */
static void
receive (ConfabConversation *self,
         ConfabMessage      *message)
{
  confab_message_set_peer (message, confab_conversation_get_peer_host (self),
                           confab_conversation_get_peer_port (self));
  confab_message_set_received_time (message, g_get_real_time ());
  if (confab_conversation_store (self, message))
    confab_conversation_append (self, message, FALSE);
}

/* A classic peer (nc, a script) ends each line with a newline; the row
 * should not show it as an empty line.
 */
static char *
strip_line_end (const char *text)
{
  gsize len = strlen (text);

  if (len > 0 && text[len - 1] == '\n')
    len--;
  if (len > 0 && text[len - 1] == '\r')
    len--;

  return g_strndup (text, len);
}

static void
on_channel_received (ConfabConversation *self,
                     const char         *text,
                     ConfabChannel      *channel)
{
  g_autoptr(ConfabMessage) message = NULL;
  g_autofree char *line = strip_line_end (text);

  if (line[0] == '\0')
    return;

  message = confab_message_new (CONFAB_DIRECTION_INCOMING,
                                confab_conversation_get_peer_host (self), line, NULL);
  confab_message_set_plain (message, TRUE);
  receive (self, message);
}

static void
on_channel_message (ConfabConversation   *self,
                    const ConfabIncoming *incoming,
                    ConfabChannel        *channel)
{
  g_autoptr(ConfabMessage) message = NULL;
  const char *sender = incoming->nick[0] != '\0' ? incoming->nick
                                                : confab_conversation_get_peer_host (self);

  message = confab_message_new_at (CONFAB_DIRECTION_INCOMING, sender, incoming->text,
                                   incoming->time);
  confab_message_set_id (message, incoming->origin, incoming->number);
  receive (self, message);
}

static void
on_channel_delivered (ConfabConversation *self,
                      guint64             origin,
                      guint64             number,
                      ConfabChannel      *channel)
{
  g_autoptr(ConfabMessage) message = untrack (self, origin, number);

  if (message == NULL)
    return;

  confab_message_set_error (message, NULL);
  confab_message_set_delivered_time (message, g_get_real_time ());
  confab_message_set_state (message, CONFAB_MESSAGE_STATE_DELIVERED);
  confab_conversation_remember (self, message);
}

/* Adds the message being sent to the list (see confab_conversation_send()). */
static void
list_sent (ConfabConversation *self)
{
  ConfabMessage *message = g_steal_pointer (&self->unlisted);

  confab_conversation_append (self, message, TRUE);
}

static void
fail (ConfabConversation *self,
      ConfabMessage      *message,
      const char         *reason)
{
  confab_message_set_error (message, reason);
  confab_message_set_state (message, CONFAB_MESSAGE_STATE_FAILED);
  confab_conversation_remember (self, message);
  if (message == self->unlisted)
    list_sent (self);
  g_signal_emit (self, signals[SEND_FAILED], 0, message, reason);
}

static void
on_channel_failed (ConfabConversation *self,
                   guint64             origin,
                   guint64             number,
                   const char         *reason,
                   ConfabChannel      *channel)
{
  g_autoptr(ConfabMessage) message = untrack (self, origin, number);

  if (message != NULL)
    fail (self, message, reason);
}

/* The peer is the channel's; the conversation only passes on its changes. */
static void
forward_notify (ConfabConversation *self,
                GParamSpec         *pspec,
                ConfabChannel      *channel)
{
  g_object_notify_by_pspec (G_OBJECT (self),
                            properties[g_str_equal (pspec->name, "peer-host") ? PROP_PEER_HOST
                                                                              : PROP_PEER_PORT]);
}

static void
confab_conversation_dispose (GObject *object)
{
  ConfabConversation *self = (ConfabConversation *)object;

  g_clear_handle_id (&self->publish_id, g_source_remove);
  g_clear_handle_id (&self->show_newest_id, g_source_remove);
  g_clear_handle_id (&self->commit_outgoing_id, g_source_remove);
  confab_conversation_crypto_dispose (self);
  if (self->history != NULL)
    g_signal_handlers_disconnect_by_data (self->history, self);
  g_clear_object (&self->history);
  if (self->channel != NULL)
    g_signal_handlers_disconnect_by_data (self->channel, self);
  g_clear_object (&self->channel);
  if (self->messages != NULL)
    g_ptr_array_set_size (self->messages, 0);
  self->published = 0;
  if (self->in_flight != NULL)
    g_hash_table_remove_all (self->in_flight);

  G_OBJECT_CLASS (confab_conversation_parent_class)->dispose (object);
}

static void
confab_conversation_finalize (GObject *object)
{
  ConfabConversation *self = (ConfabConversation *)object;

  g_clear_pointer (&self->messages, g_ptr_array_unref);
  g_clear_pointer (&self->held, g_ptr_array_unref);
  g_clear_pointer (&self->in_flight, g_hash_table_unref);
  g_clear_pointer (&self->nickname, g_free);
  g_clear_error (&self->bind_error);
  g_clear_error (&self->history_problem);
  g_clear_pointer (&self->history_path, g_free);
  confab_conversation_crypto_finalize (self);

  G_OBJECT_CLASS (confab_conversation_parent_class)->finalize (object);
}

static void
confab_conversation_get_property (GObject    *object,
                                  guint       prop_id,
                                  GValue     *value,
                                  GParamSpec *pspec)
{
  ConfabConversation *self = CONFAB_CONVERSATION (object);

  switch (prop_id)
    {
    case PROP_NICKNAME:
      g_value_set_string (value, confab_conversation_get_nickname (self));
      break;

    case PROP_PEER_HOST:
      g_value_set_string (value, confab_conversation_get_peer_host (self));
      break;

    case PROP_PEER_PORT:
      g_value_set_uint (value, confab_conversation_get_peer_port (self));
      break;

    case PROP_LOCAL_PORT:
      g_value_set_uint (value, self->local_port);
      break;

    case PROP_BIND_ERROR:
      g_value_set_boxed (value, self->bind_error);
      break;

    case PROP_PLAIN_TEXT:
      g_value_set_boolean (value, self->plain_text);
      break;

    case PROP_KEEP_HISTORY:
      g_value_set_boolean (value, self->keep_history);
      break;

    case PROP_HISTORY_PROBLEM:
      g_value_set_boxed (value, self->history_problem);
      break;

    case PROP_HAS_OLDER:
      g_value_set_boolean (value, self->has_older);
      break;

    case PROP_ENCRYPTED:
      g_value_set_boolean (value, self->key != NULL);
      break;

    case PROP_DERIVING:
      g_value_set_boolean (value, self->derive_cancellable != NULL);
      break;

    case PROP_SAFETY_CODE:
      g_value_set_string (value, self->safety_code);
      break;

    case PROP_KEY_ERROR:
      g_value_set_string (value, self->key_error);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
confab_conversation_set_property (GObject      *object,
                                  guint         prop_id,
                                  const GValue *value,
                                  GParamSpec   *pspec)
{
  ConfabConversation *self = CONFAB_CONVERSATION (object);

  switch (prop_id)
    {
    case PROP_NICKNAME:
      confab_conversation_set_nickname (self, g_value_get_string (value));
      break;

    case PROP_PLAIN_TEXT:
      confab_conversation_set_plain_text (self, g_value_get_boolean (value));
      break;

    case PROP_KEEP_HISTORY:
      confab_conversation_set_keep_history (self, g_value_get_boolean (value));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
confab_conversation_class_init (ConfabConversationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = confab_conversation_dispose;
  object_class->finalize = confab_conversation_finalize;
  object_class->get_property = confab_conversation_get_property;
  object_class->set_property = confab_conversation_set_property;

  properties[PROP_NICKNAME] =
    g_param_spec_string ("nickname", NULL, NULL,
                         NULL,
                         (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  properties[PROP_PEER_HOST] =
    g_param_spec_string ("peer-host", NULL, NULL,
                         NULL,
                         (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  properties[PROP_PEER_PORT] =
    g_param_spec_uint ("peer-port", NULL, NULL,
                       0, G_MAXUINT16, 0,
                       (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  properties[PROP_LOCAL_PORT] =
    g_param_spec_uint ("local-port", NULL, NULL,
                       0, G_MAXUINT16, 0,
                       (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  properties[PROP_BIND_ERROR] =
    g_param_spec_boxed ("bind-error", NULL, NULL,
                        G_TYPE_ERROR,
                        (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  properties[PROP_PLAIN_TEXT] =
    g_param_spec_boolean ("plain-text", NULL, NULL,
                          FALSE,
                          (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  properties[PROP_KEEP_HISTORY] =
    g_param_spec_boolean ("keep-history", NULL, NULL,
                          TRUE,
                          (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * ConfabConversation:history-problem:
   *
   * Why the history is not kept as asked, or what happened to it: a
   * #CONFAB_HISTORY_ERROR. %CONFAB_HISTORY_ERROR_CORRUPT means a damaged file
   * was moved aside (the message says where) and history goes on in a new
   * one; any other code means messages now live in memory only.
   */
  properties[PROP_HISTORY_PROBLEM] =
    g_param_spec_boxed ("history-problem", NULL, NULL,
                        G_TYPE_ERROR,
                        (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  properties[PROP_HAS_OLDER] =
    g_param_spec_boolean ("has-older", NULL, NULL,
                          FALSE,
                          (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * ConfabConversation:encrypted:
   *
   * Whether messages travel sealed under a shared passphrase. Bare text is
   * then neither sent nor shown, whatever #ConfabConversation:plain-text says.
   */
  properties[PROP_ENCRYPTED] =
    g_param_spec_boolean ("encrypted", NULL, NULL,
                          FALSE,
                          (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * ConfabConversation:deriving:
   *
   * Whether a passphrase's key is being derived (in a worker thread).
   */
  properties[PROP_DERIVING] =
    g_param_spec_boolean ("deriving", NULL, NULL,
                          FALSE,
                          (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * ConfabConversation:safety-code:
   *
   * Twelve digits from the key, the same on both computers exactly when the
   * passphrases match; %NULL without a passphrase.
   */
  properties[PROP_SAFETY_CODE] =
    g_param_spec_string ("safety-code", NULL, NULL,
                         NULL,
                         (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * ConfabConversation:key-error:
   *
   * Why no key could be made from the passphrase; messages then wait.
   */
  properties[PROP_KEY_ERROR] =
    g_param_spec_string ("key-error", NULL, NULL,
                         NULL,
                         (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * ConfabConversation::unreadable:
   * @host: the peer's host
   *
   * Datagrams from the peer could not be read: most likely the passphrases
   * differ. Emitted at most once a minute.
   */
  signals[UNREADABLE] =
    g_signal_new ("unreadable",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_STRING);

  /**
   * ConfabConversation::send-failed:
   * @message: the message that could not be sent
   * @error: why, in words for the person
   *
   * The message stays in the list, marked failed, with its text.
   */
  signals[SEND_FAILED] =
    g_signal_new ("send-failed",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, CONFAB_TYPE_MESSAGE, G_TYPE_STRING);
}

static void
confab_conversation_init (ConfabConversation *self)
{
  self->keep_history = TRUE;
  self->held = g_ptr_array_new_with_free_func (g_object_unref);
  self->messages = g_ptr_array_new_with_free_func (g_object_unref);
  self->in_flight = g_hash_table_new_full (confab_message_id_hash, confab_message_id_equal,
                                           g_free, g_object_unref);
  self->channel = confab_channel_new ();
  g_signal_connect_object (self->channel, "received",
                           G_CALLBACK (on_channel_received), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->channel, "notify::peer-host",
                           G_CALLBACK (forward_notify), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->channel, "notify::peer-port",
                           G_CALLBACK (forward_notify), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->channel, "message",
                           G_CALLBACK (on_channel_message), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->channel, "delivered",
                           G_CALLBACK (on_channel_delivered), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->channel, "failed",
                           G_CALLBACK (on_channel_failed), self,
                           G_CONNECT_SWAPPED);
  confab_conversation_history_init (self);
  confab_conversation_crypto_init (self);
}

ConfabConversation *
confab_conversation_new (void)
{
  return g_object_new (CONFAB_TYPE_CONVERSATION, NULL);
}

ConfabChannel *
confab_conversation_get_channel (ConfabConversation *self)
{
  g_return_val_if_fail (CONFAB_IS_CONVERSATION (self), NULL);

  return self->channel;
}

/**
 * confab_conversation_get_nickname:
 *
 * Returns: the name my messages carry: the one set, or else my real name
 */
const char *
confab_conversation_get_nickname (ConfabConversation *self)
{
  g_return_val_if_fail (CONFAB_IS_CONVERSATION (self), NULL);

  return self->nickname != NULL ? self->nickname : confab_default_nickname ();
}

/**
 * confab_default_nickname:
 *
 * Returns: the name used when none is set: the real name, else the login name
 */
const char *
confab_default_nickname (void)
{
  const char *name = g_get_real_name ();

  if (name == NULL || name[0] == '\0' || g_str_equal (name, "Unknown"))
    name = g_get_user_name ();

  return name;
}

void
confab_conversation_set_nickname (ConfabConversation *self,
                                  const char         *nickname)
{
  g_autofree char *stripped = NULL;

  g_return_if_fail (CONFAB_IS_CONVERSATION (self));

  if (nickname != NULL)
    stripped = g_strstrip (g_strdup (nickname));
  if (stripped != NULL && stripped[0] == '\0')
    g_clear_pointer (&stripped, g_free);

  if (g_strcmp0 (stripped, self->nickname) == 0)
    return;

  g_free (self->nickname);
  self->nickname = g_steal_pointer (&stripped);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_NICKNAME]);
}

const char *
confab_conversation_get_peer_host (ConfabConversation *self)
{
  g_return_val_if_fail (CONFAB_IS_CONVERSATION (self), NULL);

  return confab_channel_get_peer_host (self->channel) != NULL
         ? confab_channel_get_peer_host (self->channel) : "";
}

guint16
confab_conversation_get_peer_port (ConfabConversation *self)
{
  g_return_val_if_fail (CONFAB_IS_CONVERSATION (self), 0);

  return confab_channel_get_peer_port (self->channel);
}

/**
 * confab_conversation_set_peer:
 * @host: (nullable): host name or address literal; %NULL or "" for no peer
 * @port: the peer's UDP port
 *
 * The next message goes to the new peer; only datagrams from it are shown.
 */
void
confab_conversation_set_peer (ConfabConversation *self,
                              const char         *host,
                              guint16             port)
{
  g_autofree char *stripped = NULL;

  g_return_if_fail (CONFAB_IS_CONVERSATION (self));

  stripped = g_strstrip (g_strdup (host != NULL ? host : ""));
  confab_channel_set_peer (self->channel, stripped, port);
}

guint16
confab_conversation_get_local_port (ConfabConversation *self)
{
  g_return_val_if_fail (CONFAB_IS_CONVERSATION (self), 0);

  return self->local_port;
}

/**
 * confab_conversation_set_local_port:
 * @port: the UDP port to receive on; 0 picks a free one
 *
 * Rebinds the socket at once. On failure the conversation keeps no socket
 * and #ConfabConversation:bind-error says why; setting a port again retries.
 *
 * Returns: %TRUE if the socket is bound
 */
gboolean
confab_conversation_set_local_port (ConfabConversation *self,
                                    guint16             port)
{
  g_autoptr(GError) error = NULL;
  gboolean was_failed;
  guint16 bound_port;

  g_return_val_if_fail (CONFAB_IS_CONVERSATION (self), FALSE);

  was_failed = self->bind_error != NULL;
  if (!was_failed && confab_channel_is_bound (self->channel) && port != 0 &&
      port == self->local_port)
    return TRUE;

  g_object_freeze_notify (G_OBJECT (self));

  confab_channel_bind (self->channel, NULL, port, &error);
  bound_port = error == NULL ? confab_channel_get_local_port (self->channel) : port;

  if (bound_port != self->local_port)
    {
      self->local_port = bound_port;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LOCAL_PORT]);
    }

  if (error != NULL || was_failed)
    {
      g_clear_error (&self->bind_error);
      self->bind_error = g_steal_pointer (&error);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BIND_ERROR]);
    }

  g_object_thaw_notify (G_OBJECT (self));

  return self->bind_error == NULL;
}

/**
 * confab_conversation_get_bind_error:
 *
 * Returns: (nullable): why the local port could not be bound
 */
const GError *
confab_conversation_get_bind_error (ConfabConversation *self)
{
  g_return_val_if_fail (CONFAB_IS_CONVERSATION (self), NULL);

  return self->bind_error;
}

static void
send_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  SendData *data = user_data;
  g_autoptr(GError) error = NULL;

  if (confab_channel_send_finish (CONFAB_CHANNEL (object), result, &error))
    {
      confab_message_set_error (data->message, NULL);
      confab_message_set_state (data->message, CONFAB_MESSAGE_STATE_SENT);
      confab_conversation_remember (data->self, data->message);
    }
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      /* The conversation is going away: nobody to tell. */
      confab_message_set_error (data->message, error->message);
      confab_message_set_state (data->message, CONFAB_MESSAGE_STATE_FAILED);
    }
  else
    {
      g_debug ("Sending failed: %s", error->message);
      fail (data->self, data->message, error->message);
    }

  send_data_free (data);
}

static void
transmit_plain (ConfabConversation *self,
                ConfabMessage      *message)
{
  SendData *data = g_new0 (SendData, 1);

  data->self = g_object_ref (self);
  data->message = g_object_ref (message);
  confab_channel_send_async (self->channel,
                             confab_message_get_text (message),
                             NULL, send_cb, data);
}

static void
transmit_reliable (ConfabConversation *self,
                   ConfabMessage      *message)
{
  g_autoptr(GError) error = NULL;
  guint64 origin = confab_message_get_origin (message);
  guint64 number = confab_message_get_number (message);
  gint64 time = confab_message_get_time_usec (message);

  if (!confab_channel_send_message (self->channel, &origin, &number, time,
                                    confab_message_get_sender (message),
                                    confab_message_get_text (message), &error))
    {
      fail (self, message, error->message);
      return;
    }

  if (origin != confab_message_get_origin (message) || number != confab_message_get_number (message))
    {
      confab_message_set_id (message, origin, number);
      confab_conversation_remember_id (self, message);
    }
  track (self, message);
}

/* Bare text only to a plain-text peer, and never under a passphrase */
static gboolean
sends_plain (ConfabConversation *self)
{
  return self->plain_text && self->key == NULL;
}

/* Sends in the mode set now: a message that failed as plain text may be
 * retried through the protocol after the person changed the setting.
 */
void
confab_conversation_transmit (ConfabConversation *self,
                              ConfabMessage      *message)
{
  gboolean plain = sends_plain (self);

  /* A retried message is stored as being sent at once: should Confab stop
   * before it goes out, the next start sends it.
   */
  if (confab_message_get_state (message) != CONFAB_MESSAGE_STATE_SENDING ||
      confab_message_get_error (message) != NULL)
    {
      confab_message_set_error (message, NULL);
      confab_message_set_state (message, CONFAB_MESSAGE_STATE_SENDING);
      confab_conversation_remember (self, message);
    }

  if (self->hold > 0)
    {
      g_ptr_array_add (self->held, g_object_ref (message));
      return;
    }

  confab_message_set_plain (message, plain);

  if (plain)
    transmit_plain (self, message);
  else
    transmit_reliable (self, message);
}

/**
 * confab_conversation_send:
 * @text: what the person typed, valid UTF-8, not empty
 *
 * Appends the message to the list and sends it. Its state tells how that
 * went; a failure also emits #ConfabConversation::send-failed.
 *
 * Returns: (transfer none): the new message
 */
ConfabMessage *
confab_conversation_send (ConfabConversation *self,
                          const char         *text)
{
  g_autoptr(ConfabMessage) message = NULL;
  gsize length = text != NULL ? strlen (text) : 0;

  g_return_val_if_fail (CONFAB_IS_CONVERSATION (self), NULL);
  g_return_val_if_fail (length > 0, NULL);
  g_return_val_if_fail (confab_utf8_validate (text, length), NULL);
  g_return_val_if_fail (length <= confab_conversation_get_max_length (self), NULL);

  message = confab_message_new (CONFAB_DIRECTION_OUTGOING,
                                confab_conversation_get_nickname (self),
                                text, NULL);
  confab_message_set_peer (message, confab_conversation_get_peer_host (self),
                           confab_conversation_get_peer_port (self));
  confab_message_set_plain (message, sends_plain (self));
  if (!sends_plain (self))
    {
      guint64 origin, number;

      confab_channel_new_message_id (self->channel, &origin, &number);
      confab_message_set_id (message, origin, number);
    }

  /* What the person writes shows after the newest, wherever the list was. */
  if (self->newer_stored)
    confab_conversation_show_newest (self);

  /* On disk, with its id, before it can reach the peer; on its way before
   * a view lays out its row.
   */
  confab_conversation_store_outgoing (self, message);
  self->unlisted = message;
  confab_conversation_transmit (self, message);
  if (self->unlisted == message)
    list_sent (self);

  return message;
}

/**
 * confab_conversation_retry:
 * @message: a failed message of this conversation
 *
 * Sends it again, to the peer configured now.
 */
void
confab_conversation_retry (ConfabConversation *self,
                           ConfabMessage      *message)
{
  g_return_if_fail (CONFAB_IS_CONVERSATION (self));
  g_return_if_fail (CONFAB_IS_MESSAGE (message));
  g_return_if_fail (confab_message_get_direction (message) == CONFAB_DIRECTION_OUTGOING);

  if (confab_message_get_state (message) != CONFAB_MESSAGE_STATE_FAILED)
    return;

  confab_conversation_transmit (self, message);
}

gboolean
confab_conversation_get_plain_text (ConfabConversation *self)
{
  g_return_val_if_fail (CONFAB_IS_CONVERSATION (self), FALSE);

  return self->plain_text;
}

/**
 * confab_conversation_set_plain_text:
 * @plain_text: %TRUE to send bare text datagrams, for netcat and scripts
 *
 * Plain text has no receipts and no retransmission; messages then end
 * %CONFAB_MESSAGE_STATE_SENT rather than delivered.
 */
void
confab_conversation_set_plain_text (ConfabConversation *self,
                                    gboolean            plain_text)
{
  g_return_if_fail (CONFAB_IS_CONVERSATION (self));

  plain_text = !!plain_text;
  if (self->plain_text == plain_text)
    return;

  self->plain_text = plain_text;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PLAIN_TEXT]);
}

/**
 * confab_conversation_get_max_length:
 *
 * Returns: the longest text, in bytes, that one message can carry in the
 *   current mode: one UDP datagram as plain text, 64 KiB otherwise
 */
gsize
confab_conversation_get_max_length (ConfabConversation *self)
{
  g_return_val_if_fail (CONFAB_IS_CONVERSATION (self), 0);

  return sends_plain (self) ? CONFAB_PLAIN_MAX_LENGTH : CONFAB_WIRE_MAX_TEXT;
}

/**
 * confab_conversation_hold_sending:
 *
 * Messages sent from now on wait, shown as sending, until as many
 * confab_conversation_release_sending() calls: for while a passphrase may
 * still come (the keyring has not answered), so that nothing leaves
 * unsealed.
 */
void
confab_conversation_hold_sending (ConfabConversation *self)
{
  g_return_if_fail (CONFAB_IS_CONVERSATION (self));

  self->hold++;
}

void
confab_conversation_release_sending (ConfabConversation *self)
{
  g_autoptr(GPtrArray) held = NULL;

  g_return_if_fail (CONFAB_IS_CONVERSATION (self));
  g_return_if_fail (self->hold > 0);

  if (--self->hold > 0 || self->held->len == 0)
    return;

  held = g_steal_pointer (&self->held);
  self->held = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < held->len; i++)
    confab_conversation_transmit (self, g_ptr_array_index (held, i));
}

/**
 * confab_conversation_set_follow_newest:
 * @follow: %TRUE while a view shows the newest messages
 *
 * While set, and while the history keeps them, the list holds only the
 * newest thousand or two messages; older ones are read back as the view scrolls
 * up (see confab_conversation_load_older()). A flood of messages then takes
 * no more memory than a long conversation. New messages are added at most
 * %CONFAB_CONVERSATION_APPEND_MAX at a time (see
 * confab_conversation_get_n_skipped()), so that the view lays out few rows.
 */
static gboolean
show_newest_cb (gpointer user_data)
{
  ConfabConversation *self = user_data;

  self->show_newest_id = 0;
  if (self->follow_newest && self->newer_stored)
    confab_conversation_show_newest (self);

  return G_SOURCE_REMOVE;
}

void
confab_conversation_set_follow_newest (ConfabConversation *self,
                                       gboolean            follow)
{
  g_return_if_fail (CONFAB_IS_CONVERSATION (self));

  self->follow_newest = !!follow;

  /* Not from within the view's own layout */
  if (self->follow_newest && self->newer_stored && self->show_newest_id == 0)
    self->show_newest_id = g_idle_add_full (G_PRIORITY_DEFAULT, show_newest_cb, self, NULL);
}

/**
 * confab_conversation_get_n_skipped:
 *
 * While a view follows the newest (see
 * confab_conversation_set_follow_newest()), more new messages than
 * %CONFAB_CONVERSATION_APPEND_MAX at once are not all added to the list:
 * the list moves on to the newest of them, and the rest are in the history,
 * read back as the view scrolls up.
 *
 * Returns: how many incoming messages were left out of the list so far
 */
guint64
confab_conversation_get_n_skipped (ConfabConversation *self)
{
  g_return_val_if_fail (CONFAB_IS_CONVERSATION (self), 0);

  return self->n_skipped;
}
