/* confab-receiver.c — the receiving half of the protocol: reorder buffer,
 * reassembly, duplicate detection and acknowledgement state; no I/O
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "confab-receiver"

#include <string.h>

#include "confab-receiver.h"
#include "confab-utf8.h"

/* An ACK can only describe next+1 … next+MAX_ACK_BITS, so nothing further
 * ahead is accepted. `next` itself is never buffered (it is delivered as soon
 * as it arrives), so every buffered seq has its own slot in a ring of this
 * size indexed by seq, and lookup and insertion are O(1).
 */
#define RING_SIZE CONFAB_WIRE_MAX_ACK_BITS
#define RING_MASK (RING_SIZE - 1)

G_STATIC_ASSERT ((RING_SIZE & RING_MASK) == 0);

/* A copy of a segment waiting for the ones before it: the datagram it was
 * decoded from is reused for the next one.
 */
typedef struct
{
  GList              link;     /* in Session.arrivals; link.data is this */
  gint64             arrived;
  ConfabWireMessage  segment;  /* nick and payload point into data */
  guint8             data[];
} Buffered;

typedef struct
{
  gboolean  active;
  guint64   origin;
  guint64   number;
  gint64    time;
  guint32   total;
  guint32   bytes;
  guint16   nfrags;
  guint16   last_frag;
  guint8    nick_len;
  char      nick[CONFAB_WIRE_MAX_NICK];
  char     *text;       /* total + 1 bytes: becomes the delivered string as is */
} Reassembly;

typedef struct
{
  guint64      id;
  guint64      next;
  Buffered   **ring;      /* RING_SIZE slots; only allocated once something is out of order */
  GQueue       arrivals;  /* buffered segments, oldest first, for the gap deadline */
  guint        count;
  gsize        bytes;
  guint64      max_seq;   /* highest buffered seq while count > 0: segments leave lowest first */
  Reassembly   reassembly;
} Session;

struct _ConfabReceiver
{
  Session              *sessions[CONFAB_RECEIVER_MAX_SESSIONS];  /* most recently used first */
  guint                 n_sessions;

  /* The ids shown last, oldest evicted first; the set's keys point into the ring. */
  GHashTable           *shown;
  ConfabMessageId       shown_ids[CONFAB_RECEIVER_REMEMBERED_IDS];
  guint                 shown_head;
  guint                 n_shown;

  ConfabReceiverStats   stats;
};

G_DEFINE_BOXED_TYPE (ConfabIncoming, confab_incoming, confab_incoming_copy, confab_incoming_free)

ConfabIncoming *
confab_incoming_copy (const ConfabIncoming *incoming)
{
  ConfabIncoming *copy;

  g_return_val_if_fail (incoming != NULL, NULL);

  copy = g_new (ConfabIncoming, 1);
  copy->origin = incoming->origin;
  copy->number = incoming->number;
  copy->time = incoming->time;
  copy->nick = g_strdup (incoming->nick);
  copy->text = g_strdup (incoming->text);

  return copy;
}

void
confab_incoming_free (ConfabIncoming *incoming)
{
  if (incoming == NULL)
    return;

  g_free (incoming->nick);
  g_free (incoming->text);
  g_free (incoming);
}

/* Unlike g_strndup(), keeps embedded bytes and never returns NULL. */
static char *
copy_string (const void *data,
             gsize       length)
{
  char *copy = g_malloc (length + 1);

  if (length > 0)
    memcpy (copy, data, length);
  copy[length] = '\0';

  return copy;
}

static gboolean
receiver_was_shown (ConfabReceiver *self,
                    guint64         origin,
                    guint64         number)
{
  ConfabMessageId id = { origin, number };

  return g_hash_table_contains (self->shown, &id);
}

static void
receiver_remember_shown (ConfabReceiver *self,
                         guint64         origin,
                         guint64         number)
{
  ConfabMessageId *slot = &self->shown_ids[self->shown_head];

  if (self->n_shown == CONFAB_RECEIVER_REMEMBERED_IDS)
    g_hash_table_remove (self->shown, slot);
  else
    self->n_shown++;

  slot->origin = origin;
  slot->number = number;
  g_hash_table_add (self->shown, slot);
  self->shown_head = (self->shown_head + 1) % CONFAB_RECEIVER_REMEMBERED_IDS;
}

static void
reassembly_reset (Reassembly *reassembly)
{
  g_clear_pointer (&reassembly->text, g_free);
  reassembly->active = FALSE;
}

