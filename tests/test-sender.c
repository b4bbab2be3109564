/* test-sender.c — ConfabSender: fragments, window, acks, retransmission, give-up
 *
 * The transmit callback decodes every datagram with the real codec, so each
 * test also checks that what the sender puts on the wire is a valid segment.
 * Times are made up: the sender never reads a clock.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include <string.h>

#include <gio/gio.h>

#include "confab-sender.h"

#define SESSION  G_GUINT64_CONSTANT (0x0102030405060708)
#define T0       (1000 * G_USEC_PER_SEC)
#define SEC      G_USEC_PER_SEC
#define MS       (G_USEC_PER_SEC / 1000)
#define W        CONFAB_SENDER_WINDOW

typedef struct
{
  guint64  seq;
  guint64  low;
  guint64  origin;
  guint64  number;
  gint64   time;
  guint32  total;
  guint32  offset;
  guint16  frag;
  guint16  nfrags;
  char    *nick;
  char    *payload;  /* NUL-terminated copy */
  gsize    length;   /* of the whole datagram */
} Sent;

typedef struct
{
  guint64  origin;
  guint64  number;
} Id;

typedef struct
{
  ConfabSender *sender;
  GArray       *sent;       /* Sent */
  GArray       *delivered;  /* Id */
  GArray       *failed;     /* Id */
  GString      *log;        /* every callback, in order */
} Fixture;

static void
sent_clear (gpointer data)
{
  Sent *s = data;

  g_free (s->nick);
  g_free (s->payload);
}

static void
record_transmit (gpointer      user_data,
                 const guint8 *datagram,
                 gsize         length)
{
  Fixture *f = user_data;
  ConfabWireDatagram d;
  const ConfabWireMessage *m = &d.message;
  Sent s;

  g_assert_cmpuint (length, <=, CONFAB_WIRE_MAX_DATAGRAM);
  g_assert_cmpint (confab_wire_decode (datagram, length, &d), ==, CONFAB_WIRE_OK);
  g_assert_cmpint (d.type, ==, CONFAB_WIRE_TYPE_MESSAGE);
  g_assert_cmpuint (m->session, ==, SESSION);

  s.seq = m->seq;
  s.low = m->low;
  s.origin = m->origin;
  s.number = m->number;
  s.time = m->time;
  s.total = m->total;
  s.offset = m->offset;
  s.frag = m->frag;
  s.nfrags = m->nfrags;
  s.nick = g_strndup (m->nick, m->nick_len);
  s.payload = g_strndup ((const char *) m->payload, m->payload_len);
  s.length = length;
  g_array_append_val (f->sent, s);

  g_string_append_printf (f->log, "tx %" G_GUINT64_FORMAT " ", m->seq);
}

static void
record_delivered (gpointer user_data,
                  guint64  origin,
                  guint64  number)
{
  Fixture *f = user_data;
  Id id = { origin, number };

  g_array_append_val (f->delivered, id);
  g_string_append_printf (f->log, "delivered %" G_GUINT64_FORMAT " ", number);
}

static void
record_failed (gpointer user_data,
               guint64  origin,
               guint64  number)
{
  Fixture *f = user_data;
  Id id = { origin, number };

  g_array_append_val (f->failed, id);
  g_string_append_printf (f->log, "failed %" G_GUINT64_FORMAT " ", number);
}

static const ConfabSenderCallbacks callbacks = {
  record_transmit,
  record_delivered,
  record_failed,
};

static void
fixture_setup (Fixture       *f,
               gconstpointer  data G_GNUC_UNUSED)
{
  f->sender = confab_sender_new (SESSION, &callbacks, f);
  f->sent = g_array_new (FALSE, FALSE, sizeof (Sent));
  g_array_set_clear_func (f->sent, sent_clear);
  f->delivered = g_array_new (FALSE, FALSE, sizeof (Id));
  f->failed = g_array_new (FALSE, FALSE, sizeof (Id));
  f->log = g_string_new (NULL);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data G_GNUC_UNUSED)
{
  g_clear_pointer (&f->sender, confab_sender_free);
  g_clear_pointer (&f->sent, g_array_unref);
  g_clear_pointer (&f->delivered, g_array_unref);
  g_clear_pointer (&f->failed, g_array_unref);
  g_string_free (f->log, TRUE);
}

static const Sent *
sent_at (Fixture *f,
         guint    i)
{
  g_assert_cmpuint (i, <, f->sent->len);
  return &g_array_index (f->sent, Sent, i);
}

static const Sent *
last_sent (Fixture *f)
{
  g_assert_cmpuint (f->sent->len, >, 0);
  return sent_at (f, f->sent->len - 1);
}

