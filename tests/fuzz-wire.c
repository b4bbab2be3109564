/* fuzz-wire.c — libFuzzer target for the datagram decoder, encoder and splitter, and the open path
 *
 * Each input is copied to the end of a page that is followed by an
 * inaccessible one, so that reading past its end faults even inside GLib
 * (which ASan does not see into), and decoded as a datagram. When that
 * succeeds the harness reads every byte the result points at (so ASan catches
 * a pointer or length outside the input), encodes the fields again and aborts
 * unless that gives back the input (with the reserved bytes 6 and 7 zeroed,
 * as an encoder always sends them) and decodes to the same fields. Input that
 * is valid UTF-8 is also cut by confab_wire_split(), whose fragments are
 * checked, and given to confab_wire_clamp_nick().
 *
 * Each input is also opened as a sealed datagram (confab-crypto) under a
 * fixed key by a fresh opener, and what opens is decoded as above; and the
 * input is sealed, opened again (it must come back the same) and, with one
 * byte changed, must not open.
 *
 * Fuzzing (clang with compiler-rt: `apt-get install clang libclang-rt-14-dev`):
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
 *     -Isrc/core $(pkg-config --cflags gio-2.0 libsodium) \
 *     src/core/confab-wire.c src/core/confab-crypto.c tests/fuzz-wire.c \
 *     $(pkg-config --libs gio-2.0 libsodium) \
 *     -o /tmp/fuzz-wire
 *   cp -r tests/fuzz-corpus/wire /tmp/wire-corpus
 *   /tmp/fuzz-wire -max_len=1300 -max_total_time=600 /tmp/wire-corpus
 *
 * libFuzzer writes the inputs it finds into that directory, and a crashing
 * input into the current one (or -artifact_prefix=). Keep the repository's
 * corpus small and hand-picked: a seed per datagram kind, the protocol.md §10
 * examples, near misses, and one file per bug found, named regression-*.
 * With meson: `CC=clang meson setup _build-fuzz -Dfuzzing=true
 * -Db_sanitize=address,undefined -Db_lundef=false` builds tests/fuzz-wire.
 *
 * Built with -DCONFAB_FUZZ_REPLAY instead (any compiler, no libFuzzer), the
 * program has its own main() that runs every file named on the command line,
 * or found in a directory named there, through the same checks: the `meson
 * test` replay of the seed corpus, and a way to re-run a crash file under gdb.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "confab-crypto.h"
#include "confab-wire.h"

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Keeps the sums of touched bytes from being optimised away. */
static volatile guint sink;

/* A page followed by an inaccessible one: inputs are copied to its very end,
 * so that reading one byte too far faults even inside GLib (which ASan does
 * not instrument, e.g. g_utf8_validate_len() on a nick), and so that fields
 * sit at odd addresses.
 */
static guint8 *guard_page;
static gsize guard_size;

G_GNUC_NORETURN static void
fail (const char *what)
{
  fprintf (stderr, "fuzz-wire: %s\n", what);
  abort ();
}

static void
touch (const guint8 *p,
       gsize         len)
{
  guint sum = 0;

  for (gsize i = 0; i < len; i++)
    sum += p[i];
  sink += sum;
}

static gboolean
messages_equal (const ConfabWireMessage *a,
                const ConfabWireMessage *b)
{
  return a->session == b->session && a->seq == b->seq && a->low == b->low
         && a->origin == b->origin && a->number == b->number && a->time == b->time
         && a->total == b->total && a->offset == b->offset && a->frag == b->frag
         && a->nfrags == b->nfrags && a->nick_len == b->nick_len
         && a->payload_len == b->payload_len
         && memcmp (a->nick, b->nick, a->nick_len) == 0
         && memcmp (a->payload, b->payload, a->payload_len) == 0;
}

static gboolean
datagrams_equal (const ConfabWireDatagram *a,
                 const ConfabWireDatagram *b)
{
  if (a->type != b->type)
    return FALSE;

  switch (a->type)
    {
    case CONFAB_WIRE_TYPE_MESSAGE:
      return messages_equal (&a->message, &b->message);
    case CONFAB_WIRE_TYPE_ACK:
      return a->ack.session == b->ack.session && a->ack.next == b->ack.next
             && a->ack.nbits == b->ack.nbits
             && memcmp (a->ack.bitmap, b->ack.bitmap, a->ack.nbits / 8) == 0;
    case CONFAB_WIRE_TYPE_PING:
    case CONFAB_WIRE_TYPE_PONG:
    case CONFAB_WIRE_TYPE_STALE:
      return a->token == b->token;
    default:
      return FALSE;
    }
}

/* Reads every byte the decoded datagram points at and checks that the
 * pointers lie where the format says.
 */
