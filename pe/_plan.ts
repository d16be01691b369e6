// A patch or removal worked out but not written yet (internal): the pure
// functions render it to bytes, the file functions stream it to disk.

import type { PatchResult } from "./patch.ts";
import { readPe } from "./reader.ts";
import { bytesSource } from "./source.ts";
import type { Output } from "./_output.ts";

/** What an edit will do, and the output when it changes the file. */
export interface EditPlan extends Omit<PatchResult, "bytes"> {
  /** The output, or undefined when nothing changes. */
  output?: Output;
  /** Static imports of the result, in load order. */
  imports: string[];
}

/**
 * Renders `plan` over `input` and checks that the result's headers and
 * directories parse; the input itself when nothing changes.
 */
export function renderPlan(plan: EditPlan, input: Uint8Array): PatchResult {
  const { output, imports: _, ...rest } = plan;
  if (!output) return { ...rest, bytes: input };
  const bytes = output.render(bytesSource(input));
  // What the edit changed (headers, directories) must parse.
  readPe(bytesSource(bytes), { symbols: false });
  return { ...rest, bytes };
}
