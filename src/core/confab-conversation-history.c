/* confab-conversation-history.c — ConfabConversation: its history, paged in, and the outbox
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "confab-conversation"

#include "config.h"

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>

#include "confab-conversation-private.h"

#define properties confab_conversation_properties

/* Enough rows to fill a window of usual height; a taller one reads the
 * next page at once. Each row costs its layout before the first frame.
 */
#define HISTORY_PAGE 25
/* The newest, as the list starts: a window's worth. A view lays out a row
 * for each (the most of a start's time, beside an empty history), and a
 * view taller than them reads the next page once it has a size.
 */
#define FIRST_PAGE 12

static void
set_history_problem (ConfabConversation *self,
                     const GError       *problem)
{
  if (self->history_problem == NULL && problem == NULL)
    return;

  g_clear_error (&self->history_problem);
  self->history_problem = problem != NULL ? g_error_copy (problem) : NULL;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_HISTORY_PROBLEM]);
}

void
confab_conversation_set_has_older (ConfabConversation *self,
                                   gboolean            has_older)
{
  if (self->has_older == has_older)
    return;

  self->has_older = has_older;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_HAS_OLDER]);
}

/* The history reports its first failed write once; after it messages live
 * in the list only.
 */
static void
on_history_failed (ConfabConversation *self,
                   const GError       *error,
                   ConfabHistory      *history)
{
  set_history_problem (self, error);
}

/* Stores a message from the peer, in the dispatch's batch. A failure shows
 * as #ConfabConversation:history-problem.
 *
 * Returns: %FALSE if the history holds it already: it was shown in an
 *   earlier run, and sent again because its ack was lost then
 */
gboolean
confab_conversation_store (ConfabConversation *self,
                           ConfabMessage      *message)
{
  if (self->history == NULL || !confab_history_add (self->history, message, NULL))
    return TRUE;

  return confab_message_get_history_id (message) != 0;
}

static gboolean
commit_outgoing_cb (gpointer user_data)
{
  ConfabConversation *self = user_data;

  self->commit_outgoing_id = 0;
  if (self->history != NULL)
    confab_history_commit (self->history, NULL);
  if (self->holding_for_commit)
    {
      self->holding_for_commit = FALSE;
      confab_conversation_release_sending (self);
    }

  return G_SOURCE_REMOVE;
}

/* A message the person wrote must be on disk before it can reach the peer.
 * With the history's log, it is once added. Without, the first of a
 * main-loop turn is committed and goes at once; any more in the same turn
 * wait for the next, so that they share one commit: a commit per message
 * would bound how fast Confab sends.
 */
void
confab_conversation_store_outgoing (ConfabConversation *self,
                                    ConfabMessage      *message)
{
  if (self->history == NULL || !confab_history_add (self->history, message, NULL) ||
      confab_history_is_write_through (self->history))
    return;

  if (self->commit_outgoing_id == 0)
    {
      confab_history_commit (self->history, NULL);
      self->commit_outgoing_id = g_idle_add_full (G_PRIORITY_HIGH, commit_outgoing_cb, self, NULL);
    }
  else if (!self->holding_for_commit)
    {
      self->holding_for_commit = TRUE;
      confab_conversation_hold_sending (self);
    }
}

/* Stores how a stored message's sending went. */
void
confab_conversation_remember (ConfabConversation *self,
                              ConfabMessage      *message)
{
  if (self->history != NULL)
    confab_history_update (self->history, message, NULL);
}

/* Stores the protocol id a message is sent under now. */
void
confab_conversation_remember_id (ConfabConversation *self,
                                 ConfabMessage      *message)
{
  if (self->history != NULL)
    confab_history_renumber (self->history, message, NULL);
}

static void
on_channel_batch_end (ConfabConversation *self,
                      ConfabChannel      *channel)
{
  /* The channel acknowledges the batch next: it must be on disk first. */
  if (self->history != NULL)
    confab_history_commit (self->history, NULL);
}

/* A message still being sent is one object, wherever it is loaded from. */
static ConfabMessage *
live_message (ConfabConversation *self,
              ConfabMessage      *stored)
{
  ConfabMessageId id = { confab_message_get_origin (stored), confab_message_get_number (stored) };
  ConfabMessage *live;

  if (confab_message_get_direction (stored) != CONFAB_DIRECTION_OUTGOING || id.origin == 0)
    return stored;

  live = g_hash_table_lookup (self->in_flight, &id);
  return live != NULL ? live : stored;
}

static void
prepend_loaded (ConfabConversation *self,
                GPtrArray          *page)
{
  guint n = page->len;
  guint old_len = self->messages->len;

  if (n == 0)
    return;

  g_ptr_array_set_size (self->messages, old_len + n);
  memmove (self->messages->pdata + n, self->messages->pdata, old_len * sizeof (gpointer));
  for (guint i = 0; i < n; i++)
    self->messages->pdata[i] = g_object_ref (live_message (self, g_ptr_array_index (page, i)));

  self->oldest_loaded = confab_message_get_history_id (g_ptr_array_index (page, 0));
  self->published += n;
  g_list_model_items_changed (G_LIST_MODEL (self), 0, 0, n);

  /* The message that was first now has one before it (a view shows its day
   * and group by what precedes it).
   */
  if (old_len > 0 && n < self->published)
    g_list_model_items_changed (G_LIST_MODEL (self), n, 1, 1);
}

