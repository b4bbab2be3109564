/* confab-history-log.c — ConfabHistory: the logs of what is not in the database yet
 *
 * Before a message is sent or acknowledged, what changed since the last
 * commit of the database is appended to a log: a copy into a mapping of the
 * file, which the kernel keeps if the process is killed. There are two,
 * `PATH-log` and `PATH-log2`. A commit hands the rows and changes whose
 * records are in one to the writer's thread, and records go to the other
 * meanwhile (with those of the rows that wait longer, written again); once
 * that commit is done, the first log is emptied. Opening the history
 * replays what they still hold, the older first (records of rows the
 * database has already are applied again, in order, to the same effect).
 *
 * The logs belong to the handle that holds the first one's flock(); another
 * handle on the same file only reads it. Each is mapped into memory, its
 * blocks reserved ahead (so a full disk fails here, not in a store to the
 * mapping), and a record is copied into it: the kernel has it then, at no
 * system call's cost (a write() took 1.5 µs, and 15-20 at p99, to change
 * the file's times). A cut starts the records over at the beginning under a
 * new generation, one more than the other log's.
 *
 * Records are little-endian: a u32 length of the payload, the u32
 * generation, a u64 hash of the payload seeded with the generation
 * (record_hash()), then the payload: a kind,
 * the row id and the fields the kind stores (see confab_history_log_add()
 * and log_apply()). Replay takes the first record's generation and stops at
 * the first record of another, cut short or damaged: the last before a
 * crash.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "confab-history"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "confab-history-private.h"

/* A record: u32 length of the payload, u32 generation, u64 hash of both */
#define LOG_HEADER_SIZE 16
/* The file is mapped and its blocks reserved this much at a time */
#define LOG_MAP_STEP (1024 * 1024)

enum {
  RECORD_ADD = 1,
  RECORD_UPDATE,
  RECORD_RENUMBER,
};

/* The log */

/* A record is made in log_pending, sized for the most it can take, through
 * a cursor: a call of g_byte_array_append() a field cost 1,400 of the 1,900
 * instructions of a message's record.
 */
#define U64_SIZE 8
#define BYTES_SIZE(length) (4 + (length))

static guint8 *
put_u64 (guint8  *at,
         guint64  value)
{
  value = GUINT64_TO_LE (value);
  memcpy (at, &value, sizeof value);
  return at + sizeof value;
}

/* A NULL string is stored as the length G_MAXUINT32. */
static guint8 *
put_bytes (guint8     *at,
           const char *text,
           gsize       length)
{
  guint32 le = GUINT32_TO_LE (text != NULL ? length : G_MAXUINT32);

  memcpy (at, &le, sizeof le);
  at += sizeof le;
  if (text != NULL)
    memcpy (at, text, length);
  return text != NULL ? at + length : at;
}

static gsize
string_length (const char *text)
{
  return text != NULL ? strlen (text) : 0;
}

/* FNV-1a taken eight bytes at a time (little-endian words), then the
 * rest a byte at a time: it finds a record cut short or overwritten, and
 * costs an eighth of the byte-wise hash (4% of the receiver's time).
 */
static guint64
record_hash (guint32       generation,
             const guint8 *data,
             gsize         length)
{
  guint64 hash = G_GUINT64_CONSTANT (0xcbf29ce484222325) ^ generation;
  gsize i = 0;

  for (; i + sizeof (guint64) <= length; i += sizeof (guint64))
    {
      guint64 word;

      memcpy (&word, data + i, sizeof word);
      hash = (hash ^ GUINT64_FROM_LE (word)) * G_GUINT64_CONSTANT (0x100000001b3);
    }
  for (; i < length; i++)
    hash = (hash ^ data[i]) * G_GUINT64_CONSTANT (0x100000001b3);

  return hash;
}

static gboolean log_append (ConfabHistory  *self,
                            GError        **error);

/* Starts the record, of @kind on row @id, in log_pending, with room for
 * @size bytes of fields; returns where they go.
 */
static guint8 *
log_begin (ConfabHistory *self,
           guint          kind,
           gint64         id,
           gsize          size)
{
  guint8 *at;

  g_byte_array_set_size (self->log_pending, LOG_HEADER_SIZE + 2 * U64_SIZE + size);
  at = self->log_pending->data + LOG_HEADER_SIZE;
  at = put_u64 (at, kind);
  return put_u64 (at, id);
}

