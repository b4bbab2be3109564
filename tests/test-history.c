/* test-history.c — the SQLite store, on real files
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/* SCHED_BATCH */
#define _GNU_SOURCE

#include "config.h"

#include <glib/gstdio.h>
#include <sched.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include "confab-history.h"
#include "test-util.h"

typedef struct
{
  char *dir;
  char *path;
} Fixture;

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  fixture->dir = test_make_tmpdir ("history");
  fixture->path = g_build_filename (fixture->dir, "sub", "history.db", NULL);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  test_remove_tree (fixture->dir);
  g_free (fixture->dir);
  g_free (fixture->path);
}

static ConfabHistory *
open_ok (const char *path)
{
  g_autoptr(GError) error = NULL;
  ConfabHistory *history = confab_history_open (path, &error);

  g_assert_no_error (error);
  g_assert_nonnull (history);

  return history;
}

static ConfabMessage *
make_message (ConfabDirection  direction,
              const char      *text,
              guint64          origin,
              guint64          number)
{
  ConfabMessage *message = confab_message_new (direction, "ann", text, NULL);

  confab_message_set_id (message, origin, number);
  confab_message_set_peer (message, "127.0.0.1", 48484);
  return message;
}

static void
add_ok (ConfabHistory *history,
        ConfabMessage *message)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (confab_history_add (history, message, &error));
  g_assert_no_error (error);
}

static void
commit_ok (ConfabHistory *history)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (confab_history_commit (history, &error));
  g_assert_no_error (error);
}

static GPtrArray *
load_ok (ConfabHistory *history,
         gint64         before,
         guint          limit)
{
  g_autoptr(GError) error = NULL;
  GPtrArray *messages = confab_history_load (history, before, limit, &error);

  g_assert_no_error (error);
  g_assert_nonnull (messages);
  return messages;
}

static void
assert_same_message (ConfabMessage *a,
                     ConfabMessage *b)
{
  g_assert_cmpint (confab_message_get_history_id (a), ==, confab_message_get_history_id (b));
  g_assert_cmpint (confab_message_get_direction (a), ==, confab_message_get_direction (b));
  g_assert_cmpstr (confab_message_get_sender (a), ==, confab_message_get_sender (b));
  g_assert_cmpstr (confab_message_get_text (a), ==, confab_message_get_text (b));
  g_assert_cmpint (confab_message_get_time_usec (a), ==, confab_message_get_time_usec (b));
  g_assert_cmpint (confab_message_get_state (a), ==, confab_message_get_state (b));
  g_assert_cmpstr (confab_message_get_error (a), ==, confab_message_get_error (b));
  g_assert_cmpuint (confab_message_get_origin (a), ==, confab_message_get_origin (b));
  g_assert_cmpuint (confab_message_get_number (a), ==, confab_message_get_number (b));
  g_assert_cmpint (confab_message_get_plain (a), ==, confab_message_get_plain (b));
  g_assert_cmpstr (confab_message_get_peer_host (a), ==, confab_message_get_peer_host (b));
  g_assert_cmpuint (confab_message_get_peer_port (a), ==, confab_message_get_peer_port (b));
  g_assert_cmpint (confab_message_get_received_time (a), ==,
                   confab_message_get_received_time (b));
  g_assert_cmpint (confab_message_get_delivered_time (a), ==,
                   confab_message_get_delivered_time (b));
}

static gint64
file_size (const char *path)
{
  GStatBuf buf;

  return g_stat (path, &buf) == 0 ? (gint64)buf.st_size : 0;
}

static gint64
count_with_sqlite (const char *path)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  gint64 count;

  g_assert_cmpint (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db, "SELECT count(*) FROM messages", -1, &stmt, NULL),
                   ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  count = sqlite3_column_int64 (stmt, 0);
  sqlite3_finalize (stmt);
  sqlite3_close (db);

  return count;
}

typedef struct
{
  const char *path;
  gint64      count;
} Stored;

static gboolean
database_holds (gpointer data)
{
  const Stored *stored = data;

  return count_with_sqlite (stored->path) == stored->count;
}

/* Every field, and text that would break SQL built from strings. */
static void
test_round_trip (Fixture       *fixture,
                 gconstpointer  data)
{
  g_autoptr(ConfabHistory) history = open_ok (fixture->path);
  g_autoptr(ConfabHistory) reopened = NULL;
  g_autoptr(GPtrArray) sent = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GPtrArray) loaded = NULL;
  g_autoptr(GString) long_text = g_string_new (NULL);
  g_autoptr(GDateTime) when = g_date_time_new_local (2026, 11, 25, 14, 2, 3.456789);
  const char *texts[] = {
    "plain words",
    "quotes ' \" ; DROP TABLE messages; --",
    "Grüße, 你好, שלום, 🙂👍🏽, e\xcc\x81",
    "\x01\x02\x7f binary-looking \x1b[31m",
    "%s %n %% ?1 :name",
  };
  ConfabMessage *message;

  while (long_text->len < 65536)
    g_string_append (long_text, "0123456789abcdeé");
  g_string_truncate (long_text, 65536);
  g_assert_true (g_utf8_validate (long_text->str, -1, NULL));

  for (guint i = 0; i < G_N_ELEMENTS (texts); i++)
    {
      message = make_message (i % 2 ? CONFAB_DIRECTION_INCOMING : CONFAB_DIRECTION_OUTGOING,
                              texts[i], G_GUINT64_CONSTANT (0xfedcba9876543210) + i, i + 1);
      g_ptr_array_add (sent, message);
    }

  /* An outgoing, delivered message with every time set */
  message = confab_message_new (CONFAB_DIRECTION_OUTGOING, "bob \"the\" builder", long_text->str,
                                when);
  confab_message_set_id (message, G_MAXUINT64, G_MAXUINT64 - 1);
  confab_message_set_peer (message, "fe80::1", 65535);
  confab_message_set_state (message, CONFAB_MESSAGE_STATE_DELIVERED);
  confab_message_set_delivered_time (message, G_GINT64_CONSTANT (1795000000123456));
  g_ptr_array_add (sent, message);

  /* A failed plain one with its error */
  message = make_message (CONFAB_DIRECTION_OUTGOING, "nc line", 0, 0);
  confab_message_set_plain (message, TRUE);
  confab_message_set_state (message, CONFAB_MESSAGE_STATE_FAILED);
  confab_message_set_error (message, "Network is unreachable");
  g_ptr_array_add (sent, message);

  /* An incoming one with its arrival time */
  message = make_message (CONFAB_DIRECTION_INCOMING, "hello", 77, 1);
  confab_message_set_received_time (message, G_GINT64_CONSTANT (1795000000999999));
  g_ptr_array_add (sent, message);

  for (guint i = 0; i < sent->len; i++)
    {
      add_ok (history, g_ptr_array_index (sent, i));
      g_assert_cmpint (confab_message_get_history_id (g_ptr_array_index (sent, i)), >, 0);
    }
  commit_ok (history);
  g_clear_object (&history);

  reopened = open_ok (fixture->path);
  g_assert_null (confab_history_get_recovery (reopened));
  g_assert_cmpint (confab_history_count (reopened, NULL), ==, sent->len);
  loaded = load_ok (reopened, 0, 100);
  g_assert_cmpuint (loaded->len, ==, sent->len);
  for (guint i = 0; i < sent->len; i++)
    assert_same_message (g_ptr_array_index (sent, i), g_ptr_array_index (loaded, i));
}

static void
test_update (Fixture       *fixture,
             gconstpointer  data)
{
  g_autoptr(ConfabHistory) history = open_ok (fixture->path);
  g_autoptr(ConfabMessage) message = make_message (CONFAB_DIRECTION_OUTGOING, "hi", 0, 0);
  g_autoptr(GPtrArray) unsent = NULL;
  g_autoptr(GPtrArray) loaded = NULL;

  add_ok (history, message);
  commit_ok (history);
  unsent = confab_history_load_unsent (history, NULL);
  g_assert_cmpuint (unsent->len, ==, 1);
  g_clear_pointer (&unsent, g_ptr_array_unref);

  /* The state alone: the stored protocol id stays as it was. */
  confab_message_set_state (message, CONFAB_MESSAGE_STATE_SENT);
  g_assert_true (confab_history_update (history, message, NULL));
  confab_message_set_id (message, 5, 6);
  g_assert_true (confab_history_update (history, message, NULL));
  commit_ok (history);
  loaded = load_ok (history, 0, 10);
  g_assert_cmpuint (loaded->len, ==, 1);
  g_assert_cmpuint (confab_message_get_state (g_ptr_array_index (loaded, 0)), ==,
                    CONFAB_MESSAGE_STATE_SENT);
  g_assert_cmpuint (confab_message_get_number (g_ptr_array_index (loaded, 0)), ==, 0);
  g_clear_pointer (&loaded, g_ptr_array_unref);

  confab_message_set_state (message, CONFAB_MESSAGE_STATE_DELIVERED);
  confab_message_set_delivered_time (message, 1234);
  g_assert_true (confab_history_update (history, message, NULL));
  g_assert_true (confab_history_renumber (history, message, NULL));
  commit_ok (history);

  unsent = confab_history_load_unsent (history, NULL);
  g_assert_cmpuint (unsent->len, ==, 0);
  loaded = load_ok (history, 0, 10);
  g_assert_cmpuint (loaded->len, ==, 1);
  assert_same_message (message, g_ptr_array_index (loaded, 0));

  /* The new id is the one a resend is known by. */
  g_clear_object (&message);
  message = make_message (CONFAB_DIRECTION_OUTGOING, "hi", 5, 6);
  add_ok (history, message);
  g_assert_cmpint (confab_message_get_history_id (message), ==, 0);
}

