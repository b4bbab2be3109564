/* confab-utf8.h — whether text is UTF-8 without NUL bytes, fast for ASCII
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

gboolean confab_utf8_validate (const char *text,
                               gsize       length);

G_END_DECLS
