/* confab-history.h — the SQLite store of messages and the outbox
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

#include "confab-message.h"

G_BEGIN_DECLS

#define CONFAB_HISTORY_ERROR (confab_history_error_quark ())

typedef enum
{
  CONFAB_HISTORY_ERROR_CORRUPT,  /* the file was not a usable database; it was moved aside */
  CONFAB_HISTORY_ERROR_FAILED,   /* it cannot be opened or written: read-only, full, … */
  CONFAB_HISTORY_ERROR_NEWER,    /* written by a newer Confab; left alone */
} ConfabHistoryError;

#define CONFAB_TYPE_HISTORY (confab_history_get_type ())

G_DECLARE_FINAL_TYPE (ConfabHistory, confab_history, CONFAB, HISTORY, GObject)

GQuark         confab_history_error_quark        (void);
char          *confab_history_default_path       (void);
ConfabHistory *confab_history_open               (const char     *path,
                                                  GError        **error);
const GError  *confab_history_get_recovery       (ConfabHistory  *self);
const char    *confab_history_get_moved_to       (ConfabHistory  *self);
const GError  *confab_history_get_failure        (ConfabHistory  *self);
gboolean       confab_history_add                (ConfabHistory  *self,
                                                  ConfabMessage  *message,
                                                  GError        **error);
gboolean       confab_history_update             (ConfabHistory  *self,
                                                  ConfabMessage  *message,
                                                  GError        **error);
gboolean       confab_history_renumber           (ConfabHistory  *self,
                                                  ConfabMessage  *message,
                                                  GError        **error);
gboolean       confab_history_is_write_through   (ConfabHistory  *self);
gboolean       confab_history_commit             (ConfabHistory  *self,
                                                  GError        **error);
gboolean       confab_history_sync               (ConfabHistory  *self,
                                                  GError        **error);
GPtrArray     *confab_history_load               (ConfabHistory  *self,
                                                  gint64          before,
                                                  guint           limit,
                                                  GError        **error);
GPtrArray     *confab_history_load_unsent        (ConfabHistory  *self,
                                                  GError        **error);
gint64         confab_history_count              (ConfabHistory  *self,
                                                  GError        **error);
gboolean       confab_history_clear              (ConfabHistory  *self,
                                                  GError        **error);
void           confab_history_set_max_pages      (ConfabHistory  *self,
                                                  guint           pages);

G_END_DECLS
