/**
 * The text encodings of a Special K ini, decoded strictly: a file is
 * accepted only when it is text that {@linkcode encodeIni} writes back
 * byte for byte. Special K writes UTF-16LE with a BOM; users' editors may
 * leave UTF-8 (with or without a BOM), UTF-16BE with a BOM, or an ANSI code
 * page such as cp1252.
 *
 * @module
 */

/**
 * Text encodings a Special K ini is decoded in. `ansi` is an 8-bit file
 * that is not UTF-8 (a Windows code page, which one is unknown): its text
 * holds one character per byte (U+0000–U+00FF); Special K does not read it
 * ({@linkcode unreadableBySpecialK}), so an entry may only be removed.
 */
export type IniEncoding = "utf16le" | "utf16be" | "utf8bom" | "utf8" | "ansi";

/** A decoded ini file. */
export interface IniText {
  text: string;
  encoding: IniEncoding;
  /** For `ansi`: the offset of the first byte that is not UTF-8. */
  notUtf8At?: number;
}

/** Why bytes are not an ini heapshift can edit (the message says). */
export class IniEncodingError extends Error {
  override name = "IniEncodingError";
}

const BOMS: [IniEncoding, number[]][] = [
  ["utf8bom", [0xef, 0xbb, 0xbf]],
  ["utf16le", [0xff, 0xfe]],
  ["utf16be", [0xfe, 0xff]],
];

function hexByte(b: number): string {
  return `0x${b.toString(16).padStart(2, "0").toUpperCase()}`;
}