/* Queues a new message and returns its number. */
static guint64
queue (Fixture    *f,
       const char *text,
       gint64      now)
{
  g_autoptr(GError) error = NULL;
  guint64 origin = 0;
  guint64 number = 0;

  g_assert_true (confab_sender_queue (f->sender, &origin, &number, 1764072000000000,
                                      "ann", text, now, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (origin, ==, SESSION);
  g_assert_cmpuint (number, >, 0);
  return number;
}

/* Acks everything below @next plus @seqs (0-terminated; may be %NULL). */
static void
ack (Fixture       *f,
     gint64         now,
     guint64        next,
     const guint64 *seqs)
{
  guint8 bitmap[CONFAB_WIRE_MAX_ACK_BITS / 8] = { 0 };
  ConfabWireAck a = { SESSION, next, 0, bitmap };

  for (; seqs != NULL && *seqs != 0; seqs++)
    {
      guint64 bit = *seqs - next - 1;

      g_assert_cmpuint (*seqs, >, next);
      g_assert_cmpuint (bit, <, CONFAB_WIRE_MAX_ACK_BITS);
      bitmap[bit / 8] |= 1 << (bit % 8);
      a.nbits = MAX (a.nbits, (bit / 8 + 1) * 8);
    }

  confab_sender_ack (f->sender, &a, now);
}

#define SEQS(...) ((const guint64[]) { __VA_ARGS__, 0 })

static void
assert_ids (GArray        *ids,
            const guint64 *numbers,
            guint          n)
{
  guint i;

  g_assert_cmpuint (ids->len, ==, n);
  for (i = 0; i < n; i++)
    {
      g_assert_cmpuint (g_array_index (ids, Id, i).origin, ==, SESSION);
      g_assert_cmpuint (g_array_index (ids, Id, i).number, ==, numbers[i]);
    }
}

static void
test_sender_single (Fixture       *f,
                    gconstpointer  data G_GNUC_UNUSED)
{
  g_autoptr(GError) error = NULL;
  guint64 origin = 0;
  guint64 number = 0;
  const Sent *s;

  g_assert_cmpuint (confab_sender_get_session (f->sender), ==, SESSION);
  g_assert_true (confab_sender_queue (f->sender, &origin, &number, 1764072000000000,
                                      "ann", "hi", T0, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (origin, ==, SESSION);
  g_assert_cmpuint (number, ==, 1);

  g_assert_cmpuint (f->sent->len, ==, 1);
  s = sent_at (f, 0);
  g_assert_cmpuint (s->seq, ==, 1);
  g_assert_cmpuint (s->low, ==, 1);
  g_assert_cmpuint (s->origin, ==, SESSION);
  g_assert_cmpuint (s->number, ==, 1);
  g_assert_cmpint (s->time, ==, 1764072000000000);
  g_assert_cmpuint (s->total, ==, 2);
  g_assert_cmpuint (s->offset, ==, 0);
  g_assert_cmpuint (s->frag, ==, 0);
  g_assert_cmpuint (s->nfrags, ==, 1);
  g_assert_cmpstr (s->nick, ==, "ann");
  g_assert_cmpstr (s->payload, ==, "hi");
  g_assert_cmpuint (s->length, ==, 69 + 3 + 2);  /* the example of protocol.md §10 */
  g_assert_cmpuint (confab_sender_get_in_flight (f->sender), ==, 1);
  g_assert_cmpuint (confab_sender_get_queued (f->sender), ==, 0);

  /* The next message gets the next number and seq; seq 1 is still out. */
  origin = number = 0;
  g_assert_true (confab_sender_queue (f->sender, &origin, &number, 1764072000000001,
                                      "", "ho", T0 + 1, &error));
  g_assert_cmpuint (number, ==, 2);
  s = last_sent (f);
  g_assert_cmpuint (s->seq, ==, 2);
  g_assert_cmpuint (s->low, ==, 1);
  g_assert_cmpuint (s->number, ==, 2);
  g_assert_cmpstr (s->nick, ==, "");
  g_assert_cmpuint (f->delivered->len, ==, 0);
  g_assert_cmpuint (f->failed->len, ==, 0);
}

/* 20 KiB of one- to four-byte characters, so that fragment edges fall inside
 * characters and must move back.
 */
static char *
make_text (gsize length)
{
  static const char *pieces[] = { "a", "é", "€", "😀", "z", "ß" };
  GString *text = g_string_new (NULL);
  guint i = 0;

  while (text->len < length - 4)
    g_string_append (text, pieces[i++ % G_N_ELEMENTS (pieces)]);
  while (text->len < length)
    g_string_append_c (text, '.');
  return g_string_free (text, FALSE);
}

static void
check_fragments (Fixture    *f,
                 const char *nick,
                 gsize       nick_len)
{
  g_autofree char *text = make_text (20 * 1024);
  g_autoptr(GString) reassembled = g_string_new (NULL);
  guint64 origin = 0;
  guint64 number = 0;
  guint nfrags;
  guint i;

  g_assert_true (confab_sender_queue (f->sender, &origin, &number, 1, nick, text, T0, NULL));

  nfrags = f->sent->len;
  g_assert_cmpuint (nfrags, >=, 20 * 1024 / (1200 - 48 - 69 - nick_len));
  g_assert_cmpuint (nfrags, <=, 20 * 1024 / (1200 - 48 - 69 - nick_len - 3) + 1);
  g_assert_cmpuint (confab_sender_get_in_flight (f->sender), ==, nfrags);

  for (i = 0; i < nfrags; i++)
    {
      const Sent *s = sent_at (f, i);

      g_assert_cmpuint (s->length, <=, CONFAB_WIRE_MAX_DATAGRAM);
      g_assert_cmpuint (s->seq, ==, i + 1);
      g_assert_cmpuint (s->low, ==, 1);
      g_assert_cmpuint (s->number, ==, number);
      g_assert_cmpuint (s->frag, ==, i);
      g_assert_cmpuint (s->nfrags, ==, nfrags);
      g_assert_cmpuint (s->total, ==, strlen (text));
      g_assert_cmpuint (s->offset, ==, reassembled->len);
      g_assert_cmpuint (strlen (s->nick), ==, nick_len);
      g_assert_true (g_utf8_validate (s->payload, -1, NULL));
      /* Full but for at most a character's tail, except the last. */
      if (i + 1 < nfrags)
        g_assert_cmpuint (s->length, >=, CONFAB_WIRE_MAX_DATAGRAM - CONFAB_WIRE_SEAL_ROOM - 3);
      g_string_append (reassembled, s->payload);
    }
  g_assert_cmpstr (reassembled->str, ==, text);
}

static void
test_sender_fragments (Fixture       *f,
                       gconstpointer  data G_GNUC_UNUSED)
{
  check_fragments (f, "ann", 3);
}

/* A nickname longer than 64 bytes is cut, between characters. */
static void
test_sender_fragments_long_nick (Fixture       *f,
                                 gconstpointer  data G_GNUC_UNUSED)
{
  g_autoptr(GString) nick = g_string_new ("x");
  guint i;

  for (i = 0; i < 40; i++)
    g_string_append (nick, "é");
  check_fragments (f, nick->str, 63);
  g_assert_true (g_str_has_prefix (nick->str, sent_at (f, 0)->nick));
}

static void
test_sender_max_text (Fixture       *f,
                      gconstpointer  data G_GNUC_UNUSED)
{
  g_autofree char *text = g_malloc (CONFAB_WIRE_MAX_TEXT + 1);
  const Sent *s;

  memset (text, 'x', CONFAB_WIRE_MAX_TEXT);
  text[CONFAB_WIRE_MAX_TEXT] = '\0';
  queue (f, text, T0);
  s = last_sent (f);
  g_assert_cmpuint (s->frag + 1, ==, s->nfrags);
  g_assert_cmpuint (s->nfrags, ==, f->sent->len);
  g_assert_cmpuint (s->offset + strlen (s->payload), ==, CONFAB_WIRE_MAX_TEXT);
}

static void
test_sender_rejects (Fixture       *f,
                     gconstpointer  data G_GNUC_UNUSED)
{
  g_autofree char *text = g_malloc (CONFAB_WIRE_MAX_TEXT + 2);
  guint64 origin = 0;
  guint64 number = 0;
  GError *error = NULL;

  memset (text, 'x', CONFAB_WIRE_MAX_TEXT + 1);
  text[CONFAB_WIRE_MAX_TEXT + 1] = '\0';
  g_assert_false (confab_sender_queue (f->sender, &origin, &number, 0, "ann", text, T0, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE);
  g_clear_error (&error);

  g_assert_false (confab_sender_queue (f->sender, &origin, &number, 0, "ann", "", T0, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  g_assert_false (confab_sender_queue (f->sender, &origin, &number, 0, "ann", "a\xC3", T0,
                                       &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_clear_error (&error);

  /* Nothing went out, no id was used up. */
  g_assert_cmpuint (origin, ==, 0);
  g_assert_cmpuint (number, ==, 0);
  g_assert_cmpuint (f->sent->len, ==, 0);
  g_assert_cmpuint (confab_sender_get_in_flight (f->sender), ==, 0);
  g_assert_cmpuint (confab_sender_get_queued (f->sender), ==, 0);
  g_assert_cmpint (confab_sender_get_deadline (f->sender), ==, G_MAXINT64);
  g_assert_cmpuint (queue (f, "ok", T0), ==, 1);
}

static void
test_sender_window (Fixture       *f,
                    gconstpointer  data G_GNUC_UNUSED)
{
  guint64 expected[10];
  guint i;

  for (i = 0; i < W + 44; i++)
    queue (f, "m", T0 + i);
  g_assert_cmpuint (f->sent->len, ==, W);
  g_assert_cmpuint (confab_sender_get_in_flight (f->sender), ==, W);
  g_assert_cmpuint (confab_sender_get_queued (f->sender), ==, 44);
  g_assert_cmpuint (last_sent (f)->seq, ==, W);

  /* Ten acked: ten more go out, with the next seqs and `low` past the acked. */
  ack (f, T0 + 500 * MS, 11, NULL);
  for (i = 0; i < 10; i++)
    expected[i] = i + 1;
  assert_ids (f->delivered, expected, 10);
  g_assert_cmpuint (f->sent->len, ==, W + 10);
  for (i = 0; i < 10; i++)
    {
      const Sent *s = sent_at (f, W + i);

      g_assert_cmpuint (s->seq, ==, W + 1 + i);
      g_assert_cmpuint (s->number, ==, W + 1 + i);
      g_assert_cmpuint (s->low, ==, 11);
    }
  g_assert_cmpuint (confab_sender_get_in_flight (f->sender), ==, W);
  g_assert_cmpuint (confab_sender_get_queued (f->sender), ==, 34);

  /* Everything acked: the rest goes out, then the window drains. */
  ack (f, T0 + SEC, W + 11, NULL);
  g_assert_cmpuint (f->sent->len, ==, W + 44);
  g_assert_cmpuint (confab_sender_get_queued (f->sender), ==, 0);
  ack (f, T0 + SEC, W + 45, NULL);
  g_assert_cmpuint (f->delivered->len, ==, W + 44);
  g_assert_cmpuint (confab_sender_get_in_flight (f->sender), ==, 0);
  for (i = 0; i < W + 44; i++)
    g_assert_cmpuint (g_array_index (f->delivered, Id, i).number, ==, i + 1);
}

/* The window counts segments, not the span of seqs: one lost segment does
 * not hold the others back (protocol.md §8).
 */
/* The window is a range of seqs from the lowest unacknowledged one: a hole
 * at seq 1 lets nothing new out, however much above it is acknowledged, so
 * the receiver never has to buffer more than a window.
 */
static void
test_sender_window_is_a_range (Fixture       *f,
                               gconstpointer  data G_GNUC_UNUSED)
{
  guint8 bitmap[CONFAB_WIRE_MAX_ACK_BITS / 8];
  ConfabWireAck a = { SESSION, 1, CONFAB_WIRE_MAX_ACK_BITS, bitmap };
  guint i;

  for (i = 0; i < 2 * W + 88; i++)
    queue (f, "m", T0);
  g_assert_cmpuint (f->sent->len, ==, W);

  /* Everything but seq 1 arrived, and waits for it: nothing is delivered
   * yet, nothing new sent.
   */
  memset (bitmap, 0xFF, sizeof bitmap);
  confab_sender_ack (f->sender, &a, T0 + 2 * MS);
  g_assert_cmpuint (f->delivered->len, ==, 0);
  g_assert_cmpuint (f->sent->len, ==, W);
  g_assert_cmpuint (confab_sender_get_in_flight (f->sender), ==, W);
  g_assert_cmpuint (confab_sender_get_queued (f->sender), ==, W + 88);

  /* Seq 1 arrives: the window slides a whole window on. */
  ack (f, T0 + 3 * MS, W + 1, NULL);
  g_assert_cmpuint (f->delivered->len, ==, W);
  g_assert_cmpuint (f->sent->len, ==, 2 * W);
  g_assert_cmpuint (last_sent (f)->seq, ==, 2 * W);
  g_assert_cmpuint (last_sent (f)->low, ==, W + 1);

  ack (f, T0 + 4 * MS, 2 * W + 1, NULL);
  ack (f, T0 + 5 * MS, 2 * W + 89, NULL);
  g_assert_cmpuint (f->delivered->len, ==, 2 * W + 88);
  g_assert_cmpuint (g_array_index (f->delivered, Id, 0).number, ==, 1);
  g_assert_cmpuint (g_array_index (f->delivered, Id, W - 1).number, ==, W);
}

/* A segment the bitmap names has arrived, but waits at the receiver for the
 * ones before it: it is not stored there yet, and a receiver that stops
 * loses it. Its message counts as delivered only once `next` passes it
 * (test_sender_fast_retransmit: nor is it sent again for being overtaken).
 */
static void
test_sender_bitmap (Fixture       *f,
                    gconstpointer  data G_GNUC_UNUSED)
{
  static const guint64 all[] = { 1, 2, 3, 4, 5 };
  guint i;

  for (i = 0; i < 5; i++)
    queue (f, "m", T0);

  /* next 1: seq 1 missing; bits 0 and 2 are seqs 2 and 4. */
  ack (f, T0 + MS, 1, SEQS (2, 4));
  g_assert_cmpuint (f->delivered->len, ==, 0);
  g_assert_cmpuint (confab_sender_get_in_flight (f->sender), ==, 5);

  /* Acked again, and bits beyond what was sent: nothing new. */
  ack (f, T0 + 2 * MS, 1, SEQS (2, 4));
  ack (f, T0 + 3 * MS, 1, SEQS (900));
  g_assert_cmpuint (f->delivered->len, ==, 0);

  ack (f, T0 + 30 * MS, 6, NULL);
  assert_ids (f->delivered, all, 5);
  g_assert_cmpuint (confab_sender_get_in_flight (f->sender), ==, 0);

  /* The bitmap layout of protocol.md §10: next 10, byte 01 means seq 11. */
  for (i = 0; i < 6; i++)
    queue (f, "m", T0 + SEC);
  {
    static const guint8 bitmap[] = { 0x01 };
    ConfabWireAck a = { SESSION, 10, 8, bitmap };

    confab_sender_ack (f->sender, &a, T0 + SEC + MS);
  }
  /* 6 … 9 below next are delivered; 11 arrived; 10 is still out. */
  g_assert_cmpuint (f->delivered->len, ==, 9);
  g_assert_cmpuint (confab_sender_get_in_flight (f->sender), ==, 2);
}

/* The last seq a bitmap can name (its last bit) counts as arrived; past
 * it, the ack says nothing, and what is in flight there stays, in order.
 */
static void
test_sender_bitmap_reach (Fixture       *f,
                          gconstpointer  data G_GNUC_UNUSED)
{
  static const guint64 all[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
  g_autoptr(GString) log = g_string_new ("delivered 1 ");
  guint i;

  for (i = 0; i < 12; i++)
    queue (f, "m", T0);
  g_string_truncate (f->log, 0);

  /* next 2, one byte of bitmap: its last bit is seq 10. */
  ack (f, T0 + MS, 2, SEQS (10));
  g_assert_cmpuint (confab_sender_get_in_flight (f->sender), ==, 11);

  /* All due but 10, which waits for the hole before it */
  confab_sender_tick (f->sender, T0 + SEC);
  for (i = 2; i <= 12; i++)
    if (i != 10)
      g_string_append_printf (log, "tx %u ", i);
  g_assert_cmpstr (f->log->str, ==, log->str);

  ack (f, T0 + SEC + MS, 13, NULL);
  assert_ids (f->delivered, all, 12);
  g_assert_cmpuint (confab_sender_get_in_flight (f->sender), ==, 0);
}

/* A segment sent again a moment ago is not overtaken by one sent before
 * that; one sent after it, and overtaken, still is.
 */
static void
test_sender_overtaken_after_resent (Fixture       *f,
                                    gconstpointer  data G_GNUC_UNUSED)
{
  queue (f, "a", T0);
  queue (f, "b", T0 + 500 * MS);
  queue (f, "c", T0 + 995 * MS);

  /* a's timer: it goes again at T0 + 1 s. */
  confab_sender_tick (f->sender, T0 + SEC);
  g_assert_cmpuint (f->sent->len, ==, 4);
  g_assert_cmpuint (last_sent (f)->seq, ==, 1);

  /* c arrived: b, sent long before it, is lost and goes again at once; a
   * was sent again after c.
   */
  ack (f, T0 + SEC + MS, 1, SEQS (3));
  g_assert_cmpuint (f->sent->len, ==, 5);
  g_assert_cmpuint (last_sent (f)->seq, ==, 2);

  ack (f, T0 + SEC + 2 * MS, 4, NULL);
  g_assert_cmpuint (f->delivered->len, ==, 3);
}

/* A segment that arrived behind a hole waits for the hole, not for its own
 * timer. Should `next` then stop at it (the receiver restarted and lost what
 * it held), its timer runs again and it goes once more.
 */
static void
test_sender_arrived_then_lost (Fixture       *f,
                               gconstpointer  data G_GNUC_UNUSED)
{
  queue (f, "a", T0);
  queue (f, "b", T0);
  queue (f, "c", T0);

  ack (f, T0 + MS, 1, SEQS (3));
  g_assert_cmpuint (f->sent->len, ==, 3);

  /* Seqs 1 and 2 are due at T0 + 1 s; 3 waits for them. */
  confab_sender_tick (f->sender, T0 + SEC);
  g_assert_cmpuint (f->sent->len, ==, 5);
  g_assert_cmpuint (sent_at (f, 3)->seq, ==, 1);
  g_assert_cmpuint (sent_at (f, 4)->seq, ==, 2);

  /* 1 and 2 are passed, 3 is not: it was lost after all. */
  ack (f, T0 + SEC + MS, 3, NULL);
  g_assert_cmpuint (f->delivered->len, ==, 2);
  g_assert_cmpint (confab_sender_get_deadline (f->sender), <, G_MAXINT64);
  confab_sender_tick (f->sender, confab_sender_get_deadline (f->sender));
  g_assert_cmpuint (last_sent (f)->seq, ==, 3);
  g_assert_cmpuint (f->sent->len, ==, 6);

  ack (f, T0 + 2 * SEC, 4, NULL);
  g_assert_cmpuint (f->delivered->len, ==, 3);
}

static void
test_sender_delivered_when_complete (Fixture       *f,
                                     gconstpointer  data G_GNUC_UNUSED)
{
  g_autofree char *text = make_text (3000);
  static const guint64 one[] = { 1 };

  queue (f, text, T0);
  g_assert_cmpuint (f->sent->len, ==, 3);

  /* The second fragment is missing; the third arrived and waits for it. */
  ack (f, T0 + MS, 2, SEQS (3));
  g_assert_cmpuint (f->delivered->len, ==, 0);
  g_assert_cmpuint (confab_sender_get_in_flight (f->sender), ==, 2);

  ack (f, T0 + 2 * MS, 4, NULL);
  assert_ids (f->delivered, one, 1);
  g_assert_cmpuint (confab_sender_get_in_flight (f->sender), ==, 0);

  ack (f, T0 + 3 * MS, 4, NULL);
  g_assert_cmpuint (f->delivered->len, ==, 1);
  g_assert_cmpuint (f->failed->len, ==, 0);
}

static void
test_sender_other_session (Fixture       *f,
                           gconstpointer  data G_GNUC_UNUSED)
{
  ConfabWireAck a = { SESSION + 1, 100, 0, NULL };

  queue (f, "m", T0);
  confab_sender_ack (f->sender, &a, T0 + MS);
  g_assert_cmpuint (f->delivered->len, ==, 0);
  g_assert_cmpuint (confab_sender_get_in_flight (f->sender), ==, 1);
  g_assert_false (confab_sender_get_rtt (f->sender)->has_sample);
  g_assert_cmpint (confab_sender_get_deadline (f->sender), ==, T0 + SEC);
}

/* RTO 1 s before any sample, doubled per retry but capped at 2 s: due 1, 3,
 * 5, ... 29 s after the first send; then the give-up at 30 s.
 */
static void
test_sender_retransmit_timing (Fixture       *f,
                               gconstpointer  data G_GNUC_UNUSED)
{
  GString *log = g_string_new ("tx 1 ");
  gint64 due;
  guint i = 0;

  queue (f, "m", T0);
  for (due = 1; due < 30; due += 2, i++)
    {
      const Sent *s;

      g_assert_cmpint (confab_sender_get_deadline (f->sender), ==, T0 + due * SEC);
      confab_sender_tick (f->sender, T0 + due * SEC - 1);
      g_assert_cmpuint (f->sent->len, ==, i + 1);

      confab_sender_tick (f->sender, T0 + due * SEC);
      g_assert_cmpuint (f->sent->len, ==, i + 2);
      s = last_sent (f);
      g_assert_cmpuint (s->seq, ==, 1);
      g_assert_cmpuint (s->low, ==, 1);
      g_assert_cmpuint (s->number, ==, 1);
      g_assert_cmpstr (s->payload, ==, "m");
      g_string_append (log, "tx 1 ");

      /* Ticking again at the same time sends nothing. */
      confab_sender_tick (f->sender, T0 + due * SEC);
      g_assert_cmpuint (f->sent->len, ==, i + 2);
    }

  g_assert_cmpint (confab_sender_get_deadline (f->sender), ==, T0 + 30 * SEC);
  confab_sender_tick (f->sender, T0 + 30 * SEC - 1);
  g_assert_cmpuint (f->failed->len, ==, 0);
  g_assert_cmpuint (f->sent->len, ==, 16);
  confab_sender_tick (f->sender, T0 + 30 * SEC);
  g_assert_cmpuint (f->failed->len, ==, 1);
  g_assert_cmpuint (f->sent->len, ==, 16);
  g_assert_cmpuint (confab_sender_get_in_flight (f->sender), ==, 0);
  g_assert_cmpint (confab_sender_get_deadline (f->sender), ==, G_MAXINT64);
  g_string_append (log, "failed 1 ");
  g_assert_cmpstr (f->log->str, ==, log->str);
  g_string_free (log, TRUE);
}

static void
test_sender_rtt (Fixture       *f,
                 gconstpointer  data G_GNUC_UNUSED)
{
  const ConfabRtt *rtt = confab_sender_get_rtt (f->sender);

  g_assert_false (rtt->has_sample);

  queue (f, "a", T0);
  ack (f, T0 + 100 * MS, 2, NULL);
  g_assert_true (rtt->has_sample);
  g_assert_cmpint (rtt->srtt, ==, 100 * MS);
  g_assert_cmpint (rtt->rttvar, ==, 50 * MS);
  g_assert_cmpint (confab_rtt_get_rto (rtt), ==, 300 * MS);

  /* The new RTO times the next segment. */
  queue (f, "b", T0 + SEC);
  g_assert_cmpint (confab_sender_get_deadline (f->sender), ==, T0 + SEC + 300 * MS);

  /* Karn: seq 2 was sent twice, so its ack gives no sample. */
  confab_sender_tick (f->sender, T0 + SEC + 300 * MS);
  g_assert_cmpuint (f->sent->len, ==, 3);
  g_assert_cmpint (confab_sender_get_deadline (f->sender), ==, T0 + SEC + 900 * MS);
  ack (f, T0 + SEC + 310 * MS, 3, NULL);
  g_assert_cmpint (rtt->srtt, ==, 100 * MS);
  g_assert_cmpint (rtt->rttvar, ==, 50 * MS);
  g_assert_cmpuint (f->delivered->len, ==, 2);

  /* One sample per ack, from the oldest segment it newly covers: 200 ms,
   * not 180 or 160. (3·50 + 100)/4 = 62.5 ms; (7·100 + 200)/8 = 112.5 ms.
   */
  queue (f, "c", T0 + 2 * SEC);
  queue (f, "d", T0 + 2 * SEC + 20 * MS);
  queue (f, "e", T0 + 2 * SEC + 40 * MS);
  ack (f, T0 + 2 * SEC + 200 * MS, 6, NULL);
  g_assert_cmpint (rtt->rttvar, ==, 62500);
  g_assert_cmpint (rtt->srtt, ==, 112500);
  g_assert_cmpint (confab_rtt_get_rto (rtt), ==, 362500);
}

/* A retransmitted segment is skipped for the sample, but a once-sent one
 * covered by the same ack still gives one.
 */
static void
test_sender_karn_mixed (Fixture       *f,
                        gconstpointer  data G_GNUC_UNUSED)
{
  const ConfabRtt *rtt = confab_sender_get_rtt (f->sender);

  queue (f, "a", T0);
  confab_sender_tick (f->sender, T0 + SEC);
  queue (f, "b", T0 + SEC + 10 * MS);
  ack (f, T0 + SEC + 50 * MS, 3, NULL);
  g_assert_true (rtt->has_sample);
  g_assert_cmpint (rtt->srtt, ==, 40 * MS);
}

/* A segment overtaken by a later one beyond the reordering window goes again
 * at once; one overtaken within it is left to its timer.
 */
static void
test_sender_fast_retransmit (Fixture       *f,
                             gconstpointer  data G_GNUC_UNUSED)
{
  queue (f, "a", T0);
  queue (f, "b", T0 + 5 * MS);
  queue (f, "c", T0 + 50 * MS);

  /* b arrived, sent 5 ms after a: within the 10 ms window, a may be late. */
  ack (f, T0 + 60 * MS, 1, SEQS (2));
  g_assert_cmpuint (f->sent->len, ==, 3);

  /* c arrived, sent 50 ms after a: a is lost, and goes again now. */
  ack (f, T0 + 70 * MS, 1, SEQS (2, 3));
  g_assert_cmpuint (f->sent->len, ==, 4);
  g_assert_cmpuint (last_sent (f)->seq, ==, 1);

  /* The same evidence does not send it a third time. */
  ack (f, T0 + 80 * MS, 1, SEQS (2, 3));
  g_assert_cmpuint (f->sent->len, ==, 4);

  ack (f, T0 + 90 * MS, 4, NULL);
  g_assert_cmpuint (f->delivered->len, ==, 3);
}

/* Segments that could not leave (no address yet) go again as if for the
 * first time: their timer restarts, and they still give an RTT sample.
 */
static void
test_sender_transmit_again (Fixture       *f,
                            gconstpointer  data G_GNUC_UNUSED)
{
  queue (f, "a", T0);
  queue (f, "b", T0);
  g_assert_cmpuint (f->sent->len, ==, 2);

  confab_sender_transmit_again (f->sender, T0 + 300 * MS);
  g_assert_cmpuint (f->sent->len, ==, 4);
  g_assert_cmpuint (sent_at (f, 2)->seq, ==, 1);
  g_assert_cmpuint (sent_at (f, 3)->seq, ==, 2);
  g_assert_cmpint (confab_sender_get_deadline (f->sender), ==, T0 + 300 * MS + SEC);

  ack (f, T0 + 310 * MS, 3, NULL);
  g_assert_true (confab_sender_get_rtt (f->sender)->has_sample);
  g_assert_cmpint (confab_sender_get_rtt (f->sender)->srtt, ==, 10 * MS);
  g_assert_cmpuint (f->delivered->len, ==, 2);
}

static void
test_sender_deadline (Fixture       *f,
                      gconstpointer  data G_GNUC_UNUSED)
{
  g_assert_cmpint (confab_sender_get_deadline (f->sender), ==, G_MAXINT64);

  queue (f, "a", T0);
  g_assert_cmpint (confab_sender_get_deadline (f->sender), ==, T0 + SEC);
  queue (f, "b", T0 + 500 * MS);
  g_assert_cmpint (confab_sender_get_deadline (f->sender), ==, T0 + SEC);

  /* Only seq 2 acked: its 100 ms sample brings the RTO down to 300 ms, and
   * seq 1, sent 500 ms before it, is taken for lost and sent again at once;
   * its next try is two RTOs later.
   */
  ack (f, T0 + 600 * MS, 1, SEQS (2));
  g_assert_cmpuint (f->sent->len, ==, 3);
  g_assert_cmpuint (last_sent (f)->seq, ==, 1);
  g_assert_cmpint (confab_sender_get_deadline (f->sender), ==, T0 + 1200 * MS);
  ack (f, T0 + 700 * MS, 3, NULL);
  g_assert_cmpint (confab_sender_get_deadline (f->sender), ==, G_MAXINT64);

  /* A give-up shorter than the RTO comes first. */
  confab_sender_set_give_up (f->sender, 100 * MS);
  queue (f, "c", T0 + 2 * SEC);
  g_assert_cmpint (confab_sender_get_deadline (f->sender), ==, T0 + 2 * SEC + 100 * MS);
  confab_sender_tick (f->sender, T0 + 2 * SEC + 100 * MS);
  g_assert_cmpuint (f->failed->len, ==, 1);
  g_assert_cmpint (confab_sender_get_deadline (f->sender), ==, G_MAXINT64);
}

/* An ack that only marks a segment arrived, behind a hole, changes what is
 * due: the segment now waits for the hole, and its sample moves the RTO.
 * The deadline must follow, or the channel's timer comes back at once with
 * nothing to do, again and again, until something else changes.
 */
static void
test_sender_deadline_after_bitmap (Fixture       *f,
                                   gconstpointer  data G_GNUC_UNUSED)
{
  gint64 rto;

  queue (f, "a", T0);
  queue (f, "b", T0 + 500 * MS);
  /* Seq 1 goes again and backs off to T0 + 3 s; seq 2 is due at T0 + 1.5 s. */
  confab_sender_tick (f->sender, T0 + SEC);
  g_assert_cmpuint (f->sent->len, ==, 3);
  g_assert_cmpint (confab_sender_get_deadline (f->sender), ==, T0 + 1500 * MS);

  /* Seq 2 arrived, sent after seq 1's last try: not overtaken, not resent. */
  ack (f, T0 + 1100 * MS, 1, SEQS (2));
  g_assert_cmpuint (f->sent->len, ==, 3);
  rto = confab_rtt_get_rto (confab_sender_get_rtt (f->sender));
  g_assert_cmpint (rto, !=, SEC);
  g_assert_cmpint (confab_sender_get_deadline (f->sender), ==,
                   T0 + SEC + MIN (2 * rto, MAX (rto, CONFAB_SENDER_MAX_BACKOFF)));

  /* At the deadline, there is something to do. */
  confab_sender_tick (f->sender, confab_sender_get_deadline (f->sender));
  g_assert_cmpuint (f->sent->len, ==, 4);
  g_assert_cmpuint (last_sent (f)->seq, ==, 1);
}

/* A segment that enters the window is due sooner than one backed off. */
static void
test_sender_deadline_new_segment (Fixture       *f,
                                  gconstpointer  data G_GNUC_UNUSED)
{
  queue (f, "a", T0);
  confab_sender_tick (f->sender, T0 + SEC);
  g_assert_cmpint (confab_sender_get_deadline (f->sender), ==, T0 + 3 * SEC);

  queue (f, "b", T0 + 1200 * MS);
  g_assert_cmpint (confab_sender_get_deadline (f->sender), ==, T0 + 2200 * MS);
  /* Later ones come after it, and those the full window leaves queued
   * change nothing.
   */
  for (guint i = 0; i < W; i++)
    queue (f, "c", T0 + 1300 * MS);
  g_assert_cmpuint (confab_sender_get_queued (f->sender), ==, 2);
  g_assert_cmpint (confab_sender_get_deadline (f->sender), ==, T0 + 2200 * MS);
}

/* Message A gives up while B is only partly in the window: `low` moves past
 * A. Then B gives up with fragments still queued: they are dropped, and B
 * fails once.
 */
static void
test_sender_give_up (Fixture       *f,
                     gconstpointer  data G_GNUC_UNUSED)
{
  g_autofree char *big = make_text (20 * 1024);
  static const guint64 a_failed[] = { 1 };
  const Sent *s;
  guint64 b;
  guint i;

  queue (f, "A", T0);
  /* A, the short ones and B's first five fragments fill the window. */
  for (i = 0; i < W - 6; i++)
    queue (f, "m", T0 + 10 * SEC);
  b = queue (f, big, T0 + 10 * SEC);
  g_assert_cmpuint (b, ==, W - 4);
  g_assert_cmpuint (confab_sender_get_in_flight (f->sender), ==, W);
  g_assert_cmpuint (confab_sender_get_queued (f->sender), >, 5);

  confab_sender_tick (f->sender, T0 + 30 * SEC);
  assert_ids (f->failed, a_failed, 1);
  s = last_sent (f);
  /* A's seq 1 freed one slot: B's next fragment, with `low` past seq 1. */
  g_assert_cmpuint (s->seq, ==, W + 1);
  g_assert_cmpuint (s->number, ==, b);
  g_assert_cmpuint (s->frag, ==, 5);
  g_assert_cmpuint (s->low, ==, 2);
  /* The retransmissions in the same tick carry the new `low` too. */
  s = sent_at (f, f->sent->len - 2);
  g_assert_cmpuint (s->seq, ==, W);
  g_assert_cmpuint (s->low, ==, 2);
  g_assert_true (g_str_has_prefix (f->log->str, "tx 1 tx 2 "));
  g_assert_true (strstr (f->log->str, "failed 1 tx 2 tx 3 ") != NULL);

  /* Part of B arrives: it must still fail, not be delivered. Seq 2 still
   * holds the window's start, so nothing new goes out.
   */
  ack (f, T0 + 31 * SEC, 2, SEQS (b + 1));
  g_assert_cmpuint (f->delivered->len, ==, 0);
  g_assert_cmpuint (confab_sender_get_in_flight (f->sender), ==, W);
  g_assert_cmpuint (last_sent (f)->seq, ==, W + 1);

  g_assert_cmpint (confab_sender_get_deadline (f->sender), <=, T0 + 40 * SEC);
  confab_sender_tick (f->sender, T0 + 40 * SEC);
  g_assert_cmpuint (f->failed->len, ==, 1 + (W - 6) + 1);
  for (i = 0; i < f->failed->len; i++)
    g_assert_cmpuint (g_array_index (f->failed, Id, i).number, ==, i + 1);
  g_assert_cmpuint (confab_sender_get_in_flight (f->sender), ==, 0);
  g_assert_cmpuint (confab_sender_get_queued (f->sender), ==, 0);
  g_assert_cmpint (confab_sender_get_deadline (f->sender), ==, G_MAXINT64);
  g_assert_cmpuint (last_sent (f)->seq, ==, W + 1);

  /* Nothing of B went out after it failed; a new message gets a fresh seq
   * and a `low` past everything abandoned.
   */
  queue (f, "C", T0 + 41 * SEC);
  s = last_sent (f);
  g_assert_cmpuint (s->seq, ==, W + 2);
  g_assert_cmpuint (s->low, ==, W + 2);
  g_assert_cmpuint (s->number, ==, b + 1);
  g_assert_cmpuint (s->frag, ==, 0);
}

static void
test_sender_resend (Fixture       *f,
                    gconstpointer  data G_GNUC_UNUSED)
{
  g_autoptr(GError) error = NULL;
  guint64 origin = G_GUINT64_CONSTANT (0xAAAABBBBCCCCDDDD);
  guint64 number = 7;
  const Sent *s;

  queue (f, "first", T0);
  g_assert_true (confab_sender_queue (f->sender, &origin, &number, 42, "ann", "again",
                                      T0 + MS, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (origin, ==, G_GUINT64_CONSTANT (0xAAAABBBBCCCCDDDD));
  g_assert_cmpuint (number, ==, 7);

  s = last_sent (f);
  g_assert_cmpuint (s->seq, ==, 2);
  g_assert_cmpuint (s->origin, ==, G_GUINT64_CONSTANT (0xAAAABBBBCCCCDDDD));
  g_assert_cmpuint (s->number, ==, 7);
  g_assert_cmpint (s->time, ==, 42);

  /* A resend of one of this session's own messages keeps its id too. */
  origin = SESSION;
  number = 1;
  g_assert_true (confab_sender_queue (f->sender, &origin, &number, 42, "ann", "first",
                                      T0 + 2 * MS, NULL));
  g_assert_cmpuint (last_sent (f)->seq, ==, 3);
  g_assert_cmpuint (last_sent (f)->number, ==, 1);

  /* Resends use up no number. */
  g_assert_cmpuint (queue (f, "new", T0 + 3 * MS), ==, 2);

  ack (f, T0 + 4 * MS, 5, NULL);
  g_assert_cmpuint (f->delivered->len, ==, 4);
  g_assert_cmpuint (g_array_index (f->delivered, Id, 1).origin, ==,
                    G_GUINT64_CONSTANT (0xAAAABBBBCCCCDDDD));
  g_assert_cmpuint (g_array_index (f->delivered, Id, 1).number, ==, 7);
}

static void
test_sender_callback_order (Fixture       *f,
                            gconstpointer  data G_GNUC_UNUSED)
{
  g_autoptr(GString) expected = g_string_new (NULL);
  guint i;

  for (i = 0; i < W + 2; i++)
    queue (f, "m", T0);
  g_string_truncate (f->log, 0);

  /* Seq 1 still holds the window, and 2 and 3 wait for it: nothing. */
  ack (f, T0 + MS, 1, SEQS (3, 2));
  g_assert_cmpstr (f->log->str, ==, "");

  /* Deliveries in order, before the freed window is filled. */
  ack (f, T0 + 2 * MS, 4, NULL);
  g_string_printf (expected, "delivered 1 delivered 2 delivered 3 tx %u tx %u ", W + 1, W + 2);
  g_assert_cmpstr (f->log->str, ==, expected->str);
  g_string_truncate (f->log, 0);

  /* Give-up is reported before the retransmissions of the same tick:
   * seqs 4 … W, sent at T0, give up at T0 + 1 s; W + 1 and W + 2, sent 2 ms
   * later, do not, but are due for a retransmission (the 1 ms sample
   * brought the RTO to its 200 ms floor).
   */
  confab_sender_set_give_up (f->sender, SEC);
  g_string_truncate (expected, 0);
  for (i = 4; i <= W; i++)
    g_string_append_printf (expected, "failed %u ", i);
  g_string_append_printf (expected, "tx %u tx %u ", W + 1, W + 2);
  confab_sender_tick (f->sender, T0 + SEC);
  g_assert_cmpstr (f->log->str, ==, expected->str);
  g_assert_cmpuint (f->failed->len, ==, W - 3);
  g_assert_cmpuint (confab_sender_get_in_flight (f->sender), ==, 2);
}

static void
test_sender_abandon_all (Fixture       *f,
                         gconstpointer  data G_GNUC_UNUSED)
{
  g_autofree char *big = make_text (5000);
  guint i;

  for (i = 0; i < W - 2; i++)
    queue (f, "m", T0);
  queue (f, big, T0);   /* 2 of 5 fragments in flight */
  queue (f, "x", T0);
  queue (f, "y", T0);
  g_assert_cmpuint (confab_sender_get_queued (f->sender), ==, 3 + 2);

  confab_sender_abandon_all (f->sender);
  g_assert_cmpuint (f->failed->len, ==, W + 1);
  for (i = 0; i < f->failed->len; i++)
    g_assert_cmpuint (g_array_index (f->failed, Id, i).number, ==, i + 1);
  g_assert_cmpuint (f->delivered->len, ==, 0);
  g_assert_cmpuint (confab_sender_get_in_flight (f->sender), ==, 0);
  g_assert_cmpuint (confab_sender_get_queued (f->sender), ==, 0);
  g_assert_cmpint (confab_sender_get_deadline (f->sender), ==, G_MAXINT64);

  /* Late acks for abandoned segments change nothing. */
  ack (f, T0 + MS, W + 44, NULL);
  g_assert_cmpuint (f->delivered->len, ==, 0);

  queue (f, "z", T0 + 2 * MS);
  g_assert_cmpuint (last_sent (f)->seq, ==, W + 1);
  g_assert_cmpuint (last_sent (f)->low, ==, W + 1);

  /* Idle: nothing to abandon, nothing reported. */
  ack (f, T0 + 3 * MS, W + 2, NULL);
  confab_sender_abandon_all (f->sender);
  g_assert_cmpuint (f->failed->len, ==, W + 1);
}

/* With no give-up in sight the backoff must saturate, not overflow (the
 * sanitizer build checks), and the deadline must stay in the future.
 */
static void
test_sender_backoff_saturates (Fixture       *f,
                               gconstpointer  data G_GNUC_UNUSED)
{
  gint64 now = T0;
  guint i;

  confab_sender_set_give_up (f->sender, G_MAXINT64);
  queue (f, "m", now);
  for (i = 0; i < 80; i++)
    {
      gint64 deadline = confab_sender_get_deadline (f->sender);

      g_assert_cmpint (deadline, >, now);
      g_assert_cmpint (deadline - now, <=, CONFAB_SENDER_MAX_BACKOFF);
      now = deadline;
      confab_sender_tick (f->sender, now);
    }

  /* The waits stopped growing at the cap, and nothing overflowed. */
  g_assert_cmpint (confab_sender_get_deadline (f->sender), ==, now + CONFAB_SENDER_MAX_BACKOFF);
  g_assert_cmpuint (confab_sender_get_in_flight (f->sender), ==, 1);
  g_assert_cmpuint (f->sent->len, ==, 81);
  g_assert_cmpuint (f->failed->len, ==, 0);
}

/* Many messages through the window, acked a batch at a time as a receiver
 * would: each is delivered once, in order, and seqs never repeat.
 */
static void
test_sender_many (Fixture       *f,
                  gconstpointer  data G_GNUC_UNUSED)
{
  const guint n = 20000;
  gint64 now = T0;
  guint i;

  for (i = 0; i < n; i++)
    queue (f, "a message of a few words", now);

  while (confab_sender_get_in_flight (f->sender) > 0)
    {
      now += MS;
      ack (f, now, last_sent (f)->seq - 100, NULL);
      ack (f, now, last_sent (f)->seq + 1, NULL);
    }
  g_assert_cmpuint (f->sent->len, ==, n);
  g_assert_cmpuint (f->delivered->len, ==, n);
  for (i = 0; i < n; i++)
    {
      g_assert_cmpuint (sent_at (f, i)->seq, ==, i + 1);
      g_assert_cmpuint (g_array_index (f->delivered, Id, i).number, ==, i + 1);
    }
  g_assert_cmpuint (f->failed->len, ==, 0);
  g_assert_cmpint (confab_sender_get_deadline (f->sender), ==, G_MAXINT64);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add ("/sender/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)

  ADD ("single", test_sender_single);
  ADD ("fragments", test_sender_fragments);
  ADD ("fragments-long-nick", test_sender_fragments_long_nick);
  ADD ("max-text", test_sender_max_text);
  ADD ("rejects", test_sender_rejects);
  ADD ("window", test_sender_window);
  ADD ("window-is-a-range", test_sender_window_is_a_range);
  ADD ("bitmap", test_sender_bitmap);
  ADD ("bitmap-reach", test_sender_bitmap_reach);
  ADD ("arrived-then-lost", test_sender_arrived_then_lost);
  ADD ("delivered-when-complete", test_sender_delivered_when_complete);
  ADD ("other-session", test_sender_other_session);
  ADD ("retransmit-timing", test_sender_retransmit_timing);
  ADD ("rtt", test_sender_rtt);
  ADD ("karn-mixed", test_sender_karn_mixed);
  ADD ("deadline", test_sender_deadline);
  ADD ("deadline-after-bitmap", test_sender_deadline_after_bitmap);
  ADD ("deadline-new-segment", test_sender_deadline_new_segment);
  ADD ("fast-retransmit", test_sender_fast_retransmit);
  ADD ("overtaken-after-resent", test_sender_overtaken_after_resent);
  ADD ("transmit-again", test_sender_transmit_again);
  ADD ("give-up", test_sender_give_up);
  ADD ("resend", test_sender_resend);
  ADD ("callback-order", test_sender_callback_order);
  ADD ("abandon-all", test_sender_abandon_all);
  ADD ("backoff-saturates", test_sender_backoff_saturates);
  ADD ("many", test_sender_many);

#undef ADD

  return g_test_run ();
}
