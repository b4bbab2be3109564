/* confab-conversation.c — the list of messages with one peer, joined to the channel
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "confab-conversation"

#include "config.h"

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>

#include "confab-conversation-private.h"
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

static void
publish (ConfabConversation *self)
{
  guint added = self->messages->len - self->published;

  g_clear_handle_id (&self->publish_id, g_source_remove);
  if (added == 0)
    return;

  self->published = self->messages->len;
  g_list_model_items_changed (G_LIST_MODEL (self), self->published - added, 0, added);
}

static gboolean
publish_cb (gpointer user_data)
{
  ConfabConversation *self = user_data;

  self->publish_id = 0;
  publish (self);

  return G_SOURCE_REMOVE;
}

/* Something the person did shows at once; what arrives, per batch. */
static void
confab_conversation_append (ConfabConversation *self,
                            ConfabMessage      *message,
                            gboolean            at_once)
{
  g_ptr_array_add (self->messages, g_object_ref (message));

  if (at_once)
    publish (self);
  else if (self->publish_id == 0)
    self->publish_id = g_idle_add_full (G_PRIORITY_DEFAULT, publish_cb, self, NULL);
}

/* History */

static void
set_history_problem (ConfabConversation *self,
                     const GError       *problem)
{
  if (self->history_problem == NULL && problem == NULL)
    return;

  g_clear_error (&self->history_problem);
  self->history_problem = problem != NULL ? g_error_copy (problem) : NULL;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_HISTORY_PROBLEM]);
}

static void
set_has_older (ConfabConversation *self,
               gboolean            has_older)
{
  if (self->has_older == has_older)
    return;

  self->has_older = has_older;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_HAS_OLDER]);
}

/* The history reports its first failed write once; after it messages live
 * in the list only.
 */
static void
on_history_failed (ConfabConversation *self,
                   const GError       *error,
                   ConfabHistory      *history)
{
  set_history_problem (self, error);
}

/* Stores a new message; @now commits at once, for what must be on disk
 * before it goes out. A failure shows as #ConfabConversation:history-problem.
 */
static void
store (ConfabConversation *self,
       ConfabMessage      *message,
       gboolean            now)
{
  if (self->history == NULL)
    return;

  if (confab_history_add (self->history, message, NULL) && now)
    confab_history_commit (self->history, NULL);
}

/* Stores how a stored message's sending went. */
static void
remember (ConfabConversation *self,
          ConfabMessage      *message)
{
  if (self->history != NULL)
    confab_history_update (self->history, message, NULL);
}

static void
on_channel_batch_end (ConfabConversation *self,
                      ConfabChannel      *channel)
{
  /* The channel acknowledges the batch next: it must be on disk first. */
  if (self->history != NULL)
    confab_history_commit (self->history, NULL);
}

/* A message still being sent is one object, wherever it is loaded from. */
static ConfabMessage *
live_message (ConfabConversation *self,
              ConfabMessage      *stored)
{
  ConfabMessageId id = { confab_message_get_origin (stored), confab_message_get_number (stored) };
  ConfabMessage *live;

  if (confab_message_get_direction (stored) != CONFAB_DIRECTION_OUTGOING || id.origin == 0)
    return stored;

  live = g_hash_table_lookup (self->in_flight, &id);
  return live != NULL ? live : stored;
}

static void
prepend_loaded (ConfabConversation *self,
                GPtrArray          *page)
{
  guint n = page->len;
  guint old_len = self->messages->len;

  if (n == 0)
    return;

  g_ptr_array_set_size (self->messages, old_len + n);
  memmove (self->messages->pdata + n, self->messages->pdata, old_len * sizeof (gpointer));
  for (guint i = 0; i < n; i++)
    self->messages->pdata[i] = g_object_ref (live_message (self, g_ptr_array_index (page, i)));

  self->oldest_loaded = confab_message_get_history_id (g_ptr_array_index (page, 0));
  self->published += n;
  g_list_model_items_changed (G_LIST_MODEL (self), 0, 0, n);
}