/* Empties the list, with @has_older telling whether the history holds more. */
static void
empty_list (ConfabConversation *self,
            gboolean            has_older)
{
  guint removed = self->published;

  g_clear_handle_id (&self->publish_id, g_source_remove);
  g_ptr_array_set_size (self->messages, 0);
  self->published = 0;
  self->oldest_loaded = 0;
  self->gap = FALSE;
  self->newer_stored = FALSE;
  confab_conversation_set_has_older (self, has_older);
  if (removed > 0)
    g_list_model_items_changed (G_LIST_MODEL (self), 0, removed, 0);
}

/**
 * confab_conversation_load_older:
 *
 * Puts the next page of older stored messages at the start of the list.
 *
 * Returns: %TRUE if there were any
 */
gboolean
confab_conversation_load_older (ConfabConversation *self)
{
  g_autoptr(GPtrArray) page = NULL;
  g_autoptr(GError) error = NULL;
  guint size;

  g_return_val_if_fail (CONFAB_IS_CONVERSATION (self), FALSE);

  if (self->history == NULL || !self->has_older)
    return FALSE;

  size = self->messages->len == 0 ? FIRST_PAGE : HISTORY_PAGE;
  /* One more than a page, to know whether any are left */
  page = confab_history_load (self->history, self->oldest_loaded, size + 1, &error);
  if (page == NULL)
    {
      g_message ("Older messages cannot be read: %s", error->message);
      confab_conversation_set_has_older (self, FALSE);
      set_history_problem (self, error);
      return FALSE;
    }

  confab_conversation_set_has_older (self, page->len > size);
  if (page->len > size)
    g_ptr_array_remove_index (page, 0);
  prepend_loaded (self, page);

  return page->len > 0;
}

/* Moves the list on to the newest page of the history, when messages newer
 * than it were left there (see leave_newest_stored()).
 */
void
confab_conversation_show_newest (ConfabConversation *self)
{
  empty_list (self, TRUE);
  confab_conversation_load_older (self);
}

gboolean
confab_conversation_get_has_older (ConfabConversation *self)
{
  g_return_val_if_fail (CONFAB_IS_CONVERSATION (self), FALSE);

  return self->has_older;
}

static ConfabMessage *
find_loaded (ConfabConversation *self,
             gint64              history_id)
{
  for (guint i = 0; i < self->messages->len; i++)
    {
      ConfabMessage *message = g_ptr_array_index (self->messages, i);

      if (confab_message_get_history_id (message) == history_id)
        return message;
    }

  return NULL;
}

/* What was still being sent when Confab last stopped goes out again under
 * its id, so the peer shows it once. Plain text has no id: it may have gone
 * out already, so the person decides.
 */
static void
resume_outbox (ConfabConversation *self)
{
  g_autoptr(GPtrArray) unsent = confab_history_load_unsent (self->history, NULL);

  for (guint i = 0; unsent != NULL && i < unsent->len; i++)
    {
      ConfabMessage *stored = g_ptr_array_index (unsent, i);
      ConfabMessage *message = find_loaded (self, confab_message_get_history_id (stored));

      if (message == NULL)
        message = stored;

      if (confab_message_get_plain (message))
        {
          confab_message_set_error (message, _("Confab closed before this message was sent"));
          confab_message_set_state (message, CONFAB_MESSAGE_STATE_FAILED);
          confab_conversation_remember (self, message);
        }
      else if (g_strcmp0 (confab_message_get_peer_host (message),
                          confab_conversation_get_peer_host (self)) != 0 ||
               confab_message_get_peer_port (message) != confab_conversation_get_peer_port (self))
        {
          /* Written to another peer: the person decides, with Retry. */
          g_autofree char *reason =
            /* Translators: a message's error; %s port %u is the peer it was written to */
            g_strdup_printf (_("Not sent: it was written to %s port %u"),
                             confab_message_get_peer_host (message),
                             confab_message_get_peer_port (message));

          confab_message_set_error (message, reason);
          confab_message_set_state (message, CONFAB_MESSAGE_STATE_FAILED);
          confab_conversation_remember (self, message);
        }
      else
        {
          confab_conversation_transmit (self, message);
        }
    }
}

static void
open_history (ConfabConversation *self)
{
  g_autoptr(GError) error = NULL;

  self->history = confab_history_open (self->history_path, &error);
  if (self->history == NULL)
    {
      g_message ("No history is kept: %s", error->message);
      set_history_problem (self, error);
      return;
    }

  g_signal_connect_object (self->history, "failed",
                           G_CALLBACK (on_history_failed), self, G_CONNECT_SWAPPED);
  set_history_problem (self, confab_history_get_recovery (self->history) != NULL
                             ? confab_history_get_recovery (self->history)
                             : confab_history_get_failure (self->history));

  self->oldest_loaded = 0;
  confab_conversation_set_has_older (self, TRUE);
  confab_conversation_load_older (self);
  resume_outbox (self);
}