static Session *
session_new (guint64 id,
             guint64 next)
{
  Session *session = g_new0 (Session, 1);

  session->id = id;
  session->next = next;
  g_queue_init (&session->arrivals);

  return session;
}

static void
session_free (Session *session)
{
  GList *link;

  /* The links are embedded in the segments: g_queue_clear() would free them. */
  while ((link = g_queue_pop_head_link (&session->arrivals)) != NULL)
    g_free (link->data);

  reassembly_reset (&session->reassembly);
  g_free (session->ring);
  g_free (session);
}

static Buffered *
session_find (Session *session,
              guint64  seq)
{
  Buffered *buffered;

  if (session->ring == NULL)
    return NULL;

  buffered = session->ring[seq & RING_MASK];
  if (buffered == NULL || buffered->segment.seq != seq)
    return NULL;

  return buffered;
}

static void
session_insert (Session                 *session,
                const ConfabWireMessage *segment,
                gint64                   now)
{
  Buffered *buffered;
  gsize nick_len = segment->nick_len;

  buffered = g_malloc (sizeof (Buffered) + nick_len + segment->payload_len);
  buffered->arrived = now;
  buffered->segment = *segment;
  if (nick_len > 0)
    memcpy (buffered->data, segment->nick, nick_len);
  memcpy (buffered->data + nick_len, segment->payload, segment->payload_len);
  buffered->segment.nick = (const char *) buffered->data;
  buffered->segment.payload = buffered->data + nick_len;

  buffered->link.data = buffered;
  buffered->link.prev = buffered->link.next = NULL;
  g_queue_push_tail_link (&session->arrivals, &buffered->link);

  if (session->ring == NULL)
    session->ring = g_new0 (Buffered *, RING_SIZE);
  g_assert (session->ring[segment->seq & RING_MASK] == NULL);
  session->ring[segment->seq & RING_MASK] = buffered;

  if (session->count == 0 || segment->seq > session->max_seq)
    session->max_seq = segment->seq;
  session->count++;
  session->bytes += segment->payload_len;
}

/* Removes the segment @seq from the buffer and returns it, or NULL. */
static Buffered *
session_take (Session *session,
              guint64  seq)
{
  Buffered *buffered = session_find (session, seq);

  if (buffered == NULL)
    return NULL;

  session->ring[seq & RING_MASK] = NULL;
  g_queue_unlink (&session->arrivals, &buffered->link);
  session->count--;
  session->bytes -= buffered->segment.payload_len;

  return buffered;
}

static guint64
session_lowest_buffered (Session *session)
{
  g_assert (session->count > 0);

  for (guint64 seq = session->next + 1; seq < session->max_seq; seq++)
    if (session_find (session, seq) != NULL)
      return seq;

  return session->max_seq;
}

static gint64
session_deadline (Session *session)
{
  const Buffered *oldest;

  if (session->count == 0)
    return G_MAXINT64;

  /* Every gap has been open at least since the oldest segment above it
   * arrived, and the lowest gap lies below all of them.
   */
  oldest = session->arrivals.head->data;
  if (oldest->arrived > G_MAXINT64 - CONFAB_RECEIVER_GAP_TIMEOUT)
    return G_MAXINT64;

  return oldest->arrived + CONFAB_RECEIVER_GAP_TIMEOUT;
}

/* Whether @segment is the next fragment of the message being reassembled:
 * the metadata the first fragment set, the next index, starting where the
 * text so far ends, and ending exactly at `total` if it is the last one or
 * before it otherwise (every fragment holds at least a byte).
 */
static gboolean
reassembly_continues (const Reassembly        *reassembly,
                      const ConfabWireMessage *segment)
{
  gboolean last = segment->frag == reassembly->nfrags - 1;
  guint32 room = reassembly->total - reassembly->bytes;

  return reassembly->active
    && segment->origin == reassembly->origin
    && segment->number == reassembly->number
    && segment->time == reassembly->time
    && segment->total == reassembly->total
    && segment->nfrags == reassembly->nfrags
    && segment->nick_len == reassembly->nick_len
    && (reassembly->nick_len == 0
        || memcmp (segment->nick, reassembly->nick, reassembly->nick_len) == 0)
    && segment->frag == reassembly->last_frag + 1
    && segment->offset == reassembly->bytes
    && (last ? segment->payload_len == room : segment->payload_len < room);
}

