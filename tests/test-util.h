/* test-util.h — helpers shared by the tests: waiting on the main loop, scratch folders
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef gboolean (*TestCondition) (gpointer data);

gboolean  test_wait_until    (TestCondition  condition,
                              gpointer       data,
                              guint          seconds);
void      test_run_for       (guint          ms);
char     *test_make_tmpdir   (const char    *name);
void      test_remove_tree   (const char    *path);
GPtrArray *test_read_history (const char    *path);

/* A private session bus that can start no service by itself, in a scratch
 * home (HOME and the XDG folders point into it); optionally with a
 * gnome-keyring-daemon whose login keyring is made and unlocked. The
 * process's session bus is a singleton: start one before any bus use.
 */
typedef struct
{
  char        *home;
  GSubprocess *bus;
} TestSession;

void      test_session_start          (TestSession   *session);
void      test_session_start_keyring  (TestSession   *session);
void      test_session_stop           (TestSession   *session);

/* Fails the test, rather than hanging, when @condition does not come true. */
#define TEST_WAIT_UNTIL(condition, data) \
  g_assert_true (test_wait_until ((condition), (data), 30))

G_END_DECLS