/* Completes the record, whose fields end at @end, and puts it in the log. */
static gboolean
log_end (ConfabHistory  *self,
         const guint8   *end,
         GError        **error)
{
  guint32 generation = self->logs[self->log_active].generation;
  guint8 *record = self->log_pending->data;
  guint32 length = end - record - LOG_HEADER_SIZE;
  guint32 length_le = GUINT32_TO_LE (length);
  guint32 generation_le = GUINT32_TO_LE (generation);
  guint64 hash = GUINT64_TO_LE (record_hash (generation, record + LOG_HEADER_SIZE, length));

  g_byte_array_set_size (self->log_pending, LOG_HEADER_SIZE + length);
  memcpy (record, &length_le, sizeof length_le);
  memcpy (record + 4, &generation_le, sizeof generation_le);
  memcpy (record + 8, &hash, sizeof hash);
  return log_append (self, error);
}

gboolean
confab_history_log_add (ConfabHistory  *self,
                        const Row      *row,
                        GError        **error)
{
  gsize error_length = string_length (row->error);
  guint8 *at;

  if (!confab_history_has_log (self))
    return TRUE;

  at = log_begin (self, RECORD_ADD, row->id,
                  9 * U64_SIZE + BYTES_SIZE (row->host_len) + BYTES_SIZE (row->sender_len) +
                  BYTES_SIZE (row->body_len) + BYTES_SIZE (error_length));
  at = put_u64 (at, row->direction);
  at = put_u64 (at, row->origin);
  at = put_u64 (at, row->number);
  at = put_u64 (at, row->plain);
  at = put_u64 (at, row->state);
  at = put_u64 (at, row->sent);
  at = put_u64 (at, row->received);
  at = put_u64 (at, row->delivered);
  at = put_u64 (at, row->port);
  at = put_bytes (at, row->host, row->host_len);
  at = put_bytes (at, row->sender, row->sender_len);
  at = put_bytes (at, row->body, row->body_len);
  at = put_bytes (at, row->error, error_length);
  return log_end (self, at, error);
}

gboolean
confab_history_log_update (ConfabHistory  *self,
                           ConfabMessage  *message,
                           GError        **error)
{
  const char *reason = confab_message_get_error (message);
  gsize reason_length = string_length (reason);
  guint8 *at;

  if (!confab_history_has_log (self))
    return TRUE;

  at = log_begin (self, RECORD_UPDATE, confab_message_get_history_id (message),
                  3 * U64_SIZE + BYTES_SIZE (reason_length));
  at = put_u64 (at, confab_message_get_state (message));
  at = put_u64 (at, confab_message_get_plain (message));
  at = put_u64 (at, confab_message_get_delivered_time (message));
  at = put_bytes (at, reason, reason_length);
  return log_end (self, at, error);
}

gboolean
confab_history_log_renumber (ConfabHistory  *self,
                             ConfabMessage  *message,
                             GError        **error)
{
  guint8 *at;

  if (!confab_history_has_log (self))
    return TRUE;

  at = log_begin (self, RECORD_RENUMBER, confab_message_get_history_id (message),
                  2 * U64_SIZE);
  at = put_u64 (at, confab_message_get_origin (message));
  at = put_u64 (at, confab_message_get_number (message));
  return log_end (self, at, error);
}

/* Maps at least @size bytes of @log, with their blocks reserved. */
static gboolean
log_map (Log     *log,
         gsize    size,
         GError **error)
{
  gsize mapped = (size + LOG_MAP_STEP - 1) / LOG_MAP_STEP * LOG_MAP_STEP;
  guint8 *map;
  int rc;

  if (mapped <= log->map_size)
    return TRUE;

  rc = posix_fallocate (log->fd, 0, mapped);
  map = rc == 0 ? mmap (NULL, mapped, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                        log->fd, 0)
                : MAP_FAILED;
  if (map == MAP_FAILED)
    {
      int saved_errno = rc != 0 ? rc : errno;

      g_set_error (error, CONFAB_HISTORY_ERROR, CONFAB_HISTORY_ERROR_FAILED, "%s: %s",
                   log->path, g_strerror (saved_errno));
      return FALSE;
    }

  /* Touched now, so that a record never waits for a page fault */
  memset (map + log->map_size, 0, mapped - log->map_size);
  if (log->map != NULL)
    munmap (log->map, log->map_size);
  log->map = map;
  log->map_size = mapped;
  return TRUE;
}

/* Copies the record made to the log: the kernel has it once this returns,
 * and writes it out even if the process is killed.
 */
