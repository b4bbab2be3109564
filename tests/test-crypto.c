/* test-crypto.c — key derivation, sealing, opening and replay protection
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <sodium.h>

#include "confab-crypto.h"
#include "confab-wire.h"
#include "test-util.h"

/* This side's id in the openers of these tests */
#define OWN_ID G_GUINT64_CONSTANT (0x0123456789abcdef)

/* Deriving costs ~0.1 s and 64 MiB: the tests share two keys. */
static ConfabKey *key_a;
static ConfabKey *key_b;

static ConfabEpoch
epoch (guint64 time,
       guint64 random)
{
  ConfabEpoch e = { time, random };

  return e;
}

static gsize
seal (ConfabSealer *sealer,
      const char   *text,
      guint8       *out)
{
  gsize n = confab_sealer_seal (sealer, (const guint8 *)text, strlen (text), out,
                                CONFAB_WIRE_MAX_DATAGRAM);

  g_assert_cmpuint (n, ==, strlen (text) + CONFAB_CRYPTO_OVERHEAD);
  return n;
}

static ConfabOpenResult
open_datagram (ConfabOpener *opener,
               const guint8 *data,
               gsize         length,
               char        **text)
{
  guint8 out[CONFAB_WIRE_MAX_DATAGRAM];
  gsize out_length = 0;
  ConfabOpenResult result;

  result = confab_opener_open (opener, data, length, out, sizeof out, &out_length);
  if (text != NULL)
    *text = result == CONFAB_OPEN_OK ? g_strndup ((const char *)out, out_length) : NULL;

  return result;
}

static void
test_same_passphrase_same_key (void)
{
  g_autoptr(ConfabKey) again = confab_key_derive ("correct horse battery staple", NULL);
  g_autoptr(ConfabKey) composed = NULL;
  g_autoptr(ConfabKey) decomposed = NULL;
  g_autofree char *code_a = confab_key_get_safety_code (key_a);
  g_autofree char *code_again = confab_key_get_safety_code (again);
  g_autofree char *code_b = confab_key_get_safety_code (key_b);

  g_assert_cmpmem (confab_key_get_id (key_a), CONFAB_CRYPTO_KEY_ID_SIZE,
                   confab_key_get_id (again), CONFAB_CRYPTO_KEY_ID_SIZE);
  g_assert_cmpstr (code_a, ==, code_again);
  g_assert_cmpstr (code_a, !=, code_b);
  g_assert_true (g_regex_match_simple ("^[0-9]{4} [0-9]{4} [0-9]{4}$", code_a, 0, 0));

  /* "é" typed as one character or as e + accent is the same passphrase */
  composed = confab_key_derive ("caf\xc3\xa9", NULL);
  decomposed = confab_key_derive ("cafe\xcc\x81", NULL);
  g_assert_cmpmem (confab_key_get_id (composed), CONFAB_CRYPTO_KEY_ID_SIZE,
                   confab_key_get_id (decomposed), CONFAB_CRYPTO_KEY_ID_SIZE);
}

static void
test_empty_passphrase (void)
{
  g_autoptr(GError) error = NULL;
  ConfabKey *key = confab_key_derive ("", &error);

  g_assert_null (key);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
}

