/* confab-window.c — the chat window: message list, entry, header
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <glib/gi18n.h>

#include "confab-message-row.h"
#include "confab-window.h"

struct _ConfabWindow
{
  AdwApplicationWindow  parent_instance;

  ConfabConversation   *conversation;

  /* Template widgets */
  AdwToastOverlay      *toast_overlay;
  AdwWindowTitle       *window_title;
  GtkImage             *encrypted_icon;
  GtkRevealer          *bind_error_revealer;
  GtkLabel             *bind_error_label;
  GtkStack             *stack;
  GtkScrolledWindow    *scrolled_window;
  GtkListView          *list_view;
  GtkNoSelection       *selection;
  GtkSignalListItemFactory *factory;
  GtkEntry             *entry;
  GtkButton            *send_button;
  GtkLabel             *too_long_label;

  /* Whether the list follows new messages: TRUE until the person scrolls up. */
  gboolean              stick_to_bottom;
  gboolean              scroll_after_layout;

  /* The toast reporting send failures while it shows, so that twenty
   * failures make one toast that counts them, not twenty in a row.
   */
  AdwToast             *failure_toast;
  guint                 failures;

  /* Older messages are read in from an idle callback, never from inside
   * the adjustment's own signal.
   */
  guint                 load_older_id;

  /* Messages that arrived while the window was not active, and the newest
   * of them, which a notification shows
   */
  guint                 unread;
  ConfabMessage        *notified;
  /* Of the conversation's skipped messages, how many were seen already */
  guint64               skipped_seen;
  /* The first message that arrived unseen: the "New Messages" divider sits
   * above it until the person writes.
   */
  ConfabMessage        *first_unread;
};

G_DEFINE_FINAL_TYPE (ConfabWindow, confab_window, ADW_TYPE_APPLICATION_WINDOW)

enum {
  PROP_0,
  PROP_CONVERSATION,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

ConfabWindow *
confab_window_new (ConfabApplication *application)
{
  GSettings *settings;
  ConfabWindow *self;

  g_return_val_if_fail (CONFAB_IS_APPLICATION (application), NULL);

  self = g_object_new (CONFAB_TYPE_WINDOW,
                       "application", application,
                       "conversation", confab_application_get_conversation (application),
                       NULL);

  settings = confab_application_get_settings (application);
  g_settings_bind (settings, "window-width", self, "default-width", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "window-height", self, "default-height", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "window-maximized", self, "maximized", G_SETTINGS_BIND_DEFAULT);

  return self;
}

/* A toast's title is Pango markup: text with an error or a host name in it
 * is escaped, or "a&b" would not show.
 */
static AdwToast *
toast_new (const char *text)
{
  g_autofree char *escaped = g_markup_escape_text (text, -1);

  return adw_toast_new (escaped);
}

static void
confab_window_add_toast (ConfabWindow *self,
                         const char   *text)
{
  AdwToast *toast = toast_new (text);

  adw_toast_set_timeout (toast, 5);
  adw_toast_overlay_add_toast (self->toast_overlay, toast);
}

static gboolean
has_text (const char *text)
{
  for (; *text != '\0'; text = g_utf8_next_char (text))
    {
      if (!g_unichar_isspace (g_utf8_get_char (text)))
        return TRUE;
    }

  return FALSE;
}

static gboolean
has_peer (ConfabWindow *self)
{
  return confab_conversation_get_peer_host (self->conversation)[0] != '\0';
}

/* Nothing is ever cut short: a text over the limit stays in the entry, marked,
 * until the person shortens it.
 */
static gboolean
check_length (ConfabWindow *self,
              const char   *text)
{
  gsize length = strlen (text);
  gsize max = confab_conversation_get_max_length (self->conversation);
  gboolean too_long = length > max;

  if (too_long)
    {
      g_autofree char *over = g_format_size_full (length - max, G_FORMAT_SIZE_IEC_UNITS);
      g_autofree char *limit = g_format_size_full (max, G_FORMAT_SIZE_IEC_UNITS);
      /* Translators: both are sizes, like "1.2 KiB" and "64.0 KiB" */
      g_autofree char *message = g_strdup_printf (_("Too long to send: %s over the limit of %s"),
                                                  over, limit);

      gtk_label_set_text (self->too_long_label, message);
      gtk_widget_add_css_class (GTK_WIDGET (self->entry), "error");
    }
  else
    {
      gtk_widget_remove_css_class (GTK_WIDGET (self->entry), "error");
    }

  gtk_widget_set_visible (GTK_WIDGET (self->too_long_label), too_long);

  return !too_long;
}

/* GtkEntry keeps at most this many bytes and silently drops the rest of a
 * longer paste; Confab refuses such a paste instead, and says why.
 */
#define ENTRY_MAX_BYTES 65534

static void
on_entry_insert_text (ConfabWindow *self,
                      const char   *text,
                      int           length,
                      int          *position,
                      GtkEditable  *editable)
{
  GtkEntryBuffer *buffer = gtk_entry_get_buffer (self->entry);
  gsize inserted = length < 0 ? strlen (text) : (gsize)length;

  if (gtk_entry_buffer_get_bytes (buffer) + inserted <= ENTRY_MAX_BYTES)
    return;

  g_signal_stop_emission_by_name (editable, "insert-text");
  gtk_label_set_text (self->too_long_label,
                      _("That text is too long for one message. Nothing was inserted."));
  gtk_widget_set_visible (GTK_WIDGET (self->too_long_label), TRUE);
  gtk_widget_error_bell (GTK_WIDGET (self->entry));
}

static void
update_send_action (ConfabWindow *self)
{
  const char *text = gtk_editable_get_text (GTK_EDITABLE (self->entry));
  gboolean length_ok = check_length (self, text);

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.send",
                                 has_peer (self) && has_text (text) && length_ok);
}

