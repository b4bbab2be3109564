/* test-window.c — the real window, entry, list and Preferences over loopback
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include "confab-channel.h"

#include "confab-application.h"
#include "confab-message-row.h"
#include "confab-preferences-window.h"
#include "confab-window.h"
#include "test-util.h"

typedef gboolean (*Condition) (gpointer data);

typedef struct
{
  ConfabApplication *app;
  GSettings         *settings;
  ConfabWindow      *window;
  GSocket           *peer;
  guint16            peer_port;
  char              *dir;
  char              *history_path;
} Fixture;

/* What the test's notification server was asked: "Add <id> <title>: <body>",
 * "Remove <id>"
 */
static GPtrArray *notification_calls;

/* Only a failure gets near the limit: the sanitizer build is slow. */
static void
wait_until (Condition condition,
            gpointer  data)
{
  g_assert_true (test_wait_until (condition, data, 30));
}

static GSocket *
loopback_socket (guint16 *port)
{
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new_from_string ("127.0.0.1", 0);
  g_autoptr(GSocketAddress) local = NULL;
  GSocket *socket;

  socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
                         G_SOCKET_PROTOCOL_UDP, NULL);
  g_assert_nonnull (socket);
  g_assert_true (g_socket_bind (socket, any, FALSE, NULL));
  g_socket_set_blocking (socket, FALSE);
  local = g_socket_get_local_address (socket, NULL);
  *port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local));

  return socket;
}

/* A port that was free a moment ago, for the app to bind. */
static guint16
free_port (void)
{
  g_autoptr(GSocket) socket = NULL;
  guint16 port;

  socket = loopback_socket (&port);
  g_socket_close (socket, NULL);

  return port;
}

static gpointer
template_child (gpointer    widget,
                GType       type,
                const char *name)
{
  gpointer child = gtk_widget_get_template_child (GTK_WIDGET (widget), type, name);

  g_assert_nonnull (child);
  return child;
}

static GtkWidget *
descendant_with_class (GtkWidget  *widget,
                       const char *style_class)
{
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = gtk_widget_has_css_class (child, style_class)
                           ? child : descendant_with_class (child, style_class);

      if (found != NULL)
        return found;
    }

  return NULL;
}

/* A message row's widget: one of its template, or one it makes when first
 * needed (known by its style class), %NULL until then.
 */
static GtkWidget *
row_child_or_null (GtkWidget  *row,
                   const char *name)
{
  static const struct { const char *name, *style_class; } made_later[] = {
    { "day_label", "confab-day" },
    { "unread_label", "confab-unread" },
    { "retry_button", "confab-retry" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (made_later); i++)
    if (g_str_equal (name, made_later[i].name))
      return descendant_with_class (row, made_later[i].style_class);

  return template_child (row, CONFAB_TYPE_MESSAGE_ROW, name);
}

static GtkWidget *
row_child (GtkWidget  *row,
           const char *name)
{
  GtkWidget *child = row_child_or_null (row, name);

  g_assert_nonnull (child);
  return child;
}

static gboolean
row_child_visible (GtkWidget  *row,
                   const char *name)
{
  GtkWidget *child = row_child_or_null (row, name);

  return child != NULL && gtk_widget_get_visible (child);
}

static gboolean
retry_shown (gpointer row)
{
  return row_child_visible (row, "retry_button");
}

static ConfabConversation *
fixture_conversation (Fixture *fixture)
{
  return confab_application_get_conversation (fixture->app);
}

/* How many messages the history holds when the window opens */
static guint prefill_count;

static void prefill_history (const char *path,
                             guint       count,
                             const char *padding);

static void
fixture_setup (Fixture       *fixture,
               gconstpointer  data)
{
  const char *peer_host = data != NULL ? data : "127.0.0.1";
  g_autoptr(GError) error = NULL;

  fixture->peer = loopback_socket (&fixture->peer_port);
  fixture->settings = g_settings_new (APP_ID);
  g_settings_set_string (fixture->settings, "nickname", "tester");
  g_settings_set_string (fixture->settings, "peer-host", peer_host);
  g_settings_set_int (fixture->settings, "peer-port", fixture->peer_port);
  g_settings_set_int (fixture->settings, "local-port", free_port ());
  /* The fixture's peer is a bare socket, as netcat would be. */
  g_settings_set_boolean (fixture->settings, "plain-text", TRUE);

  fixture->app = confab_application_new ();
  g_application_set_flags (G_APPLICATION (fixture->app), G_APPLICATION_NON_UNIQUE);
  g_application_register (G_APPLICATION (fixture->app), NULL, &error);
  g_assert_no_error (error);

  /* A history of the test's own, then the window as the desktop opens it */
  fixture->dir = test_make_tmpdir ("window");
  fixture->history_path = g_build_filename (fixture->dir, "history.db", NULL);
  if (prefill_count > 0)
    prefill_history (fixture->history_path, prefill_count,
                     " — a line long enough to wrap, as real messages do, so that the list "
                     "cannot guess the height of rows it has not measured yet");
  confab_conversation_set_history_path (fixture_conversation (fixture), fixture->history_path);
  g_application_activate (G_APPLICATION (fixture->app));
  fixture->window = gtk_application_get_windows (GTK_APPLICATION (fixture->app))->data;
  g_assert_true (CONFAB_IS_WINDOW (fixture->window));
  test_run_for (50);
}

static void
fixture_teardown (Fixture       *fixture,
                  gconstpointer  data)
{
  GList *windows;

  while ((windows = gtk_application_get_windows (GTK_APPLICATION (fixture->app))) != NULL)
    gtk_window_destroy (windows->data);
  test_run_for (20);

  g_clear_object (&fixture->app);
  g_clear_object (&fixture->settings);
  g_clear_object (&fixture->peer);
  test_remove_tree (fixture->dir);
  g_clear_pointer (&fixture->dir, g_free);
  g_clear_pointer (&fixture->history_path, g_free);
}

typedef struct
{
  GtkWidget  *root;
  const char *text;
  GtkWidget  *found;
} RowSearch;

static GtkWidget *
find_row (GtkWidget  *widget,
          const char *text)
{
  for (GtkWidget *child = gtk_widget_get_first_child (widget);
       child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found;

      if (CONFAB_IS_MESSAGE_ROW (child))
        {
          ConfabMessage *message = confab_message_row_get_message (CONFAB_MESSAGE_ROW (child));

          if (message != NULL && g_str_equal (confab_message_get_text (message), text))
            return child;
        }
      else if ((found = find_row (child, text)) != NULL)
        {
          return found;
        }
    }

  return NULL;
}

static gboolean
row_shown (gpointer data)
{
  RowSearch *search = data;

  search->found = find_row (search->root, search->text);
  return search->found != NULL;
}

static GtkWidget *
wait_for_row (Fixture    *fixture,
              const char *text)
{
  RowSearch search = { GTK_WIDGET (fixture->window), text, NULL };

  wait_until (row_shown, &search);
  return search.found;
}

static gboolean
datagram_waiting (gpointer data)
{
  return g_socket_condition_check (data, G_IO_IN) & G_IO_IN;
}

static void
send_from_peer (Fixture    *fixture,
                const char *text,
                guint16     port)
{
  g_autoptr(GSocketAddress) target = g_inet_socket_address_new_from_string ("127.0.0.1", port);
  gssize len = strlen (text);

  g_assert_cmpint (g_socket_send_to (fixture->peer, target, text, len, NULL, NULL), ==, len);
}

/* "@prefix 0" to "@prefix @count-1" from the peer; with @pause_every, the
 * main loop runs a moment after each so many, so that the socket's buffer
 * holds them all
 */
static void
send_lines_from_peer (Fixture    *fixture,
                      const char *prefix,
                      guint       count,
                      guint       pause_every,
                      guint16     port)
{
  for (guint i = 0; i < count; i++)
    {
      g_autofree char *text = g_strdup_printf ("%s %u", prefix, i);

      send_from_peer (fixture, text, port);
      if (pause_every > 0 && i % pause_every == pause_every - 1)
        test_run_for (5);
    }
}

static GtkScrolledWindow *
fixture_scrolled (Fixture *fixture)
{
  return template_child (fixture->window, CONFAB_TYPE_WINDOW, "scrolled_window");
}

static void
test_window_send_from_entry (Fixture       *fixture,
                             gconstpointer  data)
{
  const char *text = "grüße ✓ <b>not bold</b>";
  GtkEditable *entry = template_child (fixture->window, CONFAB_TYPE_WINDOW, "entry");
  ConfabConversation *conversation = fixture_conversation (fixture);
  g_autoptr(ConfabMessage) message = NULL;
  GtkWidget *row;
  GtkLabel *label;
  char buffer[256];
  gssize len;

  gtk_editable_set_text (entry, text);
  g_signal_emit_by_name (entry, "activate");

  g_assert_cmpstr (gtk_editable_get_text (entry), ==, "");
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (conversation)), ==, 1);
  message = g_list_model_get_item (G_LIST_MODEL (conversation), 0);
  g_assert_cmpstr (confab_message_get_text (message), ==, text);
  g_assert_cmpint (confab_message_get_direction (message), ==, CONFAB_DIRECTION_OUTGOING);

  /* The peer gets exactly the bytes typed, as nc -u would print them. */
  wait_until (datagram_waiting, fixture->peer);
  len = g_socket_receive (fixture->peer, buffer, sizeof buffer, NULL, NULL);
  g_assert_cmpint (len, ==, strlen (text));
  g_assert_cmpmem (buffer, len, text, strlen (text));

  row = wait_for_row (fixture, text);
  label = template_child (row, CONFAB_TYPE_MESSAGE_ROW, "text_label");
  g_assert_cmpstr (gtk_label_get_label (label), ==, text);
  g_assert_false (gtk_label_get_use_markup (label));
  label = template_child (row, CONFAB_TYPE_MESSAGE_ROW, "sender_label");
  g_assert_cmpstr (gtk_label_get_label (label), ==, "tester");
  g_assert_true (gtk_widget_has_css_class (template_child (row, CONFAB_TYPE_MESSAGE_ROW, "bubble"),
                                           "outgoing"));

  /* A blank line is not a message. */
  gtk_editable_set_text (entry, "   ");
  g_signal_emit_by_name (entry, "activate");
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (conversation)), ==, 1);
}

