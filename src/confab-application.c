/* confab-application.c — the application: settings, actions, the conversation
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <glib/gi18n.h>

#include "confab-application.h"
#include "confab-keyring.h"
#include "confab-resources.h"
#include "confab-preferences-window.h"
#include "confab-window.h"

#define DEFAULT_PORT 48484

struct _ConfabApplication
{
  AdwApplication      parent_instance;

  GSettings          *settings;
  ConfabConversation *conversation;

  /* The shared passphrase, as in the keyring; kept here for this session
   * only when there is no keyring to keep it in.
   */
  char               *passphrase;
  gboolean            passphrase_decided;    /* set in Preferences this run */
  gboolean            passphrase_session_only;
  GCancellable       *keyring_cancellable;
};

G_DEFINE_FINAL_TYPE (ConfabApplication, confab_application, ADW_TYPE_APPLICATION)

enum {
  PROP_0,
  PROP_PASSPHRASE_SESSION_ONLY,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static const GOptionEntry option_entries[] = {
  { "version", 'v', 0, G_OPTION_ARG_NONE, NULL,
    N_("Show the version and exit"), NULL },
  /* Translators: the placeholder after --peer in confab --help */
  { "peer", 0, 0, G_OPTION_ARG_STRING, NULL,
    N_("Chat with HOST on PORT for this run (IPv6 as [ADDRESS]:PORT)"), N_("HOST[:PORT]") },
  { "port", 0, 0, G_OPTION_ARG_INT, NULL,
    N_("Receive on UDP port N for this run"), N_("N") },
  { NULL }
};

ConfabApplication *
confab_application_new (void)
{
  return g_object_new (CONFAB_TYPE_APPLICATION,
                       "application-id", APP_ID,
                       "flags", G_APPLICATION_HANDLES_COMMAND_LINE,
                       "resource-base-path", "/io/github/confab/Confab",
                       NULL);
}

/**
 * confab_parse_peer:
 * @text: "HOST", "HOST:PORT", "[IPV6]:PORT" or a bare IPv6 literal
 * @default_port: the port when @text names none
 * @host: (out): the host, without brackets
 * @port: (out): the port
 *
 * Returns: %TRUE if @text names a host and a port in 1–65535
 */
gboolean
confab_parse_peer (const char  *text,
                   guint16      default_port,
                   char       **host,
                   guint16     *port)
{
  g_autofree char *name = NULL;
  const char *port_text = NULL;
  const char *colon;
  guint64 number = default_port;

  g_return_val_if_fail (text != NULL, FALSE);
  g_return_val_if_fail (host != NULL && port != NULL, FALSE);

  if (text[0] == '[')
    {
      const char *end = strchr (text, ']');

      if (end == NULL || (end[1] != '\0' && end[1] != ':'))
        return FALSE;
      name = g_strndup (text + 1, end - text - 1);
      if (end[1] == ':')
        port_text = end + 2;
    }
  else if ((colon = strchr (text, ':')) != NULL && strchr (colon + 1, ':') == NULL)
    {
      name = g_strndup (text, colon - text);
      port_text = colon + 1;
    }
  else
    {
      name = g_strdup (text);
    }

  g_strstrip (name);
  if (name[0] == '\0')
    return FALSE;
  if (port_text != NULL &&
      !g_ascii_string_to_unsigned (port_text, 10, 1, G_MAXUINT16, &number, NULL))
    return FALSE;

  *host = g_steal_pointer (&name);
  *port = (guint16)number;

  return TRUE;
}

static guint16
settings_get_port (GSettings  *settings,
                   const char *key)
{
  return (guint16)CLAMP (g_settings_get_int (settings, key), 1, G_MAXUINT16);
}

static void
apply_nickname (ConfabApplication *self)
{
  g_autofree char *nickname = g_settings_get_string (self->settings, "nickname");

  confab_conversation_set_nickname (self->conversation, nickname);
}

static void
apply_peer (ConfabApplication *self)
{
  g_autofree char *host = g_settings_get_string (self->settings, "peer-host");

  confab_conversation_set_peer (self->conversation, host,
                                settings_get_port (self->settings, "peer-port"));
}

static void
on_settings_changed (ConfabApplication *self,
                     const char        *key,
                     GSettings         *settings)
{
  if (g_str_equal (key, "nickname"))
    {
      apply_nickname (self);
    }
  else if (g_str_equal (key, "peer-host") || g_str_equal (key, "peer-port"))
    {
      apply_peer (self);
    }
  else if (g_str_equal (key, "local-port"))
    {
      confab_conversation_set_local_port (self->conversation,
                                          settings_get_port (settings, key));
    }
}

static void
forget_passphrase (ConfabApplication *self)
{
  if (self->passphrase != NULL)
    memset (self->passphrase, 0, strlen (self->passphrase));
  g_clear_pointer (&self->passphrase, g_free);
}

static void
set_session_only (ConfabApplication *self,
                  gboolean           session_only)
{
  if (self->passphrase_session_only == session_only)
    return;

  self->passphrase_session_only = session_only;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PASSPHRASE_SESSION_ONLY]);
}