/**
 * confab_conversation_load_older:
 *
 * Puts the next page of older stored messages at the start of the list.
 *
 * Returns: %TRUE if there were any
 */
gboolean
confab_conversation_load_older (ConfabConversation *self)
{
  g_autoptr(GPtrArray) page = NULL;
  g_autoptr(GError) error = NULL;

  g_return_val_if_fail (CONFAB_IS_CONVERSATION (self), FALSE);

  if (self->history == NULL || !self->has_older)
    return FALSE;

  /* One more than a page, to know whether any are left */
  page = confab_history_load (self->history, self->oldest_loaded, HISTORY_PAGE + 1, &error);
  if (page == NULL)
    {
      g_message ("Older messages cannot be read: %s", error->message);
      set_has_older (self, FALSE);
      set_history_problem (self, error);
      return FALSE;
    }

  set_has_older (self, page->len > HISTORY_PAGE);
  if (page->len > HISTORY_PAGE)
    g_ptr_array_remove_index (page, 0);
  prepend_loaded (self, page);

  return page->len > 0;
}

gboolean
confab_conversation_get_has_older (ConfabConversation *self)
{
  g_return_val_if_fail (CONFAB_IS_CONVERSATION (self), FALSE);

  return self->has_older;
}

static ConfabMessage *
find_loaded (ConfabConversation *self,
             gint64              history_id)
{
  for (guint i = 0; i < self->messages->len; i++)
    {
      ConfabMessage *message = g_ptr_array_index (self->messages, i);

      if (confab_message_get_history_id (message) == history_id)
        return message;
    }

  return NULL;
}

static void confab_conversation_transmit (ConfabConversation *self,
                                          ConfabMessage      *message);

/* What was still being sent when Confab last stopped goes out again under
 * its id, so the peer shows it once. Plain text has no id: it may have gone
 * out already, so the person decides.
 */
static void
resume_outbox (ConfabConversation *self)
{
  g_autoptr(GPtrArray) unsent = confab_history_load_unsent (self->history, NULL);

  for (guint i = 0; unsent != NULL && i < unsent->len; i++)
    {
      ConfabMessage *stored = g_ptr_array_index (unsent, i);
      ConfabMessage *message = find_loaded (self, confab_message_get_history_id (stored));

      if (message == NULL)
        message = stored;

      if (confab_message_get_plain (message))
        {
          confab_message_set_error (message, _("Confab closed before this message was sent"));
          confab_message_set_state (message, CONFAB_MESSAGE_STATE_FAILED);
          remember (self, message);
        }
      else if (g_strcmp0 (confab_message_get_peer_host (message),
                          confab_conversation_get_peer_host (self)) != 0 ||
               confab_message_get_peer_port (message) != confab_conversation_get_peer_port (self))
        {
          /* Written to another peer: the person decides, with Retry. */
          g_autofree char *reason =
            /* Translators: a message's error; %s port %u is the peer it was written to */
            g_strdup_printf (_("Not sent: it was written to %s port %u"),
                             confab_message_get_peer_host (message),
                             confab_message_get_peer_port (message));

          confab_message_set_error (message, reason);
          confab_message_set_state (message, CONFAB_MESSAGE_STATE_FAILED);
          remember (self, message);
        }
      else
        {
          confab_conversation_transmit (self, message);
        }
    }
}

static void
open_history (ConfabConversation *self)
{
  g_autoptr(GError) error = NULL;

  self->history = confab_history_open (self->history_path, &error);
  if (self->history == NULL)
    {
      g_message ("No history is kept: %s", error->message);
      set_history_problem (self, error);
      return;
    }

  g_signal_connect_object (self->history, "failed",
                           G_CALLBACK (on_history_failed), self, G_CONNECT_SWAPPED);
  set_history_problem (self, confab_history_get_recovery (self->history) != NULL
                             ? confab_history_get_recovery (self->history)
                             : confab_history_get_failure (self->history));

  self->oldest_loaded = 0;
  set_has_older (self, TRUE);
  confab_conversation_load_older (self);
  resume_outbox (self);
}