static gboolean
reassembly_start (Reassembly              *reassembly,
                  const ConfabWireMessage *segment)
{
  g_assert (!reassembly->active);

  /* The other fragments need at least a byte each. */
  if (segment->offset != 0 || segment->payload_len >= segment->total)
    return FALSE;

  reassembly->active = TRUE;
  reassembly->origin = segment->origin;
  reassembly->number = segment->number;
  reassembly->time = segment->time;
  reassembly->total = segment->total;
  reassembly->nfrags = segment->nfrags;
  reassembly->last_frag = 0;
  reassembly->nick_len = segment->nick_len;
  if (segment->nick_len > 0)
    memcpy (reassembly->nick, segment->nick, segment->nick_len);

  reassembly->text = g_malloc ((gsize) segment->total + 1);
  memcpy (reassembly->text, segment->payload, segment->payload_len);
  reassembly->bytes = segment->payload_len;

  return TRUE;
}

/* Shows a complete text if it may be shown. @last carries the message's
 * metadata; @owned, if not NULL, is @text with room for a NUL and is taken.
 */
static void
receiver_complete (ConfabReceiver          *self,
                   const ConfabWireMessage *last,
                   const char              *text,
                   gsize                    length,
                   char                    *owned,
                   GPtrArray               *delivered)
{
  g_autofree char *owned_text = owned;
  ConfabIncoming *incoming;

  /* confab_utf8_validate() also refuses NUL bytes. */
  if (!confab_utf8_validate (text, length) || !confab_utf8_validate (last->nick, last->nick_len))
    {
      self->stats.invalid_utf8++;
      return;
    }

  /* A resend after a restart or a Retry arrives in a new session. */
  if (receiver_was_shown (self, last->origin, last->number))
    {
      self->stats.repeated++;
      return;
    }
  receiver_remember_shown (self, last->origin, last->number);

  incoming = g_new (ConfabIncoming, 1);
  incoming->origin = last->origin;
  incoming->number = last->number;
  incoming->time = last->time;
  incoming->nick = copy_string (last->nick, last->nick_len);
  if (owned_text != NULL)
    {
      owned_text[length] = '\0';
      incoming->text = g_steal_pointer (&owned_text);
    }
  else
    {
      incoming->text = copy_string (text, length);
    }

  g_ptr_array_add (delivered, incoming);
  self->stats.messages++;
}

/* Step 4 of protocol.md §7: the segment is next in its session's order. */
static void
receiver_feed (ConfabReceiver          *self,
               Session                 *session,
               const ConfabWireMessage *segment,
               GPtrArray               *delivered)
{
  Reassembly *reassembly = &session->reassembly;

  if (segment->frag == 0)
    {
      if (reassembly->active)
        {
          reassembly_reset (reassembly);
          self->stats.inconsistent++;
        }

      if (segment->nfrags > 1)
        {
          if (!reassembly_start (reassembly, segment))
            self->stats.inconsistent++;
        }
      else if (segment->offset != 0 || segment->payload_len != segment->total)
        self->stats.inconsistent++;
      else
        receiver_complete (self, segment, (const char *) segment->payload,
                           segment->payload_len, NULL, delivered);
      return;
    }

  if (!reassembly_continues (reassembly, segment))
    {
      reassembly_reset (reassembly);
      self->stats.inconsistent++;
      return;
    }

  memcpy (reassembly->text + reassembly->bytes, segment->payload, segment->payload_len);
  reassembly->bytes += segment->payload_len;
  reassembly->last_frag = segment->frag;

  if (segment->frag == reassembly->nfrags - 1)
    {
      char *text = g_steal_pointer (&reassembly->text);

      reassembly->active = FALSE;
      receiver_complete (self, segment, text, reassembly->bytes, text, delivered);
    }
}

static void
receiver_deliver_buffered (ConfabReceiver *self,
                           Session        *session,
                           Buffered       *buffered,
                           GPtrArray      *delivered)
{
  receiver_feed (self, session, &buffered->segment, delivered);
  g_free (buffered);
}

static void
receiver_deliver_contiguous (ConfabReceiver *self,
                             Session        *session,
                             GPtrArray      *delivered)
{
  Buffered *buffered;

  while (session->count > 0 && (buffered = session_take (session, session->next)) != NULL)
    {
      session->next++;
      receiver_deliver_buffered (self, session, buffered, delivered);
    }
}

