/* bench-flood.c — the real program under a flood of messages and garbage
 *
 * Under a display (build-aux/dev bench provides Xvfb): Confab runs with its
 * window open and history on, its peer set to a flooder, another process
 * that for 10 s sends as fast as it can, in turn, a valid MESSAGE and a
 * datagram of garbage (random bytes behind Confab's magic, text that is not
 * UTF-8, datagrams longer than the protocol allows). It never resends: a
 * message unacknowledged 256 sends later is marked abandoned, as a sender
 * giving up would, so that a lost one holds nothing back. It records every
 * message an ACK says was delivered.
 *
 * Figures: how late the program's 10 ms probe timeout fired during the
 * flood (p50, p99, worst), its resident memory at the end against before,
 * and how many acknowledged messages its history file lacks once it has
 * been killed (an ack must mean the message is on disk).
 *
 *   bench-flood [SECONDS]
 *
 * Prints `name value unit` lines.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bench-util.h"
#include "confab-history.h"
#include "confab-wire.h"

#define DEFAULT_SECONDS 10
#define DRAIN_SECONDS 2
#define TEXT_SIZE 100
#define WINDOW 256

/* The flooder */

typedef struct
{
  GSocket        *socket;
  GSocketAddress *to;
  guint64         session;
  GArray         *acked;   /* of gboolean, by seq */
  guint64         sent;
  guint64         garbage;
  guint64         low;     /* the highest `low` sent: below it, ACKs tell nothing */
} Flood;

static void
mark_acked (Flood  *flood,
            guint64 seq)
{
  if (seq < flood->acked->len)
    g_array_index (flood->acked, gboolean, seq) = TRUE;
}

static void
read_acks (Flood *flood)
{
  guint8 buffer[CONFAB_WIRE_MAX_DATAGRAM + 1];
  ConfabWireDatagram datagram;
  gssize length;

  while ((length = g_socket_receive_with_blocking (flood->socket, (char *)buffer, sizeof buffer,
                                                   FALSE, NULL, NULL)) > 0)
    {
      if (confab_wire_decode (buffer, length, &datagram) != CONFAB_WIRE_OK ||
          datagram.type != CONFAB_WIRE_TYPE_ACK || datagram.ack.session != flood->session)
        continue;

      /* Below `next` is what arrived or was abandoned: only from the last
       * `low` on is it known to have arrived.
       */
      /* The bitmap names what waits behind a hole, not yet stored. */
      for (guint64 seq = flood->low; seq < datagram.ack.next && seq <= flood->sent; seq++)
        mark_acked (flood, seq);
    }
}

static void
send_message (Flood *flood)
{
  guint8 buffer[CONFAB_WIRE_MAX_DATAGRAM];
  char text[TEXT_SIZE + 1];
  guint64 seq = ++flood->sent;
  ConfabWireMessage message = { 0 };
  gsize length;

  g_snprintf (text, sizeof text, "flood message %" G_GUINT64_FORMAT " %0*d", seq, 80, 0);
  message.session = flood->session;
  message.seq = seq;
  flood->low = MAX (flood->low, seq > WINDOW ? seq - WINDOW : 1);
  message.low = flood->low;
  message.origin = flood->session;
  message.number = seq;
  message.time = g_get_real_time ();
  message.total = strlen (text);
  message.nfrags = 1;
  message.nick = "flood";
  message.nick_len = 5;
  message.payload = (const guint8 *)text;
  message.payload_len = strlen (text);

  if (flood->acked->len <= seq)
    g_array_set_size (flood->acked, MAX (1024, flood->acked->len * 2));
  length = confab_wire_encode_message (&message, buffer, sizeof buffer);
  g_socket_send_to (flood->socket, flood->to, (const char *)buffer, length, NULL, NULL);
}

static void
send_garbage (Flood   *flood,
              GRand   *rand)
{
  guint8 buffer[1500];
  gsize length;

  for (gsize i = 0; i < sizeof buffer; i++)
    buffer[i] = g_rand_int_range (rand, 0, 256);

  switch (flood->garbage++ % 3)
    {
    case 0:  /* behind Confab's magic: fails to decode */
      length = g_rand_int_range (rand, 8, CONFAB_WIRE_MAX_DATAGRAM);
      memcpy (buffer, "\xff" "CFB\x01\x01", 6);
      break;
    case 1:  /* plain text that is not UTF-8 */
      length = g_rand_int_range (rand, 1, 200);
      buffer[0] = 0xc0;
      break;
    default: /* longer than any Confab datagram */
      length = sizeof buffer;
      buffer[0] = 0xff;
      break;
    }

  g_socket_send_to (flood->socket, flood->to, (const char *)buffer, length, NULL, NULL);
}