static void
test_window_shows_incoming (Fixture       *fixture,
                            gconstpointer  data)
{
  ConfabConversation *conversation = fixture_conversation (fixture);
  GtkWidget *row;
  GtkLabel *label;

  send_from_peer (fixture, "<i>hello</i> from nc\n", confab_conversation_get_local_port (conversation));

  row = wait_for_row (fixture, "<i>hello</i> from nc");
  label = template_child (row, CONFAB_TYPE_MESSAGE_ROW, "text_label");
  g_assert_false (gtk_label_get_use_markup (label));
  g_assert_cmpstr (gtk_label_get_text (label), ==, "<i>hello</i> from nc");
  g_assert_true (gtk_widget_has_css_class (template_child (row, CONFAB_TYPE_MESSAGE_ROW, "bubble"),
                                           "incoming"));
}

static void
test_window_subtitle_and_no_peer (Fixture       *fixture,
                                  gconstpointer  data)
{
  AdwWindowTitle *title = template_child (fixture->window, CONFAB_TYPE_WINDOW, "window_title");
  GtkStack *stack = template_child (fixture->window, CONFAB_TYPE_WINDOW, "stack");
  g_autofree char *expected = g_strdup_printf ("127.0.0.1 port %u", fixture->peer_port);

  g_assert_cmpstr (adw_window_title_get_subtitle (title), ==, expected);
  g_assert_cmpstr (gtk_stack_get_visible_child_name (stack), ==, "chat");

  g_settings_set_string (fixture->settings, "peer-host", "");
  g_assert_cmpstr (adw_window_title_get_subtitle (title), ==, "No peer set");
  g_assert_cmpstr (gtk_stack_get_visible_child_name (stack), ==, "no-peer");

  g_settings_set_string (fixture->settings, "peer-host", "fe80::1");
  g_settings_set_int (fixture->settings, "peer-port", 48484);
  g_assert_cmpstr (adw_window_title_get_subtitle (title), ==, "fe80::1 port 48484");
  g_assert_cmpstr (gtk_stack_get_visible_child_name (stack), ==, "chat");
}

static ConfabPreferencesWindow *
open_preferences (Fixture *fixture)
{
  g_action_group_activate_action (G_ACTION_GROUP (fixture->app), "preferences", NULL);

  for (GList *l = gtk_application_get_windows (GTK_APPLICATION (fixture->app)); l; l = l->next)
    {
      if (CONFAB_IS_PREFERENCES_WINDOW (l->data))
        return l->data;
    }

  g_assert_not_reached ();
}

static void
test_window_preferences_reject_bad_port (Fixture       *fixture,
                                         gconstpointer  data)
{
  ConfabPreferencesWindow *prefs = open_preferences (fixture);
  GtkWidget *row = template_child (prefs, CONFAB_TYPE_PREFERENCES_WINDOW, "local_port_row");
  int before = g_settings_get_int (fixture->settings, "local-port");
  const char *bad[] = { "70000", "0", "-5", "port", "12ab", "" };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      gtk_editable_set_text (GTK_EDITABLE (row), bad[i]);
      g_assert_true (gtk_widget_has_css_class (row, "error"));
      g_signal_emit_by_name (row, "apply");
      g_assert_cmpint (g_settings_get_int (fixture->settings, "local-port"), ==, before);
    }

  gtk_editable_set_text (GTK_EDITABLE (row), "48484");
  g_assert_false (gtk_widget_has_css_class (row, "error"));
}

static gboolean
message_count_is (gpointer data)
{
  gpointer *args = data;

  return g_list_model_get_n_items (args[0]) == GPOINTER_TO_UINT (args[1]);
}

static void
test_window_preferences_rebind (Fixture       *fixture,
                                gconstpointer  data)
{
  ConfabConversation *conversation = fixture_conversation (fixture);
  ConfabPreferencesWindow *prefs = open_preferences (fixture);
  GtkWidget *row = template_child (prefs, CONFAB_TYPE_PREFERENCES_WINDOW, "local_port_row");
  guint16 old_port = confab_conversation_get_local_port (conversation);
  guint16 new_port = free_port ();
  g_autofree char *text = g_strdup_printf ("%u", new_port);
  gpointer args[] = { conversation, GUINT_TO_POINTER (1) };

  gtk_editable_set_text (GTK_EDITABLE (row), text);
  g_signal_emit_by_name (row, "apply");
  g_assert_cmpint (g_settings_get_int (fixture->settings, "local-port"), ==, new_port);
  g_assert_cmpuint (confab_conversation_get_local_port (conversation), ==, new_port);

  /* The old port is closed; the new one hears the peer. */
  send_from_peer (fixture, "to the old port", old_port);
  send_from_peer (fixture, "to the new port", new_port);
  wait_for_row (fixture, "to the new port");
  test_run_for (100);
  g_assert_true (message_count_is (args));
}

static void
test_window_port_in_use (Fixture       *fixture,
                         gconstpointer  data)
{
  ConfabConversation *conversation = fixture_conversation (fixture);
  GtkRevealer *revealer = template_child (fixture->window, CONFAB_TYPE_WINDOW, "bind_error_revealer");
  GtkLabel *label = template_child (fixture->window, CONFAB_TYPE_WINDOW, "bind_error_label");
  g_autofree char *expected = NULL;
  guint16 port = free_port ();

  g_assert_false (gtk_revealer_get_reveal_child (revealer));

  /* The peer's own port is taken: binding it must fail, with words. */
  g_settings_set_int (fixture->settings, "local-port", fixture->peer_port);
  g_assert_true (gtk_revealer_get_reveal_child (revealer));
  expected = g_strdup_printf ("Port %u is in use by another program. "
                              "Choose another local port in Preferences.", fixture->peer_port);
  g_assert_cmpstr (gtk_label_get_text (label), ==, expected);

  /* Fixing it recovers without a restart. */
  g_settings_set_int (fixture->settings, "local-port", port);
  g_assert_false (gtk_revealer_get_reveal_child (revealer));
  g_assert_cmpuint (confab_conversation_get_local_port (conversation), ==, port);
  send_from_peer (fixture, "after the fix", port);
  wait_for_row (fixture, "after the fix");
}

static void
test_window_send_failure_marks_row (Fixture       *fixture,
                                    gconstpointer  data)
{
  GtkEditable *entry = template_child (fixture->window, CONFAB_TYPE_WINDOW, "entry");
  GtkWidget *row;

  g_settings_set_string (fixture->settings, "peer-host", "nonexistent.invalid");
  gtk_editable_set_text (entry, "lost in the void?");
  g_signal_emit_by_name (entry, "activate");

  row = wait_for_row (fixture, "lost in the void?");
  wait_until (retry_shown, row);
  g_assert_true (gtk_widget_has_css_class (template_child (row, CONFAB_TYPE_MESSAGE_ROW, "bubble"),
                                           "failed"));

  /* Retry after fixing the peer sends the kept text. */
  g_settings_set_string (fixture->settings, "peer-host", "127.0.0.1");
  gtk_widget_activate_action (row, "row.retry", NULL);
  wait_until (datagram_waiting, fixture->peer);
  wait_until ((Condition)gtk_widget_get_visible, template_child (row, CONFAB_TYPE_MESSAGE_ROW, "state_box"));
  g_assert_false (row_child_visible (row, "retry_button"));
}