static void
receiver_skip_missing (ConfabReceiver *self,
                       Session        *session,
                       guint64         n_missing)
{
  /* The message being reassembled has lost a fragment for good. */
  reassembly_reset (&session->reassembly);
  session->next += n_missing;
  self->stats.skipped += n_missing;
}

/* Step 1 of protocol.md §7, also used when a gap times out: everything
 * below @low is delivered or given up, in order.
 */
static void
receiver_skip_to (ConfabReceiver *self,
                  Session        *session,
                  guint64         low,
                  GPtrArray      *delivered)
{
  while (session->next < low)
    {
      Buffered *buffered;

      /* The gap can be huge; only buffered segments need a look one by one. */
      if (session->count == 0)
        {
          receiver_skip_missing (self, session, low - session->next);
          break;
        }

      buffered = session_take (session, session->next);
      if (buffered == NULL)
        {
          receiver_skip_missing (self, session, 1);
          continue;
        }

      session->next++;
      receiver_deliver_buffered (self, session, buffered, delivered);
    }

  receiver_deliver_contiguous (self, session, delivered);
}

static Session *
receiver_lookup (ConfabReceiver *self,
                 guint64         id,
                 gboolean        touch)
{
  for (guint i = 0; i < self->n_sessions; i++)
    {
      Session *session = self->sessions[i];

      if (session->id != id)
        continue;

      if (touch && i > 0)
        {
          memmove (&self->sessions[1], &self->sessions[0], i * sizeof (Session *));
          self->sessions[0] = session;
        }
      return session;
    }

  return NULL;
}

static Session *
receiver_add_session (ConfabReceiver *self,
                      guint64         id,
                      guint64         next)
{
  if (self->n_sessions == CONFAB_RECEIVER_MAX_SESSIONS)
    {
      self->n_sessions--;
      g_clear_pointer (&self->sessions[self->n_sessions], session_free);
    }

  memmove (&self->sessions[1], &self->sessions[0], self->n_sessions * sizeof (Session *));
  self->sessions[0] = session_new (id, next);
  self->n_sessions++;

  return self->sessions[0];
}

/* The checks of protocol.md §4, again: the receiver's memory safety must
 * not depend on its caller having decoded the segment carefully.
 */
static gboolean
segment_is_valid (const ConfabWireMessage *segment)
{
  gboolean last = segment->frag == segment->nfrags - 1;

  return segment->session != 0
    && segment->seq != 0
    && segment->seq != G_MAXUINT64  /* so that next never wraps */
    && segment->low != 0
    && segment->low <= segment->seq
    && segment->origin != 0
    && segment->number != 0
    && segment->total >= 1 && segment->total <= CONFAB_WIRE_MAX_TEXT
    && segment->nfrags >= 1 && segment->nfrags <= CONFAB_WIRE_MAX_FRAGMENTS
    && segment->frag < segment->nfrags
    && segment->nick_len <= CONFAB_WIRE_MAX_NICK
    && segment->payload_len >= 1
    && segment->payload_len <= segment->total
    && segment->offset <= segment->total - segment->payload_len
    && (segment->frag != 0 || segment->offset == 0)
    && (!last || segment->offset + segment->payload_len == segment->total);
}

ConfabReceiver *
confab_receiver_new (void)
{
  ConfabReceiver *self = g_new0 (ConfabReceiver, 1);

  self->shown = g_hash_table_new (confab_message_id_hash, confab_message_id_equal);

  return self;
}

void
confab_receiver_free (ConfabReceiver *self)
{
  if (self == NULL)
    return;

  for (guint i = 0; i < self->n_sessions; i++)
    session_free (self->sessions[i]);
  g_hash_table_unref (self->shown);
  g_free (self);
}

