/* Reading a loaded module's code: where its functions begin and end, how
 * much of a function may be overwritten, and which direct branches land
 * where (patch.c decides with these what to patch, and how).
 *
 * Function extents come from the unwind data the module carries: `.pdata`
 * (x64) or, where it has one, a DWARF `.eh_frame` (GCC builds, such as
 * Wine's x86 ucrtbase: its name is not in the loaded image, so the section
 * is recognised by parsing). x86 modules built by MSVC have neither; then a
 * function's extent is what can be decoded from its entry up to the first
 * instruction that does not fall through, and export addresses bound it.
 *
 * Landings (a direct branch, call or absolute code address that targets a
 * byte near a site) are searched three ways, so that a branch from anywhere
 * in the module (a split-off cold chunk too) is seen:
 *   - every rel32 jmp/jcc/call in the module's executable sections, by a
 *     scan of every byte offset (a complete search; the chance that data
 *     bytes mimic a rel32 landing in a 32-byte window is about 10^-5 for a
 *     whole ucrtbase);
 *   - rel8 (and rel32) branches within reach (about 128 bytes either side),
 *     by decoding the code there from known instruction boundaries (function
 *     starts, exports, the site itself);
 *   - absolute addresses the module holds (switch tables, function
 *     pointers), from its base relocations. */
#include "heapshift.h"

#define WINDOW_BEFORE HS_LANDING_BEFORE
#define REL8_REACH 130  /* a rel8 branch reaches 128 bytes past its 2-3 bytes */
#define BACKWARD_MAX (64 * 1024) /* decode at most this far to reach a site */

static void find_eh_frame(hs_code* m);
static void find_xfg_table(hs_code* m);

void hs_code_open(hs_code* m, HMODULE h) {
  memset(m, 0, sizeof *m);
  m->file = INVALID_HANDLE_VALUE;
  m->base = (uint8_t*)h;
  m->nt = (IMAGE_NT_HEADERS*)(m->base +
                              ((IMAGE_DOS_HEADER*)m->base)->e_lfanew);
  find_eh_frame(m);
  find_xfg_table(m);
}

static IMAGE_SECTION_HEADER* section_of(const hs_code* m, const uint8_t* p) {
  if (p < m->base || p >= m->base + m->nt->OptionalHeader.SizeOfImage) {
    return NULL;
  }
  IMAGE_SECTION_HEADER* s = IMAGE_FIRST_SECTION(m->nt);
  DWORD rva = (DWORD)(p - m->base);
  for (unsigned i = 0; i < m->nt->FileHeader.NumberOfSections; i++, s++) {
    DWORD size = s->Misc.VirtualSize ? s->Misc.VirtualSize : s->SizeOfRawData;
    if (rva >= s->VirtualAddress && rva < s->VirtualAddress + size) return s;
  }
  return NULL;
}

static DWORD section_size(const IMAGE_SECTION_HEADER* s) {
  return s->Misc.VirtualSize ? s->Misc.VirtualSize : s->SizeOfRawData;
}

/* End of p's executable section, or NULL if p is not code. */
static const uint8_t* code_end(const hs_code* m, const uint8_t* p) {
  IMAGE_SECTION_HEADER* s = section_of(m, p);
  if (s == NULL || !(s->Characteristics & IMAGE_SCN_MEM_EXECUTE)) return NULL;
  return m->base + s->VirtualAddress + section_size(s);
}

BOOL hs_code_contains(const hs_code* m, const uint8_t* p, size_t n) {
  const uint8_t* end = code_end(m, p);
  return end != NULL && (size_t)(end - p) >= n;
}

BOOL hs_code_contains_data(const hs_code* m, const uint8_t* p, size_t n) {
  size_t size = m->nt->OptionalHeader.SizeOfImage;
  return p >= m->base && (size_t)(p - m->base) <= size &&
         size - (size_t)(p - m->base) >= n;
}

/* Decodes at p, never reading past its section's end. */
BOOL hs_code_decode(const hs_code* m, const uint8_t* p, hs_insn* in) {
  const uint8_t* end = code_end(m, p);
  if (end == NULL) return FALSE;
  if (end - p < 16) {
    /* Near the end: decode a copy padded with int3. */
    uint8_t buf[16];
    memset(buf, 0xCC, sizeof buf);
    memcpy(buf, p, (size_t)(end - p));
    if (!hs_insn_decode(buf, in) || in->len > (size_t)(end - p)) return FALSE;
    if (in->target) in->target = p + (in->target - buf);
    if (in->mem && HS_X64) in->mem = p + (in->mem - buf);
    return TRUE;
  }
  return hs_insn_decode(p, in);
}

/* ---- .eh_frame --------------------------------------------------------- */

static const uint8_t* uleb(const uint8_t* p, const uint8_t* end,
                           uint64_t* v) {
  *v = 0;
  for (unsigned shift = 0; p < end && shift < 64; shift += 7) {
    uint8_t b = *p++;
    *v |= (uint64_t)(b & 0x7F) << shift;
    if (!(b & 0x80)) return p;
  }
  return NULL;
}

/* A pointer in DWARF encoding `enc` at *p (advanced); FALSE for an
 * encoding not handled (indirect, datarel, ...). */
