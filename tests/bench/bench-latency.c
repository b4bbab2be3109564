/* bench-latency.c — send-to-acknowledgement time at a fixed rate, beside a raw UDP ping-pong
 *
 * Two processes on the loopback. A Confab conversation (history on) sends
 * 1,000 messages a second for 10 s to another, on a fixed schedule, so that
 * queueing is not hidden; each message's time from send to acknowledgement
 * is recorded. The baseline, in the same run: a plain C UDP ping-pong
 * between two processes on the same schedule. Percentiles 50, 99 and 99.9;
 * and, to show what bounds the figure, Confab's again with no history.
 * All three are measured in each of ROUNDS rounds, one after the other:
 * the figures are the rounds' medians, the ratio the median of the rounds'
 * ratios, beside the lowest and highest of them. Lost and unacknowledged
 * messages are counted over all rounds.
 *
 *   bench-latency [SECONDS]
 *
 * Prints `name value unit` lines.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench-util.h"
#include "confab-conversation.h"

#define RATE 1000          /* messages a second */
#define SIZE 100
#define DRAIN_SECONDS 3    /* for the last answers after the schedule ends */
#define ROUNDS 3

typedef struct
{
  GMainLoop  *loop;
  gint64      started;
  guint       total;
  guint       sent;
  GHashTable *sent_at;     /* message or datagram number -> µs */
  GArray     *latencies;   /* gint64 µs */
  /* Confab */
  ConfabConversation *conversation;
  /* Baseline */
  GSocket        *socket;
  GSocketAddress *peer;
} Run;

static gboolean
quit_cb (gpointer user_data)
{
  g_main_loop_quit (user_data);
  return G_SOURCE_REMOVE;
}

/* The schedule: whatever is due by now goes out now. */
typedef void (*SendFunc) (Run *run, guint number);

static gboolean
tick (Run      *run,
      SendFunc  send)
{
  gint64 elapsed = g_get_monotonic_time () - run->started;
  guint due = MIN (run->total, (guint)(elapsed * RATE / G_USEC_PER_SEC) + 1);

  while (run->sent < due)
    send (run, ++run->sent);

  if (run->sent < run->total)
    return G_SOURCE_CONTINUE;

  g_timeout_add_seconds (DRAIN_SECONDS, quit_cb, run->loop);
  return G_SOURCE_REMOVE;
}

static void
record (Run     *run,
        guint64  number)
{
  gpointer at = g_hash_table_lookup (run->sent_at, GSIZE_TO_POINTER (number));
  gint64 latency;

  if (at == NULL)
    return;

  latency = g_get_monotonic_time () - *(gint64 *)at;
  g_array_append_val (run->latencies, latency);
  g_hash_table_remove (run->sent_at, GSIZE_TO_POINTER (number));
}

/* @at: when the send began, before the program had the message */
static void
remember_send (Run    *run,
               guint   number,
               gint64  at)
{
  gint64 *copy = g_new (gint64, 1);

  *copy = at;
  g_hash_table_insert (run->sent_at, GSIZE_TO_POINTER ((gsize)number), copy);
}

/* Prints "COUNT P50 P99 P999" (µs) for the parent */
static void
report (Run *run)
{
  printf ("%u %.0f %.0f %.0f\n", run->latencies->len,
          bench_percentile (run->latencies, 0.50), bench_percentile (run->latencies, 0.99),
          bench_percentile (run->latencies, 0.999));
  fflush (stdout);
}

static void
run_init (Run   *run,
          guint  seconds)
{
  run->loop = g_main_loop_new (NULL, FALSE);
  run->total = seconds * RATE;
  run->sent_at = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  run->latencies = g_array_new (FALSE, FALSE, sizeof (gint64));
}

static void
run_clear (Run *run)
{
  g_clear_pointer (&run->sent_at, g_hash_table_unref);
  g_clear_pointer (&run->latencies, g_array_unref);
  g_clear_pointer (&run->loop, g_main_loop_unref);
  g_clear_object (&run->conversation);
  g_clear_object (&run->socket);
  g_clear_object (&run->peer);
}

/* Confab */

/* @mode: "h" with history, "n" without */
static ConfabConversation *
conversation_new (const char *dir,
                  const char *name,
                  guint16     port,
                  guint16     peer_port,
                  const char *mode)
{
  ConfabConversation *conversation = confab_conversation_new ();
  g_autofree char *db = g_build_filename (dir, name, NULL);

  if (!confab_conversation_set_local_port (conversation, port))
    g_error ("cannot bind port %u", port);
  confab_conversation_set_peer (conversation, "127.0.0.1", peer_port);
  if (mode[0] != 'n')
    confab_conversation_set_history_path (conversation, db);
  return conversation;
}

