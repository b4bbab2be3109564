/* confab-message-row.c — how one message looks in the list
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <glib/gi18n.h>

#include "confab-links.h"
#include "confab-message-row.h"

struct _ConfabMessageRow
{
  GtkWidget      parent_instance;

  ConfabMessage *message;

  /* Template widgets */
  GtkWidget     *bubble;
  GtkLabel      *sender_label;
  GtkLabel      *time_label;
  GtkLabel      *text_label;
  GtkWidget     *header_box;
  GtkWidget     *state_box;
  GtkImage      *state_icon;
  GtkLabel      *state_label;

  /* Seldom shown, so made when first needed: every widget of a row costs
   * its creation, style and layout before the window's first frame
   * (bench-startup: 13 ms of the 45 that twelve rows took).
   */
  GtkWidget     *day_label;
  GtkWidget     *unread_label;
  GtkWidget     *retry_button;
};

G_DEFINE_FINAL_TYPE (ConfabMessageRow, confab_message_row, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_MESSAGE,
  N_PROPS
};

enum {
  RETRY,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

/* Without a width in characters, a wrapping label finds its smallest width
 * by breaking the text at every character, and pango shapes the rest of the
 * text again at each break: 2 ms for 100 characters, most of the cost of a
 * row. The smallest width is given instead: a long text can narrow to
 * TEXT_MIN_CHARS and still break anywhere; a short one keeps its own width,
 * as half its length never widens it.
 */
#define TEXT_MIN_CHARS 12

/* Web and mail addresses become links (opened with gtk_show_uri() by the
 * label); everything else shows as the literal text it is.
 */
static void
set_message_text (ConfabMessageRow *self,
                  const char       *text)
{
  gboolean has_links = FALSE;
  g_autofree char *markup = confab_links_markup (text, &has_links);

  gtk_label_set_width_chars (self->text_label,
                             (int) MIN (g_utf8_strlen (text, -1) / 2, TEXT_MIN_CHARS));

  if (has_links)
    gtk_label_set_markup (self->text_label, markup);
  else
    gtk_label_set_text (self->text_label, text);
}

ConfabMessageRow *
confab_message_row_new (void)
{
  return g_object_new (CONFAB_TYPE_MESSAGE_ROW, NULL);
}

/* What a screen reader says for the row, e.g. "Ada, 14:02, delivered: see
 * you at noon"
 */
static void
update_accessible (ConfabMessageRow *self,
                   const char       *state)
{
  g_autofree char *spoken = confab_message_row_get_spoken (self);

  gtk_accessible_update_property (GTK_ACCESSIBLE (self),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, spoken,
                                  GTK_ACCESSIBLE_PROPERTY_DESCRIPTION,
                                  state != NULL ? state : "",
                                  -1);
}

static void
update_state (ConfabMessageRow *self)
{
  ConfabMessageState state = confab_message_get_state (self->message);
  const char *icon = NULL;
  const char *text = NULL;
  const char *error;

  switch (state)
    {
    case CONFAB_MESSAGE_STATE_SENDING:
      icon = "content-loading-symbolic";
      text = _("Sending…");
      break;

    case CONFAB_MESSAGE_STATE_SENT:
      icon = "object-select-symbolic";
      /* Translators: the peer (netcat, a script) cannot confirm it got the message */
      text = _("Sent, no receipt");
      break;

    case CONFAB_MESSAGE_STATE_DELIVERED:
      icon = "confab-delivered-symbolic";
      text = _("Delivered");
      break;

    case CONFAB_MESSAGE_STATE_FAILED:
      icon = "dialog-warning-symbolic";
      text = _("Not sent");
      break;

    case CONFAB_MESSAGE_STATE_RECEIVED:
    default:
      /* Translators: a message from netcat or a script, which cannot confirm anything */
      if (confab_message_get_plain (self->message))
        text = _("Plain text, no receipt");
      break;
    }

  gtk_widget_set_visible (self->state_box, text != NULL);
  gtk_image_set_from_icon_name (self->state_icon, icon);
  gtk_label_set_text (self->state_label, text != NULL ? text : "");
  if (state == CONFAB_MESSAGE_STATE_FAILED && self->retry_button == NULL)
    {
      self->retry_button = gtk_button_new_with_mnemonic (_("_Retry"));
      gtk_actionable_set_action_name (GTK_ACTIONABLE (self->retry_button), "row.retry");
      gtk_widget_set_valign (self->retry_button, GTK_ALIGN_CENTER);
      gtk_widget_add_css_class (self->retry_button, "confab-retry");
      gtk_box_append (GTK_BOX (self->state_box), self->retry_button);
    }
  if (self->retry_button != NULL)
    gtk_widget_set_visible (self->retry_button, state == CONFAB_MESSAGE_STATE_FAILED);

  error = confab_message_get_error (self->message);
  gtk_widget_set_tooltip_text (self->state_box,
                               state == CONFAB_MESSAGE_STATE_FAILED ? error : NULL);

  if (state == CONFAB_MESSAGE_STATE_FAILED)
    gtk_widget_add_css_class (self->bubble, "failed");
  else
    gtk_widget_remove_css_class (self->bubble, "failed");

  update_accessible (self, text);
}

static void
update_direction (ConfabMessageRow *self)
{
  gboolean outgoing = confab_message_get_direction (self->message) == CONFAB_DIRECTION_OUTGOING;

  gtk_widget_set_halign (self->bubble, outgoing ? GTK_ALIGN_END : GTK_ALIGN_START);
  gtk_widget_remove_css_class (self->bubble, outgoing ? "incoming" : "outgoing");
  gtk_widget_add_css_class (self->bubble, outgoing ? "outgoing" : "incoming");
}

static void
update_time (ConfabMessageRow *self)
{
  /* In local time already */
  GDateTime *local = confab_message_get_time (self->message);
  /* Translators: the time of a message; see g_date_time_format() */
  g_autofree char *short_time = g_date_time_format (local, _("%H:%M"));
  g_autofree char *long_time = g_date_time_format (local, "%c");

  gtk_label_set_text (self->time_label, short_time);
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->time_label), long_time);
}