static BOOL encoded(const uint8_t** p, const uint8_t* end, uint8_t enc,
                    uintptr_t* v) {
  const uint8_t* at = *p;
  int64_t x;
  switch (enc & 0x0F) {
    case 0x00: x = (int64_t)(sizeof(void*) == 8 ? *(const uint64_t*)at
                                                 : *(const uint32_t*)at);
      *p += sizeof(void*); break;
    case 0x02: x = *(const uint16_t*)at; *p += 2; break;
    case 0x03: x = *(const uint32_t*)at; *p += 4; break;
    case 0x04: x = (int64_t)*(const uint64_t*)at; *p += 8; break;
    case 0x0A: x = *(const int16_t*)at; *p += 2; break;
    case 0x0B: x = *(const int32_t*)at; *p += 4; break;
    case 0x0C: x = *(const int64_t*)at; *p += 8; break;
    default: return FALSE;
  }
  if (*p > end) return FALSE;
  switch (enc & 0x70) {
    case 0x00: *v = (uintptr_t)x; return TRUE;
    case 0x10: *v = (uintptr_t)at + (uintptr_t)x; return TRUE;
  }
  return FALSE;
}

/* A CIE's FDE pointer encoding (its 'R' augmentation), 0xFF if unknown. */
static uint8_t cie_encoding(const uint8_t* cie, const uint8_t* end) {
  const uint8_t* p = cie + 8; /* length, id */
  if (p >= end) return 0xFF;
  uint8_t version = *p++;
  const char* aug = (const char*)p;
  while (p < end && *p) p++;
  if (p++ >= end) return 0xFF;
  if (aug[0] != 'z') return aug[0] == 0 ? 0x00 : 0xFF;
  uint64_t skip;
  if (!(p = uleb(p, end, &skip))) return 0xFF; /* code alignment */
  if (!(p = uleb(p, end, &skip))) return 0xFF; /* data alignment (sleb) */
  if (version == 1) p++;                        /* return register */
  else if (!(p = uleb(p, end, &skip))) return 0xFF;
  if (!(p = uleb(p, end, &skip))) return 0xFF; /* augmentation length */
  for (const char* a = aug + 1; *a && p < end; a++) {
    if (*a == 'R') return *p;
    if (*a == 'L') p++;
    else if (*a == 'P') {
      uint8_t enc = *p++;
      uintptr_t ignored;
      if (!encoded(&p, end, enc & 0x7F, &ignored)) return 0xFF;
    } else if (*a != 'S' && *a != 'B') {
      return 0xFF;
    }
  }
  return 0xFF;
}

/* The FDE at rec (already known not to be a CIE) of the .eh_frame
 * [start, end): its code range. */
static BOOL fde_range(const uint8_t* start, const uint8_t* rec,
                      const uint8_t* end, uintptr_t* b, uintptr_t* e) {
  uint32_t id = *(const uint32_t*)(rec + 4);
  if (id > (uint32_t)(rec + 4 - start)) return FALSE;
  const uint8_t* cie = rec + 4 - id;
  uint8_t enc = cie_encoding(cie, end);
  if (enc == 0xFF) return FALSE;
  const uint8_t* p = rec + 8;
  uintptr_t range;
  if (!encoded(&p, end, enc, b)) return FALSE;
  if (!encoded(&p, end, enc & 0x0F, &range)) return FALSE;
  *e = *b + range;
  return TRUE;
}

/* Walks a candidate .eh_frame: TRUE when every record parses, the first is
 * a CIE and every FDE covers code of this module. */
static BOOL is_eh_frame(const hs_code* m, const uint8_t* p, size_t size) {
  const uint8_t* start = p;
  const uint8_t* end = p + size;
  unsigned fdes = 0;
  BOOL first = TRUE;
  while (end - p >= 4) {
    uint32_t len = *(const uint32_t*)p;
    if (len == 0) break; /* terminator (the rest is padding) */
    if (len == 0xFFFFFFFFu || len < 4 || (size_t)(end - p - 4) < len) {
      return FALSE;
    }
    uint32_t id = *(const uint32_t*)(p + 4);
    if (first && id != 0) return FALSE;
    first = FALSE;
    if (id != 0) {
      uintptr_t b, e;
      if (!fde_range(start, p, end, &b, &e) || e < b ||
          !hs_code_contains(m, (const uint8_t*)b, e - b)) {
        return FALSE;
      }
      fdes++;
    } else if (cie_encoding(p, p + 4 + len) == 0xFF) {
      return FALSE;
    }
    p += 4 + len;
  }
  return fdes > 0;
}

static void find_eh_frame(hs_code* m) {
  IMAGE_SECTION_HEADER* s = IMAGE_FIRST_SECTION(m->nt);
  for (unsigned i = 0; i < m->nt->FileHeader.NumberOfSections; i++, s++) {
    DWORD c = s->Characteristics;
    if ((c & IMAGE_SCN_MEM_EXECUTE) || !(c & IMAGE_SCN_MEM_READ) ||
        (c & IMAGE_SCN_MEM_WRITE) || !(c & IMAGE_SCN_CNT_INITIALIZED_DATA) ||
        s->SizeOfRawData == 0) {
      continue;
    }
    size_t size = section_size(s);
    if (size > s->SizeOfRawData) size = s->SizeOfRawData;
    const uint8_t* p = m->base + s->VirtualAddress;
    if (is_eh_frame(m, p, size)) {
      m->eh_frame = p;
      m->eh_frame_size = size;
      return;
    }
  }
}

/* ---- extents and boundaries --------------------------------------------- */

/* Iterates the function extents: .pdata entries, then .eh_frame FDEs. */
typedef struct extent_it {
  size_t i;           /* next .pdata entry */
  const uint8_t* rec; /* next .eh_frame record */
} extent_it;

