import assert from "node:assert/strict";
import { progress, setColour, shown, table, toJson, warn } from "./output.ts";

Deno.test("shown escapes what can drive a terminal or disguise a name: C0, DEL, C1, bidi and other invisible format characters, line separators, lone surrogates", () => {
  assert.equal(shown("a\x1b[2Jb\x7f\x9b"), "a\\x1b[2Jb\\x7f\\x9b");
  // U+202E shows 'exe.txt' backwards: 'gnp\u202Eexe.txt' reads as
  // 'gnptxt.exe'
  assert.equal(shown("gnp\u202eexe.txt"), "gnp\\u202eexe.txt");
  for (
    const ch of [
      "\u202a",
      "\u202b",
      "\u202c",
      "\u202d",
      "\u2066",
      "\u2067",
      "\u2068",
      "\u2069",
      "\u200b",
      "\u200c",
      "\u200d",
      "\u200e",
      "\u200f",
      "\u2060",
      "\u061c",
      "\ufeff",
      "\u2028",
      "\u2029",
    ]
  ) {
    const hex = ch.charCodeAt(0).toString(16).padStart(4, "0");
    assert.equal(shown(`a${ch}b`), `a\\u${hex}b`);
  }
  // a soft hyphen is invisible too; up to U+00FF, as a byte
  assert.equal(shown("a\u00adb"), "a\\xadb");
  // outside the BMP (tag characters), and a surrogate with no pair (a
  // Windows name is UTF-16 that need not be well formed: printed, it
  // would be U+FFFD, like any other)
  assert.equal(shown("a\u{e0041}b"), "a\\u{e0041}b");
  assert.equal(shown("a\ud800b\udc00"), "a\\ud800b\\udc00");
  // letters of any script, a pair that is one character, and spaces stay
  assert.equal(shown("Café ñ 游戏 \u{1f600}.exe"), "Café ñ 游戏 \u{1f600}.exe");
});

Deno.test("toJson writes what shown escapes as \\u escapes: the same value to a parser, nothing a terminal acts on", () => {
  const value = { name: "a\x7f\x9b\u202e\u200b\u2028\ud800b\u{e0041}" };
  const text = toJson(value);
  assert.doesNotMatch(
    text,
    /[\x7f-\x9f\u00ad\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]|[\ud800-\udfff]/,
  );
  assert.deepEqual(JSON.parse(text), value);
  assert.match(text, /\\u202e/);
  // bigints as before
  assert.equal(toJson({ n: 255n }), '{\n  "n": "0xff"\n}');
});

Deno.test("shown keeps a zero-width joiner or non-joiner inside a word of a script that writes it (Persian, Devanagari, emoji sequences): the name stays one to copy", () => {
  for (
    const name of [
      "می\u200cخواهم.exe", // Persian: ZWNJ between letters
      "क्\u200dष.exe", // Devanagari: ZWJ after a virama
      "\u{1f468}\u200d\u{1f469}\u200d\u{1f467}.exe", // family emoji
      "\u{1f3f3}\ufe0f\u200d\u{1f308}.dll", // rainbow flag
      "\u{1f469}\u{1f3fd}\u200d\u{1f4bb}.exe", // with a skin tone
    ]
  ) assert.equal(shown(name), name);
  // Beside an ASCII character, at an end, or beside another escape, it
  // only disguises a name.
  for (
    const [name, escaped] of [
      ["ga\u200dme.exe", "ga\\u200dme.exe"],
      ["\u200cمی.exe", "\\u200cمی.exe"],
      ["می\u200c", "می\\u200c"],
      ["می\u200c.exe", "می\\u200c.exe"],
      ["می\u200c\u200cها", "می\\u200c\\u200cها"],
      ["می\u202e\u200cها", "می\\u202e\\u200cها"],
    ]
  ) assert.equal(shown(name), escaped);
});