/* The list's own action moves its anchor to the last row; setting the
 * adjustment alone may be undone when GtkListView lays out rows it has not
 * measured yet (GTK 4.8 has no gtk_list_view_scroll_to).
 */
static void
scroll_to_bottom (ConfabWindow *self)
{
  GtkAdjustment *adj = gtk_scrolled_window_get_vadjustment (self->scrolled_window);
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->conversation));

  if (n > 0)
    gtk_widget_activate_action (GTK_WIDGET (self->list_view), "list.scroll-to-item", "u", n - 1);
  gtk_adjustment_set_value (adj, gtk_adjustment_get_upper (adj) - gtk_adjustment_get_page_size (adj));
}

/* While the newest messages are in view, the conversation need not keep
 * every older one in memory.
 */
static void
set_stick_to_bottom (ConfabWindow *self,
                     gboolean      stick)
{
  self->stick_to_bottom = stick;
  confab_conversation_set_follow_newest (self->conversation, stick);
}

/* GTK 4.8's list view places a scroll to an item by the heights of the
 * rows it has laid out, and takes it as done: made before its first
 * allocation, or just after rows were added, it can leave the newest out of
 * sight while the adjustment stands at its end. The scroll is made again
 * once the next layout has measured them.
 */
static void
scroll_to_bottom_after_layout (ConfabWindow  *self,
                               GdkFrameClock *clock)
{
  g_signal_handlers_disconnect_by_func (clock, scroll_to_bottom_after_layout, self);
  self->scroll_after_layout = FALSE;
  if (self->stick_to_bottom)
    scroll_to_bottom (self);
}

static void
scroll_to_bottom_after_next_layout (ConfabWindow *self)
{
  GdkFrameClock *clock = gtk_widget_get_frame_clock (GTK_WIDGET (self));

  /* Not mapped yet: on_first_map() does it. */
  if (clock == NULL || self->scroll_after_layout)
    return;

  self->scroll_after_layout = TRUE;
  g_signal_connect_object (clock, "layout", G_CALLBACK (scroll_to_bottom_after_layout), self,
                           G_CONNECT_SWAPPED | G_CONNECT_AFTER);
}

static gboolean
load_older_cb (gpointer user_data)
{
  ConfabWindow *self = user_data;
  gboolean stick = self->stick_to_bottom;

  self->load_older_id = 0;
  confab_conversation_load_older (self->conversation);

  /* Filling a short view from the history keeps the newest in sight. */
  if (stick)
    {
      set_stick_to_bottom (self, TRUE);
      scroll_to_bottom (self);
    }

  return G_SOURCE_REMOVE;
}

/* Within a screen of the top, or with too few messages to fill the view:
 * read the next older page of the history. Not before the list has a size,
 * and not while the person is at the newest messages of a full view.
 */
