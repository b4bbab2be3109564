/* confab-rtt.h — smoothed round-trip time and retransmission timeout
 *
 * docs/protocol.md §8: gains 1/8 and 1/4, RTO = max(200 ms, SRTT + 4 RTTVAR),
 * 1 s before the first sample. All values in µs.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define CONFAB_RTT_INITIAL_RTO  G_USEC_PER_SEC
#define CONFAB_RTT_MIN_RTO      (200 * 1000)

typedef struct
{
  gint64   srtt;
  gint64   rttvar;
  gboolean has_sample;
} ConfabRtt;

void    confab_rtt_init     (ConfabRtt       *rtt);
void    confab_rtt_sample   (ConfabRtt       *rtt,
                             gint64           sample);
gint64  confab_rtt_get_rto  (const ConfabRtt *rtt);

G_END_DECLS
