/**
 * High-level reading: everything about a PE file at once, or just its
 * imports, from a path or from bytes.
 *
 * @module
 */

import { ReadBudget } from "./budget.ts";
import { type Exports, readExports } from "./exports.ts";
import {
  DIR,
  endOfSectionData,
  type PeHeaders,
  readHeaders,
} from "./headers.ts";
import { PeFormatError } from "./errors.ts";
import { u16, u32 } from "./_read.ts";
import {
  type BoundImport,
  headerLocator,
  type ImportedDll,
  readAllImports,
  readBoundImports,
  readDelayImports,
  readImports,
} from "./imports.ts";
import {
  type DebugEntry,
  type FileRange,
  readCertificate,
  readDebug,
  readOverlay,
  readSymbolTable,
  type SymbolTable,
} from "./layout.ts";
import { type ByteSource, bytesSource, FileSource } from "./source.ts";
import { namingFile } from "./_file.ts";

/** Everything the reader knows about a PE file. */
export interface PeInfo {
  /** Headers, data directories and sections. */
  headers: PeHeaders;
  /** Imported DLLs in load order. */
  imports: ImportedDll[];
  /** Delay-loaded DLLs. */
  delayImports: ImportedDll[];
  /** Bound import entries. */
  boundImports: BoundImport[];
  /** The export directory, if any. */
  exports?: Exports;
  /** Bytes after the last section, if any. */
  overlay?: FileRange;
  /** The COFF symbol table, if the header points to one. */
  symbolTable?: SymbolTable;
  /** The Authenticode certificate table, if any. */
  certificate?: FileRange;
  /**
   * A certificate table entry that does not fit the file (a signature cut
   * short, or an offset with size 0): Windows ignores it when it runs the
   * program, so it is no reason to refuse the file.
   */
  damagedCertificate?: DamagedCertificate;
  /** Debug directory entries. */
  debug: DebugEntry[];
}

/** A certificate table entry that does not fit the file. */
export interface DamagedCertificate extends FileRange {
  /**
   * Whether the file ends inside the certificate it points to (a
   * WIN_CERTIFICATE header is there, longer than what is left): a signed
   * file cut short, whose remaining bytes are the signature's.
   */
  cutShort: boolean;
}

/** Options for {@linkcode readPe} and {@linkcode imports}. */
export interface ReadOptions {
  /** Read imported function names and ordinals too (default true). */
  symbols?: boolean;
  /** Limits of the whole read (default: a new {@linkcode ReadBudget}). */
  budget?: ReadBudget;
}

/** Reads every structure the package knows from a source. */
export function readPe(src: ByteSource, options: ReadOptions = {}): PeInfo {
  const headers = readHeaders(src);
  const opts = { ...options, budget: options.budget ?? new ReadBudget() };
  const info: PeInfo = {
    headers,
    imports: readImports(src, headers, opts),
    delayImports: readDelayImports(src, headers, opts),
    boundImports: readBoundImports(src, headers, opts),
    debug: readDebug(src, headers),
  };
  const exports = readExports(src, headers, opts);
  if (exports) info.exports = exports;
  const overlay = readOverlay(headers);
  if (overlay) info.overlay = overlay;
  const symbolTable = readSymbolTable(src, headers);
  if (symbolTable) info.symbolTable = symbolTable;
  // The loader does not read it: a damaged signature entry does not stop
  // the program.
  try {
    const certificate = readCertificate(headers);
    if (certificate) info.certificate = certificate;
  } catch (e) {
    if (!(e instanceof PeFormatError)) throw e;
    const dir = headers.dataDirectories[DIR.SECURITY];
    info.damagedCertificate = {
      offset: dir.rva,
      size: dir.size,
      cutShort: cutSignature(src, headers, dir.rva),
    };
  }
  return info;
}

// WIN_CERTIFICATE: dwLength, wRevision (1.0 or 2.0), wCertificateType (1-4).
function cutSignature(src: ByteSource, h: PeHeaders, at: number): boolean {
  const left = h.fileSize - at;
  if (at < endOfSectionData(h) || left < 8) return false;
  const b = src.read(at, 8);
  const length = u32(b, 0);
  const revision = u16(b, 4);
  const type = u16(b, 6);
  return length > left && (revision === 0x100 || revision === 0x200) &&
    type >= 1 && type <= 4;
}

function withSource<T>(
  file: string | URL | Uint8Array,
  fn: (src: ByteSource) => T,
): T {
  if (file instanceof Uint8Array) return fn(bytesSource(file));
  using src = FileSource.open(file);
  try {
    return fn(src);
  } catch (e) {
    throw namingFile(e, file);
  }
}

/**
 * Reads a whole PE description from a path or bytes. A file is read in
 * pieces, never whole.
 */
export function inspect(
  file: string | URL | Uint8Array,
  options: ReadOptions = {},
): Promise<PeInfo> {
  return Promise.resolve().then(() =>
    withSource(file, (src) => readPe(src, options))
  );
}

/**
 * Lists the DLLs a PE file imports: the import directory in load order,
 * then the delay-loaded ones. Only the headers and import data are read.
 *
 * @example
 * ```ts ignore
 * for (const d of await imports("game.exe")) console.log(d.kind, d.dll);
 * ```
 */
export function imports(
  file: string | URL | Uint8Array,
  options: ReadOptions = {},
): Promise<ImportedDll[]> {
  return Promise.resolve().then(() =>
    withSource(
      file,
      (src) => readAllImports(src, headerLocator(readHeaders(src)), options),
    )
  );
}
