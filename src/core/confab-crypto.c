/* confab-crypto.c — passphrase -> key, seal/open datagrams (libsodium)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define G_LOG_DOMAIN "confab-crypto"

#include "config.h"

#include <glib/gi18n-lib.h>
#include <sodium.h>

#include "confab-crypto.h"
#include "confab-wire.h"

G_STATIC_ASSERT (CONFAB_CRYPTO_OVERHEAD == CONFAB_WIRE_SEAL_ROOM);
G_STATIC_ASSERT (CONFAB_CRYPTO_TAG_SIZE == crypto_aead_xchacha20poly1305_ietf_ABYTES);
G_STATIC_ASSERT (CONFAB_CRYPTO_HEADER_SIZE - 8 ==
                 crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
G_STATIC_ASSERT (crypto_core_hchacha20_INPUTBYTES == 16 &&
                 crypto_aead_chacha20poly1305_ietf_NPUBBYTES == 12);

#define VERSION 1
#define REPLAY_WORDS (CONFAB_CRYPTO_REPLAY_WINDOW / 64)

static const guint8 sealed_magic[4] = { 0xFF, 'C', 'F', 'S' };

/* Both sides must derive the same key from the passphrase alone, so the
 * salt is a constant of the protocol (docs/protocol.md §11.1).
 */
static const char salt_source[] = "io.github.confab.Confab passphrase salt v1";

struct _ConfabKey
{
  gatomicrefcount ref;
  /* In memory that is locked and guarded (sodium_malloc) */
  guint8         *aead;
  guint8          id[CONFAB_CRYPTO_KEY_ID_SIZE];
  guint64         safety;
};

struct _ConfabSealer
{
  ConfabKey   *key;
  ConfabEpoch  epoch;
  guint64      counter;
  guint8      *subkey;
};

struct _ConfabOpener
{
  ConfabKey   *key;
  guint64      own_id;
  guint64      closed_until;
  gboolean     has_epoch;
  ConfabEpoch  epoch;
  guint64      highest;
  /* Bit i of the window: counter highest - i has been seen. */
  guint64      seen[REPLAY_WORDS];
  /* The subkey of the last epoch a datagram was authentic in */
  guint8      *subkey;
  ConfabEpoch  subkey_epoch;
  gboolean     has_subkey;
};

/**
 * confab_crypto_init:
 *
 * Returns: %FALSE if libsodium cannot be used on this machine
 */
gboolean
confab_crypto_init (void)
{
  return sodium_init () >= 0;
}

/**
 * confab_crypto_is_sealed:
 *
 * Returns: %TRUE if @data starts as a sealed datagram does
 */
gboolean
confab_crypto_is_sealed (const guint8 *data,
                         gsize         length)
{
  return length >= sizeof sealed_magic && memcmp (data, sealed_magic, sizeof sealed_magic) == 0;
}

static void
write_u64 (guint8  *p,
           guint64  value)
{
  for (int i = 7; i >= 0; i--, value >>= 8)
    p[i] = value & 0xff;
}

static guint64
read_u64 (const guint8 *p)
{
  guint64 value = 0;

  for (int i = 0; i < 8; i++)
    value = (value << 8) | p[i];

  return value;
}

/* A sealed datagram's header (docs/protocol.md §11.2) */
static void
write_header (guint8      *out,
              ConfabEpoch  epoch,
              guint64      counter)
{
  memcpy (out, sealed_magic, sizeof sealed_magic);
  out[4] = VERSION;
  out[5] = out[6] = out[7] = 0;
  write_u64 (out + 8, epoch.time);
  write_u64 (out + 16, epoch.random);
  write_u64 (out + 24, counter);
}

/* Subkeys. XChaCha20-Poly1305 is ChaCha20-Poly1305 (IETF) under a subkey,
 * the HChaCha20 of the key and the nonce's first 16 bytes, with the nonce's
 * last 8 bytes behind four zero bytes. Those 16 are a datagram's epoch
 * (§11.2), the same all through a run: its subkey is made once rather than
 * for each datagram, which was a sixth of the cost of sealing 100 bytes.
 */
#define SUBKEY_SIZE crypto_core_hchacha20_OUTPUTBYTES

/* @header: a sealed datagram's */
static void
make_subkey (guint8       *subkey,
             const guint8 *header,
             const guint8 *key)
{
  crypto_core_hchacha20 (subkey, header + 8, key, NULL);
}

