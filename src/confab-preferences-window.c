/* confab-preferences-window.c — nickname, peer and local port
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <glib/gi18n.h>

#include "confab-preferences-window.h"

struct _ConfabPreferencesWindow
{
  AdwPreferencesWindow  parent_instance;

  GSettings            *settings;
  ConfabConversation   *conversation;
  GCancellable         *test_cancellable;

  /* Template widgets */
  AdwPreferencesGroup  *you_group;
  AdwPreferencesGroup  *peer_group;
  AdwEntryRow          *nickname_row;
  AdwEntryRow          *peer_host_row;
  AdwEntryRow          *peer_port_row;
  AdwEntryRow          *local_port_row;
  AdwActionRow         *plain_text_row;
  GtkSwitch            *plain_text_switch;
  AdwPreferencesGroup  *privacy_group;
  AdwPasswordEntryRow  *passphrase_row;
  AdwActionRow         *safety_code_row;
  GtkSpinner           *deriving_spinner;
  AdwPreferencesGroup  *history_group;
  GtkSwitch            *keep_history_switch;
  GtkSwitch            *notify_switch;
  AdwActionRow         *test_row;
  GtkSpinner           *test_spinner;
  GtkButton            *test_button;
};

G_DEFINE_FINAL_TYPE (ConfabPreferencesWindow, confab_preferences_window,
                     ADW_TYPE_PREFERENCES_WINDOW)

enum {
  PROP_0,
  PROP_SETTINGS,
  PROP_CONVERSATION,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void update_privacy (ConfabPreferencesWindow *self);

ConfabPreferencesWindow *
confab_preferences_window_new (ConfabApplication *application,
                               GtkWindow         *parent)
{
  ConfabPreferencesWindow *self;

  g_return_val_if_fail (CONFAB_IS_APPLICATION (application), NULL);
  g_return_val_if_fail (parent == NULL || GTK_IS_WINDOW (parent), NULL);

  self = g_object_new (CONFAB_TYPE_PREFERENCES_WINDOW,
                       "application", application,
                       "settings", confab_application_get_settings (application),
                       "conversation", confab_application_get_conversation (application),
                       "transient-for", parent,
                       NULL);

  /* The application is set only after construction. */
  g_signal_connect_object (application, "notify::passphrase-session-only",
                           G_CALLBACK (update_privacy), self, G_CONNECT_SWAPPED);
  if (confab_application_get_passphrase (application) != NULL)
    gtk_editable_set_text (GTK_EDITABLE (self->passphrase_row),
                           confab_application_get_passphrase (application));
  update_privacy (self);

  return self;
}

static const char *
port_key (ConfabPreferencesWindow *self,
          AdwEntryRow             *row)
{
  return row == self->local_port_row ? "local-port" : "peer-port";
}

static gboolean
parse_port (const char *text,
            guint16    *port)
{
  g_autofree char *stripped = g_strstrip (g_strdup (text));
  guint64 number;

  if (!g_ascii_string_to_unsigned (stripped, 10, 1, G_MAXUINT16, &number, NULL))
    return FALSE;

  *port = (guint16)number;

  return TRUE;
}

static void
show_port_validity (AdwEntryRow *row,
                    gboolean     valid)
{
  if (valid)
    {
      gtk_widget_remove_css_class (GTK_WIDGET (row), "error");
      gtk_widget_set_tooltip_text (GTK_WIDGET (row), NULL);
    }
  else
    {
      gtk_widget_add_css_class (GTK_WIDGET (row), "error");
      gtk_widget_set_tooltip_text (GTK_WIDGET (row),
                                   _("A port is a whole number from 1 to 65535"));
    }
}

static void
on_port_changed (ConfabPreferencesWindow *self,
                 GtkEditable             *editable)
{
  guint16 port;

  show_port_validity (ADW_ENTRY_ROW (editable),
                      parse_port (gtk_editable_get_text (editable), &port));
}

static void
on_port_apply (ConfabPreferencesWindow *self,
               AdwEntryRow             *row)
{
  guint16 port;

  if (!parse_port (gtk_editable_get_text (GTK_EDITABLE (row)), &port))
    {
      show_port_validity (row, FALSE);
      adw_preferences_window_add_toast (ADW_PREFERENCES_WINDOW (self),
                                        adw_toast_new (_("Not applied: a port is a whole number from 1 to 65535")));
      return;
    }

  g_settings_set_int (self->settings, port_key (self, row), port);
}

static void
on_nickname_apply (ConfabPreferencesWindow *self,
                   AdwEntryRow             *row)
{
  g_autofree char *nickname = g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (row))));

  g_settings_set_string (self->settings, "nickname", nickname);
}

