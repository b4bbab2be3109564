/* confab-history.c — the SQLite store of messages and the outbox
 *
 * One table of messages in local order (the row id, which the history
 * gives), each with its peer, so that several conversations can share the
 * file. A message added waits in memory as a row, with the changes made to
 * it meanwhile, and is written in one transaction of the database with
 * everything else of the last COMMIT_DELAY_MS. Where something must be on
 * disk first (before a send, before an ack), confab_history_commit()
 * finds what changed already in the log beside the file
 * (confab-history-log.c), where each write puts a record as it is made: a
 * copy into memory rather than a commit, which costs tens of microseconds
 * and several page writes.
 *
 * Both survive the process being killed as soon as they return: the log and
 * the database's WAL (synchronous=NORMAL) are in the kernel then; only a
 * power cut may lose the last ones. Checkpoints, which wait for the disk,
 * run in a thread.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "confab-history"
/* SCHED_BATCH */
#define _GNU_SOURCE

#include "config.h"

#include <errno.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <pthread.h>
#include <sched.h>
#include <sqlite3.h>
#include <sys/mman.h>
#include <unistd.h>

#include "confab-history-private.h"
#include "confab-ready-source.h"

#define SCHEMA_VERSION 2
#define BUSY_TIMEOUT_MS 2000
#define BUSY_RETRY_USEC 200
/* A quarter of SQLite's default: while a checkpoint syncs the file, the
 * main connection's writes to the log wait longer the more it copied
 * (bench-latency's p99.9 was 2.7-6.5 ms at 1,000 pages, 1.5-2.7 at 250).
 */
#define CHECKPOINT_PAGES 250
#define RESTART_PAGES (4 * CHECKPOINT_PAGES)
#define WAL_LIMIT_BYTES 4194304
/* Rows and changes wait in memory (and in a log) to be committed together
 * in the writer's thread: each commit costs its thread a few milliseconds
 * of page writes, and a log holds about this long of them.
 */
#define COMMIT_DELAY_MS 1000
#define COMMIT_MAX_WRITES 2000
/* Rows and changes waiting while the writer is behind take memory: past
 * this many, the main loop waits for it.
 */
#define MAX_WAITING_WRITES (8 * COMMIT_MAX_WRITES)
/* One of ours still sending when the database commits is most likely
 * acknowledged a moment later: its row waits for that in memory (its record
 * written again into the next log), to be written once, as delivered,
 * rather than into the outbox and updated. Not past the first commit after
 * this long.
 */
#define SENDING_WAIT_USEC (2 * COMMIT_DELAY_MS * 1000)
/* Protocol ids of the newest messages, kept to find a message sent again
 * (its ack was lost) without asking the database: a sender resends at most
 * the messages it had in flight.
 */
#define SEEN_MAX 2048

/* The stored numbers are the enums' values; the partial index names one. */
G_STATIC_ASSERT (CONFAB_DIRECTION_INCOMING == 0 && CONFAB_DIRECTION_OUTGOING == 1);
G_STATIC_ASSERT (CONFAB_MESSAGE_STATE_SENDING == 0 && CONFAB_MESSAGE_STATE_RECEIVED == 4);

/* Version 2. Row ids are given by the history, from the largest at open:
 * Clear History gives none out again while a message in flight may still
 * update its row. Each index entry costs its insert, so only incoming
 * messages are indexed by protocol id (the newest are looked up in memory,
 * SEEN_MAX), and the outbox indexes only what waits.
 */
#define SCHEMA_TABLE \
  "CREATE TABLE messages ("                 \
  "  id             INTEGER PRIMARY KEY,"   \
  "  peer_host      TEXT    NOT NULL,"      \
  "  peer_port      INTEGER NOT NULL,"      \
  "  direction      INTEGER NOT NULL,"      \
  "  origin         INTEGER,"               \
  "  number         INTEGER,"               \
  "  sender         TEXT    NOT NULL,"      \
  "  body           TEXT    NOT NULL,"      \
  "  plain          INTEGER NOT NULL,"      \
  "  state          INTEGER NOT NULL,"      \
  "  error          TEXT,"                  \
  "  sent_time      INTEGER NOT NULL,"      \
  "  received_time  INTEGER,"               \
  "  delivered_time INTEGER"                \
  ");"                                      \
  /* A message resent after a restart of either side is stored once. */ \
  "CREATE UNIQUE INDEX messages_by_id ON messages (origin, number) WHERE direction = 0;" \
  /* The outbox: outgoing messages not yet acknowledged. */ \
  "CREATE INDEX messages_unsent ON messages (id) WHERE direction = 1 AND state = 0;"

static const char schema[] =
  SCHEMA_TABLE
  "PRAGMA user_version = 2;";

/* Version 1 had AUTOINCREMENT and indexed outgoing messages by protocol id. */
static const char migrate_v1[] =
  "DROP INDEX messages_by_id;"
  "DROP INDEX messages_unsent;"
  "ALTER TABLE messages RENAME TO messages_v1;"
  SCHEMA_TABLE
  "INSERT INTO messages SELECT * FROM messages_v1;"
  "DROP TABLE messages_v1;"
  "PRAGMA user_version = 2;";

#define COLUMNS "id, peer_host, peer_port, direction, origin, number, sender, body, plain, " \
                "state, error, sent_time, received_time, delivered_time"

/* The bindings of bind_row(), ROW_PARAM_COUNT of them a row */
#define INTO_MESSAGES_COLUMNS                                                             \
  "INTO messages (peer_host, peer_port, direction, origin, number, sender, body, plain,"  \
  " state, error, sent_time, received_time, delivered_time, id)"
#define INTO_MESSAGES \
  INTO_MESSAGES_COLUMNS " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
#define ROW_PARAM_COUNT 14
/* An incoming message stored already is left as it is. */
#define KEEP_STORED " ON CONFLICT (origin, number) WHERE direction = 0 DO NOTHING"

/* The rows a commit writes go INSERT_MANY_ROWS to a statement: each
 * statement's start and end, and the cursors it opens, cost about as much
 * as a row (4-8 µs a row one at a time; 1,000 rows held the main loop 4-8
 * ms at a commit).
 */
#define INSERT_MANY_ROWS 16
#define ROW_PARAMS "(?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
#define FOUR_ROWS ROW_PARAMS "," ROW_PARAMS "," ROW_PARAMS "," ROW_PARAMS
#define MANY_ROWS FOUR_ROWS "," FOUR_ROWS "," FOUR_ROWS "," FOUR_ROWS
/* Each "(?,...)" is ROW_PARAM_COUNT parameters, and MANY_ROWS is
 * INSERT_MANY_ROWS of them with a comma between (and a NUL after).
 */
G_STATIC_ASSERT (sizeof (ROW_PARAMS) == 2 * ROW_PARAM_COUNT + 2);
G_STATIC_ASSERT (sizeof (MANY_ROWS) == INSERT_MANY_ROWS * sizeof (ROW_PARAMS));

static const char *const statements[N_STMTS] = {
  /* A row id taken (by another handle writing the file) fails: the
   * message would be lost.
   */
  [STMT_INSERT] =
    "INSERT " INTO_MESSAGES KEEP_STORED,
  [STMT_INSERT_MANY] =
    "INSERT " INTO_MESSAGES_COLUMNS " VALUES " MANY_ROWS KEEP_STORED,
  /* From the log: a row there may be in the file already. */
  [STMT_REPLAY] =
    "INSERT OR IGNORE " INTO_MESSAGES,
  [STMT_ORIGIN_STORED] =
    "SELECT 1 FROM messages WHERE direction = 0 AND origin = ?1 LIMIT 1",
  [STMT_ID_STORED] =
    "SELECT 1 FROM messages WHERE direction = 0 AND origin = ?1 AND number = ?2",
  [STMT_UPDATE] =
    "UPDATE messages SET state = ?2, error = ?3, plain = ?4, delivered_time = ?5 WHERE id = ?1",
  /* Apart, as it is rare: setting an indexed column costs an index write. */
  [STMT_RENUMBER] =
    "UPDATE messages SET origin = ?2, number = ?3 WHERE id = ?1",
  [STMT_LOAD] =
    "SELECT " COLUMNS " FROM messages WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
  /* Without INDEXED BY, SQLite read every outgoing message through the
   * first schema's messages_by_id: 20 ms at the start with 100,000 in the
   * history.
   */
  [STMT_UNSENT] =
    "SELECT " COLUMNS " FROM messages INDEXED BY messages_unsent"
    " WHERE direction = 1 AND state = 0 ORDER BY id",
};