static void
lookup_cb (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(ConfabApplication) self = user_data;
  g_autoptr(GError) error = NULL;
  char *passphrase = confab_keyring_lookup_finish (result, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  if (error != NULL)
    g_message ("No keyring: %s", error->message);

  /* What the person set or cleared in Preferences meanwhile wins. */
  if (passphrase != NULL && !self->passphrase_decided)
    {
      self->passphrase = g_strdup (passphrase);
      confab_conversation_set_passphrase (self->conversation, passphrase);
    }

  if (passphrase != NULL)
    confab_keyring_free_secret (passphrase);

  /* The keyring has answered: a passphrase from it holds sending itself. */
  confab_conversation_release_sending (self->conversation);
}

static void
store_cb (GObject      *object,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(ConfabApplication) self = user_data;
  g_autoptr(GError) error = NULL;

  if (confab_keyring_store_finish (result, &error))
    {
      set_session_only (self, FALSE);
      return;
    }

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  g_message ("The passphrase is kept for this session only: %s", error->message);
  set_session_only (self, self->passphrase != NULL);
}

/**
 * confab_application_set_passphrase:
 * @passphrase: (nullable): the shared passphrase; %NULL or "" for none
 *
 * Encrypts the conversation with it and keeps it in the keyring, or for
 * this session only when there is none (#ConfabApplication:passphrase-session-only).
 */
void
confab_application_set_passphrase (ConfabApplication *self,
                                   const char        *passphrase)
{
  g_return_if_fail (CONFAB_IS_APPLICATION (self));

  if (passphrase != NULL && passphrase[0] == '\0')
    passphrase = NULL;

  forget_passphrase (self);
  self->passphrase = g_strdup (passphrase);
  self->passphrase_decided = TRUE;
  confab_conversation_set_passphrase (self->conversation, passphrase);
  if (passphrase == NULL)
    set_session_only (self, FALSE);

  confab_keyring_store_async (passphrase, self->keyring_cancellable, store_cb,
                              g_object_ref (self));
}

/**
 * confab_application_get_passphrase:
 *
 * Returns: (nullable): the shared passphrase in use
 */
const char *
confab_application_get_passphrase (ConfabApplication *self)
{
  g_return_val_if_fail (CONFAB_IS_APPLICATION (self), NULL);

  return self->passphrase;
}

gboolean
confab_application_get_passphrase_session_only (ConfabApplication *self)
{
  g_return_val_if_fail (CONFAB_IS_APPLICATION (self), FALSE);

  return self->passphrase_session_only;
}

static void
confab_application_startup (GApplication *application)
{
  ConfabApplication *self = CONFAB_APPLICATION (application);

  G_APPLICATION_CLASS (confab_application_parent_class)->startup (application);

  gtk_window_set_default_icon_name (APP_ID);

  self->settings = g_settings_new (APP_ID);
  self->conversation = confab_conversation_new ();
  apply_nickname (self);
  apply_peer (self);
  confab_conversation_set_local_port (self->conversation,
                                      settings_get_port (self->settings, "local-port"));
  g_signal_connect_object (self->settings, "changed",
                           G_CALLBACK (on_settings_changed), self,
                           G_CONNECT_SWAPPED);
  g_settings_bind (self->settings, "plain-text", self->conversation, "plain-text",
                   G_SETTINGS_BIND_GET);
  g_settings_bind (self->settings, "keep-history", self->conversation, "keep-history",
                   G_SETTINGS_BIND_GET);

  /* Until the keyring answers, a passphrase may be on its way: nothing
   * leaves unsealed meanwhile (the outbox resumes once it has answered).
   */
  self->keyring_cancellable = g_cancellable_new ();
  confab_conversation_hold_sending (self->conversation);
  confab_keyring_lookup_async (self->keyring_cancellable, lookup_cb, g_object_ref (self));

  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "app.quit",
                                         (const char *[]) { "<Control>q", NULL });
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "app.preferences",
                                         (const char *[]) { "<Control>comma", NULL });
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "window.close",
                                         (const char *[]) { "<Control>w", NULL });
}