static void
forget_history_ids (ConfabConversation *self)
{
  GHashTableIter iter;
  gpointer message;

  for (guint i = 0; i < self->messages->len; i++)
    confab_message_set_history_id (g_ptr_array_index (self->messages, i), 0);

  g_hash_table_iter_init (&iter, self->in_flight);
  while (g_hash_table_iter_next (&iter, NULL, &message))
    confab_message_set_history_id (message, 0);
}

static void
close_history (ConfabConversation *self,
               gboolean            clear)
{
  if (self->history == NULL)
    return;

  if (clear)
    confab_history_clear (self->history, NULL);

  g_signal_handlers_disconnect_by_data (self->history, self);
  g_clear_object (&self->history);
  forget_history_ids (self);
  self->oldest_loaded = 0;
  set_has_older (self, FALSE);
}

/* History off: the file is emptied, even one left from an earlier run. */
static void
empty_history_file (ConfabConversation *self)
{
  g_autoptr(ConfabHistory) history = NULL;

  if (!g_file_test (self->history_path, G_FILE_TEST_EXISTS))
    return;

  history = confab_history_open (self->history_path, NULL);
  if (history != NULL)
    confab_history_clear (history, NULL);

  /* A damaged file moved aside here would keep what was to be deleted. */
  if (history != NULL && confab_history_get_moved_to (history) != NULL)
    {
      g_autofree char *wal = g_strconcat (confab_history_get_moved_to (history), "-wal", NULL);

      g_unlink (confab_history_get_moved_to (history));
      g_unlink (wal);
    }
}

static void
apply_keep_history (ConfabConversation *self)
{
  if (self->history_path == NULL)
    return;

  if (self->keep_history && self->history == NULL)
    open_history (self);
  else if (!self->keep_history && self->history != NULL)
    close_history (self, TRUE);
  else if (!self->keep_history)
    empty_history_file (self);
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
  confab_message_set_peer (message, confab_conversation_get_peer_host (self),
                           confab_conversation_get_peer_port (self));
  confab_message_set_received_time (message, g_get_real_time ());
  store (self, message, FALSE);
  confab_conversation_append (self, message, FALSE);
}

static void
on_channel_message (ConfabConversation   *self,
                    const ConfabIncoming *incoming,
                    ConfabChannel        *channel)
{
  g_autoptr(ConfabMessage) message = NULL;
  g_autoptr(GDateTime) time = confab_date_time_new_from_usec (incoming->time);
  const char *sender = incoming->nick[0] != '\0' ? incoming->nick
                                                : confab_conversation_get_peer_host (self);

  /* Shown in an earlier run, and resent because its ack was lost then. */
  if (self->history != NULL &&
      confab_history_contains (self->history, CONFAB_DIRECTION_INCOMING,
                               incoming->origin, incoming->number))
    return;

  message = confab_message_new (CONFAB_DIRECTION_INCOMING, sender, incoming->text, time);
  confab_message_set_id (message, incoming->origin, incoming->number);
  confab_message_set_peer (message, confab_conversation_get_peer_host (self),
                           confab_conversation_get_peer_port (self));
  confab_message_set_received_time (message, g_get_real_time ());
  /* Committed at ::batch-end, before the channel acknowledges it. */
  store (self, message, FALSE);
  confab_conversation_append (self, message, FALSE);
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
  remember (self, message);
}

