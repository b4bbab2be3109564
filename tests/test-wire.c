/* test-wire.c — datagram decoding, encoding, splitting and nick clamping
 *
 * The examples of docs/protocol.md §10 are copied here byte for byte; every
 * rejection rule of §2, §4, §5 and §6 has a case of its own, next to the
 * boundary value that is still accepted.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include <string.h>

#include "confab-wire.h"

/* protocol.md §10 */
static const guint8 example_message[] = {
  0xFF, 0x43, 0x46, 0x42, 0x01, 0x01, 0x00, 0x00,
  0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
  0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
  0x00, 0x06, 0x44, 0x6A, 0x04, 0xEB, 0x10, 0x00,
  0x00, 0x00, 0x00, 0x02,
  0x00, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x01,
  0x03, 0x61, 0x6E, 0x6E,
  0x68, 0x69,
};

static const guint8 example_ack[] = {
  0xFF, 0x43, 0x46, 0x42, 0x01, 0x02, 0x00, 0x00,
  0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
  0x00, 0x00,
};

static const guint8 example_ack_bitmap[] = {
  0xFF, 0x43, 0x46, 0x42, 0x01, 0x02, 0x00, 0x00,  0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0A,  0x00, 0x08, 0x01,
};

static const guint8 example_ping[] = {
  0xFF, 0x43, 0x46, 0x42, 0x01, 0x03, 0x00, 0x00,  0x00, 0x00, 0x00, 0x00, 0xDE, 0xAD, 0xBE, 0xEF,
};

static const guint8 example_pong[] = {
  0xFF, 0x43, 0x46, 0x42, 0x01, 0x04, 0x00, 0x00,  0x00, 0x00, 0x00, 0x00, 0xDE, 0xAD, 0xBE, 0xEF,
};

#define EXAMPLE_SESSION G_GUINT64_CONSTANT (0x0102030405060708)
#define EXAMPLE_TIME    G_GINT64_CONSTANT (1764072000000000)

/* A valid MESSAGE with every field set to something distinguishable. */
static ConfabWireMessage
sample_message (void)
{
  ConfabWireMessage m = {
    .session = G_GUINT64_CONSTANT (0xFEDCBA9876543210),
    .seq = 42,
    .low = 40,
    .origin = G_GUINT64_CONSTANT (0x8000000000000001),
    .number = 7,
    .time = EXAMPLE_TIME,
    .total = 5,
    .offset = 0,
    .frag = 0,
    .nfrags = 1,
    .nick_len = 4,
    .nick = "Zoë",
    .payload = (const guint8 *) "hello",
    .payload_len = 5,
  };

  return m;
}

static void
assert_messages_equal (const ConfabWireMessage *a,
                       const ConfabWireMessage *b)
{
  g_assert_cmpuint (a->session, ==, b->session);
  g_assert_cmpuint (a->seq, ==, b->seq);
  g_assert_cmpuint (a->low, ==, b->low);
  g_assert_cmpuint (a->origin, ==, b->origin);
  g_assert_cmpuint (a->number, ==, b->number);
  g_assert_cmpint (a->time, ==, b->time);
  g_assert_cmpuint (a->total, ==, b->total);
  g_assert_cmpuint (a->offset, ==, b->offset);
  g_assert_cmpuint (a->frag, ==, b->frag);
  g_assert_cmpuint (a->nfrags, ==, b->nfrags);
  g_assert_cmpmem (a->nick, a->nick_len, b->nick, b->nick_len);
  g_assert_cmpmem (a->payload, a->payload_len, b->payload, b->payload_len);
}

/* Encodes @m, checks the length, decodes it again and compares. */
static void
assert_message_round_trips (const ConfabWireMessage *m)
{
  guint8 buffer[CONFAB_WIRE_MAX_DATAGRAM];
  ConfabWireDatagram d;
  gsize length;

  length = confab_wire_encode_message (m, buffer, sizeof buffer);
  g_assert_cmpuint (length, ==, CONFAB_WIRE_MESSAGE_FIXED_SIZE + m->nick_len + m->payload_len);
  g_assert_cmpint (confab_wire_decode (buffer, length, &d), ==, CONFAB_WIRE_OK);
  g_assert_cmpint (d.type, ==, CONFAB_WIRE_TYPE_MESSAGE);
  assert_messages_equal (&d.message, m);
  g_assert_true ((const guint8 *) d.message.nick == buffer + CONFAB_WIRE_MESSAGE_FIXED_SIZE);
  g_assert_true (d.message.payload + d.message.payload_len == buffer + length);
}

static void
test_message_round_trip (void)
{
  ConfabWireMessage m = sample_message ();

  assert_message_round_trips (&m);
}

static void
test_message_round_trip_empty_nick (void)
{
  ConfabWireMessage m = sample_message ();

  m.nick_len = 0;
  m.nick = NULL;
  assert_message_round_trips (&m);

  m.nick = "";
  assert_message_round_trips (&m);
}

static void
test_message_round_trip_max_nick (void)
{
  g_autoptr(GString) nick = g_string_new (NULL);
  g_autofree guint8 *payload = NULL;
  ConfabWireMessage m = sample_message ();
  gsize max;

  /* 16 four-byte characters: exactly 64 bytes */
  for (guint i = 0; i < 16; i++)
    g_string_append (nick, "🦊");
  g_assert_cmpuint (nick->len, ==, CONFAB_WIRE_MAX_NICK);

  max = confab_wire_max_payload (CONFAB_WIRE_MAX_NICK);
  g_assert_cmpuint (max, ==, 1019);
  payload = g_malloc (max);
  memset (payload, 'x', max);

  m.nick = nick->str;
  m.nick_len = CONFAB_WIRE_MAX_NICK;
  m.payload = payload;
  m.payload_len = max;
  m.total = max;
  assert_message_round_trips (&m);
}

static void
test_message_round_trip_max_total (void)
{
  static guint8 payload[1083];
  ConfabWireMessage m = sample_message ();

  g_assert_cmpuint (confab_wire_max_payload (0), ==, sizeof payload);
  memset (payload, 'y', sizeof payload);

  /* the last of 128 fragments of a 65536-byte text, a full fragment */
  m.nick_len = 0;
  m.nick = NULL;
  m.total = CONFAB_WIRE_MAX_TEXT;
  m.offset = CONFAB_WIRE_MAX_TEXT - sizeof payload;
  m.frag = CONFAB_WIRE_MAX_FRAGMENTS - 1;
  m.nfrags = CONFAB_WIRE_MAX_FRAGMENTS;
  m.payload = payload;
  m.payload_len = sizeof payload;
  m.seq = m.low = G_MAXUINT64;
  m.session = m.origin = m.number = G_MAXUINT64;
  assert_message_round_trips (&m);

  /* a middle fragment of the same text */
  m.frag = 64;
  m.offset = 12345;
  assert_message_round_trips (&m);
}