static void
maybe_load_older (ConfabWindow  *self,
                  GtkAdjustment *adj)
{
  double upper = gtk_adjustment_get_upper (adj);
  double page = gtk_adjustment_get_page_size (adj);

  if (self->load_older_id != 0 || !confab_conversation_get_has_older (self->conversation))
    return;

  if (upper <= 0 || page <= 0 || gtk_adjustment_get_value (adj) > page)
    return;

  if (self->stick_to_bottom && upper > page)
    return;

  self->load_older_id = g_idle_add_full (G_PRIORITY_DEFAULT_IDLE, load_older_cb, self, NULL);
}

static void
on_adjustment_value_changed (ConfabWindow  *self,
                             GtkAdjustment *adj)
{
  double bottom = gtk_adjustment_get_upper (adj) - gtk_adjustment_get_page_size (adj);

  set_stick_to_bottom (self, gtk_adjustment_get_value (adj) >= bottom - 2.0);
  maybe_load_older (self, adj);
}

/* The list grew or the window was resized: keep the newest message in view,
 * unless the person has scrolled up to read older ones.
 */
static void
on_adjustment_changed (ConfabWindow  *self,
                       GtkAdjustment *adj)
{
  if (self->stick_to_bottom)
    scroll_to_bottom (self);
  maybe_load_older (self, adj);
}

static void
mark_rows (GtkWidget     *widget,
           ConfabMessage *first_unread)
{
  for (GtkWidget *child = gtk_widget_get_first_child (widget);
       child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      if (CONFAB_IS_MESSAGE_ROW (child))
        confab_message_row_set_first_unread (
          CONFAB_MESSAGE_ROW (child),
          first_unread != NULL &&
          confab_message_row_get_message (CONFAB_MESSAGE_ROW (child)) == first_unread);
      else
        mark_rows (child, first_unread);
    }
}

/* Moves the divider; rows bound later take it from the factory. */
static void
set_first_unread (ConfabWindow  *self,
                  ConfabMessage *message)
{
  if (self->first_unread == message)
    return;

  g_set_weak_pointer (&self->first_unread, message);
  mark_rows (GTK_WIDGET (self->list_view), message);
}

static void
confab_window_send (ConfabWindow *self)
{
  const char *text = gtk_editable_get_text (GTK_EDITABLE (self->entry));

  if (!has_text (text) || !check_length (self, text))
    return;

  if (!has_peer (self))
    {
      confab_window_add_toast (self, _("Set a peer in Preferences first"));
      return;
    }

  set_stick_to_bottom (self, TRUE);
  set_first_unread (self, NULL);
  confab_conversation_send (self->conversation, text);
  gtk_editable_set_text (GTK_EDITABLE (self->entry), "");
}

static void
on_entry_activate (ConfabWindow *self,
                   GtkEntry     *entry)
{
  confab_window_send (self);
}

static void
on_entry_changed (ConfabWindow *self,
                  GtkEditable  *editable)
{
  update_send_action (self);
}

static void
send_action (GtkWidget  *widget,
             const char *action_name,
             GVariant   *parameter)
{
  confab_window_send (CONFAB_WINDOW (widget));
}

static void
focus_entry_action (GtkWidget  *widget,
                    const char *action_name,
                    GVariant   *parameter)
{
  ConfabWindow *self = CONFAB_WINDOW (widget);

  gtk_widget_grab_focus (GTK_WIDGET (self->entry));
}

/* Page Up and Down scroll the messages wherever the focus is, as the entry
 * has no use for them.
 */
static void
scroll_page_action (GtkWidget  *widget,
                    const char *action_name,
                    GVariant   *parameter)
{
  ConfabWindow *self = CONFAB_WINDOW (widget);
  GtkAdjustment *adj = gtk_scrolled_window_get_vadjustment (self->scrolled_window);
  double page = gtk_adjustment_get_page_increment (adj);

  if (page <= 0)
    page = gtk_adjustment_get_page_size (adj) * 0.9;

  gtk_adjustment_set_value (adj, gtk_adjustment_get_value (adj) +
                                 g_variant_get_int32 (parameter) * page);
}

