/* confab-conversation.h — the list of messages with one peer, joined to the channel
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

#include "confab-channel.h"
#include "confab-history.h"
#include "confab-message.h"

G_BEGIN_DECLS

/* The largest UDP payload over IPv4: a plain-text message is one datagram. */
#define CONFAB_PLAIN_MAX_LENGTH 65507

/* While a view follows the newest, the most messages added to the list at
 * once: see confab_conversation_get_n_skipped().
 */
#define CONFAB_CONVERSATION_APPEND_MAX 16

#define CONFAB_TYPE_CONVERSATION (confab_conversation_get_type ())

G_DECLARE_FINAL_TYPE (ConfabConversation, confab_conversation, CONFAB, CONVERSATION, GObject)

const char         *confab_default_nickname              (void);
ConfabConversation *confab_conversation_new              (void);
ConfabChannel      *confab_conversation_get_channel      (ConfabConversation  *self);
const char         *confab_conversation_get_nickname     (ConfabConversation  *self);
void                confab_conversation_set_nickname     (ConfabConversation  *self,
                                                          const char          *nickname);
const char         *confab_conversation_get_peer_host    (ConfabConversation  *self);
guint16             confab_conversation_get_peer_port    (ConfabConversation  *self);
void                confab_conversation_set_peer         (ConfabConversation  *self,
                                                          const char          *host,
                                                          guint16              port);
guint16             confab_conversation_get_local_port   (ConfabConversation  *self);
gboolean            confab_conversation_set_local_port   (ConfabConversation  *self,
                                                          guint16              port);
const GError       *confab_conversation_get_bind_error   (ConfabConversation  *self);
ConfabMessage      *confab_conversation_send             (ConfabConversation  *self,
                                                          const char          *text);
void                confab_conversation_retry            (ConfabConversation  *self,
                                                          ConfabMessage       *message);
gboolean            confab_conversation_get_plain_text   (ConfabConversation  *self);
void                confab_conversation_set_plain_text   (ConfabConversation  *self,
                                                          gboolean             plain_text);
gsize               confab_conversation_get_max_length   (ConfabConversation  *self);
void                confab_conversation_set_history_path (ConfabConversation  *self,
                                                          const char          *path);
const char         *confab_conversation_get_history_path (ConfabConversation  *self);
ConfabHistory      *confab_conversation_get_history      (ConfabConversation  *self);
gboolean            confab_conversation_get_keep_history (ConfabConversation  *self);
void                confab_conversation_set_keep_history (ConfabConversation  *self,
                                                          gboolean             keep_history);
const GError       *confab_conversation_get_history_problem
                                                         (ConfabConversation  *self);
gboolean            confab_conversation_get_has_older    (ConfabConversation  *self);
gboolean            confab_conversation_load_older       (ConfabConversation  *self);
gboolean            confab_conversation_clear_history    (ConfabConversation  *self,
                                                          GError             **error);
void                confab_conversation_set_follow_newest
                                                         (ConfabConversation  *self,
                                                          gboolean             follow);
guint64             confab_conversation_get_n_skipped    (ConfabConversation  *self);
void                confab_conversation_hold_sending     (ConfabConversation  *self);
void                confab_conversation_release_sending  (ConfabConversation  *self);
void                confab_conversation_set_passphrase   (ConfabConversation  *self,
                                                          const char          *passphrase);
gboolean            confab_conversation_get_encrypted    (ConfabConversation  *self);
gboolean            confab_conversation_get_deriving     (ConfabConversation  *self);
const char         *confab_conversation_get_safety_code  (ConfabConversation  *self);
const char         *confab_conversation_get_key_error    (ConfabConversation  *self);
void                confab_conversation_set_crypto_state_path
                                                         (ConfabConversation  *self,
                                                          const char          *path);

G_END_DECLS
