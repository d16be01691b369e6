// Shared by the Special K tests: UTF-16 bytes of a text.

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
