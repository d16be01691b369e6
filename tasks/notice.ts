/**
 * The third-party notice that ships with the hook DLL (mimalloc is compiled
 * in, under the MIT license): the checkout's THIRD_PARTY_NOTICES.txt, put
 * next to every DLL the tasks build and embedded with it in a compiled
 * binary (cli/embed.ts writes it out next to the extracted DLL).
 *
 * @module
 */

import { NOTICE_FILE } from "../cli/embed.ts";
import { repoPath } from "../src/_repo.ts";

/** The notice's text. */
export function noticeText(): string {
  return Deno.readTextFileSync(repoPath(NOTICE_FILE));
}

/**
 * Puts the notice in `dir` (created when missing) unless the same text is
 * there already; returns its path.
 */
export async function copyNotice(dir: string): Promise<string> {
  const text = noticeText();
  const path = `${dir}/${NOTICE_FILE}`;
  const old = await Deno.readTextFile(path).catch(() => undefined);
  if (old !== text) {
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(`${path}.tmp`, text);
    await Deno.rename(`${path}.tmp`, path);
  }
  return path;
}
