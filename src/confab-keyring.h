/* confab-keyring.h — the shared passphrase in the user's keyring (Secret Service)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

void      confab_keyring_lookup_async   (GCancellable         *cancellable,
                                         GAsyncReadyCallback   callback,
                                         gpointer              user_data);
char     *confab_keyring_lookup_finish  (GAsyncResult         *result,
                                         GError              **error);
void      confab_keyring_store_async    (const char           *passphrase,
                                         GCancellable         *cancellable,
                                         GAsyncReadyCallback   callback,
                                         gpointer              user_data);
gboolean  confab_keyring_store_finish   (GAsyncResult         *result,
                                         GError              **error);
void      confab_keyring_free_secret    (char                 *passphrase);

G_END_DECLS