/* flood PORT TO_PORT SECONDS ACKED_FILE */
static int
flooder (char **argv)
{
  g_autoptr(GSocketAddress) address =
    g_inet_socket_address_new_from_string ("127.0.0.1", atoi (argv[2]));
  g_autoptr(GRand) rand = g_rand_new_with_seed (7);
  g_autoptr(GString) acked = g_string_new (NULL);
  gint64 end, drained;
  guint64 count = 0;
  Flood flood = { 0 };

  flood.socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
                               G_SOCKET_PROTOCOL_UDP, NULL);
  if (!g_socket_bind (flood.socket, address, FALSE, NULL))
    g_error ("the flooder cannot bind its port");
  flood.to = g_inet_socket_address_new_from_string ("127.0.0.1", atoi (argv[3]));
  flood.session = g_get_real_time ();
  flood.acked = g_array_new (FALSE, TRUE, sizeof (gboolean));

  end = g_get_monotonic_time () + atoi (argv[4]) * G_USEC_PER_SEC;
  while (g_get_monotonic_time () < end)
    {
      send_message (&flood);
      send_garbage (&flood, rand);
      read_acks (&flood);
    }
  drained = g_get_monotonic_time () + DRAIN_SECONDS * G_USEC_PER_SEC;
  while (g_get_monotonic_time () < drained)
    {
      read_acks (&flood);
      g_usleep (1000);
    }

  for (guint64 seq = 1; seq <= flood.sent; seq++)
    if (g_array_index (flood.acked, gboolean, seq))
      {
        g_string_append_printf (acked, "%" G_GUINT64_FORMAT "\n", seq);
        count++;
      }
  if (!g_file_set_contents (argv[5], acked->str, acked->len, NULL))
    g_error ("cannot write %s", argv[5]);

  printf ("%" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT "\n",
          flood.session, flood.sent, flood.garbage, count);
  g_array_unref (flood.acked);
  g_object_unref (flood.to);
  g_object_unref (flood.socket);
  return 0;
}

/* The program's probe, read in a thread while the flood goes on */

typedef struct
{
  BenchApp *app;
  GMutex    lock;
  GArray   *delays;     /* µs, while recording */
  gboolean  recording;
} Probe;

static gpointer
read_probe (gpointer data)
{
  Probe *probe = data;
  char *line;

  while ((line = g_data_input_stream_read_line_utf8 (probe->app->out, NULL, NULL, NULL)) != NULL)
    {
      gint64 delay;

      if (g_str_has_prefix (line, "loop-delay "))
        {
          delay = g_ascii_strtoll (line + strlen ("loop-delay "), NULL, 10);
          g_mutex_lock (&probe->lock);
          if (probe->recording)
            g_array_append_val (probe->delays, delay);
          g_mutex_unlock (&probe->lock);
        }
      g_free (line);
    }

  return NULL;
}

static void
set_recording (Probe    *probe,
               gboolean  recording)
{
  g_mutex_lock (&probe->lock);
  probe->recording = recording;
  g_mutex_unlock (&probe->lock);
}

/* Returns: how many of the acknowledged messages the history lacks */
static guint
count_missing (const char *data_home,
               guint64     session,
               const char *acked_file)
{
  g_autofree char *path = g_build_filename (data_home, "confab", "history.db", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(ConfabHistory) history = confab_history_open (path, &error);
  g_autoptr(GPtrArray) stored = NULL;
  g_autoptr(GHashTable) numbers = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free,
                                                         NULL);
  g_autofree char *acked = NULL;
  g_auto(GStrv) lines = NULL;
  guint missing = 0;

  if (history == NULL)
    g_error ("the history cannot be opened: %s", error->message);
  stored = confab_history_load (history, 0, G_MAXUINT, &error);
  if (stored == NULL)
    g_error ("the history cannot be read: %s", error->message);

  for (guint i = 0; i < stored->len; i++)
    {
      ConfabMessage *message = g_ptr_array_index (stored, i);

      gint64 number = (gint64)confab_message_get_number (message);

      if (confab_message_get_origin (message) == session)
        g_hash_table_add (numbers, g_memdup2 (&number, sizeof number));
    }

  if (!g_file_get_contents (acked_file, &acked, NULL, NULL))
    g_error ("cannot read %s", acked_file);
  lines = g_strsplit (acked, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      gint64 number;

      if (lines[i][0] == '\0')
        continue;
      number = g_ascii_strtoll (lines[i], NULL, 10);
      if (!g_hash_table_contains (numbers, &number))
        missing++;
    }

  return missing;
}