static void
test_message_round_trip_time (void)
{
  static const gint64 times[] = { -1, G_MININT64, G_MAXINT64, 0, -EXAMPLE_TIME };
  ConfabWireMessage m = sample_message ();

  for (gsize i = 0; i < G_N_ELEMENTS (times); i++)
    {
      m.time = times[i];
      assert_message_round_trips (&m);
    }
}

/* Splits a long multibyte text, sends each fragment through encode and
 * decode, and puts the text back together from the decoded payloads.
 */
static void
test_message_round_trip_fragments (void)
{
  g_autoptr(GString) text = g_string_new (NULL);
  g_autoptr(GString) joined = g_string_new (NULL);
  guint32 offsets[CONFAB_WIRE_MAX_FRAGMENTS + 1];
  guint8 buffer[CONFAB_WIRE_MAX_DATAGRAM];
  const char *nick = "Zoë";
  guint n;

  for (guint i = 0; text->len < 10000; i++)
    g_string_append (text, i % 3 == 0 ? "日本語 " : (i % 3 == 1 ? "🦊x" : "ab"));

  n = confab_wire_split (text->str, text->len, confab_wire_max_payload (strlen (nick)),
                         offsets, CONFAB_WIRE_MAX_FRAGMENTS);
  g_assert_cmpuint (n, >, 1);

  for (guint i = 0; i < n; i++)
    {
      ConfabWireMessage m = sample_message ();
      ConfabWireDatagram d;
      gsize length;

      m.seq = 100 + i;
      m.low = 100;
      m.total = text->len;
      m.offset = offsets[i];
      m.frag = i;
      m.nfrags = n;
      m.payload = (const guint8 *) text->str + offsets[i];
      m.payload_len = offsets[i + 1] - offsets[i];

      length = confab_wire_encode_message (&m, buffer, sizeof buffer);
      g_assert_cmpuint (length, >, 0);
      g_assert_cmpuint (length, <=, CONFAB_WIRE_MAX_DATAGRAM);
      g_assert_cmpint (confab_wire_decode (buffer, length, &d), ==, CONFAB_WIRE_OK);
      assert_messages_equal (&d.message, &m);
      g_assert_cmpuint (d.message.offset, ==, joined->len);
      g_string_append_len (joined, (const char *) d.message.payload, d.message.payload_len);
    }

  g_assert_cmpmem (joined->str, joined->len, text->str, text->len);
}

static void
assert_ack_round_trips (guint16 nbits)
{
  guint8 bitmap[CONFAB_WIRE_MAX_ACK_BITS / 8];
  guint8 buffer[CONFAB_WIRE_MAX_DATAGRAM];
  ConfabWireAck ack = { .session = 99, .next = G_MAXUINT64, .nbits = nbits, .bitmap = bitmap };
  ConfabWireDatagram d;
  gsize length;

  for (gsize i = 0; i < sizeof bitmap; i++)
    bitmap[i] = (guint8) (i * 37 + 1);

  length = confab_wire_encode_ack (&ack, buffer, sizeof buffer);
  g_assert_cmpuint (length, ==, CONFAB_WIRE_ACK_FIXED_SIZE + nbits / 8);
  g_assert_cmpint (confab_wire_decode (buffer, length, &d), ==, CONFAB_WIRE_OK);
  g_assert_cmpint (d.type, ==, CONFAB_WIRE_TYPE_ACK);
  g_assert_cmpuint (d.ack.session, ==, ack.session);
  g_assert_cmpuint (d.ack.next, ==, ack.next);
  g_assert_cmpuint (d.ack.nbits, ==, nbits);
  g_assert_cmpmem (d.ack.bitmap, nbits / 8, bitmap, nbits / 8);
  g_assert_true (d.ack.bitmap == buffer + CONFAB_WIRE_ACK_FIXED_SIZE);
}

static void
test_ack_round_trip (void)
{
  assert_ack_round_trips (0);
  assert_ack_round_trips (8);
  assert_ack_round_trips (512);
  assert_ack_round_trips (CONFAB_WIRE_MAX_ACK_BITS);
}

static void
test_ack_round_trip_no_bitmap (void)
{
  ConfabWireAck ack = { .session = 1, .next = 1, .nbits = 0, .bitmap = NULL };
  guint8 buffer[CONFAB_WIRE_ACK_FIXED_SIZE];
  ConfabWireDatagram d;

  g_assert_cmpuint (confab_wire_encode_ack (&ack, buffer, sizeof buffer), ==, sizeof buffer);
  g_assert_cmpint (confab_wire_decode (buffer, sizeof buffer, &d), ==, CONFAB_WIRE_OK);
  g_assert_cmpuint (d.ack.nbits, ==, 0);
}

static void
test_ping_round_trip (void)
{
  static const guint64 tokens[] = { 0, 1, G_GUINT64_CONSTANT (0x0123456789ABCDEF), G_MAXUINT64 };
  static const ConfabWireType types[] = { CONFAB_WIRE_TYPE_PING, CONFAB_WIRE_TYPE_PONG,
                                          CONFAB_WIRE_TYPE_STALE };

  for (gsize t = 0; t < G_N_ELEMENTS (types); t++)
    for (gsize i = 0; i < G_N_ELEMENTS (tokens); i++)
      {
        guint8 buffer[CONFAB_WIRE_PING_SIZE];
        ConfabWireDatagram d;

        g_assert_cmpuint (confab_wire_encode_ping (types[t], tokens[i], buffer, sizeof buffer),
                          ==, CONFAB_WIRE_PING_SIZE);
        g_assert_cmpint (confab_wire_decode (buffer, sizeof buffer, &d), ==, CONFAB_WIRE_OK);
        g_assert_cmpint (d.type, ==, types[t]);
        g_assert_cmpuint (d.token, ==, tokens[i]);
      }
}

static void
test_example_message (void)
{
  ConfabWireMessage m = {
    .session = EXAMPLE_SESSION, .seq = 1, .low = 1, .origin = EXAMPLE_SESSION, .number = 1,
    .time = EXAMPLE_TIME, .total = 2, .offset = 0, .frag = 0, .nfrags = 1,
    .nick_len = 3, .nick = "ann", .payload = (const guint8 *) "hi", .payload_len = 2,
  };
  guint8 buffer[CONFAB_WIRE_MAX_DATAGRAM];
  ConfabWireDatagram d;
  gsize length;

  g_assert_cmpint (confab_wire_decode (example_message, sizeof example_message, &d),
                   ==, CONFAB_WIRE_OK);
  g_assert_cmpint (d.type, ==, CONFAB_WIRE_TYPE_MESSAGE);
  assert_messages_equal (&d.message, &m);

  length = confab_wire_encode_message (&m, buffer, sizeof buffer);
  g_assert_cmpmem (buffer, length, example_message, sizeof example_message);
}

