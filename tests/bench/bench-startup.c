/* bench-startup.c — the real program's start with an empty history and with 100,000 messages
 *
 * Under a display (build-aux/dev bench provides Xvfb): the time from the
 * program's start to the first frame painted of the window showing the
 * newest messages, and the resident memory right then. Each history is
 * opened several times, taking turns, after one start of each to warm the
 * caches; the medians are printed, and their ratio. A history of 100
 * messages too, to tell what the size of the history costs from what
 * showing messages at all costs.
 *
 *   bench-startup [MESSAGES]
 *
 * Prints `name value unit` lines.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <stdlib.h>

#include "bench-util.h"
#include "confab-history.h"

#define DEFAULT_MESSAGES 100000
#define RUNS 5
#define SMALL 100

/* A history as a long conversation leaves it: both directions, delivered */
static char *
make_history (guint count)
{
  char *home = g_dir_make_tmp ("confab-bench-data-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (home, "confab", "history.db", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(ConfabHistory) history = confab_history_open (path, &error);
  gint64 time = g_get_real_time () - (gint64)count * G_USEC_PER_SEC;

  if (history == NULL)
    g_error ("cannot make a history: %s", error->message);

  for (guint i = 1; i <= count; i++)
    {
      ConfabDirection direction = i % 2 ? CONFAB_DIRECTION_INCOMING : CONFAB_DIRECTION_OUTGOING;
      g_autofree char *text = g_strdup_printf ("message %u of a long conversation", i);
      g_autoptr(ConfabMessage) message =
        confab_message_new_at (direction, direction ? "me" : "ann", text, time + i * G_USEC_PER_SEC);

      confab_message_set_peer (message, "127.0.0.1", 48484);
      confab_message_set_id (message, direction ? 11 : 22, i);
      confab_message_set_state (message, direction ? CONFAB_MESSAGE_STATE_DELIVERED
                                                    : CONFAB_MESSAGE_STATE_RECEIVED);
      if (!confab_history_add (history, message, &error) ||
          (i % 1000 == 0 && !confab_history_sync (history, &error)))
        g_error ("cannot make a history: %s", error->message);
    }
  if (!confab_history_sync (history, &error))
    g_error ("cannot make a history: %s", error->message);

  return home;
}

/* One start: microseconds to the first frame, and KiB resident then */
static void
start_once (const char *home,
            const char *expected_newest,
            gint64     *usec,
            gint64     *rss_kib)
{
  g_autofree char *port = g_strdup_printf ("%u", bench_free_port ());
  /* With a peer, as the person who chats has: the window shows the
   * conversation, not the page that asks for one.
   */
  g_autofree char *peer = g_strdup_printf ("--peer=127.0.0.1:%u", bench_free_port ());
  const char *args[] = { "--port", port, peer, NULL };
  BenchApp *app = bench_app_start (BENCH_PROGRAM, home, args);
  g_autofree char *newest = NULL;
  guint items;

  if (!bench_app_first_frame (app, usec, &items, &newest))
    g_error ("%s ended before its first frame", BENCH_PROGRAM);
  *rss_kib = bench_rss_kib (app->pid);
  if (g_strcmp0 (newest, expected_newest) != 0)
    g_error ("the first frame showed \"%s\", not the newest message \"%s\"", newest,
             expected_newest);

  bench_app_stop (app);
}

static gint64
median (GArray *values)
{
  return (gint64)bench_percentile (values, 0.5);
}

typedef struct
{
  char   *home;
  char   *newest;
  GArray *usec;
  GArray *rss;
} Case;

static void
case_init (Case *c,
           guint count)
{
  c->home = count > 0 ? make_history (count) : g_dir_make_tmp ("confab-bench-data-XXXXXX", NULL);
  c->newest = count > 0 ? g_strdup_printf ("message %u of a long conversation", count)
                        : g_strdup ("");
  c->usec = g_array_new (FALSE, FALSE, sizeof (gint64));
  c->rss = g_array_new (FALSE, FALSE, sizeof (gint64));
}

static void
case_run (Case     *c,
          gboolean  record)
{
  gint64 usec, rss;

  start_once (c->home, c->newest, &usec, &rss);
  if (record)
    {
      g_array_append_val (c->usec, usec);
      g_array_append_val (c->rss, rss);
    }
}

static void
case_clear (Case *c)
{
  bench_remove_tree (c->home);
  g_free (c->home);
  g_free (c->newest);
  g_array_unref (c->usec);
  g_array_unref (c->rss);
}

int
main (int   argc,
      char *argv[])
{
  guint count = argc > 1 ? (guint)atoi (argv[1]) : DEFAULT_MESSAGES;
  Case cases[3];
  gint64 empty_ms, small_ms, full_ms, empty_rss, full_rss;

  if (!bench_has_display ("bench-startup"))
    return 1;

  case_init (&cases[0], 0);
  case_init (&cases[1], SMALL);
  case_init (&cases[2], count);

  /* Warm-up: the first start of all reads the program and its libraries. */
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    case_run (&cases[i], FALSE);
  for (guint run = 0; run < RUNS; run++)
    for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
      case_run (&cases[i], TRUE);

  empty_ms = median (cases[0].usec);
  small_ms = median (cases[1].usec);
  full_ms = median (cases[2].usec);
  empty_rss = median (cases[0].rss);
  full_rss = median (cases[2].rss);
  bench_figure ("history_startup_empty_ms", empty_ms / 1000.0, "ms");
  bench_figure ("history_startup_small_ms", small_ms / 1000.0, "ms");
  bench_figure ("history_startup_full_ms", full_ms / 1000.0, "ms");
  bench_figure ("history_startup_messages", count, "msg");
  bench_figure ("history_startup_ratio", (double)full_ms / empty_ms, "x");
  bench_figure ("history_startup_full_to_small_ratio", (double)full_ms / small_ms, "x");
  bench_figure ("history_rss_empty_mb", empty_rss / 1024.0, "MB");
  bench_figure ("history_rss_full_mb", full_rss / 1024.0, "MB");
  bench_figure ("history_rss_growth_mb", (full_rss - empty_rss) / 1024.0, "MB");

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    case_clear (&cases[i]);
  return 0;
}
