/* test-utf8.c — text validation: the same answer as GLib's, faster for ASCII
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <string.h>

#include "confab-utf8.h"

static void
assert_same (const char *text,
             gsize       length)
{
  gboolean expected = g_utf8_validate_len (text, length, NULL);

  if (confab_utf8_validate (text, length) != expected)
    {
      g_autofree char *hex = g_malloc (2 * length + 1);

      for (gsize i = 0; i < length; i++)
        g_snprintf (hex + 2 * i, 3, "%02x", (guint8)text[i]);
      g_error ("confab_utf8_validate() disagrees with GLib (%s) on %s",
               expected ? "valid" : "invalid", hex);
    }
}

static void
assert_valid (const char *text)
{
  g_assert_true (confab_utf8_validate (text, strlen (text)));
}

static void
test_examples (void)
{
  g_assert_true (confab_utf8_validate ("", 0));
  g_assert_true (confab_utf8_validate ("hello", 5));
  assert_valid ("a long line of plain ASCII text, past a word");
  assert_valid ("Grüße, 世界 🙂");
  assert_valid ("plain ASCII, then é");
  /* Only the length counts: what follows is not looked at. */
  g_assert_true (confab_utf8_validate ("ab\xff", 2));

  /* A NUL byte, in the first word, a later word and the tail */
  g_assert_false (confab_utf8_validate ("a\0b", 3));
  g_assert_false (confab_utf8_validate ("abcdefghij\0klmnopq", 18));
  g_assert_false (confab_utf8_validate ("abcdefgh\0", 9));
  /* Not UTF-8: a lone continuation, an overlong form, a surrogate, a
   * character cut short at the end, past the largest code point
   */
  g_assert_false (confab_utf8_validate ("abcdefgh\x80", 9));
  g_assert_false (confab_utf8_validate ("\xc0\xaf", 2));
  g_assert_false (confab_utf8_validate ("abcdefghijk\xed\xa0\x80", 14));
  g_assert_false (confab_utf8_validate ("abcdefghijklmno\xe4\xb8", 17));
  g_assert_false (confab_utf8_validate ("\xf4\x90\x80\x80", 4));
}

/* Every position of one odd byte in lines of every length around the
 * 8-byte words the ASCII scan reads
 */
static void
test_every_position (void)
{
  static const char odd[] = { '\0', '\x7f', '\x80', '\xc3', '\xff', '\x01' };

  for (gsize length = 1; length <= 40; length++)
    for (gsize at = 0; at < length; at++)
      for (guint k = 0; k < G_N_ELEMENTS (odd); k++)
        {
          char line[40];

          memset (line, 'x', length);
          line[at] = odd[k];
          assert_same (line, length);
        }
}

/* Random lines, mostly ASCII with now and then a multi-byte character or
 * a stray byte, each checked against GLib (fixed seed)
 */
static void
test_against_glib (void)
{
  static const char *const pieces[] = {
    "é", "世", "🙂", "\x80", "\xc3", "\xe4\xb8", "\xed\xa0\x80", "\xf0\x9f", "\0", "\xf5\x80\x80\x80",
  };
  g_autoptr(GRand) rand = g_rand_new_with_seed (20261208);

  for (guint n = 0; n < 20000; n++)
    {
      char line[128];
      gsize length = 0;
      gsize want = g_rand_int_range (rand, 0, 100);

      while (length < want)
        {
          if (g_rand_int_range (rand, 0, 20) == 0)
            {
              const char *piece = pieces[g_rand_int_range (rand, 0, G_N_ELEMENTS (pieces))];
              gsize size = piece[0] == '\0' ? 1 : strlen (piece);

              memcpy (line + length, piece, size);
              length += size;
            }
          else
            line[length++] = (char)g_rand_int_range (rand, 1, 128);
        }
      assert_same (line, length);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/utf8/examples", test_examples);
  g_test_add_func ("/utf8/every-position", test_every_position);
  g_test_add_func ("/utf8/against-glib", test_against_glib);

  return g_test_run ();
}