static gboolean
at_bottom (gpointer data)
{
  GtkAdjustment *adj = data;

  return gtk_adjustment_get_upper (adj) > gtk_adjustment_get_page_size (adj) &&
         gtk_adjustment_get_value (adj) >= gtk_adjustment_get_upper (adj) -
                                            gtk_adjustment_get_page_size (adj) - 2;
}

static gboolean
last_message_is (ConfabConversation *conversation,
                 const char         *text)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (conversation));
  g_autoptr(ConfabMessage) last =
    n > 0 ? g_list_model_get_item (G_LIST_MODEL (conversation), n - 1) : NULL;

  return last != NULL && g_str_equal (confab_message_get_text (last), text);
}

static gboolean
last_message_is_while_reading (gpointer data)
{
  return last_message_is (data, "while reading");
}

static void
test_window_follows_new_messages (Fixture       *fixture,
                                  gconstpointer  data)
{
  ConfabConversation *conversation = fixture_conversation (fixture);
  GtkScrolledWindow *scrolled = fixture_scrolled (fixture);
  GtkAdjustment *adj = gtk_scrolled_window_get_vadjustment (scrolled);
  guint16 port = confab_conversation_get_local_port (conversation);
  double value;

  send_lines_from_peer (fixture, "line", 60, 0, port);
  wait_for_row (fixture, "line 59");
  wait_until (at_bottom, adj);

  /* Scrolled up to read: new messages do not pull the view down. */
  gtk_adjustment_set_value (adj, 0);
  test_run_for (50);
  send_from_peer (fixture, "while reading", port);
  wait_until (last_message_is_while_reading, conversation);
  test_run_for (200);
  value = gtk_adjustment_get_value (adj);
  g_assert_cmpfloat (value, <, 1.0);

  /* Back at the bottom, it follows again. */
  gtk_adjustment_set_value (adj, gtk_adjustment_get_upper (adj) - gtk_adjustment_get_page_size (adj));
  test_run_for (50);
  send_from_peer (fixture, "following again", port);
  wait_for_row (fixture, "following again");
  wait_until (at_bottom, adj);
}

static gboolean
state_is (gpointer data)
{
  gpointer *args = data;

  return g_str_equal (gtk_label_get_text (args[0]), args[1]);
}

static void
wait_for_state (GtkWidget  *row,
                const char *text)
{
  gpointer args[] = { row_child (row, "state_label"), (gpointer)text };

  wait_until (state_is, args);
}

/* Confab on the other side: a real channel on loopback, bound when the test
 * wants the peer to appear.
 */
static ConfabChannel *
peer_channel_new (Fixture *fixture,
                  guint16  port)
{
  ConfabChannel *peer = confab_channel_new ();

  confab_channel_set_peer (peer, "127.0.0.1",
                           confab_conversation_get_local_port (fixture_conversation (fixture)));
  g_settings_set_int (fixture->settings, "peer-port", port);
  g_settings_set_boolean (fixture->settings, "plain-text", FALSE);

  return peer;
}

static void
test_window_row_sending_to_delivered (Fixture       *fixture,
                                      gconstpointer  data)
{
  GtkEditable *entry = template_child (fixture->window, CONFAB_TYPE_WINDOW, "entry");
  guint16 port = free_port ();
  g_autoptr(ConfabChannel) peer = peer_channel_new (fixture, port);
  g_autoptr(GError) error = NULL;
  GtkWidget *row;

  /* Nobody listens yet: the message waits, marked as sending. */
  gtk_editable_set_text (entry, "are you there?");
  g_signal_emit_by_name (entry, "activate");
  row = wait_for_row (fixture, "are you there?");
  wait_for_state (row, "Sending…");
  g_assert_false (row_child_visible (row, "retry_button"));

  /* The peer comes up; the retransmission is acknowledged. */
  g_assert_true (confab_channel_bind (peer, "127.0.0.1", port, &error));
  g_assert_no_error (error);
  wait_for_state (row, "Delivered");
  g_assert_false (row_child_visible (row, "retry_button"));
}

static void
test_window_row_failed_then_retry (Fixture       *fixture,
                                   gconstpointer  data)
{
  GtkEditable *entry = template_child (fixture->window, CONFAB_TYPE_WINDOW, "entry");
  ConfabConversation *conversation = fixture_conversation (fixture);
  guint16 port = free_port ();
  g_autoptr(ConfabChannel) peer = peer_channel_new (fixture, port);
  g_autoptr(GError) error = NULL;
  GtkWidget *row;

  confab_channel_set_give_up_time (confab_conversation_get_channel (conversation),
                                   G_USEC_PER_SEC / 2);
  gtk_editable_set_text (entry, "hello, anyone?");
  g_signal_emit_by_name (entry, "activate");
  row = wait_for_row (fixture, "hello, anyone?");

  wait_for_state (row, "Not sent");
  g_assert_true (row_child_visible (row, "retry_button"));
  g_assert_true (gtk_widget_has_css_class (row_child (row, "bubble"), "failed"));

  g_assert_true (confab_channel_bind (peer, "127.0.0.1", port, &error));
  confab_channel_set_give_up_time (confab_conversation_get_channel (conversation),
                                   30 * G_USEC_PER_SEC);
  gtk_widget_activate_action (row, "row.retry", NULL);
  wait_for_state (row, "Delivered");
  g_assert_false (row_child_visible (row, "retry_button"));
  g_assert_false (gtk_widget_has_css_class (row_child (row, "bubble"), "failed"));
}

static void
test_window_too_long (Fixture       *fixture,
                      gconstpointer  data)
{
  GtkEditable *entry = template_child (fixture->window, CONFAB_TYPE_WINDOW, "entry");
  GtkWidget *label = template_child (fixture->window, CONFAB_TYPE_WINDOW, "too_long_label");
  ConfabConversation *conversation = fixture_conversation (fixture);
  g_autofree char *text = g_strnfill (65508, 'x');

  /* As plain text, a message is one datagram: at most 65,507 bytes. */
  gtk_editable_set_text (entry, text);
  g_assert_cmpuint (strlen (gtk_editable_get_text (entry)), ==, 65508);
  g_assert_true (gtk_widget_get_visible (label));
  g_assert_true (gtk_widget_has_css_class (GTK_WIDGET (entry), "error"));

  /* Enter does not send it, and nothing is cut: the text stays as typed. */
  g_signal_emit_by_name (entry, "activate");
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (conversation)), ==, 0);
  g_assert_cmpstr (gtk_editable_get_text (entry), ==, text);

  /* Through the protocol the same text fits (64 KiB) and goes. */
  g_settings_set_boolean (fixture->settings, "plain-text", FALSE);
  g_assert_false (gtk_widget_get_visible (label));
  g_assert_false (gtk_widget_has_css_class (GTK_WIDGET (entry), "error"));
  g_signal_emit_by_name (entry, "activate");
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (conversation)), ==, 1);
}

static void
test_window_paste_over_entry_limit (Fixture       *fixture,
                                    gconstpointer  data)
{
  GtkEditable *entry = template_child (fixture->window, CONFAB_TYPE_WINDOW, "entry");
  GtkWidget *label = template_child (fixture->window, CONFAB_TYPE_WINDOW, "too_long_label");
  g_autofree char *text = g_strnfill (70000, 'x');
  int position = 0;

  /* The entry would keep 65,534 bytes and drop the rest unseen. */
  gtk_editable_set_text (entry, "keep me");
  position = 7;
  gtk_editable_insert_text (entry, text, -1, &position);
  g_assert_cmpstr (gtk_editable_get_text (entry), ==, "keep me");
  g_assert_true (gtk_widget_get_visible (label));
}

static gboolean
subtitle_has_prefix (gpointer data)
{
  gpointer *args = data;
  const char *subtitle = adw_action_row_get_subtitle (args[0]);

  return subtitle != NULL && g_str_has_prefix (subtitle, args[1]);
}

