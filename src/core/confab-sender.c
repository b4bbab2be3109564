/* confab-sender.c — the sending half of the protocol: fragments, window,
 * retransmission with RTT estimation, give-up; no I/O
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "confab-sender"

#include "config.h"

#include <string.h>

#include <gio/gio.h>
#include <glib/gi18n-lib.h>

#include "confab-sender.h"
#include "confab-utf8.h"

/* One message from confab_sender_queue() until it is delivered or fails.
 * A single allocation holds the struct, its fragment offsets, its nickname
 * and its text, so a long queue of short messages costs little more than
 * their text.
 */
typedef struct _Message Message;
struct _Message
{
  Message     *next;       /* in the queue, while fragments wait for the window */
  guint64      origin;
  guint64      number;
  gint64       time;
  const char  *nick;       /* not NUL-terminated */
  const char  *text;       /* not NUL-terminated */
  guint16      nfrags;
  guint16      next_frag;  /* the first fragment without a seq yet */
  guint16      acked;
  guint8       nick_len;
  gboolean     failed;
  guint32      offsets[];  /* nfrags + 1: fragment i is text[offsets[i] .. offsets[i + 1]] */
};

typedef struct
{
  guint64   seq;
  Message  *message;
  gint64    first_sent;
  gint64    last_sent;
  guint     transmissions;
  guint16   frag;
  /* Named in an ACK's bitmap: it arrived, and waits at the receiver for
   * the segments before it. It is not stored there until `next` passes it,
   * so it is not delivered yet; but it is not sent again for being
   * overtaken either.
   */
  gboolean  arrived;
} Segment;

struct _ConfabSender
{
  guint64                session;
  ConfabSenderCallbacks  callbacks;
  gpointer               user_data;
  gint64                 give_up;
  ConfabRtt              rtt;

  guint64                next_seq;
  guint64                next_number;

  /* Segments in flight, in seq order: seqs are handed out in increasing
   * order and appended, and removal keeps the order. So in_flight[0] is the
   * `low` of every datagram, and a seq order is also first-sent order. At
   * this size an array beats a hash table or a list: an ack reads the
   * segments it can name and moves the rest down in one go.
   */
  Segment                in_flight[CONFAB_SENDER_WINDOW];
  guint                  n_in_flight;

  /* Messages with fragments still waiting for the window, in order. Only
   * the head can have some fragments in flight already.
   */
  Message               *queue_head;
  Message               *queue_tail;
  guint                  n_queued;  /* fragments, not messages */

  /* The channel asks after every call; recomputing costs a pass over the
   * window, so it is done only after something changed.
   */
  gint64                 deadline;
  gboolean               deadline_valid;
};

/* Both operands are times or durations; b is never negative. */
static inline gint64
add_saturated (gint64 a,
               gint64 b)
{
  g_assert (b >= 0);

  return a > G_MAXINT64 - b ? G_MAXINT64 : a + b;
}

static gint64
segment_give_up_time (ConfabSender  *self,
                      const Segment *seg)
{
  return add_saturated (seg->first_sent, self->give_up);
}

/* RTO·2^(n−1) after the last transmission, but never more than
 * CONFAB_SENDER_MAX_BACKOFF (or the RTO itself, on a slower path): on a
 * lossy link a segment then gets a dozen tries in 30 s rather than five,
 * and after an outage the link is found again within seconds.
 */
static gint64
segment_retransmit_time (const Segment *seg,
                         gint64         rto)
{
  guint shift = MIN (seg->transmissions - 1, 62);
  gint64 cap = MAX (rto, CONFAB_SENDER_MAX_BACKOFF);
  gint64 wait;

  g_assert (seg->transmissions >= 1);

  wait = rto > (G_MAXINT64 >> shift) ? G_MAXINT64 : rto << shift;
  return add_saturated (seg->last_sent, MIN (wait, cap));
}

/* When @seg, not arrived, is due: to go again, or to be given up. */
static gint64
segment_due (ConfabSender  *self,
             const Segment *seg,
             gint64         rto)
{
  return MIN (segment_give_up_time (self, seg), segment_retransmit_time (seg, rto));
}

