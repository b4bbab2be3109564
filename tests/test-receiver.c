/* test-receiver.c — ConfabReceiver: ordering, reassembly, duplicates, gaps and acks
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include <string.h>

#include "confab-receiver.h"

#define NICK       "ann"
#define TIME_BASE  G_GINT64_CONSTANT (1764072000000000)
#define T0         G_GINT64_CONSTANT (1000000)

/* One fragment of @text, as the decoder would hand it over: nick and payload
 * point into memory the caller owns.
 */
static ConfabWireMessage
fragment (guint64     session,
          guint64     seq,
          guint64     number,
          const char *text,
          gsize       offset,
          gsize       length,
          guint16     frag,
          guint16     nfrags)
{
  ConfabWireMessage segment = {
    .session = session,
    .seq = seq,
    .low = 1,
    .origin = session,
    .number = number,
    .time = TIME_BASE + (gint64) number,
    .total = strlen (text),
    .offset = offset,
    .frag = frag,
    .nfrags = nfrags,
    .nick_len = strlen (NICK),
    .nick = NICK,
    .payload = (const guint8 *) text + offset,
    .payload_len = length,
  };

  return segment;
}

static ConfabWireMessage
single (guint64     session,
        guint64     seq,
        guint64     number,
        const char *text)
{
  return fragment (session, seq, number, text, 0, strlen (text), 0, 1);
}

/* Appends @text as @nfrags fragments of about equal size, seq upward from @seq. */
static void
split (GArray     *segments,
       guint64     session,
       guint64     seq,
       guint64     number,
       const char *text,
       guint       nfrags)
{
  gsize length = strlen (text);

  g_assert_cmpuint (length, >=, nfrags);
  for (guint i = 0; i < nfrags; i++)
    {
      gsize start = length * i / nfrags;
      gsize end = length * (i + 1) / nfrags;
      ConfabWireMessage segment = fragment (session, seq + i, number, text, start,
                                            end - start, i, nfrags);

      g_array_append_val (segments, segment);
    }
}

static GPtrArray *
delivered_new (void)
{
  return g_ptr_array_new_with_free_func ((GDestroyNotify) confab_incoming_free);
}

static ConfabReceiverStats
stats_of (ConfabReceiver *receiver)
{
  ConfabReceiverStats stats;

  confab_receiver_get_stats (receiver, &stats);
  return stats;
}

static void
assert_incoming (GPtrArray  *delivered,
                 guint       index,
                 guint64     origin,
                 guint64     number,
                 const char *text)
{
  const ConfabIncoming *incoming;

  g_assert_cmpuint (index, <, delivered->len);
  incoming = g_ptr_array_index (delivered, index);
  g_assert_cmpuint (incoming->origin, ==, origin);
  g_assert_cmpuint (incoming->number, ==, number);
  g_assert_cmpint (incoming->time, ==, TIME_BASE + (gint64) number);
  g_assert_cmpstr (incoming->nick, ==, NICK);
  g_assert_cmpstr (incoming->text, ==, text);
}

/* Checks next and the exact bitmap bytes of @session's ack. */
static void
assert_ack (ConfabReceiver *receiver,
            guint64         session,
            guint64         next,
            guint           nbits,
            const guint8   *expected)
{
  guint8 bitmap[CONFAB_WIRE_MAX_ACK_BITS / 8];
  ConfabWireAck ack;

  g_assert_true (confab_receiver_build_ack (receiver, session, &ack, bitmap, sizeof bitmap));
  g_assert_cmpuint (ack.session, ==, session);
  g_assert_cmpuint (ack.next, ==, next);
  g_assert_cmpuint (ack.nbits, ==, nbits);
  g_assert_true (ack.bitmap == bitmap);
  if (nbits > 0)
    g_assert_cmpmem (ack.bitmap, nbits / 8, expected, nbits / 8);
}

static void
test_receiver_in_order (void)
{
  g_autoptr(ConfabReceiver) receiver = confab_receiver_new ();
  g_autoptr(GPtrArray) delivered = delivered_new ();
  const char *texts[] = { "one", "two", "drei — grüße" };
  ConfabReceiverStats stats;

  for (guint i = 0; i < G_N_ELEMENTS (texts); i++)
    {
      ConfabWireMessage segment = single (7, i + 1, i + 1, texts[i]);

      g_assert_cmpint (confab_receiver_push (receiver, &segment, T0, delivered), ==,
                       CONFAB_RECEIVER_ACCEPTED);
      g_assert_cmpuint (delivered->len, ==, i + 1);
      assert_incoming (delivered, i, 7, i + 1, texts[i]);
    }

  assert_ack (receiver, 7, 4, 0, NULL);
  g_assert_cmpint (confab_receiver_get_deadline (receiver), ==, G_MAXINT64);

  stats = stats_of (receiver);
  g_assert_cmpuint (stats.segments, ==, 3);
  g_assert_cmpuint (stats.messages, ==, 3);
  g_assert_cmpuint (stats.duplicates + stats.buffer_full + stats.skipped + stats.inconsistent
                    + stats.invalid_utf8 + stats.repeated, ==, 0);
}

static void
test_receiver_reassembly (void)
{
  g_autoptr(ConfabReceiver) receiver = confab_receiver_new ();
  g_autoptr(GPtrArray) delivered = delivered_new ();
  g_autoptr(GArray) segments = g_array_new (FALSE, FALSE, sizeof (ConfabWireMessage));
  g_autofree char *longest = g_strnfill (CONFAB_WIRE_MAX_TEXT, 'z');

  split (segments, 7, 1, 1, "Hello, wide world", 3);
  split (segments, 7, 4, 2, longest, 64);
  for (guint i = 0; i < segments->len; i++)
    {
      ConfabWireMessage *segment = &g_array_index (segments, ConfabWireMessage, i);

      g_assert_cmpint (confab_receiver_push (receiver, segment, T0, delivered), ==,
                       CONFAB_RECEIVER_ACCEPTED);
      g_assert_cmpuint (delivered->len, ==, (i >= 2) + (i >= 66));
    }

  assert_incoming (delivered, 0, 7, 1, "Hello, wide world");
  assert_incoming (delivered, 1, 7, 2, longest);
  g_assert_cmpuint (stats_of (receiver).segments, ==, 67);
  g_assert_cmpuint (stats_of (receiver).inconsistent, ==, 0);
}

