/* confab-receiver.h — the receiving half of the protocol: reorder buffer,
 * reassembly, duplicate detection and acknowledgement state; no I/O
 *
 * docs/protocol.md §7 is the specification. Times are monotonic µs
 * (g_get_monotonic_time()), passed in so that tests control the clock.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib-object.h>

#include "confab-wire.h"

G_BEGIN_DECLS

#define CONFAB_RECEIVER_MAX_SESSIONS      8
#define CONFAB_RECEIVER_MAX_BUFFERED      512
#define CONFAB_RECEIVER_MAX_BUFFER_BYTES  (1024 * 1024)
#define CONFAB_RECEIVER_GAP_TIMEOUT       (35 * G_USEC_PER_SEC)
#define CONFAB_RECEIVER_REMEMBERED_IDS    4096

/* A complete message, ready to show. */
typedef struct
{
  guint64  origin;
  guint64  number;
  gint64   time;      /* µs since the Unix epoch, as the sender wrote it */
  char    *nick;      /* valid UTF-8, NUL-terminated */
  char    *text;      /* valid UTF-8 without NUL, NUL-terminated */
} ConfabIncoming;

#define CONFAB_TYPE_INCOMING (confab_incoming_get_type ())

GType           confab_incoming_get_type  (void) G_GNUC_CONST;
ConfabIncoming *confab_incoming_copy      (const ConfabIncoming *incoming);
void            confab_incoming_free      (ConfabIncoming       *incoming);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ConfabIncoming, confab_incoming_free)

typedef struct
{
  guint64 segments;        /* accepted into the buffer */
  guint64 duplicates;      /* segments seen before (acked again) */
  guint64 buffer_full;     /* dropped unacknowledged */
  guint64 skipped;         /* segments given up by the sender or timed out */
  guint64 inconsistent;    /* fragments that did not fit their message */
  guint64 invalid_utf8;    /* reassembled texts that were not UTF-8 */
  guint64 repeated;        /* whole messages already shown */
  guint64 messages;        /* messages handed out */
} ConfabReceiverStats;

typedef enum
{
  CONFAB_RECEIVER_DROPPED,    /* not kept and not to be acked: the sender must resend */
  CONFAB_RECEIVER_DUPLICATE,  /* seen before: ack again */
  CONFAB_RECEIVER_ACCEPTED,   /* new: ack */
} ConfabReceiverVerdict;

typedef struct _ConfabReceiver ConfabReceiver;

ConfabReceiver        *confab_receiver_new          (void);
void                   confab_receiver_free         (ConfabReceiver           *self);
ConfabReceiverVerdict  confab_receiver_push         (ConfabReceiver           *self,
                                                     const ConfabWireMessage  *segment,
                                                     gint64                    now,
                                                     GPtrArray                *delivered);
gboolean               confab_receiver_build_ack    (ConfabReceiver           *self,
                                                     guint64                   session,
                                                     ConfabWireAck            *ack,
                                                     guint8                   *bitmap,
                                                     gsize                     bitmap_size);
gint64                 confab_receiver_get_deadline (ConfabReceiver           *self);
void                   confab_receiver_expire       (ConfabReceiver           *self,
                                                     gint64                    now,
                                                     GPtrArray                *delivered);
void                   confab_receiver_get_stats    (ConfabReceiver           *self,
                                                     ConfabReceiverStats      *stats);
void                   confab_receiver_reset_sessions (ConfabReceiver         *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ConfabReceiver, confab_receiver_free)

G_END_DECLS