static Message *
message_new (guint64         origin,
             guint64         number,
             gint64          time,
             const char     *nick,
             gsize           nick_len,
             const char     *text,
             const guint32  *offsets,
             guint           nfrags)
{
  gsize offsets_size = (nfrags + 1) * sizeof (guint32);
  gsize length = offsets[nfrags];
  Message *m;
  char *bytes;

  g_assert (nfrags >= 1 && nfrags <= CONFAB_WIRE_MAX_FRAGMENTS);
  g_assert (nick_len <= CONFAB_WIRE_MAX_NICK);

  m = g_malloc (sizeof (Message) + offsets_size + nick_len + length);
  bytes = (char *) m + sizeof (Message) + offsets_size;

  m->next = NULL;
  m->origin = origin;
  m->number = number;
  m->time = time;
  m->nfrags = (guint16) nfrags;
  m->next_frag = 0;
  m->acked = 0;
  m->nick_len = (guint8) nick_len;
  m->failed = FALSE;
  memcpy (m->offsets, offsets, offsets_size);
  if (nick_len > 0)
    memcpy (bytes, nick, nick_len);
  memcpy (bytes + nick_len, text, length);
  m->nick = bytes;
  m->text = bytes + nick_len;

  return m;
}

static void
message_free (Message *m)
{
  g_free (m);
}

static void
invalidate_deadline (ConfabSender *self)
{
  self->deadline_valid = FALSE;
}

/* (Re-)encodes @seg, which must already be in the window, with the current
 * `low`, and hands it to the transmit callback.
 */
static void
transmit_segment (ConfabSender  *self,
                  const Segment *seg)
{
  const Message *m = seg->message;
  guint8 datagram[CONFAB_WIRE_MAX_DATAGRAM];
  ConfabWireMessage wire;
  gsize length;

  g_assert (self->n_in_flight > 0);
  g_assert (self->in_flight[0].seq <= seg->seq);

  wire.session = self->session;
  wire.seq = seg->seq;
  wire.low = self->in_flight[0].seq;
  wire.origin = m->origin;
  wire.number = m->number;
  wire.time = m->time;
  wire.total = m->offsets[m->nfrags];
  wire.offset = m->offsets[seg->frag];
  wire.frag = seg->frag;
  wire.nfrags = m->nfrags;
  wire.nick_len = m->nick_len;
  wire.nick = m->nick;
  wire.payload = (const guint8 *) m->text + m->offsets[seg->frag];
  wire.payload_len = m->offsets[seg->frag + 1] - m->offsets[seg->frag];

  /* The fragments were cut to confab_wire_max_payload(), so this fits. */
  length = confab_wire_encode_message (&wire, datagram, sizeof datagram);
  g_assert (length > 0);

  self->callbacks.transmit (self->user_data, datagram, length);
}

static void
queue_pop_head (ConfabSender *self)
{
  Message *m = self->queue_head;

  g_assert (m != NULL);

  self->queue_head = m->next;
  if (self->queue_head == NULL)
    self->queue_tail = NULL;
  m->next = NULL;
}

/* The window is a range of seqs from the lowest unacknowledged one, as in
 * TCP, not a count: segments acknowledged out of order above a hole do not
 * make room, so the receiver never buffers more than a window's worth.
 */
static gboolean
window_has_room (ConfabSender *self)
{
  return self->n_in_flight == 0 ||
         self->next_seq < self->in_flight[0].seq + CONFAB_SENDER_WINDOW;
}

/* Moves queued fragments into the window while it has room. A segment
 * entering it is the last and has not arrived, so it waits for no hole,
 * and the deadline need only take its time in: recomputing it (the channel
 * asks after every send) made a pass over a full window per message, a
 * fifth of the sender's instructions in bench-throughput.
 */
static void
pump (ConfabSender *self,
      gint64        now)
{
  gint64 rto = confab_rtt_get_rto (&self->rtt);

  while (window_has_room (self) && self->queue_head != NULL)
    {
      Message *m = self->queue_head;
      Segment *seg = &self->in_flight[self->n_in_flight++];

      seg->seq = self->next_seq++;
      seg->message = m;
      seg->frag = m->next_frag++;
      seg->first_sent = now;
      seg->last_sent = now;
      seg->transmissions = 1;
      seg->arrived = FALSE;
      self->n_queued--;

      if (m->next_frag == m->nfrags)
        queue_pop_head (self);

      if (self->deadline_valid)
        self->deadline = MIN (self->deadline, segment_due (self, seg, rto));
      transmit_segment (self, seg);
    }
}

