/* confab-wire.c — Confab datagrams <-> structs; pure functions, no I/O
 *
 * Every multi-byte field is read and written a byte at a time, big-endian,
 * so that nothing depends on the host's byte order or alignment. The decoder
 * and the encoder share one validity check (message_is_valid()), so whatever
 * the encoder accepts the decoder accepts too, and a round trip is exact.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include <string.h>

#include "confab-wire.h"
#include "confab-utf8.h"

static const guint8 wire_magic[4] = { 0xFF, 'C', 'F', 'B' };

static inline guint16
read_u16 (const guint8 *p)
{
  return (guint16) (((guint) p[0] << 8) | (guint) p[1]);
}

static inline guint32
read_u32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | (guint32) p[3];
}

static inline guint64
read_u64 (const guint8 *p)
{
  return ((guint64) read_u32 (p) << 32) | (guint64) read_u32 (p + 4);
}

static inline void
write_u16 (guint8  *p,
           guint16  v)
{
  p[0] = (guint8) (v >> 8);
  p[1] = (guint8) v;
}

static inline void
write_u32 (guint8  *p,
           guint32  v)
{
  p[0] = (guint8) (v >> 24);
  p[1] = (guint8) (v >> 16);
  p[2] = (guint8) (v >> 8);
  p[3] = (guint8) v;
}

static inline void
write_u64 (guint8  *p,
           guint64  v)
{
  write_u32 (p, (guint32) (v >> 32));
  write_u32 (p + 4, (guint32) v);
}

static void
write_header (guint8         *p,
              ConfabWireType  type)
{
  memcpy (p, wire_magic, sizeof wire_magic);
  p[4] = CONFAB_WIRE_VERSION;
  p[5] = (guint8) type;
  p[6] = 0;
  p[7] = 0;
}

/* The checks of protocol.md §4 on the fields, once the nick and payload are
 * known to lie inside the datagram. Written so that no sum can overflow.
 */
static gboolean
message_is_valid (const ConfabWireMessage *m)
{
  if (m->session == 0 || m->seq == 0 || m->low == 0 || m->origin == 0 || m->number == 0)
    return FALSE;
  if (m->low > m->seq)
    return FALSE;
  if (m->total == 0 || m->total > CONFAB_WIRE_MAX_TEXT)
    return FALSE;
  if (m->nfrags == 0 || m->nfrags > CONFAB_WIRE_MAX_FRAGMENTS || m->frag >= m->nfrags)
    return FALSE;
  if (m->nick_len > CONFAB_WIRE_MAX_NICK)
    return FALSE;
  /* confab_utf8_validate() also rejects any NUL byte */
  if (!confab_utf8_validate (m->nick, m->nick_len))
    return FALSE;
  if (m->payload_len == 0 || m->offset > m->total || m->payload_len > m->total - m->offset)
    return FALSE;
  if (m->frag + 1 == m->nfrags && m->payload_len != m->total - m->offset)
    return FALSE;
  if (m->frag == 0 && m->offset != 0)
    return FALSE;
  return TRUE;
}

static ConfabWireResult
decode_message (const guint8      *data,
                gsize              length,
                ConfabWireMessage *m)
{
  gsize head;

  if (length < CONFAB_WIRE_MESSAGE_FIXED_SIZE)
    return CONFAB_WIRE_MALFORMED;

  m->nick_len = data[68];
  head = CONFAB_WIRE_MESSAGE_FIXED_SIZE + m->nick_len;
  if (m->nick_len > CONFAB_WIRE_MAX_NICK || length < head + 1)
    return CONFAB_WIRE_MALFORMED;

  m->session = read_u64 (data + 8);
  m->seq = read_u64 (data + 16);
  m->low = read_u64 (data + 24);
  m->origin = read_u64 (data + 32);
  m->number = read_u64 (data + 40);
  m->time = (gint64) read_u64 (data + 48);
  m->total = read_u32 (data + 56);
  m->offset = read_u32 (data + 60);
  m->frag = read_u16 (data + 64);
  m->nfrags = read_u16 (data + 66);
  m->nick = (const char *) data + CONFAB_WIRE_MESSAGE_FIXED_SIZE;
  m->payload = data + head;
  m->payload_len = length - head;

  return message_is_valid (m) ? CONFAB_WIRE_OK : CONFAB_WIRE_MALFORMED;
}

