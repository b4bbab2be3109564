/* confab-sender.h — the sending half of the protocol: fragments, window,
 * retransmission with RTT estimation, give-up; no I/O
 *
 * docs/protocol.md §8 is the specification. Times are monotonic µs
 * (g_get_monotonic_time()), passed in so that tests control the clock.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>

#include "confab-rtt.h"
#include "confab-wire.h"

G_BEGIN_DECLS

/* Seqs from the lowest in flight. 256 held bench-throughput to 0.6-0.75 of
 * what 512 gives on two cores: a receiver preempted for a moment (by its
 * history's writer, or the sender) stalled the window. A receiver takes
 * segments up to CONFAB_WIRE_MAX_ACK_BITS above the next it waits for.
 */
#define CONFAB_SENDER_WINDOW   512
G_STATIC_ASSERT (CONFAB_SENDER_WINDOW <= CONFAB_WIRE_MAX_ACK_BITS);
#define CONFAB_SENDER_GIVE_UP  (30 * G_USEC_PER_SEC)
#define CONFAB_SENDER_MAX_BACKOFF (2 * G_USEC_PER_SEC)

/* Called from inside confab_sender_*() calls; they must not call back into
 * the sender. @transmit sends one datagram; @delivered and @failed report a
 * message whose every segment was acknowledged, or which was abandoned.
 */
typedef struct
{
  void (*transmit)  (gpointer user_data, const guint8 *datagram, gsize length);
  void (*delivered) (gpointer user_data, guint64 origin, guint64 number);
  void (*failed)    (gpointer user_data, guint64 origin, guint64 number);
} ConfabSenderCallbacks;

typedef struct _ConfabSender ConfabSender;

ConfabSender  *confab_sender_new            (guint64                      session,
                                             const ConfabSenderCallbacks *callbacks,
                                             gpointer                     user_data);
void           confab_sender_free           (ConfabSender                *self);
guint64        confab_sender_get_session    (ConfabSender                *self);
void           confab_sender_new_message_id (ConfabSender                *self,
                                             guint64                     *origin,
                                             guint64                     *number);
void           confab_sender_set_give_up    (ConfabSender                *self,
                                             gint64                       give_up);
gboolean       confab_sender_queue          (ConfabSender                *self,
                                             guint64                     *origin,
                                             guint64                     *number,
                                             gint64                       time,
                                             const char                  *nick,
                                             const char                  *text,
                                             gint64                       now,
                                             GError                     **error);
void           confab_sender_ack            (ConfabSender                *self,
                                             const ConfabWireAck         *ack,
                                             gint64                       now);
void           confab_sender_tick           (ConfabSender                *self,
                                             gint64                       now);
gint64         confab_sender_get_deadline   (ConfabSender                *self);
guint          confab_sender_get_in_flight  (ConfabSender                *self);
guint          confab_sender_get_queued     (ConfabSender                *self);
void           confab_sender_abandon_all    (ConfabSender                *self);
void           confab_sender_transmit_again (ConfabSender                *self,
                                             gint64                       now);
const ConfabRtt *confab_sender_get_rtt      (ConfabSender                *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ConfabSender, confab_sender_free)

G_END_DECLS
