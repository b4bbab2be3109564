/* bench-idle.c — wake-ups of the real program at rest, beside a plain GTK window
 *
 * Under a display (build-aux/dev bench provides Xvfb): Confab with its
 * window open and a peer set, no traffic, nothing to send; and, in the same
 * run, a plain libadwaita window with a list and an entry and no socket.
 * Once both have painted and the entry's cursor has stopped blinking, the
 * context switches of all their threads (/proc/PID/task/TID/status) are
 * counted for 10 s; a thread that ends meanwhile is left out.
 *
 *   bench-idle [SECONDS]
 *
 * Prints `name value unit` lines.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <adwaita.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench-util.h"

#define DEFAULT_SECONDS 10
/* GTK stops blinking the cursor 10 s after the last key press. */
#define SETTLE_SECONDS 12

/* The baseline: what GTK itself does in a window like Confab's */

static void
report_first_frame (GdkFrameClock *clock,
                    gpointer       user_data)
{
  g_signal_handlers_disconnect_by_func (clock, report_first_frame, user_data);
  g_print ("first-frame %" G_GINT64_FORMAT " 0 \n", g_get_monotonic_time ());
  fflush (stdout);
}

static void
on_map (GtkWidget *window)
{
  g_signal_connect (gtk_widget_get_frame_clock (window), "after-paint",
                    G_CALLBACK (report_first_frame), NULL);
}

static void
setup_row (GtkSignalListItemFactory *factory,
           GtkListItem              *item)
{
  gtk_list_item_set_child (item, gtk_label_new (NULL));
}

static void
bind_row (GtkSignalListItemFactory *factory,
          GtkListItem              *item)
{
  gtk_label_set_text (GTK_LABEL (gtk_list_item_get_child (item)),
                      gtk_string_object_get_string (gtk_list_item_get_item (item)));
}

static void
baseline_activate (GApplication *application)
{
  const char *const rows[] = { "one", "two", "three", NULL };
  GtkWidget *window = adw_application_window_new (GTK_APPLICATION (application));
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  GtkWidget *scrolled = gtk_scrolled_window_new ();
  GtkListItemFactory *factory = gtk_signal_list_item_factory_new ();
  GtkNoSelection *model = gtk_no_selection_new (G_LIST_MODEL (gtk_string_list_new (rows)));
  GtkWidget *entry = gtk_entry_new ();

  g_signal_connect (factory, "setup", G_CALLBACK (setup_row), NULL);
  g_signal_connect (factory, "bind", G_CALLBACK (bind_row), NULL);
  gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (scrolled),
                                 gtk_list_view_new (GTK_SELECTION_MODEL (model), factory));
  gtk_widget_set_vexpand (scrolled, TRUE);
  gtk_box_append (GTK_BOX (box), adw_header_bar_new ());
  gtk_box_append (GTK_BOX (box), scrolled);
  gtk_box_append (GTK_BOX (box), entry);
  adw_application_window_set_content (ADW_APPLICATION_WINDOW (window), box);
  gtk_window_set_default_size (GTK_WINDOW (window), 480, 640);
  g_signal_connect (window, "map", G_CALLBACK (on_map), NULL);
  gtk_window_present (GTK_WINDOW (window));
  gtk_widget_grab_focus (entry);
}

static int
gtk_baseline (void)
{
  g_autoptr(AdwApplication) application =
    adw_application_new ("io.github.confab.BenchIdleBaseline", G_APPLICATION_NON_UNIQUE);

  g_signal_connect (application, "activate", G_CALLBACK (baseline_activate), NULL);
  return g_application_run (G_APPLICATION (application), 0, NULL);
}

static void
wait_for_first_frame (BenchApp *app)
{
  gint64 usec;
  guint items;

  if (!bench_app_first_frame (app, &usec, &items, NULL))
    g_error ("a program ended before its first frame");
}

int
main (int   argc,
      char *argv[])
{
  g_autofree char *data_home = g_dir_make_tmp ("confab-bench-data-XXXXXX", NULL);
  g_autoptr(GSocket) peer = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
                                          G_SOCKET_PROTOCOL_UDP, NULL);
  g_autoptr(GSocketAddress) peer_address = NULL;
  g_autofree char *peer_arg = NULL;
  g_autofree char *port = g_strdup_printf ("%u", bench_free_port ());
  const char *self_args[] = { "gtk-baseline", NULL };
  guint seconds;
  BenchApp *confab, *baseline;
  g_autoptr(GHashTable) confab_before = NULL;
  g_autoptr(GHashTable) baseline_before = NULL;
  gint64 confab_wakeups, baseline_wakeups;

  if (argc > 1 && g_str_equal (argv[1], "gtk-baseline"))
    return gtk_baseline ();
  seconds = argc > 1 ? (guint)atoi (argv[1]) : DEFAULT_SECONDS;

  if (!bench_has_display ("bench-idle"))
    return 1;

  /* A peer that is there, and says nothing */
  peer_address = g_inet_socket_address_new_from_string ("127.0.0.1", bench_free_port ());
  if (!g_socket_bind (peer, peer_address, FALSE, NULL))
    g_error ("cannot bind the peer's socket");
  peer_arg = g_strdup_printf ("--peer=127.0.0.1:%u",
                              g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (peer_address)));

  {
    const char *confab_args[] = { peer_arg, "--port", port, NULL };

    confab = bench_app_start (BENCH_PROGRAM, data_home, confab_args);
    baseline = bench_app_start (argv[0], data_home, self_args);
  }
  wait_for_first_frame (confab);
  wait_for_first_frame (baseline);
  g_usleep (SETTLE_SECONDS * G_USEC_PER_SEC);

  confab_before = bench_thread_switches (confab->pid);
  baseline_before = bench_thread_switches (baseline->pid);
  g_usleep (seconds * G_USEC_PER_SEC);
  confab_wakeups = bench_switches_since (confab_before, confab->pid);
  baseline_wakeups = bench_switches_since (baseline_before, baseline->pid);

  bench_figure ("idle_seconds", seconds, "s");
  bench_figure ("idle_wakeups_confab", confab_wakeups, "wakeups");
  bench_figure ("idle_wakeups_gtk_baseline", baseline_wakeups, "wakeups");
  bench_figure ("idle_wakeups_beyond_gtk", confab_wakeups - baseline_wakeups, "wakeups");

  bench_app_stop (confab);
  bench_app_stop (baseline);
  bench_remove_tree (data_home);
  return 0;
}