static void
test_window_test_connection (Fixture       *fixture,
                             gconstpointer  data)
{
  guint16 port = free_port ();
  g_autoptr(ConfabChannel) peer = peer_channel_new (fixture, port);
  ConfabPreferencesWindow *prefs = open_preferences (fixture);
  GtkWidget *row = template_child (prefs, CONFAB_TYPE_PREFERENCES_WINDOW, "test_row");
  GtkWidget *button = template_child (prefs, CONFAB_TYPE_PREFERENCES_WINDOW, "test_button");
  g_autofree char *expected = g_strdup_printf ("Confab at 127.0.0.1 port %u answered in ", port);
  gpointer args[] = { row, expected };
  g_autoptr(GError) error = NULL;

  g_assert_true (confab_channel_bind (peer, "127.0.0.1", port, &error));
  g_assert_true (gtk_widget_get_sensitive (row));
  g_signal_emit_by_name (button, "clicked");
  wait_until (subtitle_has_prefix, args);
  g_assert_true (gtk_widget_get_sensitive (button));

  /* A plain-text peer cannot answer; the row says so instead of trying. */
  g_settings_set_boolean (fixture->settings, "plain-text", TRUE);
  g_assert_false (gtk_widget_get_sensitive (row));
  g_assert_cmpstr (adw_action_row_get_subtitle (ADW_ACTION_ROW (row)), ==,
                   "Plain text peers cannot answer a test");
}

static void
test_window_test_connection_no_answer (Fixture       *fixture,
                                       gconstpointer  data)
{
  ConfabPreferencesWindow *prefs = open_preferences (fixture);
  GtkWidget *row = template_child (prefs, CONFAB_TYPE_PREFERENCES_WINDOW, "test_row");
  GtkWidget *button = template_child (prefs, CONFAB_TYPE_PREFERENCES_WINDOW, "test_button");
  g_autofree char *expected = NULL;
  gpointer args[] = { row, NULL };

  /* The fixture's peer is a bare socket: it never answers. */
  g_settings_set_boolean (fixture->settings, "plain-text", FALSE);
  expected = g_strdup_printf ("No answer from 127.0.0.1 port %u in 5 s. Is Confab running there, "
                              "and is UDP port %u allowed through both firewalls?",
                              fixture->peer_port, fixture->peer_port);
  args[1] = expected;
  g_signal_emit_by_name (button, "clicked");
  g_assert_cmpstr (adw_action_row_get_subtitle (ADW_ACTION_ROW (row)), ==, "Waiting for an answer…");
  wait_until (subtitle_has_prefix, args);
}

static void
assert_accel (GtkApplication *app,
              const char     *action,
              const char     *accel)
{
  g_auto(GStrv) accels = gtk_application_get_accels_for_action (app, action);

  g_assert_true (g_strv_contains ((const char * const *)accels, accel));
}

static void
test_window_menu_and_shortcuts (Fixture       *fixture,
                                gconstpointer  data)
{
  GtkApplication *app = GTK_APPLICATION (fixture->app);
  const char *app_actions[] = { "preferences", "about", "quit" };

  for (guint i = 0; i < G_N_ELEMENTS (app_actions); i++)
    g_assert_true (g_action_group_has_action (G_ACTION_GROUP (app), app_actions[i]));

  /* The shortcuts window comes from gtk/help-overlay.ui in the resources. */
  g_assert_true (g_action_group_has_action (G_ACTION_GROUP (fixture->window), "show-help-overlay"));
  g_assert_nonnull (gtk_application_window_get_help_overlay (GTK_APPLICATION_WINDOW (fixture->window)));

  assert_accel (app, "app.preferences", "<Control>comma");
  assert_accel (app, "app.quit", "<Control>q");
  assert_accel (app, "window.close", "<Control>w");
  assert_accel (app, "win.show-help-overlay", "<Control>question");

  /* The one Preferences window is reused, not stacked. */
  g_assert_true (open_preferences (fixture) == open_preferences (fixture));
}


static void
prefill_history (const char *path,
                 guint       count,
                 const char *padding)
{
  g_autoptr(ConfabHistory) history = confab_history_open (path, NULL);

  g_assert_nonnull (history);
  for (guint i = 1; i <= count; i++)
    {
      g_autofree char *text = g_strdup_printf ("stored %u%s", i, padding);
      g_autoptr(ConfabMessage) message = confab_message_new (i % 2 ? CONFAB_DIRECTION_INCOMING
                                                                   : CONFAB_DIRECTION_OUTGOING,
                                                             i % 2 ? "bob" : "tester", text,
                                                             NULL);

      confab_message_set_id (message, 4242, i);
      if (i % 2 == 0)
        confab_message_set_state (message, CONFAB_MESSAGE_STATE_DELIVERED);
      g_assert_true (confab_history_add (history, message, NULL));
    }
  g_assert_true (confab_history_commit (history, NULL));
}

static gboolean
at_top_and_complete (gpointer data)
{
  gpointer *args = data;
  GtkAdjustment *adj = args[0];
  ConfabConversation *conversation = args[1];

  /* The person keeps scrolling up, as far as it goes. */
  gtk_adjustment_set_value (adj, 0);
  return !confab_conversation_get_has_older (conversation);
}

static gboolean
list_longer_than (gpointer data)
{
  gpointer *args = data;

  return g_list_model_get_n_items (args[0]) > GPOINTER_TO_UINT (args[1]);
}

/* The list starts with a window's worth of the newest messages; a taller
 * window reads more until it is full, and stays at the newest.
 */
static void
test_window_history_fills_view (Fixture       *fixture,
                                gconstpointer  data)
{
  ConfabConversation *conversation = fixture_conversation (fixture);
  GtkAdjustment *adj = gtk_scrolled_window_get_vadjustment (fixture_scrolled (fixture));
  g_autofree char *path = g_build_filename (fixture->dir, "stored.db", NULL);
  guint first;
  gpointer args[2] = { conversation, NULL };

  prefill_history (path, 120, "");
  confab_conversation_set_history_path (conversation, path);
  first = g_list_model_get_n_items (G_LIST_MODEL (conversation));
  g_assert_cmpuint (first, <, 25);

  gtk_window_set_default_size (GTK_WINDOW (fixture->window), 600, 1000);
  args[1] = GUINT_TO_POINTER (first);
  wait_until (list_longer_than, args);
  wait_for_row (fixture, "stored 120");
  wait_until (at_bottom, adj);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (conversation)), <, 120);
}

/* Starting on a stored history: the newest messages show, at the bottom;
 * scrolling up brings in the older ones, in order.
 */
static void
test_window_history_shown (Fixture       *fixture,
                           gconstpointer  data)
{
  ConfabConversation *conversation = fixture_conversation (fixture);
  GtkScrolledWindow *scrolled = fixture_scrolled (fixture);
  GtkAdjustment *adj = gtk_scrolled_window_get_vadjustment (scrolled);
  g_autofree char *path = g_build_filename (fixture->dir, "stored.db", NULL);
  GListModel *model = G_LIST_MODEL (conversation);
  gpointer args[] = { adj, conversation };

  prefill_history (path, 120, "");
  confab_conversation_set_history_path (conversation, path);

  wait_for_row (fixture, "stored 120");
  wait_until (at_bottom, adj);
  g_assert_cmpuint (g_list_model_get_n_items (model), <, 120);
  g_assert_null (find_row (GTK_WIDGET (fixture->window), "stored 1"));

  wait_until (at_top_and_complete, args);
  g_assert_cmpuint (g_list_model_get_n_items (model), ==, 120);
  for (guint i = 0; i < 120; i++)
    {
      g_autoptr(ConfabMessage) message = g_list_model_get_item (model, i);
      g_autofree char *text = g_strdup_printf ("stored %u", i + 1);

      g_assert_cmpstr (confab_message_get_text (message), ==, text);
    }
  wait_for_row (fixture, "stored 1");
}

typedef struct
{
  GtkWidget *row;
  GtkWidget *viewport;
} InView;

/* The row is drawn inside the scrolled window's visible area: not merely
 * there among the rows the list keeps, nor the adjustment merely at its end.
 */
static gboolean
row_in_view (gpointer data)
{
  InView *in_view = data;
  graphene_rect_t bounds;

  if (!gtk_widget_get_mapped (in_view->row) ||
      !gtk_widget_compute_bounds (in_view->row, in_view->viewport, &bounds))
    return FALSE;

  return bounds.origin.y >= -1 &&
         bounds.origin.y + bounds.size.height <= gtk_widget_get_height (in_view->viewport) + 1;
}

/* Opened on a stored history, the window shows the newest message at the
 * bottom, having read only what it needs.
 */
static void
test_window_opens_at_newest (Fixture       *fixture,
                             gconstpointer  data)
{
  GtkScrolledWindow *scrolled = fixture_scrolled (fixture);
  GtkAdjustment *adj = gtk_scrolled_window_get_vadjustment (scrolled);

  InView newest = { NULL, GTK_WIDGET (scrolled) };

  newest.row = wait_for_row (fixture, "stored 300 — a line long enough to wrap, as real messages "
                             "do, so that the list cannot guess the height of rows it has not "
                             "measured yet");
  wait_until (at_bottom, adj);
  test_run_for (300);
  g_assert_true (at_bottom (adj));
  g_assert_true (row_in_view (&newest));
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (fixture_conversation (fixture))),
                    <, 300);
}