static void
test_round_trip (void)
{
  g_autoptr(ConfabSealer) sealer = confab_sealer_new (key_a, epoch (1000, 7));
  g_autoptr(ConfabOpener) opener = confab_opener_new (key_a, OWN_ID, 0);
  guint8 sealed[CONFAB_WIRE_MAX_DATAGRAM];
  guint8 big[CONFAB_WIRE_MAX_DATAGRAM - CONFAB_CRYPTO_OVERHEAD];
  guint8 out[CONFAB_WIRE_MAX_DATAGRAM];
  gsize out_length = 0;
  g_autofree char *text = NULL;
  gsize n;

  n = seal (sealer, "\xff" "CFB hello", sealed);
  g_assert_true (confab_crypto_is_sealed (sealed, n));
  /* The text is not readable in the datagram. */
  g_assert_null (g_strstr_len ((const char *)sealed, n, "hello"));
  g_assert_cmpint (open_datagram (opener, sealed, n, &text), ==, CONFAB_OPEN_OK);
  g_assert_cmpstr (text, ==, "\xff" "CFB hello");
  g_assert_cmpuint (confab_opener_get_newest (opener), ==, 1000);

  /* The largest inner datagram makes a sealed one of exactly 1200 bytes. */
  memset (big, 0x5a, sizeof big);
  n = confab_sealer_seal (sealer, big, sizeof big, sealed, sizeof sealed);
  g_assert_cmpuint (n, ==, CONFAB_WIRE_MAX_DATAGRAM);
  g_assert_cmpint (confab_opener_open (opener, sealed, n, out, sizeof out, &out_length), ==,
                   CONFAB_OPEN_OK);
  g_assert_cmpmem (out, out_length, big, sizeof big);

  /* No room: refused */
  g_assert_cmpuint (confab_sealer_seal (sealer, big, sizeof big, sealed, sizeof sealed - 1),
                    ==, 0);
}

/* docs/protocol.md §11.1 and §11.2 done here with libsodium alone: what
 * Confab seals, another implementation of the protocol opens, and the
 * other way round.
 */
static void
protocol_aead_key (const char *passphrase,
                   guint8      aead[crypto_aead_xchacha20poly1305_ietf_KEYBYTES],
                   guint8      id[CONFAB_CRYPTO_KEY_ID_SIZE])
{
  static const char salt_source[] = "io.github.confab.Confab passphrase salt v1";
  guint8 salt[crypto_pwhash_SALTBYTES];
  guint8 master[crypto_kdf_KEYBYTES];

  crypto_generichash (salt, sizeof salt, (const guint8 *)salt_source, strlen (salt_source),
                      NULL, 0);
  g_assert_cmpint (crypto_pwhash (master, sizeof master, passphrase, strlen (passphrase), salt,
                                  crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                  crypto_pwhash_MEMLIMIT_INTERACTIVE,
                                  crypto_pwhash_ALG_ARGON2ID13), ==, 0);
  crypto_kdf_derive_from_key (aead, crypto_aead_xchacha20poly1305_ietf_KEYBYTES, 1, "confab-m",
                              master);
  crypto_kdf_derive_from_key (id, CONFAB_CRYPTO_KEY_ID_SIZE, 2, "confab-i", master);
}

static void
put_be64 (guint8  *p,
          guint64  value)
{
  for (int i = 7; i >= 0; i--, value >>= 8)
    p[i] = value & 0xff;
}