static BOOL extent_next(const hs_code* m, extent_it* it, uintptr_t* b,
                        uintptr_t* e) {
#if HS_X64
  IMAGE_DATA_DIRECTORY* d =
      &m->nt->OptionalHeader.DataDirectory[IMAGE_DIRECTORY_ENTRY_EXCEPTION];
  size_t n = d->VirtualAddress ? d->Size / sizeof(RUNTIME_FUNCTION) : 0;
  if (it->i < n) {
    RUNTIME_FUNCTION* rf =
        (RUNTIME_FUNCTION*)(m->base + d->VirtualAddress) + it->i++;
    *b = (uintptr_t)m->base + rf->BeginAddress;
    *e = (uintptr_t)m->base + rf->EndAddress;
    return TRUE;
  }
#endif
  if (m->eh_frame == NULL) return FALSE;
  const uint8_t* end = m->eh_frame + m->eh_frame_size;
  if (it->rec == NULL) it->rec = m->eh_frame;
  while (end - it->rec >= 8) {
    const uint8_t* rec = it->rec;
    uint32_t len = *(const uint32_t*)rec;
    if (len == 0) break;
    it->rec += 4 + len;
    if (*(const uint32_t*)(rec + 4) != 0 &&
        fde_range(m->eh_frame, rec, end, b, e)) {
      return TRUE;
    }
  }
  it->rec = end;
  return FALSE;
}

/* The extent containing p, if any. */
static BOOL extent_at(const hs_code* m, const uint8_t* p, uintptr_t* b,
                      uintptr_t* e) {
  extent_it it = {0, NULL};
  while (extent_next(m, &it, b, e)) {
    if (*b <= (uintptr_t)p && (uintptr_t)p < *e) return TRUE;
  }
  return FALSE;
}

/* Every export that is code, one at a time (*i from 0). */
static const uint8_t* export_next(const hs_code* m, DWORD* i) {
  IMAGE_DATA_DIRECTORY* d =
      &m->nt->OptionalHeader.DataDirectory[IMAGE_DIRECTORY_ENTRY_EXPORT];
  if (d->VirtualAddress == 0) return NULL;
  IMAGE_EXPORT_DIRECTORY* ex =
      (IMAGE_EXPORT_DIRECTORY*)(m->base + d->VirtualAddress);
  DWORD* funcs = (DWORD*)(m->base + ex->AddressOfFunctions);
  while (*i < ex->NumberOfFunctions) {
    const uint8_t* f = m->base + funcs[(*i)++];
    if (code_end(m, f) != NULL) return f;
  }
  return NULL;
}

/* The nearest known instruction boundary (a function start or an export)
 * above `after` (forward) or at or below it (backward), or NULL. */
static const uint8_t* boundary(const hs_code* m, const uint8_t* after,
                               BOOL forward) {
  uintptr_t best = forward ? UINTPTR_MAX : 0, b, e, a = (uintptr_t)after;
  extent_it it = {0, NULL};
  while (extent_next(m, &it, &b, &e)) {
    if (forward ? b > a && b < best : b <= a && b > best) best = b;
  }
  DWORD i = 0;
  for (const uint8_t* f; (f = export_next(m, &i)) != NULL;) {
    b = (uintptr_t)f;
    if (forward ? b > a && b < best : b <= a && b > best) best = b;
  }
  return best == 0 || best == UINTPTR_MAX ? NULL : (const uint8_t*)best;
}

static BOOL is_padding(uint8_t b) { return b == 0xCC || b == 0x90; }

size_t hs_code_room(const hs_code* m, const uint8_t* entry, BOOL* known) {
  const uint8_t* end = code_end(m, entry);
  if (end == NULL) return 0;
  const uint8_t* cap = end;
  const uint8_t* next = boundary(m, entry, TRUE);
  if (next != NULL && next < cap) cap = next;
  uintptr_t b, e;
  *known = extent_at(m, entry, &b, &e);
  if (*known) return (size_t)((e < (uintptr_t)cap ? e : (uintptr_t)cap) -
                              (uintptr_t)entry);
  /* No extent: what runs straight on from the entry (into the extent it
   * falls through to, if any), then padding. */
  const uint8_t* p = entry;
  hs_insn in;
  while (p < cap) {
    if (!hs_code_decode(m, p, &in)) return (size_t)(p - entry);
    p += in.len;
    if (p == next && extent_at(m, p, &b, &e)) {
      *known = TRUE; /* falls through into a known extent: the same function */
      const uint8_t* fend = (const uint8_t*)e;
      next = boundary(m, p, TRUE);
      cap = next != NULL && next < end ? next : end;
      return (size_t)((fend < cap ? fend : cap) - entry);
    }
    if (in.kind == HS_INSN_JMP || in.kind == HS_INSN_JMP_IND ||
        in.kind == HS_INSN_END) {
      while (p < cap && is_padding(*p)) p++;
      break;
    }
  }
  return (size_t)((p < cap ? p : cap) - entry);
}

BOOL hs_code_is_padding(const hs_code* m, const uint8_t* p, size_t n) {
  if (!hs_code_contains(m, p, n)) return FALSE;
  for (size_t k = 0; k < n; k++) {
    uintptr_t b, e;
    if (p[k] != p[0] || !is_padding(p[k]) || extent_at(m, p + k, &b, &e)) {
      return FALSE;
    }
  }
  const uint8_t* next = boundary(m, p - 1, TRUE);
  return next == NULL || next >= p + n;
}

/* ---- XFG type hashes -----------------------------------------------------
 * MSVC's eXtended Flow Guard (/guard:xfg, Microsoft's x64 ucrtbase since
 * Windows 11) puts an 8-byte type hash right before every function an
 * indirect call may reach; the guard checks it at the target minus 8. It is
 * data between two functions: decoded as code it reads as anything (in
 * ucrtbase 10.0.22621, `jno` back into the next-but-one function's first
 * bytes), so decoding steps over it. Which functions carry one is in the
 * load config's CFG function table: an entry's flags byte has
 * IMAGE_GUARD_FLAG_FID_XFG. */

