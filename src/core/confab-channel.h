/* confab-channel.h — one UDP socket: bind, resolve the peer, send, receive
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

#include "confab-crypto.h"
#include "confab-receiver.h"

G_BEGIN_DECLS

#define CONFAB_TYPE_CHANNEL (confab_channel_get_type ())

G_DECLARE_FINAL_TYPE (ConfabChannel, confab_channel, CONFAB, CHANNEL, GObject)

/* Why datagrams were dropped, for diagnostics and tests. */
typedef struct
{
  guint64             received;              /* plain-text datagrams shown */
  guint64             dropped_empty;
  guint64             dropped_not_peer;
  guint64             dropped_invalid_utf8;  /* plain text that is not UTF-8 */
  guint64             dropped_malformed;     /* Confab datagrams failing their checks */
  guint64             dropped_oversized;
  guint64             dropped_version;
  guint64             dropped_type;
  guint64             acks;                  /* ACKs received from the peer */
  guint64             pings;                 /* PINGs answered */
  guint64             dropped_forged;        /* sealed under another key, or changed */
  guint64             dropped_replayed;
  guint64             dropped_stale;         /* from an epoch closed here */
  guint64             dropped_reflected;     /* this side's own, sent back */
  guint64             dropped_unsealed;      /* not sealed while a key is set */
  guint64             dropped_sealed;        /* sealed while no key is set */
  ConfabReceiverStats receiver;
} ConfabChannelStats;

ConfabChannel *confab_channel_new               (void);
gboolean       confab_channel_bind              (ConfabChannel        *self,
                                                 const char           *address,
                                                 guint16               port,
                                                 GError              **error);
void           confab_channel_unbind            (ConfabChannel        *self);
gboolean       confab_channel_is_bound          (ConfabChannel        *self);
guint16        confab_channel_get_local_port    (ConfabChannel        *self);
void           confab_channel_set_peer          (ConfabChannel        *self,
                                                 const char           *host,
                                                 guint16               port);
const char    *confab_channel_get_peer_host     (ConfabChannel        *self);
guint16        confab_channel_get_peer_port     (ConfabChannel        *self);
void           confab_channel_send_async        (ConfabChannel        *self,
                                                 const char           *text,
                                                 GCancellable         *cancellable,
                                                 GAsyncReadyCallback   callback,
                                                 gpointer              user_data);
gboolean       confab_channel_send_finish       (ConfabChannel        *self,
                                                 GAsyncResult         *result,
                                                 GError              **error);
void           confab_channel_get_stats         (ConfabChannel        *self,
                                                 ConfabChannelStats   *stats);
guint64        confab_channel_get_session       (ConfabChannel        *self);
void           confab_channel_new_message_id    (ConfabChannel        *self,
                                                 guint64              *origin,
                                                 guint64              *number);
gboolean       confab_channel_send_message      (ConfabChannel        *self,
                                                 guint64              *origin,
                                                 guint64              *number,
                                                 gint64                time,
                                                 const char           *nick,
                                                 const char           *text,
                                                 GError              **error);
void           confab_channel_set_key           (ConfabChannel        *self,
                                                 ConfabKey            *key,
                                                 ConfabEpoch           epoch,
                                                 guint64               closed_until);
gboolean       confab_channel_get_encrypted     (ConfabChannel        *self);
void           confab_channel_set_give_up_time  (ConfabChannel        *self,
                                                 gint64                usec);
void           confab_channel_ping_async        (ConfabChannel        *self,
                                                 GCancellable         *cancellable,
                                                 GAsyncReadyCallback   callback,
                                                 gpointer              user_data);
gint64         confab_channel_ping_finish       (ConfabChannel        *self,
                                                 GAsyncResult         *result,
                                                 GError              **error);

G_END_DECLS
