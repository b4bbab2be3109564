/* confab-channel-private.h — what the files of ConfabChannel share:
 * confab-channel.c (the socket, receiving, the GObject), -peer.c (resolving
 * the peer), -plain.c (bare text sends) and -reliable.c (the protocol)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include "confab-channel.h"
#include "confab-receiver.h"
#include "confab-sender.h"

G_BEGIN_DECLS

/* A batch of buffers is allocated once per channel; a datagram can never be
 * longer than 65535 bytes, so none is ever truncated. The extra byte lets a
 * datagram be NUL-terminated in place.
 */
#define RECV_BATCH             16
#define RECV_BUFFER_SIZE       65536
/* Protocol datagrams handed out in one go (the segments an ack lets into
 * the window) go in one system call, up to this many.
 */
#define SEND_BATCH             64

struct _ConfabChannel
{
  GObject             parent_instance;

  GSocket            *socket;
  GSource            *in_source;
  GSource            *out_source;
  guint16             local_port;
  /* An IPv6 socket that also carries IPv4 (as ::ffff:a.b.c.d). */
  guint               dual_stack : 1;
  guint               resolving : 1;
  /* In on_socket_readable(), reading and handling a batch */
  guint               receiving : 1;

  char               *peer_host;
  guint16             peer_port;
  GPtrArray          *peer_addresses;      /* GInetAddress, IPv4-mapped ones unmapped */
  GError             *resolve_error;
  gint64              resolve_failed_at;
  GCancellable       *resolve_cancellable;
  /* Where datagrams go: the chosen peer address with the peer's port, in the
   * socket's family. Cached, since the protocol sends many datagrams.
   */
  GSocketAddress     *destination;

  /* GTasks of confab_channel_send_async(), in order, waiting for the peer's
   * name to resolve or for the socket to become writable.
   */
  GQueue              pending;
  /* HeldDatagrams that arrived while the peer's name was resolving. */
  GQueue              held;

  /* Buffers and headers of recvmmsg(), in confab-channel.c */
  struct _ChannelReceive *recv;

  /* Sealed datagrams waiting for confab_channel_send_batch(), each in a
   * CONFAB_WIRE_MAX_DATAGRAM slot of send_buffers, all to send_destination
   */
  guint8             *send_buffers;
  GOutputVector       send_vectors[SEND_BATCH];
  GOutputMessage      send_messages[SEND_BATCH];
  guint               send_count;
  GSocketAddress     *send_destination;

  ConfabChannelStats  stats;

  /* The reliable protocol, in confab-channel-reliable.c */
  ConfabSender       *sender;
  ConfabReceiver     *receiver;
  /* One timer for retransmission, give-up and gap expiry; never ready
   * (ready time -1) when nothing is pending, so an idle channel sleeps.
   */
  GSource            *timer;
  /* Sessions to acknowledge at the end of this batch of datagrams. */
  GArray             *acks_due;
  /* Incoming messages and delivery events waiting to be emitted: signals
   * are emitted only when the sender and receiver are in a stable state,
   * since handlers may send again.
   */
  GPtrArray          *incoming;
  GArray             *events;
  const char         *fail_reason;
  /* A flush nested in a handler of the outer one only re-arms the timer:
   * acks must wait until the outer batch was handed out.
   */
  guint               flush_depth;
  /* Bumped when the peer changes, so that a batch from the old peer stops. */
  guint               peer_generation;
  /* Pings of confab_channel_ping_async() under way: token -> GTask */
  GHashTable         *pings;

  /* Encryption, in confab-channel-crypto.c: all three or none */
  ConfabKey          *key;
  ConfabSealer       *sealer;
  ConfabOpener       *opener;
  gint64              stale_notice_at;
};

typedef enum
{
  CHANNEL_EVENT_DELIVERED,
  CHANNEL_EVENT_FAILED,
} ChannelEventType;

typedef struct
{
  ChannelEventType  type;
  guint64           origin;
  guint64           number;
  char             *reason;
} ChannelEvent;

enum {
  SIGNAL_RECEIVED,
  SIGNAL_MESSAGE,
  SIGNAL_BATCH_END,
  SIGNAL_DELIVERED,
  SIGNAL_FAILED,
  SIGNAL_UNREADABLE,
  SIGNAL_OWN_EPOCH,
  SIGNAL_PEER_EPOCH,
  N_CHANNEL_SIGNALS
};

extern guint confab_channel_signals[N_CHANNEL_SIGNALS];

enum {
  PROP_0,
  PROP_LOCAL_PORT,
  PROP_PEER_HOST,
  PROP_PEER_PORT,
  PROP_ENCRYPTED,
  N_CHANNEL_PROPS
};

extern GParamSpec *confab_channel_properties[N_CHANNEL_PROPS];

/* confab-channel-peer.c */
GInetAddress *
         confab_channel_unmap_address       (GInetAddress   *address);
GInetAddress *
         confab_channel_map_address         (GInetAddress   *address);
void     confab_channel_start_resolve       (ConfabChannel  *self);
void     confab_channel_cancel_resolve      (ConfabChannel  *self);
void     confab_channel_clear_peer_addresses (ConfabChannel *self);
gboolean confab_channel_ensure_peer         (ConfabChannel  *self,
                                             GError        **error);
GSocketAddress *
         confab_channel_get_destination     (ConfabChannel  *self,
                                             GError        **error);

/* confab-channel.c */
void     confab_channel_release_held        (ConfabChannel  *self);
gssize   confab_channel_send_datagram       (ConfabChannel  *self,
                                             GSocketAddress *destination,
                                             const char     *data,
                                             gsize           length,
                                             GError        **error);
gboolean confab_channel_transmit            (ConfabChannel  *self,
                                             const guint8   *data,
                                             gsize           length,
                                             GError        **error);
gboolean confab_channel_transmit_later      (ConfabChannel  *self,
                                             const guint8   *data,
                                             gsize           length,
                                             GError        **error);
void     confab_channel_send_batch          (ConfabChannel  *self);
void     confab_channel_drop_batch          (ConfabChannel  *self);

/* confab-channel-plain.c */
void     confab_channel_flush_plain         (ConfabChannel  *self);
void     confab_channel_fail_plain          (ConfabChannel  *self);

/* confab-channel-crypto.c */
void     confab_channel_handle_sealed       (ConfabChannel  *self,
                                             const guint8   *data,
                                             gsize           length);
void     confab_channel_handle_stale        (ConfabChannel  *self,
                                             guint64         closed_until);
const guint8 *
         confab_channel_seal                (ConfabChannel  *self,
                                             const guint8   *data,
                                             gsize          *length,
                                             guint8         *buffer,
                                             gsize           size);
void     confab_channel_crypto_peer_changed (ConfabChannel  *self);
void     confab_channel_crypto_clear        (ConfabChannel  *self);

/* confab-channel-reliable.c */
void     confab_channel_reliable_init       (ConfabChannel  *self);
void     confab_channel_reliable_dispose    (ConfabChannel  *self);
void     confab_channel_reliable_finalize   (ConfabChannel  *self);
void     confab_channel_handle_confab       (ConfabChannel  *self,
                                             const guint8   *data,
                                             gsize           length);
void     confab_channel_flush               (ConfabChannel  *self);
void     confab_channel_peer_changed        (ConfabChannel  *self);
void     confab_channel_resolve_failed      (ConfabChannel  *self,
                                             const GError   *error);
void     confab_channel_resolved            (ConfabChannel  *self);

G_END_DECLS
