/* confab-message.c — one chat message and its delivery state
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include "confab-core-enums.h"
#include "confab-message.h"

struct _ConfabMessage
{
  GObject             parent_instance;

  ConfabDirection     direction;
  ConfabMessageState  state;
  char               *sender;
  char               *text;
  char               *error;
  /* When it was written, µs since the epoch; as a local GDateTime only once
   * something shows it: finding the local time zone costs system calls.
   */
  gint64              time_usec;
  GDateTime          *time;
  /* The protocol's message id; 0 until the message has one. */
  guint64             origin;
  guint64             number;
  /* Went or came as a bare text datagram, so there is no receipt. */
  gboolean            plain;

  /* Bookkeeping for the history, not shown: who the other side was, when
   * the message reached me or was acknowledged (µs since the epoch, 0 for
   * not yet), and its row in the store (0 for none).
   */
  char               *peer_host;
  guint16             peer_port;
  gint64              received_time;
  gint64              delivered_time;
  gint64              history_id;
};

G_DEFINE_FINAL_TYPE (ConfabMessage, confab_message, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_DIRECTION,
  PROP_SENDER,
  PROP_TEXT,
  PROP_TIME,
  PROP_STATE,
  PROP_ERROR,
  PROP_PLAIN,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

/**
 * confab_message_new:
 * @direction: whether I sent it or the peer did
 * @sender: the sender's nickname
 * @text: the message text, valid UTF-8
 * @time: (nullable): when it was sent or received; %NULL for now
 *
 * Outgoing messages start in %CONFAB_MESSAGE_STATE_SENDING, incoming ones in
 * %CONFAB_MESSAGE_STATE_RECEIVED.
 */
ConfabMessage *
confab_message_new (ConfabDirection  direction,
                    const char      *sender,
                    const char      *text,
                    GDateTime       *time)
{
  ConfabMessage *self;

  g_return_val_if_fail (sender != NULL, NULL);
  g_return_val_if_fail (text != NULL, NULL);

  /* No construct properties: g_object_new() then only makes the instance
   * (a message is made for each one sent and received).
   */
  self = g_object_new (CONFAB_TYPE_MESSAGE, NULL);
  self->direction = direction;
  self->sender = g_strdup (sender);
  self->text = g_strdup (text);
  self->state = direction == CONFAB_DIRECTION_OUTGOING
              ? CONFAB_MESSAGE_STATE_SENDING
              : CONFAB_MESSAGE_STATE_RECEIVED;
  if (time != NULL)
    {
      self->time = g_date_time_ref (time);
      self->time_usec = g_date_time_to_unix (time) * G_USEC_PER_SEC +
                        g_date_time_get_microsecond (time);
    }
  else
    {
      self->time_usec = g_get_real_time ();
    }

  return self;
}

/* The range a GDateTime can show: years 1 to 9999 */
static gboolean
usec_in_range (gint64 usec)
{
  return usec >= G_GINT64_CONSTANT (-62135596800) * G_USEC_PER_SEC &&
         usec < G_GINT64_CONSTANT (253402300800) * G_USEC_PER_SEC;
}

/**
 * confab_message_new_at:
 * @usec: when it was written, in µs since the Unix epoch; if out of
 *   range, now
 *
 * Like confab_message_new(), for a time as it is stored and sent.
 */
ConfabMessage *
confab_message_new_at (ConfabDirection  direction,
                       const char      *sender,
                       const char      *text,
                       gint64           usec)
{
  ConfabMessage *self = confab_message_new (direction, sender, text, NULL);

  if (usec_in_range (usec))
    self->time_usec = usec;

  return self;
}

static void
confab_message_finalize (GObject *object)
{
  ConfabMessage *self = (ConfabMessage *)object;

  g_clear_pointer (&self->sender, g_free);
  g_clear_pointer (&self->text, g_free);
  g_clear_pointer (&self->error, g_free);
  g_clear_pointer (&self->peer_host, g_free);
  g_clear_pointer (&self->time, g_date_time_unref);

  G_OBJECT_CLASS (confab_message_parent_class)->finalize (object);
}

static void
confab_message_get_property (GObject    *object,
                             guint       prop_id,
                             GValue     *value,
                             GParamSpec *pspec)
{
  ConfabMessage *self = CONFAB_MESSAGE (object);

  switch (prop_id)
    {
    case PROP_DIRECTION:
      g_value_set_enum (value, self->direction);
      break;

    case PROP_SENDER:
      g_value_set_string (value, self->sender);
      break;

    case PROP_TEXT:
      g_value_set_string (value, self->text);
      break;

    case PROP_TIME:
      g_value_set_boxed (value, confab_message_get_time (self));
      break;

    case PROP_STATE:
      g_value_set_enum (value, self->state);
      break;

    case PROP_ERROR:
      g_value_set_string (value, self->error);
      break;

    case PROP_PLAIN:
      g_value_set_boolean (value, self->plain);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
confab_message_set_property (GObject      *object,
                             guint         prop_id,
                             const GValue *value,
                             GParamSpec   *pspec)
{
  ConfabMessage *self = CONFAB_MESSAGE (object);

  switch (prop_id)
    {
    case PROP_STATE:
      confab_message_set_state (self, g_value_get_enum (value));
      break;

    case PROP_ERROR:
      confab_message_set_error (self, g_value_get_string (value));
      break;

    case PROP_PLAIN:
      confab_message_set_plain (self, g_value_get_boolean (value));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
confab_message_class_init (ConfabMessageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = confab_message_finalize;
  object_class->get_property = confab_message_get_property;
  object_class->set_property = confab_message_set_property;

  properties[PROP_DIRECTION] =
    g_param_spec_enum ("direction", NULL, NULL,
                       CONFAB_TYPE_DIRECTION,
                       CONFAB_DIRECTION_INCOMING,
                       (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  properties[PROP_SENDER] =
    g_param_spec_string ("sender", NULL, NULL,
                         NULL,
                         (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  properties[PROP_TEXT] =
    g_param_spec_string ("text", NULL, NULL,
                         NULL,
                         (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  properties[PROP_TIME] =
    g_param_spec_boxed ("time", NULL, NULL,
                        G_TYPE_DATE_TIME,
                        (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  properties[PROP_STATE] =
    g_param_spec_enum ("state", NULL, NULL,
                       CONFAB_TYPE_MESSAGE_STATE,
                       CONFAB_MESSAGE_STATE_SENDING,
                       (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  properties[PROP_ERROR] =
    g_param_spec_string ("error", NULL, NULL,
                         NULL,
                         (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  properties[PROP_PLAIN] =
    g_param_spec_boolean ("plain", NULL, NULL,
                          FALSE,
                          (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
confab_message_init (ConfabMessage *self)
{
}

ConfabDirection
confab_message_get_direction (ConfabMessage *self)
{
  g_return_val_if_fail (CONFAB_IS_MESSAGE (self), CONFAB_DIRECTION_INCOMING);

  return self->direction;
}

const char *
confab_message_get_sender (ConfabMessage *self)
{
  g_return_val_if_fail (CONFAB_IS_MESSAGE (self), NULL);

  /* "" for one made by g_object_new() alone */
  return self->sender != NULL ? self->sender : "";
}

const char *
confab_message_get_text (ConfabMessage *self)
{
  g_return_val_if_fail (CONFAB_IS_MESSAGE (self), NULL);

  return self->text != NULL ? self->text : "";
}

GDateTime *
confab_message_get_time (ConfabMessage *self)
{
  g_return_val_if_fail (CONFAB_IS_MESSAGE (self), NULL);

  if (self->time == NULL)
    self->time = confab_date_time_new_from_usec (self->time_usec);

  return self->time;
}

ConfabMessageState
confab_message_get_state (ConfabMessage *self)
{
  g_return_val_if_fail (CONFAB_IS_MESSAGE (self), CONFAB_MESSAGE_STATE_FAILED);

  return self->state;
}

void
confab_message_set_state (ConfabMessage      *self,
                          ConfabMessageState  state)
{
  g_return_if_fail (CONFAB_IS_MESSAGE (self));

  if (self->state == state)
    return;

  self->state = state;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
}

/**
 * confab_message_get_error:
 *
 * Returns: (nullable): why the last attempt to send failed, for the person
 */
const char *
confab_message_get_error (ConfabMessage *self)
{
  g_return_val_if_fail (CONFAB_IS_MESSAGE (self), NULL);

  return self->error;
}

void
confab_message_set_error (ConfabMessage *self,
                          const char    *error)
{
  g_return_if_fail (CONFAB_IS_MESSAGE (self));

  if (g_strcmp0 (self->error, error) == 0)
    return;

  g_free (self->error);
  self->error = g_strdup (error);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ERROR]);
}

guint64
confab_message_get_origin (ConfabMessage *self)
{
  g_return_val_if_fail (CONFAB_IS_MESSAGE (self), 0);

  return self->origin;
}

guint64
confab_message_get_number (ConfabMessage *self)
{
  g_return_val_if_fail (CONFAB_IS_MESSAGE (self), 0);

  return self->number;
}

/**
 * confab_message_set_id:
 * @origin: the session the message was first sent in
 * @number: its number in that session
 *
 * The protocol's id for the message, the same on both sides and for every
 * retry; see docs/protocol.md §3.
 */
void
confab_message_set_id (ConfabMessage *self,
                       guint64        origin,
                       guint64        number)
{
  g_return_if_fail (CONFAB_IS_MESSAGE (self));

  self->origin = origin;
  self->number = number;
}

/**
 * confab_message_get_plain:
 *
 * Returns: %TRUE if the message went or came as bare text, with no receipt
 */
gboolean
confab_message_get_plain (ConfabMessage *self)
{
  g_return_val_if_fail (CONFAB_IS_MESSAGE (self), FALSE);

  return self->plain;
}

void
confab_message_set_plain (ConfabMessage *self,
                          gboolean       plain)
{
  g_return_if_fail (CONFAB_IS_MESSAGE (self));

  plain = !!plain;
  if (self->plain == plain)
    return;

  self->plain = plain;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PLAIN]);
}

/**
 * confab_message_get_time_usec:
 *
 * Returns: confab_message_get_time() in µs since the Unix epoch
 */
gint64
confab_message_get_time_usec (ConfabMessage *self)
{
  g_return_val_if_fail (CONFAB_IS_MESSAGE (self), 0);

  return self->time_usec;
}

/**
 * confab_message_get_peer_host:
 *
 * Returns: (nullable): the other side's host as configured when the
 *   message was sent or received
 */
const char *
confab_message_get_peer_host (ConfabMessage *self)
{
  g_return_val_if_fail (CONFAB_IS_MESSAGE (self), NULL);

  return self->peer_host;
}

guint16
confab_message_get_peer_port (ConfabMessage *self)
{
  g_return_val_if_fail (CONFAB_IS_MESSAGE (self), 0);

  return self->peer_port;
}

void
confab_message_set_peer (ConfabMessage *self,
                         const char    *host,
                         guint16        port)
{
  g_return_if_fail (CONFAB_IS_MESSAGE (self));

  g_free (self->peer_host);
  self->peer_host = g_strdup (host);
  self->peer_port = port;
}

/**
 * confab_message_get_received_time:
 *
 * Returns: when an incoming message reached me, µs since the epoch; 0 if unknown
 */
gint64
confab_message_get_received_time (ConfabMessage *self)
{
  g_return_val_if_fail (CONFAB_IS_MESSAGE (self), 0);

  return self->received_time;
}

void
confab_message_set_received_time (ConfabMessage *self,
                                  gint64         usec)
{
  g_return_if_fail (CONFAB_IS_MESSAGE (self));

  self->received_time = usec;
}

/**
 * confab_message_get_delivered_time:
 *
 * Returns: when the peer acknowledged an outgoing message, µs since the
 *   epoch; 0 if it has not
 */
gint64
confab_message_get_delivered_time (ConfabMessage *self)
{
  g_return_val_if_fail (CONFAB_IS_MESSAGE (self), 0);

  return self->delivered_time;
}

void
confab_message_set_delivered_time (ConfabMessage *self,
                                   gint64         usec)
{
  g_return_if_fail (CONFAB_IS_MESSAGE (self));

  self->delivered_time = usec;
}

/**
 * confab_message_get_history_id:
 *
 * Returns: the message's row in the history, or 0 if it is not stored
 */
gint64
confab_message_get_history_id (ConfabMessage *self)
{
  g_return_val_if_fail (CONFAB_IS_MESSAGE (self), 0);

  return self->history_id;
}

void
confab_message_set_history_id (ConfabMessage *self,
                               gint64         id)
{
  g_return_if_fail (CONFAB_IS_MESSAGE (self));

  self->history_id = id;
}

/**
 * confab_date_time_new_from_usec:
 * @usec: µs since the Unix epoch
 *
 * Returns: (nullable): that moment in local time, or %NULL if out of range
 */
GDateTime *
confab_date_time_new_from_usec (gint64 usec)
{
  g_autoptr(GDateTime) seconds = g_date_time_new_from_unix_local (usec / G_USEC_PER_SEC);

  if (seconds == NULL)
    return NULL;

  return g_date_time_add (seconds, usec % G_USEC_PER_SEC);
}