static void
make_short_nonce (guint8        nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES],
                  const guint8 *header)
{
  memset (nonce, 0, 4);
  memcpy (nonce + 4, header + 24, 8);
}

/* In memory that is locked and guarded, as the key is */
static guint8 *
subkey_new (void)
{
  guint8 *subkey = sodium_malloc (SUBKEY_SIZE);

  g_assert (subkey != NULL);
  return subkey;
}

/* Keys */

static ConfabKey *
key_new_from_master (const guint8 master[crypto_kdf_KEYBYTES])
{
  ConfabKey *key = g_new0 (ConfabKey, 1);
  guint8 safety[crypto_kdf_BYTES_MIN];

  g_atomic_ref_count_init (&key->ref);
  key->aead = sodium_malloc (crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
  g_assert (key->aead != NULL);

  /* One master key, separate subkeys: what is shown or stored reveals
   * nothing of the one that encrypts.
   */
  crypto_kdf_derive_from_key (key->aead, crypto_aead_xchacha20poly1305_ietf_KEYBYTES, 1,
                              "confab-m", master);
  crypto_kdf_derive_from_key (key->id, sizeof key->id, 2, "confab-i", master);
  crypto_kdf_derive_from_key (safety, sizeof safety, 3, "confab-s", master);
  key->safety = read_u64 (safety);
  sodium_memzero (safety, sizeof safety);
  sodium_mprotect_readonly (key->aead);

  return key;
}

/**
 * confab_key_derive:
 * @passphrase: UTF-8, not empty
 *
 * Argon2id at libsodium's interactive limits: about a tenth of a second
 * and 64 MiB. Blocks; the application calls confab_key_derive_async().
 *
 * Returns: (transfer full) (nullable): the key, or %NULL if there is not
 *   enough memory or the passphrase is empty
 */
ConfabKey *
confab_key_derive (const char  *passphrase,
                   GError     **error)
{
  g_autofree char *normal = NULL;
  guint8 salt[crypto_pwhash_SALTBYTES];
  guint8 *master;
  ConfabKey *key;

  g_return_val_if_fail (passphrase != NULL, NULL);
  g_return_val_if_fail (g_utf8_validate (passphrase, -1, NULL), NULL);

  if (!confab_crypto_init ())
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                           _("Encryption is not available on this computer"));
      return NULL;
    }

  /* The same words typed on two systems may differ in their Unicode form. */
  normal = g_utf8_normalize (passphrase, -1, G_NORMALIZE_NFC);
  if (normal == NULL || normal[0] == '\0')
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           _("The passphrase is empty"));
      return NULL;
    }

  crypto_generichash (salt, sizeof salt, (const guint8 *)salt_source, strlen (salt_source),
                      NULL, 0);
  master = sodium_malloc (crypto_kdf_KEYBYTES);
  g_assert (master != NULL);

  if (crypto_pwhash (master, crypto_kdf_KEYBYTES, normal, strlen (normal), salt,
                     crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE,
                     crypto_pwhash_ALG_ARGON2ID13) != 0)
    {
      sodium_memzero (normal, strlen (normal));
      sodium_free (master);
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE,
                           _("Not enough memory to derive the key from the passphrase"));
      return NULL;
    }

  sodium_memzero (normal, strlen (normal));
  key = key_new_from_master (master);
  sodium_free (master);

  return key;
}

static void
passphrase_free (gpointer data)
{
  char *passphrase = data;

  sodium_memzero (passphrase, strlen (passphrase));
  g_free (passphrase);
}

static void
derive_thread (GTask        *task,
               gpointer      source_object,
               gpointer      task_data,
               GCancellable *cancellable)
{
  GError *error = NULL;
  ConfabKey *key = confab_key_derive (task_data, &error);

  if (key != NULL)
    g_task_return_pointer (task, key, (GDestroyNotify)confab_key_unref);
  else
    g_task_return_error (task, error);
}

/**
 * confab_key_derive_async:
 *
 * Derives the key in a worker thread; the main loop goes on meanwhile.
 */
void
confab_key_derive_async (const char          *passphrase,
                         GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (passphrase != NULL);

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, confab_key_derive_async);
  g_task_set_task_data (task, g_strdup (passphrase), passphrase_free);
  g_task_run_in_thread (task, derive_thread);
}