static gboolean
log_append (ConfabHistory  *self,
            GError        **error)
{
  Log *log = &self->logs[self->log_active];
  GError *local_error = NULL;
  gsize length = self->log_pending->len;
  gboolean ok = log_map (log, log->size + length, &local_error);

  if (ok)
    {
      memcpy (log->map + log->size, self->log_pending->data, length);
      log->size += length;
    }
  else
    confab_history_fail (self, error, local_error);

  g_byte_array_set_size (self->log_pending, 0);
  return ok;
}

/* Overwrites the logs' text, as secure_delete does the file's. */
void
confab_history_log_wipe (ConfabHistory *self)
{
  for (guint i = 0; i < G_N_ELEMENTS (self->logs); i++)
    if (self->logs[i].map != NULL)
      memset (self->logs[i].map, 0, self->logs[i].map_size);
}

/* Once the database has all that log @which holds, its first record is
 * made invalid.
 */
void
confab_history_log_cut (ConfabHistory *self,
                        guint          which)
{
  Log *log = &self->logs[which];

  if (log->size > 0 && log->map != NULL)
    memset (log->map, 0, LOG_HEADER_SIZE);
  log->size = 0;
}

/* Records go to the other log from now on, which was cut when its rows
 * were committed, under the next generation.
 */
gboolean
confab_history_log_switch (ConfabHistory  *self,
                           GError        **error)
{
  guint next = !self->log_active;
  Log *log = &self->logs[next];
  GError *local_error = NULL;

  g_return_val_if_fail (log->size == 0, FALSE);

  if (!log_map (log, LOG_MAP_STEP, &local_error))
    {
      confab_history_fail (self, error, local_error);
      return FALSE;
    }

  log->generation = self->logs[self->log_active].generation + 1;
  self->log_active = next;
  return TRUE;
}

void
confab_history_log_close (ConfabHistory *self)
{
  for (guint i = 0; i < G_N_ELEMENTS (self->logs); i++)
    {
      Log *log = &self->logs[i];

      if (log->map != NULL)
        munmap (log->map, log->map_size);
      if (log->fd >= 0)
        close (log->fd);
      g_clear_pointer (&log->path, g_free);
      *log = (Log) { .fd = -1 };
    }
}

/* Reading the log back */

typedef struct
{
  const guint8 *data;
  gsize         left;
  gboolean      ok;
} Reader;

static guint64
get_u64 (Reader *reader)
{
  guint64 value = 0;

  if (reader->left < sizeof value)
    {
      reader->ok = FALSE;
      return 0;
    }

  memcpy (&value, reader->data, sizeof value);
  reader->data += sizeof value;
  reader->left -= sizeof value;
  return GUINT64_FROM_LE (value);
}

static char *
get_string (Reader *reader)
{
  guint32 length;

  if (reader->left < sizeof length)
    {
      reader->ok = FALSE;
      return NULL;
    }

  memcpy (&length, reader->data, sizeof length);
  length = GUINT32_FROM_LE (length);
  reader->data += sizeof length;
  reader->left -= sizeof length;
  if (length == G_MAXUINT32)
    return NULL;
  if (length > reader->left)
    {
      reader->ok = FALSE;
      return NULL;
    }

  reader->data += length;
  reader->left -= length;
  return g_utf8_make_valid ((const char *)reader->data - length, length);
}

/* Returns (nullable): the row an ADD record stores */
static Row *
read_added (Reader *reader,
            gint64  id)
{
  guint64 direction = get_u64 (reader);
  guint64 origin = get_u64 (reader);
  guint64 number = get_u64 (reader);
  guint64 plain = get_u64 (reader);
  guint64 state = get_u64 (reader);
  gint64 sent = get_u64 (reader);
  gint64 received = get_u64 (reader);
  gint64 delivered = get_u64 (reader);
  guint64 port = get_u64 (reader);
  g_autofree char *host = get_string (reader);
  g_autofree char *sender = get_string (reader);
  g_autofree char *body = get_string (reader);
  char *error = get_string (reader);
  Row *row;

  /* Row ids go on from the largest: one near the end of the range is not one
   * Confab gave.
   */
  if (!reader->ok || id <= 0 || id > G_MAXINT64 / 2 || direction > CONFAB_DIRECTION_OUTGOING ||
      state > CONFAB_MESSAGE_STATE_RECEIVED || port > G_MAXUINT16 ||
      host == NULL || sender == NULL || body == NULL)
    {
      g_free (error);
      return NULL;
    }

  row = confab_history_row_alloc (host, sender, body);
  row->id = id;
  row->origin = origin;
  row->number = number;
  row->sent = sent;
  row->received = received;
  row->delivered = delivered;
  row->port = port;
  row->direction = direction;
  row->plain = plain != 0;
  row->state = state;
  row->error = error;
  return row;
}

