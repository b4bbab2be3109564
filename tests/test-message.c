/* test-message.c — ConfabMessage: fields, states and notification
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "confab-message.h"

static void
count_notify (GObject    *object,
              GParamSpec *pspec,
              guint      *count)
{
  (*count)++;
}

static void
test_message_fields (void)
{
  g_autoptr(GDateTime) time = g_date_time_new_utc (2026, 11, 25, 12, 0, 0);
  ConfabMessage *message;

  message = confab_message_new (CONFAB_DIRECTION_INCOMING, "ann", "grüße <b>", time);
  g_assert_cmpint (confab_message_get_direction (message), ==, CONFAB_DIRECTION_INCOMING);
  g_assert_cmpstr (confab_message_get_sender (message), ==, "ann");
  g_assert_cmpstr (confab_message_get_text (message), ==, "grüße <b>");
  g_assert_true (g_date_time_equal (confab_message_get_time (message), time));
  g_assert_cmpint (confab_message_get_state (message), ==, CONFAB_MESSAGE_STATE_RECEIVED);
  g_assert_null (confab_message_get_error (message));
  g_assert_finalize_object (message);
}

/* A time as stored and sent, in µs; out of GDateTime's range it is now. */
static void
test_message_new_at (void)
{
  gint64 usec = G_GINT64_CONSTANT (1795608000123456);
  gint64 before = g_get_real_time ();
  ConfabMessage *message;
  GDateTime *time;

  message = confab_message_new_at (CONFAB_DIRECTION_INCOMING, "ann", "hi", usec);
  g_assert_cmpint (confab_message_get_time_usec (message), ==, usec);
  time = confab_message_get_time (message);
  g_assert_cmpint (g_date_time_to_unix (time), ==, usec / G_USEC_PER_SEC);
  g_assert_cmpint (g_date_time_get_microsecond (time), ==, usec % G_USEC_PER_SEC);
  g_assert_true (confab_message_get_time (message) == time);
  g_assert_finalize_object (message);

  message = confab_message_new_at (CONFAB_DIRECTION_INCOMING, "ann", "hi", G_MAXINT64);
  g_assert_cmpint (confab_message_get_time_usec (message), >=, before);
  g_assert_cmpint (confab_message_get_time_usec (message), <=, g_get_real_time ());
  g_assert_nonnull (confab_message_get_time (message));
  g_assert_finalize_object (message);
}

static void
test_message_state_notifies_on_change_only (void)
{
  ConfabMessage *message;
  guint count = 0;

  message = confab_message_new (CONFAB_DIRECTION_OUTGOING, "me", "hi", NULL);
  g_assert_cmpint (confab_message_get_state (message), ==, CONFAB_MESSAGE_STATE_SENDING);
  g_assert_nonnull (confab_message_get_time (message));

  g_signal_connect (message, "notify::state", G_CALLBACK (count_notify), &count);
  confab_message_set_state (message, CONFAB_MESSAGE_STATE_SENDING);
  g_assert_cmpuint (count, ==, 0);
  confab_message_set_state (message, CONFAB_MESSAGE_STATE_FAILED);
  g_assert_cmpuint (count, ==, 1);
  confab_message_set_state (message, CONFAB_MESSAGE_STATE_FAILED);
  g_assert_cmpuint (count, ==, 1);

  g_signal_connect (message, "notify::error", G_CALLBACK (count_notify), &count);
  confab_message_set_error (message, "No route to host");
  confab_message_set_error (message, "No route to host");
  g_assert_cmpuint (count, ==, 2);
  g_assert_cmpstr (confab_message_get_error (message), ==, "No route to host");
  confab_message_set_error (message, NULL);
  g_assert_null (confab_message_get_error (message));
  g_assert_cmpuint (count, ==, 3);

  g_assert_finalize_object (message);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/message/fields", test_message_fields);
  g_test_add_func ("/message/new-at", test_message_new_at);
  g_test_add_func ("/message/state-notifies-on-change-only", test_message_state_notifies_on_change_only);

  return g_test_run ();
}
