/* confab-links.c — message text as Pango markup, with web and mail links
 *
 * Text from the network is never markup: everything is escaped, and only
 * http, https and mailto addresses become links.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <string.h>

#include "confab-links.h"

/* A link ends at white space or a character that cannot be in one; what
 * ends a sentence after it is not part of it.
 */
#define LINK_PATTERN "\\b(?:https?://|mailto:)[^\\s<>\"]+"

static gsize
trim_trailing (const char *link,
               gsize       length)
{
  while (length > 0)
    {
      char last = link[length - 1];
      gsize opened = 0, closed = 0;

      if (strchr (".,;:!?'", last) != NULL)
        {
          length--;
          continue;
        }

      /* "(see https://example.org/a)": the bracket is the sentence's */
      if (last == ')')
        {
          for (gsize i = 0; i < length; i++)
            {
              opened += link[i] == '(';
              closed += link[i] == ')';
            }
          if (closed > opened)
            {
              length--;
              continue;
            }
        }

      break;
    }

  return length;
}

static void
append_escaped (GString    *markup,
                const char *text,
                gssize      length)
{
  g_autofree char *escaped = g_markup_escape_text (text, length);

  g_string_append (markup, escaped);
}

/**
 * confab_links_markup:
 * @text: a message's text, valid UTF-8
 * @has_links: (out) (optional): whether any link was made
 *
 * Returns: (transfer full): Pango markup showing @text as it is, with
 *   http, https and mailto addresses as links
 */
char *
confab_links_markup (const char *text,
                     gboolean   *has_links)
{
  static GRegex *regex;
  g_autoptr(GMatchInfo) match = NULL;
  GString *markup = g_string_new (NULL);
  gsize done = 0;
  gboolean any = FALSE;

  g_return_val_if_fail (text != NULL, NULL);

  /* Most text has no link: the pattern is run (and first compiled) only
   * over text that may hold one.
   */
  if (strstr (text, "http") == NULL && strstr (text, "mailto:") == NULL)
    {
      if (has_links != NULL)
        *has_links = FALSE;
      return g_markup_escape_text (text, -1);
    }

  if (g_once_init_enter (&regex))
    g_once_init_leave (&regex, g_regex_new (LINK_PATTERN, G_REGEX_OPTIMIZE, 0, NULL));

  g_regex_match (regex, text, 0, &match);
  while (g_match_info_matches (match))
    {
      int start, end;
      gsize length;

      g_match_info_fetch_pos (match, 0, &start, &end);
      length = trim_trailing (text + start, end - start);

      /* "https://" alone is no address. */
      if (strchr (text + start, ':') != NULL &&
          length > (gsize)(strchr (text + start, ':') - (text + start)) + 3)
        {
          g_autofree char *link = g_strndup (text + start, length);

          append_escaped (markup, text + done, start - done);
          g_string_append (markup, "<a href=\"");
          append_escaped (markup, link, -1);
          g_string_append (markup, "\">");
          append_escaped (markup, link, -1);
          g_string_append (markup, "</a>");
          done = start + length;
          any = TRUE;
        }

      g_match_info_next (match, NULL);
    }

  append_escaped (markup, text + done, -1);

  if (has_links != NULL)
    *has_links = any;

  return g_string_free (markup, FALSE);
}