#define GUARD_XFG_ENABLED 0x00800000u    /* IMAGE_GUARD_XFG_ENABLED */
#define GUARD_TABLE_SIZE_SHIFT 28        /* ..._FUNCTION_TABLE_SIZE_SHIFT */
#define GUARD_FID_XFG 0x08u              /* IMAGE_GUARD_FLAG_FID_XFG */
#define XFG_HASH_SIZE 8

static void find_xfg_table(hs_code* m) {
  const IMAGE_DATA_DIRECTORY* d =
      &m->nt->OptionalHeader.DataDirectory[IMAGE_DIRECTORY_ENTRY_LOAD_CONFIG];
  const uint8_t* lc = m->base + d->VirtualAddress;
  if (d->VirtualAddress == 0 || !hs_code_contains_data(m, lc, sizeof(DWORD))) {
    return;
  }
  /* GuardCFFunctionTable, GuardCFFunctionCount, GuardFlags
   * (IMAGE_LOAD_CONFIG_DIRECTORY64 / 32) */
#if HS_X64
  enum { TABLE = 128, COUNT = 136, FLAGS = 144, WIDTH = 8 };
#else
  enum { TABLE = 80, COUNT = 84, FLAGS = 88, WIDTH = 4 };
#endif
  DWORD size = *(const DWORD*)lc;
  if (size < FLAGS + 4 || !hs_code_contains_data(m, lc, size)) return;
  uintptr_t table = 0, count = 0;
  DWORD flags;
  memcpy(&table, lc + TABLE, WIDTH);
  memcpy(&count, lc + COUNT, WIDTH);
  memcpy(&flags, lc + FLAGS, 4);
  DWORD stride = 4 + (flags >> GUARD_TABLE_SIZE_SHIFT);
  if (!(flags & GUARD_XFG_ENABLED) || stride < 5 || table == 0 ||
      count == 0 || count > MAXDWORD / stride ||
      !hs_code_contains_data(m, (const uint8_t*)table, count * stride)) {
    return;
  }
  m->xfg_table = (const uint8_t*)table;
  m->xfg_count = (DWORD)count;
  m->xfg_stride = stride;
}

/* Whether p is where a function's XFG hash begins (the table is sorted by
 * RVA, as the loader requires). Bytes some function's unwind extent
 * covers are code, whatever the table says (asked only on a hit: the
 * extents are searched one by one, and this runs for every instruction
 * decoded). */
static BOOL xfg_hash_at(const hs_code* m, const uint8_t* p) {
  if (m->xfg_table == NULL || p < m->base) return FALSE;
  uintptr_t want = (uintptr_t)(p - m->base) + XFG_HASH_SIZE;
  DWORD lo = 0, hi = m->xfg_count;
  while (lo < hi) {
    DWORD mid = lo + (hi - lo) / 2;
    const uint8_t* entry = m->xfg_table + (size_t)mid * m->xfg_stride;
    DWORD rva;
    memcpy(&rva, entry, 4);
    if (rva < want) {
      lo = mid + 1;
    } else if (rva > want) {
      hi = mid;
    } else {
      uintptr_t b, e;
      return (entry[4] & GUARD_FID_XFG) != 0 && !extent_at(m, p, &b, &e) &&
             !extent_at(m, p + XFG_HASH_SIZE - 1, &b, &e);
    }
  }
  return FALSE;
}

/* ---- landings ---------------------------------------------------------- */

static void land(const uint8_t* t, uint8_t* const entries[], unsigned n,
                 uint32_t masks[]) {
  for (unsigned k = 0; k < n; k++) {
    const uint8_t* w = entries[k] - WINDOW_BEFORE;
    if (t >= w && t < w + 32) masks[k] |= 1u << (t - w);
  }
}

/* Decodes [from, to) for branches, restarting at the next known boundary
 * after anything it cannot decode. Returns where decoding failed first, or
 * NULL; with `exact`, an instruction that ends past `to` (the decoding was
 * not in step with the code) counts as a failure at `to`. */
static const uint8_t* decode_range(const hs_code* m, const uint8_t* from,
                                   const uint8_t* to, BOOL exact,
                                   uint8_t* const entries[], unsigned n,
                                   uint32_t masks[]) {
  const uint8_t* failed = NULL;
  const uint8_t* p = from;
  while (p != NULL && p < to) {
    hs_insn in;
    if (xfg_hash_at(m, p)) {
      p += XFG_HASH_SIZE;
      continue;
    }
    if (!hs_code_decode(m, p, &in)) {
      if (failed == NULL) failed = p;
      p = boundary(m, p, TRUE);
      continue;
    }
    if (in.target != NULL) land(in.target, entries, n, masks);
    p += in.len;
  }
  if (exact && p != to && failed == NULL) failed = to;
  return failed;
}

/* The module's base relocations, one at a time (reloc_next gives where the
 * next one applies and its type, NULL after the last): every absolute
 * address the module holds has one. A malformed block ends the walk. */
typedef struct reloc_cursor {
  const uint8_t *r, *end;
  size_t k;
} reloc_cursor;

static reloc_cursor relocs_of(const hs_code* m) {
  const IMAGE_DATA_DIRECTORY* d =
      &m->nt->OptionalHeader.DataDirectory[IMAGE_DIRECTORY_ENTRY_BASERELOC];
  const uint8_t* r = d->VirtualAddress ? m->base + d->VirtualAddress : NULL;
  return (reloc_cursor){r, r ? r + d->Size : NULL, 0};
}

