/* bench-util.c — what the benchmarks share: spawning their own processes, reading figures
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench-util.h"

/* A port that was free a moment ago on the IPv4 loopback */
guint16
bench_free_port (void)
{
  g_autoptr(GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
                                            G_SOCKET_PROTOCOL_UDP, NULL);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new_from_string ("127.0.0.1", 0);
  g_autoptr(GSocketAddress) bound = NULL;

  if (socket == NULL || !g_socket_bind (socket, any, FALSE, NULL))
    g_error ("no UDP socket on the loopback");
  bound = g_socket_get_local_address (socket, NULL);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

/* Runs this same program in @mode with the arguments given, its output piped. */
GSubprocess *
bench_spawn (const char *self,
             const char *mode,
             ...)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  GSubprocess *process;
  const char *arg;
  va_list args;

  g_ptr_array_add (argv, (gpointer)self);
  g_ptr_array_add (argv, (gpointer)mode);
  va_start (args, mode);
  while ((arg = va_arg (args, const char *)) != NULL)
    g_ptr_array_add (argv, (gpointer)arg);
  va_end (args);
  g_ptr_array_add (argv, NULL);

  process = g_subprocess_newv ((const char * const *)argv->pdata, G_SUBPROCESS_FLAGS_STDOUT_PIPE,
                               &error);
  if (process == NULL)
    g_error ("cannot start %s %s: %s", self, mode, error->message);

  return process;
}

/* Returns (transfer full): the process's next line of output, or NULL at its end */
char *
bench_read_line (GSubprocess *process)
{
  g_autoptr(GDataInputStream) in =
    g_data_input_stream_new (g_subprocess_get_stdout_pipe (process));

  g_filter_input_stream_set_close_base_stream (G_FILTER_INPUT_STREAM (in), FALSE);
  return g_data_input_stream_read_line_utf8 (in, NULL, NULL, NULL);
}

static int
compare_int64 (gconstpointer a,
               gconstpointer b)
{
  gint64 x = *(const gint64 *)a, y = *(const gint64 *)b;

  return x < y ? -1 : x > y;
}

/* @values: gint64 values; sorted in place
 *
 * Returns: the value @fraction of the way up, 0 for none
 */
double
bench_percentile (GArray *values,
                  double  fraction)
{
  guint index;

  if (values->len == 0)
    return 0;

  g_array_sort (values, compare_int64);
  index = MIN (values->len - 1, (guint)(fraction * values->len));
  return g_array_index (values, gint64, index);
}

static int
compare_double (gconstpointer a,
                gconstpointer b)
{
  double x = *(const double *)a, y = *(const double *)b;

  return (x > y) - (x < y);
}

static double *
sorted_copy (const double *values,
             guint         n)
{
  double *sorted = g_memdup2 (values, n * sizeof *values);

  qsort (sorted, n, sizeof *sorted, compare_double);
  return sorted;
}

/* Of figures of several rounds of a benchmark, the middle one (the upper
 * of two)
 */
double
bench_median (const double *values,
              guint         n)
{
  g_autofree double *sorted = NULL;

  g_return_val_if_fail (n > 0, 0);

  sorted = sorted_copy (values, n);
  return sorted[n / 2];
}

/* Prints a figure of several rounds: its median as @name, and its lowest
 * and highest as @name_lowest and @name_highest.
 */
void
bench_round_figures (const char   *name,
                     const double *values,
                     guint         n,
                     const char   *unit)
{
  g_autofree double *sorted = NULL;
  g_autofree char *lowest = g_strconcat (name, "_lowest", NULL);
  g_autofree char *highest = g_strconcat (name, "_highest", NULL);

  g_return_if_fail (n > 0);

  sorted = sorted_copy (values, n);
  bench_figure (lowest, sorted[0], unit);
  bench_figure (highest, sorted[n - 1], unit);
  bench_figure (name, sorted[n / 2], unit);
}

/* The benchmarks that start the real program need a display.
 * Returns: %FALSE, having said so, if there is none
 */
gboolean
bench_has_display (const char *name)
{
  if (g_getenv ("DISPLAY") != NULL || g_getenv ("WAYLAND_DISPLAY") != NULL)
    return TRUE;

  g_printerr ("%s needs a display; build-aux/dev bench runs it under Xvfb\n", name);
  return FALSE;
}

/* One line of the benchmark's output: `name value unit` */
void
bench_figure (const char *name,
              double      value,
              const char *unit)
{
  printf ("%s %.3f %s\n", name, value, unit);
  fflush (stdout);
}

/* The real program, as a person starts it, in scratch folders of its own,
 * with memory settings, and telling when its first frame is painted.
 */