/* One allocation for the row and its three strings */
Row *
confab_history_row_alloc (const char *host,
                          const char *sender,
                          const char *body)
{
  gsize host_len = strlen (host), sender_len = strlen (sender), body_len = strlen (body);
  Row *row = g_malloc0 (sizeof (Row) + host_len + sender_len + body_len + 3);

  row->host = memcpy (row->data, host, host_len + 1);
  row->sender = memcpy (row->host + host_len + 1, sender, sender_len + 1);
  row->body = memcpy (row->sender + sender_len + 1, body, body_len + 1);
  row->host_len = host_len;
  row->sender_len = sender_len;
  row->body_len = body_len;
  return row;
}

void
confab_history_row_free (Row *row)
{
  g_free (row->error);
  g_free (row);
}

static void
row_set_state (Row           *row,
               ConfabMessage *message)
{
  row->state = confab_message_get_state (message);
  row->plain = confab_message_get_plain (message);
  row->delivered = confab_message_get_delivered_time (message);
  g_free (row->error);
  row->error = g_strdup (confab_message_get_error (message));
}

static void
row_set_protocol_id (Row           *row,
                     ConfabMessage *message)
{
  row->origin = confab_message_get_origin (message);
  row->number = confab_message_get_number (message);
}

static Row *
row_new (ConfabMessage *message)
{
  Row *row = confab_history_row_alloc (confab_message_get_peer_host (message) != NULL
                                       ? confab_message_get_peer_host (message) : "",
                                       confab_message_get_sender (message),
                                       confab_message_get_text (message));

  row->id = confab_message_get_history_id (message);
  row_set_protocol_id (row, message);
  row->sent = confab_message_get_time_usec (message);
  row->received = confab_message_get_received_time (message);
  row->port = confab_message_get_peer_port (message);
  row->direction = confab_message_get_direction (message);
  row_set_state (row, message);
  return row;
}

G_DEFINE_FINAL_TYPE (ConfabHistory, confab_history, G_TYPE_OBJECT)

static void
cancel_commit (ConfabHistory *self)
{
  if (self->commit_source != NULL)
    g_source_destroy (self->commit_source);
  g_clear_pointer (&self->commit_source, g_source_unref);
}

