/* test-keyring.c — the passphrase in a real Secret Service, and without one
 *
 * Each test runs in a process of its own on a private D-Bus bus that can
 * start nothing by itself: either gnome-keyring-daemon is started on it,
 * with a fresh login keyring in a scratch home, or nothing provides the
 * Secret Service.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <gio/gio.h>

#include "confab-keyring.h"
#include "test-util.h"

typedef struct
{
  char        *home;
  GSubprocess *bus;
} PrivateSession;

static const char bus_config[] =
  "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
  " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
  "<busconfig><type>session</type><listen>unix:tmpdir=%s</listen>\n"
  "<policy context=\"default\"><allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
  "<allow eavesdrop=\"true\"/><allow own=\"*\"/></policy></busconfig>\n";

/* A bus with no service directories, its address in the environment */
static void
session_start (PrivateSession *session)
{
  g_autofree char *config_path = NULL;
  g_autofree char *config = NULL;
  g_autofree char *cache = NULL;
  g_autofree char *address = NULL;
  g_autoptr(GDataInputStream) out = NULL;
  g_autoptr(GError) error = NULL;

  session->home = test_make_tmpdir ("keyring");
  cache = g_build_filename (session->home, ".cache", NULL);
  g_mkdir_with_parents (cache, 0700);
  g_setenv ("HOME", session->home, TRUE);
  g_setenv ("XDG_RUNTIME_DIR", session->home, TRUE);
  g_setenv ("XDG_DATA_HOME", session->home, TRUE);
  g_setenv ("XDG_CACHE_HOME", cache, TRUE);

  config = g_strdup_printf (bus_config, session->home);
  config_path = g_build_filename (session->home, "bus.conf", NULL);
  g_assert_true (g_file_set_contents (config_path, config, -1, NULL));

  session->bus = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error, "dbus-daemon",
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
static void
session_start_keyring (PrivateSession *session)
{
  g_autoptr(GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
  g_autoptr(GSubprocess) daemon = NULL;
  g_autoptr(GError) error = NULL;

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

static void
session_stop (PrivateSession *session)
{
  /* gnome-keyring-daemon leaves when its bus goes. */
  g_subprocess_force_exit (session->bus);
  g_subprocess_wait (session->bus, NULL, NULL);
  g_clear_object (&session->bus);
  test_remove_tree (session->home);
  g_clear_pointer (&session->home, g_free);
}

typedef struct
{
  gboolean  done;
  char     *passphrase;
  gboolean  ok;
  GError   *error;
} Result;

static void
on_lookup (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  Result *r = user_data;

  r->passphrase = confab_keyring_lookup_finish (result, &r->error);
  r->done = TRUE;
}

static void
on_store (GObject      *object,
          GAsyncResult *result,
          gpointer      user_data)
{
  Result *r = user_data;

  r->ok = confab_keyring_store_finish (result, &r->error);
  r->done = TRUE;
}

static gboolean
is_done (gpointer data)
{
  return ((Result *)data)->done;
}

static void
result_clear (Result *r)
{
  if (r->passphrase != NULL)
    confab_keyring_free_secret (r->passphrase);
  g_clear_error (&r->error);
  memset (r, 0, sizeof *r);
}

static void
lookup (Result *r)
{
  result_clear (r);
  confab_keyring_lookup_async (NULL, on_lookup, r);
  TEST_WAIT_UNTIL (is_done, r);
}

static void
store (Result     *r,
       const char *passphrase)
{
  result_clear (r);
  confab_keyring_store_async (passphrase, NULL, on_store, r);
  TEST_WAIT_UNTIL (is_done, r);
}

static void
keyring_round_trip (void)
{
  PrivateSession session = { 0 };
  Result r = { 0 };

  session_start (&session);
  session_start_keyring (&session);

  lookup (&r);
  g_assert_no_error (r.error);
  g_assert_null (r.passphrase);

  store (&r, "blue tractor at noon ✓");
  g_assert_no_error (r.error);
  g_assert_true (r.ok);
  lookup (&r);
  g_assert_no_error (r.error);
  g_assert_cmpstr (r.passphrase, ==, "blue tractor at noon ✓");

  /* Replaced, not added */
  store (&r, "red tractor");
  lookup (&r);
  g_assert_cmpstr (r.passphrase, ==, "red tractor");

  /* An empty passphrase deletes the item. */
  store (&r, "");
  g_assert_no_error (r.error);
  lookup (&r);
  g_assert_no_error (r.error);
  g_assert_null (r.passphrase);

  result_clear (&r);
  session_stop (&session);
}

static void
no_secret_service (void)
{
  PrivateSession session = { 0 };
  Result r = { 0 };

  session_start (&session);

  lookup (&r);
  g_assert_nonnull (r.error);
  g_assert_null (r.passphrase);
  store (&r, "kept for this session");
  g_assert_nonnull (r.error);
  g_assert_false (r.ok);
  g_test_message ("without a Secret Service: %s", r.error->message);

  result_clear (&r);
  session_stop (&session);
}

/* The session bus is a process-wide singleton: one test per process. */
static void
run_isolated (gconstpointer data)
{
  if (g_test_subprocess ())
    {
      ((GTestFunc)data) ();
      return;
    }

  g_test_trap_subprocess (NULL, 120 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_data_func ("/keyring/round-trip", keyring_round_trip, run_isolated);
  g_test_add_data_func ("/keyring/no-secret-service", no_secret_service, run_isolated);

  return g_test_run ();
}