static void
test_example_ack (void)
{
  ConfabWireAck ack = { .session = EXAMPLE_SESSION, .next = 2, .nbits = 0, .bitmap = NULL };
  guint8 buffer[CONFAB_WIRE_MAX_DATAGRAM];
  ConfabWireDatagram d;
  gsize length;

  g_assert_cmpint (confab_wire_decode (example_ack, sizeof example_ack, &d), ==, CONFAB_WIRE_OK);
  g_assert_cmpint (d.type, ==, CONFAB_WIRE_TYPE_ACK);
  g_assert_cmpuint (d.ack.session, ==, EXAMPLE_SESSION);
  g_assert_cmpuint (d.ack.next, ==, 2);
  g_assert_cmpuint (d.ack.nbits, ==, 0);

  length = confab_wire_encode_ack (&ack, buffer, sizeof buffer);
  g_assert_cmpmem (buffer, length, example_ack, sizeof example_ack);
}

static void
test_example_ack_bitmap (void)
{
  static const guint8 bitmap[] = { 0x01 };
  ConfabWireAck ack = { .session = EXAMPLE_SESSION, .next = 10, .nbits = 8, .bitmap = bitmap };
  guint8 buffer[CONFAB_WIRE_MAX_DATAGRAM];
  ConfabWireDatagram d;
  gsize length;

  g_assert_cmpint (confab_wire_decode (example_ack_bitmap, sizeof example_ack_bitmap, &d),
                   ==, CONFAB_WIRE_OK);
  g_assert_cmpint (d.type, ==, CONFAB_WIRE_TYPE_ACK);
  g_assert_cmpuint (d.ack.session, ==, EXAMPLE_SESSION);
  g_assert_cmpuint (d.ack.next, ==, 10);
  g_assert_cmpuint (d.ack.nbits, ==, 8);
  /* bit 0 is seq next + 1 = 11 */
  g_assert_cmphex (d.ack.bitmap[0], ==, 0x01);

  length = confab_wire_encode_ack (&ack, buffer, sizeof buffer);
  g_assert_cmpmem (buffer, length, example_ack_bitmap, sizeof example_ack_bitmap);
}

static void
test_example_ping (void)
{
  guint8 buffer[CONFAB_WIRE_MAX_DATAGRAM];
  ConfabWireDatagram d;
  gsize length;

  g_assert_cmpint (confab_wire_decode (example_ping, sizeof example_ping, &d), ==, CONFAB_WIRE_OK);
  g_assert_cmpint (d.type, ==, CONFAB_WIRE_TYPE_PING);
  g_assert_cmphex (d.token, ==, 0xDEADBEEF);
  length = confab_wire_encode_ping (CONFAB_WIRE_TYPE_PING, d.token, buffer, sizeof buffer);
  g_assert_cmpmem (buffer, length, example_ping, sizeof example_ping);

  g_assert_cmpint (confab_wire_decode (example_pong, sizeof example_pong, &d), ==, CONFAB_WIRE_OK);
  g_assert_cmpint (d.type, ==, CONFAB_WIRE_TYPE_PONG);
  g_assert_cmphex (d.token, ==, 0xDEADBEEF);
  length = confab_wire_encode_ping (CONFAB_WIRE_TYPE_PONG, d.token, buffer, sizeof buffer);
  g_assert_cmpmem (buffer, length, example_pong, sizeof example_pong);
}

/* Every prefix of a valid datagram is malformed, and none is read past. */
static void
assert_prefixes_malformed (const guint8 *datagram,
                           gsize         length)
{
  for (gsize len = 1; len < length; len++)
    {
      g_autofree guint8 *copy = g_memdup2 (datagram, len);
      ConfabWireDatagram d;

      g_assert_cmpint (confab_wire_decode (copy, len, &d), ==, CONFAB_WIRE_MALFORMED);
    }
}

static void
test_reject_truncated (void)
{
  assert_prefixes_malformed (example_message, sizeof example_message);
  assert_prefixes_malformed (example_ack, sizeof example_ack);
  assert_prefixes_malformed (example_ack_bitmap, sizeof example_ack_bitmap);
  assert_prefixes_malformed (example_ping, sizeof example_ping);
  assert_prefixes_malformed (example_pong, sizeof example_pong);
}

static void
test_reject_plain (void)
{
  guint8 long_text[CONFAB_WIRE_MAX_DATAGRAM + 1];
  ConfabWireDatagram d;

  g_assert_cmpint (confab_wire_decode (NULL, 0, &d), ==, CONFAB_WIRE_PLAIN);
  g_assert_cmpint (confab_wire_decode (example_message, 0, &d), ==, CONFAB_WIRE_PLAIN);
  g_assert_cmpint (confab_wire_decode ((const guint8 *) "hello\n", 6, &d), ==, CONFAB_WIRE_PLAIN);
  /* the magic without its 0xFF is text */
  g_assert_cmpint (confab_wire_decode (example_ping + 1, sizeof example_ping - 1, &d),
                   ==, CONFAB_WIRE_PLAIN);
  /* plain text is not limited to a datagram's size here; the channel decides */
  memset (long_text, 'a', sizeof long_text);
  g_assert_cmpint (confab_wire_decode (long_text, sizeof long_text, &d), ==, CONFAB_WIRE_PLAIN);
}

/* Table-driven cases: a valid base datagram, up to four big-endian field
 * patches, an optional new length (the added bytes are 'a') and the result.
 */
typedef enum
{
  BASE_MESSAGE,    /* example_message: frag 0 of 1, total 2, nick "ann", payload "hi" */
  BASE_MIDDLE,     /* the same patched to frag 1 of 3, offset 10, total 30 */
  BASE_ACK,        /* example_ack_bitmap: next 10, nbits 8 */
  BASE_PING,
  BASE_PONG,
} Base;

typedef struct
{
  guint   offset;
  guint   size;    /* 0 ends the list */
  guint64 value;
} Patch;

typedef struct
{
  const char       *name;
  Base              base;
  Patch             patches[4];
  gsize             length;   /* 0: keep the base's */
  ConfabWireResult  expected;
} DecodeCase;

