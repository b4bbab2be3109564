/* confab-wire.h — Confab datagrams <-> structs; pure functions, no I/O
 *
 * The format is docs/protocol.md. Decoding never trusts a length or count it
 * reads: everything is checked against the datagram's size first.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define CONFAB_WIRE_MAX_DATAGRAM       1200
/* Fragments leave room for a seal (confab-crypto.h), so that a sealed
 * datagram is within CONFAB_WIRE_MAX_DATAGRAM too.
 */
#define CONFAB_WIRE_SEAL_ROOM          48
#define CONFAB_WIRE_HEADER_SIZE        8
#define CONFAB_WIRE_MESSAGE_FIXED_SIZE 69   /* up to and including nick_len */
#define CONFAB_WIRE_ACK_FIXED_SIZE     26
#define CONFAB_WIRE_PING_SIZE          16
#define CONFAB_WIRE_MAX_NICK           64
#define CONFAB_WIRE_MAX_TEXT           65536
#define CONFAB_WIRE_MAX_FRAGMENTS      128
#define CONFAB_WIRE_MAX_ACK_BITS       1024
#define CONFAB_WIRE_VERSION            1

typedef enum
{
  CONFAB_WIRE_TYPE_MESSAGE = 1,
  CONFAB_WIRE_TYPE_ACK     = 2,
  CONFAB_WIRE_TYPE_PING    = 3,
  CONFAB_WIRE_TYPE_PONG    = 4,
  CONFAB_WIRE_TYPE_STALE   = 5,  /* sealed only: "your epoch is closed here" */
} ConfabWireType;

typedef enum
{
  CONFAB_WIRE_OK,
  CONFAB_WIRE_PLAIN,         /* not a Confab datagram: first byte is not 0xFF */
  CONFAB_WIRE_MALFORMED,     /* bad magic, too short, or fails its type's checks */
  CONFAB_WIRE_OVERSIZED,     /* longer than CONFAB_WIRE_MAX_DATAGRAM */
  CONFAB_WIRE_BAD_VERSION,
  CONFAB_WIRE_BAD_TYPE,
} ConfabWireResult;

/* A message's id for ever (docs/protocol.md §3): the session it was first
 * sent in and its number there.
 */
typedef struct
{
  guint64 origin;
  guint64 number;
} ConfabMessageId;

guint     confab_message_id_hash   (gconstpointer id);
gboolean  confab_message_id_equal  (gconstpointer a,
                                    gconstpointer b);

/* One MESSAGE segment. When decoded, @nick and @payload point into the
 * datagram and are not NUL-terminated.
 */
typedef struct
{
  guint64        session;
  guint64        seq;
  guint64        low;
  guint64        origin;
  guint64        number;
  gint64         time;       /* µs since the Unix epoch */
  guint32        total;
  guint32        offset;
  guint16        frag;
  guint16        nfrags;
  guint8         nick_len;
  const char    *nick;
  const guint8  *payload;
  gsize          payload_len;
} ConfabWireMessage;

/* When decoded, @bitmap points into the datagram. */
typedef struct
{
  guint64        session;
  guint64        next;
  guint16        nbits;
  const guint8  *bitmap;
} ConfabWireAck;

typedef struct
{
  ConfabWireType type;
  union {
    ConfabWireMessage message;
    ConfabWireAck     ack;
    guint64           token;  /* PING and PONG; STALE: the closed epoch time */
  };
} ConfabWireDatagram;

ConfabWireResult  confab_wire_decode            (const guint8             *data,
                                                 gsize                     length,
                                                 ConfabWireDatagram       *out);
gsize             confab_wire_encode_message    (const ConfabWireMessage  *message,
                                                 guint8                   *buffer,
                                                 gsize                     size);
gsize             confab_wire_encode_ack        (const ConfabWireAck      *ack,
                                                 guint8                   *buffer,
                                                 gsize                     size);
gsize             confab_wire_encode_ping       (ConfabWireType            type,
                                                 guint64                   token,
                                                 guint8                   *buffer,
                                                 gsize                     size);
gsize             confab_wire_max_payload       (gsize                     nick_len);
guint             confab_wire_split             (const char               *text,
                                                 gsize                     length,
                                                 gsize                     max_payload,
                                                 guint32                  *offsets,
                                                 guint                     max_fragments);
gsize             confab_wire_clamp_nick        (const char               *nick);
const char       *confab_wire_result_to_string  (ConfabWireResult          result);

G_END_DECLS