enum {
  FAILED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_QUARK (confab-history-error-quark, confab_history_error)

static void
set_sqlite_error (GError     **error,
                  sqlite3     *db,
                  int          rc,
                  const char  *doing)
{
  int code = CONFAB_HISTORY_ERROR_FAILED;

  if ((rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB)
    code = CONFAB_HISTORY_ERROR_CORRUPT;

  g_set_error (error, CONFAB_HISTORY_ERROR, code, "%s: %s", doing,
               db != NULL ? sqlite3_errmsg (db) : sqlite3_errstr (rc));
}

static gboolean
exec (sqlite3     *db,
      const char  *sql,
      GError     **error)
{
  int rc = sqlite3_exec (db, sql, NULL, NULL, NULL);

  if (rc != SQLITE_OK)
    {
      set_sqlite_error (error, db, rc, sql);
      return FALSE;
    }

  return TRUE;
}

static gboolean
query_int (sqlite3     *db,
           const char  *sql,
           gint64      *value,
           GError     **error)
{
  sqlite3_stmt *stmt = NULL;
  int rc = sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL);

  if (rc == SQLITE_OK)
    rc = sqlite3_step (stmt);

  if (rc == SQLITE_ROW)
    *value = sqlite3_column_int64 (stmt, 0);
  else
    set_sqlite_error (error, db, rc, sql);

  sqlite3_finalize (stmt);

  return rc == SQLITE_ROW;
}

static gboolean
migrate (sqlite3     *db,
         GError     **error)
{
  gint64 version = 0;

  if (!query_int (db, "PRAGMA user_version", &version, error))
    return FALSE;

  if (version > SCHEMA_VERSION)
    {
      g_set_error_literal (error, CONFAB_HISTORY_ERROR, CONFAB_HISTORY_ERROR_NEWER,
                           _("The history was written by a newer version of Confab"));
      return FALSE;
    }

  if (version == SCHEMA_VERSION)
    return TRUE;

  /* Version 0 is a new, empty file. */
  return exec (db, "BEGIN", error) &&
         exec (db, version == 0 ? schema : migrate_v1, error) &&
         exec (db, "COMMIT", error);
}

/* The statements each connection runs */
static const guint main_statements[] = {
  STMT_INSERT, STMT_REPLAY, STMT_ORIGIN_STORED, STMT_ID_STORED, STMT_UPDATE, STMT_RENUMBER,
  STMT_LOAD, STMT_UNSENT,
};
static const guint writer_statements[] = {
  STMT_INSERT, STMT_INSERT_MANY, STMT_UPDATE, STMT_RENUMBER,
};

static int
prepare (sqlite3       *db,
         sqlite3_stmt **stmts,
         const guint   *which,
         guint          count,
         const char   **failed)
{
  for (guint i = 0; i < count; i++)
    {
      int rc = sqlite3_prepare_v3 (db, statements[which[i]], -1, SQLITE_PREPARE_PERSISTENT,
                                   &stmts[which[i]], NULL);

      if (rc != SQLITE_OK)
        {
          *failed = statements[which[i]];
          return rc;
        }
    }

  return SQLITE_OK;
}

static void
finalize_statements (sqlite3_stmt **stmts)
{
  for (guint i = 0; i < N_STMTS; i++)
    g_clear_pointer (&stmts[i], sqlite3_finalize);
}

/* Each connection's settings: the file's are made at open. */
static const char connection_settings[] =
  "PRAGMA synchronous = NORMAL;"
  /* The log is cut back to this when it starts over after a burst. */
  "PRAGMA journal_size_limit = " G_STRINGIFY (WAL_LIMIT_BYTES) ";"
  /* Cleared messages are overwritten, not merely unlinked. */
  "PRAGMA secure_delete = ON;";

/* A checkpoint copies the write-ahead log into the database and syncs the
 * file: tens of milliseconds on some disks. In SQLite's automatic checkpoint
 * that would stall the main loop every CHECKPOINT_PAGES pages written; here
 * it runs on a connection of its own in a thread. PASSIVE never waits for the
 * main connection, which goes on writing meanwhile.
 *
 * The connection is opened by the first checkpoint and kept: one runs at a
 * time, and the history and a running one share it.
 */
struct _Checkpointer
{
  char     *path;
  sqlite3  *db;
  /* Main thread only */
  gboolean  running;
};

static void
checkpointer_clear (gpointer data)
{
  Checkpointer *checkpointer = data;

  sqlite3_close (checkpointer->db);
  g_free (checkpointer->path);
}

static void
checkpointer_release (gpointer data)
{
  g_rc_box_release_full (data, checkpointer_clear);
}

static int
checkpointer_open (Checkpointer *checkpointer)
{
  int rc;

  if (checkpointer->db != NULL)
    return SQLITE_OK;

  rc = sqlite3_open_v2 (checkpointer->path, &checkpointer->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
  /* A connection learns that the file is in WAL mode on its first read. */
  if (rc == SQLITE_OK)
    rc = sqlite3_exec (checkpointer->db, "SELECT 1 FROM sqlite_schema LIMIT 1", NULL, NULL, NULL);
  if (rc == SQLITE_OK)
    sqlite3_busy_timeout (checkpointer->db, BUSY_TIMEOUT_MS);
  else
    g_clear_pointer (&checkpointer->db, sqlite3_close);

  return rc;
}

static int
checkpoint (sqlite3    *db,
            const char *path)
{
  int log = 0;
  int rc = sqlite3_wal_checkpoint_v2 (db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, NULL);

  /* Under writes that never pause, the log only starts over once a
   * checkpoint has copied all of it. RESTART waits for the other
   * connections' transactions to end, and holds their next ones back while
   * it copies what was written since the passive one: a short wait, now
   * and then.
   */
  if (rc == SQLITE_OK && log >= RESTART_PAGES)
    rc = sqlite3_wal_checkpoint_v2 (db, NULL, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
  if (rc != SQLITE_OK)
    g_debug ("Checkpoint of %s: %s", path, sqlite3_errstr (rc));

  return rc;
}

static void
checkpoint_thread (GTask        *task,
                   gpointer      source_object,
                   gpointer      task_data,
                   GCancellable *cancellable)
{
  Checkpointer *checkpointer = task_data;
  int rc;

  rc = checkpointer_open (checkpointer);
  if (rc == SQLITE_OK)
    rc = checkpoint (checkpointer->db, checkpointer->path);

  g_task_return_boolean (task, rc == SQLITE_OK);
}

static void
checkpoint_done (GObject      *source_object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Checkpointer *checkpointer = g_task_get_task_data (G_TASK (result));

  checkpointer->running = FALSE;
}

static int
wal_hook (void       *user_data,
          sqlite3    *db,
          const char *name,
          int         pages)
{
  ConfabHistory *self = user_data;
  g_autoptr(GTask) task = NULL;

  if (pages < CHECKPOINT_PAGES || self->checkpointer->running)
    return SQLITE_OK;

  self->checkpointer->running = TRUE;
  task = g_task_new (NULL, NULL, checkpoint_done, NULL);
  g_task_set_source_tag (task, wal_hook);
  g_task_set_task_data (task, g_rc_box_acquire (self->checkpointer), checkpointer_release);
  g_task_run_in_thread (task, checkpoint_thread);

  return SQLITE_OK;
}

/* The writer: a thread with a connection of its own, which commits the
 * rows and changes handed to it, a batch at a time, and checkpoints the
 * file as its write-ahead log grows. A commit of 1,000 rows writes for 5-10
 * ms: the main loop, where messages are sent and acknowledged, only waits
 * for one to read what it has not written yet, and at close.
 */
struct _Writer
{
  char         *path;
  sqlite3      *db;
  sqlite3_stmt *stmts[N_STMTS];
  GThread      *thread;
  /* Made ready for the main context when a batch is done */
  GSource      *written;
  GMutex        lock;
  GCond         cond;
  /* Under the lock */
  Batch        *next;
  gboolean      quit;
  guint         max_pages;
  /* The thread's own */
  guint         max_pages_set;
};

struct _Batch
{
  GPtrArray  *rows;
  GArray     *changes;
  /* The table the rows were found by before the hand-off, unused since */
  GHashTable *unwritten;
  /* Set by the thread, under the writer's lock */
  gboolean    done;
  GError     *error;
};

static void
change_clear (gpointer data)
{
  Change *change = data;

  g_free (change->error);
}

static GArray *
changes_new (void)
{
  GArray *changes = g_array_new (FALSE, FALSE, sizeof (Change));

  g_array_set_clear_func (changes, change_clear);
  return changes;
}

/* Frees the rows, changes and table: in the writer's thread once it has
 * written them, where the main loop does not wait for it (a thousand rows
 * held it for 70 µs).
 */
static void
batch_clear (Batch *batch)
{
  g_clear_pointer (&batch->unwritten, g_hash_table_unref);
  g_clear_pointer (&batch->rows, g_ptr_array_unref);
  g_clear_pointer (&batch->changes, g_array_unref);
}

static void
batch_free (Batch *batch)
{
  batch_clear (batch);
  g_clear_error (&batch->error);
  g_free (batch);
}

static void
bind_nullable_int (sqlite3_stmt *stmt,
                   int           column,
                   gint64        value)
{
  if (value != 0)
    sqlite3_bind_int64 (stmt, column, value);
  else
    sqlite3_bind_null (stmt, column);
}

/* Binds @row's columns from parameter @first on, in INTO_MESSAGES' order */
static void
bind_row (sqlite3_stmt *stmt,
          int           first,
          const Row    *row)
{
  int p = first - 1;

  sqlite3_bind_text (stmt, p + 1, row->host, row->host_len, SQLITE_STATIC);
  sqlite3_bind_int (stmt, p + 2, row->port);
  sqlite3_bind_int (stmt, p + 3, row->direction);
  bind_nullable_int (stmt, p + 4, (gint64)row->origin);
  bind_nullable_int (stmt, p + 5, (gint64)row->number);
  sqlite3_bind_text (stmt, p + 6, row->sender, row->sender_len, SQLITE_STATIC);
  sqlite3_bind_text (stmt, p + 7, row->body, row->body_len, SQLITE_STATIC);
  sqlite3_bind_int (stmt, p + 8, row->plain);
  sqlite3_bind_int (stmt, p + 9, row->state);
  sqlite3_bind_text (stmt, p + 10, row->error, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, p + 11, row->sent);
  bind_nullable_int (stmt, p + 12, row->received);
  bind_nullable_int (stmt, p + 13, row->delivered);
  sqlite3_bind_int64 (stmt, p + 14, row->id);
}

/* For statement change->which, on the row its first parameter names */
static void
bind_change (sqlite3_stmt *stmt,
             const Change *change)
{
  sqlite3_bind_int64 (stmt, 1, change->id);
  if (change->which == STMT_UPDATE)
    {
      sqlite3_bind_int (stmt, 2, change->state);
      sqlite3_bind_text (stmt, 3, change->error, -1, SQLITE_STATIC);
      sqlite3_bind_int (stmt, 4, change->plain);
      bind_nullable_int (stmt, 5, change->delivered);
    }
  else
    {
      bind_nullable_int (stmt, 2, (gint64)change->origin);
      bind_nullable_int (stmt, 3, (gint64)change->number);
    }
}

/* Steps a statement that writes, and makes it ready for the next use. */
static int
step_done (sqlite3_stmt *stmt)
{
  int rc = sqlite3_step (stmt);

  sqlite3_reset (stmt);
  sqlite3_clear_bindings (stmt);
  return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* In place of SQLite's automatic checkpoint: the same, in this thread,
 * with RESTART as the checkpointer's
 */
static int
writer_wal_hook (void       *user_data,
                 sqlite3    *db,
                 const char *name,
                 int         pages)
{
  if (pages >= CHECKPOINT_PAGES)
    checkpoint (db, user_data);

  return SQLITE_OK;
}

static void
writer_close (Writer *writer)
{
  finalize_statements (writer->stmts);
  g_clear_pointer (&writer->db, sqlite3_close);
}

/* On failure, @doing is what failed. */
static int
writer_open (Writer      *writer,
             const char **doing)
{
  int rc;

  if (writer->db != NULL)
    return SQLITE_OK;

  *doing = writer->path;
  rc = sqlite3_open_v2 (writer->path, &writer->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                        NULL);
  if (rc == SQLITE_OK)
    {
      sqlite3_extended_result_codes (writer->db, TRUE);
      sqlite3_busy_timeout (writer->db, BUSY_TIMEOUT_MS);
      sqlite3_wal_hook (writer->db, writer_wal_hook, writer->path);
      *doing = connection_settings;
      rc = sqlite3_exec (writer->db, connection_settings, NULL, NULL, NULL);
    }
  if (rc == SQLITE_OK)
    rc = prepare (writer->db, writer->stmts, writer_statements, G_N_ELEMENTS (writer_statements),
                  doing);

  return rc;
}

/* Writes @batch's rows, INSERT_MANY_ROWS to a statement, then its
 * changes, in one transaction.
 */
static void
write_batch (Writer *writer,
             Batch  *batch,
             guint   max_pages)
{
  const char *doing = NULL;
  int rc = writer_open (writer, &doing);

  if (rc == SQLITE_OK && max_pages != writer->max_pages_set)
    {
      g_autofree char *sql = g_strdup_printf ("PRAGMA max_page_count = %u", max_pages);

      rc = sqlite3_exec (writer->db, sql, NULL, NULL, NULL);
      writer->max_pages_set = max_pages;
    }

  if (rc == SQLITE_OK)
    {
      doing = _("Saving a message");
      rc = sqlite3_exec (writer->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    }

  for (guint i = 0; rc == SQLITE_OK && i < batch->rows->len;)
    {
      Row **rows = (Row **)batch->rows->pdata + i;
      guint n = batch->rows->len - i >= INSERT_MANY_ROWS ? INSERT_MANY_ROWS : 1;
      sqlite3_stmt *stmt = writer->stmts[n > 1 ? STMT_INSERT_MANY : STMT_INSERT];

      for (guint j = 0; j < n; j++)
        bind_row (stmt, 1 + j * ROW_PARAM_COUNT, rows[j]);
      rc = step_done (stmt);
      i += n;
    }

  for (guint i = 0; rc == SQLITE_OK && i < batch->changes->len; i++)
    {
      const Change *change = &g_array_index (batch->changes, Change, i);
      sqlite3_stmt *stmt = writer->stmts[change->which];

      bind_change (stmt, change);
      rc = step_done (stmt);
    }

  if (rc == SQLITE_OK)
    rc = sqlite3_exec (writer->db, "COMMIT", NULL, NULL, NULL);
  if (rc == SQLITE_OK)
    return;

  /* The history writes nothing more: the logs keep the batch. */
  set_sqlite_error (&batch->error, writer->db, rc, doing);
  writer_close (writer);
}

/* A batch handed over wakes the writer; at the default policy it would
 * take the CPU from the main loop that woke it, for as long as the commit
 * takes (1-2 ms, with messages waiting). SCHED_BATCH never preempts as it
 * wakes, and still gets its fair share of the CPU.
 */
static void
writer_yield_to_main_loop (void)
{
#ifdef SCHED_BATCH
  struct sched_param param = { 0 };
  int rc = pthread_setschedparam (pthread_self (), SCHED_BATCH, &param);

  if (rc != 0)
    g_debug ("The history's writer keeps its scheduling policy: %s", g_strerror (rc));
#endif
}

static gpointer
writer_thread (gpointer data)
{
  Writer *writer = data;

  writer_yield_to_main_loop ();

  g_mutex_lock (&writer->lock);
  for (;;)
    {
      Batch *batch;
      guint max_pages;

      while (writer->next == NULL && !writer->quit)
        g_cond_wait (&writer->cond, &writer->lock);
      if (writer->next == NULL)
        break;

      batch = writer->next;
      max_pages = writer->max_pages;
      g_mutex_unlock (&writer->lock);
      write_batch (writer, batch, max_pages);
      batch_clear (batch);
      g_mutex_lock (&writer->lock);

      writer->next = NULL;
      batch->done = TRUE;
      g_cond_broadcast (&writer->cond);
      g_source_set_ready_time (writer->written, 0);
    }
  g_mutex_unlock (&writer->lock);

  return NULL;
}

/* @written_cb runs in the thread-default main context once a batch is done. */
static Writer *
writer_new (const char  *path,
            GSourceFunc  written_cb,
            gpointer     user_data)
{
  Writer *writer = g_new0 (Writer, 1);

  writer->path = g_strdup (path);
  g_mutex_init (&writer->lock);
  g_cond_init (&writer->cond);
  writer->written = confab_ready_source_new ("[confab] history written", written_cb, user_data);

  return writer;
}

static void
writer_hand (Writer *writer,
             Batch  *batch)
{
  g_mutex_lock (&writer->lock);
  if (writer->thread == NULL)
    writer->thread = g_thread_new ("confab-history", writer_thread, writer);
  writer->next = batch;
  g_cond_signal (&writer->cond);
  g_mutex_unlock (&writer->lock);
}

static gboolean
writer_done (Writer *writer,
             Batch  *batch,
             gboolean wait)
{
  gboolean done;

  g_mutex_lock (&writer->lock);
  while (wait && !batch->done)
    g_cond_wait (&writer->cond, &writer->lock);
  done = batch->done;
  g_mutex_unlock (&writer->lock);

  return done;
}

static void
writer_set_max_pages (Writer *writer,
                      guint   pages)
{
  g_mutex_lock (&writer->lock);
  writer->max_pages = pages;
  g_mutex_unlock (&writer->lock);
}

/* Once no batch is in flight */
static void
writer_free (Writer *writer)
{
  if (writer->thread != NULL)
    {
      g_mutex_lock (&writer->lock);
      writer->quit = TRUE;
      g_cond_signal (&writer->cond);
      g_mutex_unlock (&writer->lock);
      g_thread_join (writer->thread);
    }

  g_source_destroy (writer->written);
  g_source_unref (writer->written);
  writer_close (writer);
  g_mutex_clear (&writer->lock);
  g_cond_clear (&writer->cond);
  g_free (writer->path);
  g_free (writer);
}

static void
close_db (ConfabHistory *self)
{
  finalize_statements (self->stmts);
  g_clear_pointer (&self->db, sqlite3_close);
}

/* While a checkpoint finishes, its connection holds writes back for a few
 * milliseconds. SQLite's own busy handler sleeps 1, 2, 5, then 10 ms and
 * more between tries, which kept the main loop 20 ms for a 3 ms wait; this
 * one tries again every BUSY_RETRY_USEC, up to BUSY_TIMEOUT_MS in all.
 */
static int
busy_handler (void *user_data,
              int   tries)
{
  ConfabHistory *self = user_data;
  gint64 now = g_get_monotonic_time ();

  if (tries == 0)
    self->busy_since = now;
  else if (now - self->busy_since >= BUSY_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND)
    return 0;

  g_usleep (BUSY_RETRY_USEC);
  return 1;
}

static gboolean
open_db (ConfabHistory  *self,
         GError        **error)
{
  const char *failed = NULL;
  int rc;

  rc = sqlite3_open_v2 (self->path, &self->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK)
    {
      set_sqlite_error (error, self->db, rc, self->path);
      close_db (self);
      return FALSE;
    }

  sqlite3_extended_result_codes (self->db, TRUE);
  sqlite3_busy_handler (self->db, busy_handler, self);

  if (!exec (self->db, "PRAGMA journal_mode = WAL", error) ||
      !exec (self->db, connection_settings, error) ||
      /* SQLite finds a file cut short here; damage inside a page shows when
       * it is read, and fails that read.
       */
      !migrate (self->db, error))
    {
      close_db (self);
      return FALSE;
    }

  rc = prepare (self->db, self->stmts, main_statements, G_N_ELEMENTS (main_statements), &failed);
  if (rc != SQLITE_OK)
    {
      set_sqlite_error (error, self->db, rc, failed);
      close_db (self);
      return FALSE;
    }

  /* In place of the automatic checkpoint */
  sqlite3_wal_hook (self->db, wal_hook, self);

  return TRUE;
}

static char *
aside_path (const char *path)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *stamp = g_date_time_format (now, "%Y%m%d-%H%M%S");
  char *candidate = g_strdup_printf ("%s.corrupt-%s", path, stamp);

  for (guint n = 2; g_file_test (candidate, G_FILE_TEST_EXISTS); n++)
    {
      g_free (candidate);
      candidate = g_strdup_printf ("%s.corrupt-%s-%u", path, stamp, n);
    }

  return candidate;
}

/* Renames the file aside with its write-ahead log, which belongs to it. */
static gboolean
move_aside (ConfabHistory  *self,
            GError        **error)
{
  g_autofree char *target = aside_path (self->path);
  g_autofree char *wal = g_strconcat (self->path, "-wal", NULL);
  g_autofree char *wal_target = g_strconcat (target, "-wal", NULL);
  g_autofree char *shm = g_strconcat (self->path, "-shm", NULL);

  if (g_rename (self->path, target) != 0)
    {
      int saved_errno = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   "%s: %s", self->path, g_strerror (saved_errno));
      return FALSE;
    }

  /* A log left beside the fresh file would be replayed into it. */
  if (g_file_test (wal, G_FILE_TEST_EXISTS) && g_rename (wal, wal_target) != 0)
    g_unlink (wal);
  g_unlink (shm);

  self->moved_to = g_steal_pointer (&target);
  return TRUE;
}

/* A file that is there but cannot be used is damaged, not missing. */
static gboolean
is_unusable_file (const char   *path,
                  const GError *error)
{
  if (g_error_matches (error, CONFAB_HISTORY_ERROR, CONFAB_HISTORY_ERROR_CORRUPT))
    return TRUE;

  if (g_error_matches (error, CONFAB_HISTORY_ERROR, CONFAB_HISTORY_ERROR_NEWER))
    return FALSE;

  /* Unreadable is as good as damaged; read-only is not: it is kept for
   * reading, and nothing is written.
   */
  return g_file_test (path, G_FILE_TEST_IS_REGULAR) && g_access (path, R_OK) != 0;
}

/* The protocol ids seen */

static guint
seen_hash (gconstpointer key)
{
  const SeenId *id = key;
  guint64 mixed = (id->origin ^ (id->number * G_GUINT64_CONSTANT (0x9e3779b97f4a7c15))) +
                  id->direction;

  return (guint)(mixed ^ (mixed >> 32));
}

static gboolean
seen_equal (gconstpointer a,
            gconstpointer b)
{
  const SeenId *x = a, *y = b;

  return x->origin == y->origin && x->number == y->number && x->direction == y->direction;
}

static gboolean
seen_contains (ConfabHistory   *self,
               ConfabDirection  direction,
               guint64          origin,
               guint64          number)
{
  SeenId id = { origin, number, direction };

  return g_hash_table_contains (self->seen, &id);
}

/* A plain-text message has no protocol id: each is its own. */
static void
seen_add (ConfabHistory   *self,
          ConfabDirection  direction,
          guint64          origin,
          guint64          number)
{
  SeenId *slot = &self->seen_ring[self->seen_next];

  if (origin == 0 && number == 0)
    return;

  if (g_hash_table_lookup (self->seen, slot) == slot)
    g_hash_table_remove (self->seen, slot);
  *slot = (SeenId) { origin, number, direction };
  g_hash_table_add (self->seen, slot);
  self->seen_next = (self->seen_next + 1) % SEEN_MAX;
}

static gboolean
step_found (sqlite3_stmt *stmt)
{
  gboolean found = sqlite3_step (stmt) == SQLITE_ROW;

  sqlite3_reset (stmt);
  sqlite3_clear_bindings (stmt);
  return found;
}

/* An incoming message not among the newest SEEN_MAX may still be in the
 * file, sent again by a peer that did not see its ack before one side
 * restarted: only a sender met in an earlier run can do that, and its
 * messages are looked up in the file (once an origin's first message
 * shows that the file has it).
 */
static gboolean
stored_before (ConfabHistory *self,
               guint64        origin,
               guint64        number)
{
  gpointer known;

  if (!g_hash_table_lookup_extended (self->origins, &origin, NULL, &known))
    {
      guint64 *key = g_memdup2 (&origin, sizeof origin);

      sqlite3_bind_int64 (self->stmts[STMT_ORIGIN_STORED], 1, (gint64)origin);
      known = GINT_TO_POINTER (step_found (self->stmts[STMT_ORIGIN_STORED]));
      g_hash_table_insert (self->origins, key, known);
    }

  if (!GPOINTER_TO_INT (known))
    return FALSE;

  sqlite3_bind_int64 (self->stmts[STMT_ID_STORED], 1, (gint64)origin);
  sqlite3_bind_int64 (self->stmts[STMT_ID_STORED], 2, (gint64)number);
  return step_found (self->stmts[STMT_ID_STORED]);
}

/* Where row ids go on from, and the newest protocol ids in the file. Damage
 * found here shows as it does for any read: without the first, nothing can
 * be written; without the rest, a message sent again may show twice.
 */
static void
read_ids (ConfabHistory *self)
{
  g_autoptr(GError) error = NULL;
  sqlite3_stmt *stmt = NULL;
  int rc;

  if (!query_int (self->db, "SELECT ifnull(max(id), 0) FROM messages", &self->next_id, &error))
    {
      g_message ("History %s cannot be written: %s", self->path, error->message);
      if (self->failure == NULL)
        self->failure = g_steal_pointer (&error);
      return;
    }
  self->next_id++;

  rc = sqlite3_prepare_v2 (self->db, "SELECT direction, origin, number FROM"
                                     " (SELECT id, direction, origin, number FROM messages"
                                     "  WHERE origin IS NOT NULL ORDER BY id DESC LIMIT "
                                     G_STRINGIFY (SEEN_MAX) ") ORDER BY id", -1, &stmt, NULL);
  while (rc == SQLITE_OK || rc == SQLITE_ROW)
    if ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
      seen_add (self, sqlite3_column_int (stmt, 0), sqlite3_column_int64 (stmt, 1),
                sqlite3_column_int64 (stmt, 2));
  sqlite3_finalize (stmt);

  if (rc != SQLITE_DONE)
    g_message ("History %s: the newest messages' ids cannot be read: %s", self->path,
               sqlite3_errstr (rc));
}

static gboolean written_cb (gpointer user_data);

/* Once the file is open: the logs are replayed, and the writer made. */
static void
start_writing (ConfabHistory *self)
{
  confab_history_log_open (self);
  if (confab_history_has_log (self))
    self->writer = writer_new (self->path, written_cb, self);
  read_ids (self);
}

static void
confab_history_dispose (GObject *object)
{
  ConfabHistory *self = (ConfabHistory *)object;

  if (self->db != NULL)
    confab_history_sync (self, NULL);
  cancel_commit (self);

  G_OBJECT_CLASS (confab_history_parent_class)->dispose (object);
}

static void
confab_history_finalize (GObject *object)
{
  ConfabHistory *self = (ConfabHistory *)object;

  /* The main connection closes last, unless a checkpoint still runs: the
   * last one to close copies the log into the file and removes it.
   */
  g_clear_pointer (&self->writer, writer_free);
  checkpointer_release (self->checkpointer);
  close_db (self);
  confab_history_log_close (self);
  g_clear_pointer (&self->log_pending, g_byte_array_unref);
  g_clear_pointer (&self->unwritten, g_hash_table_unref);
  g_ptr_array_set_free_func (self->unwritten_rows, (GDestroyNotify)confab_history_row_free);
  g_clear_pointer (&self->unwritten_rows, g_ptr_array_unref);
  g_clear_pointer (&self->changes, g_array_unref);
  g_clear_pointer (&self->seen, g_hash_table_unref);
  g_clear_pointer (&self->origins, g_hash_table_unref);
  g_clear_pointer (&self->seen_ring, g_free);
  g_clear_pointer (&self->path, g_free);
  g_clear_pointer (&self->moved_to, g_free);
  g_clear_error (&self->recovery);
  g_clear_error (&self->failure);

  G_OBJECT_CLASS (confab_history_parent_class)->finalize (object);
}

static void
confab_history_class_init (ConfabHistoryClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = confab_history_dispose;
  object_class->finalize = confab_history_finalize;

  /**
   * ConfabHistory::failed:
   * @error: why the history cannot be written
   *
   * Emitted once, for the first write that fails (a full disk, a file that
   * turned read-only or damaged). No write is tried after it; reading goes on.
   */
  signals[FAILED] =
    g_signal_new ("failed",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_ERROR);
}

static void
confab_history_init (ConfabHistory *self)
{
  self->checkpointer = g_rc_box_new0 (Checkpointer);
  for (guint i = 0; i < G_N_ELEMENTS (self->logs); i++)
    self->logs[i].fd = -1;
  self->log_pending = g_byte_array_new ();
  /* Rows move from here to a batch, which frees them */
  self->unwritten_rows = g_ptr_array_new ();
  self->changes = changes_new ();
  self->unwritten = g_hash_table_new (g_int64_hash, g_int64_equal);
  self->seen = g_hash_table_new (seen_hash, seen_equal);
  self->origins = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  self->seen_ring = g_new0 (SeenId, SEEN_MAX);
}

/**
 * confab_history_default_path:
 *
 * Returns: (transfer full): `$XDG_DATA_HOME/confab/history.db`
 */
char *
confab_history_default_path (void)
{
  return g_build_filename (g_get_user_data_dir (), "confab", "history.db", NULL);
}

/**
 * confab_history_open:
 * @path: the database file; it and its folder are made if missing
 * @error: return location for a #GError
 *
 * A file that is not a usable database is renamed aside to
 * `@path.corrupt-YYYYMMDD-HHMMSS` and a fresh one is made in its place;
 * confab_history_get_recovery() then says so.
 *
 * Returns: (transfer full) (nullable): the history, or %NULL if none can be
 *   opened or made at @path (%CONFAB_HISTORY_ERROR_FAILED), or the file is
 *   from a newer Confab (%CONFAB_HISTORY_ERROR_NEWER)
 */
ConfabHistory *
confab_history_open (const char  *path,
                     GError     **error)
{
  g_autoptr(ConfabHistory) self = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autofree char *dir = NULL;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = g_object_new (CONFAB_TYPE_HISTORY, NULL);
  self->path = g_strdup (path);
  self->checkpointer->path = g_strdup (path);

  dir = g_path_get_dirname (path);
  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      int saved_errno = errno;

      g_set_error (error, CONFAB_HISTORY_ERROR, CONFAB_HISTORY_ERROR_FAILED,
                   "%s: %s", dir, g_strerror (saved_errno));
      return NULL;
    }

  if (open_db (self, &local_error))
    {
      if (sqlite3_db_readonly (self->db, "main") == 1)
        self->failure = g_error_new (CONFAB_HISTORY_ERROR, CONFAB_HISTORY_ERROR_FAILED,
                                     _("%s is read-only"), path);
      start_writing (self);
      return g_steal_pointer (&self);
    }

  if (!is_unusable_file (path, local_error))
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }

  g_message ("History %s is unusable (%s); moving it aside", path, local_error->message);
  if (!move_aside (self, error))
    return NULL;

  /* Translators: %s is a file name */
  self->recovery = g_error_new (CONFAB_HISTORY_ERROR, CONFAB_HISTORY_ERROR_CORRUPT,
                                _("The history file was damaged. It was moved to %s "
                                  "and a new history was started."),
                                self->moved_to);

  g_clear_error (&local_error);
  if (!open_db (self, &local_error))
    {
      g_set_error (error, CONFAB_HISTORY_ERROR, CONFAB_HISTORY_ERROR_FAILED,
                   "%s", local_error->message);
      return NULL;
    }

  /* What the log holds is newer than the damage: it goes in the new file. */
  start_writing (self);
  return g_steal_pointer (&self);
}

/**
 * confab_history_get_failure:
 *
 * Returns: (nullable): why the history cannot be written, if it cannot: a
 *   read-only file found at open, or the first write that failed
 */
const GError *
confab_history_get_failure (ConfabHistory *self)
{
  g_return_val_if_fail (CONFAB_IS_HISTORY (self), NULL);

  return self->failure;
}

/**
 * confab_history_get_recovery:
 *
 * Returns: (nullable): a %CONFAB_HISTORY_ERROR_CORRUPT error, for the
 *   person, if the file found at open was moved aside
 */
const GError *
confab_history_get_recovery (ConfabHistory *self)
{
  g_return_val_if_fail (CONFAB_IS_HISTORY (self), NULL);

  return self->recovery;
}

/**
 * confab_history_get_moved_to:
 *
 * Returns: (nullable): where the damaged file found at open now is
 */
const char *
confab_history_get_moved_to (ConfabHistory *self)
{
  g_return_val_if_fail (CONFAB_IS_HISTORY (self), NULL);

  return self->moved_to;
}

/* After the first failure every write is refused with the same error. */
gboolean
confab_history_writable (ConfabHistory  *self,
                         GError        **error)
{
  if (self->failure == NULL)
    return TRUE;

  if (error != NULL)
    *error = g_error_copy (self->failure);
  return FALSE;
}

static void
roll_back (ConfabHistory *self)
{
  if (!sqlite3_get_autocommit (self->db))
    sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
  self->in_batch = FALSE;
}

/* After a failed write SQLite has undone the statement, or for some errors
 * the whole transaction of the main connection. What was written before it
 * is committed if it can be; the logs keep what they hold for the next
 * start.
 */
static void
keep_what_was_stored (ConfabHistory *self)
{
  if (!self->in_batch)
    return;

  if (!sqlite3_get_autocommit (self->db))
    sqlite3_exec (self->db, "COMMIT", NULL, NULL, NULL);
  roll_back (self);
}

void
confab_history_fail (ConfabHistory  *self,
                     GError        **error,
                     GError         *reason)
{
  /* A replay that fails leaves the log for the next start. */
  if (self->replaying)
    {
      roll_back (self);
      g_propagate_error (error, reason);
      return;
    }

  g_message ("History %s cannot be written: %s", self->path, reason->message);
  keep_what_was_stored (self);

  self->failure = g_error_new_literal (CONFAB_HISTORY_ERROR, CONFAB_HISTORY_ERROR_FAILED,
                                       reason->message);
  g_signal_emit (self, signals[FAILED], 0, self->failure);

  g_propagate_error (error, reason);
}

/* Runs a statement that writes; a failure is the history's failure. */
static gboolean
exec_write (ConfabHistory  *self,
            const char     *sql,
            GError        **error)
{
  GError *local_error = NULL;

  if (exec (self->db, sql, &local_error))
    return TRUE;

  confab_history_fail (self, error, local_error);
  return FALSE;
}

static gboolean commit_cb (gpointer user_data);

static void
schedule_commit (ConfabHistory *self,
                 guint          delay_ms)
{
  cancel_commit (self);

  self->commit_source = delay_ms > 0 ? g_timeout_source_new (delay_ms) : g_idle_source_new ();
  g_source_set_priority (self->commit_source, G_PRIORITY_DEFAULT);
  g_source_set_static_name (self->commit_source, "[confab] history commit");
  g_source_set_callback (self->commit_source, commit_cb, self, NULL);
  g_source_attach (self->commit_source, g_main_context_get_thread_default ());
}

/* Opens the main connection's transaction, which the next writes share.
 * Without a log, it is committed once the main loop is idle; replay and
 * Clear History commit theirs at once.
 */
static gboolean
begin_batch (ConfabHistory  *self,
             GError        **error)
{
  if (self->in_batch)
    return TRUE;

  if (!exec_write (self, "BEGIN", error))
    return FALSE;

  self->in_batch = TRUE;
  if (!confab_history_has_log (self))
    schedule_commit (self, 0);

  return TRUE;
}

/* Commits the main connection's transaction. */
gboolean
confab_history_commit_main (ConfabHistory  *self,
                            GError        **error)
{
  if (!confab_history_writable (self, error))
    return FALSE;

  if (!self->in_batch)
    return TRUE;

  if (!exec_write (self, "COMMIT", error))
    return FALSE;

  self->in_batch = FALSE;
  if (!confab_history_has_log (self))
    cancel_commit (self);
  return TRUE;
}

/* The writes that wait for the writer */

static gboolean
pending (ConfabHistory *self)
{
  return self->unwritten_rows->len > 0 || self->changes->len > 0;
}

static void finish_batch (ConfabHistory *self,
                          gboolean       wait);
static void start_commit (ConfabHistory *self);

/* One of ours still sending: it waits for its ack (see SENDING_WAIT_USEC) */
static gboolean
row_sending (const Row *row)
{
  return row->direction == CONFAB_DIRECTION_OUTGOING && row->state == CONFAB_MESSAGE_STATE_SENDING;
}

/* A write waits for the commit COMMIT_DELAY_MS after the first, or for the
 * next main-loop turn once there are COMMIT_MAX_WRITES that the commit
 * would write. One of ours still sending (@sending) is not among those:
 * it waits for its ack, and would only be copied into the next log, at
 * every commit of a burst that sends faster than acks come back. Past
 * MAX_WAITING_WRITES of all kinds (the writer is behind, or the main loop
 * is not returned to), they are handed over at once, after waiting for the
 * batch in flight.
 */
static void
count_write (ConfabHistory *self,
             gboolean       sending)
{
  self->commit_writes += !sending;
  if (++self->batch_writes >= MAX_WAITING_WRITES)
    {
      finish_batch (self, TRUE);
      start_commit (self);
    }
  else if (!sending && self->commit_writes == COMMIT_MAX_WRITES)
    schedule_commit (self, 0);
  else if (self->commit_source == NULL)
    schedule_commit (self, COMMIT_DELAY_MS);
}

/* Whether a row is written at this commit, or waits for the next */
static gboolean
row_settled (const Row *row,
             gint64     now)
{
  return !row_sending (row) || now - row->added >= SENDING_WAIT_USEC;
}

/* Hands the rows that wait (but for those of ours that may wait longer,
 * unless @all) and the changes to the writer, when none is in flight.
 * Records go to the other log from then on: the rows kept are written there
 * again.
 */
static gboolean
hand_off (ConfabHistory  *self,
          gboolean        all,
          GError        **error)
{
  GPtrArray *rows = self->unwritten_rows;
  GPtrArray *kept;
  gint64 now = g_get_monotonic_time ();
  guint from = rows->len;
  guint settled;
  Batch *batch;

  g_return_val_if_fail (self->in_flight == NULL, FALSE);

  if (!confab_history_writable (self, error))
    return FALSE;

  /* Only ours still sending may wait, and they are among the newest: the
   * rows before the oldest of them all go, unread (with @all, every row).
   * Reading each of a thousand rows, last touched a second ago, held the
   * main loop 70 µs.
   */
  for (guint found = 0; !all && from > 0 && found < self->unwritten_sending;)
    found += row_sending (g_ptr_array_index (rows, --from));

  /* The rows kept are found in new tables: most go, and taking each out
   * of the old ones cost more than the rest of the hand-off.
   */
  batch = g_new0 (Batch, 1);
  batch->rows = rows;
  batch->unwritten = g_steal_pointer (&self->unwritten);
  kept = self->unwritten_rows = g_ptr_array_new ();
  self->unwritten = g_hash_table_new (g_int64_hash, g_int64_equal);
  settled = from;
  for (guint i = from; i < rows->len; i++)
    {
      Row *row = g_ptr_array_index (rows, i);

      if (row_settled (row, now))
        rows->pdata[settled++] = row;
      else
        {
          g_ptr_array_add (kept, row);
          g_hash_table_insert (self->unwritten, &row->id, row);
        }
    }
  /* What is kept is ours, still sending. */
  self->unwritten_sending = kept->len;
  g_ptr_array_set_size (rows, settled);
  g_ptr_array_set_free_func (rows, (GDestroyNotify)confab_history_row_free);
  batch->changes = g_steal_pointer (&self->changes);
  self->changes = changes_new ();
  self->batch_writes = 0;
  self->commit_writes = 0;

  if (batch->rows->len == 0 && batch->changes->len == 0)
    {
      batch_free (batch);
      return TRUE;
    }

  if (!confab_history_log_switch (self, error))
    {
      batch_free (batch);
      return FALSE;
    }
  for (guint i = 0; i < kept->len; i++)
    if (!confab_history_log_add (self, g_ptr_array_index (kept, i), error))
      {
        batch_free (batch);
        return FALSE;
      }

  self->in_flight = batch;
  writer_hand (self->writer, batch);
  return TRUE;
}

/* Once the batch in flight is written, its log is emptied; if it could not
 * be, the history fails, and the logs keep it.
 */
static void
finish_batch (ConfabHistory *self,
              gboolean       wait)
{
  Batch *batch = self->in_flight;

  if (batch == NULL || !writer_done (self->writer, batch, wait))
    return;

  /* Its log is the one records went to before it was handed over: the
   * other one since.
   */
  self->in_flight = NULL;
  if (batch->error != NULL)
    confab_history_fail (self, NULL, g_steal_pointer (&batch->error));
  else
    confab_history_log_cut (self, !self->log_active);
  batch_free (batch);
}

/* Hands what waits to the writer, or once the batch in flight is done. */
static void
start_commit (ConfabHistory *self)
{
  self->commit_due = self->in_flight != NULL;
  if (self->commit_due)
    return;

  hand_off (self, FALSE, NULL);
  if (pending (self) && self->commit_source == NULL)
    schedule_commit (self, COMMIT_DELAY_MS);
}

static gboolean
written_cb (gpointer user_data)
{
  ConfabHistory *self = user_data;

  finish_batch (self, FALSE);
  if (self->in_flight == NULL && self->commit_due)
    start_commit (self);

  return G_SOURCE_CONTINUE;
}

/* Writes all that waits, even ours still sending, and waits for the
 * writer: the database then has it all, unless the history failed.
 */
static void
drain (ConfabHistory *self)
{
  for (;;)
    {
      if (self->in_flight != NULL)
        finish_batch (self, TRUE);
      else if (self->failure != NULL || !pending (self) || !hand_off (self, TRUE, NULL))
        break;
    }

  self->commit_due = FALSE;
  cancel_commit (self);
}

static gboolean
commit_cb (gpointer user_data)
{
  ConfabHistory *self = user_data;

  g_clear_pointer (&self->commit_source, g_source_unref);
  if (confab_history_has_log (self))
    start_commit (self);
  else
    confab_history_commit_main (self, NULL);

  return G_SOURCE_REMOVE;
}

/**
 * confab_history_is_write_through:
 *
 * Returns: whether each write is on disk as it returns (in the log beside
 *   the file), so that confab_history_commit() has nothing to do
 */
gboolean
confab_history_is_write_through (ConfabHistory *self)
{
  g_return_val_if_fail (CONFAB_IS_HISTORY (self), FALSE);

  return confab_history_has_log (self);
}

/**
 * confab_history_commit:
 *
 * Puts the messages added and changed since the last commit on disk now:
 * in the log, or where there is none, in the database.
 *
 * Returns: %FALSE if they could not be written
 */
gboolean
confab_history_commit (ConfabHistory  *self,
                       GError        **error)
{
  g_return_val_if_fail (CONFAB_IS_HISTORY (self), FALSE);

  /* With a log, each write put its record there already. */
  if (!confab_history_is_write_through (self))
    return confab_history_commit_main (self, error);

  return confab_history_writable (self, error);
}

/**
 * confab_history_sync:
 *
 * Writes what was added and changed into the database and commits it now,
 * rather than within COMMIT_DELAY_MS.
 *
 * Returns: %FALSE if it could not be written
 */
gboolean
confab_history_sync (ConfabHistory  *self,
                     GError        **error)
{
  g_return_val_if_fail (CONFAB_IS_HISTORY (self), FALSE);

  if (confab_history_has_log (self))
    drain (self);

  return confab_history_commit_main (self, error);
}

/* Steps a write statement of the main connection; a failure is the
 * history's failure.
 */
static gboolean
step_write (ConfabHistory  *self,
            sqlite3_stmt   *stmt,
            GError        **error)
{
  int rc = step_done (stmt);
  GError *local_error = NULL;

  if (rc == SQLITE_OK)
    return TRUE;

  set_sqlite_error (&local_error, self->db, rc, _("Saving a message"));
  confab_history_fail (self, error, local_error);
  return FALSE;
}

gboolean
confab_history_insert_row (ConfabHistory  *self,
                           guint           which,
                           const Row      *row,
                           GError        **error)
{
  sqlite3_stmt *stmt = self->stmts[which];

  if (!confab_history_writable (self, error) || !begin_batch (self, error))
    return FALSE;

  bind_row (stmt, 1, row);
  return step_write (self, stmt, error);
}

gboolean
confab_history_write_change (ConfabHistory  *self,
                             const Change   *change,
                             GError        **error)
{
  sqlite3_stmt *stmt = self->stmts[change->which];

  if (!confab_history_writable (self, error) || !begin_batch (self, error))
    return FALSE;

  bind_change (stmt, change);
  return step_write (self, stmt, error);
}

/* Without a log (none could be made beside the file), a row is written at
 * once, under the id the database gives.
 */
static gboolean
add_directly (ConfabHistory  *self,
              ConfabMessage  *message,
              GError        **error)
{
  Row *row = row_new (message);
  gboolean ok = confab_history_insert_row (self, STMT_INSERT, row, error);

  confab_history_row_free (row);
  if (ok && sqlite3_changes (self->db) > 0)
    confab_message_set_history_id (message, sqlite3_last_insert_rowid (self->db));

  return ok;
}

/**
 * confab_history_add:
 * @message: a message not yet stored
 *
 * Stores every field of @message and sets its history id. A message
 * already stored under its protocol id (one of the newest SEEN_MAX) is left
 * alone: its history id stays 0. It is on disk after the next
 * confab_history_commit(), and in the database within COMMIT_DELAY_MS (one
 * of ours still being sent, within SENDING_WAIT_USEC more); changes made to
 * it before then are written with it.
 *
 * Returns: %FALSE if the history cannot be written
 */
gboolean
confab_history_add (ConfabHistory  *self,
                    ConfabMessage  *message,
                    GError        **error)
{
  ConfabDirection direction;
  guint64 origin, number;
  Row *row;

  g_return_val_if_fail (CONFAB_IS_HISTORY (self), FALSE);
  g_return_val_if_fail (CONFAB_IS_MESSAGE (message), FALSE);
  g_return_val_if_fail (confab_message_get_history_id (message) == 0, FALSE);

  if (!confab_history_writable (self, error))
    return FALSE;

  direction = confab_message_get_direction (message);
  origin = confab_message_get_origin (message);
  number = confab_message_get_number (message);
  if ((origin != 0 || number != 0) &&
      (seen_contains (self, direction, origin, number) ||
       (direction == CONFAB_DIRECTION_INCOMING && stored_before (self, origin, number))))
    return TRUE;
  seen_add (self, direction, origin, number);

  if (!confab_history_has_log (self))
    return add_directly (self, message, error);

  confab_message_set_history_id (message, self->next_id++);
  row = row_new (message);
  row->added = g_get_monotonic_time ();
  g_ptr_array_add (self->unwritten_rows, row);
  g_hash_table_insert (self->unwritten, &row->id, row);
  self->unwritten_sending += row_sending (row);
  if (!confab_history_log_add (self, row, error))
    return FALSE;

  count_write (self, row_sending (row));
  return TRUE;
}

/* @which: STMT_UPDATE or STMT_RENUMBER */
static void
change_init (Change        *change,
             ConfabMessage *message,
             guint          which)
{
  *change = (Change) { .id = confab_message_get_history_id (message), .which = which };
  if (which == STMT_UPDATE)
    {
      change->state = confab_message_get_state (message);
      change->plain = confab_message_get_plain (message);
      change->delivered = confab_message_get_delivered_time (message);
      change->error = g_strdup (confab_message_get_error (message));
    }
  else
    {
      change->origin = confab_message_get_origin (message);
      change->number = confab_message_get_number (message);
    }
}

/* A change to a row that waits is folded into it by @fold; one to a row
 * handed to the writer, or in the database, waits for the next batch (or
 * without a log, is written there with statement @which).
 */
static gboolean
change_row (ConfabHistory  *self,
            ConfabMessage  *message,
            void          (*fold) (Row *, ConfabMessage *),
            guint           which,
            GError        **error)
{
  gint64 id = confab_message_get_history_id (message);
  Change change;
  Row *row;
  gboolean ok;

  if (!confab_history_writable (self, error))
    return FALSE;

  row = g_hash_table_lookup (self->unwritten, &id);
  if (row != NULL)
    {
      gboolean sending;

      self->unwritten_sending -= row_sending (row);
      fold (row, message);
      sending = row_sending (row);
      self->unwritten_sending += sending;
      count_write (self, sending);
      return TRUE;
    }

  change_init (&change, message, which);
  if (confab_history_has_log (self))
    {
      g_array_append_val (self->changes, change);
      count_write (self, FALSE);
      return TRUE;
    }

  ok = confab_history_write_change (self, &change, error);
  change_clear (&change);
  return ok;
}

/**
 * confab_history_update:
 * @message: a stored message
 *
 * Stores what changes while a message is sent: its state, error, mode and
 * delivery time. A message with no history id is skipped.
 *
 * Returns: %FALSE if the history cannot be written
 */
gboolean
confab_history_update (ConfabHistory  *self,
                       ConfabMessage  *message,
                       GError        **error)
{
  g_return_val_if_fail (CONFAB_IS_HISTORY (self), FALSE);
  g_return_val_if_fail (CONFAB_IS_MESSAGE (message), FALSE);

  if (confab_message_get_history_id (message) == 0)
    return TRUE;

  return change_row (self, message, row_set_state, STMT_UPDATE, error) &&
         confab_history_log_update (self, message, error);
}

/**
 * confab_history_renumber:
 * @message: a stored message
 *
 * Stores the protocol id a message was given when it was sent under a new
 * one (as a resend is known by it). A message with no history id is
 * skipped.
 *
 * Returns: %FALSE if the history cannot be written
 */
gboolean
confab_history_renumber (ConfabHistory  *self,
                         ConfabMessage  *message,
                         GError        **error)
{
  g_return_val_if_fail (CONFAB_IS_HISTORY (self), FALSE);
  g_return_val_if_fail (CONFAB_IS_MESSAGE (message), FALSE);

  if (confab_message_get_history_id (message) == 0)
    return TRUE;

  if (!change_row (self, message, row_set_protocol_id, STMT_RENUMBER, error))
    return FALSE;

  seen_add (self, confab_message_get_direction (message), confab_message_get_origin (message),
            confab_message_get_number (message));
  return confab_history_log_renumber (self, message, error);
}

static char *
column_text (sqlite3_stmt *stmt,
             int           column)
{
  const char *text = (const char *)sqlite3_column_text (stmt, column);
  int length = sqlite3_column_bytes (stmt, column);

  if (text == NULL)
    return NULL;

  /* A file edited by hand or damaged must not put bad UTF-8 on screen. */
  return g_utf8_make_valid (text, length);
}

/* Returns (nullable): the row's message, or %NULL for a row that makes no sense. */
static ConfabMessage *
message_from_row (sqlite3_stmt *stmt)
{
  g_autofree char *peer_host = column_text (stmt, 1);
  g_autofree char *sender = column_text (stmt, 6);
  g_autofree char *body = column_text (stmt, 7);
  g_autofree char *error = column_text (stmt, 10);
  int direction = sqlite3_column_int (stmt, 3);
  int state = sqlite3_column_int (stmt, 9);
  ConfabMessage *message;

  if (direction != CONFAB_DIRECTION_INCOMING && direction != CONFAB_DIRECTION_OUTGOING)
    return NULL;
  if (state < CONFAB_MESSAGE_STATE_SENDING || state > CONFAB_MESSAGE_STATE_RECEIVED)
    return NULL;

  message = confab_message_new_at (direction, sender != NULL ? sender : "",
                                   body != NULL ? body : "", sqlite3_column_int64 (stmt, 11));
  confab_message_set_history_id (message, sqlite3_column_int64 (stmt, 0));
  confab_message_set_peer (message, peer_host, sqlite3_column_int (stmt, 2));
  confab_message_set_id (message, sqlite3_column_int64 (stmt, 4), sqlite3_column_int64 (stmt, 5));
  confab_message_set_plain (message, sqlite3_column_int (stmt, 8));
  confab_message_set_state (message, state);
  confab_message_set_error (message, error);
  confab_message_set_received_time (message, sqlite3_column_int64 (stmt, 12));
  confab_message_set_delivered_time (message, sqlite3_column_int64 (stmt, 13));

  return message;
}

/* A read sees the rows that wait, too: they are written first (but for a
 * history that cannot be written, whose reads go on without them).
 */
static void
write_for_reading (ConfabHistory *self)
{
  if (self->failure == NULL && confab_history_has_log (self))
    drain (self);
}

static GPtrArray *
read_messages (ConfabHistory  *self,
               sqlite3_stmt   *stmt,
               GError        **error)
{
  g_autoptr(GPtrArray) messages = g_ptr_array_new_with_free_func (g_object_unref);
  int rc;

  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      ConfabMessage *message = message_from_row (stmt);

      if (message != NULL)
        g_ptr_array_add (messages, message);
    }

