/* confab-ready-source.h — a main-loop source dispatched when made ready
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

GSource *confab_ready_source_new (const char  *name,
                                  GSourceFunc  callback,
                                  gpointer     user_data);

G_END_DECLS
