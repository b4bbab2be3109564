/* test-util.c — helpers shared by the tests: waiting on the main loop, scratch folders
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <signal.h>
#include <sys/prctl.h>

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <sqlite3.h>

#include "confab-history.h"
#include "test-util.h"

static gboolean
on_timeout (gpointer data)
{
  *(gboolean *)data = TRUE;
  return G_SOURCE_REMOVE;
}

/**
 * test_wait_until:
 * @seconds: how long at most
 *
 * Runs the default main context until @condition holds.
 *
 * Returns: %FALSE if it did not within @seconds
 */
gboolean
test_wait_until (TestCondition condition,
                 gpointer      data,
                 guint         seconds)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add_seconds (seconds, on_timeout, &timed_out);

  while (!condition (data) && !timed_out)
    g_main_context_iteration (NULL, TRUE);

  if (timed_out)
    g_test_message ("Timed out after %u s", seconds);
  else
    g_source_remove (id);

  return !timed_out;
}

/**
 * test_run_for:
 * @ms: how long
 *
 * Runs the default main context for @ms milliseconds, sleeping when idle.
 */
void
test_run_for (guint ms)
{
  gboolean done = FALSE;

  g_timeout_add (ms, on_timeout, &done);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
}

/* Returns (transfer full): a new empty folder under the temporary one. */
char *
test_make_tmpdir (const char *name)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *template = g_strdup_printf ("confab-%s-XXXXXX", name);
  char *dir = g_dir_make_tmp (template, &error);

  g_assert_no_error (error);
  return dir;
}

void
test_remove_tree (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        test_remove_tree (child);
      else
        g_unlink (child);
    }

  g_rmdir (path);
}

/* A private D-Bus session */

static void
die_with_parent (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

static const char bus_config[] =
  "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
  " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
  "<busconfig><type>session</type><listen>unix:tmpdir=%s</listen>\n"
  "<policy context=\"default\"><allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
  "<allow eavesdrop=\"true\"/><allow own=\"*\"/></policy></busconfig>\n";

/* A bus with no service directories, its address in the environment */
void
test_session_start (TestSession *session)
{
  g_autofree char *config_path = NULL;
  g_autofree char *config = NULL;
  g_autofree char *cache = NULL;
  g_autofree char *address = NULL;
  g_autoptr(GDataInputStream) out = NULL;
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GError) error = NULL;

  session->home = test_make_tmpdir ("session");
  cache = g_build_filename (session->home, ".cache", NULL);
  g_mkdir_with_parents (cache, 0700);
  g_setenv ("HOME", session->home, TRUE);
  g_setenv ("XDG_RUNTIME_DIR", session->home, TRUE);
  g_setenv ("XDG_DATA_HOME", session->home, TRUE);
  g_setenv ("XDG_CACHE_HOME", cache, TRUE);

  config = g_strdup_printf (bus_config, session->home);
  config_path = g_build_filename (session->home, "bus.conf", NULL);
  g_assert_true (g_file_set_contents (config_path, config, -1, NULL));

  /* Not holding the test's stderr, and gone with the test even if it fails:
   * a test runner waits for both.
   */
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  session->bus = g_subprocess_launcher_spawn (launcher, &error, "dbus-daemon",
                                              "--config-file", config_path, "--nofork",
                                              "--print-address=1", NULL);
  g_assert_no_error (error);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (session->bus));
  address = g_data_input_stream_read_line_utf8 (out, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (address);
  g_setenv ("DBUS_SESSION_BUS_ADDRESS", address, TRUE);
}

static gboolean
secret_service_running (void)
{
  g_autoptr(GDBusConnection) bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, NULL);
  g_autoptr(GVariant) reply = NULL;
  gboolean owned = FALSE;

  if (bus == NULL)
    return FALSE;

  reply = g_dbus_connection_call_sync (bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus", "NameHasOwner",
                                       g_variant_new ("(s)", "org.freedesktop.secrets"),
                                       G_VARIANT_TYPE ("(b)"), G_DBUS_CALL_FLAGS_NONE, -1,
                                       NULL, NULL);
  if (reply != NULL)
    g_variant_get (reply, "(b)", &owned);

  return owned;
}

/* gnome-keyring-daemon on the bus, its login keyring made and unlocked */
void
test_session_start_keyring (TestSession *session)
{
  g_autoptr(GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                               G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_autoptr(GSubprocess) daemon = NULL;
  g_autoptr(GError) error = NULL;

  /* G_DEBUG=fatal-warnings is for Confab: gnome-keyring-daemon warns when
   * it replaces an item, and would abort.
   */
  g_subprocess_launcher_unsetenv (launcher, "G_DEBUG");
  daemon = g_subprocess_launcher_spawn (launcher, &error, "gnome-keyring-daemon", "--unlock",
                                        "--components=secrets", "--daemonize", NULL);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_communicate_utf8 (daemon, "a test login password", NULL, NULL,
                                                NULL, &error));
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_successful (daemon));

  /* It forks before it has claimed its name on the bus. */
  for (guint tries = 0; !secret_service_running () && tries < 1000; tries++)
    g_usleep (10 * 1000);
  g_assert_true (secret_service_running ());
}

void
test_session_stop (TestSession *session)
{
  /* gnome-keyring-daemon leaves when its bus goes. */
  g_subprocess_force_exit (session->bus);
  g_subprocess_wait (session->bus, NULL, NULL);
  g_clear_object (&session->bus);
  test_remove_tree (session->home);
  g_clear_pointer (&session->home, g_free);
}


/**
 * test_read_history:
 * @path: a history file, perhaps in use by a running program
 *
 * Reads what is on disk of @path as the next run would if the one using it
 * were killed now: its log as it is, then a consistent copy of the
 * database, opened through a handle of their own, which replays the log.
 *
 * Returns: (transfer container): every message in it, oldest first
 */
GPtrArray *
test_read_history (const char *path)
{
  g_autofree char *dir = test_make_tmpdir ("history-copy");
  g_autofree char *copy = g_build_filename (dir, "history.db", NULL);
  g_autofree char *log = g_strconcat (path, "-log", NULL);
  g_autofree char *copy_log = g_strconcat (copy, "-log", NULL);
  g_autofree char *contents = NULL;
  g_autoptr(ConfabHistory) history = NULL;
  g_autoptr(GError) error = NULL;
  sqlite3 *db = NULL;
  char *sql;
  gsize length;
  GPtrArray *messages;

  /* The log first: what leaves it meanwhile is in the database by then. */
  if (g_file_get_contents (log, &contents, &length, NULL))
    g_assert_true (g_file_set_contents (copy_log, contents, length, NULL));

  g_assert_cmpint (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
  sqlite3_busy_timeout (db, 5000);
  sql = sqlite3_mprintf ("VACUUM INTO %Q", copy);
  g_assert_cmpint (sqlite3_exec (db, sql, NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_free (sql);
  sqlite3_close (db);

  history = confab_history_open (copy, &error);
  g_assert_no_error (error);
  messages = confab_history_load (history, 0, G_MAXUINT, &error);
  g_assert_no_error (error);
  g_clear_object (&history);
  test_remove_tree (dir);

  return messages;
}
