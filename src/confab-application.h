/* confab-application.h — the application: settings, actions, the conversation
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <adwaita.h>

#include "confab-conversation.h"

G_BEGIN_DECLS

#define CONFAB_TYPE_APPLICATION (confab_application_get_type ())

G_DECLARE_FINAL_TYPE (ConfabApplication, confab_application, CONFAB, APPLICATION, AdwApplication)

ConfabApplication  *confab_application_new              (void);
GSettings          *confab_application_get_settings     (ConfabApplication *self);
ConfabConversation *confab_application_get_conversation (ConfabApplication *self);
void                confab_application_show_preferences (ConfabApplication *self);
void                confab_application_set_passphrase   (ConfabApplication *self,
                                                         const char        *passphrase);
const char         *confab_application_get_passphrase   (ConfabApplication *self);
gboolean            confab_application_get_passphrase_session_only
                                                        (ConfabApplication *self);
gboolean            confab_parse_peer                   (const char        *text,
                                                         guint16            default_port,
                                                         char             **host,
                                                         guint16           *port);

G_END_DECLS