ConfabReceiverVerdict
confab_receiver_push (ConfabReceiver          *self,
                      const ConfabWireMessage *segment,
                      gint64                   now,
                      GPtrArray               *delivered)
{
  Session *session;

  g_return_val_if_fail (self != NULL, CONFAB_RECEIVER_DROPPED);
  g_return_val_if_fail (segment != NULL, CONFAB_RECEIVER_DROPPED);
  g_return_val_if_fail (segment->nick != NULL || segment->nick_len == 0, CONFAB_RECEIVER_DROPPED);
  g_return_val_if_fail (segment->payload != NULL || segment->payload_len == 0,
                        CONFAB_RECEIVER_DROPPED);
  g_return_val_if_fail (delivered != NULL, CONFAB_RECEIVER_DROPPED);

  if (!segment_is_valid (segment))
    return CONFAB_RECEIVER_DROPPED;

  session = receiver_lookup (self, segment->session, TRUE);
  if (session == NULL)
    {
      /* Refused before it can evict a session that may still be in use. */
      if (segment->seq - segment->low > CONFAB_WIRE_MAX_ACK_BITS)
        {
          self->stats.buffer_full++;
          return CONFAB_RECEIVER_DROPPED;
        }
      session = receiver_add_session (self, segment->session, segment->low);
    }

  if (segment->low > session->next)
    receiver_skip_to (self, session, segment->low, delivered);

  if (segment->seq < session->next || session_find (session, segment->seq) != NULL)
    {
      self->stats.duplicates++;
      return CONFAB_RECEIVER_DUPLICATE;
    }

  /* The common case: in order, so no copy is needed. */
  if (segment->seq == session->next)
    {
      self->stats.segments++;
      session->next++;
      receiver_feed (self, session, segment, delivered);
      receiver_deliver_contiguous (self, session, delivered);
      return CONFAB_RECEIVER_ACCEPTED;
    }

  if (segment->seq - session->next > CONFAB_WIRE_MAX_ACK_BITS
      || session->count >= CONFAB_RECEIVER_MAX_BUFFERED
      || session->bytes + segment->payload_len > CONFAB_RECEIVER_MAX_BUFFER_BYTES)
    {
      self->stats.buffer_full++;
      return CONFAB_RECEIVER_DROPPED;
    }

  session_insert (session, segment, now);
  self->stats.segments++;

  return CONFAB_RECEIVER_ACCEPTED;
}

gboolean
confab_receiver_build_ack (ConfabReceiver *self,
                           guint64         session_id,
                           ConfabWireAck  *ack,
                           guint8         *bitmap,
                           gsize           bitmap_size)
{
  Session *session;
  gsize max_bits;
  gsize nbits = 0;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (ack != NULL, FALSE);
  g_return_val_if_fail (bitmap != NULL || bitmap_size == 0, FALSE);

  session = receiver_lookup (self, session_id, FALSE);
  if (session == NULL)
    return FALSE;

  max_bits = MIN (bitmap_size, CONFAB_WIRE_MAX_ACK_BITS / 8) * 8;
  if (session->count > 0)
    nbits = MIN (((session->max_seq - session->next - 1) / 8 + 1) * 8, max_bits);

  if (nbits > 0)
    {
      memset (bitmap, 0, nbits / 8);
      for (GList *l = session->arrivals.head; l != NULL; l = l->next)
        {
          guint64 bit = ((const Buffered *) l->data)->segment.seq - session->next - 1;

          if (bit < nbits)
            bitmap[bit / 8] |= 1u << (bit % 8);
        }
    }

  ack->session = session->id;
  ack->next = session->next;
  ack->nbits = nbits;
  ack->bitmap = bitmap;

  return TRUE;
}

gint64
confab_receiver_get_deadline (ConfabReceiver *self)
{
  gint64 deadline = G_MAXINT64;

  g_return_val_if_fail (self != NULL, G_MAXINT64);

  for (guint i = 0; i < self->n_sessions; i++)
    deadline = MIN (deadline, session_deadline (self->sessions[i]));

  return deadline;
}

void
confab_receiver_expire (ConfabReceiver *self,
                        gint64          now,
                        GPtrArray      *delivered)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (delivered != NULL);

  for (guint i = 0; i < self->n_sessions; i++)
    {
      Session *session = self->sessions[i];

      /* Each pass delivers at least one segment, and the next gap may be as old. */
      while (session->count > 0 && session_deadline (session) <= now)
        receiver_skip_to (self, session, session_lowest_buffered (session), delivered);
    }
}

void
confab_receiver_get_stats (ConfabReceiver      *self,
                           ConfabReceiverStats *stats)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (stats != NULL);

  *stats = self->stats;
}

/**
 * confab_receiver_reset_sessions:
 *
 * Forgets every sender session, for a new peer, but not which message ids
 * were shown: a message whose ack was lost must not show twice when the
 * person goes back to the peer that sent it.
 */
void
confab_receiver_reset_sessions (ConfabReceiver *self)
{
  g_return_if_fail (self != NULL);

  for (guint i = 0; i < self->n_sessions; i++)
    g_clear_pointer (&self->sessions[i], session_free);
  self->n_sessions = 0;
}