static int
confab_receive (char **argv)
{
  Run run = { 0 };

  run_init (&run, 0);
  run.conversation = conversation_new (argv[4], "receiver.db", atoi (argv[2]), atoi (argv[3]),
                                       argv[6]);
  printf ("ready\n");
  fflush (stdout);
  g_timeout_add_seconds (atoi (argv[5]) + DRAIN_SECONDS + 2, quit_cb, run.loop);
  g_main_loop_run (run.loop);
  run_clear (&run);
  return 0;
}

static void
confab_send_one (Run   *run,
                 guint  number)
{
  char text[SIZE + 1];
  ConfabMessage *message;
  gint64 at;

  memset (text, 'x', SIZE);
  text[SIZE] = '\0';
  /* From before the call, as the baseline's from before its send: storing
   * and sending the message are part of the round trip.
   */
  at = g_get_monotonic_time ();
  message = confab_conversation_send (run->conversation, text);
  remember_send (run, (guint)confab_message_get_number (message), at);
}

static gboolean
confab_tick (gpointer user_data)
{
  return tick (user_data, confab_send_one);
}

static void
on_delivered (Run           *run,
              guint64        origin,
              guint64        number,
              ConfabChannel *channel)
{
  record (run, number);
}

static int
confab_send (char **argv)
{
  Run run = { 0 };

  run_init (&run, atoi (argv[5]));
  run.conversation = conversation_new (argv[4], "sender.db", atoi (argv[2]), atoi (argv[3]),
                                       argv[6]);
  g_signal_connect_swapped (confab_conversation_get_channel (run.conversation), "delivered",
                            G_CALLBACK (on_delivered), &run);
  run.started = g_get_monotonic_time ();
  g_timeout_add (1, confab_tick, &run);
  g_main_loop_run (run.loop);
  report (&run);
  run_clear (&run);
  return 0;
}

/* Baseline: the same schedule, a datagram echoed by the other process */

static GSocket *
bound_socket (guint16 port)
{
  GSocket *socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
                                  G_SOCKET_PROTOCOL_UDP, NULL);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new_from_string ("127.0.0.1", port);

  if (!g_socket_bind (socket, address, FALSE, NULL))
    g_error ("cannot bind port %u", port);
  g_socket_set_blocking (socket, FALSE);
  return socket;
}

static gboolean
on_echo_readable (GSocket      *socket,
                  GIOCondition  condition,
                  gpointer      user_data)
{
  char buffer[2048];
  gssize n;

  for (;;)
    {
      g_autoptr(GSocketAddress) from = NULL;

      n = g_socket_receive_from (socket, &from, buffer, sizeof buffer, NULL, NULL);
      if (n <= 0)
        break;
      g_socket_send_to (socket, from, buffer, n, NULL, NULL);
    }

  return G_SOURCE_CONTINUE;
}

static int
udp_echo (char **argv)
{
  Run run = { 0 };
  g_autoptr(GSource) source = NULL;

  run_init (&run, 0);
  run.socket = bound_socket (atoi (argv[2]));
  source = g_socket_create_source (run.socket, G_IO_IN, NULL);
  g_source_set_callback (source, G_SOURCE_FUNC (on_echo_readable), NULL, NULL);
  g_source_attach (source, NULL);
  printf ("ready\n");
  fflush (stdout);
  g_timeout_add_seconds (atoi (argv[3]) + DRAIN_SECONDS + 2, quit_cb, run.loop);
  g_main_loop_run (run.loop);
  g_source_destroy (source);
  run_clear (&run);
  return 0;
}

static void
udp_send_one (Run   *run,
              guint  number)
{
  char buffer[SIZE];

  memset (buffer, 'x', SIZE);
  memcpy (buffer, &number, sizeof number);
  remember_send (run, number, g_get_monotonic_time ());
  g_socket_send_to (run->socket, run->peer, buffer, SIZE, NULL, NULL);
}

static gboolean
udp_tick (gpointer user_data)
{
  return tick (user_data, udp_send_one);
}

static gboolean
on_pong (GSocket      *socket,
         GIOCondition  condition,
         gpointer      user_data)
{
  Run *run = user_data;
  char buffer[2048];
  gssize n;

  while ((n = g_socket_receive (socket, buffer, sizeof buffer, NULL, NULL)) >= (gssize)sizeof (guint))
    {
      guint number;

      memcpy (&number, buffer, sizeof number);
      record (run, number);
    }

  return G_SOURCE_CONTINUE;
}

static int
udp_ping (char **argv)
{
  Run run = { 0 };
  g_autoptr(GSource) source = NULL;

  run_init (&run, atoi (argv[3]));
  run.socket = bound_socket (0);
  run.peer = g_inet_socket_address_new_from_string ("127.0.0.1", atoi (argv[2]));
  source = g_socket_create_source (run.socket, G_IO_IN, NULL);
  g_source_set_callback (source, G_SOURCE_FUNC (on_pong), &run, NULL);
  g_source_attach (source, NULL);
  run.started = g_get_monotonic_time ();
  g_timeout_add (1, udp_tick, &run);
  g_main_loop_run (run.loop);
  g_source_destroy (source);
  report (&run);
  run_clear (&run);
  return 0;
}