static void
forget_history_ids (ConfabConversation *self)
{
  GHashTableIter iter;
  gpointer message;

  for (guint i = 0; i < self->messages->len; i++)
    confab_message_set_history_id (g_ptr_array_index (self->messages, i), 0);

  g_hash_table_iter_init (&iter, self->in_flight);
  while (g_hash_table_iter_next (&iter, NULL, &message))
    confab_message_set_history_id (message, 0);
}

static void
close_history (ConfabConversation *self,
               gboolean            clear)
{
  if (self->history == NULL)
    return;

  if (clear)
    confab_history_clear (self->history, NULL);

  g_signal_handlers_disconnect_by_data (self->history, self);
  g_clear_object (&self->history);
  forget_history_ids (self);
  self->oldest_loaded = 0;
  confab_conversation_set_has_older (self, FALSE);
}

/* History off: the file is emptied, even one left from an earlier run. */
static void
empty_history_file (ConfabConversation *self)
{
  g_autoptr(ConfabHistory) history = NULL;

  if (!g_file_test (self->history_path, G_FILE_TEST_EXISTS))
    return;

  history = confab_history_open (self->history_path, NULL);
  if (history != NULL)
    confab_history_clear (history, NULL);

  /* A damaged file moved aside here would keep what was to be deleted. */
  if (history != NULL && confab_history_get_moved_to (history) != NULL)
    {
      g_autofree char *wal = g_strconcat (confab_history_get_moved_to (history), "-wal", NULL);

      g_unlink (confab_history_get_moved_to (history));
      g_unlink (wal);
    }
}

static void
apply_keep_history (ConfabConversation *self)
{
  if (self->history_path == NULL)
    return;

  if (self->keep_history && self->history == NULL)
    open_history (self);
  else if (!self->keep_history && self->history != NULL)
    close_history (self, TRUE);
  else if (!self->keep_history)
    empty_history_file (self);
}


void
confab_conversation_history_init (ConfabConversation *self)
{
  g_signal_connect_object (confab_conversation_get_channel (self), "batch-end",
                           G_CALLBACK (on_channel_batch_end), self,
                           G_CONNECT_SWAPPED);
}

/**
 * confab_conversation_set_history_path:
 * @path: (nullable): the history database; %NULL for none
 *
 * Where messages are kept while #ConfabConversation:keep-history is on.
 */
void
confab_conversation_set_history_path (ConfabConversation *self,
                                      const char         *path)
{
  g_return_if_fail (CONFAB_IS_CONVERSATION (self));

  if (g_strcmp0 (path, self->history_path) == 0)
    return;

  close_history (self, FALSE);
  g_free (self->history_path);
  self->history_path = g_strdup (path);
  apply_keep_history (self);
}

/**
 * confab_conversation_get_history:
 *
 * Returns: (transfer none) (nullable): the store, while history is kept
 */
ConfabHistory *
confab_conversation_get_history (ConfabConversation *self)
{
  g_return_val_if_fail (CONFAB_IS_CONVERSATION (self), NULL);

  return self->history;
}

/**
 * confab_conversation_get_history_path:
 *
 * Returns: (nullable): where history is kept, if anywhere
 */
const char *
confab_conversation_get_history_path (ConfabConversation *self)
{
  g_return_val_if_fail (CONFAB_IS_CONVERSATION (self), NULL);

  return self->history_path;
}

gboolean
confab_conversation_get_keep_history (ConfabConversation *self)
{
  g_return_val_if_fail (CONFAB_IS_CONVERSATION (self), FALSE);

  return self->keep_history;
}

/**
 * confab_conversation_set_keep_history:
 * @keep_history: %TRUE to store messages in the history file
 *
 * On: the stored messages are loaded, the newest first, and those never
 * acknowledged are sent again. Off: messages live in memory only and the
 * history file is emptied.
 */
void
confab_conversation_set_keep_history (ConfabConversation *self,
                                      gboolean            keep_history)
{
  g_return_if_fail (CONFAB_IS_CONVERSATION (self));

  keep_history = !!keep_history;
  if (self->keep_history == keep_history)
    return;

  self->keep_history = keep_history;
  apply_keep_history (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_KEEP_HISTORY]);
}

/**
 * confab_conversation_get_history_problem:
 *
 * Returns: (nullable): see #ConfabConversation:history-problem
 */
const GError *
confab_conversation_get_history_problem (ConfabConversation *self)
{
  g_return_val_if_fail (CONFAB_IS_CONVERSATION (self), NULL);

  return self->history_problem;
}

/**
 * confab_conversation_clear_history:
 *
 * Deletes every message from the history file and the list. Messages on
 * their way still arrive; they just are not shown.
 *
 * Returns: %FALSE, with the list untouched, if the file could not be changed
 */
gboolean
confab_conversation_clear_history (ConfabConversation  *self,
                                   GError             **error)
{
  g_return_val_if_fail (CONFAB_IS_CONVERSATION (self), FALSE);

  if (self->history != NULL && !confab_history_clear (self->history, error))
    return FALSE;

  empty_list (self, FALSE);
  return TRUE;
}