ConfabKey *
confab_key_derive_finish (GAsyncResult  *result,
                          GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

ConfabKey *
confab_key_ref (ConfabKey *key)
{
  g_return_val_if_fail (key != NULL, NULL);

  g_atomic_ref_count_inc (&key->ref);
  return key;
}

void
confab_key_unref (ConfabKey *key)
{
  g_return_if_fail (key != NULL);

  if (!g_atomic_ref_count_dec (&key->ref))
    return;

  sodium_free (key->aead);
  sodium_memzero (key, sizeof *key);
  g_free (key);
}

/**
 * confab_key_get_id:
 *
 * Returns: %CONFAB_CRYPTO_KEY_ID_SIZE bytes that name the key (where replay
 *   state is kept) and reveal nothing of it
 */
const guint8 *
confab_key_get_id (ConfabKey *key)
{
  g_return_val_if_fail (key != NULL, NULL);

  return key->id;
}

/**
 * confab_key_get_safety_code:
 *
 * Returns: (transfer full): twelve digits in three groups, the same on both
 *   computers exactly when the passphrases match
 */
char *
confab_key_get_safety_code (ConfabKey *key)
{
  guint64 code;

  g_return_val_if_fail (key != NULL, NULL);

  code = key->safety % G_GUINT64_CONSTANT (1000000000000);
  return g_strdup_printf ("%04u %04u %04u", (guint)(code / 100000000),
                          (guint)(code / 10000 % 10000), (guint)(code % 10000));
}

/* Sealing */

/**
 * confab_sealer_new:
 * @epoch: this run's epoch: its time larger than any earlier run's
 *
 * Returns: (transfer full): a sealer; its counters start at 1
 */
ConfabSealer *
confab_sealer_new (ConfabKey   *key,
                   ConfabEpoch  epoch)
{
  guint8 header[CONFAB_CRYPTO_HEADER_SIZE];
  ConfabSealer *self;

  g_return_val_if_fail (key != NULL, NULL);
  g_return_val_if_fail (epoch.time != 0, NULL);

  self = g_new0 (ConfabSealer, 1);
  self->key = confab_key_ref (key);
  self->epoch = epoch;
  self->subkey = subkey_new ();
  write_header (header, epoch, 0);
  make_subkey (self->subkey, header, key->aead);

  return self;
}

void
confab_sealer_free (ConfabSealer *self)
{
  if (self == NULL)
    return;

  confab_key_unref (self->key);
  sodium_free (self->subkey);
  g_free (self);
}

ConfabEpoch
confab_sealer_get_epoch (ConfabSealer *self)
{
  return self->epoch;
}

/**
 * confab_sealer_seal:
 * @plain: one Confab datagram
 * @out: where the sealed datagram goes
 * @size: room in @out: at least @length + %CONFAB_CRYPTO_OVERHEAD
 *
 * Returns: the sealed datagram's length, or 0 if @out is too small
 */
gsize
confab_sealer_seal (ConfabSealer *self,
                    const guint8 *plain,
                    gsize         length,
                    guint8       *out,
                    gsize         size)
{
  unsigned long long sealed_length = 0;
  guint8 nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];

  g_return_val_if_fail (self != NULL, 0);
  g_return_val_if_fail (plain != NULL && out != NULL, 0);

  if (size < length + CONFAB_CRYPTO_OVERHEAD || plain == out)
    return 0;

  write_header (out, self->epoch, ++self->counter);
  make_short_nonce (nonce, out);
  crypto_aead_chacha20poly1305_ietf_encrypt (out + CONFAB_CRYPTO_HEADER_SIZE, &sealed_length,
                                             plain, length,
                                             out, CONFAB_CRYPTO_HEADER_SIZE,
                                             NULL, nonce, self->subkey);

  return CONFAB_CRYPTO_HEADER_SIZE + sealed_length;
}

/* Opening */

/**
 * confab_opener_new:
 * @own_id: this side's id (the random part of its epochs): datagrams with
 *   it are this side's own, sent back by someone
 * @closed_until: epochs whose time is at or below this are refused: the
 *   newest one this receiver accepted before it restarted, whose counters
 *   it no longer knows
 *
 * Returns: (transfer full): an opener for one peer
 */
ConfabOpener *
confab_opener_new (ConfabKey *key,
                   guint64    own_id,
                   guint64    closed_until)
{
  ConfabOpener *self;

  g_return_val_if_fail (key != NULL, NULL);

  self = g_new0 (ConfabOpener, 1);
  self->key = confab_key_ref (key);
  self->own_id = own_id;
  self->closed_until = closed_until;
  self->subkey = subkey_new ();

  return self;
}