static void
confab_application_shutdown (GApplication *application)
{
  ConfabApplication *self = CONFAB_APPLICATION (application);

  g_cancellable_cancel (self->keyring_cancellable);
  g_clear_object (&self->conversation);

  G_APPLICATION_CLASS (confab_application_parent_class)->shutdown (application);
}

static void
confab_application_activate (GApplication *application)
{
  ConfabApplication *self = CONFAB_APPLICATION (application);
  GtkWindow *window;

  /* Opened once the command line has set this run's peer and port, so that
   * unsent messages resume towards the right one. A path set before (by a
   * test) is kept.
   */
  if (confab_conversation_get_history_path (self->conversation) == NULL)
    {
      g_autofree char *path = confab_history_default_path ();
      g_autofree char *state = g_build_filename (g_get_user_data_dir (), "confab",
                                                 "crypto-state.ini", NULL);

      confab_conversation_set_crypto_state_path (self->conversation, state);
      confab_conversation_set_history_path (self->conversation, path);
    }

  window = gtk_application_get_active_window (GTK_APPLICATION (self));
  if (window == NULL)
    window = GTK_WINDOW (confab_window_new (self));

  gtk_window_present (window);
}

static int
confab_application_handle_local_options (GApplication *application,
                                         GVariantDict *options)
{
  if (g_variant_dict_contains (options, "version"))
    {
      g_print ("%s %s\n", "confab", PACKAGE_VERSION);
      return 0;
    }

  return -1;
}

static int
confab_application_command_line (GApplication            *application,
                                 GApplicationCommandLine *command_line)
{
  ConfabApplication *self = CONFAB_APPLICATION (application);
  GVariantDict *options = g_application_command_line_get_options_dict (command_line);
  const char *peer = NULL;
  gint32 port = 0;

  if (g_variant_dict_lookup (options, "peer", "&s", &peer))
    {
      g_autofree char *host = NULL;
      guint16 peer_port = 0;

      if (!confab_parse_peer (peer, settings_get_port (self->settings, "peer-port"),
                              &host, &peer_port))
        {
          g_application_command_line_printerr (command_line,
                                               _("“%s” is not a peer. Use HOST, HOST:PORT or [IPV6-ADDRESS]:PORT.\n"),
                                               peer);
          return 1;
        }
      /* For this run only: Preferences replaces it when the person applies a peer. */
      confab_conversation_set_peer (self->conversation, host, peer_port);
    }

  if (g_variant_dict_lookup (options, "port", "i", &port))
    {
      if (port < 1 || port > G_MAXUINT16)
        {
          g_application_command_line_printerr (command_line,
                                               _("%d is not a port. Use a number from 1 to 65535.\n"),
                                               port);
          return 1;
        }
      confab_conversation_set_local_port (self->conversation, (guint16)port);
    }

  g_application_activate (application);

  return 0;
}

static void
confab_application_dispose (GObject *object)
{
  ConfabApplication *self = (ConfabApplication *)object;

  if (self->keyring_cancellable != NULL)
    g_cancellable_cancel (self->keyring_cancellable);
  g_clear_object (&self->keyring_cancellable);
  g_clear_object (&self->conversation);
  g_clear_object (&self->settings);
  forget_passphrase (self);

  G_OBJECT_CLASS (confab_application_parent_class)->dispose (object);
}