static AdwMessageDialog *
visible_dialog (void)
{
  g_autoptr(GList) toplevels = gtk_window_list_toplevels ();

  for (GList *l = toplevels; l != NULL; l = l->next)
    if (ADW_IS_MESSAGE_DIALOG (l->data) && gtk_widget_get_visible (l->data))
      return l->data;

  return NULL;
}

static AdwMessageDialog *
wait_for_dialog (void)
{
  for (guint tries = 0; tries < 500; tries++)
    {
      AdwMessageDialog *dialog = visible_dialog ();

      if (dialog != NULL)
        return dialog;
      test_run_for (10);
    }

  g_assert_not_reached ();
}

static gint64
stored_count (const char *path)
{
  g_autoptr(GPtrArray) stored = test_read_history (path);

  return stored->len;
}

static gboolean
list_is_empty (gpointer data)
{
  return g_list_model_get_n_items (data) == 0;
}

/* Clear History asks first; cancelled, nothing changes; confirmed, the
 * list and the file are empty.
 */
static void
test_window_clear_history (Fixture       *fixture,
                           gconstpointer  data)
{
  ConfabConversation *conversation = fixture_conversation (fixture);
  GtkEditable *entry = template_child (fixture->window, CONFAB_TYPE_WINDOW, "entry");
  AdwMessageDialog *dialog;

  /* Nothing to clear: the menu item is off. */
  gtk_widget_activate_action (GTK_WIDGET (fixture->window), "win.clear-history", NULL);
  test_run_for (100);
  g_assert_null (visible_dialog ());

  send_from_peer (fixture, "keep me?", confab_conversation_get_local_port (conversation));
  wait_for_row (fixture, "keep me?");
  gtk_editable_set_text (entry, "and me?");
  g_signal_emit_by_name (entry, "activate");
  wait_for_row (fixture, "and me?");
  test_run_for (50);
  g_assert_cmpint (stored_count (fixture->history_path), ==, 2);

  gtk_widget_activate_action (GTK_WIDGET (fixture->window), "win.clear-history", NULL);
  dialog = wait_for_dialog ();
  g_assert_cmpstr (adw_message_dialog_get_heading (dialog), ==, "Clear History?");
  adw_message_dialog_response (dialog, "cancel");
  gtk_window_destroy (GTK_WINDOW (dialog));
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (conversation)), ==, 2);

  gtk_widget_activate_action (GTK_WIDGET (fixture->window), "win.clear-history", NULL);
  dialog = wait_for_dialog ();
  adw_message_dialog_response (dialog, "clear");
  gtk_window_destroy (GTK_WINDOW (dialog));
  wait_until (list_is_empty, conversation);
  g_assert_cmpint (stored_count (fixture->history_path), ==, 0);
  g_assert_null (find_row (GTK_WIDGET (fixture->window), "keep me?"));
}

/* A damaged file found at start: moved aside, and the person is told where. */
static void
test_window_history_damaged (Fixture       *fixture,
                             gconstpointer  data)
{
  ConfabConversation *conversation = fixture_conversation (fixture);
  g_autofree char *path = g_build_filename (fixture->dir, "damaged.db", NULL);
  AdwMessageDialog *dialog;
  const char *moved_to;

  g_assert_true (g_file_set_contents (path, "garbage, not a database, long enough to be read "
                                      "as a header and found wanting", -1, NULL));
  confab_conversation_set_history_path (conversation, path);

  dialog = wait_for_dialog ();
  g_assert_cmpstr (adw_message_dialog_get_heading (dialog), ==, "History Damaged");
  moved_to = confab_history_get_moved_to (confab_conversation_get_history (conversation));
  g_assert_nonnull (strstr (adw_message_dialog_get_body (dialog), moved_to));
  g_assert_true (g_file_test (moved_to, G_FILE_TEST_IS_REGULAR));
  gtk_window_destroy (GTK_WINDOW (dialog));
}

/* Keep History off in Preferences: the file is emptied, the list stays. */
static void
test_window_keep_history_switch (Fixture       *fixture,
                                 gconstpointer  data)
{
  ConfabConversation *conversation = fixture_conversation (fixture);
  ConfabPreferencesWindow *prefs;
  GtkSwitch *keep;

  send_from_peer (fixture, "ephemeral", confab_conversation_get_local_port (conversation));
  wait_for_row (fixture, "ephemeral");
  test_run_for (50);
  g_assert_cmpint (stored_count (fixture->history_path), ==, 1);

  prefs = open_preferences (fixture);
  keep = template_child (prefs, CONFAB_TYPE_PREFERENCES_WINDOW, "keep_history_switch");
  g_assert_true (gtk_switch_get_active (keep));
  gtk_switch_set_active (keep, FALSE);

  g_assert_false (g_settings_get_boolean (fixture->settings, "keep-history"));
  g_assert_false (confab_conversation_get_keep_history (conversation));
  g_assert_cmpint (stored_count (fixture->history_path), ==, 0);
  g_assert_nonnull (find_row (GTK_WIDGET (fixture->window), "ephemeral"));
}

static gboolean
toast_shown (gpointer data)
{
  return data != NULL && gtk_widget_get_first_child (data) != NULL &&
         gtk_widget_get_last_child (data) != gtk_widget_get_first_child (data);
}

/* A toast's title is markup; an error naming "a&b" must still show. */
static void
test_window_toast_escapes_markup (Fixture       *fixture,
                                  gconstpointer  data)
{
  GtkEditable *entry = template_child (fixture->window, CONFAB_TYPE_WINDOW, "entry");
  GtkWidget *overlay = template_child (fixture->window, CONFAB_TYPE_WINDOW, "toast_overlay");
  GtkWidget *row;

  g_settings_set_string (fixture->settings, "peer-host", "a&b<i>.invalid");
  gtk_editable_set_text (entry, "to a strange host");
  g_signal_emit_by_name (entry, "activate");
  row = wait_for_row (fixture, "to a strange host");
  wait_until (retry_shown, row);
  wait_until (toast_shown, overlay);
  test_run_for (300);
}

static gboolean
conversation_encrypted (gpointer data)
{
  return confab_conversation_get_encrypted (data);
}

static gboolean
label_contains (gpointer data)
{
  gpointer *args = data;
  const char *subtitle = adw_action_row_get_subtitle (args[0]);

  return subtitle != NULL && strstr (subtitle, args[1]) != NULL;
}

/* A passphrase set in Preferences: the key is derived without freezing the
 * window, the lock shows, the safety code is there to compare, plain text
 * is off, and with no keyring Preferences says the passphrase is kept for
 * this session only. Bare text from the peer is then not shown, and the
 * person is told why.
 */
static void
test_window_passphrase (Fixture       *fixture,
                        gconstpointer  data)
{
  ConfabConversation *conversation = fixture_conversation (fixture);
  ConfabPreferencesWindow *prefs = open_preferences (fixture);
  GtkWidget *passphrase_row = template_child (prefs, CONFAB_TYPE_PREFERENCES_WINDOW,
                                              "passphrase_row");
  AdwActionRow *code_row = template_child (prefs, CONFAB_TYPE_PREFERENCES_WINDOW,
                                           "safety_code_row");
  GtkWidget *plain_row = template_child (prefs, CONFAB_TYPE_PREFERENCES_WINDOW,
                                         "plain_text_row");
  GtkWidget *lock = template_child (fixture->window, CONFAB_TYPE_WINDOW, "encrypted_icon");
  GtkWidget *overlay = template_child (fixture->window, CONFAB_TYPE_WINDOW, "toast_overlay");
  gpointer keyring_args[] = { code_row, (gpointer)"No keyring is available" };
  gpointer code_args[] = { code_row, NULL };

  g_assert_false (gtk_widget_get_visible (lock));
  gtk_editable_set_text (GTK_EDITABLE (passphrase_row), "blue tractor at noon");
  g_signal_emit_by_name (passphrase_row, "apply");
  g_assert_true (confab_conversation_get_deriving (conversation));

  wait_until (conversation_encrypted, conversation);
  g_assert_true (gtk_widget_get_visible (lock));
  code_args[1] = (gpointer)confab_conversation_get_safety_code (conversation);
  wait_until (label_contains, code_args);
  wait_until (label_contains, keyring_args);
  g_assert_false (gtk_widget_get_sensitive (plain_row));
  g_assert_cmpstr (confab_application_get_passphrase (fixture->app), ==, "blue tractor at noon");

  gtk_window_destroy (GTK_WINDOW (prefs));
  send_from_peer (fixture, "bare text", confab_conversation_get_local_port (conversation));
  wait_until (toast_shown, overlay);
  test_run_for (200);
  g_assert_null (find_row (GTK_WIDGET (fixture->window), "bare text"));
}

