/**
 * The columns text takes on a terminal, for padding tables and counting
 * wrapped rows: East Asian wide and fullwidth characters (CJK, kana,
 * Hangul, emoji) take two, combining marks and other zero-width ones
 * none, the rest one (as POSIX wcwidth counts). An emoji sequence Unicode
 * recommends (a ZWJ family, a flag, a keycap) takes two in all, as a
 * terminal that draws it as one emoji shows it; one that draws its parts
 * gives it more, and an ambiguous-width character (Greek, box drawing)
 * may take two in an East Asian locale: the edges where terminals differ.
 *
 * @module
 */

/**
 * Characters of East Asian width W or F (Unicode's EastAsianWidth.txt)
 * that are not emoji: those are `\p{Emoji_Presentation}`, all W.
 */
const WIDE_RANGES = [
  "\u1100-\u115f", // Hangul leading consonants
  "\u2329\u232a", // angle brackets
  "\u2e80-\u303e", // CJK radicals, ideographic description, CJK punctuation
  "\u3041-\u3247", // kana, Bopomofo, Hangul compatibility jamo, kanbun, …
  "\u3250-\u4dbf", // enclosed CJK, CJK compatibility, CJK extension A
  "\u4e00-\ua4cf", // CJK unified ideographs, Yi
  "\ua960-\ua97f", // Hangul jamo extended-A
  "\uac00-\ud7a3", // Hangul syllables
  "\uf900-\ufaff", // CJK compatibility ideographs
  "\ufe10-\ufe19", // vertical forms
  "\ufe30-\ufe6f", // CJK compatibility forms, small form variants
  "\uff00-\uff60", // fullwidth forms
  "\uffe0-\uffe6", // fullwidth signs
  "\u{16fe0}-\u{16fff}", // ideographic symbols
  "\u{17000}-\u{18d8f}", // Tangut, Khitan
  "\u{1aff0}-\u{1b2ff}", // kana supplement and extensions, Nüshu
  "\u{1f200}-\u{1f2ff}", // enclosed ideographic supplement
  "\u{20000}-\u{2fffd}", // CJK extensions B to F, compatibility supplement
  "\u{30000}-\u{3fffd}", // CJK extensions G and later
].join("");

const WIDE = new RegExp(`[${WIDE_RANGES}\\p{Emoji_Presentation}]`, "u");

/**
 * Characters that take no column: combining marks, format characters
 * (ZWJ, ZWNJ, tags), and the vowels and final consonants that join a
 * Hangul syllable written as jamo.
 */
const ZERO = /[\p{Mn}\p{Me}\p{Cf}\u1160-\u11ff\ud7b0-\ud7ff]/u;

/**
 * The pieces a terminal lays out one by one: an emoji sequence Unicode
 * recommends (`\p{RGI_Emoji}`: a ZWJ sequence, a flag, a keycap, an emoji
 * with its variation selector) whole, anything else a code point at a
 * time.
 */
const PIECES = /\p{RGI_Emoji}|[\s\S]/gv;

/** The columns one piece of {@linkcode PIECES} takes. */
function pieceWidth(piece: string): number {
  if (piece.length > 1 && /^\p{RGI_Emoji}$/v.test(piece)) return 2;
  // A combining mark first: some lie in wide blocks (kana voiced marks)
  return ZERO.test(piece) ? 0 : WIDE.test(piece) ? 2 : 1;
}

/** The columns `text` (one line, no escape sequences) takes on a terminal. */
export function textWidth(text: string): number {
  let width = 0;
  for (const [piece] of text.matchAll(PIECES)) width += pieceWidth(piece);
  return width;
}

/**
 * The rows `line` (no escape sequences) takes on a terminal `columns`
 * wide: it wraps where the next character does not fit, so a wide one
 * left one column at a row's end starts the next row.
 */
export function wrappedRows(line: string, columns: number): number {
  let rows = 1;
  let column = 0;
  for (const [piece] of line.matchAll(PIECES)) {
    const width = pieceWidth(piece);
    if (column + width > columns) {
      rows++;
      column = 0;
    }
    column += width;
  }
  return rows;
}
