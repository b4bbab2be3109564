/* confab-message-row.h — how one message looks in the list
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gtk/gtk.h>

#include "confab-message.h"

G_BEGIN_DECLS

#define CONFAB_TYPE_MESSAGE_ROW (confab_message_row_get_type ())

G_DECLARE_FINAL_TYPE (ConfabMessageRow, confab_message_row, CONFAB, MESSAGE_ROW, GtkWidget)

ConfabMessageRow *confab_message_row_new         (void);
ConfabMessage    *confab_message_row_get_message (ConfabMessageRow *self);
void              confab_message_row_set_message (ConfabMessageRow *self,
                                                  ConfabMessage    *message);

void              confab_message_row_set_previous (ConfabMessageRow *self,
                                                   ConfabMessage    *previous);

void              confab_message_row_set_first_unread (ConfabMessageRow *self,
                                                       gboolean          first_unread);

char             *confab_message_row_get_spoken   (ConfabMessageRow *self);

G_END_DECLS
