/* bench-util.h — what the benchmarks share: spawning their own processes, reading figures
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* The real program, running */
typedef struct
{
  GSubprocess      *process;
  GDataInputStream *out;
  char             *config_home;
  char              pid[16];
  gint64            started;  /* monotonic µs, just before it was started */
} BenchApp;

guint16      bench_free_port        (void);
GSubprocess *bench_spawn            (const char  *self,
                                     const char  *mode,
                                     ...) G_GNUC_NULL_TERMINATED;
char        *bench_read_line        (GSubprocess *process);
double       bench_percentile       (GArray      *values,
                                     double       fraction);
double       bench_median           (const double *values,
                                     guint         n);
void         bench_round_figures    (const char   *name,
                                     const double *values,
                                     guint         n,
                                     const char   *unit);
gboolean     bench_has_display      (const char  *name);
void         bench_figure           (const char  *name,
                                     double       value,
                                     const char  *unit);
BenchApp    *bench_app_start        (const char         *program,
                                     const char         *data_home,
                                     const char * const *args);
gboolean     bench_app_first_frame  (BenchApp    *app,
                                     gint64      *usec,
                                     guint       *items,
                                     char       **newest);
void         bench_app_stop         (BenchApp    *app);
gint64       bench_rss_kib          (const char  *pid);
GHashTable  *bench_thread_switches  (const char  *pid);
gint64       bench_switches_since   (GHashTable  *before,
                                     const char  *pid);
void         bench_remove_tree      (const char  *path);

G_END_DECLS