static void
update_peer (ConfabWindow *self)
{
  const char *host = confab_conversation_get_peer_host (self->conversation);
  guint port = confab_conversation_get_peer_port (self->conversation);

  if (host[0] == '\0')
    {
      adw_window_title_set_subtitle (self->window_title, _("No peer set"));
      gtk_stack_set_visible_child_name (self->stack, "no-peer");
    }
  else
    {
      /* Translators: the peer in the window's subtitle, e.g. "192.168.1.7 port 48484" */
      g_autofree char *subtitle = g_strdup_printf (_("%s port %u"), host, port);

      adw_window_title_set_subtitle (self->window_title, subtitle);
      gtk_stack_set_visible_child_name (self->stack, "chat");
    }

  gtk_widget_set_sensitive (GTK_WIDGET (self->entry), host[0] != '\0');
  update_send_action (self);
}

static char *
describe_bind_error (const GError *error,
                     guint         port)
{
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE))
    return g_strdup_printf (_("Port %u is in use by another program. "
                              "Choose another local port in Preferences."), port);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED))
    return g_strdup_printf (_("Confab is not allowed to use port %u. "
                              "Choose another local port in Preferences."), port);

  return g_strdup_printf (_("Confab cannot receive on port %u: %s. "
                            "Choose another local port in Preferences."), port, error->message);
}

static void
update_bind_error (ConfabWindow *self)
{
  const GError *error = confab_conversation_get_bind_error (self->conversation);

  if (error != NULL)
    {
      g_autofree char *text =
        describe_bind_error (error, confab_conversation_get_local_port (self->conversation));

      gtk_label_set_text (self->bind_error_label, text);
    }

  gtk_revealer_set_reveal_child (self->bind_error_revealer, error != NULL);
}

static void
on_failure_toast_dismissed (ConfabWindow *self,
                            AdwToast     *toast)
{
  if (self->failure_toast != toast)
    return;

  g_object_remove_weak_pointer (G_OBJECT (toast), (gpointer *)&self->failure_toast);
  self->failure_toast = NULL;
  self->failures = 0;
}

static void
on_send_failed (ConfabWindow       *self,
                ConfabMessage      *message,
                const char         *error,
                ConfabConversation *conversation)
{
  AdwToast *toast;

  if (self->failure_toast != NULL)
    {
      g_autofree char *title = NULL;

      self->failures++;
      title = g_strdup_printf (ngettext ("%u message not sent", "%u messages not sent",
                                         self->failures),
                               self->failures);
      adw_toast_set_title (self->failure_toast, title);  /* digits and words: no markup */
      return;
    }

  {
    /* Translators: a toast; %s says why, e.g. "Could not find “pc.local”" */
    g_autofree char *text = g_strdup_printf (_("Message not sent: %s"), error);

    toast = toast_new (text);
  }
  self->failures = 1;
  adw_toast_set_timeout (toast, 5);
  g_signal_connect_object (toast, "dismissed",
                           G_CALLBACK (on_failure_toast_dismissed), self, G_CONNECT_SWAPPED);
  self->failure_toast = toast;
  g_object_add_weak_pointer (G_OBJECT (toast), (gpointer *)&self->failure_toast);
  adw_toast_overlay_add_toast (self->toast_overlay, toast);
}

static void
on_clear_history_response (ConfabWindow     *self,
                           const char       *response,
                           AdwMessageDialog *dialog)
{
  g_autoptr(GError) error = NULL;

  if (!g_str_equal (response, "clear"))
    return;

  if (!confab_conversation_clear_history (self->conversation, &error))
    {
      /* Translators: a toast; %s says why */
      g_autofree char *text = g_strdup_printf (_("History not cleared: %s"), error->message);

      confab_window_add_toast (self, text);
    }
}

static void
clear_history_action (GtkWidget  *widget,
                      const char *action_name,
                      GVariant   *parameter)
{
  ConfabWindow *self = CONFAB_WINDOW (widget);
  GtkWidget *dialog;

  dialog = adw_message_dialog_new (GTK_WINDOW (self), _("Clear History?"),
                                   _("All messages are deleted from this computer, "
                                     "not only from this window. This cannot be undone."));
  adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog),
                                    "cancel", _("_Cancel"),
                                    "clear", _("C_lear"),
                                    NULL);
  adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), "clear",
                                              ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_default_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  adw_message_dialog_set_close_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  g_signal_connect_object (dialog, "response",
                           G_CALLBACK (on_clear_history_response), self, G_CONNECT_SWAPPED);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
update_clear_history_action (ConfabWindow *self)
{
  gboolean any = g_list_model_get_n_items (G_LIST_MODEL (self->conversation)) > 0 ||
                 confab_conversation_get_has_older (self->conversation);

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.clear-history", any);
}