#define SESSION  8, 8
#define SEQ      16, 8
#define LOW      24, 8
#define ORIGIN   32, 8
#define NUMBER   40, 8
#define TIME     48, 8
#define TOTAL    56, 4
#define OFFSET   60, 4
#define FRAG     64, 2
#define NFRAGS   66, 2
#define NICK_LEN 68, 1
#define NICK0    69, 1
#define NICK1    70, 1
#define NICK2    71, 1
#define PAYLOAD0 72, 1
#define ACK_SESSION 8, 8
#define ACK_NEXT    16, 8
#define ACK_NBITS   24, 2

#define MALFORMED CONFAB_WIRE_MALFORMED

static const DecodeCase decode_cases[] = {
  /* §2 header */
  { "header/oversized", BASE_MESSAGE, { { 0 } }, 1201, CONFAB_WIRE_OVERSIZED },
  { "header/oversized-before-magic", BASE_MESSAGE, { { 1, 1, 'X' } }, 1201, CONFAB_WIRE_OVERSIZED },
  { "header/oversized-ping", BASE_PING, { { 0 } }, 1201, CONFAB_WIRE_OVERSIZED },
  { "header/magic-byte-1", BASE_PING, { { 1, 1, 'c' } }, 0, MALFORMED },
  { "header/magic-byte-2", BASE_PING, { { 2, 1, 'f' } }, 0, MALFORMED },
  { "header/magic-byte-3", BASE_PING, { { 3, 1, 'b' } }, 0, MALFORMED },
  { "header/magic-short", BASE_PING, { { 0 } }, 7, MALFORMED },
  { "header/version-0", BASE_MESSAGE, { { 4, 1, 0 } }, 0, CONFAB_WIRE_BAD_VERSION },
  { "header/version-2", BASE_MESSAGE, { { 4, 1, 2 } }, 0, CONFAB_WIRE_BAD_VERSION },
  { "header/version-2-header-only", BASE_MESSAGE, { { 4, 1, 2 } }, 8, CONFAB_WIRE_BAD_VERSION },
  { "header/version-255", BASE_PING, { { 4, 1, 255 } }, 0, CONFAB_WIRE_BAD_VERSION },
  { "header/type-0", BASE_PING, { { 5, 1, 0 } }, 0, CONFAB_WIRE_BAD_TYPE },
  { "header/type-6", BASE_PING, { { 5, 1, 6 } }, 0, CONFAB_WIRE_BAD_TYPE },
  { "header/type-6-header-only", BASE_PING, { { 5, 1, 6 } }, 8, CONFAB_WIRE_BAD_TYPE },
  { "stale/header-only", BASE_PING, { { 5, 1, 5 } }, 8, CONFAB_WIRE_MALFORMED },
  { "header/type-255", BASE_PING, { { 5, 1, 255 } }, 0, CONFAB_WIRE_BAD_TYPE },
  { "header/reserved-ignored", BASE_MESSAGE, { { 6, 2, 0xBEEF } }, 0, CONFAB_WIRE_OK },

  /* §4 MESSAGE */
  { "message/valid-middle", BASE_MIDDLE, { { 0 } }, 0, CONFAB_WIRE_OK },
  { "message/shorter-than-fixed", BASE_MESSAGE, { { 0 } }, 68, MALFORMED },
  { "message/no-payload", BASE_MESSAGE, { { 0 } }, 72, MALFORMED },
  { "message/nick-past-end", BASE_MESSAGE, { { NICK_LEN, 10 } }, 0, MALFORMED },
  { "message/zero-session", BASE_MESSAGE, { { SESSION, 0 } }, 0, MALFORMED },
  { "message/zero-seq", BASE_MESSAGE, { { SEQ, 0 }, { LOW, 0 } }, 0, MALFORMED },
  { "message/zero-low", BASE_MESSAGE, { { LOW, 0 } }, 0, MALFORMED },
  { "message/zero-origin", BASE_MESSAGE, { { ORIGIN, 0 } }, 0, MALFORMED },
  { "message/zero-number", BASE_MESSAGE, { { NUMBER, 0 } }, 0, MALFORMED },
  { "message/low-above-seq", BASE_MESSAGE, { { SEQ, 5 }, { LOW, 6 } }, 0, MALFORMED },
  { "message/low-equals-seq", BASE_MESSAGE, { { SEQ, 5 }, { LOW, 5 } }, 0, CONFAB_WIRE_OK },
  { "message/max-ids", BASE_MESSAGE,
    { { SEQ, G_MAXUINT64 }, { LOW, G_MAXUINT64 },
      { ORIGIN, G_MAXUINT64 }, { NUMBER, G_MAXUINT64 } },
    0, CONFAB_WIRE_OK },
  { "message/negative-time", BASE_MESSAGE, { { TIME, G_MAXUINT64 } }, 0, CONFAB_WIRE_OK },
  { "message/total-0", BASE_MIDDLE, { { TOTAL, 0 }, { OFFSET, 0 } }, 0, MALFORMED },
  { "message/total-65537", BASE_MIDDLE, { { TOTAL, 65537 } }, 0, MALFORMED },
  { "message/total-65536", BASE_MIDDLE, { { TOTAL, 65536 } }, 0, CONFAB_WIRE_OK },
  { "message/nfrags-0", BASE_MESSAGE, { { NFRAGS, 0 } }, 0, MALFORMED },
  { "message/nfrags-129", BASE_MIDDLE, { { NFRAGS, 129 } }, 0, MALFORMED },
  { "message/nfrags-128", BASE_MIDDLE, { { NFRAGS, 128 } }, 0, CONFAB_WIRE_OK },
  { "message/frag-equals-nfrags", BASE_MIDDLE, { { FRAG, 3 } }, 0, MALFORMED },
  { "message/frag-above-nfrags", BASE_MIDDLE, { { FRAG, 0xFFFF } }, 0, MALFORMED },
  /* the bytes past the base are 'a': a long nick is valid UTF-8 and a 1-byte payload follows */
  { "message/nick-len-65", BASE_MESSAGE, { { NICK_LEN, 65 }, { TOTAL, 1 } }, 69 + 65 + 1,
    MALFORMED },
  { "message/nick-len-64", BASE_MESSAGE, { { NICK_LEN, 64 }, { TOTAL, 1 } }, 69 + 64 + 1,
    CONFAB_WIRE_OK },
  { "message/nick-len-255", BASE_MESSAGE, { { NICK_LEN, 255 }, { TOTAL, 1 } }, 69 + 255 + 1,
    MALFORMED },
  { "message/nick-len-0", BASE_MESSAGE, { { NICK_LEN, 0 }, { TOTAL, 5 } }, 0, CONFAB_WIRE_OK },
  { "message/nick-invalid-utf8", BASE_MESSAGE, { { NICK0, 0xC3 }, { NICK1, 0x28 } }, 0, MALFORMED },
  { "message/nick-lone-continuation", BASE_MESSAGE, { { NICK1, 0x80 } }, 0, MALFORMED },
  { "message/nick-cut-character", BASE_MESSAGE, { { NICK2, 0xC3 } }, 0, MALFORMED },
  { "message/nick-0xff", BASE_MESSAGE, { { NICK0, 0xFF } }, 0, MALFORMED },
  { "message/nick-nul", BASE_MESSAGE, { { NICK1, 0x00 } }, 0, MALFORMED },
  { "message/nick-multibyte", BASE_MESSAGE, { { NICK1, 0xC3 }, { NICK2, 0xAB } }, 0,
    CONFAB_WIRE_OK },
  { "message/payload-not-utf8", BASE_MESSAGE, { { PAYLOAD0, 0xFF } }, 0, CONFAB_WIRE_OK },
  { "message/payload-nul", BASE_MESSAGE, { { PAYLOAD0, 0x00 } }, 0, CONFAB_WIRE_OK },
  { "message/past-total", BASE_MIDDLE, { { TOTAL, 11 } }, 0, MALFORMED },
  { "message/past-total-at-end", BASE_MIDDLE, { { TOTAL, 12 } }, 0, CONFAB_WIRE_OK },
  { "message/offset-past-total", BASE_MIDDLE, { { OFFSET, 31 } }, 0, MALFORMED },
  { "message/offset-overflow", BASE_MIDDLE, { { OFFSET, G_MAXUINT32 } }, 0, MALFORMED },
  { "message/last-ends-short", BASE_MESSAGE, { { TOTAL, 3 } }, 0, MALFORMED },
  { "message/last-ends-short-middle", BASE_MIDDLE, { { FRAG, 2 } }, 0, MALFORMED },
  { "message/last-ends-at-total", BASE_MIDDLE, { { FRAG, 2 }, { TOTAL, 12 } }, 0, CONFAB_WIRE_OK },
  { "message/first-offset-not-0", BASE_MIDDLE, { { FRAG, 0 } }, 0, MALFORMED },
  { "message/first-of-many", BASE_MIDDLE, { { FRAG, 0 }, { OFFSET, 0 } }, 0, CONFAB_WIRE_OK },

  /* §5 ACK */
  { "ack/nbits-7", BASE_ACK, { { ACK_NBITS, 7 } }, 0, MALFORMED },
  { "ack/nbits-7-short", BASE_ACK, { { ACK_NBITS, 7 } }, 26, MALFORMED },
  { "ack/nbits-9", BASE_ACK, { { ACK_NBITS, 9 } }, 0, MALFORMED },
  { "ack/nbits-1024", BASE_ACK, { { ACK_NBITS, 1024 } }, 26 + 128, CONFAB_WIRE_OK },
  { "ack/nbits-1032", BASE_ACK, { { ACK_NBITS, 1032 } }, 26 + 129, MALFORMED },
  { "ack/nbits-65528", BASE_ACK, { { ACK_NBITS, 65528 } }, 1200, MALFORMED },
  { "ack/length-one-more", BASE_ACK, { { 0 } }, 28, MALFORMED },
  { "ack/length-one-less", BASE_ACK, { { 0 } }, 26, MALFORMED },
  { "ack/length-for-no-bits", BASE_ACK, { { ACK_NBITS, 0 } }, 0, MALFORMED },
  { "ack/zero-next", BASE_ACK, { { ACK_NEXT, 0 } }, 0, MALFORMED },
  { "ack/zero-session", BASE_ACK, { { ACK_SESSION, 0 } }, 0, MALFORMED },
  { "ack/max-next", BASE_ACK, { { ACK_NEXT, G_MAXUINT64 } }, 0, CONFAB_WIRE_OK },

  /* §6 PING and PONG */
  { "ping/length-15", BASE_PING, { { 0 } }, 15, MALFORMED },
  { "ping/length-17", BASE_PING, { { 0 } }, 17, MALFORMED },
  { "ping/length-8", BASE_PING, { { 0 } }, 8, MALFORMED },
  { "ping/zero-token", BASE_PING, { { 8, 8, 0 } }, 0, CONFAB_WIRE_OK },
  { "pong/length-15", BASE_PONG, { { 0 } }, 15, MALFORMED },
  { "pong/length-17", BASE_PONG, { { 0 } }, 17, MALFORMED },
};

