import assert from "node:assert/strict";
import { textWidth, wrappedRows } from "./text_width.ts";

Deno.test("textWidth: wide (CJK, kana, Hangul, fullwidth, emoji) characters take two columns, combining marks none, the rest one", () => {
  for (
    const [text, width] of [
      ["game.exe", 8],
      ["Café", 4],
      ["Cafe\u0301", 4], // é as e and a combining acute
      ["游戏.exe", 8],
      ["ゲーム", 6],
      ["게임", 4],
      // a Hangul syllable written as jamo: two columns in all
      ["\u1100\u1161\u11a8", 2],
      ["ＡＢ", 4], // fullwidth Latin
      ["ｱｲ", 2], // halfwidth katakana
      ["\u{1f3ae}", 2],
      ["\u231a", 2], // an emoji in the BMP
      ["\u{20000}", 2], // CJK extension B
      ["\u200b\u200d\ufe0f", 0],
      // combining marks of wide scripts take none: a kana with its voiced
      // mark as a separate character (が as NFD writes it, a name from a
      // Mac), an ideographic tone mark
      ["\u304b\u3099", 2],
      ["\u304f\u309a", 2],
      ["\u4e00\u302a", 2],
      ["", 0],
    ] as const
  ) assert.equal(textWidth(text), width, JSON.stringify(text));
});

Deno.test("textWidth: an emoji sequence Unicode recommends takes two columns in all, as the one emoji a terminal draws", () => {
  for (
    const text of [
      "\u{1f468}\u200d\u{1f469}\u200d\u{1f467}", // family
      "\u{1f469}\u{1f3fd}\u200d\u{1f4bb}", // with a skin tone
      "\u{1f1eb}\u{1f1f7}", // a flag of two regional indicators
      "\u{1f3f4}\u{e0067}\u{e0062}\u{e0073}\u{e0063}\u{e0074}\u{e007f}", // Scotland
      "1\ufe0f\u20e3", // keycap
      "\u2764\ufe0f", // red heart, emoji presentation
    ]
  ) assert.equal(textWidth(text), 2, JSON.stringify(text));
  // its parts, where it is not one
  assert.equal(textWidth("\u{1f468}\u{1f469}"), 4);
  assert.equal(textWidth("\u2764"), 1); // text presentation
});

Deno.test("wrappedRows: a line wraps where its next character does not fit, a wide one left a single column included", () => {
  assert.equal(wrappedRows("", 80), 1);
  assert.equal(wrappedRows("x".repeat(80), 80), 1);
  assert.equal(wrappedRows("x".repeat(81), 80), 2);
  assert.equal(wrappedRows("游".repeat(40), 80), 1);
  assert.equal(wrappedRows("游".repeat(41), 80), 2);
  assert.equal(wrappedRows(`${"x".repeat(79)}游`, 80), 2);
  assert.equal(wrappedRows(`${"x".repeat(79)}游${"x".repeat(79)}`, 80), 3);
  assert.equal(wrappedRows(`${"x".repeat(80)}\u0301`, 80), 1);
});