/* 200 segments forming 50 messages of 1 to 10 fragments each, pushed in a
 * random order from one reused buffer, as the channel does.
 */
static void
test_receiver_reorder (void)
{
  g_autoptr(ConfabReceiver) receiver = confab_receiver_new ();
  g_autoptr(GPtrArray) delivered = delivered_new ();
  g_autoptr(GArray) segments = g_array_new (FALSE, FALSE, sizeof (ConfabWireMessage));
  g_autoptr(GPtrArray) texts = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GRand) rand = g_rand_new_with_seed (20251125);
  guint counts[50];
  guint order[200];
  guint sum = 0;
  guint64 seq = 1;
  ConfabReceiverStats stats;

  for (guint i = 0; i < G_N_ELEMENTS (counts); i++)
    sum += counts[i] = g_rand_int_range (rand, 1, 11);
  while (sum != G_N_ELEMENTS (order))
    {
      guint i = g_rand_int_range (rand, 0, G_N_ELEMENTS (counts));

      if (sum > G_N_ELEMENTS (order) && counts[i] > 1)
        {
          counts[i]--;
          sum--;
        }
      else if (sum < G_N_ELEMENTS (order) && counts[i] < 10)
        {
          counts[i]++;
          sum++;
        }
    }

  for (guint i = 0; i < G_N_ELEMENTS (counts); i++)
    {
      char *text = g_strdup_printf ("message %u of fifty, in %u fragments: %s", i + 1,
                                    counts[i], "ü€𝄞 and some more text to split");

      g_ptr_array_add (texts, text);
      split (segments, 42, seq, i + 1, text, counts[i]);
      seq += counts[i];
    }
  g_assert_cmpuint (segments->len, ==, G_N_ELEMENTS (order));

  for (guint round = 0; round < 2; round++)
    {
      for (guint i = 0; i < G_N_ELEMENTS (order); i++)
        order[i] = i;
      for (guint i = G_N_ELEMENTS (order) - 1; i > 0; i--)
        {
          guint j = g_rand_int_range (rand, 0, i + 1);
          guint swap = order[i];

          order[i] = order[j];
          order[j] = swap;
        }

      for (guint i = 0; i < G_N_ELEMENTS (order); i++)
        {
          ConfabWireMessage segment = g_array_index (segments, ConfabWireMessage, order[i]);
          guint8 datagram[CONFAB_WIRE_MAX_DATAGRAM];

          memcpy (datagram, segment.nick, segment.nick_len);
          memcpy (datagram + segment.nick_len, segment.payload, segment.payload_len);
          segment.nick = (const char *) datagram;
          segment.payload = datagram + segment.nick_len;

          g_assert_cmpint (confab_receiver_push (receiver, &segment, T0 + i, delivered), ==,
                           round == 0 ? CONFAB_RECEIVER_ACCEPTED : CONFAB_RECEIVER_DUPLICATE);
          memset (datagram, 0xAA, sizeof datagram);
        }
    }

  g_assert_cmpuint (delivered->len, ==, G_N_ELEMENTS (counts));
  for (guint i = 0; i < G_N_ELEMENTS (counts); i++)
    assert_incoming (delivered, i, 42, i + 1, g_ptr_array_index (texts, i));

  assert_ack (receiver, 42, 201, 0, NULL);
  g_assert_cmpint (confab_receiver_get_deadline (receiver), ==, G_MAXINT64);
  stats = stats_of (receiver);
  g_assert_cmpuint (stats.segments, ==, 200);
  g_assert_cmpuint (stats.duplicates, ==, 200);
  g_assert_cmpuint (stats.messages, ==, 50);
  g_assert_cmpuint (stats.inconsistent, ==, 0);
  g_assert_cmpuint (stats.skipped, ==, 0);
}

static void
test_receiver_duplicates (void)
{
  g_autoptr(ConfabReceiver) receiver = confab_receiver_new ();
  g_autoptr(GPtrArray) delivered = delivered_new ();
  ConfabWireMessage first = single (7, 1, 1, "first");
  ConfabWireMessage second = single (7, 2, 2, "second");
  ConfabWireMessage third = single (7, 3, 3, "third");

  g_assert_cmpint (confab_receiver_push (receiver, &first, T0, delivered), ==,
                   CONFAB_RECEIVER_ACCEPTED);
  g_assert_cmpint (confab_receiver_push (receiver, &first, T0, delivered), ==,
                   CONFAB_RECEIVER_DUPLICATE);
  g_assert_cmpint (confab_receiver_push (receiver, &third, T0, delivered), ==,
                   CONFAB_RECEIVER_ACCEPTED);
  g_assert_cmpint (confab_receiver_push (receiver, &third, T0, delivered), ==,
                   CONFAB_RECEIVER_DUPLICATE);
  g_assert_cmpuint (delivered->len, ==, 1);

  g_assert_cmpint (confab_receiver_push (receiver, &second, T0, delivered), ==,
                   CONFAB_RECEIVER_ACCEPTED);
  g_assert_cmpuint (delivered->len, ==, 3);
  g_assert_cmpint (confab_receiver_push (receiver, &second, T0, delivered), ==,
                   CONFAB_RECEIVER_DUPLICATE);
  g_assert_cmpint (confab_receiver_push (receiver, &third, T0, delivered), ==,
                   CONFAB_RECEIVER_DUPLICATE);

  g_assert_cmpuint (delivered->len, ==, 3);
  assert_incoming (delivered, 0, 7, 1, "first");
  assert_incoming (delivered, 1, 7, 2, "second");
  assert_incoming (delivered, 2, 7, 3, "third");
  g_assert_cmpuint (stats_of (receiver).duplicates, ==, 4);
  g_assert_cmpuint (stats_of (receiver).segments, ==, 3);
  assert_ack (receiver, 7, 4, 0, NULL);
}

/* After a restart the sender resends a message, keeping its id, in a new
 * session: acked, but not shown again.
 */
