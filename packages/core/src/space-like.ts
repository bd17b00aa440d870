/**
 * The one list of characters that are not ASCII yet print as a space or as nothing, or reorder
 * or break the text around them: every non-ASCII Unicode White_Space character (NEL, no-break
 * space, OGHAM SPACE MARK, the U+2000–U+200A spaces, line and paragraph separators, narrow
 * no-break, medium mathematical and ideographic spaces), every Default_Ignorable_Code_Point
 * (soft hyphen, zero-width spaces and joiners, LRM/RLM/ALM, bidi embeddings, overrides and
 * isolates, word joiner, Hangul fillers, variation selectors, BOM, tag characters…), and the
 * blank braille pattern U+2800, which prints as a blank but is neither.
 *
 * Printed raw in a caller's string (a container name), each lets one name pass for another
 * (`web\u200b` as `web`) or a name pass for several words or columns (`web\u2003(contid 5)`).
 * Two copies of this list disagreed (escapeText lacked the U+2000 block and the ideographic
 * space that search's separator line escaped); escapeText and the audit formats now both
 * build their classes from this one.
 *
 * The body of a regular expression character class, for a pattern with the `u` flag (the
 * property escapes and the tag characters above U+FFFF need it).
 */
export const SPACE_LIKE_CLASS =
  '\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\p{Default_Ignorable_Code_Point}\\u2800';
