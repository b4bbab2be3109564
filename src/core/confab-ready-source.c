/* confab-ready-source.c — a main-loop source dispatched when made ready
 *
 * g_source_set_ready_time() makes it ready, at a time or (0) at once, from
 * any thread; once dispatched it waits for the next call. It never wakes
 * the main loop on its own: no wake-ups while nothing is pending.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include "confab-ready-source.h"

static gboolean
ready_dispatch (GSource     *source,
                GSourceFunc  callback,
                gpointer     user_data)
{
  /* Before the callback: made ready again meanwhile, it runs again. */
  g_source_set_ready_time (source, -1);

  return callback (user_data);
}

static GSourceFuncs ready_funcs = {
  NULL, NULL, ready_dispatch, NULL, NULL, NULL,
};

/**
 * confab_ready_source_new:
 * @name: (not nullable): a static string naming it for debugging
 *
 * Returns: (transfer full): a source, attached to the thread-default main
 *   context and not ready, that calls @callback when made ready
 */
GSource *
confab_ready_source_new (const char  *name,
                         GSourceFunc  callback,
                         gpointer     user_data)
{
  GSource *source = g_source_new (&ready_funcs, sizeof (GSource));

  g_source_set_static_name (source, name);
  g_source_set_callback (source, callback, user_data, NULL);
  g_source_set_ready_time (source, -1);
  g_source_attach (source, g_main_context_get_thread_default ());

  return source;
}