static gboolean
entry_focused (gpointer data)
{
  GtkWidget *entry = data;
  GtkWidget *focus = gtk_root_get_focus (gtk_widget_get_root (entry));

  return focus != NULL && (focus == entry || gtk_widget_is_ancestor (focus, entry));
}

/* Escape brings the focus back to the entry; Page Up and Down scroll the
 * messages. All are in the shortcuts window.
 */
static void
test_window_keyboard (Fixture       *fixture,
                      gconstpointer  data)
{
  GtkWidget *entry = template_child (fixture->window, CONFAB_TYPE_WINDOW, "entry");
  GtkWidget *send = template_child (fixture->window, CONFAB_TYPE_WINDOW, "send_button");
  GtkScrolledWindow *scrolled = fixture_scrolled (fixture);
  GtkAdjustment *adj = gtk_scrolled_window_get_vadjustment (scrolled);
  guint16 port = confab_conversation_get_local_port (fixture_conversation (fixture));
  double bottom;

  gtk_widget_set_sensitive (send, TRUE);
  gtk_widget_grab_focus (send);
  g_assert_false (entry_focused (entry));
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (fixture->window), "win.focus-entry",
                                             NULL));
  wait_until (entry_focused, entry);

  for (guint i = 0; i < 40; i++)
    {
      g_autofree char *text = g_strdup_printf ("page line %u", i);

      send_from_peer (fixture, text, port);
    }
  wait_for_row (fixture, "page line 39");
  wait_until (at_bottom, adj);
  bottom = gtk_adjustment_get_value (adj);

  gtk_widget_activate_action (GTK_WIDGET (fixture->window), "win.scroll-page", "i", -1);
  g_assert_cmpfloat (gtk_adjustment_get_value (adj), <, bottom - 100);
  gtk_widget_activate_action (GTK_WIDGET (fixture->window), "win.scroll-page", "i", 1);
  g_assert_cmpfloat (gtk_adjustment_get_value (adj), >=, bottom - 1);
}

static gboolean
last_call_is (gpointer data)
{
  return notification_calls->len > 0 &&
         g_str_equal (g_ptr_array_index (notification_calls, notification_calls->len - 1), data);
}

static gboolean
window_active (gpointer data)
{
  return gtk_window_is_active (data);
}

static gboolean
window_inactive (gpointer data)
{
  return !gtk_window_is_active (data);
}

/* A message arriving while the window is in the background: counted in
 * the title and notified; back in front, the count and the notification go.
 * With notifications off, none is sent.
 */
static void
test_window_notifications (Fixture       *fixture,
                           gconstpointer  data)
{
  guint16 port = confab_conversation_get_local_port (fixture_conversation (fixture));
  GtkWidget *other = gtk_window_new ();

  wait_until (window_active, fixture->window);
  gtk_window_present (GTK_WINDOW (other));
  wait_until (window_inactive, fixture->window);

  send_from_peer (fixture, "are you there?", port);
  send_from_peer (fixture, "hello?", port);
  wait_for_row (fixture, "hello?");
  wait_until (last_call_is, (gpointer)"Add new-message 127.0.0.1: hello?");
  g_assert_cmpstr (gtk_window_get_title (GTK_WINDOW (fixture->window)), ==, "Confab (2)");

  gtk_window_destroy (GTK_WINDOW (other));
  gtk_window_present (GTK_WINDOW (fixture->window));
  wait_until (window_active, fixture->window);
  wait_until (last_call_is, (gpointer)"Remove new-message");
  g_assert_cmpstr (gtk_window_get_title (GTK_WINDOW (fixture->window)), ==, "Confab");

  /* Notifications off */
  g_settings_set_boolean (fixture->settings, "notify", FALSE);
  other = gtk_window_new ();
  gtk_window_present (GTK_WINDOW (other));
  wait_until (window_inactive, fixture->window);
  g_ptr_array_set_size (notification_calls, 0);
  send_from_peer (fixture, "quietly", port);
  wait_for_row (fixture, "quietly");
  test_run_for (300);
  g_assert_cmpuint (notification_calls->len, ==, 0);
  g_assert_cmpstr (gtk_window_get_title (GTK_WINDOW (fixture->window)), ==, "Confab (1)");
  gtk_window_destroy (GTK_WINDOW (other));
}

/* More messages at once than a following list is given: it moves on to
 * the newest and keeps following, and the rest page back in from the
 * history.
 */
static void
test_window_burst_keeps_following (Fixture       *fixture,
                                   gconstpointer  data)
{
  ConfabConversation *conversation = fixture_conversation (fixture);
  GtkScrolledWindow *scrolled = fixture_scrolled (fixture);
  GtkAdjustment *adj = gtk_scrolled_window_get_vadjustment (scrolled);
  guint16 port = confab_conversation_get_local_port (conversation);
  InView newest = { NULL, GTK_WIDGET (scrolled) };

  for (guint burst = 0; burst < 3; burst++)
    {
      g_autofree char *prefix = g_strdup_printf ("burst %u line", burst);
      g_autofree char *last = g_strdup_printf ("%s 199", prefix);

      send_lines_from_peer (fixture, prefix, 200, 0, port);
      newest.row = wait_for_row (fixture, last);
      wait_until (at_bottom, adj);
      test_run_for (200);
      g_assert_true (at_bottom (adj));
      g_assert_true (row_in_view (&newest));
    }

  g_assert_cmpuint (confab_conversation_get_n_skipped (conversation), >, 0);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (conversation)), <, 600);
  g_assert_true (confab_conversation_get_has_older (conversation));
}

static gboolean
skipped_more (gpointer data)
{
  gpointer *args = data;

  return confab_conversation_get_n_skipped (args[0]) > *(guint64 *)args[1];
}

/* Reading further up while thousands arrive: the list stops growing; back
 * at the bottom, the window shows the newest.
 */
static void
test_window_flood_while_reading (Fixture       *fixture,
                                 gconstpointer  data)
{
  ConfabConversation *conversation = fixture_conversation (fixture);
  GtkScrolledWindow *scrolled = fixture_scrolled (fixture);
  GtkAdjustment *adj = gtk_scrolled_window_get_vadjustment (scrolled);
  guint16 port = confab_conversation_get_local_port (conversation);
  InView newest = { NULL, GTK_WIDGET (scrolled) };
  guint64 skipped = 0;
  gpointer args[] = { conversation, &skipped };

  send_lines_from_peer (fixture, "before", 60, 0, port);
  wait_for_row (fixture, "before 59");
  wait_until (at_bottom, adj);
  gtk_adjustment_set_value (adj, 0);
  test_run_for (50);
  skipped = confab_conversation_get_n_skipped (conversation);

  send_lines_from_peer (fixture, "flood", 4500, 100, port);
  wait_until (skipped_more, args);
  /* Past the conversation's 2 s between bursts */
  test_run_for (2500);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (conversation)), <=, 4000);
  g_assert_false (last_message_is (conversation, "flood 4499"));

  gtk_adjustment_set_value (adj, gtk_adjustment_get_upper (adj) - gtk_adjustment_get_page_size (adj));
  newest.row = wait_for_row (fixture, "flood 4499");
  wait_until (row_in_view, &newest);
}

/* Messages that arrive in the background faster than the list is given
 * them are all counted as unread.
 */
static void
test_window_burst_counted_unread (Fixture       *fixture,
                                  gconstpointer  data)
{
  ConfabConversation *conversation = fixture_conversation (fixture);
  guint16 port = confab_conversation_get_local_port (conversation);
  GtkWidget *other = gtk_window_new ();

  wait_until (window_active, fixture->window);
  gtk_window_present (GTK_WINDOW (other));
  wait_until (window_inactive, fixture->window);

  send_lines_from_peer (fixture, "unseen", 100, 0, port);
  wait_for_row (fixture, "unseen 99");
  test_run_for (200);
  g_assert_cmpuint (confab_conversation_get_n_skipped (conversation), >, 0);
  g_assert_cmpstr (gtk_window_get_title (GTK_WINDOW (fixture->window)), ==, "Confab (100)");
  gtk_window_destroy (GTK_WINDOW (other));
}

static void
add_stored (ConfabHistory *history,
            const char    *sender,
            const char    *text,
            GDateTime     *time)
{
  g_autoptr(ConfabMessage) message = confab_message_new (CONFAB_DIRECTION_INCOMING, sender,
                                                         text, time);

  g_assert_true (confab_history_add (history, message, NULL));
}

/* A day gets a heading; messages from one sender close together form a
 * group that names the sender once.
 */
