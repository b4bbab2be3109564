/* test-util.c — helpers shared by the tests: waiting on the main loop, scratch folders
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <glib/gstdio.h>

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