/* Once per problem, in a dialog: what happened to the history matters, and
 * a moved file's name is too long for a toast.
 */
static void
show_history_problem (ConfabWindow *self)
{
  const GError *problem = confab_conversation_get_history_problem (self->conversation);
  g_autofree char *body = NULL;
  GtkWidget *dialog;

  if (problem == NULL)
    return;

  if (g_error_matches (problem, CONFAB_HISTORY_ERROR, CONFAB_HISTORY_ERROR_CORRUPT))
    {
      dialog = adw_message_dialog_new (GTK_WINDOW (self), _("History Damaged"), problem->message);
    }
  else
    {
      /* Translators: %s says why, e.g. "database or disk is full" */
      body = g_strdup_printf (_("Confab cannot save messages: %s. New messages are kept "
                                "until Confab closes."), problem->message);
      dialog = adw_message_dialog_new (GTK_WINDOW (self), _("History Not Saved"), body);
    }

  adw_message_dialog_add_response (ADW_MESSAGE_DIALOG (dialog), "close", _("_Close"));
  gtk_window_present (GTK_WINDOW (dialog));
}

static gboolean
show_history_problem_cb (gpointer user_data)
{
  show_history_problem (user_data);
  return G_SOURCE_REMOVE;
}

/* For tests/bench/bench-startup: when the first frame was painted (the
 * monotonic clock, µs) and the newest message it shows: none while the
 * conversation is not what the window shows.
 */
static void
report_first_frame (GdkFrameClock *clock,
                    ConfabWindow  *self)
{
  GListModel *model = G_LIST_MODEL (self->conversation);
  guint n = g_list_model_get_n_items (model);
  gboolean chat = g_strcmp0 (gtk_stack_get_visible_child_name (self->stack), "chat") == 0;
  g_autoptr(ConfabMessage) newest = n > 0 && chat ? g_list_model_get_item (model, n - 1) : NULL;

  g_signal_handlers_disconnect_by_func (clock, report_first_frame, self);
  g_print ("first-frame %" G_GINT64_FORMAT " %u %s\n", g_get_monotonic_time (), n,
           newest != NULL ? confab_message_get_text (newest) : "");
  fflush (stdout);
}

/* For tests/bench/bench-flood: how late a 10 ms timeout fires, each time (µs) */
#define PROBE_INTERVAL_MS 10

static gboolean
report_loop_delay (gpointer user_data)
{
  gint64 *last = user_data;
  gint64 now = g_get_monotonic_time ();

  g_print ("loop-delay %" G_GINT64_FORMAT "\n", MAX (0, now - *last - PROBE_INTERVAL_MS * 1000));
  fflush (stdout);
  *last = now;

  return G_SOURCE_CONTINUE;
}

/* A problem found when the history was opened, before this window existed,
 * is shown once the window is up, so that the dialog comes above it.
 */
static void
on_first_map (ConfabWindow *self)
{
  g_signal_handlers_disconnect_by_func (self, on_first_map, NULL);
  scroll_to_bottom_after_next_layout (self);
  g_idle_add_full (G_PRIORITY_DEFAULT_IDLE, show_history_problem_cb,
                   g_object_ref (self), g_object_unref);

  if (g_getenv ("CONFAB_REPORT_LOOP_DELAY") != NULL)
    {
      gint64 *last = g_new (gint64, 1);

      *last = g_get_monotonic_time ();
      g_timeout_add_full (G_PRIORITY_DEFAULT, PROBE_INTERVAL_MS, report_loop_delay, last, g_free);
    }

  if (g_getenv ("CONFAB_REPORT_FIRST_FRAME") != NULL)
    g_signal_connect_object (gtk_widget_get_frame_clock (GTK_WIDGET (self)), "after-paint",
                             G_CALLBACK (report_first_frame), self, 0);
}

/* The conversation already limits this to once a minute. */
static void
on_unreadable (ConfabWindow       *self,
               const char         *host,
               ConfabConversation *conversation)
{
  g_autofree char *text =
    /* Translators: %s is the peer's address */
    g_strdup_printf (_("Messages from %s could not be read. Check that you both use the same "
                       "passphrase."), host);
  AdwToast *toast = toast_new (text);

  adw_toast_set_timeout (toast, 10);
  adw_toast_overlay_add_toast (self->toast_overlay, toast);
}

