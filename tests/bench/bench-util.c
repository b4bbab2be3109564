/* bench-util.c — what the benchmarks share: spawning their own processes, reading figures
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <stdio.h>

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

/* @sorted_usec: gint64 values, sorted */
double
bench_percentile (GArray *sorted_usec,
                  double  fraction)
{
  guint index;

  if (sorted_usec->len == 0)
    return 0;

  index = MIN (sorted_usec->len - 1, (guint)(fraction * sorted_usec->len));
  return g_array_index (sorted_usec, gint64, index);
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