ConfabMessage *
confab_message_row_get_message (ConfabMessageRow *self)
{
  g_return_val_if_fail (CONFAB_IS_MESSAGE_ROW (self), NULL);

  return self->message;
}

/**
 * confab_message_row_set_message:
 * @message: (nullable): the message to show
 *
 * Rows are recycled by the list view; the row follows the state of
 * whichever message it shows.
 */
void
confab_message_row_set_message (ConfabMessageRow *self,
                                ConfabMessage    *message)
{
  g_return_if_fail (CONFAB_IS_MESSAGE_ROW (self));
  g_return_if_fail (message == NULL || CONFAB_IS_MESSAGE (message));

  if (self->message == message)
    return;

  if (self->message != NULL)
    g_signal_handlers_disconnect_by_data (self->message, self);

  g_set_object (&self->message, message);

  if (message != NULL)
    {
      /* Set as plain text: text from the network is never markup. */
      gtk_label_set_text (self->sender_label, confab_message_get_sender (message));
      set_message_text (self, confab_message_get_text (message));
      update_direction (self);
      update_time (self);
      update_state (self);
      g_signal_connect_object (message, "notify::state",
                               G_CALLBACK (update_state), self, G_CONNECT_SWAPPED);
      g_signal_connect_object (message, "notify::error",
                               G_CALLBACK (update_state), self, G_CONNECT_SWAPPED);
    }

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MESSAGE]);
}

static void
retry_action (GtkWidget  *widget,
              const char *action_name,
              GVariant   *parameter)
{
  g_signal_emit (widget, signals[RETRY], 0);
}

static void
confab_message_row_dispose (GObject *object)
{
  ConfabMessageRow *self = (ConfabMessageRow *)object;

  confab_message_row_set_message (self, NULL);
  g_clear_pointer (&self->day_label, gtk_widget_unparent);
  g_clear_pointer (&self->unread_label, gtk_widget_unparent);
  gtk_widget_dispose_template (GTK_WIDGET (self), CONFAB_TYPE_MESSAGE_ROW);
  /* It was inside the state box. */
  self->retry_button = NULL;

  G_OBJECT_CLASS (confab_message_row_parent_class)->dispose (object);
}