static const uint8_t* reloc_next(const hs_code* m, reloc_cursor* c,
                                 unsigned* type) {
  while (c->r != NULL && c->end - c->r >= 8) {
    const IMAGE_BASE_RELOCATION* blk = (const IMAGE_BASE_RELOCATION*)c->r;
    if (blk->SizeOfBlock < 8 || blk->SizeOfBlock > (size_t)(c->end - c->r)) {
      break;
    }
    const uint16_t* e = (const uint16_t*)(c->r + 8);
    if (c->k < (blk->SizeOfBlock - 8) / 2) {
      uint16_t v = e[c->k++];
      *type = v >> 12;
      return m->base + blk->VirtualAddress + (v & 0xFFF);
    }
    c->r += blk->SizeOfBlock;
    c->k = 0;
  }
  c->r = NULL;
  return NULL;
}

void hs_code_landings(const hs_code* m, uint8_t* const entries[], unsigned n,
                      uint32_t masks[], const uint8_t* undecoded[]) {
  if (n == 0) return;
  uintptr_t lo = UINTPTR_MAX, hi = 0;
  for (unsigned k = 0; k < n; k++) {
    uintptr_t w = (uintptr_t)entries[k] - WINDOW_BEFORE;
    if (w < lo) lo = w;
    if (w + 32 > hi) hi = w + 32;
  }
  /* rel32 jmp/jcc/call anywhere in the module's code. */
  IMAGE_SECTION_HEADER* s = IMAGE_FIRST_SECTION(m->nt);
  for (unsigned i = 0; i < m->nt->FileHeader.NumberOfSections; i++, s++) {
    if (!(s->Characteristics & IMAGE_SCN_MEM_EXECUTE)) continue;
    const uint8_t* p = m->base + s->VirtualAddress;
    const uint8_t* end = p + section_size(s);
    for (; end - p >= 6; p++) {
      const uint8_t* t;
      if (p[0] == 0xE8 || p[0] == 0xE9) t = p + 5 + *(const int32_t*)(p + 1);
      else if (p[0] == 0x0F && (p[1] & 0xF0) == 0x80) {
        t = p + 6 + *(const int32_t*)(p + 2);
      } else {
        continue;
      }
      if ((uintptr_t)t >= lo && (uintptr_t)t < hi) land(t, entries, n, masks);
    }
  }
  /* Absolute addresses the module holds (they all have base relocations). */
  reloc_cursor c = relocs_of(m);
  unsigned type;
  for (const uint8_t* at; (at = reloc_next(m, &c, &type)) != NULL;) {
    uintptr_t v;
    if (type == IMAGE_REL_BASED_HIGHLOW) v = *(const uint32_t*)at;
    else if (type == IMAGE_REL_BASED_DIR64) v = (uintptr_t)*(const uint64_t*)at;
    else continue;
    if (v >= lo && v < hi) land((const uint8_t*)v, entries, n, masks);
  }
  /* rel8 (and rel32) within reach of each site, decoded: from the entry on,
   * and from a known boundary before it up to the entry. */
  for (unsigned k = 0; k < n; k++) {
    uint8_t* entry = entries[k];
    const uint8_t* w = entry - WINDOW_BEFORE;
    const uint8_t* end = code_end(m, entry);
    const uint8_t* to = w + 32 + REL8_REACH < end ? w + 32 + REL8_REACH : end;
    undecoded[2 * k + 1] =
        decode_range(m, entry, to, FALSE, entries, n, masks);
    const uint8_t* from = boundary(m, w - REL8_REACH, FALSE);
    if (from == NULL || entry - from > BACKWARD_MAX || from >= entry) {
      from = boundary(m, entry - 1, FALSE);
    }
    undecoded[2 * k] =
        from == NULL || from >= entry
            ? entry - 1
            : decode_range(m, from, entry, TRUE, entries, n, masks);
  }
}

/* ---- imports ------------------------------------------------------------
 * Where the module's own code calls a function it imports: every
 * RIP-relative reference to the import's slot, found by treating each byte
 * offset as the end of a disp32 (a call, jmp or load through the slot has
 * no immediate after its displacement). Complete; data that mimics one
 * costs at most a refused installation. */

#define MAX_IMPORT_SLOTS 8

/* The slots (IAT entries) of the imports named, from whichever DLL; or
 * (unsigned)-1 when an import's name cannot be read: a descriptor without
 * its lookup table (its IAT holds addresses by now, no names) or a name
 * outside the image. */
static unsigned import_slots(const hs_code* m, const char* const names[],
                             const uint8_t* slots[]) {
  const IMAGE_DATA_DIRECTORY* d =
      &m->nt->OptionalHeader.DataDirectory[IMAGE_DIRECTORY_ENTRY_IMPORT];
  unsigned n = 0;
  if (d->VirtualAddress == 0) return 0;
  const IMAGE_IMPORT_DESCRIPTOR* imp =
      (const IMAGE_IMPORT_DESCRIPTOR*)(m->base + d->VirtualAddress);
  for (; hs_code_contains_data(m, (const uint8_t*)imp, sizeof *imp) &&
         imp->Name != 0;
       imp++) {
    if (imp->OriginalFirstThunk == 0) return (unsigned)-1;
    const IMAGE_THUNK_DATA* t =
        (const IMAGE_THUNK_DATA*)(m->base + imp->OriginalFirstThunk);
    for (size_t i = 0;
         hs_code_contains_data(m, (const uint8_t*)&t[i], sizeof t[i]) &&
         t[i].u1.AddressOfData != 0;
         i++) {
      if (IMAGE_SNAP_BY_ORDINAL(t[i].u1.Ordinal)) continue;
      if (t[i].u1.AddressOfData > m->nt->OptionalHeader.SizeOfImage) {
        return (unsigned)-1;
      }
      const char* name =
          (const char*)(m->base + t[i].u1.AddressOfData) +
          offsetof(IMAGE_IMPORT_BY_NAME, Name);
      for (const char* const* w = names; *w != NULL; w++) {
        size_t len = strlen(*w) + 1; /* with its NUL */
        if (n < MAX_IMPORT_SLOTS &&
            hs_code_contains_data(m, (const uint8_t*)name, len) &&
            memcmp(name, *w, len) == 0) {
          slots[n++] = m->base + imp->FirstThunk + i * sizeof(IMAGE_THUNK_DATA);
        }
      }
    }
  }
  return n;
}