/* Unread messages and notifications */

#define NOTIFICATION_ID "new-message"
#define NOTIFICATION_BODY_CHARS 200

static void
update_title (ConfabWindow *self)
{
  g_autofree char *title = NULL;

  if (self->unread > 0)
    /* Translators: the window title with the count of unread messages */
    title = g_strdup_printf (_("Confab (%u)"), self->unread);

  gtk_window_set_title (GTK_WINDOW (self), title != NULL ? title : _("Confab"));
}

static void
send_notification (ConfabWindow  *self,
                   ConfabMessage *message)
{
  GtkApplication *application = gtk_window_get_application (GTK_WINDOW (self));
  g_autoptr(GNotification) notification = NULL;
  g_autofree char *body = NULL;
  const char *text = confab_message_get_text (message);

  if (application == NULL ||
      !g_settings_get_boolean (confab_application_get_settings (CONFAB_APPLICATION (application)),
                               "notify"))
    return;

  if (g_utf8_strlen (text, NOTIFICATION_BODY_CHARS + 1) > NOTIFICATION_BODY_CHARS)
    {
      g_autofree char *start = g_utf8_substring (text, 0, NOTIFICATION_BODY_CHARS - 1);

      body = g_strconcat (start, "…", NULL);
    }

  notification = g_notification_new (confab_message_get_sender (message));
  g_notification_set_body (notification, body != NULL ? body : text);
  g_notification_set_default_action (notification, "app.show-message");
  g_application_send_notification (G_APPLICATION (application), NOTIFICATION_ID, notification);
}

/* New messages from the peer, appended while the person looks elsewhere:
 * counted in the title and shown in a notification. Older ones paged in
 * at the top are not new.
 */
static void
on_messages_changed (ConfabWindow *self,
                     guint         position,
                     guint         removed,
                     guint         added,
                     GListModel   *model)
{
  ConfabMessage *newest = NULL;
  guint64 skipped = confab_conversation_get_n_skipped (self->conversation);
  guint64 newly_skipped = skipped - self->skipped_seen;
  gboolean fresh;

  self->skipped_seen = skipped;

  /* Moved to the newest at once: the list lays out no rows where it was.
   * Also when the conversation cut the oldest away, which moves the rest.
   */
  if (self->stick_to_bottom && added > 0)
    {
      scroll_to_bottom (self);
      scroll_to_bottom_after_next_layout (self);
    }

  if (removed > 0 || added == 0 || position + added != g_list_model_get_n_items (model) ||
      gtk_window_is_active (GTK_WINDOW (self)))
    return;

  /* A new stretch of unseen messages starts the divider afresh. */
  fresh = self->unread == 0;
  /* Under a flood some never reach the list; they are new all the same. */
  self->unread += newly_skipped;

  for (guint i = position; i < position + added; i++)
    {
      g_autoptr(ConfabMessage) message = g_list_model_get_item (model, i);

      if (confab_message_get_direction (message) != CONFAB_DIRECTION_INCOMING)
        continue;

      if (fresh)
        set_first_unread (self, message);
      fresh = FALSE;
      self->unread++;
      newest = message;
    }

  if (newest == NULL)
    return;

  g_set_weak_pointer (&self->notified, newest);
  update_title (self);
  send_notification (self, newest);
}

static void
on_active_changed (ConfabWindow *self)
{
  GtkApplication *application = gtk_window_get_application (GTK_WINDOW (self));

  if (!gtk_window_is_active (GTK_WINDOW (self)))
    return;

  self->unread = 0;
  update_title (self);
  if (application != NULL)
    g_application_withdraw_notification (G_APPLICATION (application), NOTIFICATION_ID);
}

/**
 * confab_window_show_notified:
 *
 * Presents the window at the message the last notification showed.
 */
void
confab_window_show_notified (ConfabWindow *self)
{
  GListModel *model;

  g_return_if_fail (CONFAB_IS_WINDOW (self));

  gtk_window_present (GTK_WINDOW (self));
  if (self->notified == NULL)
    return;

  model = G_LIST_MODEL (self->conversation);
  for (guint i = g_list_model_get_n_items (model); i > 0; i--)
    {
      g_autoptr(ConfabMessage) message = g_list_model_get_item (model, i - 1);

      if (message == self->notified)
        {
          gtk_widget_activate_action (GTK_WIDGET (self->list_view), "list.scroll-to-item", "u",
                                      i - 1);
          break;
        }
    }
}