static double
percentile_ms (GArray *delays,
               double  fraction)
{
  return bench_percentile (delays, fraction) / 1000.0;
}

int
main (int   argc,
      char *argv[])
{
  g_autofree char *data_home = NULL;
  g_autofree char *acked_file = NULL;
  g_autofree char *port = NULL;
  g_autofree char *flood_port = NULL;
  g_autofree char *peer_arg = NULL;
  g_autofree char *seconds_arg = NULL;
  g_autofree char *result = NULL;
  g_autoptr(GSubprocess) flood = NULL;
  GThread *reader;
  Probe probe = { 0 };
  guint64 session = 0, sent = 0, garbage = 0, acked = 0;
  gint64 rss_before, rss_after;
  guint seconds, missing;

  if (argc >= 6 && g_str_equal (argv[1], "flood"))
    return flooder (argv);
  seconds = argc > 1 ? (guint)atoi (argv[1]) : DEFAULT_SECONDS;

  if (!bench_has_display ("bench-flood"))
    return 1;

  data_home = g_dir_make_tmp ("confab-bench-data-XXXXXX", NULL);
  acked_file = g_build_filename (data_home, "acked", NULL);
  port = g_strdup_printf ("%u", bench_free_port ());
  flood_port = g_strdup_printf ("%u", bench_free_port ());
  peer_arg = g_strdup_printf ("--peer=127.0.0.1:%s", flood_port);
  seconds_arg = g_strdup_printf ("%u", seconds);

  g_setenv ("CONFAB_REPORT_LOOP_DELAY", "1", TRUE);
  {
    const char *args[] = { peer_arg, "--port", port, NULL };
    gint64 usec;
    guint items;

    probe.app = bench_app_start (BENCH_PROGRAM, data_home, args);
    if (!bench_app_first_frame (probe.app, &usec, &items, NULL))
      g_error ("%s ended before its first frame", BENCH_PROGRAM);
  }
  g_mutex_init (&probe.lock);
  probe.delays = g_array_new (FALSE, FALSE, sizeof (gint64));
  reader = g_thread_new ("probe", read_probe, &probe);

  /* Settled: the window drawn, the history open */
  g_usleep (G_USEC_PER_SEC);
  rss_before = bench_rss_kib (probe.app->pid);

  set_recording (&probe, TRUE);
  flood = bench_spawn (argv[0], "flood", flood_port, port, seconds_arg, acked_file, NULL);
  result = bench_read_line (flood);
  g_subprocess_wait (flood, NULL, NULL);
  set_recording (&probe, FALSE);
  rss_after = bench_rss_kib (probe.app->pid);

  if (result == NULL ||
      sscanf (result, "%" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT
              " %" G_GUINT64_FORMAT, &session, &sent, &garbage, &acked) != 4)
    g_error ("the flooder said nothing");

  /* Killed outright: whatever was acknowledged must already be on disk. */
  g_subprocess_force_exit (probe.app->process);
  g_subprocess_wait (probe.app->process, NULL, NULL);
  g_thread_join (reader);
  missing = count_missing (data_home, session, acked_file);

  bench_figure ("flood_seconds", seconds, "s");
  bench_figure ("flood_messages_sent", sent, "msg");
  bench_figure ("flood_garbage_sent", garbage, "datagrams");
  bench_figure ("flood_acked", acked, "msg");
  bench_figure ("flood_loop_delay_p50_ms", percentile_ms (probe.delays, 0.5), "ms");
  bench_figure ("flood_loop_delay_p99_ms", percentile_ms (probe.delays, 0.99), "ms");
  bench_figure ("flood_loop_delay_max_ms", percentile_ms (probe.delays, 1.0), "ms");
  bench_figure ("flood_rss_before_mb", rss_before / 1024.0, "MB");
  bench_figure ("flood_rss_after_mb", rss_after / 1024.0, "MB");
  bench_figure ("flood_rss_growth_mb", (rss_after - rss_before) / 1024.0, "MB");
  bench_figure ("flood_acked_missing", missing, "msg");

  bench_app_stop (probe.app);
  g_array_unref (probe.delays);
  g_mutex_clear (&probe.lock);
  bench_remove_tree (data_home);
  return 0;
}
