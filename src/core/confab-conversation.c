/* confab-conversation.c — the list of messages with one peer, joined to the channel
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include "confab-conversation.h"

struct _ConfabConversation
{
  GObject        parent_instance;

  ConfabChannel *channel;
  GPtrArray     *messages;
  char          *nickname;
  char          *peer_host;
  guint16        peer_port;
  guint16        local_port;
  GError        *bind_error;
};

static void list_model_iface_init (GListModelInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (ConfabConversation, confab_conversation, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_LIST_MODEL, list_model_iface_init))

enum {
  PROP_0,
  PROP_NICKNAME,
  PROP_PEER_HOST,
  PROP_PEER_PORT,
  PROP_LOCAL_PORT,
  PROP_BIND_ERROR,
  N_PROPS
};

enum {
  SEND_FAILED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

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

static GType
confab_conversation_get_item_type (GListModel *model)
{
  return CONFAB_TYPE_MESSAGE;
}

static guint
confab_conversation_get_n_items (GListModel *model)
{
  return CONFAB_CONVERSATION (model)->messages->len;
}

static gpointer
confab_conversation_get_item (GListModel *model,
                              guint       position)
{
  ConfabConversation *self = CONFAB_CONVERSATION (model);

  if (position >= self->messages->len)
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
confab_conversation_append (ConfabConversation *self,
                            ConfabMessage      *message)
{
  g_ptr_array_add (self->messages, g_object_ref (message));
  g_list_model_items_changed (G_LIST_MODEL (self), self->messages->len - 1, 0, 1);
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

  message = confab_message_new (CONFAB_DIRECTION_INCOMING, self->peer_host, line, NULL);
  confab_conversation_append (self, message);
}

static void
confab_conversation_dispose (GObject *object)
{
  ConfabConversation *self = (ConfabConversation *)object;

  if (self->channel != NULL)
    g_signal_handlers_disconnect_by_data (self->channel, self);
  g_clear_object (&self->channel);
  if (self->messages != NULL)
    g_ptr_array_set_size (self->messages, 0);

  G_OBJECT_CLASS (confab_conversation_parent_class)->dispose (object);
}

static void
confab_conversation_finalize (GObject *object)
{
  ConfabConversation *self = (ConfabConversation *)object;

  g_clear_pointer (&self->messages, g_ptr_array_unref);
  g_clear_pointer (&self->nickname, g_free);
  g_clear_pointer (&self->peer_host, g_free);
  g_clear_error (&self->bind_error);

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
      g_value_set_string (value, self->peer_host);
      break;

    case PROP_PEER_PORT:
      g_value_set_uint (value, self->peer_port);
      break;

    case PROP_LOCAL_PORT:
      g_value_set_uint (value, self->local_port);
      break;

    case PROP_BIND_ERROR:
      g_value_set_boxed (value, self->bind_error);
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
                         (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  properties[PROP_PEER_PORT] =
    g_param_spec_uint ("peer-port", NULL, NULL,
                       0, G_MAXUINT16, 0,
                       (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  properties[PROP_LOCAL_PORT] =
    g_param_spec_uint ("local-port", NULL, NULL,
                       0, G_MAXUINT16, 0,
                       (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  properties[PROP_BIND_ERROR] =
    g_param_spec_boxed ("bind-error", NULL, NULL,
                        G_TYPE_ERROR,
                        (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);

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
  self->messages = g_ptr_array_new_with_free_func (g_object_unref);
  self->peer_host = g_strdup ("");
  self->channel = confab_channel_new ();
  g_signal_connect_object (self->channel, "received",
                           G_CALLBACK (on_channel_received), self,
                           G_CONNECT_SWAPPED);
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

  return self->peer_host;
}

guint16
confab_conversation_get_peer_port (ConfabConversation *self)
{
  g_return_val_if_fail (CONFAB_IS_CONVERSATION (self), 0);

  return self->peer_port;
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

  if (g_str_equal (stripped, self->peer_host) && port == self->peer_port)
    return;

  g_object_freeze_notify (G_OBJECT (self));
  if (!g_str_equal (stripped, self->peer_host))
    {
      g_free (self->peer_host);
      self->peer_host = g_steal_pointer (&stripped);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PEER_HOST]);
    }
  if (port != self->peer_port)
    {
      self->peer_port = port;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PEER_PORT]);
    }
  confab_channel_set_peer (self->channel, self->peer_host, self->peer_port);
  g_object_thaw_notify (G_OBJECT (self));
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
    }
  else
    {
      g_debug ("Sending failed: %s", error->message);
      confab_message_set_error (data->message, error->message);
      confab_message_set_state (data->message, CONFAB_MESSAGE_STATE_FAILED);
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_signal_emit (data->self, signals[SEND_FAILED], 0, data->message, error->message);
    }

  send_data_free (data);
}

static void
confab_conversation_transmit (ConfabConversation *self,
                              ConfabMessage      *message)
{
  SendData *data = g_new0 (SendData, 1);

  data->self = g_object_ref (self);
  data->message = g_object_ref (message);
  confab_message_set_state (message, CONFAB_MESSAGE_STATE_SENDING);
  confab_channel_send_async (self->channel,
                             confab_message_get_text (message),
                             NULL, send_cb, data);
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

  message = confab_message_new (CONFAB_DIRECTION_OUTGOING,
                                confab_conversation_get_nickname (self),
                                text, NULL);
  confab_conversation_append (self, message);
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