/* The parent */

typedef struct
{
  guint  count;
  double p50, p99, p999;
} Figures;

static Figures
parse (const char *line)
{
  Figures f = { 0 };

  if (line == NULL || sscanf (line, "%u %lf %lf %lf", &f.count, &f.p50, &f.p99, &f.p999) != 4)
    g_error ("a benchmark process gave no figures");
  return f;
}

static Figures
measure_confab (const char *self,
                const char *seconds,
                const char *mode)
{
  g_autofree char *dir = g_dir_make_tmp ("confab-bench-XXXXXX", NULL);
  g_autofree char *a = g_strdup_printf ("%u", bench_free_port ());
  g_autofree char *b = g_strdup_printf ("%u", bench_free_port ());
  g_autoptr(GSubprocess) receiver = bench_spawn (self, "confab-receive", b, a, dir, seconds, mode,
                                                 NULL);
  g_autofree char *ready = bench_read_line (receiver);
  g_autoptr(GSubprocess) sender = bench_spawn (self, "confab-send", a, b, dir, seconds, mode,
                                               NULL);
  g_autofree char *line = bench_read_line (sender);

  g_subprocess_wait (sender, NULL, NULL);
  g_subprocess_force_exit (receiver);
  g_subprocess_wait (receiver, NULL, NULL);
  return parse (line);
}

static Figures
measure_baseline (const char *self,
                  const char *seconds)
{
  g_autofree char *port = g_strdup_printf ("%u", bench_free_port ());
  g_autoptr(GSubprocess) echo = bench_spawn (self, "udp-echo", port, seconds, NULL);
  g_autofree char *ready = bench_read_line (echo);
  g_autoptr(GSubprocess) ping = bench_spawn (self, "udp-ping", port, seconds, NULL);
  g_autofree char *line = bench_read_line (ping);

  g_subprocess_wait (ping, NULL, NULL);
  g_subprocess_force_exit (echo);
  g_subprocess_wait (echo, NULL, NULL);
  return parse (line);
}

/* Prints the medians of the rounds' percentiles, as latency_@name_p50_us
 * and so on.
 */
static void
median_figures (const char    *name,
                const Figures *rounds)
{
  static const struct { const char *name; glong offset; } percentiles[] = {
    { "p50", G_STRUCT_OFFSET (Figures, p50) },
    { "p99", G_STRUCT_OFFSET (Figures, p99) },
    { "p999", G_STRUCT_OFFSET (Figures, p999) },
  };

  for (guint k = 0; k < G_N_ELEMENTS (percentiles); k++)
    {
      g_autofree char *figure = g_strdup_printf ("latency_%s_%s_us", name, percentiles[k].name);
      double values[ROUNDS];

      for (guint round = 0; round < ROUNDS; round++)
        values[round] = G_STRUCT_MEMBER (double, (gpointer)&rounds[round], percentiles[k].offset);
      bench_figure (figure, bench_median (values, ROUNDS), "us");
    }
}

int
main (int   argc,
      char *argv[])
{
  g_autofree char *seconds = NULL;
  Figures baseline[ROUNDS], confab[ROUNDS], bare[ROUNDS];
  double ratio[ROUNDS];
  guint lost = 0, unacknowledged = 0, bare_unacknowledged = 0;
  guint total;

  if (argc >= 7 && g_str_equal (argv[1], "confab-receive"))
    return confab_receive (argv);
  if (argc >= 7 && g_str_equal (argv[1], "confab-send"))
    return confab_send (argv);
  if (argc >= 4 && g_str_equal (argv[1], "udp-echo"))
    return udp_echo (argv);
  if (argc >= 4 && g_str_equal (argv[1], "udp-ping"))
    return udp_ping (argv);

  seconds = g_strdup (argc > 1 ? argv[1] : "10");
  total = atoi (seconds) * RATE;

  /* Each round measures all three one after the other, so that a drift of
   * the machine's speed meets the baseline as much as Confab.
   */
  for (guint round = 0; round < ROUNDS; round++)
    {
      baseline[round] = measure_baseline (argv[0], seconds);
      confab[round] = measure_confab (argv[0], seconds, "h");
      bare[round] = measure_confab (argv[0], seconds, "n");
      ratio[round] = baseline[round].p99 > 0 ? confab[round].p99 / baseline[round].p99 : 0;
      lost += total - baseline[round].count;
      unacknowledged += total - confab[round].count;
      bare_unacknowledged += total - bare[round].count;
    }

  median_figures ("baseline", baseline);
  bench_figure ("latency_baseline_lost", lost, "msg");
  median_figures ("confab", confab);
  bench_figure ("latency_confab_unacknowledged", unacknowledged, "msg");
  median_figures ("no_history", bare);
  bench_figure ("latency_no_history_unacknowledged", bare_unacknowledged, "msg");
  bench_round_figures ("latency_p99_ratio", ratio, ROUNDS, "x");

  return 0;
}
