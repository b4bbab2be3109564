/* confab-message.h — one chat message and its delivery state
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

typedef enum
{
  CONFAB_DIRECTION_INCOMING,
  CONFAB_DIRECTION_OUTGOING,
} ConfabDirection;

/* SENT is the end state of a message that went out with no way to learn
 * whether it arrived (a plain-text peer); RECEIVED marks incoming ones.
 */
typedef enum
{
  CONFAB_MESSAGE_STATE_SENDING,
  CONFAB_MESSAGE_STATE_SENT,
  CONFAB_MESSAGE_STATE_DELIVERED,
  CONFAB_MESSAGE_STATE_FAILED,
  CONFAB_MESSAGE_STATE_RECEIVED,
} ConfabMessageState;

#define CONFAB_TYPE_MESSAGE (confab_message_get_type ())

G_DECLARE_FINAL_TYPE (ConfabMessage, confab_message, CONFAB, MESSAGE, GObject)

ConfabMessage      *confab_message_new            (ConfabDirection     direction,
                                                   const char         *sender,
                                                   const char         *text,
                                                   GDateTime          *time);
ConfabMessage      *confab_message_new_at         (ConfabDirection     direction,
                                                   const char         *sender,
                                                   const char         *text,
                                                   gint64              usec);
ConfabDirection     confab_message_get_direction  (ConfabMessage      *self);
const char         *confab_message_get_sender     (ConfabMessage      *self);
const char         *confab_message_get_text       (ConfabMessage      *self);
GDateTime          *confab_message_get_time       (ConfabMessage      *self);
ConfabMessageState  confab_message_get_state      (ConfabMessage      *self);
void                confab_message_set_state      (ConfabMessage      *self,
                                                   ConfabMessageState  state);
const char         *confab_message_get_error      (ConfabMessage      *self);
void                confab_message_set_error      (ConfabMessage      *self,
                                                   const char         *error);
guint64             confab_message_get_origin     (ConfabMessage      *self);
guint64             confab_message_get_number     (ConfabMessage      *self);
void                confab_message_set_id         (ConfabMessage      *self,
                                                   guint64             origin,
                                                   guint64             number);
gboolean            confab_message_get_plain      (ConfabMessage      *self);
void                confab_message_set_plain      (ConfabMessage      *self,
                                                   gboolean            plain);
gint64              confab_message_get_time_usec  (ConfabMessage      *self);
const char         *confab_message_get_peer_host  (ConfabMessage      *self);
guint16             confab_message_get_peer_port  (ConfabMessage      *self);
void                confab_message_set_peer       (ConfabMessage      *self,
                                                   const char         *host,
                                                   guint16             port);
gint64              confab_message_get_received_time
                                                  (ConfabMessage      *self);
void                confab_message_set_received_time
                                                  (ConfabMessage      *self,
                                                   gint64              usec);
gint64              confab_message_get_delivered_time
                                                  (ConfabMessage      *self);
void                confab_message_set_delivered_time
                                                  (ConfabMessage      *self,
                                                   gint64              usec);
gint64              confab_message_get_history_id (ConfabMessage      *self);
void                confab_message_set_history_id (ConfabMessage      *self,
                                                   gint64              id);

GDateTime          *confab_date_time_new_from_usec (gint64            usec);

G_END_DECLS