void
confab_opener_free (ConfabOpener *self)
{
  if (self == NULL)
    return;

  confab_key_unref (self->key);
  sodium_free (self->subkey);
  g_free (self);
}

/**
 * confab_opener_get_newest:
 *
 * Returns: the time of the newest epoch accepted, or the closed time if
 *   none was: what to keep for the next run's confab_opener_new()
 */
guint64
confab_opener_get_newest (ConfabOpener *self)
{
  g_return_val_if_fail (self != NULL, 0);

  return self->has_epoch ? self->epoch.time : self->closed_until;
}

/**
 * confab_opener_has_epoch:
 *
 * Returns: %TRUE once an epoch of the peer has been accepted
 */
gboolean
confab_opener_has_epoch (ConfabOpener *self)
{
  g_return_val_if_fail (self != NULL, FALSE);

  return self->has_epoch;
}

static void
window_shift (ConfabOpener *self,
              guint64       by)
{
  if (by >= CONFAB_CRYPTO_REPLAY_WINDOW)
    {
      memset (self->seen, 0, sizeof self->seen);
      return;
    }

  for (; by >= 64; by -= 64)
    {
      for (guint i = REPLAY_WORDS - 1; i > 0; i--)
        self->seen[i] = self->seen[i - 1];
      self->seen[0] = 0;
    }

  if (by == 0)
    return;

  for (guint i = REPLAY_WORDS - 1; i > 0; i--)
    self->seen[i] = (self->seen[i] << by) | (self->seen[i - 1] >> (64 - by));
  self->seen[0] <<= by;
}

/* The replay decision for an authentic datagram; the window moves only here. */
static ConfabOpenResult
accept_counter (ConfabOpener *self,
                ConfabEpoch   epoch,
                guint64       counter)
{
  guint64 behind;

  /* Both sides seal under one key: only the id tells whose a datagram is. */
  if (epoch.random == self->own_id)
    return CONFAB_OPEN_REFLECTED;

  if (epoch.time <= self->closed_until)
    return CONFAB_OPEN_STALE;

  if (!self->has_epoch || epoch.time > self->epoch.time)
    {
      /* The peer began a new run: the old one is over. */
      self->has_epoch = TRUE;
      self->epoch = epoch;
      self->highest = counter;
      memset (self->seen, 0, sizeof self->seen);
      self->seen[0] = 1;
      return CONFAB_OPEN_OK;
    }

  if (epoch.time < self->epoch.time || epoch.random != self->epoch.random)
    return CONFAB_OPEN_STALE;

  if (counter > self->highest)
    {
      window_shift (self, counter - self->highest);
      self->highest = counter;
      self->seen[0] |= 1;
      return CONFAB_OPEN_OK;
    }

  behind = self->highest - counter;
  if (behind >= CONFAB_CRYPTO_REPLAY_WINDOW)
    return CONFAB_OPEN_REPLAYED;
  if (self->seen[behind / 64] & (G_GUINT64_CONSTANT (1) << (behind % 64)))
    return CONFAB_OPEN_REPLAYED;

  self->seen[behind / 64] |= G_GUINT64_CONSTANT (1) << (behind % 64);
  return CONFAB_OPEN_OK;
}

/**
 * confab_opener_open:
 * @data: a datagram from the peer
 * @out: where the inner datagram goes
 * @size: room in @out: at least @length - %CONFAB_CRYPTO_OVERHEAD
 * @out_length: (out): the inner datagram's length, when %CONFAB_OPEN_OK
 *
 * Costs one authentication of at most %CONFAB_WIRE_MAX_DATAGRAM bytes,
 * whatever @data holds. Nothing about the peer changes unless the datagram
 * is authentic.
 */