static void
patch (guint8      *buffer,
       const Patch *p)
{
  for (guint i = 0; i < p->size; i++)
    buffer[p->offset + i] = (guint8) (p->value >> (8 * (p->size - 1 - i)));
}

static gsize
build_base (Base    base,
            guint8 *buffer)
{
  static const Patch middle[] = { { FRAG, 1 }, { NFRAGS, 3 }, { OFFSET, 10 }, { TOTAL, 30 } };

  switch (base)
    {
    case BASE_MESSAGE:
      memcpy (buffer, example_message, sizeof example_message);
      return sizeof example_message;
    case BASE_MIDDLE:
      memcpy (buffer, example_message, sizeof example_message);
      for (gsize i = 0; i < G_N_ELEMENTS (middle); i++)
        patch (buffer, &middle[i]);
      return sizeof example_message;
    case BASE_ACK:
      memcpy (buffer, example_ack_bitmap, sizeof example_ack_bitmap);
      return sizeof example_ack_bitmap;
    case BASE_PING:
      memcpy (buffer, example_ping, sizeof example_ping);
      return sizeof example_ping;
    case BASE_PONG:
      memcpy (buffer, example_pong, sizeof example_pong);
      return sizeof example_pong;
    default:
      g_assert_not_reached ();
    }
}

static void
test_decode_case (gconstpointer data)
{
  const DecodeCase *c = data;
  guint8 buffer[CONFAB_WIRE_MAX_DATAGRAM + 1];
  g_autofree guint8 *datagram = NULL;
  ConfabWireDatagram d;
  gsize length;

  memset (buffer, 'a', sizeof buffer);
  length = build_base (c->base, buffer);
  for (gsize i = 0; i < G_N_ELEMENTS (c->patches) && c->patches[i].size > 0; i++)
    patch (buffer, &c->patches[i]);
  if (c->length > 0)
    length = c->length;

  /* an exact-size copy, so that a read past the end is caught by ASan */
  g_assert_cmpuint (length, <=, sizeof buffer);
  datagram = g_memdup2 (buffer, length);
  g_assert_cmpstr (confab_wire_result_to_string (confab_wire_decode (datagram, length, &d)),
                   ==, confab_wire_result_to_string (c->expected));
}