/* Applies one record's payload to the database; a record that makes no
 * sense is skipped.
 */
static gboolean
log_apply (ConfabHistory  *self,
           Reader         *reader,
           GError        **error)
{
  guint64 kind = get_u64 (reader);
  gint64 id = get_u64 (reader);

  if (kind == RECORD_ADD)
    {
      Row *row = read_added (reader, id);
      gboolean ok = row == NULL || confab_history_insert_row (self, STMT_REPLAY, row, error);

      g_clear_pointer (&row, confab_history_row_free);
      return ok;
    }

  if (kind == RECORD_UPDATE)
    {
      Change change = { .id = id, .which = STMT_UPDATE };
      guint64 state = get_u64 (reader);
      gboolean ok;

      change.plain = get_u64 (reader) != 0;
      change.delivered = get_u64 (reader);
      change.error = get_string (reader);
      change.state = state;
      ok = !reader->ok || state > CONFAB_MESSAGE_STATE_RECEIVED ||
           confab_history_write_change (self, &change, error);
      g_free (change.error);
      return ok;
    }

  if (kind == RECORD_RENUMBER)
    {
      Change change = { .id = id, .which = STMT_RENUMBER };

      change.origin = get_u64 (reader);
      change.number = get_u64 (reader);
      return !reader->ok || confab_history_write_change (self, &change, error);
    }

  return TRUE;
}

/* Reads all of @log; returns (nullable) its contents, or %NULL if it
 * cannot be read.
 */
static guint8 *
log_read (Log   *log,
          gsize *size)
{
  guint8 *contents;
  struct stat buf;

  *size = 0;
  if (fstat (log->fd, &buf) != 0)
    return NULL;

  /* A log too large to read is kept for a start with more memory. */
  contents = g_try_malloc (MAX (buf.st_size, 1));
  for (gsize done = 0; contents != NULL && done < (gsize)buf.st_size;)
    {
      gssize n = pread (log->fd, contents + done, buf.st_size - done, done);

      if (n <= 0 && !(n < 0 && errno == EINTR))
        g_clear_pointer (&contents, g_free);
      else if (n > 0)
        done += n;
    }

  if (contents != NULL)
    *size = buf.st_size;
  return contents;
}

/* The generation of the log's first record, if it has one */
static gboolean
log_first_generation (const guint8 *contents,
                      gsize         size,
                      guint32      *generation)
{
  guint32 length;

  if (size < LOG_HEADER_SIZE)
    return FALSE;

  memcpy (&length, contents, sizeof length);
  memcpy (generation, contents + 4, sizeof *generation);
  *generation = GUINT32_FROM_LE (*generation);
  return length != 0;
}

/* Applies the records of one log's contents, up to the first of another
 * generation, cut short or damaged: the last before a crash.
 */
static gboolean
log_replay_one (ConfabHistory *self,
                Log           *log,
                const guint8  *contents,
                gsize          size,
                guint         *records)
{
  Reader all = { contents, size, TRUE };
  guint32 generation;

  if (!log_first_generation (contents, size, &generation))
    return TRUE;

  while (all.left >= LOG_HEADER_SIZE)
    {
      guint32 length, record_generation;
      guint64 hash;
      Reader record;

      memcpy (&length, all.data, sizeof length);
      memcpy (&record_generation, all.data + 4, sizeof record_generation);
      memcpy (&hash, all.data + 8, sizeof hash);
      length = GUINT32_FROM_LE (length);
      record_generation = GUINT32_FROM_LE (record_generation);
      if (length == 0 || record_generation != generation)
        break;
      if (length > all.left - LOG_HEADER_SIZE ||
          GUINT64_FROM_LE (hash) != record_hash (generation, all.data + LOG_HEADER_SIZE, length))
        {
          g_message ("History log %s: a record was cut short; dropped", log->path);
          break;
        }

      record = (Reader) { all.data + LOG_HEADER_SIZE, length, TRUE };
      if (!log_apply (self, &record, NULL))
        return FALSE;
      all.data += LOG_HEADER_SIZE + length;
      all.left -= LOG_HEADER_SIZE + length;
      (*records)++;
    }

  return TRUE;
}

