/* test-keyring.c — the passphrase in a real Secret Service, and without one
 *
 * Each test runs in a process of its own on a private D-Bus bus that can
 * start nothing by itself (test-util.c): either gnome-keyring-daemon is
 * started on it, with a fresh login keyring in a scratch home, or nothing
 * provides the Secret Service.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <gio/gio.h>

#include "confab-keyring.h"
#include "test-util.h"

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
  TestSession session = { 0 };
  Result r = { 0 };

  test_session_start (&session);
  test_session_start_keyring (&session);

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
  g_assert_no_error (r.error);
  g_assert_true (r.ok);
  lookup (&r);
  g_assert_no_error (r.error);
  g_assert_cmpstr (r.passphrase, ==, "red tractor");

  /* An empty passphrase deletes the item. */
  store (&r, "");
  g_assert_no_error (r.error);
  lookup (&r);
  g_assert_no_error (r.error);
  g_assert_null (r.passphrase);

  result_clear (&r);
  test_session_stop (&session);
}

static void
no_secret_service (void)
{
  TestSession session = { 0 };
  Result r = { 0 };

  test_session_start (&session);

  lookup (&r);
  g_assert_nonnull (r.error);
  g_assert_null (r.passphrase);
  store (&r, "kept for this session");
  g_assert_nonnull (r.error);
  g_assert_false (r.ok);
  g_test_message ("without a Secret Service: %s", r.error->message);

  result_clear (&r);
  test_session_stop (&session);
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