static void
check_pointers (const ConfabWireDatagram *d,
                const guint8             *data,
                gsize                     size)
{
  switch (d->type)
    {
    case CONFAB_WIRE_TYPE_MESSAGE:
      touch ((const guint8 *) d->message.nick, d->message.nick_len);
      touch (d->message.payload, d->message.payload_len);
      if ((const guint8 *) d->message.nick != data + CONFAB_WIRE_MESSAGE_FIXED_SIZE
          || d->message.payload + d->message.payload_len != data + size
          || d->message.payload_len == 0 || d->message.nick_len > CONFAB_WIRE_MAX_NICK)
        fail ("message points outside the datagram");
      break;
    case CONFAB_WIRE_TYPE_ACK:
      touch (d->ack.bitmap, d->ack.nbits / 8);
      if (d->ack.bitmap + d->ack.nbits / 8 != data + size)
        fail ("ack bitmap points outside the datagram");
      break;
    case CONFAB_WIRE_TYPE_PING:
    case CONFAB_WIRE_TYPE_PONG:
    case CONFAB_WIRE_TYPE_STALE:
      if (size != CONFAB_WIRE_PING_SIZE)
        fail ("ping of the wrong size accepted");
      break;
    default:
      fail ("decoded an unknown type");
    }
}

static gsize
encode (const ConfabWireDatagram *d,
        guint8                   *buffer,
        gsize                     size)
{
  switch (d->type)
    {
    case CONFAB_WIRE_TYPE_MESSAGE:
      return confab_wire_encode_message (&d->message, buffer, size);
    case CONFAB_WIRE_TYPE_ACK:
      return confab_wire_encode_ack (&d->ack, buffer, size);
    case CONFAB_WIRE_TYPE_PING:
    case CONFAB_WIRE_TYPE_PONG:
    case CONFAB_WIRE_TYPE_STALE:
      return confab_wire_encode_ping (d->type, d->token, buffer, size);
    default:
      fail ("encoding an unknown type");
    }
}

static void
check_datagram (const guint8 *data,
                gsize         size)
{
  ConfabWireDatagram d, again;
  ConfabWireResult result;
  guint8 expected[CONFAB_WIRE_MAX_DATAGRAM];
  guint8 buffer[CONFAB_WIRE_MAX_DATAGRAM];
  gsize length;

  result = confab_wire_decode (data, size, &d);
  if (confab_wire_result_to_string (result) == NULL)
    fail ("result has no name");
  if (result != CONFAB_WIRE_OK)
    return;
  if (size > CONFAB_WIRE_MAX_DATAGRAM || size < CONFAB_WIRE_PING_SIZE)
    fail ("accepted a datagram of impossible size");

  check_pointers (&d, data, size);

  memcpy (expected, data, size);
  expected[6] = expected[7] = 0;
  length = encode (&d, buffer, sizeof buffer);
  if (length != size || memcmp (buffer, expected, size) != 0)
    fail ("re-encoding does not reproduce the datagram");

  /* one byte too few must be refused, not overrun */
  if (encode (&d, buffer, size - 1) != 0)
    fail ("encoder ignored the buffer size");

  if (confab_wire_decode (expected, size, &again) != CONFAB_WIRE_OK
      || !datagrams_equal (&d, &again))
    fail ("decoding the re-encoded datagram gives other fields");
}

static void
check_split (const char *text,
             gsize       length,
             gsize       max_payload,
             guint       max_fragments)
{
  guint32 offsets[CONFAB_WIRE_MAX_FRAGMENTS + 1];
  guint n;

  n = confab_wire_split (text, length, max_payload, offsets, max_fragments);
  if (n == 0)
    {
      /* only allowed when even full fragments could not hold the text */
      if (length > 0 && length <= max_payload)
        fail ("split refused text that fits one fragment");
      return;
    }
  if (n > max_fragments || offsets[0] != 0 || offsets[n] != length)
    fail ("split offsets do not cover the text");

  for (guint i = 0; i < n; i++)
    {
      gsize len = offsets[i + 1] - offsets[i];

      if (offsets[i + 1] <= offsets[i] || len > max_payload)
        fail ("split made an empty or oversized fragment");
      if (!g_utf8_validate_len (text + offsets[i], len, NULL))
        fail ("split cut a character");
      /* as full as possible: the next character would not have fitted */
      if (i + 1 < n && len + (gsize) g_utf8_skip[(guchar) text[offsets[i + 1]]] <= max_payload)
        fail ("split left room in a fragment");
    }
}

static void
check_text (const guint8 *data,
            gsize         size)
{
  g_autofree char *nick = NULL;
  gsize clamped;

  /* the splitter's contract asks for valid UTF-8 (so without NUL) */
  if (size < 1 || !g_utf8_validate_len ((const char *) data + 1, size - 1, NULL))
    return;

  /* the first byte picks the limits: payloads 4 to 1083, 1 to 128 fragments */
  check_split ((const char *) data + 1, size - 1,
               4 + data[0] % (confab_wire_max_payload (0) - 3), 1 + data[0] % 128);
  check_split ((const char *) data + 1, size - 1, 4, CONFAB_WIRE_MAX_FRAGMENTS);

  nick = g_strndup ((const char *) data + 1, size - 1);
  clamped = confab_wire_clamp_nick (nick);
  if (clamped > CONFAB_WIRE_MAX_NICK || !g_utf8_validate_len (nick, clamped, NULL)
      || (clamped < size - 1
          && clamped + g_utf8_skip[(guchar) nick[clamped]] <= CONFAB_WIRE_MAX_NICK))
    fail ("clamp_nick gave a wrong length");
}

