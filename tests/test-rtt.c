/* test-rtt.c — ConfabRtt: RFC 6298 smoothing, floor and initial timeout
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "confab-rtt.h"

static void
test_rtt_initial (void)
{
  ConfabRtt rtt;

  confab_rtt_init (&rtt);
  g_assert_false (rtt.has_sample);
  g_assert_cmpint (confab_rtt_get_rto (&rtt), ==, G_USEC_PER_SEC);
  g_assert_cmpint (CONFAB_RTT_INITIAL_RTO, ==, G_USEC_PER_SEC);
}

static void
test_rtt_first_sample (void)
{
  ConfabRtt rtt;

  confab_rtt_init (&rtt);
  confab_rtt_sample (&rtt, 100000);
  g_assert_true (rtt.has_sample);
  g_assert_cmpint (rtt.srtt, ==, 100000);
  g_assert_cmpint (rtt.rttvar, ==, 50000);
  g_assert_cmpint (confab_rtt_get_rto (&rtt), ==, 300000);
}

/* Worked by hand from docs/protocol.md §8: RTTVAR is updated with the old
 * SRTT, then SRTT; both truncate towards zero.
 */
static void
test_rtt_sequence (void)
{
  ConfabRtt rtt;

  confab_rtt_init (&rtt);
  confab_rtt_sample (&rtt, 100000);

  /* |100000 − 200000| = 100000; (3·50000 + 100000)/4; (7·100000 + 200000)/8 */
  confab_rtt_sample (&rtt, 200000);
  g_assert_cmpint (rtt.rttvar, ==, 62500);
  g_assert_cmpint (rtt.srtt, ==, 112500);
  g_assert_cmpint (confab_rtt_get_rto (&rtt), ==, 362500);

  /* |112500 − 50000| = 62500; (3·62500 + 62500)/4; 837500/8 = 104687.5 */
  confab_rtt_sample (&rtt, 50000);
  g_assert_cmpint (rtt.rttvar, ==, 62500);
  g_assert_cmpint (rtt.srtt, ==, 104687);
  g_assert_cmpint (confab_rtt_get_rto (&rtt), ==, 354687);
}

static void
test_rtt_truncation (void)
{
  ConfabRtt rtt;

  confab_rtt_init (&rtt);
  confab_rtt_sample (&rtt, 3);
  g_assert_cmpint (rtt.srtt, ==, 3);
  g_assert_cmpint (rtt.rttvar, ==, 1);

  /* (3·1 + 7)/4 = 2.5 and (7·3 + 10)/8 = 3.875 */
  confab_rtt_sample (&rtt, 10);
  g_assert_cmpint (rtt.rttvar, ==, 2);
  g_assert_cmpint (rtt.srtt, ==, 3);
}

static void
test_rtt_floor (void)
{
  ConfabRtt rtt;
  guint i;

  confab_rtt_init (&rtt);
  confab_rtt_sample (&rtt, 1000);
  g_assert_cmpint (rtt.srtt + 4 * rtt.rttvar, ==, 3000);
  g_assert_cmpint (confab_rtt_get_rto (&rtt), ==, CONFAB_RTT_MIN_RTO);
  g_assert_cmpint (CONFAB_RTT_MIN_RTO, ==, 200000);

  /* A zero round trip (loopback, coarse clock) is a real sample. */
  confab_rtt_init (&rtt);
  confab_rtt_sample (&rtt, 0);
  g_assert_true (rtt.has_sample);
  g_assert_cmpint (confab_rtt_get_rto (&rtt), ==, CONFAB_RTT_MIN_RTO);

  /* Steady 10 ms: the variance decays to nothing and the floor holds. */
  confab_rtt_init (&rtt);
  for (i = 0; i < 100; i++)
    confab_rtt_sample (&rtt, 10000);
  g_assert_cmpint (rtt.srtt, ==, 10000);
  g_assert_cmpint (rtt.rttvar, ==, 0);
  g_assert_cmpint (confab_rtt_get_rto (&rtt), ==, CONFAB_RTT_MIN_RTO);

  /* Steady 300 ms: no floor, the timeout follows the round trip. */
  confab_rtt_init (&rtt);
  for (i = 0; i < 100; i++)
    confab_rtt_sample (&rtt, 300000);
  g_assert_cmpint (confab_rtt_get_rto (&rtt), ==, 300000);
}

static void
test_rtt_negative_ignored (void)
{
  ConfabRtt rtt;

  confab_rtt_init (&rtt);
  confab_rtt_sample (&rtt, -1);
  g_assert_false (rtt.has_sample);
  g_assert_cmpint (confab_rtt_get_rto (&rtt), ==, G_USEC_PER_SEC);

  confab_rtt_sample (&rtt, 100000);
  confab_rtt_sample (&rtt, -5000000);
  g_assert_cmpint (rtt.srtt, ==, 100000);
  g_assert_cmpint (rtt.rttvar, ==, 50000);
  g_assert_cmpint (confab_rtt_get_rto (&rtt), ==, 300000);
}

/* Absurd samples must not overflow (the sanitizer build would abort). */
static void
test_rtt_huge (void)
{
  ConfabRtt rtt;

  confab_rtt_init (&rtt);
  confab_rtt_sample (&rtt, G_MAXINT64);
  confab_rtt_sample (&rtt, 0);
  confab_rtt_sample (&rtt, G_MAXINT64);
  g_assert_cmpint (rtt.srtt, >, 0);
  g_assert_cmpint (rtt.rttvar, >, 0);
  g_assert_cmpint (confab_rtt_get_rto (&rtt), >, rtt.srtt);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/rtt/initial", test_rtt_initial);
  g_test_add_func ("/rtt/first-sample", test_rtt_first_sample);
  g_test_add_func ("/rtt/sequence", test_rtt_sequence);
  g_test_add_func ("/rtt/truncation", test_rtt_truncation);
  g_test_add_func ("/rtt/floor", test_rtt_floor);
  g_test_add_func ("/rtt/negative-ignored", test_rtt_negative_ignored);
  g_test_add_func ("/rtt/huge", test_rtt_huge);

  return g_test_run ();
}