static ConfabWireResult
decode_ack (const guint8  *data,
            gsize          length,
            ConfabWireAck *a)
{
  if (length < CONFAB_WIRE_ACK_FIXED_SIZE)
    return CONFAB_WIRE_MALFORMED;

  a->session = read_u64 (data + 8);
  a->next = read_u64 (data + 16);
  a->nbits = read_u16 (data + 24);
  a->bitmap = data + CONFAB_WIRE_ACK_FIXED_SIZE;

  if (a->nbits % 8 != 0 || a->nbits > CONFAB_WIRE_MAX_ACK_BITS)
    return CONFAB_WIRE_MALFORMED;
  if (length != CONFAB_WIRE_ACK_FIXED_SIZE + (gsize) a->nbits / 8)
    return CONFAB_WIRE_MALFORMED;
  if (a->session == 0 || a->next == 0)
    return CONFAB_WIRE_MALFORMED;
  return CONFAB_WIRE_OK;
}

/**
 * confab_wire_decode:
 * @data: (array length=length): the datagram as received
 * @length: its length in bytes
 * @out: (out caller-allocates): filled in only when %CONFAB_WIRE_OK is returned
 *
 * Classifies and parses one datagram. Pointers in @out point into @data.
 *
 * Returns: %CONFAB_WIRE_OK, %CONFAB_WIRE_PLAIN for a plain-text datagram
 *   (including an empty one), or why the datagram must be dropped
 */
ConfabWireResult
confab_wire_decode (const guint8       *data,
                    gsize               length,
                    ConfabWireDatagram *out)
{
  ConfabWireDatagram d = { 0 };
  ConfabWireResult result;

  g_return_val_if_fail (data != NULL || length == 0, CONFAB_WIRE_MALFORMED);
  g_return_val_if_fail (out != NULL, CONFAB_WIRE_MALFORMED);

  if (length == 0 || data[0] != 0xFF)
    return CONFAB_WIRE_PLAIN;
  if (length > CONFAB_WIRE_MAX_DATAGRAM)
    return CONFAB_WIRE_OVERSIZED;
  if (length < CONFAB_WIRE_HEADER_SIZE || memcmp (data, wire_magic, sizeof wire_magic) != 0)
    return CONFAB_WIRE_MALFORMED;
  if (data[4] != CONFAB_WIRE_VERSION)
    return CONFAB_WIRE_BAD_VERSION;

  switch (data[5])
    {
    case CONFAB_WIRE_TYPE_MESSAGE:
      result = decode_message (data, length, &d.message);
      break;

    case CONFAB_WIRE_TYPE_ACK:
      result = decode_ack (data, length, &d.ack);
      break;

    case CONFAB_WIRE_TYPE_PING:
    case CONFAB_WIRE_TYPE_PONG:
    case CONFAB_WIRE_TYPE_STALE:
      if (length != CONFAB_WIRE_PING_SIZE)
        return CONFAB_WIRE_MALFORMED;
      d.token = read_u64 (data + 8);
      result = CONFAB_WIRE_OK;
      break;

    default:
      return CONFAB_WIRE_BAD_TYPE;
    }

  if (result == CONFAB_WIRE_OK)
    {
      d.type = (ConfabWireType) data[5];
      *out = d;
    }
  return result;
}

/**
 * confab_wire_encode_message:
 * @message: one segment; its fields must pass the checks of protocol.md §4
 * @buffer: (out caller-allocates) (array length=size): where to write
 * @size: room in @buffer
 *
 * Returns: the datagram's length, or 0 if it would not fit in @size bytes or
 *   in %CONFAB_WIRE_MAX_DATAGRAM
 */