static void
test_receiver_repeated_id (void)
{
  g_autoptr(ConfabReceiver) receiver = confab_receiver_new ();
  g_autoptr(GPtrArray) delivered = delivered_new ();
  g_autoptr(GArray) segments = g_array_new (FALSE, FALSE, sizeof (ConfabWireMessage));
  ConfabWireMessage segment = single (0xA, 1, 1, "hello");

  g_assert_cmpint (confab_receiver_push (receiver, &segment, T0, delivered), ==,
                   CONFAB_RECEIVER_ACCEPTED);
  split (segments, 0xA, 2, 2, "a longer one", 2);
  split (segments, 0xB, 2, 2, "a longer one", 2);
  for (guint i = 0; i < 2; i++)
    confab_receiver_push (receiver, &g_array_index (segments, ConfabWireMessage, i), T0, delivered);
  g_assert_cmpuint (delivered->len, ==, 2);

  /* The new session 0xB resends both; its segments name the origin 0xA. */
  segment.session = 0xB;
  g_assert_cmpint (confab_receiver_push (receiver, &segment, T0, delivered), ==,
                   CONFAB_RECEIVER_ACCEPTED);
  for (guint i = 2; i < 4; i++)
    {
      ConfabWireMessage *resend = &g_array_index (segments, ConfabWireMessage, i);

      resend->origin = 0xA;
      g_assert_cmpint (confab_receiver_push (receiver, resend, T0, delivered), ==,
                       CONFAB_RECEIVER_ACCEPTED);
    }
  g_assert_cmpuint (delivered->len, ==, 2);
  g_assert_cmpuint (stats_of (receiver).repeated, ==, 2);

  segment = single (0xB, 4, 1, "new in 0xB");
  confab_receiver_push (receiver, &segment, T0, delivered);
  g_assert_cmpuint (delivered->len, ==, 3);
  assert_incoming (delivered, 2, 0xB, 1, "new in 0xB");
  assert_ack (receiver, 0xB, 5, 0, NULL);
}

/* Ids are forgotten oldest first, and only after REMEMBERED_IDS others. */
static void
test_receiver_remembered_ids (void)
{
  g_autoptr(ConfabReceiver) receiver = confab_receiver_new ();
  g_autoptr(GPtrArray) delivered = delivered_new ();
  ConfabWireMessage segment;
  guint64 n = CONFAB_RECEIVER_REMEMBERED_IDS + 1;

  for (guint64 i = 1; i <= n; i++)
    {
      segment = single (0xA, i, i, "x");
      confab_receiver_push (receiver, &segment, T0, delivered);
    }
  g_assert_cmpuint (delivered->len, ==, n);

  segment = single (0xB, 1, 2, "x");
  segment.origin = 0xA;
  confab_receiver_push (receiver, &segment, T0, delivered);
  segment = single (0xB, 2, n, "x");
  segment.origin = 0xA;
  confab_receiver_push (receiver, &segment, T0, delivered);
  g_assert_cmpuint (delivered->len, ==, n);
  g_assert_cmpuint (stats_of (receiver).repeated, ==, 2);

  segment = single (0xB, 3, 1, "x");
  segment.origin = 0xA;
  confab_receiver_push (receiver, &segment, T0, delivered);
  g_assert_cmpuint (delivered->len, ==, n + 1);
}

static void
test_receiver_skip_without_buffered (void)
{
  g_autoptr(ConfabReceiver) receiver = confab_receiver_new ();
  g_autoptr(GPtrArray) delivered = delivered_new ();
  ConfabWireMessage segment = single (7, 1, 1, "one");
  guint64 far = G_GUINT64_CONSTANT (1) << 40;

  confab_receiver_push (receiver, &segment, T0, delivered);
  segment = single (7, 5, 5, "five");
  segment.low = 5;
  g_assert_cmpint (confab_receiver_push (receiver, &segment, T0, delivered), ==,
                   CONFAB_RECEIVER_ACCEPTED);
  g_assert_cmpuint (delivered->len, ==, 2);
  assert_incoming (delivered, 1, 7, 5, "five");
  g_assert_cmpuint (stats_of (receiver).skipped, ==, 3);
  assert_ack (receiver, 7, 6, 0, NULL);

  /* A gap far wider than any buffer costs nothing to skip. */
  segment = single (7, far + 1, 6, "far");
  segment.low = far;
  g_assert_cmpint (confab_receiver_push (receiver, &segment, T0, delivered), ==,
                   CONFAB_RECEIVER_ACCEPTED);
  g_assert_cmpuint (delivered->len, ==, 2);
  g_assert_cmpuint (stats_of (receiver).skipped, ==, 3 + far - 6);
  assert_ack (receiver, 7, far, 8, (const guint8[]) { 0x01 });
}

static void
test_receiver_skip_with_buffered (void)
{
  g_autoptr(ConfabReceiver) receiver = confab_receiver_new ();
  g_autoptr(GPtrArray) delivered = delivered_new ();
  ConfabWireMessage segment = single (7, 1, 1, "one");

  confab_receiver_push (receiver, &segment, T0, delivered);
  segment = single (7, 3, 3, "three");
  confab_receiver_push (receiver, &segment, T0, delivered);
  segment = single (7, 6, 6, "six");
  confab_receiver_push (receiver, &segment, T0, delivered);
  g_assert_cmpuint (delivered->len, ==, 1);

  /* 2 and 4 are given up; 3 is shown; 5 may still come. */
  segment = single (7, 8, 8, "eight");
  segment.low = 5;
  g_assert_cmpint (confab_receiver_push (receiver, &segment, T0, delivered), ==,
                   CONFAB_RECEIVER_ACCEPTED);
  g_assert_cmpuint (delivered->len, ==, 2);
  assert_incoming (delivered, 1, 7, 3, "three");
  g_assert_cmpuint (stats_of (receiver).skipped, ==, 2);
  assert_ack (receiver, 7, 5, 8, (const guint8[]) { 0x05 });

  segment = single (7, 5, 5, "five");
  segment.low = 5;
  confab_receiver_push (receiver, &segment, T0, delivered);
  g_assert_cmpuint (delivered->len, ==, 4);
  assert_incoming (delivered, 2, 7, 5, "five");
  assert_incoming (delivered, 3, 7, 6, "six");
  assert_ack (receiver, 7, 7, 8, (const guint8[]) { 0x01 });

  /* 7 is given up; 8, buffered, is shown before 9. */
  segment = single (7, 9, 9, "nine");
  segment.low = 9;
  confab_receiver_push (receiver, &segment, T0, delivered);
  segment = single (7, 10, 10, "ten");
  segment.low = 10;
  confab_receiver_push (receiver, &segment, T0, delivered);
  g_assert_cmpuint (stats_of (receiver).skipped, ==, 3);
  g_assert_cmpuint (delivered->len, ==, 7);
  assert_incoming (delivered, 4, 7, 8, "eight");
  assert_incoming (delivered, 5, 7, 9, "nine");
  assert_incoming (delivered, 6, 7, 10, "ten");
  g_assert_cmpint (confab_receiver_get_deadline (receiver), ==, G_MAXINT64);
}