#if HS_X64
/* The first address of the function holding p: its .pdata entry, followed
 * through chained unwind data (and indirect entries, as
 * RtlLookupFunctionEntry follows them) to the function it was split from;
 * NULL in no entry. */
static const uint8_t* function_of(const hs_code* m, const uint8_t* p) {
  const IMAGE_DATA_DIRECTORY* d =
      &m->nt->OptionalHeader.DataDirectory[IMAGE_DIRECTORY_ENTRY_EXCEPTION];
  size_t n = d->VirtualAddress ? d->Size / sizeof(RUNTIME_FUNCTION) : 0;
  const RUNTIME_FUNCTION* rf = (const RUNTIME_FUNCTION*)(m->base +
                                                          d->VirtualAddress);
  DWORD rva = (DWORD)(p - m->base);
  const RUNTIME_FUNCTION* f = NULL;
  for (size_t i = 0; i < n && f == NULL; i++) {
    if (rf[i].BeginAddress <= rva && rva < rf[i].EndAddress) f = &rf[i];
  }
  for (int depth = 0; f != NULL && depth < 32; depth++) {
    if (f->UnwindData & 1) { /* RUNTIME_FUNCTION_INDIRECT: another entry */
      f = (const RUNTIME_FUNCTION*)(m->base + f->UnwindData - 1);
      if (!hs_code_contains_data(m, (const uint8_t*)f, sizeof *f)) return NULL;
      continue;
    }
    const uint8_t* u = m->base + f->UnwindData;
    if (!hs_code_contains_data(m, u, 4)) return NULL;
    if (!((u[0] >> 3) & UNW_FLAG_CHAININFO)) {
      return m->base + f->BeginAddress;
    }
    const RUNTIME_FUNCTION* parent =
        (const RUNTIME_FUNCTION*)(u + 4 + ((u[2] + 1u) & ~1u) * 2);
    if (!hs_code_contains_data(m, (const uint8_t*)parent, sizeof *parent)) {
      return NULL;
    }
    f = parent;
  }
  return NULL;
}
#endif

#if !HS_X64
/* x86 (no .pdata): the instructions each entry's function runs, found by
 * decoding from it along fall-through and every direct jump or branch
 * (calls are not followed: their targets are other functions), as far as
 * a return or an indirect jump. A hash set of the RVAs of their first
 * bytes, with each one's length. */
#define REACH_SLOTS 32768u /* a power of two */
#define REACH_MAX 16384u   /* instructions in all */
static uint32_t reach_rva[REACH_SLOTS]; /* RVA + 1; 0: empty */
static uint8_t reach_len[REACH_SLOTS];
static unsigned reach_count;

static BOOL reach_add(uint32_t rva, uint8_t len) {
  for (uint32_t h = (rva * 2654435761u) & (REACH_SLOTS - 1);;
       h = (h + 1) & (REACH_SLOTS - 1)) {
    if (reach_rva[h] == rva + 1) return FALSE;
    if (reach_rva[h] == 0) {
      reach_rva[h] = rva + 1;
      reach_len[h] = len;
      reach_count++;
      return TRUE;
    }
  }
}

/* Whether the instruction at rva was reached (its length, else 0). */
static unsigned reach_at(uint32_t rva) {
  for (uint32_t h = (rva * 2654435761u) & (REACH_SLOTS - 1);;
       h = (h + 1) & (REACH_SLOTS - 1)) {
    if (reach_rva[h] == rva + 1) return reach_len[h];
    if (reach_rva[h] == 0) return 0;
  }
}

/* FALSE when the code reached is more than the set holds (then nothing
 * can be told). */
static BOOL reach_from(const hs_code* m, uint8_t* const entries[], unsigned n) {
  static const uint8_t* work[1024];
  memset(reach_rva, 0, sizeof reach_rva);
  reach_count = 0;
  for (unsigned k = 0; k < n; k++) {
    unsigned top = 0;
    work[top++] = entries[k];
    while (top > 0) {
      const uint8_t* p = work[--top];
      for (;;) {
        hs_insn in;
        if (reach_count >= REACH_MAX) return FALSE;
        if (!hs_code_decode(m, p, &in)) break;
        if (!reach_add((uint32_t)(p - m->base), (uint8_t)in.len)) break;
        if ((in.kind == HS_INSN_JCC || in.kind == HS_INSN_JMP) &&
            hs_code_contains(m, in.target, 1)) {
          if (top == sizeof work / sizeof work[0]) return FALSE;
          work[top++] = in.target;
        }
        if (in.kind == HS_INSN_JMP || in.kind == HS_INSN_JMP_IND ||
            in.kind == HS_INSN_END) {
          break;
        }
        p += in.len;
      }
    }
  }
  return TRUE;
}

/* Whether p lies in an instruction reach_from found (one starts at most
 * 15 bytes before it). */
