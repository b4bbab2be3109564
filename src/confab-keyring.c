/* confab-keyring.c — the shared passphrase in the user's keyring (Secret Service)
 *
 * One item, found by its schema and a "purpose" attribute. Any error (no
 * session bus, no Secret Service, a locked keyring the person would not
 * open) means the passphrase is kept for this session only; the caller
 * says so.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "confab-keyring"

#include "config.h"

#include <glib/gi18n.h>
#include <libsecret/secret.h>

#include "confab-keyring.h"

static const SecretSchema *
passphrase_schema (void)
{
  static const SecretSchema schema = {
    APP_ID ".Passphrase", SECRET_SCHEMA_NONE,
    {
      { "purpose", SECRET_SCHEMA_ATTRIBUTE_STRING },
      { "NULL", 0 },
    }
  };

  return &schema;
}

#define ATTRIBUTES "purpose", "shared-passphrase", NULL

/**
 * confab_keyring_lookup_async:
 *
 * Reads the stored passphrase, if any.
 */
void
confab_keyring_lookup_async (GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  secret_password_lookup (passphrase_schema (), cancellable, callback, user_data, ATTRIBUTES);
}

/**
 * confab_keyring_lookup_finish:
 *
 * Returns: (transfer full) (nullable): the passphrase (free it with
 *   confab_keyring_free_secret()), or %NULL with no error if none is stored
 */
char *
confab_keyring_lookup_finish (GAsyncResult  *result,
                              GError       **error)
{
  return secret_password_lookup_finish (result, error);
}

void
confab_keyring_free_secret (char *passphrase)
{
  secret_password_free (passphrase);
}

static void
stored_cb (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;
  gboolean clearing = GPOINTER_TO_INT (g_task_get_task_data (task));

  /* Clearing what is not there is no error. */
  if (clearing)
    secret_password_clear_finish (result, &error);
  else
    secret_password_store_finish (result, &error);

  if (error != NULL)
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

/**
 * confab_keyring_store_async:
 * @passphrase: (nullable): the passphrase to keep; %NULL or "" deletes it
 */
void
confab_keyring_store_async (const char          *passphrase,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);
  gboolean clearing = passphrase == NULL || passphrase[0] == '\0';

  g_task_set_source_tag (task, confab_keyring_store_async);
  g_task_set_task_data (task, GINT_TO_POINTER (clearing), NULL);

  if (clearing)
    secret_password_clear (passphrase_schema (), cancellable, stored_cb, task, ATTRIBUTES);
  else
    /* Translators: the keyring item's name, shown in Passwords and Keys */
    secret_password_store (passphrase_schema (), SECRET_COLLECTION_DEFAULT,
                           _("Confab shared passphrase"), passphrase,
                           cancellable, stored_cb, task, ATTRIBUTES);
}

gboolean
confab_keyring_store_finish (GAsyncResult  *result,
                             GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}