static void
notify_delivered (ConfabSender  *self,
                  const Message *m)
{
  if (self->callbacks.delivered != NULL)
    self->callbacks.delivered (self->user_data, m->origin, m->number);
}

static void
notify_failed (ConfabSender  *self,
               const Message *m)
{
  if (self->callbacks.failed != NULL)
    self->callbacks.failed (self->user_data, m->origin, m->number);
}

/**
 * confab_sender_new:
 * @session: this process's session, not 0
 * @callbacks: where datagrams and outcomes go; copied. @transmit is required
 * @user_data: passed to the callbacks
 *
 * Returns: (transfer full): a sender with nothing in flight
 */
ConfabSender *
confab_sender_new (guint64                      session,
                   const ConfabSenderCallbacks *callbacks,
                   gpointer                     user_data)
{
  ConfabSender *self;

  g_return_val_if_fail (session != 0, NULL);
  g_return_val_if_fail (callbacks != NULL, NULL);
  g_return_val_if_fail (callbacks->transmit != NULL, NULL);

  self = g_new0 (ConfabSender, 1);
  self->session = session;
  self->callbacks = *callbacks;
  self->user_data = user_data;
  self->give_up = CONFAB_SENDER_GIVE_UP;
  confab_rtt_init (&self->rtt);
  self->next_seq = 1;
  self->next_number = 1;
  self->deadline = G_MAXINT64;
  self->deadline_valid = TRUE;

  return self;
}

/* Forgets every message, in flight and queued, calling failed for each
 * once if @notify: in-flight ones in seq order, then the queue in order,
 * which is the order they were queued in.
 */
static void
drop_all (ConfabSender *self,
          gboolean      notify)
{
  Message *dead[CONFAB_SENDER_WINDOW];
  guint n_dead = 0;
  Message *m;
  guint i;

  for (i = 0; i < self->n_in_flight; i++)
    {
      m = self->in_flight[i].message;
      if (!m->failed)
        {
          m->failed = TRUE;
          dead[n_dead++] = m;
        }
    }
  self->n_in_flight = 0;

  if (notify)
    for (i = 0; i < n_dead; i++)
      notify_failed (self, dead[i]);

  /* The head may be among the dead already: it is freed below. */
  for (m = self->queue_head; m != NULL;)
    {
      Message *next = m->next;

      if (!m->failed)
        {
          if (notify)
            notify_failed (self, m);
          message_free (m);
        }
      m = next;
    }
  self->queue_head = self->queue_tail = NULL;
  self->n_queued = 0;

  for (i = 0; i < n_dead; i++)
    message_free (dead[i]);

  invalidate_deadline (self);
}

void
confab_sender_free (ConfabSender *self)
{
  if (self == NULL)
    return;

  drop_all (self, FALSE);
  g_free (self);
}

guint64
confab_sender_get_session (ConfabSender *self)
{
  g_return_val_if_fail (self != NULL, 0);

  return self->session;
}

/**
 * confab_sender_set_give_up:
 * @self: a sender
 * @give_up: how long after its first transmission a segment is abandoned,
 *   in µs; %CONFAB_SENDER_GIVE_UP unless a test wants otherwise
 */
void
confab_sender_set_give_up (ConfabSender *self,
                           gint64        give_up)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (give_up > 0);

  self->give_up = give_up;
  invalidate_deadline (self);
}

static gboolean
check_text (const char  *text,
            gsize        length,
            GError     **error)
{
  if (length == 0)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           _("The message is empty"));
      return FALSE;
    }

  if (length > CONFAB_WIRE_MAX_TEXT)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                   /* Translators: %u is a number of bytes, 65536 */
                   _("The message is too long: at most %u bytes can be sent at once"),
                   (guint) CONFAB_WIRE_MAX_TEXT);
      return FALSE;
    }

  /* The receiver drops a reassembled text that is not UTF-8, after acking
   * it: sending one would report "delivered" for a message never shown.
   */
  if (!confab_utf8_validate (text, length))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           _("The message is not valid UTF-8 text"));
      return FALSE;
    }

  return TRUE;
}

