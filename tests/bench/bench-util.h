/* bench-util.h — what the benchmarks share: spawning their own processes, reading figures
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

guint16      bench_free_port        (void);
GSubprocess *bench_spawn            (const char  *self,
                                     const char  *mode,
                                     ...) G_GNUC_NULL_TERMINATED;
char        *bench_read_line        (GSubprocess *process);
double       bench_percentile       (GArray      *sorted_usec,
                                     double       fraction);
void         bench_figure           (const char  *name,
                                     double       value,
                                     const char  *unit);

G_END_DECLS