  sqlite3_reset (stmt);
  sqlite3_clear_bindings (stmt);

  if (rc != SQLITE_DONE)
    {
      set_sqlite_error (error, self->db, rc, _("Reading the history"));
      return NULL;
    }

  return g_steal_pointer (&messages);
}

/**
 * confab_history_load:
 * @before: a history id; only older messages are read. 0 for the newest.
 * @limit: how many at most
 *
 * Returns: (transfer container) (element-type ConfabMessage): the @limit
 *   messages just before @before, oldest first
 */
GPtrArray *
confab_history_load (ConfabHistory  *self,
                     gint64          before,
                     guint           limit,
                     GError        **error)
{
  sqlite3_stmt *stmt;
  GPtrArray *messages;

  g_return_val_if_fail (CONFAB_IS_HISTORY (self), NULL);
  g_return_val_if_fail (before >= 0, NULL);

  write_for_reading (self);
  stmt = self->stmts[STMT_LOAD];
  sqlite3_bind_int64 (stmt, 1, before > 0 ? before : G_MAXINT64);
  sqlite3_bind_int64 (stmt, 2, limit);

  messages = read_messages (self, stmt, error);
  if (messages != NULL)
    {
      /* Read newest first, for the LIMIT; shown oldest first. */
      for (guint i = 0; i < messages->len / 2; i++)
        {
          gpointer *pdata = messages->pdata;
          gpointer swap = pdata[i];

          pdata[i] = pdata[messages->len - 1 - i];
          pdata[messages->len - 1 - i] = swap;
        }
    }

  return messages;
}