static void
test_receiver_skip_breaks_reassembly (void)
{
  g_autoptr(ConfabReceiver) receiver = confab_receiver_new ();
  g_autoptr(GPtrArray) delivered = delivered_new ();
  g_autoptr(GArray) segments = g_array_new (FALSE, FALSE, sizeof (ConfabWireMessage));
  ConfabWireMessage segment;
  ConfabReceiverStats stats;

  split (segments, 7, 1, 1, "abcdef", 3);
  confab_receiver_push (receiver, &g_array_index (segments, ConfabWireMessage, 0), T0, delivered);
  confab_receiver_push (receiver, &g_array_index (segments, ConfabWireMessage, 2), T0, delivered);

  /* Skipping 2 breaks the message: its last fragment no longer fits. */
  segment = single (7, 4, 2, "next");
  segment.low = 3;
  confab_receiver_push (receiver, &segment, T0, delivered);
  g_assert_cmpuint (delivered->len, ==, 1);
  assert_incoming (delivered, 0, 7, 2, "next");
  stats = stats_of (receiver);
  g_assert_cmpuint (stats.skipped, ==, 1);
  g_assert_cmpuint (stats.inconsistent, ==, 1);

  /* Broken with nothing buffered: the unfinished message just goes. */
  g_array_set_size (segments, 0);
  split (segments, 7, 5, 3, "ghijkl", 2);
  confab_receiver_push (receiver, &g_array_index (segments, ConfabWireMessage, 0), T0, delivered);
  segment = single (7, 7, 4, "after");
  segment.low = 7;
  confab_receiver_push (receiver, &segment, T0, delivered);
  g_assert_cmpuint (delivered->len, ==, 2);
  assert_incoming (delivered, 1, 7, 4, "after");
  stats = stats_of (receiver);
  g_assert_cmpuint (stats.skipped, ==, 2);
  g_assert_cmpuint (stats.inconsistent, ==, 1);
  g_assert_cmpuint (stats.messages, ==, 2);
}

static void
test_receiver_gap_expiry (void)
{
  g_autoptr(ConfabReceiver) receiver = confab_receiver_new ();
  g_autoptr(GPtrArray) delivered = delivered_new ();
  g_autoptr(GArray) segments = g_array_new (FALSE, FALSE, sizeof (ConfabWireMessage));
  const gint64 timeout = CONFAB_RECEIVER_GAP_TIMEOUT;
  ConfabWireMessage segment = single (7, 1, 1, "one");

  g_assert_cmpint (confab_receiver_get_deadline (receiver), ==, G_MAXINT64);
  confab_receiver_push (receiver, &segment, T0, delivered);
  g_assert_cmpint (confab_receiver_get_deadline (receiver), ==, G_MAXINT64);

  segment = single (7, 3, 3, "three");
  confab_receiver_push (receiver, &segment, T0 + 2000, delivered);
  g_assert_cmpint (confab_receiver_get_deadline (receiver), ==, T0 + 2000 + timeout);
  segment = single (7, 5, 5, "five");
  confab_receiver_push (receiver, &segment, T0 + 3000, delivered);
  g_assert_cmpint (confab_receiver_get_deadline (receiver), ==, T0 + 2000 + timeout);

  /* Another session's older gap comes first. */
  segment = single (8, 2, 2, "other");
  confab_receiver_push (receiver, &segment, T0 + 1000, delivered);
  g_assert_cmpint (confab_receiver_get_deadline (receiver), ==, T0 + 1000 + timeout);
  confab_receiver_expire (receiver, T0 + 1000 + timeout - 1, delivered);
  g_assert_cmpuint (delivered->len, ==, 1);
  confab_receiver_expire (receiver, T0 + 1000 + timeout, delivered);
  g_assert_cmpuint (delivered->len, ==, 2);
  assert_incoming (delivered, 1, 8, 2, "other");
  g_assert_cmpint (confab_receiver_get_deadline (receiver), ==, T0 + 2000 + timeout);

  confab_receiver_expire (receiver, T0 + 2000 + timeout, delivered);
  g_assert_cmpuint (delivered->len, ==, 3);
  assert_incoming (delivered, 2, 7, 3, "three");
  assert_ack (receiver, 7, 4, 8, (const guint8[]) { 0x01 });
  g_assert_cmpint (confab_receiver_get_deadline (receiver), ==, T0 + 3000 + timeout);

  /* Long after: every gap goes in one call. */
  segment = single (7, 7, 7, "seven");
  confab_receiver_push (receiver, &segment, T0 + 4000, delivered);
  confab_receiver_expire (receiver, T0 + 10 * timeout, delivered);
  g_assert_cmpuint (delivered->len, ==, 5);
  assert_incoming (delivered, 3, 7, 5, "five");
  assert_incoming (delivered, 4, 7, 7, "seven");
  g_assert_cmpuint (stats_of (receiver).skipped, ==, 4);
  g_assert_cmpint (confab_receiver_get_deadline (receiver), ==, G_MAXINT64);
  assert_ack (receiver, 7, 8, 0, NULL);

  /* An expired gap inside a message drops it. */
  split (segments, 7, 8, 8, "abcdef", 3);
  confab_receiver_push (receiver, &g_array_index (segments, ConfabWireMessage, 0), T0, delivered);
  confab_receiver_push (receiver, &g_array_index (segments, ConfabWireMessage, 2), T0, delivered);
  confab_receiver_expire (receiver, T0 + timeout, delivered);
  g_assert_cmpuint (delivered->len, ==, 5);
  g_assert_cmpuint (stats_of (receiver).inconsistent, ==, 1);
  assert_ack (receiver, 7, 11, 0, NULL);
}