/* The key the sealed seeds of the corpus were made with */
#define FUZZ_PASSPHRASE "confab fuzz corpus"
#define FUZZ_EPOCH_TIME G_GUINT64_CONSTANT (1795000000000000)

static ConfabKey *fuzz_key;

static void
check_sealed (const guint8 *data,
              gsize         size)
{
  g_autoptr(ConfabOpener) opener = confab_opener_new (fuzz_key, 0, 0);
  g_autoptr(ConfabSealer) sealer = NULL;
  guint8 inner[CONFAB_WIRE_MAX_DATAGRAM];
  guint8 sealed[CONFAB_WIRE_MAX_DATAGRAM];
  gsize inner_length = 0;
  gsize sealed_length;
  ConfabEpoch epoch = { FUZZ_EPOCH_TIME, 1 };

  if (confab_opener_open (opener, data, size, inner, sizeof inner, &inner_length) ==
      CONFAB_OPEN_OK)
    {
      if (inner_length + CONFAB_CRYPTO_OVERHEAD != size)
        fail ("opened to the wrong length");
      check_datagram (inner, inner_length);
    }

  if (size == 0 || size > CONFAB_WIRE_MAX_DATAGRAM - CONFAB_CRYPTO_OVERHEAD)
    return;

  /* What is sealed opens to itself, once; changed anywhere, it does not. */
  sealer = confab_sealer_new (fuzz_key, epoch);
  sealed_length = confab_sealer_seal (sealer, data, size, sealed, sizeof sealed);
  g_clear_pointer (&opener, confab_opener_free);
  opener = confab_opener_new (fuzz_key, 0, 0);
  if (sealed_length != size + CONFAB_CRYPTO_OVERHEAD
      || confab_opener_open (opener, sealed, sealed_length, inner, sizeof inner,
                             &inner_length) != CONFAB_OPEN_OK
      || inner_length != size || memcmp (inner, data, size) != 0)
    fail ("a sealed datagram did not open to itself");
  if (confab_opener_open (opener, sealed, sealed_length, inner, sizeof inner,
                          &inner_length) == CONFAB_OPEN_OK)
    fail ("a sealed datagram opened twice");

  sealed[data[0] % sealed_length] ^= 0x01 | data[size - 1];
  g_clear_pointer (&opener, confab_opener_free);
  opener = confab_opener_new (fuzz_key, 0, 0);
  if (confab_opener_open (opener, sealed, sealed_length, inner, sizeof inner,
                          &inner_length) == CONFAB_OPEN_OK)
    fail ("a changed sealed datagram opened");
}

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  long page = sysconf (_SC_PAGESIZE);
  guint8 *map;

  (void) argc;
  (void) argv;

  /* a g_return_if_fail() hit by decoded data is a bug: make it a crash */
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);

  map = mmap (NULL, 2 * (gsize) page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (map == MAP_FAILED || mprotect (map + page, (gsize) page, PROT_NONE) != 0)
    fail ("cannot set up the guard page");
  guard_page = map;
  guard_size = (gsize) page;

  fuzz_key = confab_key_derive (FUZZ_PASSPHRASE, NULL);
  if (fuzz_key == NULL)
    fail ("cannot derive the fuzzing key");
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  const guint8 *input = data;

  if (guard_page != NULL && size <= guard_size)
    {
      guint8 *end = guard_page + guard_size;

      memcpy (end - size, data, size);
      input = end - size;
    }

  check_datagram (input, size);
  check_text (input, size);
  check_sealed (input, size);
  return 0;
}

#ifdef CONFAB_FUZZ_REPLAY

static gboolean
replay_file (const char *path)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *contents = NULL;
  g_autofree guint8 *copy = NULL;
  gsize length;

  if (!g_file_get_contents (path, &contents, &length, &error))
    {
      fprintf (stderr, "fuzz-wire: %s\n", error->message);
      return FALSE;
    }

  /* an exact-size heap copy, so that ASan sees a read past the end */
  copy = g_memdup2 (contents, length);
  LLVMFuzzerTestOneInput (copy, length);
  return TRUE;
}

static gboolean
replay (const char *path,
        guint      *count)
{
  g_autoptr(GDir) dir = NULL;
  const char *name;

  if (!g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      (*count)++;
      return replay_file (path);
    }

  dir = g_dir_open (path, 0, NULL);
  if (dir == NULL)
    return FALSE;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (!replay (child, count))
        return FALSE;
    }
  return TRUE;
}

int
main (int   argc,
      char *argv[])
{
  guint count = 0;

  LLVMFuzzerInitialize (&argc, &argv);

  if (argc < 2)
    {
      fprintf (stderr, "usage: %s FILE-OR-DIRECTORY...\n", argv[0]);
      return 2;
    }
  for (int i = 1; i < argc; i++)
    if (!replay (argv[i], &count))
      return 1;

  printf ("fuzz-wire: replayed %u inputs\n", count);
  return count > 0 ? 0 : 1;
}

#endif /* CONFAB_FUZZ_REPLAY */
