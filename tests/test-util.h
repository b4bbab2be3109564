/* test-util.h — helpers shared by the tests: waiting on the main loop, scratch folders
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef gboolean (*TestCondition) (gpointer data);

gboolean  test_wait_until    (TestCondition  condition,
                              gpointer       data,
                              guint          seconds);
char     *test_make_tmpdir   (const char    *name);
void      test_remove_tree   (const char    *path);

/* Fails the test, rather than hanging, when @condition does not come true. */
#define TEST_WAIT_UNTIL(condition, data) \
  g_assert_true (test_wait_until ((condition), (data), 30))

G_END_DECLS