static void
test_result_to_string (void)
{
  g_assert_cmpstr (confab_wire_result_to_string (CONFAB_WIRE_OK), ==, "ok");
  g_assert_cmpstr (confab_wire_result_to_string (CONFAB_WIRE_PLAIN), ==, "plain");
  g_assert_cmpstr (confab_wire_result_to_string (CONFAB_WIRE_MALFORMED), ==, "malformed");
  g_assert_cmpstr (confab_wire_result_to_string (CONFAB_WIRE_OVERSIZED), ==, "oversized");
  g_assert_cmpstr (confab_wire_result_to_string (CONFAB_WIRE_BAD_VERSION), ==, "version");
  g_assert_cmpstr (confab_wire_result_to_string (CONFAB_WIRE_BAD_TYPE), ==, "type");
}

static void
test_encode_size_limits (void)
{
  static guint8 payload[CONFAB_WIRE_MAX_DATAGRAM];
  guint8 buffer[CONFAB_WIRE_MAX_DATAGRAM + 64];
  ConfabWireMessage m = sample_message ();
  guint8 bitmap[1] = { 0 };
  ConfabWireAck ack = { .session = 1, .next = 1, .nbits = 8, .bitmap = bitmap };
  gsize length;

  memset (payload, 'p', sizeof payload);
  m.payload = payload;

  /* a full fragment leaves room for a seal */
  m.payload_len = m.total = confab_wire_max_payload (m.nick_len);
  g_assert_cmpuint (confab_wire_encode_message (&m, buffer, sizeof buffer), ==,
                    1200 - CONFAB_WIRE_SEAL_ROOM);

  /* exactly 1200 bytes fits, one more byte of payload does not, however big the buffer */
  m.payload_len = m.total = confab_wire_max_payload (m.nick_len) + CONFAB_WIRE_SEAL_ROOM;
  g_assert_cmpuint (confab_wire_encode_message (&m, buffer, sizeof buffer), ==, 1200);
  m.payload_len = m.total = confab_wire_max_payload (m.nick_len) + CONFAB_WIRE_SEAL_ROOM + 1;
  g_assert_cmpuint (confab_wire_encode_message (&m, buffer, sizeof buffer), ==, 0);

  /* a buffer one byte short is refused and left alone */
  m = sample_message ();
  length = CONFAB_WIRE_MESSAGE_FIXED_SIZE + m.nick_len + m.payload_len;
  memset (buffer, 0xAA, sizeof buffer);
  g_assert_cmpuint (confab_wire_encode_message (&m, buffer, length - 1), ==, 0);
  g_assert_cmphex (buffer[0], ==, 0xAA);
  g_assert_cmpuint (confab_wire_encode_message (&m, buffer, length), ==, length);

  g_assert_cmpuint (confab_wire_encode_ack (&ack, buffer, 26), ==, 0);
  g_assert_cmpuint (confab_wire_encode_ack (&ack, buffer, 27), ==, 27);
  g_assert_cmpuint (confab_wire_encode_ping (CONFAB_WIRE_TYPE_PING, 1, buffer, 15), ==, 0);
  g_assert_cmpuint (confab_wire_encode_ping (CONFAB_WIRE_TYPE_PING, 1, buffer, 16), ==, 16);
}

/* Invalid field values are programmer errors: a critical, and nothing written. */
typedef enum
{
  BAD_ZERO_SESSION,
  BAD_ZERO_SEQ,
  BAD_ZERO_LOW,
  BAD_ZERO_ORIGIN,
  BAD_ZERO_NUMBER,
  BAD_LOW_ABOVE_SEQ,
  BAD_TOTAL_0,
  BAD_TOTAL_65537,
  BAD_NFRAGS_0,
  BAD_NFRAGS_129,
  BAD_FRAG,
  BAD_NICK_LEN,
  BAD_NICK_UTF8,
  BAD_NICK_NULL,
  BAD_PAYLOAD_EMPTY,
  BAD_PAYLOAD_NULL,
  BAD_PAST_TOTAL,
  BAD_LAST_SHORT,
  BAD_FIRST_OFFSET,
  BAD_ACK_ZERO_SESSION,
  BAD_ACK_ZERO_NEXT,
  BAD_ACK_NBITS_7,
  BAD_ACK_NBITS_1032,
  BAD_ACK_NO_BITMAP,
  BAD_PING_TYPE,
  N_BAD,
} Bad;

static const char * const bad_names[N_BAD] = {
  "zero-session", "zero-seq", "zero-low", "zero-origin", "zero-number", "low-above-seq",
  "total-0", "total-65537", "nfrags-0", "nfrags-129", "frag-equals-nfrags", "nick-len-65",
  "nick-invalid-utf8", "nick-null", "payload-empty", "payload-null", "past-total",
  "last-ends-short", "first-offset-not-0", "ack-zero-session", "ack-zero-next", "ack-nbits-7",
  "ack-nbits-1032", "ack-no-bitmap", "ping-type-message",
};

static gsize
encode_bad (Bad     bad,
            guint8 *buffer,
            gsize   size)
{
  static const char long_nick[] =
    "0123456789012345678901234567890123456789012345678901234567890123X";
  ConfabWireMessage m = sample_message ();
  ConfabWireAck ack = { .session = 1, .next = 1, .nbits = 8, .bitmap = (const guint8 *) "x" };

  switch (bad)
    {
    case BAD_ZERO_SESSION:
      m.session = 0;
      break;
    case BAD_ZERO_SEQ:
      m.seq = 0;
      m.low = 0;
      break;
    case BAD_ZERO_LOW:
      m.low = 0;
      break;
    case BAD_ZERO_ORIGIN:
      m.origin = 0;
      break;
    case BAD_ZERO_NUMBER:
      m.number = 0;
      break;
    case BAD_LOW_ABOVE_SEQ:
      m.low = m.seq + 1;
      break;
    case BAD_TOTAL_0:
      m.total = 0;
      break;
    case BAD_TOTAL_65537:
      m.total = 65537;
      m.nfrags = 2;
      break;
    case BAD_NFRAGS_0:
      m.nfrags = 0;
      break;
    case BAD_NFRAGS_129:
      m.nfrags = 129;
      m.total = 100;
      break;
    case BAD_FRAG:
      m.frag = 1;
      m.nfrags = 1;
      break;
    case BAD_NICK_LEN:
      m.nick = long_nick;
      m.nick_len = 65;
      break;
    case BAD_NICK_UTF8:
      m.nick = "\xC3\x28";
      m.nick_len = 2;
      break;
    case BAD_NICK_NULL:
      m.nick = NULL;
      break;
    case BAD_PAYLOAD_EMPTY:
      m.payload_len = 0;
      break;
    case BAD_PAYLOAD_NULL:
      m.payload = NULL;
      break;
    case BAD_PAST_TOTAL:
      m.frag = 1;
      m.nfrags = 3;
      m.offset = 3;
      break;
    case BAD_LAST_SHORT:
      m.total = 6;
      break;
    case BAD_FIRST_OFFSET:
      m.nfrags = 2;
      m.offset = 1;
      m.total = 10;
      break;
    case BAD_ACK_ZERO_SESSION:
      ack.session = 0;
      return confab_wire_encode_ack (&ack, buffer, size);
    case BAD_ACK_ZERO_NEXT:
      ack.next = 0;
      return confab_wire_encode_ack (&ack, buffer, size);
    case BAD_ACK_NBITS_7:
      ack.nbits = 7;
      return confab_wire_encode_ack (&ack, buffer, size);
    case BAD_ACK_NBITS_1032:
      ack.nbits = 1032;
      return confab_wire_encode_ack (&ack, buffer, size);
    case BAD_ACK_NO_BITMAP:
      ack.bitmap = NULL;
      return confab_wire_encode_ack (&ack, buffer, size);
    case BAD_PING_TYPE:
      return confab_wire_encode_ping (CONFAB_WIRE_TYPE_MESSAGE, 1, buffer, size);
    case N_BAD:
    default:
      g_assert_not_reached ();
    }

  return confab_wire_encode_message (&m, buffer, size);
}

