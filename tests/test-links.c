/* test-links.c — links in message text, everything else literal
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include "confab-links.h"

static void
assert_markup (const char *text,
               const char *expected,
               gboolean    expected_links)
{
  gboolean has_links = !expected_links;
  g_autofree char *markup = confab_links_markup (text, &has_links);

  g_assert_cmpstr (markup, ==, expected);
  g_assert_cmpint (has_links, ==, expected_links);
}

static void
test_links (void)
{
  assert_markup ("see https://example.org/a?b=1&c=2.",
                 "see <a href=\"https://example.org/a?b=1&amp;c=2\">"
                 "https://example.org/a?b=1&amp;c=2</a>.", TRUE);
  assert_markup ("http://x.org, then mailto:ann@example.org!",
                 "<a href=\"http://x.org\">http://x.org</a>, then "
                 "<a href=\"mailto:ann@example.org\">mailto:ann@example.org</a>!", TRUE);
  assert_markup ("(see https://en.wikipedia.org/wiki/Foo_(bar))",
                 "(see <a href=\"https://en.wikipedia.org/wiki/Foo_(bar)\">"
                 "https://en.wikipedia.org/wiki/Foo_(bar)</a>)", TRUE);
  assert_markup ("https://a.org/\"><script>",
                 "<a href=\"https://a.org/\">https://a.org/</a>&quot;&gt;&lt;script&gt;", TRUE);
}

static void
test_not_links (void)
{
  assert_markup ("<b>bold</b> & 'quotes'", "&lt;b&gt;bold&lt;/b&gt; &amp; &apos;quotes&apos;",
                 FALSE);
  assert_markup ("javascript:alert(1) file:///etc/passwd ftp://x.org",
                 "javascript:alert(1) file:///etc/passwd ftp://x.org", FALSE);
  assert_markup ("just https:// alone", "just https:// alone", FALSE);
  assert_markup ("the http protocol <and> mailto: nobody",
                 "the http protocol &lt;and&gt; mailto: nobody", FALSE);
  assert_markup ("", "", FALSE);
  assert_markup ("grüße ✓ 🙂", "grüße ✓ 🙂", FALSE);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/links/links", test_links);
  g_test_add_func ("/links/not-links", test_not_links);

  return g_test_run ();
}
