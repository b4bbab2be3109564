/* confab-crypto.h — passphrase -> key, seal/open datagrams (libsodium)
 *
 * The format and the threat model are docs/protocol.md §11. A sealed
 * datagram wraps one Confab datagram: a 32-byte header that is also the
 * nonce's source and the associated data, then the inner datagram encrypted
 * with XChaCha20-Poly1305 and its 16-byte tag.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define CONFAB_CRYPTO_HEADER_SIZE  32
#define CONFAB_CRYPTO_TAG_SIZE     16
#define CONFAB_CRYPTO_OVERHEAD     (CONFAB_CRYPTO_HEADER_SIZE + CONFAB_CRYPTO_TAG_SIZE)
#define CONFAB_CRYPTO_KEY_ID_SIZE  16
/* Receivers remember this many counters below the highest of an epoch. */
#define CONFAB_CRYPTO_REPLAY_WINDOW 128

/* A sender's run: when it began (µs on the sender's clock, larger than any
 * earlier run's) and the sender's id, a random number it keeps for good.
 * Each datagram's nonce is the epoch and a counter.
 */
typedef struct
{
  guint64 time;
  guint64 random;
} ConfabEpoch;

typedef enum
{
  CONFAB_OPEN_OK,
  CONFAB_OPEN_NOT_SEALED,  /* no sealed-datagram magic: plain Confab or plain text */
  CONFAB_OPEN_MALFORMED,   /* magic, but too short, too long or a bad version */
  CONFAB_OPEN_FORGED,      /* fails authentication: another key, or changed on the way */
  CONFAB_OPEN_REPLAYED,    /* authentic, but seen before or too far behind */
  CONFAB_OPEN_STALE,       /* authentic, from an epoch this receiver has closed */
  CONFAB_OPEN_REFLECTED,   /* authentic, but sealed by this side: sent back to it */
} ConfabOpenResult;

typedef struct _ConfabKey ConfabKey;
typedef struct _ConfabSealer ConfabSealer;
typedef struct _ConfabOpener ConfabOpener;

gboolean          confab_crypto_init              (void);
gboolean          confab_crypto_is_sealed         (const guint8        *data,
                                                   gsize                length);

ConfabKey        *confab_key_derive               (const char          *passphrase,
                                                   GError             **error);
void              confab_key_derive_async         (const char          *passphrase,
                                                   GCancellable        *cancellable,
                                                   GAsyncReadyCallback  callback,
                                                   gpointer             user_data);
ConfabKey        *confab_key_derive_finish        (GAsyncResult        *result,
                                                   GError             **error);
ConfabKey        *confab_key_ref                  (ConfabKey           *key);
void              confab_key_unref                (ConfabKey           *key);
const guint8     *confab_key_get_id               (ConfabKey           *key);
char             *confab_key_get_safety_code      (ConfabKey           *key);

ConfabSealer     *confab_sealer_new               (ConfabKey           *key,
                                                   ConfabEpoch          epoch);
void              confab_sealer_free              (ConfabSealer        *self);
ConfabEpoch       confab_sealer_get_epoch         (ConfabSealer        *self);
gsize             confab_sealer_seal              (ConfabSealer        *self,
                                                   const guint8        *plain,
                                                   gsize                length,
                                                   guint8              *out,
                                                   gsize                size);

ConfabOpener     *confab_opener_new               (ConfabKey           *key,
                                                   guint64              own_id,
                                                   guint64              closed_until);
void              confab_opener_free              (ConfabOpener        *self);
guint64           confab_opener_get_newest        (ConfabOpener        *self);
gboolean          confab_opener_has_epoch         (ConfabOpener        *self);
ConfabOpenResult  confab_opener_open              (ConfabOpener        *self,
                                                   const guint8        *data,
                                                   gsize                length,
                                                   guint8              *out,
                                                   gsize                size,
                                                   gsize               *out_length);

void              confab_crypto_state_load        (const char          *path,
                                                   ConfabKey           *key,
                                                   guint64             *own_id,
                                                   guint64             *own,
                                                   guint64             *peer_closed);
gboolean          confab_crypto_state_save        (const char          *path,
                                                   ConfabKey           *key,
                                                   guint64              own_id,
                                                   guint64              own,
                                                   guint64              peer_closed,
                                                   GError             **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ConfabKey, confab_key_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ConfabSealer, confab_sealer_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ConfabOpener, confab_opener_free)

G_END_DECLS