BenchApp *
bench_app_start (const char         *program,
                 const char         *data_home,
                 const char * const *args)
{
  g_autoptr(GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  BenchApp *app = g_new0 (BenchApp, 1);

  app->config_home = g_dir_make_tmp ("confab-bench-config-XXXXXX", NULL);
  g_subprocess_launcher_setenv (launcher, "XDG_DATA_HOME", data_home, TRUE);
  g_subprocess_launcher_setenv (launcher, "XDG_CONFIG_HOME", app->config_home, TRUE);
  g_subprocess_launcher_setenv (launcher, "GSETTINGS_BACKEND", "memory", TRUE);
  g_subprocess_launcher_setenv (launcher, "GSETTINGS_SCHEMA_DIR", BENCH_SCHEMA_DIR, TRUE);
  g_subprocess_launcher_setenv (launcher, "CONFAB_REPORT_FIRST_FRAME", "1", TRUE);
  /* As the tests run it: Xvfb has no GL, and no screen reader listens. */
  g_subprocess_launcher_setenv (launcher, "GSK_RENDERER", "cairo", TRUE);
  g_subprocess_launcher_setenv (launcher, "NO_AT_BRIDGE", "1", TRUE);

  g_ptr_array_add (argv, (gpointer)program);
  for (guint i = 0; args != NULL && args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer)args[i]);
  g_ptr_array_add (argv, NULL);

  app->started = g_get_monotonic_time ();
  app->process = g_subprocess_launcher_spawnv (launcher, (const char * const *)argv->pdata,
                                               &error);
  if (app->process == NULL)
    g_error ("cannot start %s: %s", program, error->message);
  app->out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (app->process));
  g_strlcpy (app->pid, g_subprocess_get_identifier (app->process), sizeof app->pid);

  return app;
}

/* Waits for the program's "first-frame USEC ITEMS NEWEST" line.
 * Returns: %FALSE if it ended without one
 */
gboolean
bench_app_first_frame (BenchApp  *app,
                       gint64    *usec,
                       guint     *items,
                       char     **newest)
{
  for (;;)
    {
      g_autofree char *line = g_data_input_stream_read_line_utf8 (app->out, NULL, NULL, NULL);
      g_auto(GStrv) fields = NULL;

      if (line == NULL)
        return FALSE;
      if (!g_str_has_prefix (line, "first-frame "))
        continue;

      fields = g_strsplit (line, " ", 4);
      if (g_strv_length (fields) < 3)
        return FALSE;
      *usec = g_ascii_strtoll (fields[1], NULL, 10) - app->started;
      *items = (guint)g_ascii_strtoull (fields[2], NULL, 10);
      if (newest != NULL)
        *newest = g_strdup (fields[3] != NULL ? fields[3] : "");
      return TRUE;
    }
}

void
bench_app_stop (BenchApp *app)
{
  g_subprocess_send_signal (app->process, SIGTERM);
  g_subprocess_wait (app->process, NULL, NULL);
  g_clear_object (&app->out);
  g_clear_object (&app->process);
  bench_remove_tree (app->config_home);
  g_free (app->config_home);
  g_free (app);
}

static gint64
status_field (const char *path,
              const char *name)
{
  g_autofree char *contents = NULL;
  const char *line;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return 0;
  line = strstr (contents, name);
  return line != NULL ? g_ascii_strtoll (line + strlen (name), NULL, 10) : 0;
}

/* Returns: the process's resident memory, in KiB */
gint64
bench_rss_kib (const char *pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%s/status", pid);

  return status_field (path, "\nVmRSS:");
}

/* Returns: (transfer full): context switches so far of each of the
 * process's threads, by thread id: each is a wake-up, or the scheduler
 * taking the processor away
 */
GHashTable *
bench_thread_switches (const char *pid)
{
  g_autofree char *tasks = g_strdup_printf ("/proc/%s/task", pid);
  g_autoptr(GDir) dir = g_dir_open (tasks, 0, NULL);
  GHashTable *switches = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  const char *tid;

  while (dir != NULL && (tid = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (tasks, tid, "status", NULL);
      gint64 count = status_field (path, "\nvoluntary_ctxt_switches:") +
                     status_field (path, "\nnonvoluntary_ctxt_switches:");

      g_hash_table_insert (switches, g_strdup (tid), GSIZE_TO_POINTER ((gsize)count));
    }

  return switches;
}

/* Returns: context switches since @before, over the threads there now (a
 * thread that ended meanwhile is not counted)
 */
gint64
bench_switches_since (GHashTable *before,
                      const char *pid)
{
  g_autoptr(GHashTable) now = bench_thread_switches (pid);
  GHashTableIter iter;
  gpointer tid, count;
  gint64 total = 0;

  g_hash_table_iter_init (&iter, now);
  while (g_hash_table_iter_next (&iter, &tid, &count))
    total += (gint64)GPOINTER_TO_SIZE (count) -
             (gint64)GPOINTER_TO_SIZE (g_hash_table_lookup (before, tid));

  return total;
}

/* Removes a scratch folder and what is in it */
void
bench_remove_tree (const char *path)
{
  g_autoptr(GFile) file = g_file_new_for_path (path);
  g_autoptr(GFileEnumerator) children = NULL;
  GFileInfo *info;

  children = g_file_enumerate_children (file, G_FILE_ATTRIBUTE_STANDARD_NAME,
                                        G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS, NULL, NULL);
  while (children != NULL &&
         g_file_enumerator_iterate (children, &info, NULL, NULL, NULL) && info != NULL)
    {
      g_autofree char *child = g_build_filename (path, g_file_info_get_name (info), NULL);

      if (g_file_info_get_file_type (info) == G_FILE_TYPE_DIRECTORY)
        bench_remove_tree (child);
      else
        g_remove (child);
    }
  g_rmdir (path);
}