static void
test_window_days_and_groups (Fixture       *fixture,
                             gconstpointer  data)
{
  g_autofree char *path = g_build_filename (fixture->dir, "days.db", NULL);
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  /* Yesterday at noon: no test run near midnight moves a message's day */
  g_autoptr(GDateTime) noon = g_date_time_new_local (g_date_time_get_year (now),
                                                          g_date_time_get_month (now),
                                                          g_date_time_get_day_of_month (now),
                                                          12, 0, 0);
  g_autoptr(GDateTime) yesterday_noon = g_date_time_add_days (noon, -1);
  g_autoptr(GDateTime) yesterday_later = g_date_time_add_minutes (yesterday_noon, 1);
  g_autoptr(GDateTime) yesterday_much_later = g_date_time_add_minutes (yesterday_noon, 30);
  GtkWidget *row;

  {
    g_autoptr(ConfabHistory) history = confab_history_open (path, NULL);

    add_stored (history, "ann", "first yesterday", yesterday_noon);
    add_stored (history, "ann", "right after", yesterday_later);
    add_stored (history, "ann", "half an hour on", yesterday_much_later);
    add_stored (history, "ann", "today now", now);
    g_assert_true (confab_history_commit (history, NULL));
  }
  confab_conversation_set_history_path (fixture_conversation (fixture), path);

  row = wait_for_row (fixture, "first yesterday");
  g_assert_true (row_child_visible (row, "day_label"));
  g_assert_cmpstr (gtk_label_get_text (GTK_LABEL (row_child (row, "day_label"))), ==,
                   "Yesterday");
  g_assert_true (row_child_visible (row, "header_box"));

  row = wait_for_row (fixture, "right after");
  g_assert_false (row_child_visible (row, "day_label"));
  g_assert_false (row_child_visible (row, "header_box"));

  row = wait_for_row (fixture, "half an hour on");
  g_assert_true (row_child_visible (row, "header_box"));

  row = wait_for_row (fixture, "today now");
  g_assert_cmpstr (gtk_label_get_text (GTK_LABEL (row_child (row, "day_label"))), ==, "Today");
  g_assert_true (row_child_visible (row, "day_label"));
}

/* Messages that arrive unseen get a "New Messages" divider above the first
 * of them, which stays until the person writes.
 */
static void
test_window_unread_divider (Fixture       *fixture,
                            gconstpointer  data)
{
  guint16 port = confab_conversation_get_local_port (fixture_conversation (fixture));
  GtkEditable *entry = template_child (fixture->window, CONFAB_TYPE_WINDOW, "entry");
  GtkWidget *other = gtk_window_new ();
  GtkWidget *seen, *first, *second;

  send_from_peer (fixture, "seen already", port);
  seen = wait_for_row (fixture, "seen already");
  wait_until (window_active, fixture->window);

  gtk_window_present (GTK_WINDOW (other));
  wait_until (window_inactive, fixture->window);
  send_from_peer (fixture, "first unseen", port);
  send_from_peer (fixture, "second unseen", port);
  first = wait_for_row (fixture, "first unseen");
  second = wait_for_row (fixture, "second unseen");

  g_assert_false (row_child_visible (seen, "unread_label"));
  g_assert_true (row_child_visible (first, "unread_label"));
  g_assert_false (row_child_visible (second, "unread_label"));

  /* Seen, the divider stays to show where they began; writing ends it. */
  gtk_window_destroy (GTK_WINDOW (other));
  gtk_window_present (GTK_WINDOW (fixture->window));
  wait_until (window_active, fixture->window);
  g_assert_true (row_child_visible (first, "unread_label"));
  gtk_editable_set_text (entry, "back now");
  g_signal_emit_by_name (entry, "activate");
  g_assert_false (row_child_visible (first, "unread_label"));
}

/* A row reads as sender, time, state and text to a screen reader. */
static void
test_window_row_spoken (Fixture       *fixture,
                        gconstpointer  data)
{
  GtkEditable *entry = template_child (fixture->window, CONFAB_TYPE_WINDOW, "entry");
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *time = g_date_time_format (now, "%H:%M");
  g_autofree char *expected = NULL;
  g_autofree char *spoken = NULL;
  GtkWidget *row;

  gtk_editable_set_text (entry, "see you at noon");
  g_signal_emit_by_name (entry, "activate");
  row = wait_for_row (fixture, "see you at noon");
  wait_for_state (row, "Sent, no receipt");

  spoken = confab_message_row_get_spoken (CONFAB_MESSAGE_ROW (row));
  expected = g_strdup_printf ("tester, %s, Sent, no receipt: see you at noon", time);
  /* The minute may have turned between sending and now. */
  if (g_strcmp0 (spoken, expected) != 0)
    g_assert_true (g_str_has_prefix (spoken, "tester, ") &&
                   g_str_has_suffix (spoken, ", Sent, no receipt: see you at noon"));
}

/* Web and mail addresses are links; markup in a message stays literal. */
static void
test_window_links (Fixture       *fixture,
                   gconstpointer  data)
{
  guint16 port = confab_conversation_get_local_port (fixture_conversation (fixture));
  const char *linked = "read https://example.org/x?a=1&b=2 & <b>this</b>";
  const char *literal = "plain <i>tag</i> & no link";
  GtkLabel *label;

  send_from_peer (fixture, linked, port);
  send_from_peer (fixture, literal, port);

  label = template_child (wait_for_row (fixture, linked), CONFAB_TYPE_MESSAGE_ROW, "text_label");
  g_assert_true (gtk_label_get_use_markup (label));
  g_assert_cmpstr (gtk_label_get_text (label), ==, linked);
  g_assert_nonnull (strstr (gtk_label_get_label (label), "<a href=\"https://example.org/x?a=1&amp;b=2\">"));

  label = template_child (wait_for_row (fixture, literal), CONFAB_TYPE_MESSAGE_ROW, "text_label");
  g_assert_false (gtk_label_get_use_markup (label));
  g_assert_cmpstr (gtk_label_get_text (label), ==, literal);
}

static void
test_parse_peer (void)
{
  struct {
    const char *text;
    gboolean    ok;
    const char *host;
    guint16     port;
  } cases[] = {
    { "192.168.1.7", TRUE, "192.168.1.7", 48484 },
    { "192.168.1.7:5000", TRUE, "192.168.1.7", 5000 },
    { "pc.local:1", TRUE, "pc.local", 1 },
    { "[fe80::1]:6000", TRUE, "fe80::1", 6000 },
    { "[::1]", TRUE, "::1", 48484 },
    { "fe80::1", TRUE, "fe80::1", 48484 },
    { "host:70000", FALSE, NULL, 0 },
    { "host:", FALSE, NULL, 0 },
    { ":5000", FALSE, NULL, 0 },
    { "[::1", FALSE, NULL, 0 },
    { "[::1]x", FALSE, NULL, 0 },
    { "", FALSE, NULL, 0 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *host = NULL;
      guint16 port = 0;

      g_assert_cmpint (confab_parse_peer (cases[i].text, 48484, &host, &port), ==, cases[i].ok);
      g_assert_cmpstr (host, ==, cases[i].host);
      g_assert_cmpuint (port, ==, cases[i].port);
    }
}

/* The desktop's notification server, as GApplication talks to it
 * (org.gtk.Notifications), recording what it is asked
 */
static const char notifications_xml[] =
  "<node><interface name='org.gtk.Notifications'>"
  "<method name='AddNotification'><arg type='s' direction='in'/>"
  "<arg type='s' direction='in'/><arg type='a{sv}' direction='in'/></method>"
  "<method name='RemoveNotification'><arg type='s' direction='in'/>"
  "<arg type='s' direction='in'/></method>"
  "</interface></node>";


static void
on_notification_call (GDBusConnection       *connection,
                      const char            *sender,
                      const char            *path,
                      const char            *interface,
                      const char            *method,
                      GVariant              *parameters,
                      GDBusMethodInvocation *invocation,
                      gpointer               user_data)
{
  const char *id = NULL;

  g_variant_get_child (parameters, 1, "&s", &id);
  if (g_str_equal (method, "AddNotification"))
    {
      g_autoptr(GVariant) notification = g_variant_get_child_value (parameters, 2);
      const char *title = "", *body = "";

      g_variant_lookup (notification, "title", "&s", &title);
      g_variant_lookup (notification, "body", "&s", &body);
      g_ptr_array_add (notification_calls, g_strdup_printf ("Add %s %s: %s", id, title, body));
    }
  else
    {
      g_ptr_array_add (notification_calls, g_strdup_printf ("Remove %s", id));
    }

  g_dbus_method_invocation_return_value (invocation, NULL);
}

static gboolean
name_owned (gpointer data)
{
  return *(gboolean *)data;
}

static void
on_name_acquired (GDBusConnection *connection,
                  const char      *name,
                  gpointer         user_data)
{
  *(gboolean *)user_data = TRUE;
}

static void
start_notification_server (void)
{
  static const GDBusInterfaceVTable vtable = { on_notification_call, NULL, NULL, { 0 } };
  g_autoptr(GDBusNodeInfo) info = g_dbus_node_info_new_for_xml (notifications_xml, NULL);
  g_autoptr(GDBusConnection) bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, NULL);
  static gboolean owned;

  notification_calls = g_ptr_array_new_with_free_func (g_free);
  g_assert_cmpuint (g_dbus_connection_register_object (bus, "/org/gtk/Notifications",
                                                       info->interfaces[0], &vtable, NULL,
                                                       NULL, NULL), >, 0);
  g_bus_own_name_on_connection (bus, "org.gtk.Notifications", G_BUS_NAME_OWNER_FLAGS_NONE,
                                on_name_acquired, NULL, &owned, NULL);
  wait_until (name_owned, &owned);
}