Deno.test("shown and toJson escape the Hangul fillers, letters drawn as nothing or a blank: game\u1160.exe would look like game.exe", () => {
  for (const ch of ["\u115f", "\u1160", "\u3164", "\uffa0"]) {
    const hex = ch.charCodeAt(0).toString(16);
    assert.equal(shown(`game${ch}.exe`), `game\\u${hex}.exe`);
    assert.equal(toJson(`game${ch}.exe`), `"game\\u${hex}.exe"`);
  }
  // Hangul written as jamo (as NFD writes 각) stays: it shows as a syllable
  assert.equal(shown("\u1100\u1161\u11a8.exe"), "\u1100\u1161\u11a8.exe");
});

Deno.test("shown escapes the other characters Unicode says to draw as nothing (default ignorable), but a selector or joiner after what it selects a form of: game\u034f.exe would look like game.exe", () => {
  for (
    const [name, escaped] of [
      // a combining grapheme joiner, a variation selector after ASCII, the
      // Khmer inherent vowels (deprecated), a Mongolian selector first
      ["game\u034f.exe", "game\\u034f.exe"],
      ["game\ufe0f.exe", "game\\ufe0f.exe"],
      ["ga\u17b4me.exe", "ga\\u17b4me.exe"],
      ["\u180bgame.exe", "\\u180bgame.exe"],
      ["game\u{e0100}.exe", "game\\u{e0100}.exe"],
      ["game\ufff0.exe", "game\\ufff0.exe"],
    ]
  ) {
    assert.equal(shown(name), escaped, JSON.stringify(name));
    // JSON has no \u{…}: a surrogate pair's two escapes
    const json = escaped.replace(/\\u\{([0-9a-f]+)\}/, (_, hex) => {
      const pair = String.fromCodePoint(parseInt(hex, 16));
      return [0, 1].map((k) => `\\u${pair.charCodeAt(k).toString(16)}`)
        .join("");
    });
    assert.equal(toJson(name), `"${json}"`, JSON.stringify(name));
  }
  for (
    const name of [
      "\u263a\ufe0f.exe", // an emoji's presentation
      "1\ufe0f\u20e3.exe", // a keycap
      "\u845b\u{e0100}.exe", // an ideographic variation sequence
      "\u1820\u180b.exe", // a Mongolian letter's variant form
      "\u05b8\u034f\u05b7.exe", // Hebrew marks kept in order
    ]
  ) assert.equal(shown(name), name, JSON.stringify(name));
});

Deno.test("shown escapes a selector that selects no form of what it follows, and a CGJ before no mark: caf\u00e9\ufe0f.exe would look like caf\u00e9.exe", () => {
  for (
    const [name, escaped] of [
      // an emoji selector, an ideographic one, a Mongolian one or the
      // Mongolian vowel separator after a Latin letter
      ["caf\u00e9\ufe0f.exe", "caf\u00e9\\ufe0f.exe"],
      ["caf\u00e9\u{e0100}.exe", "caf\u00e9\\u{e0100}.exe"],
      ["caf\u00e9\u180b.exe", "caf\u00e9\\u180b.exe"],
      ["caf\u00e9\u180e.exe", "caf\u00e9\\u180e.exe"],
      // a selector after a selector, a mark or a joiner
      ["\u263a\ufe0f\ufe0f.exe", "\u263a\ufe0f\\ufe0f.exe"],
      ["cafe\u0301\ufe0f.exe", "cafe\u0301\\ufe0f.exe"],
      // a CGJ between two letters: it joins nothing that shows
      ["caf\u00e9\u034f\u00e9.exe", "caf\u00e9\\u034f\u00e9.exe"],
    ]
  ) assert.equal(shown(name), escaped, JSON.stringify(name));
  for (
    const name of [
      "\u203c\ufe0f.exe", // an emoji that is punctuation
      "\u3030\ufe0f.exe",
      "\u{1f441}\ufe0f\u200d\u{1f5e8}\ufe0f.exe", // a ZWJ sequence
      "\u{2f800}\ufe00.exe", // a CJK compatibility ideograph's form
      "\u2229\ufe00.exe", // a math symbol's standardized variant
      "\u1000\ufe00.exe", // a Myanmar letter's
      "\u182d\u180e\u1820.exe", // Mongolian's vowel separator
      "\u05d1\u05b7\u034f\u05b4.exe", // Hebrew marks kept in order
    ]
  ) assert.equal(shown(name), name, JSON.stringify(name));
});