/**
 * confab_sender_new_message_id:
 * @origin: (out): this session
 * @number: (out): the next message number in it
 *
 * Hands out an id for a message that is stored before it is queued.
 */
void
confab_sender_new_message_id (ConfabSender *self,
                              guint64      *origin,
                              guint64      *number)
{
  g_return_if_fail (self != NULL);

  *origin = self->session;
  *number = self->next_number++;
}

/**
 * confab_sender_queue:
 * @self: a sender
 * @origin: (inout): the message id's first half; 0 for a new message, which
 *   then gets a fresh id written back to @origin and @number
 * @number: (inout): the message id's second half; not 0 if @origin is not 0
 * @time: when the message was written, µs since the Unix epoch
 * @nick: (nullable): the sender's nickname, clamped to what a datagram holds
 * @text: the message, UTF-8, 1 to %CONFAB_WIRE_MAX_TEXT bytes
 * @now: the monotonic time
 * @error: where to report a text that cannot be sent
 *
 * Splits the text into fragments, queues them behind any earlier message and
 * transmits as many as the window allows. A message sent again (Retry, or
 * resumed after a restart) passes its existing id and keeps it; its
 * segments get new seqs all the same.
 *
 * Returns: %TRUE if the message was queued
 */
gboolean
confab_sender_queue (ConfabSender  *self,
                     guint64       *origin,
                     guint64       *number,
                     gint64         time,
                     const char    *nick,
                     const char    *text,
                     gint64         now,
                     GError       **error)
{
  guint32 offsets[CONFAB_WIRE_MAX_FRAGMENTS + 1];
  gsize length;
  gsize nick_len;
  guint nfrags;
  Message *m;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (origin != NULL, FALSE);
  g_return_val_if_fail (number != NULL, FALSE);
  g_return_val_if_fail (*origin == 0 || *number != 0, FALSE);
  g_return_val_if_fail (text != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  /* Bounded, so that a huge paste is rejected without a full scan. */
  length = strnlen (text, CONFAB_WIRE_MAX_TEXT + 1);
  if (!check_text (text, length, error))
    return FALSE;

  nick_len = nick != NULL ? confab_wire_clamp_nick (nick) : 0;
  nfrags = confab_wire_split (text, length, confab_wire_max_payload (nick_len),
                              offsets, CONFAB_WIRE_MAX_FRAGMENTS);
  /* 64 KiB in fragments of over 1000 bytes is far below 128 fragments. */
  g_assert (nfrags > 0);

  if (*origin == 0)
    confab_sender_new_message_id (self, origin, number);

  m = message_new (*origin, *number, time, nick, nick_len, text, offsets, nfrags);
  if (self->queue_tail != NULL)
    self->queue_tail->next = m;
  else
    self->queue_head = m;
  self->queue_tail = m;
  self->n_queued += nfrags;

  pump (self, now);

  return TRUE;
}

static inline gboolean
ack_bitmap_has (const ConfabWireAck *ack,
                guint64              seq)
{
  guint64 bit;

  if (seq <= ack->next)
    return FALSE;

  bit = seq - ack->next - 1;
  if (bit >= ack->nbits)
    return FALSE;
  return (ack->bitmap[bit / 8] >> (bit % 8)) & 1;
}

/**
 * confab_sender_ack:
 * @self: a sender
 * @ack: a decoded ACK; ignored unless it is for this sender's session
 * @now: the monotonic time
 *
 * Removes every segment the ACK covers from the window, reports messages
 * whose every segment is now acknowledged, and fills the freed window.
 */
/* Fast retransmission, after RACK (RFC 8985): a segment is lost when one
 * sent after it, by more than a reordering window, has arrived. It goes
 * again at once instead of waiting out its timeout, which on a lossy link
 * keeps the window moving.
 */
static void
retransmit_overtaken (ConfabSender *self,
                      gint64        newest_acked_sent,
                      gint64        now)
{
  gint64 window = self->rtt.has_sample ? MAX (self->rtt.srtt / 4, 1000) : 10 * 1000;

  for (guint i = 0; i < self->n_in_flight; i++)
    {
      Segment *seg = &self->in_flight[i];

      /* Seq order is first-sent order, and a segment is last sent at its
       * first sending or later: none from here on is overtaken.
       */
      if (seg->first_sent + window >= newest_acked_sent)
        break;
      if (seg->arrived || seg->last_sent + window >= newest_acked_sent)
        continue;

      seg->last_sent = now;
      seg->transmissions++;
      transmit_segment (self, seg);
      invalidate_deadline (self);
    }
}

void
confab_sender_ack (ConfabSender        *self,
                   const ConfabWireAck *ack,
                   gint64               now)
{
  gboolean sampled = FALSE;
  gint64 newest_acked_sent = G_MININT64;
  /* Past the last seq the bitmap names, the ACK says nothing. */
  guint64 reach = ack->next > G_MAXUINT64 - ack->nbits ? G_MAXUINT64 : ack->next + ack->nbits;
  guint kept = 0;
  guint i;

  g_return_if_fail (self != NULL);
  g_return_if_fail (ack != NULL);
  g_return_if_fail (ack->bitmap != NULL || ack->nbits == 0);

  if (ack->session != self->session)
    return;

  for (i = 0; i < self->n_in_flight && self->in_flight[i].seq <= reach; i++)
    {
      Segment *seg = &self->in_flight[i];
      Message *m = seg->message;
      gboolean passed = seg->seq < ack->next;
      gboolean arrived = passed || ack_bitmap_has (ack, seg->seq);

      /* One sample per ACK (protocol.md §8), from the oldest segment it
       * newly covers: a burst acknowledged at once would otherwise feed
       * hundreds of near-equal samples and squeeze RTTVAR, and so the
       * timeout, to nothing. Karn: never from a retransmitted segment.
       */
      if (arrived && !seg->arrived)
        {
          if (!sampled && seg->transmissions == 1 && now >= seg->last_sent)
            {
              confab_rtt_sample (&self->rtt, now - seg->last_sent);
              sampled = TRUE;
            }
          newest_acked_sent = MAX (newest_acked_sent, seg->last_sent);
          seg->arrived = TRUE;
          /* It may wait for a hole now, and the RTO may have moved. */
          invalidate_deadline (self);
        }

      if (!passed)
        {
          if (kept != i)
            self->in_flight[kept] = *seg;
          kept++;
          continue;
        }

      /* A failed message has no segments left; only a full one is done. */
      if (++m->acked == m->nfrags)
        {
          notify_delivered (self, m);
          message_free (m);
        }
    }

  /* The segments out of reach move down in one go. */
  if (kept != i)
    {
      memmove (&self->in_flight[kept], &self->in_flight[i],
               (self->n_in_flight - i) * sizeof (Segment));
      self->n_in_flight -= i - kept;
      invalidate_deadline (self);
    }
  if (newest_acked_sent != G_MININT64)
    retransmit_overtaken (self, newest_acked_sent, now);
  pump (self, now);
}

/* Abandons every message with a segment past its give-up time, with all its
 * segments in flight and queued. Done before any retransmission, so that
 * those already carry a `low` past the abandoned seqs.
 */
/* A segment that arrived behind one that has not waits for it, not for its
 * own timer: the hole's retransmission moves both. Were the receiver to
 * lose what it held (a restart), the segment would be the first not passed,
 * and its timer would run again.
 *
 * @hole: whether a segment in flight before @seg, or @seg, has not arrived
 */
static inline gboolean
waits_for_hole (const Segment *seg,
                gboolean       hole)
{
  return seg->arrived && hole;
}

static void
give_up (ConfabSender *self,
         gint64        now)
{
  Message *dead[CONFAB_SENDER_WINDOW];
  guint n_dead = 0;
  guint kept = 0;
  guint i;

  for (i = 0; i < self->n_in_flight; i++)
    {
      Segment *seg = &self->in_flight[i];

      if (!seg->message->failed && now >= segment_give_up_time (self, seg))
        {
          seg->message->failed = TRUE;
          dead[n_dead++] = seg->message;
        }
    }

  if (n_dead == 0)
    return;

  for (i = 0; i < self->n_in_flight; i++)
    {
      if (self->in_flight[i].message->failed)
        continue;
      if (kept != i)
        self->in_flight[kept] = self->in_flight[i];
      kept++;
    }
  self->n_in_flight = kept;
  invalidate_deadline (self);

  for (i = 0; i < n_dead; i++)
    {
      Message *m = dead[i];

      /* Only the queue's head can be partly sent. */
      if (m->next_frag < m->nfrags)
        {
          g_assert (self->queue_head == m);
          self->n_queued -= m->nfrags - m->next_frag;
          queue_pop_head (self);
        }

      notify_failed (self, m);
      message_free (m);
    }
}

/**
 * confab_sender_tick:
 * @self: a sender
 * @now: the monotonic time
 *
 * Gives up on what is past its give-up time, retransmits what is due and
 * fills the window. Call it at confab_sender_get_deadline(); calling it
 * earlier or more often is harmless.
 */
void
confab_sender_tick (ConfabSender *self,
                    gint64        now)
{
  gboolean hole = FALSE;
  gint64 rto;
  guint i;

  g_return_if_fail (self != NULL);

  give_up (self, now);

  rto = confab_rtt_get_rto (&self->rtt);
  for (i = 0; i < self->n_in_flight; i++)
    {
      Segment *seg = &self->in_flight[i];

      hole = hole || !seg->arrived;
      if (waits_for_hole (seg, hole) || now < segment_retransmit_time (seg, rto))
        continue;

      seg->last_sent = now;
      seg->transmissions++;
      invalidate_deadline (self);
      transmit_segment (self, seg);
    }

  pump (self, now);
}

/**
 * confab_sender_get_deadline:
 * @self: a sender
 *
 * Returns: the monotonic time at which confab_sender_tick() has something
 *   to do, or %G_MAXINT64 when nothing is in flight and no timer is needed
 */
gint64
confab_sender_get_deadline (ConfabSender *self)
{
  gboolean hole = FALSE;
  gint64 rto;
  guint i;

  g_return_val_if_fail (self != NULL, G_MAXINT64);

  if (self->deadline_valid)
    return self->deadline;

  rto = confab_rtt_get_rto (&self->rtt);
  self->deadline = G_MAXINT64;
  for (i = 0; i < self->n_in_flight; i++)
    {
      const Segment *seg = &self->in_flight[i];

      hole = hole || !seg->arrived;
      self->deadline = MIN (self->deadline,
                            waits_for_hole (seg, hole) ? segment_give_up_time (self, seg)
                                                       : segment_due (self, seg, rto));
    }
  self->deadline_valid = TRUE;

  return self->deadline;
}

guint
confab_sender_get_in_flight (ConfabSender *self)
{
  g_return_val_if_fail (self != NULL, 0);

  return self->n_in_flight;
}

/**
 * confab_sender_get_queued:
 * @self: a sender
 *
 * Returns: how many segments wait for room in the window
 */
guint
confab_sender_get_queued (ConfabSender *self)
{
  g_return_val_if_fail (self != NULL, 0);

  return self->n_queued;
}

/**
 * confab_sender_abandon_all:
 * @self: a sender
 *
 * Drops every message in flight and queued, calling failed for each once,
 * in the order they were queued: the peer changed, so nobody will ack them.
 * Seqs keep counting up; they are never reused within the session.
 */
void
confab_sender_abandon_all (ConfabSender *self)
{
  g_return_if_fail (self != NULL);

  drop_all (self, TRUE);
}

const ConfabRtt *
confab_sender_get_rtt (ConfabSender *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  return &self->rtt;
}

/**
 * confab_sender_transmit_again:
 *
 * Sends every segment in flight again now, as if for the first time: for
 * segments that could not leave, because the peer's address was not known
 * yet, so that they need not wait out a whole timeout.
 */
void
confab_sender_transmit_again (ConfabSender *self,
                              gint64        now)
{
  g_return_if_fail (self != NULL);

  for (guint i = 0; i < self->n_in_flight; i++)
    {
      self->in_flight[i].last_sent = now;
      transmit_segment (self, &self->in_flight[i]);
    }

  invalidate_deadline (self);
}