static void
test_receiver_buffer_count (void)
{
  g_autoptr(ConfabReceiver) receiver = confab_receiver_new ();
  g_autoptr(GPtrArray) delivered = delivered_new ();
  guint64 last = CONFAB_RECEIVER_MAX_BUFFERED + 1;
  ConfabWireMessage segment;

  for (guint64 seq = 2; seq <= last; seq++)
    {
      segment = single (7, seq, seq, "x");
      g_assert_cmpint (confab_receiver_push (receiver, &segment, T0, delivered), ==,
                       CONFAB_RECEIVER_ACCEPTED);
    }
  segment = single (7, last + 1, last + 1, "x");
  g_assert_cmpint (confab_receiver_push (receiver, &segment, T0, delivered), ==,
                   CONFAB_RECEIVER_DROPPED);
  g_assert_cmpuint (stats_of (receiver).buffer_full, ==, 1);
  g_assert_cmpuint (delivered->len, ==, 0);

  segment = single (7, 1, 1, "x");
  confab_receiver_push (receiver, &segment, T0, delivered);
  g_assert_cmpuint (delivered->len, ==, last);
  for (guint i = 0; i < last; i++)
    g_assert_cmpuint (((ConfabIncoming *) g_ptr_array_index (delivered, i))->number, ==, i + 1);

  /* The sender resends what was dropped. */
  segment = single (7, last + 1, last + 1, "x");
  g_assert_cmpint (confab_receiver_push (receiver, &segment, T0, delivered), ==,
                   CONFAB_RECEIVER_ACCEPTED);
  g_assert_cmpuint (delivered->len, ==, last + 1);

  /* Left buffered: freed with the receiver. */
  segment = single (7, last + 3, last + 3, "x");
  confab_receiver_push (receiver, &segment, T0, delivered);
}

static void
test_receiver_buffer_bytes (void)
{
  g_autoptr(ConfabReceiver) receiver = confab_receiver_new ();
  g_autoptr(GPtrArray) delivered = delivered_new ();
  g_autofree char *big = g_strnfill (4000, 'b');
  g_autofree char *rest = g_strnfill (CONFAB_RECEIVER_MAX_BUFFER_BYTES % 4000, 'r');
  guint64 fit = CONFAB_RECEIVER_MAX_BUFFER_BYTES / 4000;
  ConfabWireMessage segment;

  for (guint64 seq = 2; seq < 2 + fit; seq++)
    {
      segment = single (7, seq, seq, big);
      g_assert_cmpint (confab_receiver_push (receiver, &segment, T0, delivered), ==,
                       CONFAB_RECEIVER_ACCEPTED);
    }
  segment = single (7, 2 + fit, 2 + fit, big);
  g_assert_cmpint (confab_receiver_push (receiver, &segment, T0, delivered), ==,
                   CONFAB_RECEIVER_DROPPED);

  /* Exactly up to the limit still fits; one byte more does not. */
  segment = single (7, 3 + fit, 3 + fit, rest);
  g_assert_cmpint (confab_receiver_push (receiver, &segment, T0, delivered), ==,
                   CONFAB_RECEIVER_ACCEPTED);
  segment = single (7, 4 + fit, 4 + fit, "1");
  g_assert_cmpint (confab_receiver_push (receiver, &segment, T0, delivered), ==,
                   CONFAB_RECEIVER_DROPPED);
  g_assert_cmpuint (stats_of (receiver).buffer_full, ==, 2);

  segment = single (7, 1, 1, big);
  confab_receiver_push (receiver, &segment, T0, delivered);
  g_assert_cmpuint (delivered->len, ==, 1 + fit);
  assert_incoming (delivered, fit, 7, 1 + fit, big);

  segment = single (7, 2 + fit, 2 + fit, big);
  g_assert_cmpint (confab_receiver_push (receiver, &segment, T0, delivered), ==,
                   CONFAB_RECEIVER_ACCEPTED);
  g_assert_cmpuint (delivered->len, ==, 3 + fit);
  assert_incoming (delivered, 2 + fit, 7, 3 + fit, rest);
}

static void
test_receiver_beyond_bitmap (void)
{
  g_autoptr(ConfabReceiver) receiver = confab_receiver_new ();
  g_autoptr(GPtrArray) delivered = delivered_new ();
  guint8 expected[CONFAB_WIRE_MAX_ACK_BITS / 8] = { 0 };
  guint64 edge = 1 + CONFAB_WIRE_MAX_ACK_BITS;
  ConfabWireAck ack;
  ConfabWireMessage segment;

  segment = single (7, edge, edge, "edge");
  g_assert_cmpint (confab_receiver_push (receiver, &segment, T0, delivered), ==,
                   CONFAB_RECEIVER_ACCEPTED);
  segment = single (7, edge + 1, edge + 1, "beyond");
  g_assert_cmpint (confab_receiver_push (receiver, &segment, T0, delivered), ==,
                   CONFAB_RECEIVER_DROPPED);
  g_assert_cmpuint (stats_of (receiver).buffer_full, ==, 1);
  expected[G_N_ELEMENTS (expected) - 1] = 0x80;
  assert_ack (receiver, 7, 1, CONFAB_WIRE_MAX_ACK_BITS, expected);

  /* A new session is refused before it takes a place. */
  segment = single (8, edge + 1, edge + 1, "beyond");
  g_assert_cmpint (confab_receiver_push (receiver, &segment, T0, delivered), ==,
                   CONFAB_RECEIVER_DROPPED);
  g_assert_false (confab_receiver_build_ack (receiver, 8, &ack, NULL, 0));
  segment.low = 2;
  g_assert_cmpint (confab_receiver_push (receiver, &segment, T0, delivered), ==,
                   CONFAB_RECEIVER_ACCEPTED);
  assert_ack (receiver, 8, 2, CONFAB_WIRE_MAX_ACK_BITS, expected);
  g_assert_cmpuint (stats_of (receiver).buffer_full, ==, 2);
  g_assert_cmpuint (delivered->len, ==, 0);
}