ConfabOpenResult
confab_opener_open (ConfabOpener *self,
                    const guint8 *data,
                    gsize         length,
                    guint8       *out,
                    gsize         size,
                    gsize        *out_length)
{
  unsigned long long plain_length = 0;
  guint8 nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
  guint8 fresh[SUBKEY_SIZE];
  const guint8 *subkey;
  ConfabEpoch epoch;
  guint64 counter;
  int rc;

  g_return_val_if_fail (self != NULL, CONFAB_OPEN_MALFORMED);
  g_return_val_if_fail (out_length != NULL, CONFAB_OPEN_MALFORMED);

  if (!confab_crypto_is_sealed (data, length))
    return CONFAB_OPEN_NOT_SEALED;

  if (length <= CONFAB_CRYPTO_OVERHEAD || length > CONFAB_WIRE_MAX_DATAGRAM ||
      data[4] != VERSION || data[5] != 0 || data[6] != 0 || data[7] != 0)
    return CONFAB_OPEN_MALFORMED;

  epoch.time = read_u64 (data + 8);
  epoch.random = read_u64 (data + 16);
  counter = read_u64 (data + 24);
  if (epoch.time == 0 || counter == 0 || size < length - CONFAB_CRYPTO_OVERHEAD)
    return CONFAB_OPEN_MALFORMED;

  /* The subkey kept is only ever one of an epoch seen authentic: forged
   * datagrams cannot make it change.
   */
  subkey = self->subkey;
  if (!self->has_subkey || self->subkey_epoch.time != epoch.time ||
      self->subkey_epoch.random != epoch.random)
    {
      make_subkey (fresh, data, self->key->aead);
      subkey = fresh;
    }
  make_short_nonce (nonce, data);
  rc = crypto_aead_chacha20poly1305_ietf_decrypt (out, &plain_length, NULL,
                                                  data + CONFAB_CRYPTO_HEADER_SIZE,
                                                  length - CONFAB_CRYPTO_HEADER_SIZE,
                                                  data, CONFAB_CRYPTO_HEADER_SIZE,
                                                  nonce, subkey);
  if (rc == 0 && subkey == fresh)
    {
      memcpy (self->subkey, fresh, SUBKEY_SIZE);
      self->subkey_epoch = epoch;
      self->has_subkey = TRUE;
    }
  sodium_memzero (fresh, sizeof fresh);
  if (rc != 0)
    return CONFAB_OPEN_FORGED;

  *out_length = plain_length;
  return accept_counter (self, epoch, counter);
}

/* What a run keeps for the next (docs/protocol.md §11.4) */

static char *
peer_group (ConfabKey *key)
{
  g_autofree char *id = g_malloc (CONFAB_CRYPTO_KEY_ID_SIZE * 2 + 1);

  sodium_bin2hex (id, CONFAB_CRYPTO_KEY_ID_SIZE * 2 + 1, key->id, sizeof key->id);
  return g_strconcat ("peer-", id, NULL);
}

/**
 * confab_crypto_state_load:
 * @path: the state file; a missing or unreadable one is an empty state
 * @own_id: (out): this side's id, or 0 if none was kept
 * @own: (out): the last epoch time this side used, or 0
 * @peer_closed: (out): the newest epoch time of the peer accepted under
 *   @key, or 0
 */
void
confab_crypto_state_load (const char *path,
                          ConfabKey  *key,
                          guint64    *own_id,
                          guint64    *own,
                          guint64    *peer_closed)
{
  g_autoptr(GKeyFile) file = g_key_file_new ();
  g_autofree char *group = peer_group (key);

  *own_id = *own = *peer_closed = 0;
  if (!g_key_file_load_from_file (file, path, G_KEY_FILE_NONE, NULL))
    return;

  *own_id = g_key_file_get_uint64 (file, "own", "id", NULL);
  *own = g_key_file_get_uint64 (file, "own", "last-epoch", NULL);
  *peer_closed = g_key_file_get_uint64 (file, group, "closed-until", NULL);
}

/**
 * confab_crypto_state_save:
 * @own_id: this side's id, or 0 to leave it
 * @own: the epoch time this side seals under now, or 0 to leave it
 * @peer_closed: the newest epoch time of the peer accepted, or 0 to leave it
 *
 * Returns: %FALSE if the file could not be written
 */
gboolean
confab_crypto_state_save (const char  *path,
                          ConfabKey   *key,
                          guint64      own_id,
                          guint64      own,
                          guint64      peer_closed,
                          GError     **error)
{
  g_autoptr(GKeyFile) file = g_key_file_new ();
  g_autofree char *group = peer_group (key);
  g_autofree char *dir = g_path_get_dirname (path);

  g_key_file_load_from_file (file, path, G_KEY_FILE_KEEP_COMMENTS, NULL);
  if (own_id != 0)
    g_key_file_set_uint64 (file, "own", "id", own_id);
  if (own != 0)
    g_key_file_set_uint64 (file, "own", "last-epoch", own);
  if (peer_closed != 0)
    g_key_file_set_uint64 (file, group, "closed-until", peer_closed);

  g_mkdir_with_parents (dir, 0700);
  return g_key_file_save_to_file (file, path, error);
}