static void
on_row_retry (ConfabWindow     *self,
              ConfabMessageRow *row)
{
  ConfabMessage *message = confab_message_row_get_message (row);

  if (message != NULL)
    confab_conversation_retry (self->conversation, message);
}

static void
on_factory_setup (ConfabWindow             *self,
                  GtkListItem              *item,
                  GtkSignalListItemFactory *factory)
{
  ConfabMessageRow *row = confab_message_row_new ();

  g_signal_connect_object (row, "retry", G_CALLBACK (on_row_retry), self, G_CONNECT_SWAPPED);
  gtk_list_item_set_activatable (item, FALSE);
  gtk_list_item_set_selectable (item, FALSE);
  gtk_list_item_set_child (item, GTK_WIDGET (row));
}

static void
on_factory_bind (ConfabWindow             *self,
                 GtkListItem              *item,
                 GtkSignalListItemFactory *factory)
{
  guint position = gtk_list_item_get_position (item);
  g_autoptr(ConfabMessage) previous = NULL;
  ConfabMessageRow *row = CONFAB_MESSAGE_ROW (gtk_list_item_get_child (item));

  if (position > 0 && position != GTK_INVALID_LIST_POSITION)
    previous = g_list_model_get_item (G_LIST_MODEL (self->conversation), position - 1);

  confab_message_row_set_message (row, gtk_list_item_get_item (item));
  confab_message_row_set_previous (row, previous);
  confab_message_row_set_first_unread (row, self->first_unread != NULL &&
                                            gtk_list_item_get_item (item) == self->first_unread);
}

static void
on_factory_unbind (ConfabWindow             *self,
                   GtkListItem              *item,
                   GtkSignalListItemFactory *factory)
{
  confab_message_row_set_message (CONFAB_MESSAGE_ROW (gtk_list_item_get_child (item)), NULL);
}