static void
confab_application_get_property (GObject    *object,
                                 guint       prop_id,
                                 GValue     *value,
                                 GParamSpec *pspec)
{
  ConfabApplication *self = CONFAB_APPLICATION (object);

  switch (prop_id)
    {
    case PROP_PASSPHRASE_SESSION_ONLY:
      g_value_set_boolean (value, self->passphrase_session_only);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
confab_application_class_init (ConfabApplicationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  object_class->dispose = confab_application_dispose;
  object_class->get_property = confab_application_get_property;

  /**
   * ConfabApplication:passphrase-session-only:
   *
   * A passphrase is set but could not be kept in a keyring: it is forgotten
   * when Confab closes.
   */
  properties[PROP_PASSPHRASE_SESSION_ONLY] =
    g_param_spec_boolean ("passphrase-session-only", NULL, NULL,
                          FALSE,
                          (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);

  app_class->startup = confab_application_startup;
  app_class->shutdown = confab_application_shutdown;
  app_class->activate = confab_application_activate;
  app_class->handle_local_options = confab_application_handle_local_options;
  app_class->command_line = confab_application_command_line;

  confab_register_resource ();
}

static void
confab_application_about_action (GSimpleAction *action,
                                 GVariant      *parameter,
                                 gpointer       user_data)
{
  ConfabApplication *self = user_data;
  static const char *developers[] = { "The Confab developers", NULL };
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (self));

  adw_show_about_window (window,
                         "application-name", _("Confab"),
                         "application-icon", APP_ID,
                         "developer-name", _("The Confab developers"),
                         "version", PACKAGE_VERSION,
                         "comments", _("Chat with people on your network, no server needed"),
                         "developers", developers,
                         /* Translators: put your names here, one per line */
                         "translator-credits", _("translator-credits"),
                         "license-type", GTK_LICENSE_GPL_3_0,
                         "copyright", "© 2026 The Confab developers",
                         NULL);
}

static void
confab_application_preferences_action (GSimpleAction *action,
                                       GVariant      *parameter,
                                       gpointer       user_data)
{
  confab_application_show_preferences (user_data);
}

static void
confab_application_quit_action (GSimpleAction *action,
                                GVariant      *parameter,
                                gpointer       user_data)
{
  g_application_quit (G_APPLICATION (user_data));
}

/* A notification was activated: the window, at that message */
static void
confab_application_show_message_action (GSimpleAction *action,
                                        GVariant      *parameter,
                                        gpointer       user_data)
{
  ConfabApplication *self = user_data;
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (self));

  if (window == NULL)
    {
      g_application_activate (G_APPLICATION (self));
      return;
    }

  confab_window_show_notified (CONFAB_WINDOW (window));
}

static const GActionEntry app_actions[] = {
  { "about", confab_application_about_action },
  { "show-message", confab_application_show_message_action },
  { "preferences", confab_application_preferences_action },
  { "quit", confab_application_quit_action },
};

static void
confab_application_init (ConfabApplication *self)
{
  g_action_map_add_action_entries (G_ACTION_MAP (self),
                                   app_actions, G_N_ELEMENTS (app_actions),
                                   self);
  g_application_add_main_option_entries (G_APPLICATION (self), option_entries);
  g_application_set_option_context_summary (G_APPLICATION (self),
                                            _("Chat with people on your network over UDP, no server needed."));
}

GSettings *
confab_application_get_settings (ConfabApplication *self)
{
  g_return_val_if_fail (CONFAB_IS_APPLICATION (self), NULL);

  return self->settings;
}

ConfabConversation *
confab_application_get_conversation (ConfabApplication *self)
{
  g_return_val_if_fail (CONFAB_IS_APPLICATION (self), NULL);

  return self->conversation;
}

/**
 * confab_application_show_preferences:
 *
 * Presents the one Preferences window, over the active window.
 */
void
confab_application_show_preferences (ConfabApplication *self)
{
  GtkWindow *parent;
  GList *windows;

  g_return_if_fail (CONFAB_IS_APPLICATION (self));

  for (windows = gtk_application_get_windows (GTK_APPLICATION (self));
       windows != NULL; windows = windows->next)
    {
      if (CONFAB_IS_PREFERENCES_WINDOW (windows->data))
        {
          gtk_window_present (windows->data);
          return;
        }
    }

  parent = gtk_application_get_active_window (GTK_APPLICATION (self));
  gtk_window_present (GTK_WINDOW (confab_preferences_window_new (self, parent)));
}
