/**
 * Output helpers shared by the CLI's commands: errors with exit codes,
 * colour only on a terminal, aligned tables, JSON for scripts.
 *
 * @module
 */

import { textWidth } from "./text_width.ts";

/** A failure the CLI reports as one line on stderr, with exit code 1. */
export class CliError extends Error {
  override name = "CliError";
  /** The process exit code: 1 for failures, 2 for usage errors. */
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** A usage error (bad arguments): exit code 2. */
export class UsageError extends CliError {
  override name = "UsageError";
  constructor(message: string) {
    super(message, 2);
  }
}

/** The standard streams colour may go to. */
type Stream = "stdout" | "stderr";

function isTty(stream: Stream): boolean {
  try {
    return Deno[stream].isTerminal() && !Deno.env.get("NO_COLOR");
  } catch {
    return false;
  }
}

const colourOn: Partial<Record<Stream, boolean>> = {};

/**
 * Whether colour is used on `stream` (default stdout): only when it is a
 * terminal and NO_COLOR is unset.
 */
export function useColour(stream: Stream = "stdout"): boolean {
  colourOn[stream] ??= isTty(stream);
  return colourOn[stream];
}

/** Forces colour on or off on both streams (tests). */
export function setColour(on: boolean | undefined): void {
  colourOn.stdout = colourOn.stderr = on;
}

/** Colour helpers: each wraps its text in a colour, or leaves it plain. */
type Colours = Record<
  "bold" | "dim" | "red" | "green" | "yellow" | "blue" | "cyan",
  (s: string) => string
>;

function palette(stream: Stream): Colours {
  const sgr = (code: string) => (s: string) =>
    useColour(stream) ? `\x1b[${code}m${s}\x1b[0m` : s;
  return {
    bold: sgr("1"),
    dim: sgr("2"),
    red: sgr("31"),
    green: sgr("32"),
    yellow: sgr("33"),
    blue: sgr("34"),
    cyan: sgr("36"),
  };
}

/** Colour helpers for stdout; plain text when it is not a terminal. */
export const c: Colours = palette("stdout");

/**
 * Colour helpers for stderr (errors, warnings, progress); plain text when
 * it is not a terminal, whatever stdout is.
 */
export const cErr: Colours = palette("stderr");

/** Strips ANSI colour sequences (for width computations). */
export function stripAnsi(s: string): string {
  // deno-lint-ignore no-control-regex
  return s.replace(/\x1b\[[0-9;]*m/g, "");
}

/**
 * `s` from a file or another process (a DLL, function or process name, a
 * path) made safe to print: what could drive the terminal or make the name
 * pass for another is written as an escape. Control characters (C0, DEL,
 * C1) as `\xNN`; format characters (bidi controls such as U+202E, which
 * shows what follows backwards, zero-width ones, U+FEFF), the other
 * characters Unicode says to draw as nothing (default ignorable: the
 * Hangul fillers, a combining grapheme joiner, variation selectors), line
 * and paragraph separators, and surrogates without a pair (a Windows name
 * is UTF-16 that need not be well formed) as `\uXXXX` (`\u{X…}` above the
 * BMP), but for a zero-width joiner or non-joiner inside a word of a
 * script that writes one (Persian, Indic scripts, emoji sequences), a
 * variation selector after the emoji, ideograph or letter it selects a
 * form of, and the tag characters of the flags Unicode recommends
 * (England, Scotland, Wales), which stay: a name shown must still copy,
 * and these show as part of what they join. A name from Windows is UTF-16: a C1 code point in it
 * is a control there too; one pe/ reads from a file is an ANSI byte
 * (0x80-0x9f), whose character depends on the code page, so its value is
 * what is shown.
 */
export function shown(s: string): string {
  return s.replace(UNSAFE, (ch, at: number) => {
    // (more than one character: a flag's tags, matched whole)
    if (ch.length > 2 || joinsWord(s, at) || selectsForm(s, at)) return ch;
    const cp = ch.codePointAt(0)!;
    const hex = cp.toString(16);
    return cp <= 0xff
      ? `\\x${hex.padStart(2, "0")}`
      : cp <= 0xffff
      ? `\\u${hex.padStart(4, "0")}`
      : `\\u{${hex}}`;
  });
}

/** `text` in tag characters (U+E0020..U+E007E), which spell a flag's region. */
function tags(text: string): string {
  return [...text].map((ch) => String.fromCodePoint(0xe0000 + ch.charCodeAt(0)))
    .join("");
}

/**
 * The tags, cancel tag included, of the flag sequences Unicode recommends
 * (RGI): a waving black flag, then England's, Scotland's or Wales's
 * region. Fonts draw these as the region's flag. Any other tag sequence
 * is drawn, at best, as the plain black flag, the text its tags spell
 * unseen (two names would look the same), and a tag anywhere else hides
 * the text it spells: those are escaped.
 */
const FLAG_TAGS = new RegExp(
  `(?<=\u{1f3f4})(?:${
    ["gbeng", "gbsct", "gbwls"].map(tags).join("|")
  })\u{e007f}`,
  "u",
);

/**
 * What Unicode says to draw as nothing where it is not supported
 * (Default_Ignorable_Code_Point): the format characters, and letters and
 * marks such as the Hangul fillers (drawn as nothing or as a blank), the
 * combining grapheme joiner, the Khmer inherent vowels and the variation
 * selectors. Any of them makes one name pass for another.
 */
const IGNORABLE = "\\p{Default_Ignorable_Code_Point}";

/**
 * What {@linkcode shown} escapes, one character at a time, but for the
 * tags of a {@linkcode FLAG_TAGS} flag, matched whole to be kept.
 */
const UNSAFE = new RegExp(
  `${FLAG_TAGS.source}|[\\p{Cc}\\p{Cf}\\p{Zl}\\p{Zp}\\p{Cs}${IGNORABLE}]`,
  "gu",
);

/**
 * Whether the character at `at` in `s` is a zero-width joiner or
 * non-joiner inside a word of a script that writes it (Persian, Indic
 * scripts, emoji sequences): there it is part of the name, to copy as it
 * is. Beside ASCII, at an end or beside another escape, it only disguises
 * one.
 */
function joinsWord(s: string, at: number): boolean {
  // (a combining grapheme joiner too: before a mark it keeps the marks'
  // order; elsewhere it changes nothing that shows)
  if (!/^[\u200c\u200d\u034f]$/.test(s[at])) return false;
  const after = s.codePointAt(at + 1) ?? 0;
  if (s[at] === "\u034f" && !/\p{M}/u.test(String.fromCodePoint(after))) {
    return false;
  }
  return [codePointBefore(s, at), after].every(inWord);
}

/** The code point that ends before `at` (a pair of surrogates is one). */
function codePointBefore(s: string, at: number): number {
  const low = /[\udc00-\udfff]/.test(s[at - 1] ?? "");
  return s.codePointAt(at - (low ? 2 : 1)) ?? 0;
}

/** A letter, mark or symbol beyond ASCII: what a joiner or selector acts on. */
function inWord(cp: number): boolean {
  return cp > 0x7f && /[\p{L}\p{M}\p{S}]/u.test(String.fromCodePoint(cp));
}

/**
 * Whether the character at `at` in `s` is a variation selector after what
 * it selects a form of: an emoji selector after an emoji (or a keycap's
 * digit, `#` or `*`), an ideographic one after an ideograph, a Mongolian
 * one after a Mongolian letter (its vowel separator between two), another
 * after a math symbol or a letter of a script that has such forms. After
 * anything else (a Latin letter, a mark, another selector) it selects
 * nothing and shows as nothing: `caf\u00e9\ufe0f.exe` would pass for
 * `caf\u00e9.exe`.
 */
function selectsForm(s: string, at: number): boolean {
  const cp = s.codePointAt(at)!;
  const before = String.fromCodePoint(codePointBefore(s, at));
  if (cp === 0xfe0e || cp === 0xfe0f) {
    if (/^[0-9#*]$/.test(before)) return s[at + 1] === "\u20e3";
    return /\p{Emoji}/u.test(before) && before > "\x7f";
  }
  if (cp >= 0xfe00 && cp <= 0xfe0d) return STANDARDIZED_BASE.test(before);
  if (cp >= 0xe0100 && cp <= 0xe01ef) return /\p{Ideographic}/u.test(before);
  const mongolian = (ch: string) =>
    /\p{sc=Mongolian}/u.test(ch) && /\p{L}/u.test(ch);
  if (cp === 0x180e) {
    return mongolian(before) &&
      mongolian(String.fromCodePoint(s.codePointAt(at + 1) ?? 0));
  }
  return cp >= 0x180b && cp <= 0x180f && mongolian(before);
}

/**
 * What U+FE00..U+FE0D select a form of (Unicode's StandardizedVariants):
 * math symbols, ideographs, and the letters of Myanmar, Phags-pa,
 * Manichaean and Egyptian hieroglyphs.
 */
const STANDARDIZED_BASE =
  /^[\p{Sm}\p{Ideographic}\p{sc=Myanmar}\p{sc=Phags_Pa}\p{sc=Manichaean}\p{sc=Egyptian_Hieroglyphs}]$/u;

/**
 * What {@linkcode shown} escapes that JSON.stringify leaves as it is (it
 * escapes C0 and lone surrogates itself).
 */
const UNSAFE_IN_JSON = new RegExp(
  `[\\x7f-\\x9f\\p{Cf}\\p{Zl}\\p{Zp}${IGNORABLE}]`,
  "gu",
);

/** A column of {@linkcode table}: header and alignment. */
export interface Column {
  header: string;
  align?: "left" | "right";
}

/**
 * Formats rows as an aligned table with a header line, padded by the
 * columns the cells take on a terminal (a CJK name's characters two each).
 */
export function table(columns: Column[], rows: string[][]): string {
  const width = (cell: string) => textWidth(stripAnsi(cell));
  const widths = columns.map((col, i) =>
    Math.max(width(col.header), ...rows.map((r) => width(r[i] ?? "")))
  );
  const line = (cells: string[], header = false) =>
    cells.map((cell, i) => {
      const pad = " ".repeat(widths[i] - width(cell));
      const text = header ? c.bold(cell) : cell;
      if (i === cells.length - 1 && columns[i].align !== "right") return text;
      return columns[i].align === "right" ? pad + text : text + pad;
    }).join("  ");
  return [
    line(columns.map((col) => col.header), true),
    ...rows.map((r) => line(r)),
  ].join("\n");
}

/**
 * JSON.stringify that writes bigints as hex strings (`0x…`), and what
 * {@linkcode shown} escapes as `\\u` escapes.
 */
export function toJson(value: unknown): string {
  // They can only be inside strings, where `\\uXXXX` is the same value: a
  // name printed as JSON to a terminal cannot drive it or be disguised.
  return JSON.stringify(
    value,
    (_k, v) => typeof v === "bigint" ? `0x${v.toString(16)}` : v,
    2,
  ).replace(
    UNSAFE_IN_JSON,
    (ch) =>
      [...Array(ch.length).keys()].map((i) =>
        `\\u${ch.charCodeAt(i).toString(16).padStart(4, "0")}`
      ).join(""),
  );
}

/** Prints a value as JSON on stdout. */
export function printJson(value: unknown): void {
  console.log(toJson(value));
}

/** Hex address, e.g. `0x7ff6a0000000`. */
export function hex(v: bigint | number): string {
  return `0x${v.toString(16)}`;
}

/** Human byte count: `512 B`, `3.2 KiB`, `1.5 MiB`. */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

/** Thousands separators: `1 234 567`. */
export function count(n: number): string {
  return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/**
 * A warning on stderr, its text {@linkcode shown} (it names programs,
 * modules and files).
 */
export function warn(msg: string): void {
  console.error(cErr.yellow(`warning: ${shown(msg)}`));
}

/**
 * A progress line on stderr (never on stdout, so JSON stays clean), dim or
 * in `options.colour`. Its text is {@linkcode shown}, as a warning's: it
 * names programs, DLLs and paths (a checkout's folder may hold U+202E).
 */
export function progress(
  msg: string,
  options: { colour?: keyof Colours } = {},
): void {
  console.error(cErr[options.colour ?? "dim"](shown(msg)));
}