typedef enum
{
  BREAK_OFFSET_GAP,
  BREAK_OFFSET_OVERLAP,
  BREAK_TOTAL,
  BREAK_NICK,
  BREAK_NICK_LENGTH,
  BREAK_NUMBER,
  BREAK_ORIGIN,
  BREAK_TIME,
  BREAK_NFRAGS,
  BREAK_FRAG_SKIPPED,
  N_BREAKS
} Break;

/* Each way a middle fragment can fail to continue its message drops it and
 * the message; the message's last fragment then belongs to nothing.
 */
static void
test_receiver_inconsistent (void)
{
  static const char text[] = "abcdefghi";

  for (Break b = 0; b < N_BREAKS; b++)
    {
      g_autoptr(ConfabReceiver) receiver = confab_receiver_new ();
      g_autoptr(GPtrArray) delivered = delivered_new ();
      ConfabWireMessage first = fragment (7, 1, 1, text, 0, 3, 0, 3);
      ConfabWireMessage middle = fragment (7, 2, 1, text, 3, 3, 1, 3);
      ConfabWireMessage last = fragment (7, 3, 1, text, 6, 3, 2, 3);
      ConfabWireMessage after = single (7, 4, 2, "ok");

      switch (b)
        {
        case BREAK_OFFSET_GAP:
          middle.offset = 4;
          middle.payload = (const guint8 *) text + 4;
          break;
        case BREAK_OFFSET_OVERLAP:
          middle.offset = 2;
          middle.payload = (const guint8 *) text + 2;
          break;
        case BREAK_TOTAL:
          middle.total = 10;
          break;
        case BREAK_NICK:
          middle.nick = "bob";
          break;
        case BREAK_NICK_LENGTH:
          middle.nick = "annie";
          middle.nick_len = 5;
          break;
        case BREAK_NUMBER:
          middle.number = 99;
          break;
        case BREAK_ORIGIN:
          middle.origin = 99;
          break;
        case BREAK_TIME:
          middle.time++;
          break;
        case BREAK_NFRAGS:
          middle.nfrags = 4;
          break;
        case BREAK_FRAG_SKIPPED:
          middle = fragment (7, 2, 1, text, 6, 3, 2, 3);
          last.frag = 1;
          break;
        case N_BREAKS:
        default:
          g_assert_not_reached ();
        }

      g_test_message ("break %d", b);
      g_assert_cmpint (confab_receiver_push (receiver, &first, T0, delivered), ==,
                       CONFAB_RECEIVER_ACCEPTED);
      g_assert_cmpint (confab_receiver_push (receiver, &middle, T0, delivered), ==,
                       CONFAB_RECEIVER_ACCEPTED);
      g_assert_cmpint (confab_receiver_push (receiver, &last, T0, delivered), ==,
                       CONFAB_RECEIVER_ACCEPTED);
      g_assert_cmpint (confab_receiver_push (receiver, &after, T0, delivered), ==,
                       CONFAB_RECEIVER_ACCEPTED);
      g_assert_cmpuint (delivered->len, ==, 1);
      assert_incoming (delivered, 0, 7, 2, "ok");
      g_assert_cmpuint (stats_of (receiver).inconsistent, ==, 2);
      assert_ack (receiver, 7, 5, 0, NULL);
    }
}

static void
test_receiver_inconsistent_starts (void)
{
  g_autoptr(ConfabReceiver) receiver = confab_receiver_new ();
  g_autoptr(GPtrArray) delivered = delivered_new ();
  ConfabWireMessage segment;

  /* A fragment of a message whose start this session never delivered. */
  segment = fragment (7, 1, 1, "abcdef", 3, 3, 1, 2);
  confab_receiver_push (receiver, &segment, T0, delivered);
  g_assert_cmpuint (stats_of (receiver).inconsistent, ==, 1);

  /* A new start abandons the unfinished message, and is itself shown. */
  segment = fragment (7, 2, 2, "abcdef", 0, 3, 0, 2);
  confab_receiver_push (receiver, &segment, T0, delivered);
  segment = fragment (7, 3, 3, "ghijkl", 0, 3, 0, 2);
  confab_receiver_push (receiver, &segment, T0, delivered);
  segment = fragment (7, 4, 3, "ghijkl", 3, 3, 1, 2);
  confab_receiver_push (receiver, &segment, T0, delivered);
  g_assert_cmpuint (stats_of (receiver).inconsistent, ==, 2);
  g_assert_cmpuint (delivered->len, ==, 1);
  assert_incoming (delivered, 0, 7, 3, "ghijkl");

  /* A first fragment leaving nothing for the others. */
  segment = fragment (7, 5, 4, "abc", 0, 3, 0, 2);
  confab_receiver_push (receiver, &segment, T0, delivered);
  g_assert_cmpuint (stats_of (receiver).inconsistent, ==, 3);

  /* A middle fragment reaching the end, leaving nothing for the last. */
  segment = fragment (7, 6, 5, "abcdef", 0, 2, 0, 3);
  confab_receiver_push (receiver, &segment, T0, delivered);
  segment = fragment (7, 7, 5, "abcdef", 2, 4, 1, 3);
  confab_receiver_push (receiver, &segment, T0, delivered);
  g_assert_cmpuint (stats_of (receiver).inconsistent, ==, 4);
  g_assert_cmpuint (delivered->len, ==, 1);
  assert_ack (receiver, 7, 8, 0, NULL);
}

/* Segments that fail protocol.md §4 are dropped unacknowledged, whoever
 * decoded them.
 */