/* Puts what the logs hold into the database, the older log's records
 * first, and commits it; the logs are then empty. Returns %FALSE if that
 * failed: they are kept as they are.
 */
static gboolean
log_replay (ConfabHistory *self)
{
  guint8 *contents[G_N_ELEMENTS (self->logs)] = { NULL };
  gsize sizes[G_N_ELEMENTS (self->logs)];
  guint32 generations[G_N_ELEMENTS (self->logs)];
  guint first = 0, records = 0;
  gboolean ok = TRUE;

  for (guint i = 0; ok && i < G_N_ELEMENTS (self->logs); i++)
    {
      contents[i] = log_read (&self->logs[i], &sizes[i]);
      if (contents[i] == NULL)
        {
          g_message ("History log %s cannot be read; kept as it is", self->logs[i].path);
          ok = FALSE;
        }
    }

  /* Generations go up by one from log to log, and wrap around. */
  if (ok && log_first_generation (contents[0], sizes[0], &generations[0]) &&
      log_first_generation (contents[1], sizes[1], &generations[1]) &&
      (gint32)(generations[1] - generations[0]) < 0)
    first = 1;

  for (guint i = 0; ok && i < G_N_ELEMENTS (self->logs); i++)
    {
      guint which = (first + i) % G_N_ELEMENTS (self->logs);

      ok = log_replay_one (self, &self->logs[which], contents[which], sizes[which], &records);
    }

  for (guint i = 0; i < G_N_ELEMENTS (self->logs); i++)
    g_free (contents[i]);

  g_debug ("History logs of %s: %u records replayed", self->path, records);
  return ok && (records == 0 || confab_history_commit_main (self, NULL));
}

/* Takes the logs, if no other handle has them, and replays what they
 * hold. A file that cannot be written has none: nothing is written to it.
 */
void
confab_history_log_open (ConfabHistory *self)
{
  const char *suffixes[G_N_ELEMENTS (self->logs)] = { "-log", "-log2" };
  g_autoptr(GError) error = NULL;
  gboolean locked, replayed;

  for (guint i = 0; i < G_N_ELEMENTS (self->logs); i++)
    self->logs[i].path = g_strconcat (self->path, suffixes[i], NULL);
  if (self->failure != NULL)
    return;

  for (guint i = 0; i < G_N_ELEMENTS (self->logs); i++)
    {
      self->logs[i].fd = g_open (self->logs[i].path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
      if (self->logs[i].fd < 0)
        {
          g_debug ("No history log %s: %s", self->logs[i].path, g_strerror (errno));
          confab_history_log_close (self);
          return;
        }
    }

  self->replaying = TRUE;
  locked = flock (self->logs[0].fd, LOCK_EX | LOCK_NB) == 0;
  replayed = locked && log_replay (self);
  self->replaying = FALSE;
  /* Another handle writes the file, and gives out its row ids: this one
   * only reads.
   */
  if (!locked)
    {
      confab_history_log_close (self);
      self->failure = g_error_new (CONFAB_HISTORY_ERROR, CONFAB_HISTORY_ERROR_FAILED,
                                   _("%s is in use by another Confab"), self->path);
      return;
    }

  /* Kept, and held: written over, or by a handle of its own, the file
   * would give out the row ids of what the logs still hold.
   */
  if (!replayed)
    {
      self->failure = g_error_new (CONFAB_HISTORY_ERROR, CONFAB_HISTORY_ERROR_FAILED,
                                   _("The newest messages could not be put in the history; "
                                     "they are kept in %s for the next start"),
                                   self->logs[0].path);
      g_message ("%s", self->failure->message);
      return;
    }

  /* What was replayed is in the database: the logs start over, empty. */
  for (guint i = 0; i < G_N_ELEMENTS (self->logs); i++)
    if (ftruncate (self->logs[i].fd, 0) != 0)
      {
        self->failure = g_error_new (CONFAB_HISTORY_ERROR, CONFAB_HISTORY_ERROR_FAILED,
                                     "%s: %s", self->logs[i].path, g_strerror (errno));
        return;
      }
  if (!log_map (&self->logs[0], LOG_MAP_STEP, &error))
    {
      g_message ("No history log: %s", error->message);
      confab_history_log_close (self);
      return;
    }

  self->logs[0].generation = g_random_int ();
}
