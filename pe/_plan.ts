// A patch or removal worked out but not written yet (internal): the pure
// functions render it to bytes, the file functions stream it to disk.

import { PeFormatError, PePatchError } from "./errors.ts";
import type { PatchResult } from "./patch.ts";
import { readPe } from "./reader.ts";
import { type ByteSource, bytesSource } from "./source.ts";
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
  checkResult(bytesSource(bytes), plan);
  return { ...rest, bytes };
}

/**
 * Throws a PePatchError unless the result of `plan` parses: what the edit
 * changed (headers, directories) must. The input did, so a format error
 * here is about the edit, not the input: for a removal, the record our
 * section keeps of what the patch changed no longer fits the file.
 */
export function checkResult(
  result: ByteSource,
  plan: Pick<EditPlan, "action">,
): void {
  try {
    readPe(result, { symbols: false });
  } catch (e) {
    if (!(e instanceof PeFormatError)) throw e;
    throw new PePatchError(
      `the result would not be a valid executable (${e.message}), so nothing was written; ${
        plan.action === "removed"
          ? "heapshift's record in its section, which says what the patch changed, does not fit the file (damaged, or the file was edited since the patch): restore the original from the backup the patch kept (<exe>.bak with --inplace)"
          : "this is a bug in heapshift: please report it, with the file"
      }`,
      { cause: e },
    );
  }
}