static void
test_receiver_malformed (void)
{
  g_autoptr(ConfabReceiver) receiver = confab_receiver_new ();
  g_autoptr(GPtrArray) delivered = delivered_new ();
  ConfabWireAck ack;

  for (guint i = 0; i < 12; i++)
    {
      ConfabWireMessage segment = fragment (7, 2, 1, "abcdef", 3, 3, 1, 2);

      switch (i)
        {
        case 0: segment.session = 0; break;
        case 1: segment.seq = 0; break;
        case 2: segment.low = 3; break;
        case 3: segment.origin = 0; break;
        case 4: segment.number = 0; break;
        case 5: segment.total = 0; break;
        case 6: segment.total = CONFAB_WIRE_MAX_TEXT + 1; break;
        case 7: segment.frag = 2; break;
        case 8: segment.offset = 4; break;  /* past total */
        case 9: segment.offset = 2; break;  /* last not ending at total */
        case 10: segment.payload_len = 0; break;
        case 11: segment.nick_len = CONFAB_WIRE_MAX_NICK + 1; break;
        default: g_assert_not_reached ();
        }
      g_assert_cmpint (confab_receiver_push (receiver, &segment, T0, delivered), ==,
                       CONFAB_RECEIVER_DROPPED);
    }

  g_assert_false (confab_receiver_build_ack (receiver, 7, &ack, NULL, 0));
  g_assert_cmpuint (stats_of (receiver).segments, ==, 0);
}

static void
test_receiver_invalid_utf8 (void)
{
  g_autoptr(ConfabReceiver) receiver = confab_receiver_new ();
  g_autoptr(GPtrArray) delivered = delivered_new ();
  g_autoptr(GArray) segments = g_array_new (FALSE, FALSE, sizeof (ConfabWireMessage));
  const char *texts[] = {
    "a\xc3\xa9" "b",         /* split inside é: valid once joined */
    "ab\xc3(",               /* a lead byte followed by ASCII */
    "abc\xc3",               /* truncated at the end */
    "a\xc0\xaf" "b",         /* overlong */
    "\xed\xa0\x80z",         /* a UTF-16 surrogate */
  };
  guint64 seq = 1;

  for (guint i = 0; i < G_N_ELEMENTS (texts); i++)
    {
      split (segments, 7, seq, i + 1, texts[i], 2);
      seq += 2;
    }
  for (guint i = 0; i < segments->len; i++)
    confab_receiver_push (receiver, &g_array_index (segments, ConfabWireMessage, i), T0, delivered);

  g_assert_cmpuint (delivered->len, ==, 1);
  assert_incoming (delivered, 0, 7, 1, "aéb");
  g_assert_cmpuint (stats_of (receiver).invalid_utf8, ==, G_N_ELEMENTS (texts) - 1);
  assert_ack (receiver, 7, seq, 0, NULL);
}

static void
test_receiver_nul (void)
{
  g_autoptr(ConfabReceiver) receiver = confab_receiver_new ();
  g_autoptr(GPtrArray) delivered = delivered_new ();
  static const char text[] = "ab\0cd";
  ConfabWireMessage segment;

  segment = single (7, 1, 1, "xxxxx");
  segment.payload = (const guint8 *) text;
  confab_receiver_push (receiver, &segment, T0, delivered);

  segment = fragment (7, 2, 2, "xxxxx", 0, 2, 0, 2);
  segment.payload = (const guint8 *) text;
  confab_receiver_push (receiver, &segment, T0, delivered);
  segment = fragment (7, 3, 2, "xxxxx", 2, 3, 1, 2);
  segment.payload = (const guint8 *) text + 2;
  confab_receiver_push (receiver, &segment, T0, delivered);

  g_assert_cmpuint (delivered->len, ==, 0);
  g_assert_cmpuint (stats_of (receiver).invalid_utf8, ==, 2);
  g_assert_cmpuint (stats_of (receiver).messages, ==, 0);
}

/* The bit layout of protocol.md §5 and its example in §10. */
static void
test_receiver_build_ack (void)
{
  g_autoptr(ConfabReceiver) receiver = confab_receiver_new ();
  g_autoptr(GPtrArray) delivered = delivered_new ();
  const guint64 session = G_GUINT64_CONSTANT (0x0102030405060708);
  const guint64 buffered[] = { 12, 19, 20 };
  guint8 bitmap[4];
  ConfabWireAck ack;
  ConfabWireMessage segment;

  for (guint64 seq = 5; seq <= 9; seq++)
    {
      segment = single (session, seq, seq, "x");
      segment.low = 5;
      confab_receiver_push (receiver, &segment, T0, delivered);
    }
  segment = single (session, 11, 11, "x");
  segment.low = 5;
  confab_receiver_push (receiver, &segment, T0, delivered);
  assert_ack (receiver, session, 10, 8, (const guint8[]) { 0x01 });

  for (guint i = 0; i < G_N_ELEMENTS (buffered); i++)
    {
      segment = single (session, buffered[i], buffered[i], "x");
      segment.low = 5;
      confab_receiver_push (receiver, &segment, T0, delivered);
    }
  memset (bitmap, 0xEE, sizeof bitmap);
  g_assert_true (confab_receiver_build_ack (receiver, session, &ack, bitmap, sizeof bitmap));
  g_assert_cmpuint (ack.next, ==, 10);
  g_assert_cmpuint (ack.nbits, ==, 16);
  g_assert_cmpmem (bitmap, sizeof bitmap, ((const guint8[]) { 0x03, 0x03, 0xEE, 0xEE }), 4);

  /* Cut to the room the caller gave. */
  memset (bitmap, 0xEE, sizeof bitmap);
  g_assert_true (confab_receiver_build_ack (receiver, session, &ack, bitmap, 1));
  g_assert_cmpuint (ack.nbits, ==, 8);
  g_assert_cmpmem (bitmap, sizeof bitmap, ((const guint8[]) { 0x03, 0xEE, 0xEE, 0xEE }), 4);
  g_assert_true (confab_receiver_build_ack (receiver, session, &ack, NULL, 0));
  g_assert_cmpuint (ack.nbits, ==, 0);
  g_assert_cmpuint (ack.next, ==, 10);

  g_assert_false (confab_receiver_build_ack (receiver, session + 1, &ack, bitmap, sizeof bitmap));
}