static void
on_peer_host_apply (ConfabPreferencesWindow *self,
                    AdwEntryRow             *row)
{
  g_autofree char *host = g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (row))));
  gsize len = strlen (host);

  /* People paste IPv6 addresses the way URLs write them. */
  if (len >= 2 && host[0] == '[' && host[len - 1] == ']')
    {
      memmove (host, host + 1, len - 2);
      host[len - 2] = '\0';
    }

  g_settings_set_string (self->settings, "peer-host", host);
}

static void
load_port (ConfabPreferencesWindow *self,
           AdwEntryRow             *row)
{
  g_autofree char *text = g_strdup_printf ("%d", g_settings_get_int (self->settings,
                                                                     port_key (self, row)));

  gtk_editable_set_text (GTK_EDITABLE (row), text);
}

static void
load_string (ConfabPreferencesWindow *self,
             AdwEntryRow             *row,
             const char              *key)
{
  g_autofree char *text = g_settings_get_string (self->settings, key);

  gtk_editable_set_text (GTK_EDITABLE (row), text);
}

/* What the person typed but did not apply is applied when the window
 * closes or the connection is tested, if it is valid: that is how most
 * people say "done".
 */
static void
apply_pending (ConfabPreferencesWindow *self)
{
  g_autofree char *nickname = g_settings_get_string (self->settings, "nickname");
  g_autofree char *host = g_settings_get_string (self->settings, "peer-host");
  AdwEntryRow *port_rows[] = { self->peer_port_row, self->local_port_row };
  guint16 port;

  if (g_strcmp0 (nickname, gtk_editable_get_text (GTK_EDITABLE (self->nickname_row))) != 0)
    on_nickname_apply (self, self->nickname_row);
  if (g_strcmp0 (host, gtk_editable_get_text (GTK_EDITABLE (self->peer_host_row))) != 0)
    on_peer_host_apply (self, self->peer_host_row);

  for (guint i = 0; i < G_N_ELEMENTS (port_rows); i++)
    {
      const char *key = port_key (self, port_rows[i]);

      if (parse_port (gtk_editable_get_text (GTK_EDITABLE (port_rows[i])), &port) &&
          port != g_settings_get_int (self->settings, key))
        g_settings_set_int (self->settings, key, port);
    }
}

static gboolean
confab_preferences_window_close_request (GtkWindow *window)
{
  ConfabPreferencesWindow *self = CONFAB_PREFERENCES_WINDOW (window);

  apply_pending (self);
  g_cancellable_cancel (self->test_cancellable);

  return GTK_WINDOW_CLASS (confab_preferences_window_parent_class)->close_request (window);
}

static void
set_testing (ConfabPreferencesWindow *self,
             gboolean                 testing)
{
  gtk_spinner_set_spinning (self->test_spinner, testing);
  gtk_widget_set_sensitive (GTK_WIDGET (self->test_button), !testing);
}

static char *
describe_test (const char   *host,
               guint         port,
               gint64        rtt,
               const GError *error)
{
  if (error == NULL && rtt < 1000)
    return g_strdup_printf (_("Confab at %s port %u answered in less than 1 ms"), host, port);

  if (error == NULL)
    return g_strdup_printf (_("Confab at %s port %u answered in %u ms"), host, port,
                            (guint)((rtt + 500) / 1000));

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
    return g_strdup_printf (_("No answer from %s port %u in 5 s. Is Confab running there, "
                              "and is UDP port %u allowed through both firewalls?"),
                            host, port, port);

  return g_strdup (error->message);
}

