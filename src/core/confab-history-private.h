/* confab-history-private.h — what confab-history.c and its log share
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <sqlite3.h>

#include "confab-history.h"

G_BEGIN_DECLS

enum {
  STMT_INSERT,
  STMT_INSERT_MANY,
  STMT_REPLAY,
  STMT_ORIGIN_STORED,
  STMT_ID_STORED,
  STMT_UPDATE,
  STMT_RENUMBER,
  STMT_LOAD,
  STMT_UNSENT,
  N_STMTS
};

typedef struct _Checkpointer Checkpointer;
typedef struct _Writer Writer;
typedef struct _Batch Batch;

/* A message's row as it will be written */
typedef struct
{
  gint64   id;
  /* When it was added, on the monotonic clock */
  gint64   added;
  guint64  origin;
  guint64  number;
  gint64   sent;
  gint64   received;
  gint64   delivered;
  guint    port;
  guint    direction;
  guint    plain;
  guint    state;
  char    *error;
  /* In data[], with their lengths */
  char    *host;
  char    *sender;
  char    *body;
  gsize    host_len;
  gsize    sender_len;
  gsize    body_len;
  char     data[];
} Row;

/* A change to a row handed to the writer or in the database: @which is
 * STMT_UPDATE (state, plain, delivered, error) or STMT_RENUMBER (origin,
 * number).
 */
typedef struct
{
  gint64   id;
  guint    which;
  guint    state;
  guint    plain;
  gint64   delivered;
  char    *error;
  guint64  origin;
  guint64  number;
} Change;

typedef struct
{
  guint64 origin;
  guint64 number;
  guint   direction;
} SeenId;

/* One of the two logs. Records go to one while the rows whose records are
 * in the other are committed; a commit done empties its log.
 */
typedef struct
{
  int      fd;
  char    *path;
  guint8  *map;
  gsize    map_size;
  /* Where the next record goes */
  gsize    size;
  guint32  generation;
} Log;

struct _ConfabHistory
{
  GObject       parent_instance;

  sqlite3      *db;
  sqlite3_stmt *stmts[N_STMTS];
  char         *path;
  char         *moved_to;
  GError       *recovery;
  /* Set by the first failed write; no write is tried after it. */
  GError       *failure;
  /* The main connection's transaction: replay, Clear History, and every
   * write of a history without a log
   */
  gboolean      in_batch;
  guint         batch_writes;
  /* Of those, the ones the next commit writes (see count_write()) */
  guint         commit_writes;
  GSource      *commit_source;
  Checkpointer *checkpointer;
  /* When the write now waiting for a lock first found it taken */
  gint64        busy_since;
  /* Their fds are -1 while another handle owns them, or there are none */
  Log           logs[2];
  /* The one records go to */
  guint         log_active;
  gboolean      replaying;
  /* The record being made, put in the log as it is completed */
  GByteArray   *log_pending;
  /* Row ids are given here, so that a row can wait to be written */
  gint64        next_id;
  /* Rows added and not yet handed to the writer, by id, with what changed
   * since
   */
  GPtrArray    *unwritten_rows;
  GHashTable   *unwritten;
  /* How many of them are ours, still sending (row_sending()) */
  guint         unwritten_sending;
  /* Changes to rows handed to the writer, or in the database, in order */
  GArray       *changes;
  /* With a log, the rows and changes are written in the writer's thread. */
  Writer       *writer;
  Batch        *in_flight;
  /* A commit came due while one was in flight. */
  gboolean      commit_due;
  /* The protocol ids of the newest SEEN_MAX messages, in a ring */
  GHashTable   *seen;
  /* Incoming origins met in this run: whether the file had one before */
  GHashTable   *origins;
  SeenId       *seen_ring;
  guint         seen_next;
};

Row      *confab_history_row_alloc          (const char     *host,
                                             const char     *sender,
                                             const char     *body);
void      confab_history_row_free           (Row            *row);
gboolean  confab_history_writable           (ConfabHistory  *self,
                                             GError        **error);
void      confab_history_fail               (ConfabHistory  *self,
                                             GError        **error,
                                             GError         *reason);
gboolean  confab_history_insert_row         (ConfabHistory  *self,
                                             guint           which,
                                             const Row      *row,
                                             GError        **error);
gboolean  confab_history_write_change       (ConfabHistory  *self,
                                             const Change   *change,
                                             GError        **error);
gboolean  confab_history_commit_main        (ConfabHistory  *self,
                                             GError        **error);

/* confab-history-log.c */
void      confab_history_log_open           (ConfabHistory  *self);
gboolean  confab_history_log_add            (ConfabHistory  *self,
                                             const Row      *row,
                                             GError        **error);
gboolean  confab_history_log_update         (ConfabHistory  *self,
                                             ConfabMessage  *message,
                                             GError        **error);
gboolean  confab_history_log_renumber       (ConfabHistory  *self,
                                             ConfabMessage  *message,
                                             GError        **error);
gboolean  confab_history_log_switch         (ConfabHistory  *self,
                                             GError        **error);
void      confab_history_log_cut            (ConfabHistory  *self,
                                             guint           which);
void      confab_history_log_wipe           (ConfabHistory  *self);
void      confab_history_log_close          (ConfabHistory  *self);

/* Whether rows wait in memory for the writer, with their records in a log */
static inline gboolean
confab_history_has_log (ConfabHistory *self)
{
  return self->logs[0].fd >= 0;
}

G_END_DECLS