static void
test_encode_invalid (gconstpointer data)
{
  Bad bad = GPOINTER_TO_INT (data);

  if (g_test_subprocess ())
    {
      guint8 buffer[CONFAB_WIRE_MAX_DATAGRAM];

      /* g_test_init() makes criticals fatal; here one is the expected outcome */
      g_log_set_always_fatal (G_LOG_FATAL_MASK);
      memset (buffer, 0xAA, sizeof buffer);
      g_assert_cmpuint (encode_bad (bad, buffer, sizeof buffer), ==, 0);
      g_assert_cmphex (buffer[0], ==, 0xAA);
      return;
    }

  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr ("*CRITICAL*assertion*failed*");
}

static void
assert_split (const char    *text,
              gsize          max_payload,
              guint          max_fragments,
              const guint32 *expected,
              guint          n_expected)
{
  guint32 offsets[CONFAB_WIRE_MAX_FRAGMENTS + 1];
  guint n;

  n = confab_wire_split (text, strlen (text), max_payload, offsets, max_fragments);
  g_assert_cmpuint (n, ==, n_expected);
  if (n > 0)
    g_assert_cmpmem (offsets, (n + 1) * sizeof (guint32), expected, (n + 1) * sizeof (guint32));
}

static void
test_split_boundaries (void)
{
  /* "ab€": the 3-byte € straddles a 4-byte limit and moves to the next fragment */
  assert_split ("ab€", 4, 8, (const guint32[]) { 0, 2, 5 }, 2);
  /* "a€b": € ends exactly at the limit */
  assert_split ("a€b", 4, 8, (const guint32[]) { 0, 4, 5 }, 2);
  /* a 4-byte 🦊 straddling at every position of a 5-byte limit */
  assert_split ("abc🦊d", 5, 8, (const guint32[]) { 0, 3, 8 }, 2);
  assert_split ("ab🦊cd", 5, 8, (const guint32[]) { 0, 2, 7, 8 }, 3);
  assert_split ("a🦊🦊", 5, 8, (const guint32[]) { 0, 5, 9 }, 2);
  assert_split ("🦊🦊🦊", 4, 8, (const guint32[]) { 0, 4, 8, 12 }, 3);
  assert_split ("🦊🦊🦊", 7, 8, (const guint32[]) { 0, 4, 8, 12 }, 3);
  /* a 2-byte é */
  assert_split ("aé", 2, 8, (const guint32[]) { 0, 1, 3 }, 2);
  /* text that fits is one fragment */
  assert_split ("x", 1, 1, (const guint32[]) { 0, 1 }, 1);
  assert_split ("日本語", 9, 1, (const guint32[]) { 0, 9 }, 1);
  /* a character longer than the limit cannot be split */
  assert_split ("🦊", 3, 8, NULL, 0);
}

static void
test_split_limits (void)
{
  guint32 offsets[CONFAB_WIRE_MAX_FRAGMENTS + 1];

  assert_split ("", 10, 8, NULL, 0);
  g_assert_cmpuint (confab_wire_split (NULL, 0, 10, offsets, 8), ==, 0);

  /* 10 bytes at 5 per fragment: 2 fragments, so 1 allowed is too few */
  assert_split ("0123456789", 5, 2, (const guint32[]) { 0, 5, 10 }, 2);
  assert_split ("0123456789", 5, 1, NULL, 0);
  assert_split ("0123456789", 4, 2, NULL, 0);
}

/* Checks the invariants of a split of @text and returns the count. */
static guint
split_checked (const GString *text,
               gsize          max_payload,
               guint          max_fragments)
{
  g_autofree guint32 *offsets = g_new (guint32, max_fragments + 1);
  guint n;

  n = confab_wire_split (text->str, text->len, max_payload, offsets, max_fragments);
  if (n == 0)
    return 0;

  g_assert_cmpuint (offsets[0], ==, 0);
  g_assert_cmpuint (offsets[n], ==, text->len);
  for (guint i = 0; i < n; i++)
    {
      gsize len = offsets[i + 1] - offsets[i];

      g_assert_cmpuint (offsets[i + 1], >, offsets[i]);
      g_assert_cmpuint (len, <=, max_payload);
      g_assert_true (g_utf8_validate_len (text->str + offsets[i], len, NULL));
      /* fragments are filled: the next character would not have fitted */
      if (i + 1 < n)
        g_assert_cmpuint (len + g_utf8_skip[(guchar) text->str[offsets[i + 1]]], >, max_payload);
    }
  return n;
}

static void
test_split_max_text (void)
{
  static const char * const chars[] = { "a", "é", "€", "🦊" };
  gsize nick_max = confab_wire_max_payload (CONFAB_WIRE_MAX_NICK);

  for (gsize c = 0; c < G_N_ELEMENTS (chars); c++)
    {
      g_autoptr(GString) text = g_string_new (NULL);

      /* 65536 bytes: fill with the character, pad with ASCII */
      while (text->len + strlen (chars[c]) <= CONFAB_WIRE_MAX_TEXT)
        g_string_append (text, chars[c]);
      while (text->len < CONFAB_WIRE_MAX_TEXT)
        g_string_append_c (text, '.');

      /* 65536 / 1019 rounds up to 65: about half the 128 allowed */
      g_assert_cmpuint (split_checked (text, nick_max, CONFAB_WIRE_MAX_FRAGMENTS), <=, 66);
      g_assert_cmpuint (split_checked (text, confab_wire_max_payload (0),
                                       CONFAB_WIRE_MAX_FRAGMENTS), <=, 66);
    }
}