static void
ping_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(ConfabPreferencesWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  gint64 rtt;

  rtt = confab_channel_ping_finish (CONFAB_CHANNEL (object), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  text = describe_test (confab_conversation_get_peer_host (self->conversation),
                        confab_conversation_get_peer_port (self->conversation),
                        rtt, error);
  adw_action_row_set_subtitle (self->test_row, text);
  set_testing (self, FALSE);
}

static void
on_test_clicked (ConfabPreferencesWindow *self,
                 GtkButton               *button)
{
  apply_pending (self);

  g_cancellable_cancel (self->test_cancellable);
  g_clear_object (&self->test_cancellable);
  self->test_cancellable = g_cancellable_new ();

  set_testing (self, TRUE);
  adw_action_row_set_subtitle (self->test_row, _("Waiting for an answer…"));
  confab_channel_ping_async (confab_conversation_get_channel (self->conversation),
                             self->test_cancellable, ping_cb, g_object_ref (self));
}

/* confab --peer sets the peer for one run without saving it: say so, rather
 * than show a saved peer the window is not using.
 */
static void
update_peer_description (ConfabPreferencesWindow *self)
{
  g_autofree char *host = g_settings_get_string (self->settings, "peer-host");
  guint port = g_settings_get_int (self->settings, "peer-port");
  const char *used_host = confab_conversation_get_peer_host (self->conversation);
  guint used_port = confab_conversation_get_peer_port (self->conversation);
  g_autofree char *text = NULL;

  if (g_strcmp0 (host, used_host) == 0 && port == used_port)
    text = g_strdup (_("The computer you chat with: its name, IPv4 or IPv6 address, "
                       "and the UDP port it receives on."));
  else
    /* Translators: %s port %u is the peer given on the command line */
    text = g_strdup_printf (_("This run chats with %s port %u, as given on the command line. "
                              "Applying a host or port here replaces it."),
                            used_host, used_port);

  adw_preferences_group_set_description (self->peer_group, text);
}

static ConfabApplication *
get_application (ConfabPreferencesWindow *self)
{
  return CONFAB_APPLICATION (gtk_window_get_application (GTK_WINDOW (self)));
}

static void
on_passphrase_apply (ConfabPreferencesWindow *self,
                     AdwPasswordEntryRow     *row)
{
  confab_application_set_passphrase (get_application (self),
                                     gtk_editable_get_text (GTK_EDITABLE (row)));
}

/* The safety code to compare aloud, and where the passphrase is kept */
static void
update_privacy (ConfabPreferencesWindow *self)
{
  ConfabApplication *application = get_application (self);
  const char *code = confab_conversation_get_safety_code (self->conversation);
  gboolean deriving = confab_conversation_get_deriving (self->conversation);
  g_autofree char *subtitle = NULL;

  gtk_spinner_set_spinning (self->deriving_spinner, deriving);
  gtk_widget_set_visible (GTK_WIDGET (self->deriving_spinner), deriving);

  if (deriving)
    subtitle = g_strdup (_("Deriving the key…"));
  else if (confab_conversation_get_key_error (self->conversation) != NULL)
    /* Translators: %s says why; messages wait until a key is made */
    subtitle = g_strdup_printf (_("No key could be made from the passphrase: %s. Messages wait "
                                  "until one is."),
                                confab_conversation_get_key_error (self->conversation));
  else if (code == NULL)
    subtitle = g_strdup (_("Set a passphrase to see the code to compare with your peer"));
  else if (application != NULL && confab_application_get_passphrase_session_only (application))
    /* Translators: %s is a safety code like "4821 0397 5512" */
    subtitle = g_strdup_printf (_("%s — the same on both computers when the passphrases match. "
                                  "No keyring is available: the passphrase is kept until "
                                  "Confab closes."), code);
  else
    subtitle = g_strdup_printf (_("%s — the same on both computers when the passphrases match"),
                                code);

  adw_action_row_set_subtitle (self->safety_code_row, subtitle);
}

/* A plain-text peer cannot answer, and a ping would print junk at its end.
 * Under a passphrase, bare text is off: it could not be authenticated.
 */
static void
update_test_row (ConfabPreferencesWindow *self)
{
  gboolean encrypted = confab_conversation_get_encrypted (self->conversation);
  gboolean plain = g_settings_get_boolean (self->settings, "plain-text") && !encrypted;

  gtk_widget_set_sensitive (GTK_WIDGET (self->plain_text_row), !encrypted);
  adw_action_row_set_subtitle (self->plain_text_row,
                               encrypted
                               ? _("Off while a passphrase is set: bare text cannot be authenticated")
                               : _("Send bare text, without delivery receipts or resending"));

  gtk_widget_set_sensitive (GTK_WIDGET (self->test_row), !plain);
  if (plain)
    adw_action_row_set_subtitle (self->test_row, _("Plain text peers cannot answer a test"));
  else if (!gtk_spinner_get_spinning (self->test_spinner))
    adw_action_row_set_subtitle (self->test_row, _("Ask Confab on the peer to answer"));
}

/* Says where the file is, in the form people type: ~/.local/share/… */
static void
update_history_description (ConfabPreferencesWindow *self)
{
  g_autofree char *path = confab_history_default_path ();
  g_autofree char *shown = NULL;
  g_autofree char *escaped = NULL;
  g_autofree char *description = NULL;
  const char *home = g_get_home_dir ();

  if (g_str_has_prefix (path, home) && path[strlen (home)] == G_DIR_SEPARATOR)
    shown = g_strconcat ("~", path + strlen (home), NULL);
  else
    shown = g_strdup (path);

  /* The description is Pango markup. */
  escaped = g_markup_escape_text (shown, -1);
  /* Translators: %s is a file name */
  description = g_strdup_printf (_("Messages are stored in %s"), escaped);
  adw_preferences_group_set_description (self->history_group, description);
}

static void
confab_preferences_window_constructed (GObject *object)
{
  ConfabPreferencesWindow *self = (ConfabPreferencesWindow *)object;
  g_autofree char *description = NULL;

  G_OBJECT_CLASS (confab_preferences_window_parent_class)->constructed (object);

  g_assert (G_IS_SETTINGS (self->settings));
  g_assert (CONFAB_IS_CONVERSATION (self->conversation));

  g_settings_bind (self->settings, "plain-text", self->plain_text_switch, "active",
                   G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (self->settings, "keep-history", self->keep_history_switch, "active",
                   G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (self->settings, "notify", self->notify_switch, "active",
                   G_SETTINGS_BIND_DEFAULT);
  update_history_description (self);
  g_signal_connect_object (self->settings, "changed::plain-text",
                           G_CALLBACK (update_test_row), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->conversation, "notify::encrypted",
                           G_CALLBACK (update_test_row), self, G_CONNECT_SWAPPED);
  update_test_row (self);

  g_signal_connect_object (self->conversation, "notify::safety-code",
                           G_CALLBACK (update_privacy), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->conversation, "notify::deriving",
                           G_CALLBACK (update_privacy), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->conversation, "notify::key-error",
                           G_CALLBACK (update_privacy), self, G_CONNECT_SWAPPED);
  update_privacy (self);

  g_signal_connect_object (self->conversation, "notify::peer-host",
                           G_CALLBACK (update_peer_description), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->conversation, "notify::peer-port",
                           G_CALLBACK (update_peer_description), self, G_CONNECT_SWAPPED);
  update_peer_description (self);

  /* Translators: %s is the person's real or login name */
  description = g_strdup_printf (_("The name shown with your messages. Leave it empty to use “%s”."),
                                 confab_default_nickname ());
  adw_preferences_group_set_description (self->you_group, description);

  load_string (self, self->nickname_row, "nickname");
  load_string (self, self->peer_host_row, "peer-host");
  load_port (self, self->peer_port_row);
  load_port (self, self->local_port_row);
}

static void
confab_preferences_window_dispose (GObject *object)
{
  ConfabPreferencesWindow *self = (ConfabPreferencesWindow *)object;

  g_cancellable_cancel (self->test_cancellable);
  g_clear_object (&self->test_cancellable);
  g_clear_object (&self->settings);
  g_clear_object (&self->conversation);

  G_OBJECT_CLASS (confab_preferences_window_parent_class)->dispose (object);
}

static void
confab_preferences_window_get_property (GObject    *object,
                                        guint       prop_id,
                                        GValue     *value,
                                        GParamSpec *pspec)
{
  ConfabPreferencesWindow *self = CONFAB_PREFERENCES_WINDOW (object);

  switch (prop_id)
    {
    case PROP_SETTINGS:
      g_value_set_object (value, self->settings);
      break;

    case PROP_CONVERSATION:
      g_value_set_object (value, self->conversation);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
confab_preferences_window_set_property (GObject      *object,
                                        guint         prop_id,
                                        const GValue *value,
                                        GParamSpec   *pspec)
{
  ConfabPreferencesWindow *self = CONFAB_PREFERENCES_WINDOW (object);

  switch (prop_id)
    {
    case PROP_SETTINGS:
      self->settings = g_value_dup_object (value);
      break;

    case PROP_CONVERSATION:
      self->conversation = g_value_dup_object (value);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
confab_preferences_window_class_init (ConfabPreferencesWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  GtkWindowClass *window_class = GTK_WINDOW_CLASS (klass);

  object_class->constructed = confab_preferences_window_constructed;
  object_class->dispose = confab_preferences_window_dispose;
  object_class->get_property = confab_preferences_window_get_property;
  object_class->set_property = confab_preferences_window_set_property;

  properties[PROP_SETTINGS] =
    g_param_spec_object ("settings", NULL, NULL,
                         G_TYPE_SETTINGS,
                         (G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS));

  properties[PROP_CONVERSATION] =
    g_param_spec_object ("conversation", NULL, NULL,
                         CONFAB_TYPE_CONVERSATION,
                         (G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);
  window_class->close_request = confab_preferences_window_close_request;

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/confab/Confab/confab-preferences-window.ui");
  gtk_widget_class_bind_template_child (widget_class, ConfabPreferencesWindow, you_group);
  gtk_widget_class_bind_template_child (widget_class, ConfabPreferencesWindow, peer_group);
  gtk_widget_class_bind_template_child (widget_class, ConfabPreferencesWindow, nickname_row);
  gtk_widget_class_bind_template_child (widget_class, ConfabPreferencesWindow, peer_host_row);
  gtk_widget_class_bind_template_child (widget_class, ConfabPreferencesWindow, peer_port_row);
  gtk_widget_class_bind_template_child (widget_class, ConfabPreferencesWindow, local_port_row);
  gtk_widget_class_bind_template_callback (widget_class, on_nickname_apply);
  gtk_widget_class_bind_template_callback (widget_class, on_peer_host_apply);
  gtk_widget_class_bind_template_callback (widget_class, on_port_apply);
  gtk_widget_class_bind_template_child (widget_class, ConfabPreferencesWindow, plain_text_row);
  gtk_widget_class_bind_template_child (widget_class, ConfabPreferencesWindow, plain_text_switch);
  gtk_widget_class_bind_template_child (widget_class, ConfabPreferencesWindow, privacy_group);
  gtk_widget_class_bind_template_child (widget_class, ConfabPreferencesWindow, passphrase_row);
  gtk_widget_class_bind_template_child (widget_class, ConfabPreferencesWindow, safety_code_row);
  gtk_widget_class_bind_template_child (widget_class, ConfabPreferencesWindow, deriving_spinner);
  gtk_widget_class_bind_template_child (widget_class, ConfabPreferencesWindow, history_group);
  gtk_widget_class_bind_template_callback (widget_class, on_passphrase_apply);
  gtk_widget_class_bind_template_child (widget_class, ConfabPreferencesWindow,
                                        keep_history_switch);
  gtk_widget_class_bind_template_child (widget_class, ConfabPreferencesWindow, notify_switch);
  gtk_widget_class_bind_template_child (widget_class, ConfabPreferencesWindow, test_row);
  gtk_widget_class_bind_template_child (widget_class, ConfabPreferencesWindow, test_spinner);
  gtk_widget_class_bind_template_child (widget_class, ConfabPreferencesWindow, test_button);
  gtk_widget_class_bind_template_callback (widget_class, on_port_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_test_clicked);
}

static void
confab_preferences_window_init (ConfabPreferencesWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}
