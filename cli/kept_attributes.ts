/**
 * What the CLI's rewrites of a user's file (patch -i, specialk) keep of it
 * beyond its bytes, permission bits and owner.
 *
 * @module
 */

import { keepFileAttributes } from "../ffi/mod.ts";
import type { KeepAttributes } from "../pe/mod.ts";

/**
 * On Windows, the file's hidden and system attributes, which the rename
 * that puts the new file in its place would lose (its ACL, owner and
 * alternate data streams are lost still: README, `patch`); elsewhere
 * nothing: the mode and owner are kept already.
 */
export const keepAttributes: KeepAttributes | undefined =
  Deno.build.os === "windows" ? keepFileAttributes : undefined;