gsize
confab_wire_encode_message (const ConfabWireMessage *message,
                            guint8                  *buffer,
                            gsize                    size)
{
  gsize length;
  guint8 *p;

  g_return_val_if_fail (message != NULL, 0);
  g_return_val_if_fail (buffer != NULL, 0);
  g_return_val_if_fail (message->nick != NULL || message->nick_len == 0, 0);
  g_return_val_if_fail (message->payload != NULL, 0);
  g_return_val_if_fail (message_is_valid (message), 0);

  /* message_is_valid() bounds payload_len by total, so this cannot overflow */
  length = CONFAB_WIRE_MESSAGE_FIXED_SIZE + message->nick_len + message->payload_len;
  if (length > size || length > CONFAB_WIRE_MAX_DATAGRAM)
    return 0;

  p = buffer;
  write_header (p, CONFAB_WIRE_TYPE_MESSAGE);
  write_u64 (p + 8, message->session);
  write_u64 (p + 16, message->seq);
  write_u64 (p + 24, message->low);
  write_u64 (p + 32, message->origin);
  write_u64 (p + 40, message->number);
  write_u64 (p + 48, (guint64) message->time);
  write_u32 (p + 56, message->total);
  write_u32 (p + 60, message->offset);
  write_u16 (p + 64, message->frag);
  write_u16 (p + 66, message->nfrags);
  p[68] = message->nick_len;
  if (message->nick_len > 0)
    memcpy (p + CONFAB_WIRE_MESSAGE_FIXED_SIZE, message->nick, message->nick_len);
  memcpy (p + CONFAB_WIRE_MESSAGE_FIXED_SIZE + message->nick_len,
          message->payload, message->payload_len);

  return length;
}

/**
 * confab_wire_encode_ack:
 * @ack: the acknowledgement; @ack->bitmap holds @ack->nbits / 8 bytes
 * @buffer: (out caller-allocates) (array length=size): where to write
 * @size: room in @buffer
 *
 * Returns: the datagram's length, or 0 if it would not fit in @size bytes
 */
gsize
confab_wire_encode_ack (const ConfabWireAck *ack,
                        guint8              *buffer,
                        gsize                size)
{
  gsize length;

  g_return_val_if_fail (ack != NULL, 0);
  g_return_val_if_fail (buffer != NULL, 0);
  g_return_val_if_fail (ack->session != 0, 0);
  g_return_val_if_fail (ack->next != 0, 0);
  g_return_val_if_fail (ack->nbits % 8 == 0, 0);
  g_return_val_if_fail (ack->nbits <= CONFAB_WIRE_MAX_ACK_BITS, 0);
  g_return_val_if_fail (ack->bitmap != NULL || ack->nbits == 0, 0);

  length = CONFAB_WIRE_ACK_FIXED_SIZE + (gsize) ack->nbits / 8;
  if (length > size)
    return 0;

  write_header (buffer, CONFAB_WIRE_TYPE_ACK);
  write_u64 (buffer + 8, ack->session);
  write_u64 (buffer + 16, ack->next);
  write_u16 (buffer + 24, ack->nbits);
  if (ack->nbits > 0)
    memcpy (buffer + CONFAB_WIRE_ACK_FIXED_SIZE, ack->bitmap, ack->nbits / 8);

  return length;
}

/**
 * confab_wire_encode_ping:
 * @type: %CONFAB_WIRE_TYPE_PING, %CONFAB_WIRE_TYPE_PONG or %CONFAB_WIRE_TYPE_STALE
 * @token: the pinger's token
 * @buffer: (out caller-allocates) (array length=size): where to write
 * @size: room in @buffer
 *
 * Returns: %CONFAB_WIRE_PING_SIZE, or 0 if that does not fit in @size bytes
 */
gsize
confab_wire_encode_ping (ConfabWireType  type,
                         guint64         token,
                         guint8         *buffer,
                         gsize           size)
{
  g_return_val_if_fail (type == CONFAB_WIRE_TYPE_PING || type == CONFAB_WIRE_TYPE_PONG ||
                        type == CONFAB_WIRE_TYPE_STALE, 0);
  g_return_val_if_fail (buffer != NULL, 0);

  if (size < CONFAB_WIRE_PING_SIZE)
    return 0;

  write_header (buffer, type);
  write_u64 (buffer + 8, token);
  return CONFAB_WIRE_PING_SIZE;
}

/**
 * confab_wire_max_payload:
 * @nick_len: the nickname's length in bytes, at most %CONFAB_WIRE_MAX_NICK
 *
 * Returns: how many payload bytes one MESSAGE datagram can carry
 */
gsize
confab_wire_max_payload (gsize nick_len)
{
  g_return_val_if_fail (nick_len <= CONFAB_WIRE_MAX_NICK, 0);

  return CONFAB_WIRE_MAX_DATAGRAM - CONFAB_WIRE_SEAL_ROOM - CONFAB_WIRE_MESSAGE_FIXED_SIZE -
         nick_len;
}

