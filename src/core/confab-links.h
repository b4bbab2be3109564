/* confab-links.h — message text as Pango markup, with web and mail links
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

char *confab_links_markup (const char *text,
                           gboolean   *has_links);

G_END_DECLS