/* Another connection that writes: a checkpoint in a thread, or a second
 * program on the same file
 */
typedef struct
{
  const char *path;
  guint       hold_ms;
  GMutex      lock;
  GCond       cond;
  gboolean    holding;
  gboolean    letting_go;
} Writer;

static gpointer
hold_write_lock (gpointer data)
{
  Writer *writer = data;
  sqlite3 *db = NULL;

  g_assert_cmpint (sqlite3_open_v2 (writer->path, &db, SQLITE_OPEN_READWRITE, NULL), ==,
                   SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db, "BEGIN IMMEDIATE", NULL, NULL, NULL), ==, SQLITE_OK);
  g_mutex_lock (&writer->lock);
  writer->holding = TRUE;
  g_cond_signal (&writer->cond);
  g_mutex_unlock (&writer->lock);
  g_usleep (writer->hold_ms * 1000);
  g_mutex_lock (&writer->lock);
  writer->letting_go = TRUE;
  g_mutex_unlock (&writer->lock);
  g_assert_cmpint (sqlite3_exec (db, "COMMIT", NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (db);

  return NULL;
}

static GThread *
start_writer (Writer *writer)
{
  GThread *thread = g_thread_new ("writer", hold_write_lock, writer);

  g_mutex_lock (&writer->lock);
  while (!writer->holding)
    g_cond_wait (&writer->cond, &writer->lock);
  g_mutex_unlock (&writer->lock);

  return thread;
}

/* A write waits while another connection writes, and fails cleanly, as a
 * failure the history reports, if that goes on for seconds.
 */
static void
test_waits_for_lock (Fixture       *fixture,
                     gconstpointer  data)
{
  g_autoptr(ConfabHistory) history = open_ok (fixture->path);
  g_autoptr(ConfabMessage) first = make_message (CONFAB_DIRECTION_INCOMING, "after a wait", 1, 1);
  g_autoptr(ConfabMessage) second = make_message (CONFAB_DIRECTION_INCOMING, "never", 1, 2);
  Writer brief = { fixture->path, 50 };
  Writer long_one = { fixture->path, 3000 };
  Stored one = { fixture->path, 1 };
  GThread *thread;

  thread = start_writer (&brief);
  add_ok (history, first);
  commit_ok (history);
  g_thread_join (thread);
  g_assert_null (confab_history_get_failure (history));
  g_assert_cmpint (confab_history_count (history, NULL), ==, 1);
  TEST_WAIT_UNTIL (database_holds, &one);

  thread = start_writer (&long_one);
  g_assert_false (confab_history_add (history, second, NULL) &&
                  confab_history_sync (history, NULL));
  g_assert_nonnull (confab_history_get_failure (history));
  g_thread_join (thread);
}

/* The same protocol id twice (a resend after a restart) is stored once. */
static void
test_duplicate (Fixture       *fixture,
                gconstpointer  data)
{
  g_autoptr(ConfabHistory) history = open_ok (fixture->path);
  g_autoptr(ConfabMessage) first = make_message (CONFAB_DIRECTION_INCOMING, "once", 9, 1);
  g_autoptr(ConfabMessage) again = make_message (CONFAB_DIRECTION_INCOMING, "once", 9, 1);
  g_autoptr(ConfabMessage) plain_a = make_message (CONFAB_DIRECTION_INCOMING, "nc", 0, 0);
  g_autoptr(ConfabMessage) plain_b = make_message (CONFAB_DIRECTION_INCOMING, "nc", 0, 0);

  add_ok (history, first);
  add_ok (history, again);
  g_assert_cmpint (confab_message_get_history_id (first), >, 0);
  g_assert_cmpint (confab_message_get_history_id (again), ==, 0);

  /* Plain-text messages have no id; each is its own. */
  add_ok (history, plain_a);
  add_ok (history, plain_b);
  g_assert_cmpint (confab_message_get_history_id (plain_b), >,
                   confab_message_get_history_id (plain_a));
  commit_ok (history);
  g_assert_cmpint (confab_history_count (history, NULL), ==, 3);
}

/* Returns (nullable): where @needle first stands in @length bytes */
static char *
find_bytes (char       *contents,
            gsize       length,
            const char *needle)
{
  for (gsize i = 0; i + strlen (needle) <= length; i++)
    if (memcmp (contents + i, needle, strlen (needle)) == 0)
      return contents + i;

  return NULL;
}

static gboolean
file_contains (const char *path,
               const char *needle)
{
  g_autofree char *contents = NULL;
  gsize length = 0;

  if (!g_file_get_contents (path, &contents, &length, NULL))
    return FALSE;

  return find_bytes (contents, length, needle) != NULL;
}

/* Whether either log of the history at @path holds @needle */
static gboolean
logs_contain (const char *path,
              const char *needle)
{
  g_autofree char *log = g_strconcat (path, "-log", NULL);
  g_autofree char *log2 = g_strconcat (path, "-log2", NULL);

  return file_contains (log, needle) || file_contains (log2, needle);
}

/* Copies the history's files as they are on disk now, as a crash would
 * leave them, to @dir; returns the copy's path. With @tear, the log's record
 * holding that text is one whose copy into the log the crash cut short.
 */
static char *
copy_as_crashed (const char *path,
                 const char *dir,
                 const char *tear)
{
  const char *suffixes[] = { "", "-wal", "-log", "-log2" };
  gboolean torn = tear == NULL;
  char *copy = g_build_filename (dir, "crashed.db", NULL);

  for (guint i = 0; i < G_N_ELEMENTS (suffixes); i++)
    {
      g_autofree char *from = g_strconcat (path, suffixes[i], NULL);
      g_autofree char *to = g_strconcat (copy, suffixes[i], NULL);
      g_autofree char *contents = NULL;
      gsize length = 0;

      if (!g_file_get_contents (from, &contents, &length, NULL))
        continue;
      if (g_str_has_prefix (suffixes[i], "-log") && tear != NULL)
        {
          char *text = find_bytes (contents, length, tear);

          if (text != NULL)
            memset (text, 0, strlen (tear));
          torn |= text != NULL;
        }
      g_assert_true (g_file_set_contents (to, contents, length, NULL));
    }
  g_assert_true (torn);

  return copy;
}

/* Opens @copy, which must hold exactly @messages once its logs replay */
static ConfabHistory *
reopen_holding (const char *copy,
                GPtrArray  *messages)
{
  ConfabHistory *reopened = open_ok (copy);
  g_autoptr(GPtrArray) loaded = NULL;

  g_assert_null (confab_history_get_failure (reopened));
  loaded = load_ok (reopened, 0, 100);
  g_assert_cmpuint (loaded->len, ==, messages->len);
  for (guint i = 0; i < messages->len; i++)
    assert_same_message (g_ptr_array_index (messages, i), g_ptr_array_index (loaded, i));

  return reopened;
}

/* Writes gather in one transaction of the database, committed a moment
 * later; each is in the log beside it at once. Once they are in the
 * database, the log has nothing left to replay.
 */
static void
test_batching (Fixture       *fixture,
               gconstpointer  data)
{
  g_autoptr(ConfabHistory) history = open_ok (fixture->path);
  g_autofree char *copy = NULL;
  Stored all = { fixture->path, 5 };
  sqlite3 *db = NULL;

  for (guint i = 1; i <= 5; i++)
    {
      g_autofree char *text = g_strdup_printf ("batched %u", i);
      g_autoptr(ConfabMessage) message = make_message (CONFAB_DIRECTION_INCOMING, text, 1, i);

      add_ok (history, message);
    }
  g_assert_cmpint (count_with_sqlite (fixture->path), ==, 0);
  g_assert_true (logs_contain (fixture->path, "batched 5"));

  TEST_WAIT_UNTIL (database_holds, &all);
  /* The commit's thread is done: its log is emptied at once. */
  g_assert_true (confab_history_sync (history, NULL));
  copy = copy_as_crashed (fixture->path, fixture->dir, NULL);
  g_assert_cmpint (sqlite3_open (copy, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db, "DELETE FROM messages", NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (db);
  {
    g_autoptr(ConfabHistory) crashed = open_ok (copy);

    g_assert_cmpint (confab_history_count (crashed, NULL), ==, 0);
  }
}

/* Whether the other connection still holds the lock */
static gboolean
writer_holding (gpointer data)
{
  Writer *writer = data;
  gboolean holding;

  g_mutex_lock (&writer->lock);
  holding = writer->holding && !writer->letting_go;
  g_mutex_unlock (&writer->lock);
  return holding;
}

/* The second log, where records go while the rows of the first are
 * committed: made by the first commit.
 */
static gboolean
switched_logs (gpointer path)
{
  g_autofree char *log2 = g_strconcat (path, "-log2", NULL);

  return file_size (log2) > 0;
}

typedef struct
{
  const char *path;
  Writer     *writer;
  gboolean    turned;
} Watch;

/* Whether the main loop turns while the history's commit waits */
static gboolean
watch_tick (gpointer data)
{
  Watch *watch = data;

  if (writer_holding (watch->writer) && switched_logs ((gpointer)watch->path))
    watch->turned = TRUE;

  return G_SOURCE_CONTINUE;
}

static gboolean
turned_while_waiting (gpointer data)
{
  return ((Watch *)data)->turned;
}

/* The database is written in a thread of its own: while another connection
 * holds the file's lock, the commit waits there, and the main loop (the
 * window, the socket) goes on.
 */
static void
test_commit_off_main_loop (Fixture       *fixture,
                           gconstpointer  data)
{
  g_autoptr(ConfabHistory) history = open_ok (fixture->path);
  g_autoptr(ConfabMessage) message = make_message (CONFAB_DIRECTION_INCOMING, "waits", 3, 1);
  Writer other = { fixture->path, 1500 };
  Watch watch = { fixture->path, &other, FALSE };
  Stored one = { fixture->path, 1 };
  GThread *thread;
  guint tick;

  thread = start_writer (&other);
  add_ok (history, message);
  tick = g_timeout_add (10, watch_tick, &watch);
  TEST_WAIT_UNTIL (turned_while_waiting, &watch);
  g_source_remove (tick);
  g_thread_join (thread);

  TEST_WAIT_UNTIL (database_holds, &one);
  g_assert_null (confab_history_get_failure (history));
}

/* The scheduling policy of this process's thread named @name, or -1 */
static int
thread_policy (const char *name)
{
  g_autoptr(GDir) dir = g_dir_open ("/proc/self/task", 0, NULL);
  const char *tid;

  while (dir != NULL && (tid = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename ("/proc/self/task", tid, "comm", NULL);
      g_autofree char *comm = NULL;

      if (g_file_get_contents (path, &comm, NULL, NULL) && g_strcmp0 (g_strchomp (comm), name) == 0)
        return sched_getscheduler ((pid_t)atoi (tid));
    }

  return -1;
}

/* Woken by a batch, the writer does not take the CPU from the main loop
 * that handed it over: it runs at the batch policy.
 */
static void
test_writer_yields (Fixture       *fixture,
                    gconstpointer  data)
{
  g_autoptr(ConfabHistory) history = open_ok (fixture->path);
  g_autoptr(ConfabMessage) message = make_message (CONFAB_DIRECTION_INCOMING, "a batch", 3, 1);
  Stored one = { fixture->path, 1 };

  add_ok (history, message);
  g_assert_true (confab_history_sync (history, NULL));
  TEST_WAIT_UNTIL (database_holds, &one);

  g_assert_cmpint (thread_policy ("confab-history"), ==, SCHED_BATCH);
}

/* Writes that pile up faster than the disk takes them (here, while
 * another connection holds the lock, and with the main loop never
 * returned to) wait for the writer past a bound, rather than fill memory.
 */
static void
test_writes_wait_past_bound (Fixture       *fixture,
                             gconstpointer  data)
{
  g_autoptr(ConfabHistory) history = open_ok (fixture->path);
  Writer other = { fixture->path, 300 };
  GThread *thread = start_writer (&other);

  for (guint i = 1; i <= 40000; i++)
    {
      g_autoptr(ConfabMessage) message = make_message (CONFAB_DIRECTION_INCOMING, "flood", 8, i);

      add_ok (history, message);
    }
  g_thread_join (thread);

  g_assert_cmpint (count_with_sqlite (fixture->path), >=, 16000);
  g_assert_null (confab_history_get_failure (history));
  g_assert_cmpint (confab_history_count (history, NULL), ==, 40000);
}

/* Killed while a commit is under way, the files hold every message and
 * change in both logs: the rows being committed in the older, what came
 * after in the newer, which replays second.
 */
static void
test_crash_mid_commit (Fixture       *fixture,
                       gconstpointer  data)
{
  g_autoptr(ConfabHistory) history = open_ok (fixture->path);
  g_autoptr(GPtrArray) messages = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(ConfabMessage) later = make_message (CONFAB_DIRECTION_INCOMING, "later", 4, 9);
  g_autoptr(ConfabHistory) reopened = NULL;
  g_autofree char *copy = NULL;
  Writer other = { fixture->path, 1800 };
  Stored all = { fixture->path, 4 };
  GThread *thread;

  thread = start_writer (&other);
  for (guint i = 1; i <= 3; i++)
    {
      g_autofree char *text = g_strdup_printf ("ours %u", i);
      ConfabMessage *message = make_message (CONFAB_DIRECTION_OUTGOING, text, 7, i);

      /* Given up on, so written at the first commit */
      confab_message_set_state (message, CONFAB_MESSAGE_STATE_FAILED);
      confab_message_set_error (message, "No answer");
      add_ok (history, message);
      g_ptr_array_add (messages, message);
    }
  TEST_WAIT_UNTIL (switched_logs, fixture->path);
  g_assert_true (writer_holding (&other));

  /* Changes to rows under way (sent again, under a new number, and
   * delivered), and a message after them
   */
  for (guint i = 0; i < messages->len; i++)
    {
      ConfabMessage *message = g_ptr_array_index (messages, i);

      confab_message_set_id (message, 7, 100 + i);
      g_assert_true (confab_history_renumber (history, message, NULL));
      confab_message_set_state (message, CONFAB_MESSAGE_STATE_DELIVERED);
      confab_message_set_error (message, NULL);
      confab_message_set_delivered_time (message, 1000 + i);
      g_assert_true (confab_history_update (history, message, NULL));
    }
  add_ok (history, later);
  g_ptr_array_add (messages, g_object_ref (later));
  commit_ok (history);
  g_assert_true (writer_holding (&other));
  copy = copy_as_crashed (fixture->path, fixture->dir, NULL);

  g_thread_join (thread);
  TEST_WAIT_UNTIL (database_holds, &all);

  reopened = reopen_holding (copy, messages);
}

static gint64
state_with_sqlite (const char *path,
                   const char *body)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  gint64 state = -1;

  g_assert_cmpint (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db, "SELECT state FROM messages WHERE body = ?1", -1,
                                       &stmt, NULL), ==, SQLITE_OK);
  sqlite3_bind_text (stmt, 1, body, -1, SQLITE_STATIC);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    state = sqlite3_column_int64 (stmt, 0);
  sqlite3_finalize (stmt);
  sqlite3_close (db);

  return state;
}

static gboolean
theirs_stored (gpointer path)
{
  return state_with_sqlite (path, "theirs") != -1;
}

/* One of ours still sending when the database commits waits for its ack in
 * memory, and in the log, which a crash then replays; it is written once,
 * as delivered. One left unanswered for two seconds is written as it is.
 */
static void
test_sending_waits (Fixture       *fixture,
                    gconstpointer  data)
{
  g_autoptr(ConfabHistory) history = open_ok (fixture->path);
  g_autoptr(ConfabMessage) ours = make_message (CONFAB_DIRECTION_OUTGOING, "ours", 5, 1);
  g_autoptr(ConfabMessage) theirs = make_message (CONFAB_DIRECTION_INCOMING, "theirs", 6, 1);
  g_autoptr(ConfabMessage) unanswered = NULL;
  g_autofree char *copy = NULL;
  Stored both = { fixture->path, 2 };
  Stored all = { fixture->path, 3 };
  gint64 added = g_get_monotonic_time ();

  add_ok (history, ours);
  add_ok (history, theirs);
  TEST_WAIT_UNTIL (theirs_stored, fixture->path);
  /* For two seconds (unless this loop was held up that long) */
  if (g_get_monotonic_time () - added < 2 * G_USEC_PER_SEC)
    g_assert_cmpint (state_with_sqlite (fixture->path, "ours"), ==, -1);

  copy = copy_as_crashed (fixture->path, fixture->dir, NULL);
  {
    g_autoptr(ConfabHistory) crashed = open_ok (copy);
    g_autoptr(GPtrArray) unsent = confab_history_load_unsent (crashed, NULL);

    g_assert_cmpint (confab_history_count (crashed, NULL), ==, 2);
    g_assert_cmpuint (unsent->len, ==, 1);
    assert_same_message (ours, g_ptr_array_index (unsent, 0));
  }

  confab_message_set_state (ours, CONFAB_MESSAGE_STATE_DELIVERED);
  g_assert_true (confab_history_update (history, ours, NULL));
  TEST_WAIT_UNTIL (database_holds, &both);
  g_assert_cmpint (state_with_sqlite (fixture->path, "ours"), ==, CONFAB_MESSAGE_STATE_DELIVERED);

  unanswered = make_message (CONFAB_DIRECTION_OUTGOING, "unanswered", 5, 2);
  add_ok (history, unanswered);
  TEST_WAIT_UNTIL (database_holds, &all);
  g_assert_cmpint (state_with_sqlite (fixture->path, "unanswered"), ==,
                   CONFAB_MESSAGE_STATE_SENDING);
}

static void
set_state_ok (ConfabHistory      *history,
              GPtrArray          *messages,
              guint               i,
              ConfabMessageState  state)
{
  ConfabMessage *message = g_ptr_array_index (messages, i);

  confab_message_set_state (message, state);
  g_assert_true (confab_history_update (history, message, NULL));
}

/* Ours still sending wait wherever they are among the rows, as the others
 * around them are answered, given up on, sent again or come in.
 */
static void
test_sending_waits_among_others (Fixture       *fixture,
                                 gconstpointer  data)
{
  g_autoptr(ConfabHistory) history = open_ok (fixture->path);
  g_autoptr(GPtrArray) ours = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(ConfabMessage) theirs = make_message (CONFAB_DIRECTION_INCOMING, "theirs", 6, 1);
  Stored all = { fixture->path, 6 };
  gint64 added = g_get_monotonic_time ();

  for (guint i = 1; i <= 5; i++)
    {
      g_autofree char *text = g_strdup_printf ("ours %u", i);
      ConfabMessage *message = make_message (CONFAB_DIRECTION_OUTGOING, text, 5, i);

      add_ok (history, message);
      g_ptr_array_add (ours, message);
    }
  add_ok (history, theirs);
  /* The first answered, the third given up on and sent again, the fifth
   * given up on; the second and fourth still sending
   */
  set_state_ok (history, ours, 0, CONFAB_MESSAGE_STATE_DELIVERED);
  set_state_ok (history, ours, 2, CONFAB_MESSAGE_STATE_FAILED);
  set_state_ok (history, ours, 2, CONFAB_MESSAGE_STATE_SENDING);
  set_state_ok (history, ours, 4, CONFAB_MESSAGE_STATE_FAILED);

  TEST_WAIT_UNTIL (theirs_stored, fixture->path);
  g_assert_cmpint (state_with_sqlite (fixture->path, "ours 1"), ==,
                   CONFAB_MESSAGE_STATE_DELIVERED);
  g_assert_cmpint (state_with_sqlite (fixture->path, "ours 5"), ==, CONFAB_MESSAGE_STATE_FAILED);
  /* For two seconds (unless this loop was held up that long) */
  if (g_get_monotonic_time () - added < 2 * G_USEC_PER_SEC)
    for (guint i = 2; i <= 4; i++)
      {
        g_autofree char *text = g_strdup_printf ("ours %u", i);

        g_assert_cmpint (state_with_sqlite (fixture->path, text), ==, -1);
      }

  for (guint i = 1; i <= 3; i++)
    set_state_ok (history, ours, i, CONFAB_MESSAGE_STATE_DELIVERED);
  TEST_WAIT_UNTIL (database_holds, &all);
  for (guint i = 2; i <= 4; i++)
    {
      g_autofree char *text = g_strdup_printf ("ours %u", i);

      g_assert_cmpint (state_with_sqlite (fixture->path, text), ==,
                       CONFAB_MESSAGE_STATE_DELIVERED);
    }
}

/* Ours sent faster than their acks come back do not bring the commit on:
 * it would write none of them, only copy their records into the next
 * log. The commit comes once enough are acknowledged, or with the timer.
 */
static void
test_sending_does_not_hurry_commit (Fixture       *fixture,
                                    gconstpointer  data)
{
  g_autoptr(ConfabHistory) history = open_ok (fixture->path);
  g_autoptr(GPtrArray) ours = g_ptr_array_new_with_free_func (g_object_unref);
  g_autofree char *log2 = g_strconcat (fixture->path, "-log2", NULL);
  Stored all = { fixture->path, 2000 };
  gint64 added = g_get_monotonic_time ();

  /* Together, as many writes as bring a commit on at the next turn */
  for (guint i = 1; i <= 1000; i++)
    {
      g_autofree char *text = g_strdup_printf ("ours %u", i);
      g_autofree char *reply = g_strdup_printf ("theirs %u", i);
      g_autoptr(ConfabMessage) theirs = make_message (CONFAB_DIRECTION_INCOMING, reply, 6, i);
      ConfabMessage *message = make_message (CONFAB_DIRECTION_OUTGOING, text, 5, i);

      add_ok (history, message);
      add_ok (history, theirs);
      g_ptr_array_add (ours, message);
    }
  while (g_main_context_iteration (NULL, FALSE))
    ;
  /* Before the commit's timer (unless this loop was held up that long) */
  if (g_get_monotonic_time () - added < G_USEC_PER_SEC)
    g_assert_false (file_contains (log2, "ours 1000"));

  for (guint i = 0; i < ours->len; i++)
    {
      ConfabMessage *message = g_ptr_array_index (ours, i);

      confab_message_set_state (message, CONFAB_MESSAGE_STATE_DELIVERED);
      g_assert_true (confab_history_update (history, message, NULL));
    }
  TEST_WAIT_UNTIL (database_holds, &all);
  g_assert_cmpint (state_with_sqlite (fixture->path, "ours 1000"), ==,
                   CONFAB_MESSAGE_STATE_DELIVERED);
}

/* @count messages from the peer and one of ours, delivered: stored, then
 * committed the way the program does before it sends or acknowledges
 */
static GPtrArray *
commit_some (ConfabHistory *history,
             guint          count)
{
  GPtrArray *messages = g_ptr_array_new_with_free_func (g_object_unref);
  ConfabMessage *ours = make_message (CONFAB_DIRECTION_OUTGOING, "ours, then delivered", 5, 1);

  add_ok (history, ours);
  g_ptr_array_add (messages, ours);
  for (guint i = 1; i <= count; i++)
    {
      g_autofree char *text = g_strdup_printf ("theirs %u, ' \" ;", i);
      ConfabMessage *message = make_message (CONFAB_DIRECTION_INCOMING, text, 6, i);

      confab_message_set_received_time (message, 1795000000000000 + i);
      add_ok (history, message);
      g_ptr_array_add (messages, message);
    }
  commit_ok (history);

  confab_message_set_state (ours, CONFAB_MESSAGE_STATE_DELIVERED);
  confab_message_set_delivered_time (ours, 1795000000123456);
  g_assert_true (confab_history_update (history, ours, NULL));
  confab_message_set_id (ours, 5, 2);
  g_assert_true (confab_history_renumber (history, ours, NULL));
  commit_ok (history);

  return messages;
}

/* What a commit returns on survives the process being killed then: the
 * files as they were open with every message and change, which go into the
 * database once, with nothing to replay after.
 */
static void
test_log_replayed (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autoptr(ConfabHistory) history = open_ok (fixture->path);
  g_autoptr(GPtrArray) messages = commit_some (history, 4);
  g_autofree char *copy = copy_as_crashed (fixture->path, fixture->dir, NULL);
  ConfabHistory *reopened;

  /* Not in the database yet: only the log has them. */
  g_assert_cmpint (count_with_sqlite (copy), ==, 0);

  reopened = reopen_holding (copy, messages);
  g_assert_cmpint (count_with_sqlite (copy), ==, messages->len);
  g_assert_false (logs_contain (copy, "theirs 1"));
  g_assert_finalize_object (reopened);

  reopened = open_ok (copy);
  g_assert_cmpint (confab_history_count (reopened, NULL), ==, messages->len);
  g_assert_finalize_object (reopened);
}

/* A record cut short by the crash is dropped, and only it: the ones before
 * it are kept, and the history is written on as usual.
 */
static void
test_log_torn (Fixture       *fixture,
               gconstpointer  data)
{
  g_autoptr(ConfabHistory) history = open_ok (fixture->path);
  g_autoptr(GPtrArray) messages = commit_some (history, 3);
  g_autoptr(ConfabMessage) last = make_message (CONFAB_DIRECTION_INCOMING, "cut short", 6, 99);
  g_autoptr(ConfabMessage) after = make_message (CONFAB_DIRECTION_INCOMING, "after", 6, 100);
  g_autofree char *copy = NULL;
  g_autoptr(GPtrArray) loaded = NULL;
  g_autoptr(ConfabHistory) reopened = NULL;

  add_ok (history, last);
  commit_ok (history);
  copy = copy_as_crashed (fixture->path, fixture->dir, "cut short");

  reopened = open_ok (copy);
  g_assert_null (confab_history_get_failure (reopened));
  loaded = load_ok (reopened, 0, 100);
  g_assert_cmpuint (loaded->len, ==, messages->len);
  g_assert_cmpint (confab_message_get_state (g_ptr_array_index (loaded, 0)), ==,
                   CONFAB_MESSAGE_STATE_DELIVERED);
  add_ok (reopened, after);
  g_assert_cmpint (confab_message_get_history_id (after), >,
                   confab_message_get_history_id (g_ptr_array_index (loaded, loaded->len - 1)));
}

/* A log of garbage (damage, or a file that is not one) is read as far as
 * it makes sense, which is not at all, and the history goes on.
 */
static void
test_log_garbage (Fixture       *fixture,
                  gconstpointer  data)
{
  g_autofree char *dir = g_path_get_dirname (fixture->path);
  g_autofree char *log = g_strconcat (fixture->path, "-log", NULL);
  g_autoptr(GRand) rand = g_rand_new_with_seed (11);
  g_autofree guint8 *garbage = g_malloc (100000);
  g_autoptr(ConfabHistory) history = NULL;
  g_autoptr(ConfabMessage) message = make_message (CONFAB_DIRECTION_INCOMING, "after", 1, 1);

  for (guint i = 0; i < 100000; i++)
    garbage[i] = g_rand_int (rand);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  g_assert_true (g_file_set_contents (log, (const char *)garbage, 100000, NULL));

  history = open_ok (fixture->path);
  g_assert_null (confab_history_get_failure (history));
  g_assert_cmpint (confab_history_count (history, NULL), ==, 0);
  add_ok (history, message);
  commit_ok (history);
  g_assert_cmpint (confab_history_count (history, NULL), ==, 1);
}

/* A log that cannot be replayed now (the file is locked for seconds) is
 * kept as it is, and said so; the next start puts it in.
 */
static void
test_log_kept_when_replay_fails (Fixture       *fixture,
                                 gconstpointer  data)
{
  g_autoptr(ConfabHistory) history = open_ok (fixture->path);
  g_autoptr(GPtrArray) messages = commit_some (history, 2);
  g_autofree char *copy = copy_as_crashed (fixture->path, fixture->dir, NULL);
  Writer long_one = { copy, 3000 };
  ConfabHistory *reopened;
  GThread *thread;

  thread = start_writer (&long_one);
  reopened = open_ok (copy);
  g_assert_nonnull (confab_history_get_failure (reopened));
  g_assert_nonnull (strstr (confab_history_get_failure (reopened)->message, "next start"));
  g_assert_finalize_object (reopened);
  g_thread_join (thread);

  reopened = open_ok (copy);
  g_assert_null (confab_history_get_failure (reopened));
  g_assert_cmpint (confab_history_count (reopened, NULL), ==, messages->len);
  g_assert_finalize_object (reopened);
}

/* Adds 40 messages of 64 KiB, @words again and again: more than the log's
 * first megabyte. Returns their text.
 */
static char *
add_long_messages (ConfabHistory *history,
                   const char    *words)
{
  GString *text = g_string_new (NULL);

  while (text->len < 65536)
    g_string_append (text, words);

  for (guint i = 1; i <= 40; i++)
    {
      g_autoptr(ConfabMessage) message = make_message (CONFAB_DIRECTION_INCOMING, text->str,
                                                       2, i);

      add_ok (history, message);
    }

  return g_string_free (text, FALSE);
}

/* A log that grew past its first megabyte keeps no text beyond it once the
 * history opens again.
 */
static void
test_log_emptied_at_start (Fixture       *fixture,
                           gconstpointer  data)
{
  g_autoptr(ConfabHistory) history = open_ok (fixture->path);
  g_autofree char *text = add_long_messages (history, "private-words-5c1e ");

  g_clear_object (&history);
  g_assert_true (logs_contain (fixture->path, "private-words-5c1e"));

  history = open_ok (fixture->path);
  g_assert_false (logs_contain (fixture->path, "private-words-5c1e"));
}

/* A change to a row already in the database leaves the file's lock at the
 * next turn of the main loop, not a second later.
 */
static void
test_direct_write_lets_go (Fixture       *fixture,
                           gconstpointer  data)
{
  g_autoptr(ConfabHistory) history = open_ok (fixture->path);
  g_autoptr(ConfabMessage) message = make_message (CONFAB_DIRECTION_OUTGOING, "sent", 5, 1);
  sqlite3 *db = NULL;

  add_ok (history, message);
  g_assert_true (confab_history_sync (history, NULL));
  confab_message_set_state (message, CONFAB_MESSAGE_STATE_DELIVERED);
  g_assert_true (confab_history_update (history, message, NULL));
  while (g_main_context_iteration (NULL, FALSE))
    ;

  g_assert_cmpint (sqlite3_open (fixture->path, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db, "BEGIN IMMEDIATE", NULL, NULL, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db, "ROLLBACK", NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (db);
}

/* A second handle on a file in use reads it, and writes nothing: the row
 * ids are the first one's to give.
 */
static void
test_second_handle_reads_only (Fixture       *fixture,
                               gconstpointer  data)
{
  g_autoptr(ConfabHistory) history = open_ok (fixture->path);
  g_autoptr(GPtrArray) messages = commit_some (history, 2);
  g_autoptr(ConfabHistory) second = open_ok (fixture->path);
  g_autoptr(ConfabMessage) message = make_message (CONFAB_DIRECTION_INCOMING, "no", 8, 1);
  g_autoptr(GError) error = NULL;

  g_assert_true (confab_history_sync (history, NULL));
  g_assert_cmpint (confab_history_count (second, NULL), ==, messages->len);
  g_assert_false (confab_history_add (second, message, &error));
  g_assert_error (error, CONFAB_HISTORY_ERROR, CONFAB_HISTORY_ERROR_FAILED);
  g_assert_cmpint (confab_message_get_history_id (message), ==, 0);
}

/* A message stored in an earlier run, past the newest ones kept in memory,
 * is still found when its sender sends it again; one from a new sender is
 * not looked for.
 */
static void
test_duplicate_from_earlier_run (Fixture       *fixture,
                                 gconstpointer  data)
{
  g_autoptr(ConfabHistory) history = open_ok (fixture->path);
  g_autoptr(ConfabMessage) again = make_message (CONFAB_DIRECTION_INCOMING, "again", 3, 1);
  g_autoptr(ConfabMessage) fresh = make_message (CONFAB_DIRECTION_INCOMING, "fresh", 4, 1);

  for (guint i = 1; i <= 2100; i++)
    {
      g_autoptr(ConfabMessage) message = make_message (CONFAB_DIRECTION_INCOMING, "old", 3, i);

      add_ok (history, message);
    }
  g_clear_object (&history);

  history = open_ok (fixture->path);
  add_ok (history, again);
  g_assert_cmpint (confab_message_get_history_id (again), ==, 0);
  add_ok (history, fresh);
  g_assert_cmpint (confab_message_get_history_id (fresh), >, 0);
}

/* Rows are written many to a statement, and the rest one by one: each
 * comes back as it was added, whichever way it went.
 */
static void
test_written_many_at_once (Fixture       *fixture,
                           gconstpointer  data)
{
  g_autoptr(ConfabHistory) history = open_ok (fixture->path);
  g_autoptr(GPtrArray) added = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GPtrArray) loaded = NULL;
  g_autoptr(GError) error = NULL;
  guint count = 41;

  for (guint i = 1; i <= count; i++)
    {
      g_autofree char *text = g_strdup_printf ("many %u", i);
      ConfabMessage *message =
        make_message (i % 2 ? CONFAB_DIRECTION_INCOMING : CONFAB_DIRECTION_OUTGOING, text, 7, i);

      if (i % 2 == 0)
        confab_message_set_state (message, CONFAB_MESSAGE_STATE_DELIVERED);
      if (i == 20)
        {
          confab_message_set_state (message, CONFAB_MESSAGE_STATE_FAILED);
          confab_message_set_error (message, "no answer");
        }
      add_ok (history, message);
      g_ptr_array_add (added, message);
    }

  g_assert_true (confab_history_sync (history, &error));
  g_assert_no_error (error);
  g_assert_cmpint (count_with_sqlite (fixture->path), ==, count);

  g_clear_object (&history);
  history = open_ok (fixture->path);
  loaded = load_ok (history, 0, count);
  g_assert_cmpuint (loaded->len, ==, count);
  for (guint i = 0; i < count; i++)
    assert_same_message (g_ptr_array_index (added, i), g_ptr_array_index (loaded, i));
}

/* More than the log's first megabyte before the database commits: the log
 * grows, and a crash then loses none of it.
 */
static void
test_log_grows (Fixture       *fixture,
                gconstpointer  data)
{
  g_autoptr(ConfabHistory) history = open_ok (fixture->path);
  g_autofree char *text = add_long_messages (history, "a long message, again and again; ");
  g_autofree char *copy = NULL;
  g_autoptr(GPtrArray) loaded = NULL;
  g_autoptr(ConfabHistory) reopened = NULL;

  commit_ok (history);
  copy = copy_as_crashed (fixture->path, fixture->dir, NULL);
  g_assert_cmpint (count_with_sqlite (copy), ==, 0);

  reopened = open_ok (copy);
  loaded = load_ok (reopened, 0, 100);
  g_assert_cmpuint (loaded->len, ==, 40);
  g_assert_cmpstr (confab_message_get_text (g_ptr_array_index (loaded, 39)), ==, text);
}

/* A second handle on the file (another part of the program reading it)
 * leaves the log to the first, which alone replays and cuts it.
 */
static void
test_log_owned_once (Fixture       *fixture,
                     gconstpointer  data)
{
  g_autoptr(ConfabHistory) history = open_ok (fixture->path);
  g_autoptr(GPtrArray) messages = commit_some (history, 2);
  g_autofree char *log = g_strconcat (fixture->path, "-log", NULL);
  g_autofree char *logged = NULL;
  g_autofree char *after = NULL;
  gsize logged_length, after_length;

  g_assert_true (g_file_get_contents (log, &logged, &logged_length, NULL));
  g_assert_true (file_contains (log, "theirs 2"));
  {
    g_autoptr(ConfabHistory) second = open_ok (fixture->path);

    g_assert_cmpint (confab_history_count (second, NULL), ==, 0);
  }
  g_assert_true (g_file_get_contents (log, &after, &after_length, NULL));
  g_assert_cmpmem (after, after_length, logged, logged_length);
  g_assert_cmpint (confab_history_count (history, NULL), ==, messages->len);
}

static gboolean
holds_a_megabyte (gpointer data)
{
  return file_size (data) >= 1024 * 1024;
}

typedef struct
{
  ConfabHistory *history;
  const char    *wal;
  guint          number;
} QuietWrites;

/* One message now and then, as in a quiet conversation */
static gboolean
write_quietly (gpointer data)
{
  QuietWrites *quiet = data;
  g_autoptr(ConfabMessage) message = make_message (CONFAB_DIRECTION_INCOMING, "and later",
                                                   8, ++quiet->number);

  add_ok (quiet->history, message);
  commit_ok (quiet->history);

  return G_SOURCE_CONTINUE;
}

static gboolean
wal_cut_back (gpointer data)
{
  QuietWrites *quiet = data;

  return quiet->number > 0 && file_size (quiet->wal) <= 4 * 1024 * 1024;
}

/* @count messages from the peer, ten to a commit; with @dispatch, the main
 * loop runs after each commit, as between the program's batches
 */
static void
write_burst (ConfabHistory *history,
             guint          count,
             gboolean       dispatch)
{
  for (guint i = 1; i <= count; i++)
    {
      g_autoptr(ConfabMessage) message = make_message (CONFAB_DIRECTION_INCOMING,
                                                       "a message of a few words", 7, i);

      add_ok (history, message);
      if (i % 10 == 0)
        {
          commit_ok (history);
          while (dispatch && g_main_context_iteration (NULL, FALSE))
            ;
        }
    }
}

/* The write-ahead log is copied into the database while the history is in
 * use (by a thread, so the main loop never waits for the disk), and the log
 * is cut back once writing slows down.
 */
static void
test_checkpoints (Fixture       *fixture,
                  gconstpointer  data)
{
  g_autoptr(ConfabHistory) history = open_ok (fixture->path);
  g_autofree char *wal = g_strconcat (fixture->path, "-wal", NULL);
  QuietWrites quiet = { history, wal, 0 };
  guint id;

  write_burst (history, 40000, TRUE);
  TEST_WAIT_UNTIL (holds_a_megabyte, fixture->path);
  id = g_timeout_add (10, write_quietly, &quiet);
  TEST_WAIT_UNTIL (wal_cut_back, &quiet);
  g_source_remove (id);
}

/* Closed while its checkpoint may still run in a thread: nothing is lost
 * and the file opens again as it was.
 */
static void
test_closed_while_checkpointing (Fixture       *fixture,
                                 gconstpointer  data)
{
  ConfabHistory *history = open_ok (fixture->path);
  g_autoptr(ConfabHistory) reopened = NULL;

  write_burst (history, 2000, FALSE);
  g_assert_finalize_object (history);
  test_run_for (200);

  reopened = open_ok (fixture->path);
  g_assert_cmpint (confab_history_count (reopened, NULL), ==, 2000);
}

static void
fill (ConfabHistory *history,
      guint          count)
{
  for (guint i = 1; i <= count; i++)
    {
      g_autofree char *text = g_strdup_printf ("message %u", i);
      g_autoptr(ConfabMessage) message = make_message (i % 3 ? CONFAB_DIRECTION_INCOMING
                                                             : CONFAB_DIRECTION_OUTGOING,
                                                       text, 42, i);

      confab_message_set_state (message, i % 3 ? CONFAB_MESSAGE_STATE_RECEIVED
                                               : CONFAB_MESSAGE_STATE_DELIVERED);
      add_ok (history, message);
    }
  commit_ok (history);
}

/* Paging backwards from the newest visits every message once, in order. */
static void
test_paging (Fixture       *fixture,
             gconstpointer  data)
{
  g_autoptr(ConfabHistory) history = open_ok (fixture->path);
  gint64 before = 0;
  guint expected = 10000;
  guint pages = 0;

  fill (history, 10000);

  for (;;)
    {
      g_autoptr(GPtrArray) page = load_ok (history, before, 128);

      if (page->len == 0)
        break;

      pages++;
      g_assert_cmpuint (page->len, ==, MIN (128, expected));
      for (guint i = page->len; i > 0; i--)
        {
          ConfabMessage *message = g_ptr_array_index (page, i - 1);
          g_autofree char *text = g_strdup_printf ("message %u", expected);

          g_assert_cmpstr (confab_message_get_text (message), ==, text);
          g_assert_cmpuint (confab_message_get_number (message), ==, expected);
          expected--;
        }
      before = confab_message_get_history_id (g_ptr_array_index (page, 0));
    }

  g_assert_cmpuint (expected, ==, 0);
  g_assert_cmpuint (pages, ==, (10000 + 127) / 128);
}

static char *
read_file (const char *path,
           gsize      *length)
{
  g_autoptr(GError) error = NULL;
  char *contents = NULL;

  g_assert_true (g_file_get_contents (path, &contents, length, &error));
  g_assert_no_error (error);
  return contents;
}

static void
write_file (const char *path,
            const char *contents,
            gsize       length)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_path_get_dirname (path);

  g_mkdir_with_parents (dir, 0700);
  g_assert_true (g_file_set_contents (path, contents, length, &error));
  g_assert_no_error (error);
}

/* A zero-length file is a new database: the schema is made in it. */
static void
test_migrate_empty_file (Fixture       *fixture,
                         gconstpointer  data)
{
  g_autoptr(ConfabHistory) history = NULL;
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;

  write_file (fixture->path, "", 0);
  history = open_ok (fixture->path);
  g_assert_null (confab_history_get_recovery (history));
  g_assert_cmpint (confab_history_count (history, NULL), ==, 0);
  fill (history, 3);
  g_clear_object (&history);

  g_assert_cmpint (sqlite3_open_v2 (fixture->path, &db, SQLITE_OPEN_READONLY, NULL), ==,
                   SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db, "PRAGMA user_version", -1, &stmt, NULL), ==,
                   SQLITE_OK);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  g_assert_cmpint (sqlite3_column_int (stmt, 0), ==, 2);
  sqlite3_finalize (stmt);
  g_assert_cmpint (sqlite3_prepare_v2 (db, "PRAGMA journal_mode", -1, &stmt, NULL), ==,
                   SQLITE_OK);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  g_assert_cmpstr ((const char *)sqlite3_column_text (stmt, 0), ==, "wal");
  sqlite3_finalize (stmt);
  sqlite3_close (db);

  /* Opened again, the data is there and nothing is migrated twice. */
  history = open_ok (fixture->path);
  g_assert_cmpint (confab_history_count (history, NULL), ==, 3);
}

static void
assert_moved_aside (Fixture       *fixture,
                    ConfabHistory *history,
                    const char    *old_contents,
                    gsize          old_length)
{
  g_autofree char *prefix = g_strconcat (fixture->path, ".corrupt-", NULL);
  const char *moved_to = confab_history_get_moved_to (history);
  const GError *recovery = confab_history_get_recovery (history);
  g_autofree char *moved = NULL;
  gsize moved_length;

  g_assert_nonnull (moved_to);
  g_assert_true (g_str_has_prefix (moved_to, prefix));
  /* YYYYMMDD-HHMMSS */
  g_assert_cmpuint (strlen (moved_to), ==, strlen (prefix) + 15);
  g_assert_cmpint (moved_to[strlen (prefix) + 8], ==, '-');

  g_assert_error (recovery, CONFAB_HISTORY_ERROR, CONFAB_HISTORY_ERROR_CORRUPT);
  g_assert_nonnull (strstr (recovery->message, moved_to));

  moved = read_file (moved_to, &moved_length);
  g_assert_cmpmem (moved, moved_length, old_contents, old_length);

  /* The fresh one works. */
  fill (history, 2);
  g_assert_cmpint (confab_history_count (history, NULL), ==, 2);
}

static void
test_corrupt_random (Fixture       *fixture,
                     gconstpointer  data)
{
  g_autoptr(ConfabHistory) history = NULL;
  g_autoptr(GRand) rand = g_rand_new_with_seed (4);
  char junk[8192];

  for (gsize i = 0; i < sizeof junk; i++)
    junk[i] = g_rand_int (rand);
  write_file (fixture->path, junk, sizeof junk);

  history = open_ok (fixture->path);
  assert_moved_aside (fixture, history, junk, sizeof junk);
}

/* A real database cut short, as by a full disk or a bad copy. */
static void
test_corrupt_truncated (Fixture       *fixture,
                        gconstpointer  data)
{
  g_autoptr(ConfabHistory) history = open_ok (fixture->path);
  g_autofree char *contents = NULL;
  gsize length;

  fill (history, 3000);
  g_clear_object (&history);  /* checkpoints the log into the file */

  contents = read_file (fixture->path, &length);
  g_assert_cmpuint (length, >, 64 * 1024);
  /* By one page: the least a bad copy can lose */
  length -= 4096;
  write_file (fixture->path, contents, length);

  history = open_ok (fixture->path);
  assert_moved_aside (fixture, history, contents, length);
}

/* Garbage inside the pages: reading reports it, nothing crashes. */
static void
test_damaged_pages (Fixture       *fixture,
                    gconstpointer  data)
{
  g_autoptr(ConfabHistory) history = open_ok (fixture->path);
  g_autoptr(GRand) rand = g_rand_new_with_seed (7);
  g_autofree char *contents = NULL;
  g_autoptr(GError) error = NULL;
  gint64 before = 0;
  gsize length;

  fill (history, 3000);
  g_clear_object (&history);

  contents = read_file (fixture->path, &length);
  for (gsize i = 4096 * 4; i < length - 4096; i += 4096)
    for (guint j = 0; j < 64; j++)
      contents[i + 100 + g_rand_int_range (rand, 0, 3000)] = g_rand_int (rand);
  write_file (fixture->path, contents, length);

  history = confab_history_open (fixture->path, &error);
  g_assert_no_error (error);

  for (;;)
    {
      g_autoptr(GPtrArray) page = confab_history_load (history, before, 128, &error);

      if (page == NULL)
        {
          g_assert_error (error, CONFAB_HISTORY_ERROR, CONFAB_HISTORY_ERROR_CORRUPT);
          break;
        }
      if (page->len == 0)
        break;
      for (guint i = 0; i < page->len; i++)
        g_assert_true (g_utf8_validate (confab_message_get_text (g_ptr_array_index (page, i)),
                                        -1, NULL));
      before = confab_message_get_history_id (g_ptr_array_index (page, 0));
    }
}

/* A file of the first version, as Confab 0.1 wrote it: every row and id is
 * kept, the next ids go on from them, and an incoming message stored there
 * is still found when it comes again.
 */
static void
test_migrate_v1 (Fixture       *fixture,
                 gconstpointer  data)
{
  g_autofree char *dir = g_path_get_dirname (fixture->path);
  g_autoptr(ConfabHistory) history = NULL;
  g_autoptr(GPtrArray) loaded = NULL;
  g_autoptr(ConfabMessage) again = make_message (CONFAB_DIRECTION_INCOMING, "again", 3, 1);
  g_autoptr(ConfabMessage) later = make_message (CONFAB_DIRECTION_OUTGOING, "later", 4, 1);
  sqlite3 *db = NULL;

  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  g_assert_cmpint (sqlite3_open (fixture->path, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db,
    "PRAGMA journal_mode = WAL;"
    "CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, peer_host TEXT NOT NULL,"
    " peer_port INTEGER NOT NULL, direction INTEGER NOT NULL, origin INTEGER, number INTEGER,"
    " sender TEXT NOT NULL, body TEXT NOT NULL, plain INTEGER NOT NULL, state INTEGER NOT NULL,"
    " error TEXT, sent_time INTEGER NOT NULL, received_time INTEGER, delivered_time INTEGER);"
    "CREATE UNIQUE INDEX messages_by_id ON messages (direction, origin, number);"
    "CREATE INDEX messages_unsent ON messages (id) WHERE direction = 1 AND state = 0;"
    "INSERT INTO messages VALUES (5, '127.0.0.1', 48484, 0, 3, 1, 'bob', 'first', 0, 4, NULL,"
    " 1795000000000001, 1795000000000002, NULL);"
    "INSERT INTO messages VALUES (9, '127.0.0.1', 48484, 1, 4, 0, 'ann', 'unsent', 0, 0, NULL,"
    " 1795000000000003, NULL, NULL);"
    "INSERT INTO messages VALUES (12, '127.0.0.1', 48484, 1, NULL, NULL, 'ann', 'failed', 1, 3,"
    " 'Network is unreachable', 1795000000000004, NULL, NULL);"
    "DELETE FROM messages WHERE id = 12;"
    "PRAGMA user_version = 1;", NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (db);

  history = open_ok (fixture->path);
  g_assert_null (confab_history_get_recovery (history));
  loaded = load_ok (history, 0, 10);
  g_assert_cmpuint (loaded->len, ==, 2);
  g_assert_cmpint (confab_message_get_history_id (g_ptr_array_index (loaded, 0)), ==, 5);
  g_assert_cmpstr (confab_message_get_text (g_ptr_array_index (loaded, 0)), ==, "first");
  g_assert_cmpint (confab_message_get_received_time (g_ptr_array_index (loaded, 0)), ==,
                   1795000000000002);
  g_assert_cmpint (confab_message_get_history_id (g_ptr_array_index (loaded, 1)), ==, 9);
  g_clear_pointer (&loaded, g_ptr_array_unref);
  loaded = confab_history_load_unsent (history, NULL);
  g_assert_cmpuint (loaded->len, ==, 1);

  add_ok (history, again);
  g_assert_cmpint (confab_message_get_history_id (again), ==, 0);
  add_ok (history, later);
  g_assert_cmpint (confab_message_get_history_id (later), >, 9);
  commit_ok (history);
  g_clear_object (&history);

  history = open_ok (fixture->path);
  g_assert_cmpint (confab_history_count (history, NULL), ==, 3);
}

/* A file from a newer Confab is neither used nor moved. */
static void
test_newer_schema (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(ConfabHistory) history = open_ok (fixture->path);
  sqlite3 *db = NULL;

  g_clear_object (&history);
  g_assert_cmpint (sqlite3_open (fixture->path, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db, "PRAGMA user_version = 99", NULL, NULL, NULL), ==,
                   SQLITE_OK);
  sqlite3_close (db);

  history = confab_history_open (fixture->path, &error);
  g_assert_null (history);
  g_assert_error (error, CONFAB_HISTORY_ERROR, CONFAB_HISTORY_ERROR_NEWER);
  g_assert_true (g_file_test (fixture->path, G_FILE_TEST_IS_REGULAR));
}

/* Nowhere to put the file: an error, not a crash, and nothing moved. */
static void
test_cannot_create (Fixture       *fixture,
                    gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *blocker = g_build_filename (fixture->dir, "file", NULL);
  g_autofree char *path = g_build_filename (blocker, "history.db", NULL);
  g_autoptr(ConfabHistory) history = NULL;

  write_file (blocker, "x", 1);
  history = confab_history_open (path, &error);
  g_assert_null (history);
  g_assert_error (error, CONFAB_HISTORY_ERROR, CONFAB_HISTORY_ERROR_FAILED);
}

/* A file that can be read but not written: shown, never moved, not written. */
static void
test_read_only_file (Fixture       *fixture,
                     gconstpointer  data)
{
  g_autoptr(ConfabHistory) history = open_ok (fixture->path);
  g_autoptr(ConfabMessage) message = make_message (CONFAB_DIRECTION_OUTGOING, "new", 0, 0);
  g_autoptr(GPtrArray) loaded = NULL;
  g_autoptr(GError) error = NULL;

  if (getuid () == 0)
    {
      g_test_skip ("root writes to read-only files");
      return;
    }

  fill (history, 4);
  g_clear_object (&history);
  g_assert_cmpint (g_chmod (fixture->path, 0444), ==, 0);

  history = open_ok (fixture->path);
  g_assert_null (confab_history_get_recovery (history));
  g_assert_error (confab_history_get_failure (history), CONFAB_HISTORY_ERROR,
                  CONFAB_HISTORY_ERROR_FAILED);
  loaded = load_ok (history, 0, 10);
  g_assert_cmpuint (loaded->len, ==, 4);
  g_assert_false (confab_history_add (history, message, &error));
  g_assert_error (error, CONFAB_HISTORY_ERROR, CONFAB_HISTORY_ERROR_FAILED);
  g_assert_true (g_file_test (fixture->path, G_FILE_TEST_IS_REGULAR));
}

static void
on_failed (ConfabHistory *history,
           const GError  *error,
           guint         *count)
{
  g_assert_error (error, CONFAB_HISTORY_ERROR, CONFAB_HISTORY_ERROR_FAILED);
  (*count)++;
}

/* A full disk: writes fail, are reported once, and reading goes on. */
static void
test_full (Fixture       *fixture,
           gconstpointer  data)
{
  g_autoptr(ConfabHistory) history = open_ok (fixture->path);
  g_autoptr(GString) text = g_string_new (NULL);
  g_autoptr(GPtrArray) loaded = NULL;
  guint failed = 0;
  gboolean ok = TRUE;
  guint added = 0;

  g_signal_connect (history, "failed", G_CALLBACK (on_failed), &failed);
  fill (history, 5);
  confab_history_set_max_pages (history, 20);

  while (text->len < 4000)
    g_string_append (text, "full disk ");

  for (guint i = 0; ok && i < 1000; i++)
    {
      g_autoptr(ConfabMessage) message = make_message (CONFAB_DIRECTION_OUTGOING,
                                                       text->str, 0, 0);
      g_autoptr(GError) error = NULL;

      ok = confab_history_add (history, message, &error) &&
           confab_history_commit (history, &error) &&
           confab_history_sync (history, &error);
      if (ok)
        added++;
      else
        g_assert_error (error, CONFAB_HISTORY_ERROR, CONFAB_HISTORY_ERROR_FAILED);
    }
  g_assert_false (ok);
  g_assert_cmpuint (failed, ==, 1);

  /* Later writes are refused without another report. */
  {
    g_autoptr(ConfabMessage) message = make_message (CONFAB_DIRECTION_OUTGOING, "more", 0, 0);
    g_autoptr(GError) error = NULL;

    g_assert_false (confab_history_add (history, message, &error));
    g_assert_error (error, CONFAB_HISTORY_ERROR, CONFAB_HISTORY_ERROR_FAILED);
    g_assert_cmpuint (failed, ==, 1);
  }

  loaded = load_ok (history, 0, 2000);
  g_assert_cmpuint (loaded->len, ==, 5 + added);
}


/* Clearing deletes the text from the file and its log, not only the rows. */
static void
test_clear (Fixture       *fixture,
            gconstpointer  data)
{
  g_autoptr(ConfabHistory) history = open_ok (fixture->path);
  g_autoptr(ConfabMessage) message = make_message (CONFAB_DIRECTION_OUTGOING,
                                                   "secret-marker-7f3a", 0, 0);
  g_autofree char *wal = g_strconcat (fixture->path, "-wal", NULL);
  g_autoptr(GError) error = NULL;

  fill (history, 200);
  add_ok (history, message);
  commit_ok (history);
  g_assert_true (logs_contain (fixture->path, "secret-marker-7f3a"));

  g_assert_true (confab_history_clear (history, &error));
  g_assert_no_error (error);
  g_assert_cmpint (confab_history_count (history, NULL), ==, 0);
  g_assert_cmpint (count_with_sqlite (fixture->path), ==, 0);
  g_assert_false (file_contains (fixture->path, "secret-marker-7f3a"));
  g_assert_false (logs_contain (fixture->path, "secret-marker-7f3a"));

  /* Row ids go on from where they were. */
  {
    g_autoptr(ConfabMessage) later = make_message (CONFAB_DIRECTION_OUTGOING, "later", 0, 0);

    add_ok (history, later);
    g_assert_cmpint (confab_message_get_history_id (later), >,
                     confab_message_get_history_id (message));
  }
  /* A message cleared, and sent again, is stored again. */
  {
    g_autoptr(ConfabMessage) resent = make_message (CONFAB_DIRECTION_INCOMING, "message 1",
                                                    42, 1);

    add_ok (history, resent);
    g_assert_cmpint (confab_message_get_history_id (resent), >, 0);
  }
  g_assert_false (file_contains (wal, "secret-marker-7f3a"));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(name, func) \
  g_test_add ("/history/" name, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

  ADD ("round-trip", test_round_trip);
  ADD ("update", test_update);
  ADD ("waits-for-lock", test_waits_for_lock);
  ADD ("duplicate", test_duplicate);
  ADD ("batching", test_batching);
  ADD ("commit-off-main-loop", test_commit_off_main_loop);
  ADD ("writer-yields", test_writer_yields);
  ADD ("crash-mid-commit", test_crash_mid_commit);
  ADD ("writes-wait-past-bound", test_writes_wait_past_bound);
  ADD ("sending-waits", test_sending_waits);
  ADD ("sending-waits-among-others", test_sending_waits_among_others);
  ADD ("sending-does-not-hurry-commit", test_sending_does_not_hurry_commit);
  ADD ("log-replayed", test_log_replayed);
  ADD ("log-torn", test_log_torn);
  ADD ("log-grows", test_log_grows);
  ADD ("log-garbage", test_log_garbage);
  ADD ("log-kept-when-replay-fails", test_log_kept_when_replay_fails);
  ADD ("log-emptied-at-start", test_log_emptied_at_start);
  ADD ("direct-write-lets-go", test_direct_write_lets_go);
  ADD ("second-handle-reads-only", test_second_handle_reads_only);
  ADD ("duplicate-from-earlier-run", test_duplicate_from_earlier_run);
  ADD ("written-many-at-once", test_written_many_at_once);
  ADD ("log-owned-once", test_log_owned_once);
  ADD ("checkpoints", test_checkpoints);
  ADD ("closed-while-checkpointing", test_closed_while_checkpointing);
  ADD ("paging", test_paging);
  ADD ("migrate-empty-file", test_migrate_empty_file);
  ADD ("corrupt-random", test_corrupt_random);
  ADD ("corrupt-truncated", test_corrupt_truncated);
  ADD ("damaged-pages", test_damaged_pages);
  ADD ("migrate-v1", test_migrate_v1);
  ADD ("newer-schema", test_newer_schema);
  ADD ("cannot-create", test_cannot_create);
  ADD ("read-only-file", test_read_only_file);
  ADD ("full", test_full);
  ADD ("clear", test_clear);

#undef ADD

  return g_test_run ();
}
