/* confab-rtt.c — smoothed round-trip time and retransmission timeout
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "confab-rtt"

#include "confab-rtt.h"

/* Far beyond any real round trip (about 36 000 years), yet small enough that
 * 7·SRTT + R, 3·RTTVAR + |SRTT − R| and SRTT + 4·RTTVAR cannot overflow.
 */
#define MAX_SAMPLE  (G_MAXINT64 / 8)

void
confab_rtt_init (ConfabRtt *rtt)
{
  g_return_if_fail (rtt != NULL);

  rtt->srtt = 0;
  rtt->rttvar = 0;
  rtt->has_sample = FALSE;
}

/**
 * confab_rtt_sample:
 * @rtt: the estimator
 * @sample: one measured round trip, in µs
 *
 * The usual RFC 6298 filter with gains 1/8 and 1/4, in integer µs so that
 * every peer computes the same timeouts. A negative sample can only come
 * from a caller mixing clocks and is ignored.
 */
void
confab_rtt_sample (ConfabRtt *rtt,
                   gint64     sample)
{
  gint64 delta;

  g_return_if_fail (rtt != NULL);

  if (sample < 0)
    return;

  sample = MIN (sample, MAX_SAMPLE);

  if (!rtt->has_sample)
    {
      rtt->srtt = sample;
      rtt->rttvar = sample / 2;
      rtt->has_sample = TRUE;
      return;
    }

  /* RTTVAR first: it measures the deviation from the old SRTT. */
  delta = rtt->srtt > sample ? rtt->srtt - sample : sample - rtt->srtt;
  rtt->rttvar = (3 * rtt->rttvar + delta) / 4;
  rtt->srtt = (7 * rtt->srtt + sample) / 8;
}

gint64
confab_rtt_get_rto (const ConfabRtt *rtt)
{
  g_return_val_if_fail (rtt != NULL, CONFAB_RTT_INITIAL_RTO);

  if (!rtt->has_sample)
    return CONFAB_RTT_INITIAL_RTO;

  return MAX (CONFAB_RTT_MIN_RTO, rtt->srtt + 4 * rtt->rttvar);
}
