/* bench-throughput.c — messages per second through Confab, beside raw UDP on the same machine
 *
 * Two processes on the loopback: a Confab conversation (reliable protocol,
 * history on) sends 200,000 messages of 100 bytes to another as fast as the
 * window allows; the figure is messages delivered and acknowledged per
 * second, with none lost. The baseline, in the same run: a plain C process
 * pair doing sendto()/recv() of the same datagrams as fast as it can.
 * With a passphrase, the same again encrypted; and, to show what bounds the
 * figure, once more with no history. All four are measured in each of
 * ROUNDS rounds, one after the other: the figures are the rounds' medians,
 * the ratios the medians of the rounds' ratios, beside the lowest and
 * highest of them. Losses are counted over all rounds.
 *
 *   bench-throughput [COUNT]
 *
 * Prints `name value unit` lines. The processes are this program again, in
 * the modes below.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bench-util.h"
#include "confab-conversation.h"

#define DEFAULT_COUNT 200000
#define ROUNDS 3
#define SIZE 100
#define CHUNK 256
#define PASSPHRASE "the benchmark's shared passphrase"

typedef struct
{
  ConfabConversation *conversation;
  GMainLoop          *loop;
  guint               count;
  guint               queued;
  guint               done;
  gint64              started;
  char                text[SIZE + 1];
} Run;

/* @mode: "0" plain, "1" with a passphrase, "n" with no history */
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
  if (mode[0] == '1')
    confab_conversation_set_passphrase (conversation, PASSPHRASE);

  return conversation;
}

static void
wait_for_key (ConfabConversation *conversation,
              gboolean            encrypted)
{
  while (encrypted && !confab_conversation_get_encrypted (conversation))
    g_main_context_iteration (NULL, TRUE);
}

static gboolean
quit_cb (gpointer user_data)
{
  g_main_loop_quit (user_data);
  return G_SOURCE_REMOVE;
}

/* Receiver: counts incoming messages as the channel hands them out (with
 * no view following, the conversation's list stops short of a flood, which
 * stays in the history); leaves a moment after the last, so that its
 * acknowledgements go out.
 */
static void
on_message (Run            *run,
            ConfabIncoming *incoming,
            ConfabChannel  *channel)
{
  if (++run->done == run->count)
    g_timeout_add_seconds (1, quit_cb, run->loop);
}

static int
confab_receive (int    argc,
                char **argv)
{
  Run run = { 0 };

  run.count = atoi (argv[4]);
  run.loop = g_main_loop_new (NULL, FALSE);
  run.conversation = conversation_new (argv[5], "receiver.db", atoi (argv[2]), atoi (argv[3]),
                                       argv[6]);
  wait_for_key (run.conversation, argv[6][0] == '1');
  g_signal_connect_swapped (confab_conversation_get_channel (run.conversation), "message",
                            G_CALLBACK (on_message), &run);
  printf ("ready\n");
  fflush (stdout);
  g_main_loop_run (run.loop);
  g_clear_object (&run.conversation);
  g_main_loop_unref (run.loop);
  return 0;
}

/* Sender: keeps the protocol's window full, a chunk per main-loop turn, so
 * that acknowledgements are read meanwhile.
 */