static void
fail (ConfabConversation *self,
      ConfabMessage      *message,
      const char         *reason)
{
  confab_message_set_error (message, reason);
  confab_message_set_state (message, CONFAB_MESSAGE_STATE_FAILED);
  remember (self, message);
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
  g_signal_connect_object (self->channel, "batch-end",
                           G_CALLBACK (on_channel_batch_end), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->channel, "delivered",
                           G_CALLBACK (on_channel_delivered), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->channel, "failed",
                           G_CALLBACK (on_channel_failed), self,
                           G_CONNECT_SWAPPED);
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
      remember (data->self, data->message);
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

  confab_message_set_id (message, origin, number);
  track (self, message);
  remember (self, message);
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
static void
confab_conversation_transmit (ConfabConversation *self,
                              ConfabMessage      *message)
{
  gboolean plain = sends_plain (self);

  confab_message_set_error (message, NULL);
  confab_message_set_state (message, CONFAB_MESSAGE_STATE_SENDING);

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

  g_return_val_if_fail (CONFAB_IS_CONVERSATION (self), NULL);
  g_return_val_if_fail (text != NULL && text[0] != '\0', NULL);
  g_return_val_if_fail (g_utf8_validate (text, -1, NULL), NULL);
  g_return_val_if_fail (strlen (text) <= confab_conversation_get_max_length (self), NULL);

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

  /* On disk, with its id, before it can reach the peer. */
  store (self, message, TRUE);
  confab_conversation_append (self, message, TRUE);
  confab_conversation_transmit (self, message);

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
 * confab_conversation_set_history_path:
 * @path: (nullable): the history database; %NULL for none
 *
 * Where messages are kept while #ConfabConversation:keep-history is on.
 */
void
confab_conversation_set_history_path (ConfabConversation *self,
                                      const char         *path)
{
  g_return_if_fail (CONFAB_IS_CONVERSATION (self));

  if (g_strcmp0 (path, self->history_path) == 0)
    return;

  close_history (self, FALSE);
  g_free (self->history_path);
  self->history_path = g_strdup (path);
  apply_keep_history (self);
}

/**
 * confab_conversation_get_history:
 *
 * Returns: (transfer none) (nullable): the store, while history is kept
 */
ConfabHistory *
confab_conversation_get_history (ConfabConversation *self)
{
  g_return_val_if_fail (CONFAB_IS_CONVERSATION (self), NULL);

  return self->history;
}

/**
 * confab_conversation_get_history_path:
 *
 * Returns: (nullable): where history is kept, if anywhere
 */
const char *
confab_conversation_get_history_path (ConfabConversation *self)
{
  g_return_val_if_fail (CONFAB_IS_CONVERSATION (self), NULL);

  return self->history_path;
}

gboolean
confab_conversation_get_keep_history (ConfabConversation *self)
{
  g_return_val_if_fail (CONFAB_IS_CONVERSATION (self), FALSE);

  return self->keep_history;
}

/**
 * confab_conversation_set_keep_history:
 * @keep_history: %TRUE to store messages in the history file
 *
 * On: the stored messages are loaded, the newest first, and those never
 * acknowledged are sent again. Off: messages live in memory only and the
 * history file is emptied.
 */
void
confab_conversation_set_keep_history (ConfabConversation *self,
                                      gboolean            keep_history)
{
  g_return_if_fail (CONFAB_IS_CONVERSATION (self));

  keep_history = !!keep_history;
  if (self->keep_history == keep_history)
    return;

  self->keep_history = keep_history;
  apply_keep_history (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_KEEP_HISTORY]);
}

/**
 * confab_conversation_get_history_problem:
 *
 * Returns: (nullable): see #ConfabConversation:history-problem
 */
const GError *
confab_conversation_get_history_problem (ConfabConversation *self)
{
  g_return_val_if_fail (CONFAB_IS_CONVERSATION (self), NULL);

  return self->history_problem;
}

/**
 * confab_conversation_clear_history:
 *
 * Deletes every message from the history file and the list. Messages on
 * their way still arrive; they just are not shown.
 *
 * Returns: %FALSE, with the list untouched, if the file could not be changed
 */
gboolean
confab_conversation_clear_history (ConfabConversation  *self,
                                   GError             **error)
{
  guint removed;

  g_return_val_if_fail (CONFAB_IS_CONVERSATION (self), FALSE);

  if (self->history != NULL && !confab_history_clear (self->history, error))
    return FALSE;

  g_clear_handle_id (&self->publish_id, g_source_remove);
  removed = self->published;
  g_ptr_array_set_size (self->messages, 0);
  self->published = 0;
  self->oldest_loaded = 0;
  set_has_older (self, FALSE);
  if (removed > 0)
    g_list_model_items_changed (G_LIST_MODEL (self), 0, removed, 0);

  return TRUE;
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