/* Nine sessions: the least recently used one is forgotten, buffer and all. */
static void
test_receiver_session_eviction (void)
{
  g_autoptr(ConfabReceiver) receiver = confab_receiver_new ();
  g_autoptr(GPtrArray) delivered = delivered_new ();
  ConfabWireMessage segment;
  ConfabWireAck ack;

  for (guint64 session = 1; session <= CONFAB_RECEIVER_MAX_SESSIONS; session++)
    {
      segment = single (session, 2, 2, "x");
      confab_receiver_push (receiver, &segment, T0 + (gint64) session, delivered);
    }
  segment = single (1, 3, 3, "x");
  confab_receiver_push (receiver, &segment, T0 + 10, delivered);

  segment = single (CONFAB_RECEIVER_MAX_SESSIONS + 1, 2, 2, "x");
  confab_receiver_push (receiver, &segment, T0 + 11, delivered);

  g_assert_false (confab_receiver_build_ack (receiver, 2, &ack, NULL, 0));
  for (guint64 session = 1; session <= CONFAB_RECEIVER_MAX_SESSIONS + 1; session++)
    if (session != 2)
      g_assert_true (confab_receiver_build_ack (receiver, session, &ack, NULL, 0));
  g_assert_cmpint (confab_receiver_get_deadline (receiver), ==,
                   T0 + 1 + CONFAB_RECEIVER_GAP_TIMEOUT);

  /* It comes back as a new session starting at its low, and pushes out 3. */
  segment = single (2, 5, 5, "x");
  segment.low = 4;
  g_assert_cmpint (confab_receiver_push (receiver, &segment, T0 + 12, delivered), ==,
                   CONFAB_RECEIVER_ACCEPTED);
  assert_ack (receiver, 2, 4, 8, (const guint8[]) { 0x01 });
  g_assert_false (confab_receiver_build_ack (receiver, 3, &ack, NULL, 0));
  g_assert_cmpuint (delivered->len, ==, 0);
}

static void
test_receiver_new_session_low (void)
{
  g_autoptr(ConfabReceiver) receiver = confab_receiver_new ();
  g_autoptr(GPtrArray) delivered = delivered_new ();
  ConfabWireMessage segment;

  segment = single (7, 7, 7, "seven");
  segment.low = 5;
  g_assert_cmpint (confab_receiver_push (receiver, &segment, T0, delivered), ==,
                   CONFAB_RECEIVER_ACCEPTED);
  g_assert_cmpuint (delivered->len, ==, 0);
  assert_ack (receiver, 7, 5, 8, (const guint8[]) { 0x02 });

  segment = single (7, 6, 6, "six");
  segment.low = 5;
  confab_receiver_push (receiver, &segment, T0, delivered);
  segment = single (7, 5, 5, "five");
  segment.low = 5;
  confab_receiver_push (receiver, &segment, T0, delivered);
  g_assert_cmpuint (delivered->len, ==, 3);
  assert_incoming (delivered, 0, 7, 5, "five");
  assert_incoming (delivered, 1, 7, 6, "six");
  assert_incoming (delivered, 2, 7, 7, "seven");

  segment = single (8, 70, 70, "at once");
  segment.low = 70;
  confab_receiver_push (receiver, &segment, T0, delivered);
  g_assert_cmpuint (delivered->len, ==, 4);
  assert_ack (receiver, 8, 71, 0, NULL);
  g_assert_cmpuint (stats_of (receiver).skipped, ==, 0);
}

static void
test_receiver_incoming_boxed (void)
{
  ConfabIncoming incoming = { 1, 2, 3, (char *) "ann", (char *) "grüße" };
  ConfabIncoming *copy = g_boxed_copy (CONFAB_TYPE_INCOMING, &incoming);

  g_assert_true (copy != &incoming);
  g_assert_cmpuint (copy->origin, ==, 1);
  g_assert_cmpuint (copy->number, ==, 2);
  g_assert_cmpint (copy->time, ==, 3);
  g_assert_cmpstr (copy->nick, ==, "ann");
  g_assert_cmpstr (copy->text, ==, "grüße");
  g_boxed_free (CONFAB_TYPE_INCOMING, copy);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/receiver/in-order", test_receiver_in_order);
  g_test_add_func ("/receiver/reassembly", test_receiver_reassembly);
  g_test_add_func ("/receiver/reorder", test_receiver_reorder);
  g_test_add_func ("/receiver/duplicates", test_receiver_duplicates);
  g_test_add_func ("/receiver/repeated-id", test_receiver_repeated_id);
  g_test_add_func ("/receiver/remembered-ids", test_receiver_remembered_ids);
  g_test_add_func ("/receiver/skip-without-buffered", test_receiver_skip_without_buffered);
  g_test_add_func ("/receiver/skip-with-buffered", test_receiver_skip_with_buffered);
  g_test_add_func ("/receiver/skip-breaks-reassembly", test_receiver_skip_breaks_reassembly);
  g_test_add_func ("/receiver/gap-expiry", test_receiver_gap_expiry);
  g_test_add_func ("/receiver/buffer-count", test_receiver_buffer_count);
  g_test_add_func ("/receiver/buffer-bytes", test_receiver_buffer_bytes);
  g_test_add_func ("/receiver/beyond-bitmap", test_receiver_beyond_bitmap);
  g_test_add_func ("/receiver/inconsistent", test_receiver_inconsistent);
  g_test_add_func ("/receiver/inconsistent-starts", test_receiver_inconsistent_starts);
  g_test_add_func ("/receiver/malformed", test_receiver_malformed);
  g_test_add_func ("/receiver/invalid-utf8", test_receiver_invalid_utf8);
  g_test_add_func ("/receiver/nul", test_receiver_nul);
  g_test_add_func ("/receiver/build-ack", test_receiver_build_ack);
  g_test_add_func ("/receiver/session-eviction", test_receiver_session_eviction);
  g_test_add_func ("/receiver/new-session-low", test_receiver_new_session_low);
  g_test_add_func ("/receiver/incoming-boxed", test_receiver_incoming_boxed);

  return g_test_run ();
}