static gboolean
send_chunk (gpointer user_data)
{
  Run *run = user_data;

  for (guint i = 0; i < CHUNK && run->queued < run->count; i++, run->queued++)
    confab_conversation_send (run->conversation, run->text);

  return run->queued < run->count ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static void
on_delivered (Run           *run,
              guint64        origin,
              guint64        number,
              ConfabChannel *channel)
{
  if (++run->done == run->count)
    g_main_loop_quit (run->loop);
}

static void
on_failed (Run           *run,
           guint64        origin,
           guint64        number,
           const char    *reason,
           ConfabChannel *channel)
{
  g_error ("a message failed: %s", reason);
}

static int
confab_send (int    argc,
             char **argv)
{
  Run run = { 0 };
  gint64 elapsed;

  run.count = atoi (argv[4]);
  run.loop = g_main_loop_new (NULL, FALSE);
  memset (run.text, 'x', SIZE);
  run.conversation = conversation_new (argv[5], "sender.db", atoi (argv[2]), atoi (argv[3]),
                                       argv[6]);
  wait_for_key (run.conversation, argv[6][0] == '1');
  /* As the window of someone writing does: the list keeps what fills it and
   * the history the rest, rather than all 200,000 in memory.
   */
  confab_conversation_set_follow_newest (run.conversation, TRUE);
  g_signal_connect_swapped (confab_conversation_get_channel (run.conversation), "delivered",
                            G_CALLBACK (on_delivered), &run);
  g_signal_connect_swapped (confab_conversation_get_channel (run.conversation), "failed",
                            G_CALLBACK (on_failed), &run);

  run.started = g_get_monotonic_time ();
  g_idle_add (send_chunk, &run);
  g_main_loop_run (run.loop);
  elapsed = g_get_monotonic_time () - run.started;

  printf ("%u %" G_GINT64_FORMAT "\n", run.done, elapsed);
  g_clear_object (&run.conversation);
  g_main_loop_unref (run.loop);
  return 0;
}

/* Baseline: as fast as the machine moves these datagrams, nothing more */
static int
udp_receive (int    argc,
             char **argv)
{
  g_autoptr(GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
                                            G_SOCKET_PROTOCOL_UDP, NULL);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new_from_string ("127.0.0.1",
                                                                             atoi (argv[2]));
  guint count = atoi (argv[3]);
  guint received = 0;
  gint64 first = 0, last = 0;
  char buffer[2048];

  if (!g_socket_bind (socket, address, FALSE, NULL))
    g_error ("cannot bind");
  g_socket_set_option (socket, SOL_SOCKET, SO_RCVBUF, 4 * 1024 * 1024, NULL);
  g_socket_set_timeout (socket, 2);
  printf ("ready\n");
  fflush (stdout);

  while (received < count && g_socket_receive (socket, buffer, sizeof buffer, NULL, NULL) > 0)
    {
      last = g_get_monotonic_time ();
      if (received++ == 0)
        first = last;
    }

  printf ("%u %" G_GINT64_FORMAT "\n", received, last - first);
  return 0;
}

static int
udp_send (int    argc,
          char **argv)
{
  g_autoptr(GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
                                            G_SOCKET_PROTOCOL_UDP, NULL);
  g_autoptr(GSocketAddress) to = g_inet_socket_address_new_from_string ("127.0.0.1",
                                                                        atoi (argv[2]));
  guint count = atoi (argv[3]);
  char text[SIZE];

  memset (text, 'x', SIZE);
  for (guint i = 0; i < count; i++)
    g_socket_send_to (socket, to, text, SIZE, NULL, NULL);

  printf ("sent\n");
  return 0;
}

/* Returns: messages per second, from the line "COUNT USEC"; 0 if none */
static double
rate_of (const char *line,
         guint      *count)
{
  guint64 usec = 0;

  *count = 0;
  if (line == NULL || sscanf (line, "%u %" G_GUINT64_FORMAT, count, &usec) != 2 || usec == 0)
    return 0;

  return *count * (double)G_USEC_PER_SEC / usec;
}

static double
run_confab (const char *self,
            const char *count,
            const char *key,
            guint      *delivered)
{
  g_autofree char *dir = g_dir_make_tmp ("confab-bench-XXXXXX", NULL);
  g_autofree char *a = g_strdup_printf ("%u", bench_free_port ());
  g_autofree char *b = g_strdup_printf ("%u", bench_free_port ());
  g_autoptr(GSubprocess) receiver = bench_spawn (self, "confab-receive", b, a, count, dir, key,
                                                 NULL);
  g_autofree char *ready = bench_read_line (receiver);
  g_autoptr(GSubprocess) sender = bench_spawn (self, "confab-send", a, b, count, dir, key, NULL);
  g_autofree char *result = bench_read_line (sender);
  double rate = rate_of (result, delivered);

  g_subprocess_wait (sender, NULL, NULL);
  g_subprocess_wait (receiver, NULL, NULL);
  return rate;
}

static double
run_baseline (const char *self,
              const char *count,
              guint      *received)
{
  g_autofree char *port = g_strdup_printf ("%u", bench_free_port ());
  g_autoptr(GSubprocess) receiver = bench_spawn (self, "udp-receive", port, count, NULL);
  g_autofree char *ready = bench_read_line (receiver);
  g_autoptr(GSubprocess) sender = bench_spawn (self, "udp-send", port, count, NULL);
  g_autofree char *result = NULL;

  g_subprocess_wait (sender, NULL, NULL);
  result = bench_read_line (receiver);
  g_subprocess_wait (receiver, NULL, NULL);
  return rate_of (result, received);
}

int
main (int   argc,
      char *argv[])
{
  g_autofree char *count = NULL;
  double baseline[ROUNDS], confab[ROUNDS], encrypted[ROUNDS], bare[ROUNDS];
  double ratio[ROUNDS], encrypted_ratio[ROUNDS];
  guint64 lost = 0, lost_encrypted = 0, lost_bare = 0;
  guint received = G_MAXUINT;
  guint n;

  if (argc >= 7 && g_str_equal (argv[1], "confab-receive"))
    return confab_receive (argc, argv);
  if (argc >= 7 && g_str_equal (argv[1], "confab-send"))
    return confab_send (argc, argv);
  if (argc >= 4 && g_str_equal (argv[1], "udp-receive"))
    return udp_receive (argc, argv);
  if (argc >= 4 && g_str_equal (argv[1], "udp-send"))
    return udp_send (argc, argv);

  n = argc > 1 ? (guint)atoi (argv[1]) : DEFAULT_COUNT;
  count = g_strdup_printf ("%u", n);

  /* Each round runs all four one after the other, so that a drift of the
   * machine's speed meets the baseline as much as Confab.
   */
  for (guint round = 0; round < ROUNDS; round++)
    {
      guint got;

      baseline[round] = run_baseline (argv[0], count, &got);
      received = MIN (received, got);
      confab[round] = run_confab (argv[0], count, "0", &got);
      lost += n - got;
      encrypted[round] = run_confab (argv[0], count, "1", &got);
      lost_encrypted += n - got;
      bare[round] = run_confab (argv[0], count, "n", &got);
      lost_bare += n - got;
      ratio[round] = baseline[round] > 0 ? confab[round] / baseline[round] : 0;
      encrypted_ratio[round] = baseline[round] > 0 ? encrypted[round] / baseline[round] : 0;
    }

  bench_figure ("throughput_baseline", bench_median (baseline, ROUNDS), "msg/s");
  /* Of the round that received fewest */
  bench_figure ("throughput_baseline_received", received, "msg");
  bench_figure ("throughput_confab", bench_median (confab, ROUNDS), "msg/s");
  bench_figure ("throughput_confab_lost", lost, "msg");
  bench_figure ("throughput_encrypted", bench_median (encrypted, ROUNDS), "msg/s");
  bench_figure ("throughput_encrypted_lost", lost_encrypted, "msg");
  bench_figure ("throughput_no_history", bench_median (bare, ROUNDS), "msg/s");
  bench_figure ("throughput_no_history_lost", lost_bare, "msg");
  bench_round_figures ("throughput_ratio", ratio, ROUNDS, "x");
  bench_round_figures ("throughput_encrypted_ratio", encrypted_ratio, ROUNDS, "x");

  return 0;
}