static void
on_launched (GObject      *object,
             GAsyncResult *result,
             gpointer      user_data)
{
  gboolean *done = user_data;

  g_assert_true (g_subprocess_wait_check_finish (G_SUBPROCESS (object), result, NULL));
  *done = TRUE;
}

/* Confab launched again (from the menu, a terminal, a notification) hands
 * over to the one running: its window is raised, and the command line it
 * was given applies there.
 */
static void
second_launch_raises_first (void)
{
  TestSession session = { 0 };
  g_autoptr(ConfabApplication) app = NULL;
  g_autoptr(GSubprocess) second = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *program = g_test_build_filename (G_TEST_BUILT, "..", "src", "confab", NULL);
  ConfabConversation *conversation;
  gboolean done = FALSE;

  test_session_start (&session);
  app = confab_application_new ();
  g_application_register (G_APPLICATION (app), NULL, &error);
  g_assert_no_error (error);
  g_assert_false (g_application_get_is_remote (G_APPLICATION (app)));
  conversation = confab_application_get_conversation (app);
  confab_conversation_set_keep_history (conversation, FALSE);
  g_application_activate (G_APPLICATION (app));
  g_assert_cmpuint (g_list_length (gtk_application_get_windows (GTK_APPLICATION (app))), ==, 1);

  second = g_subprocess_new (G_SUBPROCESS_FLAGS_NONE, &error, program,
                             "--peer", "127.0.0.1:5555", NULL);
  g_assert_no_error (error);
  g_subprocess_wait_check_async (second, NULL, on_launched, &done);
  wait_until (name_owned, &done);

  /* Still one window, presented, with the second launch's peer */
  g_assert_cmpuint (g_list_length (gtk_application_get_windows (GTK_APPLICATION (app))), ==, 1);
  g_assert_cmpstr (confab_conversation_get_peer_host (conversation), ==, "127.0.0.1");
  g_assert_cmpuint (confab_conversation_get_peer_port (conversation), ==, 5555);

  while (gtk_application_get_windows (GTK_APPLICATION (app)) != NULL)
    gtk_window_destroy (gtk_application_get_windows (GTK_APPLICATION (app))->data);
  test_run_for (20);
  g_clear_object (&app);
  test_session_stop (&session);
}

static void
run_second_launch (void)
{
  if (g_test_subprocess ())
    {
      second_launch_raises_first ();
      return;
    }

  g_test_trap_subprocess (NULL, 60 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

typedef void (*FixtureFunc) (Fixture *fixture, gconstpointer data);

/* A registered GtkApplication lets go of itself only in shutdown, after
 * g_application_run(); each test gets a process, an application and an
 * in-memory settings store of its own instead.
 */
static void
run_isolated (gconstpointer data)
{
  if (g_test_subprocess ())
    {
      Fixture fixture = { 0 };
      TestSession session = { 0 };

      /* A bus of its own, with no keyring on it, and a notification server */
      test_session_start (&session);
      start_notification_server ();
      fixture_setup (&fixture, NULL);
      ((FixtureFunc)data) (&fixture, NULL);
      fixture_teardown (&fixture, NULL);
      test_session_stop (&session);
      return;
    }

  g_test_trap_subprocess (NULL, 60 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

/* The same, with 300 stored messages before the window opens */
static void
run_isolated_with_history (gconstpointer data)
{
  prefill_count = 300;
  run_isolated (data);
}

/* A message's text wraps anywhere, so a long word never widens the list,
 * while a short text keeps a bubble as narrow as itself.
 */
static void
test_window_row_text_width (Fixture       *fixture,
                            gconstpointer  data)
{
  g_autofree char *word = g_strnfill (300, 'x');
  struct { const char *text; gboolean is_short; } cases[] = {
    { "ok", TRUE },
    { "see you at noon", TRUE },
    { word, FALSE },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(ConfabMessage) message = confab_message_new (CONFAB_DIRECTION_INCOMING, "Ada",
                                                             cases[i].text, NULL);
      ConfabMessageRow *row = g_object_ref_sink (confab_message_row_new ());
      GtkWidget *label = row_child (GTK_WIDGET (row), "text_label");
      GtkWidget *plain = g_object_ref_sink (gtk_label_new (cases[i].text));
      int min, nat, plain_nat, char_width;

      /* Alike but for the width */
      gtk_widget_add_css_class (plain, "confab-text");
      confab_message_row_set_message (row, message);
      gtk_widget_measure (label, GTK_ORIENTATION_HORIZONTAL, -1, &min, &nat, NULL, NULL);
      gtk_widget_measure (plain, GTK_ORIENTATION_HORIZONTAL, -1, NULL, &plain_nat, NULL, NULL);
      char_width = plain_nat / (int) strlen (cases[i].text) + 1;

      if (cases[i].is_short)
        g_assert_cmpint (nat, <=, plain_nat + 1);
      g_assert_cmpint (min, <=, 16 * char_width);
      g_assert_cmpint (min, <=, nat);

      g_object_unref (plain);
      g_object_unref (row);
    }
}

int
main (int   argc,
      char *argv[])
{
  gtk_test_init (&argc, &argv, NULL);

#define ADD(path, func) g_test_add_data_func ("/window/" path, func, run_isolated)
  ADD ("send-from-entry", test_window_send_from_entry);
  ADD ("shows-incoming", test_window_shows_incoming);
  ADD ("subtitle-and-no-peer", test_window_subtitle_and_no_peer);
  ADD ("preferences-reject-bad-port", test_window_preferences_reject_bad_port);
  ADD ("preferences-rebind", test_window_preferences_rebind);
  ADD ("port-in-use", test_window_port_in_use);
  ADD ("send-failure-marks-row", test_window_send_failure_marks_row);
  ADD ("follows-new-messages", test_window_follows_new_messages);
  ADD ("menu-and-shortcuts", test_window_menu_and_shortcuts);
  ADD ("row-sending-to-delivered", test_window_row_sending_to_delivered);
  ADD ("row-failed-then-retry", test_window_row_failed_then_retry);
  ADD ("too-long", test_window_too_long);
  ADD ("paste-over-entry-limit", test_window_paste_over_entry_limit);
  ADD ("test-connection", test_window_test_connection);
  ADD ("test-connection-no-answer", test_window_test_connection_no_answer);
  ADD ("history-shown", test_window_history_shown);
  ADD ("history-fills-view", test_window_history_fills_view);
  g_test_add_data_func ("/window/opens-at-newest", test_window_opens_at_newest,
                        run_isolated_with_history);
  ADD ("clear-history", test_window_clear_history);
  ADD ("history-damaged", test_window_history_damaged);
  ADD ("keep-history-switch", test_window_keep_history_switch);
  ADD ("toast-escapes-markup", test_window_toast_escapes_markup);
  ADD ("passphrase", test_window_passphrase);
  ADD ("links", test_window_links);
  ADD ("keyboard", test_window_keyboard);
  ADD ("notifications", test_window_notifications);
  ADD ("burst-keeps-following", test_window_burst_keeps_following);
  ADD ("burst-counted-unread", test_window_burst_counted_unread);
  ADD ("flood-while-reading", test_window_flood_while_reading);
  ADD ("days-and-groups", test_window_days_and_groups);
  ADD ("unread-divider", test_window_unread_divider);
  ADD ("row-spoken", test_window_row_spoken);
  ADD ("row-text-width", test_window_row_text_width);
#undef ADD
  g_test_add_func ("/window/parse-peer", test_parse_peer);
  g_test_add_func ("/window/second-launch-raises-first", run_second_launch);

  return g_test_run ();
}
