// Shared by the Special K tests: UTF-16 bytes of a text, and a model of what
// Special K itself reads from an ini.

/** `text` as UTF-16 in the given byte order, with a BOM unless told. */
export function utf16(
  text: string,
  order: "le" | "be",
  bom = true,
): Uint8Array {
  const out = new Uint8Array((bom ? 2 : 0) + text.length * 2);
  const v = new DataView(out.buffer);
  if (bom) v.setUint16(0, 0xfeff, order === "le");
  for (let i = 0; i < text.length; i++) {
    v.setUint16((bom ? 2 : 0) + 2 * i, text.charCodeAt(i), order === "le");
  }
  return out;
}

/**
 * What Special K itself reads from an ini's `[section]`, modelled on its
 * parser (SpecialKO/SpecialK src/ini.cpp, iSK_INI::parse and
 * Process_Section), which is stricter than heapshift's reading: CRs are
 * dropped; a header is a whole line `[name]` (no space before `[` or after
 * `]`, no comment), matched case-sensitively, the first of a name wins; a
 * section ends at the next line that starts with `[`; a key is everything
 * from the end of the previous key's line up to `=` (untrimmed: a blank or
 * comment line before it becomes part of its name), its value the rest of
 * the line (untrimmed); the last of a key wins. Undefined: no such section.
 */
export function specialKView(
  text: string,
  section: string,
): Record<string, string> | undefined {
  const lines = text.replaceAll("\r", "").split("\n");
  const at = lines.findIndex((l) => l === `[${section}]`);
  if (at < 0) return undefined;
  const out: Record<string, string> = {};
  let pending: string[] = [];
  for (const line of lines.slice(at + 1)) {
    if (line.startsWith("[")) break;
    // The first character of a key's first line is never taken for `=`.
    const eq = line.indexOf("=", pending.length ? 0 : 1);
    if (eq < 0) {
      pending.push(line);
      continue;
    }
    const key = [...pending, line.slice(0, eq)].join("\n");
    out[key] = line.slice(eq + 1);
    pending = [];
  }
  return out;
}