static void
confab_window_constructed (GObject *object)
{
  ConfabWindow *self = (ConfabWindow *)object;
  GtkAdjustment *adj;

  G_OBJECT_CLASS (confab_window_parent_class)->constructed (object);

  g_assert (CONFAB_IS_CONVERSATION (self->conversation));

  gtk_no_selection_set_model (self->selection, G_LIST_MODEL (self->conversation));
  set_stick_to_bottom (self, TRUE);

  adj = gtk_scrolled_window_get_vadjustment (self->scrolled_window);
  g_signal_connect_object (adj, "value-changed",
                           G_CALLBACK (on_adjustment_value_changed), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (adj, "changed",
                           G_CALLBACK (on_adjustment_changed), self, G_CONNECT_SWAPPED);

  g_signal_connect_object (self->conversation, "notify::peer-host",
                           G_CALLBACK (update_peer), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->conversation, "notify::peer-port",
                           G_CALLBACK (update_peer), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->conversation, "notify::bind-error",
                           G_CALLBACK (update_bind_error), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->conversation, "notify::local-port",
                           G_CALLBACK (update_bind_error), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->conversation, "notify::plain-text",
                           G_CALLBACK (update_send_action), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->conversation, "notify::encrypted",
                           G_CALLBACK (update_send_action), self, G_CONNECT_SWAPPED);
  g_object_bind_property (self->conversation, "encrypted", self->encrypted_icon, "visible",
                          G_BINDING_SYNC_CREATE);
  g_signal_connect_object (self->conversation, "unreadable",
                           G_CALLBACK (on_unreadable), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->conversation, "items-changed",
                           G_CALLBACK (on_messages_changed), self, G_CONNECT_SWAPPED);
  g_signal_connect (self, "notify::is-active", G_CALLBACK (on_active_changed), NULL);
  g_signal_connect_object (self->conversation, "send-failed",
                           G_CALLBACK (on_send_failed), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->conversation, "notify::history-problem",
                           G_CALLBACK (show_history_problem), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->conversation, "items-changed",
                           G_CALLBACK (update_clear_history_action), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->conversation, "notify::has-older",
                           G_CALLBACK (update_clear_history_action), self, G_CONNECT_SWAPPED);

  update_peer (self);
  update_bind_error (self);
  update_clear_history_action (self);
  g_signal_connect (self, "map", G_CALLBACK (on_first_map), NULL);
  gtk_window_set_focus (GTK_WINDOW (self), GTK_WIDGET (self->entry));
}

static void
confab_window_dispose (GObject *object)
{
  ConfabWindow *self = (ConfabWindow *)object;

  if (self->failure_toast != NULL)
    g_object_remove_weak_pointer (G_OBJECT (self->failure_toast), (gpointer *)&self->failure_toast);
  self->failure_toast = NULL;
  g_clear_handle_id (&self->load_older_id, g_source_remove);
  g_clear_weak_pointer (&self->notified);
  g_clear_weak_pointer (&self->first_unread);
  gtk_widget_dispose_template (GTK_WIDGET (self), CONFAB_TYPE_WINDOW);
  g_clear_object (&self->conversation);

  G_OBJECT_CLASS (confab_window_parent_class)->dispose (object);
}

static void
confab_window_get_property (GObject    *object,
                            guint       prop_id,
                            GValue     *value,
                            GParamSpec *pspec)
{
  ConfabWindow *self = CONFAB_WINDOW (object);

  switch (prop_id)
    {
    case PROP_CONVERSATION:
      g_value_set_object (value, self->conversation);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
confab_window_set_property (GObject      *object,
                            guint         prop_id,
                            const GValue *value,
                            GParamSpec   *pspec)
{
  ConfabWindow *self = CONFAB_WINDOW (object);

  switch (prop_id)
    {
    case PROP_CONVERSATION:
      self->conversation = g_value_dup_object (value);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
confab_window_class_init (ConfabWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->constructed = confab_window_constructed;
  object_class->dispose = confab_window_dispose;
  object_class->get_property = confab_window_get_property;
  object_class->set_property = confab_window_set_property;

  properties[PROP_CONVERSATION] =
    g_param_spec_object ("conversation", NULL, NULL,
                         CONFAB_TYPE_CONVERSATION,
                         (G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/confab/Confab/confab-window.ui");
  gtk_widget_class_bind_template_child (widget_class, ConfabWindow, toast_overlay);
  gtk_widget_class_bind_template_child (widget_class, ConfabWindow, window_title);
  gtk_widget_class_bind_template_child (widget_class, ConfabWindow, encrypted_icon);
  gtk_widget_class_bind_template_child (widget_class, ConfabWindow, bind_error_revealer);
  gtk_widget_class_bind_template_child (widget_class, ConfabWindow, bind_error_label);
  gtk_widget_class_bind_template_child (widget_class, ConfabWindow, stack);
  gtk_widget_class_bind_template_child (widget_class, ConfabWindow, scrolled_window);
  gtk_widget_class_bind_template_child (widget_class, ConfabWindow, list_view);
  gtk_widget_class_bind_template_child (widget_class, ConfabWindow, selection);
  gtk_widget_class_bind_template_child (widget_class, ConfabWindow, factory);
  gtk_widget_class_bind_template_child (widget_class, ConfabWindow, entry);
  gtk_widget_class_bind_template_child (widget_class, ConfabWindow, send_button);
  gtk_widget_class_bind_template_child (widget_class, ConfabWindow, too_long_label);
  gtk_widget_class_bind_template_callback (widget_class, on_entry_activate);
  gtk_widget_class_bind_template_callback (widget_class, on_entry_changed);

  gtk_widget_class_install_action (widget_class, "win.send", NULL, send_action);
  gtk_widget_class_install_action (widget_class, "win.clear-history", NULL,
                                   clear_history_action);
  gtk_widget_class_install_action (widget_class, "win.focus-entry", NULL, focus_entry_action);
  gtk_widget_class_install_action (widget_class, "win.scroll-page", "i", scroll_page_action);

  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "win.focus-entry", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Page_Up, 0, "win.scroll-page",
                                       "i", -1);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Page_Down, 0, "win.scroll-page",
                                       "i", 1);
}

static void
confab_window_init (ConfabWindow *self)
{
  self->stick_to_bottom = TRUE;

  gtk_widget_init_template (GTK_WIDGET (self));

  g_signal_connect_object (gtk_editable_get_delegate (GTK_EDITABLE (self->entry)), "insert-text",
                           G_CALLBACK (on_entry_insert_text), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->factory, "setup",
                           G_CALLBACK (on_factory_setup), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->factory, "bind",
                           G_CALLBACK (on_factory_bind), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->factory, "unbind",
                           G_CALLBACK (on_factory_unbind), self, G_CONNECT_SWAPPED);
}