static void
test_wire_format (void)
{
  static const guint8 header[] = { 0xFF, 'C', 'F', 'S', 0x01, 0, 0, 0 };
  static const char inner[] = "\xff" "CFB an inner datagram";
  gsize inner_length = strlen (inner);
  guint8 aead[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
  guint8 id[CONFAB_CRYPTO_KEY_ID_SIZE];
  ConfabEpoch ours = epoch (G_GUINT64_CONSTANT (0x0102030405060708),
                            G_GUINT64_CONSTANT (0x1112131415161718));
  g_autoptr(ConfabSealer) sealer = confab_sealer_new (key_a, ours);
  g_autoptr(ConfabOpener) opener = confab_opener_new (key_a, OWN_ID, 0);
  guint8 sealed[CONFAB_WIRE_MAX_DATAGRAM];
  guint8 plain[CONFAB_WIRE_MAX_DATAGRAM];
  unsigned long long plain_length = 0;
  unsigned long long sealed_length = 0;
  g_autofree char *text = NULL;
  gsize n = 0;

  protocol_aead_key ("correct horse battery staple", aead, id);
  g_assert_cmpmem (confab_key_get_id (key_a), CONFAB_CRYPTO_KEY_ID_SIZE, id, sizeof id);

  /* Confab's second datagram of the epoch, opened by the book */
  for (guint i = 0; i < 2; i++)
    n = seal (sealer, inner, sealed);
  g_assert_cmpmem (sealed, 8, header, sizeof header);
  g_assert_cmpmem (sealed + 8, 16, "\x01\x02\x03\x04\x05\x06\x07\x08"
                                   "\x11\x12\x13\x14\x15\x16\x17\x18", 16);
  g_assert_cmpmem (sealed + 24, 8, "\0\0\0\0\0\0\0\x02", 8);
  g_assert_cmpint (crypto_aead_xchacha20poly1305_ietf_decrypt (plain, &plain_length, NULL,
                                                               sealed + 32, n - 32, sealed, 32,
                                                               sealed + 8, aead), ==, 0);
  g_assert_cmpmem (plain, plain_length, inner, inner_length);

  /* Sealed by the book, in two epochs, opened by Confab */
  for (guint64 time = 5000; time <= 6000; time += 1000)
    for (guint64 counter = 1; counter <= 3; counter++)
      {
        memcpy (sealed, header, sizeof header);
        put_be64 (sealed + 8, time);
        put_be64 (sealed + 16, 99);
        put_be64 (sealed + 24, counter);
        crypto_aead_xchacha20poly1305_ietf_encrypt (sealed + 32, &sealed_length,
                                                    (const guint8 *)inner, inner_length,
                                                    sealed, 32, NULL, sealed + 8, aead);
        g_assert_cmpint (open_datagram (opener, sealed, 32 + sealed_length, &text), ==,
                         CONFAB_OPEN_OK);
        g_assert_cmpstr (text, ==, inner);
        g_clear_pointer (&text, g_free);
      }
  g_assert_cmpuint (confab_opener_get_newest (opener), ==, 6000);

  sodium_memzero (aead, sizeof aead);
}

static void
test_other_key_forged (void)
{
  g_autoptr(ConfabSealer) sealer = confab_sealer_new (key_b, epoch (1000, 7));
  g_autoptr(ConfabOpener) opener = confab_opener_new (key_a, OWN_ID, 0);
  guint8 sealed[CONFAB_WIRE_MAX_DATAGRAM];
  gsize n = seal (sealer, "hello", sealed);

  g_assert_cmpint (open_datagram (opener, sealed, n, NULL), ==, CONFAB_OPEN_FORGED);
  /* A forgery moves nothing. */
  g_assert_cmpuint (confab_opener_get_newest (opener), ==, 0);
}

/* One key seals both ways: a side's own datagram sent back to it (from any
 * of its runs) is refused, and moves nothing.
 */
static void
test_reflected (void)
{
  g_autoptr(ConfabSealer) mine = confab_sealer_new (key_a, epoch (9000, OWN_ID));
  g_autoptr(ConfabSealer) earlier = confab_sealer_new (key_a, epoch (10, OWN_ID));
  g_autoptr(ConfabOpener) opener = confab_opener_new (key_a, OWN_ID, 0);
  guint8 sealed[CONFAB_WIRE_MAX_DATAGRAM];
  gsize n;

  n = seal (mine, "my own words", sealed);
  g_assert_cmpint (open_datagram (opener, sealed, n, NULL), ==, CONFAB_OPEN_REFLECTED);
  n = seal (earlier, "my older words", sealed);
  g_assert_cmpint (open_datagram (opener, sealed, n, NULL), ==, CONFAB_OPEN_REFLECTED);
  g_assert_false (confab_opener_has_epoch (opener));
}

/* Every single bit flipped anywhere in a sealed datagram: rejected. */
static void
test_every_bit_flipped (void)
{
  g_autoptr(ConfabSealer) sealer = confab_sealer_new (key_a, epoch (5000, 1));
  guint8 sealed[CONFAB_WIRE_MAX_DATAGRAM];
  gsize n = seal (sealer, "\xff" "CFB\x01\x01 a message with some length to it", sealed);

  for (gsize bit = 0; bit < n * 8; bit++)
    {
      g_autoptr(ConfabOpener) opener = confab_opener_new (key_a, OWN_ID, 0);
      ConfabOpenResult result;

      sealed[bit / 8] ^= 1 << (bit % 8);
      result = open_datagram (opener, sealed, n, NULL);
      sealed[bit / 8] ^= 1 << (bit % 8);

      if (result == CONFAB_OPEN_OK)
        g_error ("bit %" G_GSIZE_FORMAT " flipped and still accepted", bit);
    }

  /* And unflipped, it still opens. */
  {
    g_autoptr(ConfabOpener) opener = confab_opener_new (key_a, OWN_ID, 0);

    g_assert_cmpint (open_datagram (opener, sealed, n, NULL), ==, CONFAB_OPEN_OK);
  }
}

/* Everything a stranger can send that is not sealed under the key. */
static void
test_bad_input (void)
{
  g_autoptr(ConfabOpener) opener = confab_opener_new (key_a, OWN_ID, 0);
  guint8 sealed[CONFAB_WIRE_MAX_DATAGRAM + 1];
  g_autoptr(ConfabSealer) sealer = confab_sealer_new (key_a, epoch (9, 9));
  gsize n = seal (sealer, "x", sealed);
  guint8 out[16];
  gsize out_length;

  g_assert_cmpint (open_datagram (opener, (const guint8 *)"hi", 2, NULL), ==,
                   CONFAB_OPEN_NOT_SEALED);
  g_assert_cmpint (open_datagram (opener, (const guint8 *)"\xff" "CFB", 4, NULL), ==,
                   CONFAB_OPEN_NOT_SEALED);
  /* Header alone, cut short, too long, another version */
  g_assert_cmpint (open_datagram (opener, sealed, CONFAB_CRYPTO_OVERHEAD, NULL), ==,
                   CONFAB_OPEN_MALFORMED);
  g_assert_cmpint (open_datagram (opener, sealed, 10, NULL), ==, CONFAB_OPEN_MALFORMED);
  g_assert_cmpint (open_datagram (opener, sealed, sizeof sealed, NULL), ==,
                   CONFAB_OPEN_MALFORMED);
  sealed[4] = 2;
  g_assert_cmpint (open_datagram (opener, sealed, n, NULL), ==, CONFAB_OPEN_MALFORMED);
  sealed[4] = 1;
  /* No room for the inner datagram */
  g_assert_cmpint (confab_opener_open (opener, sealed, n, out, 0, &out_length), ==,
                   CONFAB_OPEN_MALFORMED);
  g_assert_cmpint (open_datagram (opener, sealed, n, NULL), ==, CONFAB_OPEN_OK);
}

/* Each datagram opens once; reordering inside the window is fine. */
static void
test_replay_window (void)
{
  g_autoptr(ConfabSealer) sealer = confab_sealer_new (key_a, epoch (2000, 3));
  g_autoptr(ConfabOpener) opener = confab_opener_new (key_a, OWN_ID, 0);
  g_autoptr(GPtrArray) captured = g_ptr_array_new_with_free_func ((GDestroyNotify)g_bytes_unref);
  guint8 sealed[CONFAB_WIRE_MAX_DATAGRAM];

  for (guint i = 0; i < 300; i++)
    {
      gsize n = seal (sealer, "msg", sealed);

      g_ptr_array_add (captured, g_bytes_new (sealed, n));
    }

  /* Arrivals: 0..99 in order, then 199 down to 100 (reordered within 128) */
  for (guint i = 0; i < 100; i++)
    {
      GBytes *b = g_ptr_array_index (captured, i);

      g_assert_cmpint (open_datagram (opener, g_bytes_get_data (b, NULL), g_bytes_get_size (b),
                                      NULL), ==, CONFAB_OPEN_OK);
    }
  for (guint i = 199; i >= 100; i--)
    {
      GBytes *b = g_ptr_array_index (captured, i);

      g_assert_cmpint (open_datagram (opener, g_bytes_get_data (b, NULL), g_bytes_get_size (b),
                                      NULL), ==, CONFAB_OPEN_OK);
    }

  /* Every one of them again: rejected, whether inside the window or behind it */
  for (guint i = 0; i < 200; i++)
    {
      GBytes *b = g_ptr_array_index (captured, i);

      g_assert_cmpint (open_datagram (opener, g_bytes_get_data (b, NULL), g_bytes_get_size (b),
                                      NULL), ==, CONFAB_OPEN_REPLAYED);
    }

  /* A jump ahead; one never seen 99 behind still opens, one 128 behind not */
  {
    GBytes *ahead = g_ptr_array_index (captured, 299);
    GBytes *within = g_ptr_array_index (captured, 200);
    GBytes *beyond = g_ptr_array_index (captured, 299 - CONFAB_CRYPTO_REPLAY_WINDOW);

    g_assert_cmpint (open_datagram (opener, g_bytes_get_data (ahead, NULL),
                                    g_bytes_get_size (ahead), NULL), ==, CONFAB_OPEN_OK);
    g_assert_cmpint (open_datagram (opener, g_bytes_get_data (within, NULL),
                                    g_bytes_get_size (within), NULL), ==, CONFAB_OPEN_OK);
    g_assert_cmpint (open_datagram (opener, g_bytes_get_data (beyond, NULL),
                                    g_bytes_get_size (beyond), NULL), ==, CONFAB_OPEN_REPLAYED);
  }
}

/* A replayed datagram from the sender's earlier run is refused once its new
 * run has been seen, and after the receiver restarts with what it kept.
 */
static void
test_replay_across_restarts (void)
{
  g_autoptr(ConfabSealer) first_run = confab_sealer_new (key_a, epoch (3000, 1));
  g_autoptr(ConfabSealer) second_run = confab_sealer_new (key_a, epoch (4000, 2));
  g_autoptr(ConfabOpener) opener = confab_opener_new (key_a, OWN_ID, 0);
  g_autoptr(ConfabOpener) restarted = NULL;
  guint8 old[CONFAB_WIRE_MAX_DATAGRAM], fresh[CONFAB_WIRE_MAX_DATAGRAM];
  guint8 later[CONFAB_WIRE_MAX_DATAGRAM];
  gsize old_n = seal (first_run, "old", old);
  gsize fresh_n, later_n;

  g_assert_cmpint (open_datagram (opener, old, old_n, NULL), ==, CONFAB_OPEN_OK);

  /* The sender restarts */
  fresh_n = seal (second_run, "fresh", fresh);
  g_assert_cmpint (open_datagram (opener, fresh, fresh_n, NULL), ==, CONFAB_OPEN_OK);
  g_assert_cmpint (open_datagram (opener, old, old_n, NULL), ==, CONFAB_OPEN_STALE);
  g_assert_cmpuint (confab_opener_get_newest (opener), ==, 4000);

  /* The receiver restarts, keeping only the newest epoch's time: that epoch
   * is closed too, since which of its counters were seen is forgotten.
   */
  restarted = confab_opener_new (key_a, OWN_ID, confab_opener_get_newest (opener));
  g_assert_cmpint (open_datagram (restarted, old, old_n, NULL), ==, CONFAB_OPEN_STALE);
  g_assert_cmpint (open_datagram (restarted, fresh, fresh_n, NULL), ==, CONFAB_OPEN_STALE);
  later_n = seal (second_run, "later", later);
  g_assert_cmpint (open_datagram (restarted, later, later_n, NULL), ==, CONFAB_OPEN_STALE);

  /* The sender, told, begins a new epoch, which is accepted. */
  {
    g_autoptr(ConfabSealer) third_run = confab_sealer_new (key_a, epoch (4001, 3));

    later_n = seal (third_run, "after the notice", later);
    g_assert_cmpint (open_datagram (restarted, later, later_n, NULL), ==, CONFAB_OPEN_OK);
  }
}

/* Nonces never repeat under one key: not within a run, not across runs. */
static void
test_nonces_unique (void)
{
  g_autoptr(GHashTable) nonces = g_hash_table_new_full (g_bytes_hash, g_bytes_equal,
                                                        (GDestroyNotify)g_bytes_unref, NULL);
  guint8 sealed[CONFAB_WIRE_MAX_DATAGRAM];
  guint64 last_time = 0;

  for (guint run = 0; run < 200; run++)
    {
      /* A run's epoch as the channel makes it: after the last, random part new */
      ConfabEpoch e = epoch (MAX ((guint64)g_get_real_time (), last_time + 1),
                             g_random_int () | ((guint64)g_random_int () << 32));
      g_autoptr(ConfabSealer) sealer = confab_sealer_new (key_a, e);

      last_time = e.time;
      for (guint i = 0; i < 500; i++)
        {
          gsize n = seal (sealer, "x", sealed);
          GBytes *nonce = g_bytes_new (sealed + 8, 24);

          g_assert_cmpuint (n, >, 32);
          g_assert_false (g_hash_table_contains (nonces, nonce));
          g_hash_table_add (nonces, nonce);
        }
    }

  g_assert_cmpuint (g_hash_table_size (nonces), ==, 200 * 500);
}

static gboolean
on_tick (gpointer data)
{
  (*(guint *)data)++;
  return G_SOURCE_CONTINUE;
}

static void
on_derived (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  ConfabKey **key = user_data;
  g_autoptr(GError) error = NULL;

  *key = confab_key_derive_finish (result, &error);
  g_assert_no_error (error);
}

static gboolean
is_set (gpointer data)
{
  return *(gpointer *)data != NULL;
}

/* The main loop keeps turning while the key is derived. */
static void
test_derive_async_does_not_block (void)
{
  ConfabKey *key = NULL;
  guint ticks = 0;
  guint id = g_timeout_add (5, on_tick, &ticks);
  gint64 start = g_get_monotonic_time ();
  gint64 elapsed;

  confab_key_derive_async ("correct horse battery staple", NULL, on_derived, &key);
  TEST_WAIT_UNTIL (is_set, &key);
  elapsed = g_get_monotonic_time () - start;
  g_source_remove (id);

  g_test_message ("derived in %" G_GINT64_FORMAT " ms, %u ticks of 5 ms meanwhile",
                  elapsed / 1000, ticks);
  /* Not a timing assertion: derivation takes many 5 ms ticks' time, and
   * the loop must have run during it.
   */
  g_assert_cmpuint (ticks, >=, 2);
  g_assert_cmpmem (confab_key_get_id (key), CONFAB_CRYPTO_KEY_ID_SIZE,
                   confab_key_get_id (key_a), CONFAB_CRYPTO_KEY_ID_SIZE);
  confab_key_unref (key);
}

int
main (int   argc,
      char *argv[])
{
  int result;

  g_test_init (&argc, &argv, NULL);
  g_assert_true (confab_crypto_init ());
  key_a = confab_key_derive ("correct horse battery staple", NULL);
  key_b = confab_key_derive ("correct horse battery stapler", NULL);
  g_assert_nonnull (key_a);
  g_assert_nonnull (key_b);

  g_test_add_func ("/crypto/same-passphrase-same-key", test_same_passphrase_same_key);
  g_test_add_func ("/crypto/empty-passphrase", test_empty_passphrase);
  g_test_add_func ("/crypto/round-trip", test_round_trip);
  g_test_add_func ("/crypto/wire-format", test_wire_format);
  g_test_add_func ("/crypto/other-key-forged", test_other_key_forged);
  g_test_add_func ("/crypto/reflected", test_reflected);
  g_test_add_func ("/crypto/every-bit-flipped", test_every_bit_flipped);
  g_test_add_func ("/crypto/bad-input", test_bad_input);
  g_test_add_func ("/crypto/replay-window", test_replay_window);
  g_test_add_func ("/crypto/replay-across-restarts", test_replay_across_restarts);
  g_test_add_func ("/crypto/nonces-unique", test_nonces_unique);
  g_test_add_func ("/crypto/derive-async-does-not-block", test_derive_async_does_not_block);

  result = g_test_run ();
  confab_key_unref (key_a);
  confab_key_unref (key_b);

  return result;
}