static void
confab_message_row_get_property (GObject    *object,
                                 guint       prop_id,
                                 GValue     *value,
                                 GParamSpec *pspec)
{
  ConfabMessageRow *self = CONFAB_MESSAGE_ROW (object);

  switch (prop_id)
    {
    case PROP_MESSAGE:
      g_value_set_object (value, self->message);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
confab_message_row_set_property (GObject      *object,
                                 guint         prop_id,
                                 const GValue *value,
                                 GParamSpec   *pspec)
{
  ConfabMessageRow *self = CONFAB_MESSAGE_ROW (object);

  switch (prop_id)
    {
    case PROP_MESSAGE:
      confab_message_row_set_message (self, g_value_get_object (value));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
confab_message_row_class_init (ConfabMessageRowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = confab_message_row_dispose;
  object_class->get_property = confab_message_row_get_property;
  object_class->set_property = confab_message_row_set_property;

  properties[PROP_MESSAGE] =
    g_param_spec_object ("message", NULL, NULL,
                         CONFAB_TYPE_MESSAGE,
                         (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * ConfabMessageRow::retry:
   *
   * The person asked to send this failed message again.
   */
  signals[RETRY] =
    g_signal_new ("retry",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 0);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/confab/Confab/confab-message-row.ui");
  gtk_widget_class_bind_template_child (widget_class, ConfabMessageRow, bubble);
  gtk_widget_class_bind_template_child (widget_class, ConfabMessageRow, sender_label);
  gtk_widget_class_bind_template_child (widget_class, ConfabMessageRow, time_label);
  gtk_widget_class_bind_template_child (widget_class, ConfabMessageRow, text_label);
  gtk_widget_class_bind_template_child (widget_class, ConfabMessageRow, header_box);
  gtk_widget_class_bind_template_child (widget_class, ConfabMessageRow, state_box);
  gtk_widget_class_bind_template_child (widget_class, ConfabMessageRow, state_icon);
  gtk_widget_class_bind_template_child (widget_class, ConfabMessageRow, state_label);

  gtk_widget_class_install_action (widget_class, "row.retry", NULL, retry_action);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BOX_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "confab-message-row");
}

static void
confab_message_row_init (ConfabMessageRow *self)
{
  gtk_orientable_set_orientation (GTK_ORIENTABLE (gtk_widget_get_layout_manager (GTK_WIDGET (self))),
                                  GTK_ORIENTATION_VERTICAL);
  gtk_widget_init_template (GTK_WIDGET (self));
}

/* Messages closer than this from one sender read as one group. */
#define GROUP_USEC (5 * G_TIME_SPAN_MINUTE)

/* "Today", "Yesterday", a weekday this week, or a date */
static char *
day_name (GDateTime *time)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  g_autoptr(GDateTime) local = g_date_time_to_local (time);
  g_autoptr(GDateTime) today = g_date_time_new_local (g_date_time_get_year (now),
                                                      g_date_time_get_month (now),
                                                      g_date_time_get_day_of_month (now),
                                                      0, 0, 0);
  GTimeSpan before = g_date_time_difference (today, local);

  if (before <= 0)
    return g_strdup (_("Today"));
  if (before <= G_TIME_SPAN_DAY)
    return g_strdup (_("Yesterday"));
  if (before <= 6 * G_TIME_SPAN_DAY)
    /* Translators: a day heading in the list: the weekday, see strftime */
    return g_date_time_format (local, _("%A"));
  if (g_date_time_get_year (local) == g_date_time_get_year (now))
    /* Translators: a day heading in the list this year, see strftime */
    return g_date_time_format (local, _("%A, %-d %B"));

  /* Translators: a day heading in the list in another year, see strftime */
  return g_date_time_format (local, _("%-d %B %Y"));
}

static gboolean
same_day (GDateTime *a,
          GDateTime *b)
{
  g_autoptr(GDateTime) la = g_date_time_to_local (a);
  g_autoptr(GDateTime) lb = g_date_time_to_local (b);

  return g_date_time_get_year (la) == g_date_time_get_year (lb) &&
         g_date_time_get_day_of_year (la) == g_date_time_get_day_of_year (lb);
}

/* A line of small type above the bubble: the day heading, the unread divider */
static GtkWidget *
divider_new (ConfabMessageRow *self,
             GtkWidget        *before,
             GtkAlign          halign,
             const char       *style_class,
             const char       *emphasis_class)
{
  GtkWidget *label = gtk_label_new (NULL);

  gtk_widget_set_halign (label, halign);
  gtk_widget_add_css_class (label, style_class);
  gtk_widget_add_css_class (label, emphasis_class);
  gtk_widget_add_css_class (label, "caption-heading");
  gtk_widget_insert_before (label, GTK_WIDGET (self), before);
  return label;
}

/**
 * confab_message_row_set_previous:
 * @previous: (nullable): the message shown just above, if any
 *
 * A new day gets a heading; a message shortly after one from the same
 * sender joins its group, without repeating the name and time.
 */
void
confab_message_row_set_previous (ConfabMessageRow *self,
                                 ConfabMessage    *previous)
{
  ConfabMessage *message;
  gboolean new_day;
  gboolean grouped = FALSE;

  g_return_if_fail (CONFAB_IS_MESSAGE_ROW (self));

  message = self->message;
  if (message == NULL)
    return;

  new_day = previous == NULL ||
            !same_day (confab_message_get_time (previous), confab_message_get_time (message));
  if (new_day)
    {
      g_autofree char *name = day_name (confab_message_get_time (message));

      if (self->day_label == NULL)
        self->day_label = divider_new (self, gtk_widget_get_first_child (GTK_WIDGET (self)),
                                       GTK_ALIGN_CENTER, "confab-day", "dim-label");
      gtk_label_set_text (GTK_LABEL (self->day_label), name);
    }
  else
    {
      grouped = confab_message_get_direction (previous) == confab_message_get_direction (message) &&
                g_strcmp0 (confab_message_get_sender (previous),
                           confab_message_get_sender (message)) == 0 &&
                g_date_time_difference (confab_message_get_time (message),
                                        confab_message_get_time (previous)) < GROUP_USEC;
    }

  if (self->day_label != NULL)
    gtk_widget_set_visible (self->day_label, new_day);
  gtk_widget_set_visible (self->header_box, !grouped);
  if (grouped)
    gtk_widget_add_css_class (GTK_WIDGET (self), "grouped");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self), "grouped");
}

/**
 * confab_message_row_set_first_unread:
 * @first_unread: whether the unread messages begin here
 *
 * Shows the "New Messages" divider above the message.
 */
void
confab_message_row_set_first_unread (ConfabMessageRow *self,
                                     gboolean          first_unread)
{
  g_return_if_fail (CONFAB_IS_MESSAGE_ROW (self));

  if (first_unread && self->unread_label == NULL)
    {
      self->unread_label = divider_new (self, self->bubble, GTK_ALIGN_FILL, "confab-unread",
                                        "accent");
      gtk_label_set_text (GTK_LABEL (self->unread_label), _("New Messages"));
    }
  if (self->unread_label != NULL)
    gtk_widget_set_visible (self->unread_label, first_unread);
}

/**
 * confab_message_row_get_spoken:
 *
 * Returns: (transfer full): the row as a screen reader reads it: sender,
 *   time, state if any, and text
 */
char *
confab_message_row_get_spoken (ConfabMessageRow *self)
{
  const char *state;

  g_return_val_if_fail (CONFAB_IS_MESSAGE_ROW (self), NULL);

  if (self->message == NULL)
    return g_strdup ("");

  state = gtk_label_get_text (self->state_label);
  if (state == NULL || state[0] == '\0')
    /* Translators: how a screen reader reads a message: sender, time: text */
    return g_strdup_printf (_("%s, %s: %s"), confab_message_get_sender (self->message),
                            gtk_label_get_text (self->time_label),
                            confab_message_get_text (self->message));

  /* Translators: how a screen reader reads a message: sender, time, state: text */
  return g_strdup_printf (_("%s, %s, %s: %s"), confab_message_get_sender (self->message),
                          gtk_label_get_text (self->time_label), state,
                          confab_message_get_text (self->message));
}