static void
test_split_too_many (void)
{
  g_autoptr(GString) text = g_string_new (NULL);
  g_autoptr(GString) fox = g_string_new (NULL);

  g_string_set_size (text, CONFAB_WIRE_MAX_TEXT);
  memset (text->str, 'z', text->len);

  /* 65536 = 128 * 512: exactly the limit, and one byte less per fragment is too many */
  g_assert_cmpuint (split_checked (text, 512, CONFAB_WIRE_MAX_FRAGMENTS), ==, 128);
  g_assert_cmpuint (split_checked (text, 511, CONFAB_WIRE_MAX_FRAGMENTS), ==, 0);
  g_assert_cmpuint (split_checked (text, 1, CONFAB_WIRE_MAX_FRAGMENTS), ==, 0);

  /* a 514-byte limit holds 128 four-byte characters and 2 bytes of one cut off:
   * 16384 of them take 128 fragments, one more needs a 129th
   */
  while (fox->len < CONFAB_WIRE_MAX_TEXT)
    g_string_append (fox, "🦊");
  g_assert_cmpuint (split_checked (fox, 514, CONFAB_WIRE_MAX_FRAGMENTS), ==, 128);
  g_string_append (fox, "🦊");
  g_assert_cmpuint (split_checked (fox, 514, CONFAB_WIRE_MAX_FRAGMENTS), ==, 0);
}

static void
test_max_payload (void)
{
  /* 1200 bytes, less 48 for a seal and 69 of fixed fields */
  g_assert_cmpuint (confab_wire_max_payload (0), ==, 1083);
  g_assert_cmpuint (confab_wire_max_payload (3), ==, 1080);
  g_assert_cmpuint (confab_wire_max_payload (64), ==, 1019);
}

static void
assert_clamp (const char *prefix_char,
              guint       n_prefix,
              const char *tail,
              gsize       expected)
{
  g_autoptr(GString) nick = g_string_new (NULL);
  gsize clamped;

  for (guint i = 0; i < n_prefix; i++)
    g_string_append (nick, prefix_char);
  g_string_append (nick, tail);

  clamped = confab_wire_clamp_nick (nick->str);
  g_assert_cmpuint (clamped, ==, expected);
  g_assert_true (g_utf8_validate_len (nick->str, clamped, NULL));
}

static void
test_clamp_nick (void)
{
  assert_clamp ("", 0, "", 0);
  assert_clamp ("", 0, "ann", 3);
  assert_clamp ("", 0, "Zoë 🦊", 9);
  assert_clamp ("a", 64, "", 64);
  assert_clamp ("a", 65, "", 64);
  assert_clamp ("a", 200, "", 64);
  /* 2-byte é at the edge: whole at bytes 63-64, cut at 64-65 */
  assert_clamp ("a", 62, "é", 64);
  assert_clamp ("a", 63, "é", 63);
  /* 3-byte € ending at 64, 65 and 66 */
  assert_clamp ("a", 61, "€", 64);
  assert_clamp ("a", 62, "€", 62);
  assert_clamp ("a", 63, "€x", 63);
  /* 4-byte 🦊 at every offset across the edge */
  assert_clamp ("a", 60, "🦊", 64);
  assert_clamp ("a", 61, "🦊", 61);
  assert_clamp ("a", 62, "🦊", 62);
  assert_clamp ("a", 63, "🦊", 63);
  assert_clamp ("🦊", 16, "", 64);
  assert_clamp ("🦊", 17, "", 64);
  assert_clamp ("€", 22, "", 63);
  assert_clamp ("é", 40, "", 64);
}

/* Ids a peer chose to collide under a plain xor of their halves spread out. */
static void
test_message_id_hash_spreads_chosen_ids (void)
{
  g_autoptr(GHashTable) hashes = g_hash_table_new (NULL, NULL);

  for (guint64 i = 1; i <= 1000; i++)
    {
      ConfabMessageId id = { i, i ^ 0x5555 };

      g_hash_table_add (hashes, GUINT_TO_POINTER (confab_message_id_hash (&id)));
    }

  g_assert_cmpuint (g_hash_table_size (hashes), >=, 990);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/wire/message/round-trip", test_message_round_trip);
  g_test_add_func ("/wire/message/round-trip-empty-nick", test_message_round_trip_empty_nick);
  g_test_add_func ("/wire/message/round-trip-max-nick", test_message_round_trip_max_nick);
  g_test_add_func ("/wire/message/round-trip-max-total", test_message_round_trip_max_total);
  g_test_add_func ("/wire/message/round-trip-time", test_message_round_trip_time);
  g_test_add_func ("/wire/message/round-trip-fragments", test_message_round_trip_fragments);
  g_test_add_func ("/wire/ack/round-trip", test_ack_round_trip);
  g_test_add_func ("/wire/ack/round-trip-no-bitmap", test_ack_round_trip_no_bitmap);
  g_test_add_func ("/wire/ping/round-trip", test_ping_round_trip);
  g_test_add_func ("/wire/example/message", test_example_message);
  g_test_add_func ("/wire/example/ack", test_example_ack);
  g_test_add_func ("/wire/example/ack-bitmap", test_example_ack_bitmap);
  g_test_add_func ("/wire/example/ping-pong", test_example_ping);
  g_test_add_func ("/wire/decode/truncated", test_reject_truncated);
  g_test_add_func ("/wire/decode/plain", test_reject_plain);
  g_test_add_func ("/wire/result-to-string", test_result_to_string);
  g_test_add_func ("/wire/encode/size-limits", test_encode_size_limits);
  g_test_add_func ("/wire/split/boundaries", test_split_boundaries);
  g_test_add_func ("/wire/split/limits", test_split_limits);
  g_test_add_func ("/wire/split/max-text", test_split_max_text);
  g_test_add_func ("/wire/split/too-many", test_split_too_many);
  g_test_add_func ("/wire/max-payload", test_max_payload);
  g_test_add_func ("/wire/clamp-nick", test_clamp_nick);

  for (gsize i = 0; i < G_N_ELEMENTS (decode_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/wire/decode/%s", decode_cases[i].name);

      g_test_add_data_func (path, &decode_cases[i], test_decode_case);
    }

  for (int i = 0; i < N_BAD; i++)
    {
      g_autofree char *path = g_strdup_printf ("/wire/encode/invalid/%s", bad_names[i]);

      g_test_add_data_func (path, GINT_TO_POINTER (i), test_encode_invalid);
    }

  g_test_add_func ("/wire/message-id-hash-spreads-chosen-ids", test_message_id_hash_spreads_chosen_ids);

  return g_test_run ();
}