static BOOL reached(const hs_code* m, const uint8_t* p) {
  uint32_t rva = (uint32_t)(p - m->base);
  for (uint32_t back = 0; back < 16 && back <= rva; back++) {
    unsigned len = reach_at(rva - back);
    if (len > back) return TRUE;
  }
  return FALSE;
}
#endif

const uint8_t* hs_code_import_use_outside(const hs_code* m,
                                          const char* const names[],
                                          uint8_t* const entries[],
                                          unsigned n) {
#if HS_X64
  const uint8_t* slots[MAX_IMPORT_SLOTS];
  unsigned count = import_slots(m, names, slots);
  if (count == (unsigned)-1) return m->base; /* cannot tell: refused */
  if (count == 0) return NULL;
  const IMAGE_SECTION_HEADER* s = IMAGE_FIRST_SECTION(m->nt);
  for (unsigned i = 0; i < m->nt->FileHeader.NumberOfSections; i++, s++) {
    if (!(s->Characteristics & IMAGE_SCN_MEM_EXECUTE)) continue;
    const uint8_t* p = m->base + s->VirtualAddress;
    const uint8_t* end = p + section_size(s);
    for (; end - p >= 4; p++) {
      const uint8_t* t = p + 4 + *(const int32_t*)p;
      BOOL hit = FALSE;
      for (unsigned k = 0; k < count; k++) hit |= t == slots[k];
      if (!hit) continue;
      const uint8_t* f = function_of(m, p);
      BOOL ours = FALSE;
      for (unsigned k = 0; k < n && f != NULL; k++) ours |= f == entries[k];
      if (!ours) return p;
    }
  }
  return NULL;
#else
  const uint8_t* slots[MAX_IMPORT_SLOTS];
  unsigned count = import_slots(m, names, slots);
  if (count == (unsigned)-1) return m->base; /* cannot tell: refused */
  if (count == 0) return NULL;
  BOOL complete = reach_from(m, entries, n);
  /* Every absolute reference to a slot has a base relocation. */
  reloc_cursor c = relocs_of(m);
  unsigned type;
  for (const uint8_t* at; (at = reloc_next(m, &c, &type)) != NULL;) {
    if (type != IMAGE_REL_BASED_HIGHLOW || code_end(m, at) == NULL) continue;
    uintptr_t v = *(const uint32_t*)at;
    BOOL hit = FALSE;
    for (unsigned j = 0; j < count; j++) hit |= v == (uintptr_t)slots[j];
    if (hit && (!complete || !reached(m, at))) return at;
  }
  return NULL;
#endif
}

/* ---- the module's file: its code as it was before anyone patched it ------
 * An export another tool has hooked (with a jump form decode() cannot tell
 * from code: `mov rax, imm64; jmp rax`, `push imm32; ret`, an indirect jump
 * through a slot of its own) differs from the module's file on disk. The
 * file is compared only when it is the image that was mapped (same time
 * stamp, size of image, checksum and entry point); the loaded bytes differ
 * from it where base relocations applied, which are applied to the file's
 * bytes before comparing. */

#define FILE_WINDOW 8 /* relocations may start this far before a span */

/* Whether the loader may rewrite the image's code beyond its base
 * relocations: a dynamic value relocation table (function overrides by CPU
 * feature, retpoline and import-call rewrites, ARM64X) or CHPE metadata in
 * its load config. Then its file says nothing about a site. */
static BOOL rewritten_at_load(const hs_code* m) {
  const IMAGE_DATA_DIRECTORY* d =
      &m->nt->OptionalHeader.DataDirectory[IMAGE_DIRECTORY_ENTRY_LOAD_CONFIG];
  if (d->VirtualAddress == 0 || d->Size < sizeof(DWORD)) return FALSE;
  const uint8_t* lc = m->base + d->VirtualAddress;
  if (!hs_code_contains_data(m, lc, sizeof(DWORD))) return TRUE;
  DWORD size = *(const DWORD*)lc;
  if (!hs_code_contains_data(m, lc, size)) return TRUE;
  /* DynamicValueRelocTable, CHPEMetadataPointer, DynamicValueRelocTableOffset
   * (IMAGE_LOAD_CONFIG_DIRECTORY64 / 32) */
  static const struct {
    uint16_t at, width;
  } fields[] = {
#if HS_X64
      {192, 8}, {200, 8}, {224, 4}
#else
      {120, 4}, {124, 4}, {136, 4}
#endif
  };
  for (unsigned i = 0; i < sizeof fields / sizeof fields[0]; i++) {
    if (size < (DWORD)fields[i].at + fields[i].width) continue;
    uint64_t v = 0;
    memcpy(&v, lc + fields[i].at, fields[i].width);
    if (v != 0) return TRUE;
  }
  return FALSE;
}