/**
 * confab_history_load_unsent:
 *
 * Returns: (transfer container) (element-type ConfabMessage): the outbox:
 *   outgoing messages still %CONFAB_MESSAGE_STATE_SENDING, oldest first
 */
GPtrArray *
confab_history_load_unsent (ConfabHistory  *self,
                            GError        **error)
{
  g_return_val_if_fail (CONFAB_IS_HISTORY (self), NULL);

  write_for_reading (self);
  return read_messages (self, self->stmts[STMT_UNSENT], error);
}

/**
 * confab_history_count:
 *
 * Returns: how many messages are stored, or -1 on error
 */
gint64
confab_history_count (ConfabHistory  *self,
                      GError        **error)
{
  gint64 count = -1;

  g_return_val_if_fail (CONFAB_IS_HISTORY (self), -1);

  write_for_reading (self);
  if (!query_int (self->db, "SELECT count(*) FROM messages", &count, error))
    return -1;

  return count;
}

/**
 * confab_history_clear:
 *
 * Deletes every message, overwriting their text in the file and its log.
 *
 * Returns: %FALSE if the history cannot be written
 */
gboolean
confab_history_clear (ConfabHistory  *self,
                      GError        **error)
{
  g_return_val_if_fail (CONFAB_IS_HISTORY (self), FALSE);

  /* What waits goes in first, to be deleted with the rest. */
  if (confab_history_has_log (self))
    drain (self);
  if (!confab_history_writable (self, error) || !begin_batch (self, error))
    return FALSE;

  /* A message sent again after this is a new one here. */
  g_hash_table_remove_all (self->seen);
  g_hash_table_remove_all (self->origins);
  if (!exec_write (self, "DELETE FROM messages", error))
    return FALSE;

  confab_history_log_wipe (self);
  if (!confab_history_commit_main (self, error))
    return FALSE;

  /* The log still holds the deleted pages until it is checkpointed. */
  exec (self->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL);
  return TRUE;
}

/**
 * confab_history_set_max_pages:
 * @pages: the most pages the file may grow to
 *
 * Makes the file full as a full disk would; for tests.
 */
void
confab_history_set_max_pages (ConfabHistory *self,
                              guint          pages)
{
  g_autofree char *sql = NULL;

  g_return_if_fail (CONFAB_IS_HISTORY (self));

  sql = g_strdup_printf ("PRAGMA max_page_count = %u", pages);
  exec (self->db, sql, NULL);
  if (self->writer != NULL)
    writer_set_max_pages (self->writer, pages);
}