/**
 * confab_wire_split:
 * @text: (array length=length): UTF-8 text
 * @length: its length in bytes
 * @max_payload: the most bytes one fragment may hold
 * @offsets: (out caller-allocates) (array): room for @max_fragments + 1 entries
 * @max_fragments: the most fragments allowed
 *
 * Cuts @text into fragments of 1 to @max_payload bytes, only between UTF-8
 * characters, as full as possible. Fragment i is @text[offsets[i]] up to
 * @text[offsets[i + 1]]; offsets[0] is 0 and offsets[n] is @length.
 *
 * Returns: n, the number of fragments, or 0 if @length is 0, if more than
 *   @max_fragments are needed, or if a character is longer than @max_payload
 */
guint
confab_wire_split (const char *text,
                   gsize       length,
                   gsize       max_payload,
                   guint32    *offsets,
                   guint       max_fragments)
{
  gsize pos = 0;
  guint n = 0;

  g_return_val_if_fail (text != NULL || length == 0, 0);
  g_return_val_if_fail (offsets != NULL, 0);
  g_return_val_if_fail (max_payload > 0, 0);

  if (length == 0 || length > G_MAXUINT32)
    return 0;

  offsets[0] = 0;
  while (pos < length)
    {
      gsize end;

      if (n == max_fragments)
        return 0;

      if (length - pos <= max_payload)
        end = length;
      else
        {
          /* back off continuation bytes (10xxxxxx) to the start of a character */
          end = pos + max_payload;
          while (end > pos && ((guchar) text[end] & 0xC0) == 0x80)
            end--;
          if (end == pos)
            return 0;
        }

      offsets[++n] = (guint32) end;
      pos = end;
    }

  return n;
}

/**
 * confab_wire_clamp_nick:
 * @nick: a NUL-terminated nickname
 *
 * Returns: the length in bytes of the longest prefix of @nick that is at most
 *   %CONFAB_WIRE_MAX_NICK bytes, valid UTF-8 and ends on a character boundary
 */
gsize
confab_wire_clamp_nick (const char *nick)
{
  const char *end = NULL;
  gsize len = 0;

  g_return_val_if_fail (nick != NULL, 0);

  while (len < CONFAB_WIRE_MAX_NICK && nick[len] != '\0')
    len++;

  /* stops before a character cut in half at the edge, as before any invalid byte */
  g_utf8_validate_len (nick, len, &end);
  return (gsize) (end - nick);
}

/**
 * confab_wire_result_to_string:
 * @result: a decoding result
 *
 * Returns: a short English name, for counters and debug output
 */
const char *
confab_wire_result_to_string (ConfabWireResult result)
{
  switch (result)
    {
    case CONFAB_WIRE_OK:
      return "ok";
    case CONFAB_WIRE_PLAIN:
      return "plain";
    case CONFAB_WIRE_MALFORMED:
      return "malformed";
    case CONFAB_WIRE_OVERSIZED:
      return "oversized";
    case CONFAB_WIRE_BAD_VERSION:
      return "version";
    case CONFAB_WIRE_BAD_TYPE:
      return "type";
    default:
      g_return_val_if_reached ("unknown");
    }
}

/* For GHashTables keyed by ConfabMessageId. The ids come from the network,
 * so the hash is keyed with a secret chosen once per process: a peer cannot
 * pick ids that all land in one bucket.
 */
guint
confab_message_id_hash (gconstpointer key)
{
  static gsize keys_set = 0;
  static guint64 k0, k1;
  const ConfabMessageId *id = key;
  guint64 h;

  if (g_once_init_enter (&keys_set))
    {
      k0 = ((guint64)g_random_int () << 32) | g_random_int ();
      k1 = ((guint64)g_random_int () << 32) | g_random_int ();
      g_once_init_leave (&keys_set, 1);
    }

  h = (id->origin ^ k0) * G_GUINT64_CONSTANT (0x9E3779B97F4A7C15);
  h ^= h >> 29;
  h += (id->number ^ k1) * G_GUINT64_CONSTANT (0xBF58476D1CE4E5B9);
  h ^= h >> 32;
  h *= G_GUINT64_CONSTANT (0x94D049BB133111EB);
  h ^= h >> 31;

  return (guint)h;
}

gboolean
confab_message_id_equal (gconstpointer a,
                         gconstpointer b)
{
  const ConfabMessageId *id_a = a;
  const ConfabMessageId *id_b = b;

  return id_a->origin == id_b->origin && id_a->number == id_b->number;
}