/** `text` written in tag characters (U+E0020..U+E007E), as a flag's are. */
function tags(text: string): string {
  return [...text].map((ch) => String.fromCodePoint(0xe0000 + ch.charCodeAt(0)))
    .join("");
}

Deno.test("shown keeps the tag characters of the flags Unicode recommends (England, Scotland, Wales), which show as a flag, and escapes any other: invisible, they would hide text in a name", () => {
  const cancel = "\u{e007f}";
  for (const region of ["gbeng", "gbsct", "gbwls"]) {
    const name = `\u{1f3f4}${tags(region)}${cancel}.exe`;
    assert.equal(shown(name), name);
  }
  // Elsewhere they only hide what they spell: after another emoji, a flag
  // no font draws (shown as a plain black flag, its tags unseen), without
  // the flag or the cancel tag, or spelling more than a region's code.
  const escaped = (s: string) =>
    [...s].map((ch) => `\\u{${ch.codePointAt(0)!.toString(16)}}`).join("");
  for (
    const [before, spec, after, afterShown] of [
      ["\u{1f3f3}", tags("gbsct"), cancel, "\\u{e007f}"],
      ["\u{1f3f4}", tags("usca"), cancel, "\\u{e007f}"],
      ["\u{1f3f4}", tags("gbsctexe"), cancel, "\\u{e007f}"],
      ["a", tags("gbsct"), cancel, "\\u{e007f}"],
      ["\u{1f3f4}", tags("gbsct"), "", ""],
      ["\u{1f3f4}", tags("gbsct"), `\u200b${cancel}`, "\\u200b\\u{e007f}"],
    ]
  ) {
    assert.equal(
      shown(`${before}${spec}${after}.exe`),
      `${before}${escaped(spec)}${afterShown}.exe`,
    );
  }
  // the flag itself stays, whatever follows it
  assert.equal(shown("\u{1f3f4}.exe"), "\u{1f3f4}.exe");
});

Deno.test("table pads by the columns a terminal gives text: a wide (CJK, emoji) character takes two, a combining mark none", () => {
  setColour(false);
  const t = table([{ header: "NAME" }, { header: "SIZE", align: "right" }, {
    header: "PATH",
  }], [
    ["游戏.dll", "1", "a"],
    ["e\u0301t\u00e9.dll", "22", "b"],
    ["\u{1f3ae}.dll", "333", "c"],
    ["plain.dll", "4", "d"],
  ]);
  assert.equal(
    t,
    [
      "NAME       SIZE  PATH",
      "游戏.dll      1  a",
      "e\u0301t\u00e9.dll      22  b",
      "\u{1f3ae}.dll      333  c",
      "plain.dll     4  d",
    ].join("\n"),
  );
  setColour(undefined);
});

Deno.test("progress and warn show their whole text escaped as shown() does, in the colour they add: a name in it cannot drive the terminal or reverse the line", () => {
  const said: string[] = [];
  const error = console.error;
  console.error = (m: string) => said.push(m);
  setColour(true);
  try {
    progress("building a\u202eb\x1b[2J…");
    progress("built a\u202eb", { colour: "green" });
    warn("a\u202eb");
  } finally {
    console.error = error;
    setColour(undefined);
  }
  assert.deepEqual(said, [
    "\x1b[2mbuilding a\\u202eb\\x1b[2J…\x1b[0m",
    "\x1b[32mbuilt a\\u202eb\x1b[0m",
    "\x1b[33mwarning: a\\u202eb\x1b[0m",
  ]);
});