void hs_code_file_open(hs_code* m) {
  m->file = INVALID_HANDLE_VALUE;
  if (rewritten_at_load(m) || hs_faults.no_file) return;
  static wchar_t path[1024];
  DWORD n = GetModuleFileNameW((HMODULE)m->base, path, 1024);
  if (n == 0 || n >= 1024) return;
  HANDLE h = CreateFileW(path, GENERIC_READ,
                         FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                         NULL, OPEN_EXISTING, 0, NULL);
  if (h == INVALID_HANDLE_VALUE) return;
  IMAGE_DOS_HEADER dos;
  IMAGE_NT_HEADERS nt;
  DWORD got;
  OVERLAPPED at = {0};
  const IMAGE_NT_HEADERS* mem = m->nt;
  if (!ReadFile(h, &dos, sizeof dos, &got, &at) || got != sizeof dos ||
      dos.e_magic != IMAGE_DOS_SIGNATURE) {
    CloseHandle(h);
    return;
  }
  at.Offset = (DWORD)dos.e_lfanew;
  if (!ReadFile(h, &nt, sizeof nt, &got, &at) || got != sizeof nt ||
      nt.Signature != IMAGE_NT_SIGNATURE ||
      nt.FileHeader.Machine != mem->FileHeader.Machine ||
      nt.FileHeader.TimeDateStamp != mem->FileHeader.TimeDateStamp ||
      nt.FileHeader.NumberOfSections != mem->FileHeader.NumberOfSections ||
      nt.OptionalHeader.Magic != mem->OptionalHeader.Magic ||
      nt.OptionalHeader.SizeOfImage != mem->OptionalHeader.SizeOfImage ||
      nt.OptionalHeader.CheckSum != mem->OptionalHeader.CheckSum ||
      nt.OptionalHeader.AddressOfEntryPoint !=
          mem->OptionalHeader.AddressOfEntryPoint) {
    CloseHandle(h); /* another version replaced it on disk, or not a PE */
    return;
  }
  m->file = h;
  m->delta = (uintptr_t)m->base - (uintptr_t)nt.OptionalHeader.ImageBase;
}

void hs_code_file_close(hs_code* m) {
  if (m->file != INVALID_HANDLE_VALUE) CloseHandle(m->file);
  m->file = INVALID_HANDLE_VALUE;
}

/* The file's bytes of [rva, rva + n), inside one section: FALSE if unread. */
static BOOL file_read(const hs_code* m, const IMAGE_SECTION_HEADER* s,
                      DWORD rva, uint8_t* out, DWORD n) {
  DWORD in = rva - s->VirtualAddress; /* offset in the section */
  DWORD raw = in < s->SizeOfRawData ? s->SizeOfRawData - in : 0;
  DWORD take = n < raw ? n : raw;
  memset(out + take, 0, n - take); /* past the raw data: zero-filled */
  if (take == 0) return TRUE;
  OVERLAPPED at = {0};
  at.Offset = s->PointerToRawData + in;
  DWORD got;
  return ReadFile(m->file, out, take, &got, &at) && got == take;
}

/* Applies the relocations inside [rva, rva + n) to `buf` (the file's
 * bytes there); FALSE for a kind it does not apply there. */
static BOOL file_relocate(const hs_code* m, DWORD rva, uint8_t* buf, DWORD n) {
  if (m->delta == 0) return TRUE;
  const IMAGE_DATA_DIRECTORY* d =
      &m->nt->OptionalHeader.DataDirectory[IMAGE_DIRECTORY_ENTRY_BASERELOC];
  if (d->VirtualAddress == 0 || d->Size == 0) return TRUE;
  if (!hs_code_contains_data(m, m->base + d->VirtualAddress, d->Size)) {
    return FALSE;
  }
  const uint8_t* p = m->base + d->VirtualAddress;
  const uint8_t* end = p + d->Size;
  while (end - p >= (ptrdiff_t)sizeof(IMAGE_BASE_RELOCATION)) {
    const IMAGE_BASE_RELOCATION* b = (const IMAGE_BASE_RELOCATION*)p;
    if (b->SizeOfBlock < sizeof *b || b->SizeOfBlock > (size_t)(end - p)) {
      break;
    }
    const WORD* e = (const WORD*)(b + 1);
    size_t count = (b->SizeOfBlock - sizeof *b) / sizeof(WORD);
    if (b->VirtualAddress + 0x1000 + 8 > rva &&
        b->VirtualAddress < rva + n) {
      for (size_t i = 0; i < count; i++) {
        unsigned type = e[i] >> 12;
        DWORD at = b->VirtualAddress + (e[i] & 0xFFF);
        unsigned width = type == IMAGE_REL_BASED_DIR64     ? 8
                         : type == IMAGE_REL_BASED_HIGHLOW ? 4
                         : type == IMAGE_REL_BASED_ABSOLUTE ? 0
                                                             : 16;
        if (width == 0 || at + 8 <= rva || at >= rva + n) continue;
        if (width == 16) return FALSE;
        /* one across the window's edge: the window's margin keeps it out
         * of the span compared */
        if (at < rva || at + width > rva + n) continue;
        uint8_t* v = buf + (at - rva);
        if (width == 8) {
          uint64_t x;
          memcpy(&x, v, 8);
          x += (uint64_t)m->delta;
          memcpy(v, &x, 8);
        } else {
          uint32_t x;
          memcpy(&x, v, 4);
          x += (uint32_t)m->delta;
          memcpy(v, &x, 4);
        }
      }
    }
    p += b->SizeOfBlock;
  }
  return TRUE;
}

int hs_code_file_same(const hs_code* m, const uint8_t* p, size_t n) {
  if (m->file == INVALID_HANDLE_VALUE || n == 0 || n > 64) return -1;
  const IMAGE_SECTION_HEADER* s = section_of(m, p);
  if (s == NULL) return -1;
  DWORD rva = (DWORD)(p - m->base);
  DWORD lo = rva - s->VirtualAddress >= FILE_WINDOW ? rva - FILE_WINDOW
                                                    : s->VirtualAddress;
  DWORD hi = s->VirtualAddress + section_size(s);
  if (rva + n > hi) return -1;
  if (hi > rva + n + FILE_WINDOW) hi = (DWORD)(rva + n + FILE_WINDOW);
  uint8_t buf[64 + 2 * FILE_WINDOW];
  if (!file_read(m, s, lo, buf, hi - lo) ||
      !file_relocate(m, lo, buf, hi - lo)) {
    return -1;
  }
  return memcmp(buf + (rva - lo), p, n) == 0;
}
