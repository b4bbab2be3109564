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

typedef struct
{
  guint64 origin;
  guint64 number;
  guint   direction;
} SeenId;

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
  gboolean      in_batch;
  guint         batch_writes;
  GSource      *commit_source;
  Checkpointer *checkpointer;
  /* When the write now waiting for a lock first found it taken */
  gint64        busy_since;
  /* -1 while another handle owns the log */
  int           log_fd;
  char         *log_path;
  guint8       *log_map;
  gsize         log_map_size;
  /* Where the next record goes */
  gsize         log_size;
  guint32       log_generation;
  gboolean      replaying;
  /* The record being made, put in the log as it is completed */
  GByteArray   *log_pending;
  /* Row ids are given here, so that a row can wait to be written */
  gint64        next_id;
  /* Rows added and not yet written, by id, with what changed since */
  GPtrArray    *unwritten_rows;
  GHashTable   *unwritten;
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
gboolean  confab_history_write_state        (ConfabHistory  *self,
                                             ConfabMessage  *message,
                                             GError        **error);
gboolean  confab_history_write_protocol_id  (ConfabHistory  *self,
                                             ConfabMessage  *message,
                                             GError        **error);
gboolean  confab_history_commit_database    (ConfabHistory  *self,
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
void      confab_history_log_cut            (ConfabHistory  *self);
void      confab_history_log_wipe           (ConfabHistory  *self);

G_END_DECLS
