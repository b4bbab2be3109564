/* confab-conversation-private.h — what the files of ConfabConversation share
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include "confab-conversation.h"
#include "confab-crypto.h"
#include "confab-history.h"

G_BEGIN_DECLS

struct _ConfabConversation
{
  GObject        parent_instance;

  ConfabChannel *channel;
  GPtrArray     *messages;
  /* The list model shows the first @published messages. Incoming ones are
   * published together once the main loop's batch is done, so a burst
   * makes one ::items-changed rather than one per message.
   */
  guint          published;
  guint          publish_id;
  /* Bounds on how often a view must lay out new rows: see publish_cb() */
  gint64         recent_since;
  guint          published_recently;
  gint64         burst_published_at;
  /* While set, the list is cut to the newest it holds (see publish()). Set
   * when some waiting to be shown were dropped: what was shown then goes too.
   */
  gboolean       follow_newest;
  gboolean       gap;
  /* Incoming messages dropped before they were shown: see skip_waiting() */
  guint64        n_skipped;
  /* Newer messages than the list holds are in the history only, while no
   * view follows the newest: see leave_newest_stored().
   */
  gboolean       newer_stored;
  guint          show_newest_id;
  char          *nickname;
  guint16        local_port;
  GError        *bind_error;
  gboolean       plain_text;

  /* Messages on their way, by protocol id, for ::delivered and ::failed. */
  GHashTable    *in_flight;

  /* The store, while history is kept. The list holds the stored messages
   * from @oldest_loaded on; older ones are read as the person scrolls up.
   */
  ConfabHistory *history;
  char          *history_path;
  gboolean       keep_history;
  gint64         oldest_loaded;
  gboolean       has_older;
  GError        *history_problem;

  /* While held, messages wait here instead of going out: the passphrase's
   * key is on its way, and nothing may leave unsealed meanwhile.
   */
  guint          hold;
  GPtrArray     *held;
  /* Commits what this main-loop turn sends after its first message */
  guint          commit_outgoing_id;
  /* Sending waits for commit_outgoing_id */
  gboolean       holding_for_commit;
  /* A message being sent for the first time, not in the list yet (it goes
   * out first): a failure lists it before it is reported.
   */
  ConfabMessage *unlisted;

  /* Encryption, in confab-conversation-crypto.c */
  char          *crypto_state_path;
  gboolean       holding_for_key;
  char          *key_error;
  GCancellable  *derive_cancellable;
  ConfabKey     *key;
  char          *safety_code;
  gint64         unreadable_reported_at;
};

enum {
  PROP_0,
  PROP_NICKNAME,
  PROP_PEER_HOST,
  PROP_PEER_PORT,
  PROP_LOCAL_PORT,
  PROP_BIND_ERROR,
  PROP_PLAIN_TEXT,
  PROP_KEEP_HISTORY,
  PROP_HISTORY_PROBLEM,
  PROP_HAS_OLDER,
  PROP_ENCRYPTED,
  PROP_DERIVING,
  PROP_SAFETY_CODE,
  PROP_KEY_ERROR,
  N_PROPS
};

enum {
  SEND_FAILED,
  UNREADABLE,
  N_SIGNALS
};

extern GParamSpec *confab_conversation_properties[N_PROPS];
extern guint confab_conversation_signals[N_SIGNALS];

/* confab-conversation.c */
void confab_conversation_transmit        (ConfabConversation *self,
                                          ConfabMessage      *message);

/* confab-conversation-history.c */
void confab_conversation_set_has_older   (ConfabConversation *self,
                                          gboolean            has_older);
void confab_conversation_history_init    (ConfabConversation *self);
gboolean confab_conversation_store       (ConfabConversation *self,
                                          ConfabMessage      *message);
void confab_conversation_store_outgoing  (ConfabConversation *self,
                                          ConfabMessage      *message);
void confab_conversation_remember        (ConfabConversation *self,
                                          ConfabMessage      *message);
void confab_conversation_remember_id     (ConfabConversation *self,
                                          ConfabMessage      *message);
void confab_conversation_show_newest     (ConfabConversation *self);

/* confab-conversation-crypto.c */
void confab_conversation_crypto_init     (ConfabConversation *self);
void confab_conversation_crypto_dispose  (ConfabConversation *self);
void confab_conversation_crypto_finalize (ConfabConversation *self);

G_END_DECLS