/** Offset of the first byte that does not start a valid UTF-8 sequence. */
export function invalidUtf8At(bytes: Uint8Array): number | undefined {
  for (let i = 0; i < bytes.length;) {
    const b = bytes[i];
    let n = 0;
    let min = 0;
    if (b < 0x80) n = 0;
    else if (b >= 0xc2 && b <= 0xdf) [n, min] = [1, 0x80];
    else if (b >= 0xe0 && b <= 0xef) [n, min] = [2, 0x800];
    else if (b >= 0xf0 && b <= 0xf4) [n, min] = [3, 0x10000];
    else return i;
    let cp = n ? b & (0x3f >> n) : b;
    for (let k = 1; k <= n; k++) {
      const c = bytes[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    // Overlong forms, surrogates and code points past U+10FFFF.
    if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return i;
    i += n + 1;
  }
  return undefined;
}

// C0 controls other than TAB, LF and CR, and DEL: not in any text file.
// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/;

/** Whether BOM-less bytes look like UTF-16: NULs in every other byte. */
function looksUtf16(bytes: Uint8Array): boolean {
  const n = Math.min(bytes.length & ~1, 4096);
  let even = 0;
  let odd = 0;
  for (let i = 0; i < n; i += 2) {
    if (bytes[i] === 0) even++;
    if (bytes[i + 1] === 0) odd++;
  }
  return n >= 4 && Math.min(even, odd) === 0 && Math.max(even, odd) >= n / 8;
}

function decodeUtf16(body: Uint8Array, encoding: "utf16le" | "utf16be") {
  const label = encoding === "utf16le" ? "UTF-16LE" : "UTF-16BE";
  if (body.length % 2) {
    throw new IniEncodingError(
      `it starts with a ${label} byte-order mark but has an odd number of bytes`,
    );
  }
  try {
    return new TextDecoder(encoding === "utf16le" ? "utf-16le" : "utf-16be", {
      fatal: true,
      ignoreBOM: true,
    }).decode(body);
  } catch {
    throw new IniEncodingError(
      `it starts with a ${label} byte-order mark but is not valid ${label} (an unpaired surrogate)`,
    );
  }
}

/** One character per byte (U+0000–U+00FF), in chunks (no huge spreads). */
function bytesToChars(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 0x4000) {
    out += String.fromCharCode(...bytes.subarray(i, i + 0x4000));
  }
  return out;
}

function decodeBytes(bytes: Uint8Array): IniText {
  const bom = BOMS.find(([, b]) => b.every((x, i) => bytes[i] === x));
  const body = bytes.subarray(bom?.[1].length ?? 0);
  const encoding = bom?.[0] ?? "utf8";
  if (encoding === "utf16le" || encoding === "utf16be") {
    return { text: decodeUtf16(body, encoding), encoding };
  }
  if (encoding === "utf8" && looksUtf16(body)) {
    throw new IniEncodingError(
      "it looks like UTF-16 without a byte-order mark, which cannot be read reliably: save it as UTF-16 LE with a BOM (as Special K writes it) or as UTF-8",
    );
  }
  const bad = invalidUtf8At(body);
  if (bad === undefined) {
    return { text: new TextDecoder().decode(body), encoding };
  }
  if (encoding === "utf8bom") {
    throw new IniEncodingError(
      `it starts with a UTF-8 byte-order mark but byte ${
        hexByte(body[bad])
      } at offset ${3 + bad} is not UTF-8`,
    );
  }
  return { text: bytesToChars(body), encoding: "ansi", notUtf8At: bad };
}

/**
 * Decodes an ini's bytes strictly, detecting the encoding from its BOM.
 * Throws {@linkcode IniEncodingError} for anything that is not text or
 * would not be written back unchanged.
 */
export function decodeIni(bytes: Uint8Array): IniText {
  const ini = decodeBytes(bytes);
  const unit = ini.encoding.startsWith("utf16") ? 2 : 1;
  const bomLength = { utf16le: 2, utf16be: 2, utf8bom: 3, utf8: 0, ansi: 0 };
  const m = CONTROL.exec(ini.text);
  if (m) {
    // Offsets are exact for UTF-16 and ANSI, approximate after UTF-8.
    throw new IniEncodingError(
      `it is not a text file (control character ${
        hexByte(m[0].charCodeAt(0))
      } in character ${m.index + 1}${
        unit === 2 || ini.encoding === "ansi"
          ? `, offset ${bomLength[ini.encoding] + m.index * unit}`
          : ""
      })`,
    );
  }
  const back = encodeIni(ini);
  if (back.length !== bytes.length || back.some((b, i) => b !== bytes[i])) {
    throw new IniEncodingError(
      `its ${ini.encoding} text would not be written back unchanged`,
    );
  }
  return ini;
}

/**
 * Why Special K would not read the ini, or undefined when it would: it
 * decodes a file without a UTF-16 BOM as UTF-8 only (MultiByteToWideChar
 * with MB_ERR_INVALID_CHARS, src/ini.cpp), and one that is not (an ANSI
 * code page) it copies to `.bak` and ignores, any entry in it too.
 */
export function unreadableBySpecialK(ini: IniText): string | undefined {
  if (ini.encoding !== "ansi") return undefined;
  return `Special K reads an ini without a UTF-16 byte-order mark as UTF-8 only, and this one is not UTF-8 (byte ${
    hexByte(ini.text.charCodeAt(ini.notUtf8At ?? 0))
  } at offset ${ini.notUtf8At}: an ANSI code page such as cp1252?), so it would ignore the entry: save it as UTF-16 LE (as Special K writes it) or UTF-8 first`;
}

/** Encodes ini text back in its encoding (with its BOM). */
export function encodeIni(ini: IniText): Uint8Array {
  const { text, encoding } = ini;
  if (encoding === "utf16le" || encoding === "utf16be") {
    const out = new Uint8Array(2 + text.length * 2);
    const v = new DataView(out.buffer);
    const le = encoding === "utf16le";
    v.setUint16(0, 0xfeff, le);
    for (let i = 0; i < text.length; i++) {
      v.setUint16(2 + 2 * i, text.charCodeAt(i), le);
    }
    return out;
  }
  if (encoding === "ansi") {
    const out = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) {
      const u = text.charCodeAt(i);
      if (u > 0xff) {
        throw new IniEncodingError(
          `${JSON.stringify(text[i])} cannot be written in an ANSI file`,
        );
      }
      out[i] = u;
    }
    return out;
  }
  const body = new TextEncoder().encode(text);
  if (encoding === "utf8") return body;
  const out = new Uint8Array(body.length + 3);
  out.set([0xef, 0xbb, 0xbf]);
  out.set(body, 3);
  return out;
}
