/* Installing the hooks: every entry of HS_HOOKS is resolved in the loaded
 * ucrtbase, wrappers are decoded down to the code that does the work, each
 * code site gets one jump to its hook.
 *
 * - Wrappers: `jmp rel32/rel8` and `jmp [mem]` at an export are followed
 *   (UCRT's `_msize` is `jmp _msize_base`), and so are wrappers that only
 *   forward their arguments to one call (x64 `sub rsp,N; call X; add rsp,N;
 *   ret`; x86 `push ebp; mov ebp,esp; push [ebp+8+4k]...; call X; ...; ret`
 *   or `pop ebp; jmp X`). That reaches the non-exported `_base` bodies the
 *   CRT calls directly.
 * - The jump (the "x64"/"x86" blocks below): x64 `jmp [rip+0]; dq hook`
 *   (14 bytes) or `mov rax, hook; jmp rax` (12); x86 a hot-patch (a function
 *   that starts with `mov edi,edi` after 5 bytes of padding gets `jmp rel32`
 *   in the padding and `jmp $-5` over the `mov edi,edi`: 2 bytes of the
 *   function change) or `jmp rel32` at the entry (5 bytes).
 * - A form is taken only if its bytes stay inside the function (its extent
 *   from .pdata/.eh_frame, else decoding, bounded by the next function or
 *   export: code.c), the instructions it overwrites decode, and no direct
 *   branch, call or absolute code address in the module lands inside the
 *   bytes it overwrites (only the entry itself may be a target). Else the
 *   next form; none → the entry is refused. A required entry refused →
 *   nothing is patched at all.
 * - Pages: each page the sites touch (several sites share pages) is made
 *   writable only while every other thread is suspended, in the attempt
 *   that commits, and given back the protection it had then before they
 *   resume: no code of the program runs while it is writable, and another
 *   tool's VirtualProtect of the same page cannot come between ours and
 *   the writes (it restored the read-only protection under a write of ours
 *   that then faulted inside DllMain, or took ours for the page's own and
 *   left it writable). A page that cannot be made writable (reason
 *   `protect`) fails that attempt, with nothing written; a protection that
 *   cannot be put back is reported (reason `restore`). The sites' bytes
 *   are compared with the plan in the same window: another tool's patch
 *   since then fails the installation (reason `foreign-hook`), rather than
 *   be overwritten.
 * - Threads (fail closed): every other thread of this process is opened
 *   from a toolhelp snapshot (a thread id the snapshot listed that now
 *   belongs to another process is not ours: skipped) and suspended; one that
 *   cannot be opened fails the installation, unless it has ended. An attempt
 *   in which a thread is inside a site's bytes, has a return address into
 *   them on its stack, or cannot be suspended or inspected yet (a thread in
 *   its kernel exit may refuse before its handle is signalled) is given up
 *   with nothing changed and repeated, for at most BUDGET_MS in all
 *   (measured, not counted: Sleep(1) is 15.6 ms at Windows' default timer
 *   resolution). Only an attempt that commits writes the jumps, checks they
 *   read back (else rolls them back) and moves the threads found exactly at
 *   a site entry to the hook. Nothing here allocates while threads are
 *   suspended (one may hold the process-heap lock): buffers are static or on
 *   the stack. */
#include "heapshift.h"

#include <stdio.h>
#include <tlhelp32.h>

#define MAX_SITES 64
#define MAX_THREADS 4096
#define MAX_PAGES (2 * MAX_SITES)
#define BUDGET_MS 250 /* every attempt together, loader lock held */
#define JUMP_MAX 16
#define FORWARDER_MAX 48 /* bytes a forwarding wrapper's decoding reads */

/* How a site's jump is written. */
typedef enum form {
  FORM_ABS14,    /* x64 jmp [rip+0]; dq hook */
  FORM_ABS12,    /* x64 mov rax, hook; jmp rax (rax is free at an entry) */
  FORM_HOTPATCH, /* x86 jmp rel32 in the 5 bytes before; jmp $-5 at entry */
  FORM_REL5      /* x86 jmp rel32 at the entry */
} form;

typedef struct shape {
  form f;
  int from;     /* first byte written, relative to the entry */
  unsigned len; /* bytes written */
} shape;

/* ---- x64 ---------------------------------------------------------------- */
#if HS_X64

static const shape shapes[] = {{FORM_ABS14, 0, 14}, {FORM_ABS12, 0, 12}};

static void jump_encode(uint8_t* out, form f, const uint8_t* entry,
                        const void* hook) {
  (void)entry;
  uint64_t to = (uint64_t)(uintptr_t)hook;
  if (f == FORM_ABS14) {
    static const uint8_t op[6] = {0xFF, 0x25, 0, 0, 0, 0};
    memcpy(out, op, 6);
    memcpy(out + 6, &to, 8);
  } else {
    out[0] = 0x48;
    out[1] = 0xB8;
    memcpy(out + 2, &to, 8);
    out[10] = 0xFF;
    out[11] = 0xE0;
  }
}

static uintptr_t ctx_pc(const CONTEXT* c) { return (uintptr_t)c->Rip; }
static void ctx_set_pc(CONTEXT* c, const void* pc) {
  c->Rip = (DWORD64)(uintptr_t)pc;
}
static uintptr_t ctx_sp(const CONTEXT* c) { return (uintptr_t)c->Rsp; }

/* `sub rsp,N; call X; add rsp,N; ret` → X. */
static uint8_t* forwarded(uint8_t* p) {
  if (p[0] == 0x48 && p[1] == 0x83 && p[2] == 0xEC && p[4] == 0xE8 &&
      p[9] == 0x48 && p[10] == 0x83 && p[11] == 0xC4 && p[12] == p[3] &&
      p[13] == 0xC3) {
    return p + 9 + *(int32_t*)(p + 5);
  }
  return NULL;
}

static BOOL shape_fits(const hs_code* m, const shape* s, const uint8_t* e) {
  (void)m, (void)s, (void)e;
  return TRUE;
}

/* x64 has one convention. */
static uint8_t* register_forwarded(uint8_t* p, void* hook, void** adapter) {
  (void)p, (void)hook, (void)adapter;
  return NULL;
}

/* ---- x86 ---------------------------------------------------------------- */
#else

static const shape shapes[] = {{FORM_HOTPATCH, -5, 7}, {FORM_REL5, 0, 5}};

static void jump_encode(uint8_t* out, form f, const uint8_t* entry,
                        const void* hook) {
  /* jmp rel32 from the first byte written, ending at `end`. */
  const uint8_t* end = f == FORM_HOTPATCH ? entry : entry + 5;
  int32_t rel = (int32_t)((uintptr_t)hook - (uintptr_t)end);
  out[0] = 0xE9;
  memcpy(out + 1, &rel, 4);
  if (f == FORM_HOTPATCH) {
    out[5] = 0xEB; /* jmp $-5: back to the jmp rel32 in the padding */
    out[6] = 0xF9;
  }
}

static uintptr_t ctx_pc(const CONTEXT* c) { return (uintptr_t)c->Eip; }
static void ctx_set_pc(CONTEXT* c, const void* pc) {
  c->Eip = (DWORD)(uintptr_t)pc;
}
static uintptr_t ctx_sp(const CONTEXT* c) { return (uintptr_t)c->Esp; }

/* A __cdecl wrapper that only forwards its arguments, in order, to one
 * function: `[mov edi,edi] push ebp; mov ebp,esp;` then `pop ebp; jmp X`,
 * or `push [ebp+8+4(n-1)] ... push [ebp+8]; call X; pop ecx (n times) |
 * add esp,4n; pop ebp; ret` → X. */
static uint8_t* forwarded(uint8_t* p) {
  if (p[0] == 0x8B && p[1] == 0xFF) p += 2;
  if (!(p[0] == 0x55 && p[1] == 0x8B && p[2] == 0xEC)) return NULL;
  p += 3;
  if (p[0] == 0x5D && p[1] == 0xE9) return p + 6 + *(int32_t*)(p + 2);
  if (p[0] == 0x5D && p[1] == 0xEB) return p + 3 + *(int8_t*)(p + 2);
  unsigned n = 0;
  while (p[3 * n] == 0xFF && p[3 * n + 1] == 0x75 && n < 8) n++;
  for (unsigned k = 0; k < n; k++) {
    if (p[3 * k + 2] != 8 + 4 * (n - 1 - k)) return NULL;
  }
  p += 3 * n;
  if (n == 0 || p[0] != 0xE8) return NULL;
  uint8_t* to = p + 5 + *(int32_t*)(p + 1);
  p += 5;
  if (p[0] == 0x83 && p[1] == 0xC4 && p[2] == 4 * n) {
    p += 3;
  } else {
    for (unsigned k = 0; k < n; k++, p++) {
      if (*p != 0x59) return NULL;
    }
  }
  return p[0] == 0x5D && p[1] == 0xC3 ? to : NULL;
}

/* Microsoft's x86 ucrtbase (LTCG) passes the arguments of its non-exported
 * `_msize_base`, `_expand_base` and `_recalloc_base` in registers: the
 * exports load them and jump or call (`mov ecx, [ebp+8]; pop ebp; jmp X`).
 * Those `_base` functions get an adapter that takes the arguments where the
 * convention puts them, calls the __cdecl hook, and keeps every register
 * but eax (the convention's callers might rely on more than __cdecl's
 * callee-saved ones; the caller cleans any stack argument, as the
 * wrapper's own `pop ecx` after its call shows). */
#if defined(_MSC_VER) && !defined(__clang__)
__declspec(naked) static void hs_msize_ecx(void) {
  __asm {
    push ecx
    push edx
    push ecx
    call hs_msize
    add esp, 4
    pop edx
    pop ecx
    ret
  }
}
__declspec(naked) static void hs_expand_ecx_edx(void) {
  __asm {
    push ecx
    push edx
    push edx
    push ecx
    call hs_expand
    add esp, 8
    pop edx
    pop ecx
    ret
  }
}
__declspec(naked) static void hs_recalloc_ecx_edx_stack(void) {
  __asm {
    push ecx
    push edx
    push dword ptr [esp + 12] /* the stack argument, past the two saved */
    push edx
    push ecx
    call hs_recalloc
    add esp, 12
    pop edx
    pop ecx
    ret
  }
}
#else
void hs_msize_ecx(void);
void hs_expand_ecx_edx(void);
void hs_recalloc_ecx_edx_stack(void);
__asm__(
    ".text\n"
    ".p2align 4\n"
    "_hs_msize_ecx:\n"
    "  push %ecx\n"
    "  push %edx\n"
    "  push %ecx\n"
    "  call _hs_msize\n"
    "  add $4, %esp\n"
    "  pop %edx\n"
    "  pop %ecx\n"
    "  ret\n"
    ".p2align 4\n"
    "_hs_expand_ecx_edx:\n"
    "  push %ecx\n"
    "  push %edx\n"
    "  push %edx\n"
    "  push %ecx\n"
    "  call _hs_expand\n"
    "  add $8, %esp\n"
    "  pop %edx\n"
    "  pop %ecx\n"
    "  ret\n"
    ".p2align 4\n"
    "_hs_recalloc_ecx_edx_stack:\n"
    "  push %ecx\n"
    "  push %edx\n"
    "  push 12(%esp)\n" /* the stack argument, past the two saved */
    "  push %edx\n"
    "  push %ecx\n"
    "  call _hs_recalloc\n"
    "  add $12, %esp\n"
    "  pop %edx\n"
    "  pop %ecx\n"
    "  ret\n");
#endif

/* The register conventions taken: the first argument in ecx, the second in
 * edx, a third on the stack. */
static const struct {
  void* hook;
  unsigned args;
  void* adapter;
} adapters[] = {
    {(void*)hs_msize, 1, (void*)hs_msize_ecx},
    {(void*)hs_expand, 2, (void*)hs_expand_ecx_edx},
    {(void*)hs_recalloc, 3, (void*)hs_recalloc_ecx_edx_stack},
};

/* A __cdecl wrapper that hands its arguments on in registers: `[mov
 * edi,edi] push ebp; mov ebp,esp;` then loads of the first into ecx and the
 * second into edx (`mov ecx, [ebp+8]`, `mov edx, [ebp+12]`, either order)
 * and a push of a third (`push [ebp+16]`, first), then `pop ebp; jmp X`
 * (no push), or `call X; pop ecx | add esp,4; pop ebp; ret`. X, and the
 * adapter for `hook` in *adapter, when the arguments are exactly the ones
 * its convention takes; NULL otherwise (*adapter untouched). */
static uint8_t* register_forwarded(uint8_t* p, void* hook, void** adapter) {
  unsigned want = 0;
  void* found = NULL;
  for (unsigned i = 0; i < sizeof adapters / sizeof adapters[0]; i++) {
    if (adapters[i].hook == hook) {
      want = adapters[i].args;
      found = adapters[i].adapter;
    }
  }
  if (want == 0) return NULL;
  if (p[0] == 0x8B && p[1] == 0xFF) p += 2;
  if (!(p[0] == 0x55 && p[1] == 0x8B && p[2] == 0xEC)) return NULL;
  p += 3;
  BOOL pushed = FALSE, ecx = FALSE, edx = FALSE;
  if (want == 3 && p[0] == 0xFF && p[1] == 0x75 && p[2] == 16) {
    pushed = TRUE;
    p += 3;
  }
  for (int k = 0; k < 2 && p[0] == 0x8B; k++, p += 3) {
    if (p[1] == 0x4D && p[2] == 8 && !ecx) ecx = TRUE;
    else if (p[1] == 0x55 && p[2] == 12 && !edx && want >= 2) edx = TRUE;
    else return NULL;
  }
  if (!ecx || edx != (want >= 2) || pushed != (want == 3)) return NULL;
  uint8_t* to = NULL;
  if (!pushed) {
    if (p[0] == 0x5D && p[1] == 0xE9) to = p + 6 + *(int32_t*)(p + 2);
    if (p[0] == 0x5D && p[1] == 0xEB) to = p + 3 + *(int8_t*)(p + 2);
  } else if (p[0] == 0xE8) {
    to = p + 5 + *(int32_t*)(p + 1);
    p += 5;
    if (p[0] == 0x59) p += 1;
    else if (p[0] == 0x83 && p[1] == 0xC4 && p[2] == 4) p += 3;
    else to = NULL;
    if (!(p[0] == 0x5D && p[1] == 0xC3)) to = NULL;
  }
  if (to != NULL) *adapter = found;
  return to;
}

/* A hot-patch needs `mov edi,edi` at the entry and padding before it. */
static BOOL shape_fits(const hs_code* m, const shape* s, const uint8_t* e) {
  if (s->f != FORM_HOTPATCH) return TRUE;
  return e[0] == 0x8B && e[1] == 0xFF && hs_code_is_padding(m, e - 5, 5);
}

#endif

/* ---- sites -------------------------------------------------------------- */

typedef struct site {
  uint8_t* entry; /* the function's first instruction */
  uint8_t* start; /* first byte written (entry, or 5 before for a hot-patch) */
  void* hook;
  form f;
  unsigned len;
  uint8_t original[JUMP_MAX];
  /* Bit k set: a return address start + k (a call in the original bytes
   * ends there) lies inside the bytes written. */
  uint32_t returns;
} site;

typedef struct page {
  uint8_t* base;
  DWORD protect; /* before we touched it */
} page;

typedef struct thread {
  HANDLE h;
  DWORD id;
  site* at_entry; /* its pc is exactly at this site's entry: moved at commit */
} thread;

static site sites[MAX_SITES];
static unsigned site_count;
static page pages[MAX_PAGES];
static unsigned page_count;
static thread threads[MAX_THREADS];
static unsigned thread_count;
static uintptr_t returns_lo, returns_hi; /* bounds of all return addresses */

typedef struct entry {
  const char* name;
  void* hook;
  unsigned flags;
} entry;

#define HS_ENTRY(name, hook, flags) {#name, (void*)hook, flags},
static const entry table[] = {HS_HOOKS(HS_ENTRY)};
#undef HS_ENTRY
#define TABLE_SIZE (sizeof table / sizeof table[0])

static hs_code code;

/* Follows jumps and forwarding wrappers; NULL if it leaves the module's
 * code. */
static uint8_t* decode(uint8_t* p) {
  for (int hops = 0; hops < 8; hops++) {
    if (!hs_code_contains(&code, p, 1)) return NULL;
    hs_insn in;
    uint8_t* to;
    if (!hs_code_decode(&code, p, &in)) return p;
    if (in.kind == HS_INSN_JMP) {
      p = (uint8_t*)in.target;
    } else if (in.kind == HS_INSN_JMP_IND && in.mem != NULL &&
               in.modrm_reg == 4 &&
               hs_code_contains_data(&code, in.mem, sizeof(void*))) {
      p = *(uint8_t* const*)in.mem; /* jmp [rip+x] / jmp [abs32] */
    } else if (hs_code_contains(&code, p, FORWARDER_MAX) &&
               (to = forwarded(p)) != NULL) {
      p = to;
    } else {
      return p;
    }
  }
  return NULL;
}

static site* find_site(uint8_t* e) {
  for (unsigned i = 0; i < site_count; i++) {
    if (sites[i].entry == e) return &sites[i];
  }
  return NULL;
}

static BOOL fail(hs_patch_result* r, const char* what, uint32_t reason,
                 DWORD win32_error) {
  r->error = what;
  r->reason = reason;
  r->win32_error = win32_error;
  return FALSE;
}

/* What the overwritten instructions of shape s at e hold: FALSE when they
 * do not decode, or run into something other than padding after the
 * function's last instruction; *returns gets the calls ending inside. */
static BOOL read_overwritten(const shape* s, uint8_t* e, uint32_t* returns) {
  *returns = 0;
  const uint8_t* end = e + s->from + s->len;
  const uint8_t* p = e;
  while (p < end) {
    hs_insn in;
    if (!hs_code_decode(&code, p, &in)) return FALSE;
    p += in.len;
    if ((in.kind == HS_INSN_CALL || in.kind == HS_INSN_CALL_IND) &&
        p < end) {
      *returns |= 1u << (p - (e + s->from));
    }
    if (in.kind == HS_INSN_JMP || in.kind == HS_INSN_JMP_IND ||
        in.kind == HS_INSN_END) {
      for (; p < end; p++) {
        if (*p != 0xCC && *p != 0x90) return FALSE;
      }
    }
  }
  return TRUE;
}

static const char NO_ROOM[] = "no room";

/* Chooses the jump for the function at e: the first shape that fits its
 * room, decodes, and has no landing inside (`landings`: bit k is a landing
 * at e - HS_LANDING_BEFORE + k). NULL and *why when none does. */
static const shape* choose(uint8_t* e, uint32_t landings,
                           const uint8_t* const undecoded[2],
                           uint32_t* returns, const char** why) {
  BOOL known;
  size_t room = hs_code_room(&code, e, &known);
  if (hs_faults.branch_in_site != 0 &&
      hs_faults.branch_in_site < 32 - HS_LANDING_BEFORE) {
    landings |= 1u << (HS_LANDING_BEFORE + hs_faults.branch_in_site);
  }
  *why = NO_ROOM;
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
    const shape* s = &shapes[i];
    unsigned after = (unsigned)(s->from + (int)s->len); /* bytes from e on */
    if (room < after || !shape_fits(&code, s, e)) continue;
    /* The code from the entry on must decode at least as far as a rel8
     * branch could reach back into the site from inside the function. */
    const uint8_t* gap = undecoded[1];
    if ((gap != NULL && gap < e + after) ||
        !read_overwritten(s, e, returns)) {
      *why = "its code cannot be decoded";
      continue;
    }
    if (known && gap != NULL && gap < e + room) {
      *why = "its code cannot be decoded";
      continue;
    }
    /* Every byte written but the entry itself must be no target. */
    uint32_t inside = 0;
    for (unsigned k = 0; k < s->len; k++) {
      int at = s->from + (int)k;
      if (at != 0) inside |= 1u << (HS_LANDING_BEFORE + at);
    }
    if (landings & inside) {
      *why = "a branch lands inside the bytes its jump would overwrite";
      continue;
    }
    if (hs_faults.call_in_site != 0) {
      int k = hs_faults.call_in_site - s->from;
      if (k > 0 && (unsigned)k < s->len) *returns |= 1u << k;
    }
    return s;
  }
  return NULL;
}

/* plans[].why of an export whose jumps lead out of ucrtbase */
static const char FOREIGN[] = "it jumps out of ucrtbase.dll (another hook)";
/* ... or that ucrtbase's export table sends out of its image */
static const char EXPORTED_OUT[] =
    "its export leads out of ucrtbase.dll (another tool rewrote the export "
    "table)";
/* ... or whose code another tool rewrote */
static const char CHANGED[] =
    "its code differs from ucrtbase.dll's file (another hook)";

/* Whether the code at p is shaped like another tool's jump, whatever the
 * file says (when the file cannot be compared, all that tells): an
 * indirect jump decode() did not follow (its slot is not ucrtbase's),
 * `push imm32; ret`, `mov reg, imm; jmp reg`, and on x64 subhook's
 * `push imm32; mov dword [rsp+4], imm32; ret` and PolyHook's
 * `push rax; mov rax, imm64; xchg [rsp], rax; ret`. No compiler makes
 * these. */
static BOOL hook_shaped(const uint8_t* p) {
  hs_insn in;
  if (!hs_code_contains(&code, p, 16)) return FALSE;
  if (hs_code_decode(&code, p, &in) && in.kind == HS_INSN_JMP_IND) return TRUE;
  if (p[0] == 0x68 && p[5] == 0xC3) return TRUE;
#if HS_X64
  static const uint8_t store_high[] = {0xC7, 0x44, 0x24, 0x04};
  if (p[0] == 0x68 && memcmp(p + 5, store_high, 4) == 0 && p[13] == 0xC3) {
    return TRUE;
  }
  static const uint8_t swap_ret[] = {0x48, 0x87, 0x04, 0x24, 0xC3};
  if (p[0] == 0x50 && p[1] == 0x48 && p[2] == 0xB8 &&
      memcmp(p + 11, swap_ret, 5) == 0) {
    return TRUE;
  }
  if ((p[0] == 0x48 || p[0] == 0x49) && (p[1] & 0xF8) == 0xB8) {
    uint8_t r = p[1] & 7;
    const uint8_t* q = p + 10;
    if (p[0] == 0x49) { /* r8-r15: the jump needs REX.B too */
      if (q[0] != 0x41) return FALSE;
      q++;
    }
    return q[0] == 0xFF && q[1] == (0xE0 | r);
  }
#else
  if ((p[0] & 0xF8) == 0xB8) return p[5] == 0xFF && p[6] == (0xE0 | (p[0] & 7));
#endif
  return FALSE;
}

/* Whether the n bytes at p are not what ucrtbase's file holds there
 * (FALSE when that cannot be told). */
static BOOL changed(const uint8_t* p, size_t n) {
  return hs_code_file_same(&code, p, n) == 0;
}

/* The first instruction at an export (at least 5 bytes: the shortest jump
 * another tool writes there), or at a site, as ucrtbase's file has it. */
static BOOL entry_changed(const uint8_t* p) {
  hs_insn in;
  size_t n = hs_code_decode(&code, p, &in) && in.len > 5 ? in.len : 5;
  return changed(p, n);
}

static const char* const FORM_NAMES[] = {"jmp [rip]", "mov rax; jmp rax",
                                         "hot-patch", "jmp rel32"};

/* A new site of shape s at e; its returns noted for the stack scan. */
static void add_site(site* st, uint8_t* e, void* hook, const shape* s,
                     uint32_t returns) {
  hs_log("patch: site %p: %s, %u bytes from %p", e, FORM_NAMES[s->f],
         s->len, e + s->from);
  st->entry = e;
  st->start = e + s->from;
  st->hook = hook;
  st->f = s->f;
  st->len = s->len;
  st->returns = returns;
  memcpy(st->original, st->start, s->len);
  for (unsigned k = 1; k < s->len; k++) {
    if (!((returns >> k) & 1)) continue;
    uintptr_t a = (uintptr_t)(st->start + k);
    hs_log("patch: site %p: a call inside it returns to %p", e, (void*)a);
    if (returns_lo == 0 || a < returns_lo) returns_lo = a;
    if (a > returns_hi) returns_hi = a;
  }
}

/* Whether the loaded ucrtbase is Wine's builtin one (whose `_msize`,
 * `_expand` and `_recalloc` do the work themselves): Wine marks its builtin
 * DLLs in the DOS stub. Under Wine a program may load Microsoft's
 * ucrtbase instead (a native override), which must be treated as such. */
static BOOL ucrtbase_is_wines(void) {
  static const char mark[] = "Wine builtin DLL";
  if (hs_faults.not_wine) return FALSE;
  return memcmp((const uint8_t*)hs_target.ucrtbase + 0x40, mark,
                sizeof mark - 1) == 0;
}

/* What each table entry resolves to, and how its code site is patched. */
typedef struct planned {
  uint8_t* entry;     /* where ucrtbase exports it, NULL if it does not */
  uint8_t* target;    /* decoded code site, NULL if absent */
  void* hook;         /* the entry's hook, or its register adapter (x86) */
  const shape* shape; /* NULL: refused */
  const char* why;
  uint32_t returns;
} planned;

static planned plans[TABLE_SIZE];

/* Whether every Win32 heap call that takes a block (HeapFree, HeapSize,
 * HeapReAlloc) in Microsoft's ucrtbase lies in a function the sites
 * replace: one elsewhere (a `_free_base` inlined into another CRT function,
 * in a build not seen yet) would still run after the takeover and hand
 * mimalloc's blocks to the heap, which ends a Windows process. In 10.0.17134
 * and 10.0.22621 (x64) each of them is in `_free_base`, `_msize_base`,
 * `_expand_base` or `_realloc_base`, and in 10.0.17763 (x86). Wine's own
 * calls the heap from many places on blocks of its own (and its heap
 * forgives), so it is not checked. */
static const char* const heap_calls[] = {"HeapFree", "HeapSize",
                                         "HeapReAlloc", NULL};
static BOOL heap_calls_covered(hs_patch_result* r) {
  if (ucrtbase_is_wines() && !hs_faults.heap_calls) return TRUE;
  uint8_t* entries[MAX_SITES];
  for (unsigned k = 0; k < site_count; k++) entries[k] = sites[k].entry;
  const uint8_t* at =
      hs_code_import_use_outside(&code, heap_calls, entries, site_count);
  if (at == NULL) return TRUE;
  hs_log("patch: ucrtbase calls the Win32 heap at %p, outside every function "
         "the jumps replace: a block of mimalloc's could reach it",
         (const void*)at);
  return fail(r, "a Win32 heap call outside the patched functions",
              HS_R_UNSAFE_SITE, 0);
}

/* Resolves every entry into sites; nothing is written. */
static BOOL plan(hs_patch_result* r) {
  static uint8_t* targets[TABLE_SIZE];
  static uint32_t landings[TABLE_SIZE];
  static const uint8_t* undecoded[2 * TABLE_SIZE];
  unsigned n = 0;
  for (size_t i = 0; i < TABLE_SIZE; i++) {
    const entry* e = &table[i];
    uint8_t* exp = (uint8_t*)GetProcAddress(hs_target.ucrtbase, e->name);
    plans[i].entry = exp;
    plans[i].target = exp ? decode(exp) : NULL;
    plans[i].hook = e->hook;
    plans[i].shape = NULL;
    uint8_t* to;
    void* adapter;
    if (plans[i].target != NULL && (e->flags & HS_WRAPS_BASE) &&
        hs_code_contains(&code, plans[i].target, FORWARDER_MAX) &&
        (to = register_forwarded(plans[i].target, e->hook, &adapter)) !=
            NULL &&
        hs_code_contains(&code, to, 1)) {
      hs_log("patch: %s at %p hands its arguments on in registers to %p",
             e->name, plans[i].target, to);
      plans[i].target = to;
      plans[i].hook = adapter;
    }
    /* not code (or not exported), or its jumps leave ucrtbase, or the
     * export itself does (an export-table hook: GetProcAddress gives the
     * other tool's code, while the program's imports still reach ucrtbase's
     * own, which stays unpatched) */
    if (exp != NULL && hs_code_contains(&code, exp, 1)) {
      plans[i].why = FOREIGN;
    } else if (exp != NULL && !hs_code_contains_data(&code, exp, 1)) {
      plans[i].why = EXPORTED_OUT;
    } else {
      plans[i].why = NO_ROOM;
    }
    if (exp == NULL && (e->flags & HS_REQUIRED)) {
      return fail(r, e->name, HS_R_NO_UCRT, 0);
    }
    if (exp != NULL && plans[i].target == exp && (e->flags & HS_WRAPS_BASE) &&
        !ucrtbase_is_wines()) {
      hs_log("patch: %s at %p forwards to no _base function: the CRT's own "
             "calls to that one could not be hooked",
             e->name, exp);
      return fail(r, e->name, HS_R_UNSAFE_SITE, 0);
    }
    if (plans[i].target != NULL && plans[i].target != exp) {
      hs_log("patch: %s at %p decodes to %p", e->name, exp, plans[i].target);
    }
    BOOL seen = plans[i].target == NULL;
    for (unsigned k = 0; k < n && !seen; k++) seen = targets[k] == plans[i].target;
    if (!seen) targets[n++] = plans[i].target;
  }
  memset(landings, 0, sizeof landings);
  hs_code_landings(&code, targets, n, landings, undecoded);
  /* test fault refuse-site:NAME: the site NAME was planned on (a register
   * adapter's _base function on Microsoft's x86 ucrtbase), else where the
   * export decodes to */
  uint8_t* refused = NULL;
  if (hs_faults.refuse_site[0] != 0) {
    uint8_t* exp = (uint8_t*)GetProcAddress(hs_target.ucrtbase,
                                            hs_faults.refuse_site);
    refused = exp ? decode(exp) : NULL;
    for (size_t i = 0; i < TABLE_SIZE; i++) {
      if (strcmp(table[i].name, hs_faults.refuse_site) == 0) {
        refused = plans[i].target;
      }
    }
  }
  for (unsigned k = 0; k < n; k++) {
    if (undecoded[2 * k] != NULL) {
      hs_log("patch: site %p: code before it (from %p) could not be decoded "
             "for rel8 branches",
             targets[k], undecoded[2 * k]);
    }
    uint32_t returns = 0;
    const char* why = NULL;
    const shape* s = choose(targets[k], landings[k], &undecoded[2 * k],
                            &returns, &why);
    if (targets[k] == refused) {
      s = NULL;
      why = "refused by a test fault";
    }
    /* another tool's hook that decodes as code: its bytes tell */
    if (hook_shaped(targets[k]) ||
        (s != NULL ? changed(targets[k] + s->from, s->len)
                   : entry_changed(targets[k]))) {
      s = NULL;
      why = CHANGED;
    }
    for (size_t i = 0; i < TABLE_SIZE; i++) {
      if (plans[i].target != targets[k]) continue;
      plans[i].shape = s;
      plans[i].why = why;
      plans[i].returns = returns;
    }
  }
  /* ... and so do the exports' own entries on the way to the sites */
  for (size_t i = 0; i < TABLE_SIZE; i++) {
    uint8_t* exp = plans[i].entry;
    if (exp != NULL && plans[i].target != NULL && plans[i].target != exp &&
        hs_code_contains(&code, exp, 1) && entry_changed(exp)) {
      plans[i].shape = NULL;
      plans[i].why = CHANGED;
    }
  }
  for (size_t i = 0; i < TABLE_SIZE; i++) {
    const entry* e = &table[i];
    planned* p = &plans[i];
    BOOL required = (e->flags & HS_REQUIRED) != 0 ||
                    ((e->flags & HS_TAKES_BLOCK) != 0 && p->entry != NULL);
    if (p->target == NULL && !required) continue;
    if (p->shape == NULL) {
      hs_log("patch: %s at %p: refused: %s", e->name,
             p->target != NULL ? p->target : p->entry, p->why);
      /* An entry that only allocates stays as it is, also when it jumps
       * elsewhere: Windows' hotpatching does that too, and its code reaches
       * the hooked _base functions. */
      if (!required) continue;
      BOOL foreign =
          p->why == FOREIGN || p->why == CHANGED || p->why == EXPORTED_OUT;
      return fail(r, e->name,
                  p->why == NO_ROOM ? HS_R_NO_ROOM
                  : foreign         ? HS_R_FOREIGN_HOOK
                                    : HS_R_UNSAFE_SITE,
                  0);
    }
    site* s = find_site(p->target);
    if (s != NULL) {
      if (s->hook != p->hook) {
        hs_log("patch: %s shares code with another hook", e->name);
        if (required) return fail(r, e->name, HS_R_SHARED_SITE, 0);
        continue;
      }
    } else {
      uint8_t* from = p->target + p->shape->from;
      BOOL overlaps = FALSE;
      for (unsigned k = 0; k < site_count; k++) {
        overlaps |= from < sites[k].start + sites[k].len &&
                    sites[k].start < from + p->shape->len;
      }
      if (overlaps) {
        if (required) return fail(r, e->name, HS_R_OVERLAP, 0);
        continue;
      }
      if (site_count == MAX_SITES) {
        return fail(r, "too many sites", HS_R_TOO_MANY_SITES, 0);
      }
      add_site(&sites[site_count++], p->target, p->hook, p->shape,
               p->returns);
    }
    if (r->names < sizeof r->names_list / sizeof r->names_list[0]) {
      r->names_list[r->names++] = e->name;
    }
  }
  return heap_calls_covered(r);
}

/* ---- page protection -----------------------------------------------------
 * Also called with the other threads suspended: VirtualProtect is a
 * system call, and nothing here allocates or logs. */

/* Each page under a site, once. */
static void collect_pages(void) {
  SYSTEM_INFO si;
  GetSystemInfo(&si);
  uintptr_t size = si.dwPageSize;
  page_count = 0;
  for (unsigned k = 0; k < site_count; k++) {
    uintptr_t first = (uintptr_t)sites[k].start & ~(size - 1);
    uintptr_t last = ((uintptr_t)sites[k].start + sites[k].len - 1) &
                     ~(size - 1);
    for (uintptr_t p = first; p <= last; p += size) {
      BOOL seen = FALSE;
      for (unsigned i = 0; i < page_count; i++) {
        seen |= pages[i].base == (uint8_t*)p;
      }
      if (!seen) pages[page_count++].base = (uint8_t*)p;
    }
  }
}

/* Gives the first n pages back the protection they had before
 * pages_writable; the Win32 error of one that cannot be (it stays
 * writable), else 0. */
static DWORD pages_restored(unsigned n) {
  DWORD err = 0;
  for (unsigned i = n; i-- > 0;) {
    DWORD ignored;
    BOOL done = !hs_faults.restore &&
                VirtualProtect(pages[i].base, 1, pages[i].protect, &ignored);
    if (!done && err == 0) {
      err = hs_faults.restore ? ERROR_ACCESS_DENIED : GetLastError();
    }
  }
  return err;
}

/* Makes every page writable, noting the protection each had; on failure
 * its Win32 error, with the pages done so far given back (*restore: the
 * error of one that could not be, which stays writable; else 0). */
static DWORD pages_writable(DWORD* restore) {
  static unsigned calls; /* test fault protect:N */
  for (unsigned i = 0; i < page_count; i++) {
    BOOL refused = ++calls == hs_faults.protect;
    if (refused || !VirtualProtect(pages[i].base, 1, PAGE_EXECUTE_READWRITE,
                                   &pages[i].protect)) {
      DWORD err = refused ? ERROR_DYNAMIC_CODE_BLOCKED : GetLastError();
      *restore = pages_restored(i);
      return err;
    }
  }
  *restore = 0;
  return 0;
}

/* Arbitrary Code Guard and similar policies refuse VirtualProtect. */
static void fail_protect(hs_patch_result* r, DWORD err) {
  fail(r,
       "cannot make ucrtbase code writable (code integrity or Arbitrary Code "
       "Guard policy?)",
       HS_R_PROTECT, err);
}

static void fail_restore(hs_patch_result* r, DWORD err) {
  fail(r, "a page's protection could not be restored", HS_R_RESTORE, err);
}

/* ---- threads ------------------------------------------------------------- */

static BOOL has_ended(HANDLE h) {
  return WaitForSingleObject(h, 0) == WAIT_OBJECT_0;
}

/* A thread id that could not be opened: has that thread ended? */
static BOOL id_has_ended(DWORD tid) {
  HANDLE h = OpenThread(SYNCHRONIZE, FALSE, tid);
  if (h == NULL) return GetLastError() == ERROR_INVALID_PARAMETER;
  BOOL ended = has_ended(h);
  CloseHandle(h);
  return ended;
}

static void release_threads(void) {
  for (unsigned i = 0; i < thread_count; i++) {
    if (threads[i].h != NULL) CloseHandle(threads[i].h);
  }
  thread_count = 0;
}

/* Test-only: lets the suite end a thread between the snapshot and the
 * first suspension (HEAPSHIFT_TEST_FAULTS=snapshot-rendezvous). */
static void snapshot_rendezvous(void) {
  wchar_t name[80];
  DWORD pid = GetCurrentProcessId();
  _snwprintf(name, 80, L"Local\\heapshift-test-snapshot-%lu", pid);
  HANDLE taken = CreateEventW(NULL, TRUE, FALSE, name);
  _snwprintf(name, 80, L"Local\\heapshift-test-resume-%lu", pid);
  HANDLE resume = CreateEventW(NULL, TRUE, FALSE, name);
  if (taken && resume) {
    SetEvent(taken);
    WaitForSingleObject(resume, 10000);
  }
  if (taken) CloseHandle(taken);
  if (resume) CloseHandle(resume);
}

/* Opens one thread the snapshot listed for this process. FALSE (and r
 * says why) when it cannot be held; a thread that has ended, or whose id
 * now names another process's thread, is skipped. */
static BOOL take_thread(hs_patch_result* r, DWORD tid, unsigned max) {
  HANDLE h = NULL;
  if (hs_faults.open) SetLastError(ERROR_ACCESS_DENIED);
  else {
    h = OpenThread(THREAD_SUSPEND_RESUME | THREAD_GET_CONTEXT |
                       THREAD_SET_CONTEXT | THREAD_QUERY_INFORMATION |
                       SYNCHRONIZE,
                   FALSE, tid);
  }
  if (h == NULL) {
    DWORD err = GetLastError();
    if (id_has_ended(tid)) return TRUE;
    return fail(r, "a thread cannot be opened", HS_R_THREAD_OPEN, err);
  }
  /* The id may have been reused by another process since the snapshot:
   * that thread is not ours to suspend, inspect or move. */
  DWORD owner = GetProcessIdOfThread(h);
  if (owner == 0) {
    /* whose it is cannot be told: skipped, one of ours could run on */
    DWORD err = GetLastError();
    CloseHandle(h);
    return fail(r, "a thread cannot be opened", HS_R_THREAD_OPEN, err);
  }
  if (owner != GetCurrentProcessId()) {
    hs_log("patch: thread %lu belongs to process %lu now: skipped", tid,
           owner);
    CloseHandle(h);
    return TRUE;
  }
  if (thread_count == max) {
    CloseHandle(h);
    return fail(r, "more threads than the installer can hold",
                HS_R_TOO_MANY_THREADS, 0);
  }
  threads[thread_count].h = h;
  threads[thread_count].id = tid;
  thread_count++;
  return TRUE;
}

/* Opens every other thread of the process (before any is suspended). */
static BOOL take_threads(hs_patch_result* r) {
  thread_count = 0;
  DWORD pid = GetCurrentProcessId(), self = GetCurrentThreadId();
  unsigned max = hs_faults.max_threads ? hs_faults.max_threads : MAX_THREADS;
  HANDLE snap = CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0);
  if (snap == INVALID_HANDLE_VALUE) {
    return fail(r, "no thread snapshot", HS_R_THREAD_SNAPSHOT,
                GetLastError());
  }
  THREADENTRY32 te;
  te.dwSize = sizeof te;
  BOOL ok = TRUE;
  for (BOOL more = Thread32First(snap, &te); more && ok;
       more = Thread32Next(snap, &te)) {
    if (te.th32OwnerProcessID != pid || te.th32ThreadID == self) continue;
    ok = take_thread(r, te.th32ThreadID, max);
  }
  CloseHandle(snap);
  /* Test-only: a thread id the snapshot listed for us, now another's. */
  if (ok && hs_faults.foreign_thread != 0) {
    ok = take_thread(r, hs_faults.foreign_thread, max);
  }
  if (ok && hs_faults.snapshot_rendezvous) snapshot_rendezvous();
  return ok;
}

/* ---- with the other threads suspended -----------------------------------
 * From here to attempt(): code that runs while every other thread is
 * suspended, one of which may hold the process-heap lock. None of it
 * allocates: buffers are static or on the stack. */

static void resume_threads(void) {
  for (unsigned i = 0; i < thread_count; i++) {
    if (threads[i].h != NULL) ResumeThread(threads[i].h);
  }
}

/* A word on the stack that is a return address into a site's jump. */
static BOOL is_return_into_site(uintptr_t w) {
  if (w < returns_lo || w > returns_hi) return FALSE;
  for (unsigned k = 0; k < site_count; k++) {
    uintptr_t t = (uintptr_t)sites[k].start;
    if (w > t && w < t + sites[k].len && (sites[k].returns >> (w - t)) & 1) {
      return TRUE;
    }
  }
  return FALSE;
}

/* Scans the live part of a suspended thread's stack (sp up to the end of
 * its committed region) for return addresses into a site. A stack that
 * cannot be read counts as holding one: we cannot tell. */
static BOOL stack_returns_into_site(uintptr_t sp) {
  MEMORY_BASIC_INFORMATION m;
  if (VirtualQuery((void*)sp, &m, sizeof m) != sizeof m) return TRUE;
  DWORD readable = PAGE_READONLY | PAGE_READWRITE | PAGE_WRITECOPY |
                   PAGE_EXECUTE_READ | PAGE_EXECUTE_READWRITE |
                   PAGE_EXECUTE_WRITECOPY;
  if (m.State != MEM_COMMIT || !(m.Protect & readable) ||
      (m.Protect & PAGE_GUARD)) {
    return TRUE;
  }
  const uintptr_t* w =
      (const uintptr_t*)(sp & ~(uintptr_t)(sizeof(uintptr_t) - 1));
  const uintptr_t* end =
      (const uintptr_t*)((uintptr_t)m.BaseAddress + m.RegionSize);
  for (; w < end; w++) {
    if (is_return_into_site(*w)) return TRUE;
  }
  return FALSE;
}

typedef enum attempt_result {
  ATTEMPT_COMMITTED,
  ATTEMPT_GIVEN_UP, /* nothing changed; try again */
  ATTEMPT_FAILED    /* nothing changed; r says why */
} attempt_result;

typedef struct attempt_log {
  unsigned suspended, ended, moved;
  HANDLE wait_on; /* a thread that refused: the pause waits on it */
} attempt_log;

/* A thread that refused SuspendThread or GetThreadContext: ended (its
 * handle is signalled) → forgotten, FALSE; else TRUE: the attempt is given
 * up, and r keeps why in case no later attempt gets past it either. */
static BOOL refused(hs_patch_result* r, thread* t, attempt_log* log,
                    uint32_t reason, DWORD err) {
  if (has_ended(t->h)) {
    CloseHandle(t->h);
    t->h = NULL;
    log->ended++;
    return FALSE;
  }
  fail(r,
       reason == HS_R_THREAD_SUSPEND ? "a thread cannot be suspended"
                                     : "a thread's registers cannot be read",
       reason, err);
  log->wait_on = t->h;
  return TRUE;
}

/* With every other thread suspended: is any in a site's way, or not to be
 * inspected yet? Records the ones exactly at a site entry. */
static BOOL threads_in_the_way(hs_patch_result* r, attempt_log* log) {
  BOOL busy = FALSE;
  for (unsigned i = 0; i < thread_count && !busy; i++) {
    thread* t = &threads[i];
    t->at_entry = NULL;
    if (t->h == NULL) continue;
    CONTEXT ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.ContextFlags = CONTEXT_CONTROL;
    if (hs_faults.context || !GetThreadContext(t->h, &ctx)) {
      DWORD err = hs_faults.context ? ERROR_ACCESS_DENIED : GetLastError();
      busy = refused(r, t, log, HS_R_THREAD_CONTEXT, err);
      continue;
    }
    uintptr_t pc = ctx_pc(&ctx);
    for (unsigned k = 0; k < site_count; k++) {
      uintptr_t s = (uintptr_t)sites[k].start;
      if (pc == (uintptr_t)sites[k].entry) t->at_entry = &sites[k];
      else if (pc >= s && pc < s + sites[k].len) busy = TRUE;
    }
    if (!busy && returns_hi != 0 && stack_returns_into_site(ctx_sp(&ctx))) {
      busy = TRUE;
    }
  }
  return busy;
}

/* Whether the bytes under every site are still those planned: a patch
 * another tool made since would be overwritten (and its unhooking later
 * would put back code under one of our jumps). */
static BOOL sites_as_planned(void) {
  for (unsigned k = 0; k < site_count; k++) {
    if (memcmp(sites[k].start, sites[k].original, sites[k].len) != 0) {
      return FALSE;
    }
  }
  return !hs_faults.site_changed;
}

/* Writes every jump; TRUE if they all read back. A hot-patch's long jump
 * (in the padding) goes in before the short one that leads to it. */
static BOOL write_jumps(void) {
  for (unsigned k = 0; k < site_count; k++) {
    uint8_t j[JUMP_MAX];
    jump_encode(j, sites[k].f, sites[k].entry, sites[k].hook);
    memcpy(sites[k].start, j, sites[k].len);
  }
  FlushInstructionCache(GetCurrentProcess(), NULL, 0);
  BOOL ok = !hs_faults.readback;
  for (unsigned k = 0; k < site_count; k++) {
    uint8_t want[JUMP_MAX];
    jump_encode(want, sites[k].f, sites[k].entry, sites[k].hook);
    ok &= memcmp(sites[k].start, want, sites[k].len) == 0;
  }
  return ok;
}

/* Puts the original bytes back; TRUE if they read back. */
static BOOL roll_back(void) {
  /* readback-sticky: as if these writes did not stick either. */
  if (hs_faults.readback_sticky) return FALSE;
  for (unsigned k = 0; k < site_count; k++) {
    memcpy(sites[k].start, sites[k].original, sites[k].len);
  }
  FlushInstructionCache(GetCurrentProcess(), NULL, 0);
  BOOL ok = TRUE;
  for (unsigned k = 0; k < site_count; k++) {
    ok &= memcmp(sites[k].start, sites[k].original, sites[k].len) == 0;
  }
  return ok;
}

/* The threads found at a site entry continue in its hook. One that cannot
 * be moved runs the jump now at that entry: the same place. */
static unsigned move_threads(void) {
  unsigned moved = 0;
  for (unsigned i = 0; i < thread_count; i++) {
    thread* t = &threads[i];
    if (t->h == NULL || t->at_entry == NULL) continue;
    CONTEXT ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.ContextFlags = CONTEXT_CONTROL;
    if (!GetThreadContext(t->h, &ctx)) continue;
    ctx_set_pc(&ctx, t->at_entry->hook);
    moved += SetThreadContext(t->h, &ctx) != 0;
  }
  return moved;
}

/* Test fault busy-takeovers: this takeover's every attempt finds a site
 * busy. */
static BOOL all_busy;

/* One attempt: suspend all, look, and either commit or change nothing. */
static attempt_result attempt(hs_patch_result* r, unsigned n,
                              attempt_log* log) {
  log->suspended = 0;
  log->wait_on = NULL;
  r->error = NULL;
  r->reason = HS_R_NONE;
  r->win32_error = 0;
  for (unsigned i = 0; i < thread_count; i++) {
    thread* t = &threads[i];
    if (t->h == NULL) continue;
    BOOL refuse = n < hs_faults.suspend_refused;
    if (!refuse && SuspendThread(t->h) != (DWORD)-1) {
      log->suspended++;
      continue;
    }
    DWORD err = refuse ? ERROR_ACCESS_DENIED : GetLastError();
    if (!refused(r, t, log, HS_R_THREAD_SUSPEND, err)) continue; /* ended */
    for (unsigned j = 0; j < i; j++) {
      if (threads[j].h != NULL) ResumeThread(threads[j].h);
    }
    return ATTEMPT_GIVEN_UP;
  }
  if (threads_in_the_way(r, log) || n < hs_faults.busy || all_busy) {
    resume_threads();
    return ATTEMPT_GIVEN_UP;
  }
  DWORD restore;
  DWORD err = pages_writable(&restore);
  if (err != 0) {
    resume_threads();
    fail_protect(r, err);
    if (restore != 0) fail_restore(r, restore);
    return ATTEMPT_FAILED;
  }
  if (!sites_as_planned()) {
    err = pages_restored(page_count);
    resume_threads();
    fail(r, "a function to be patched changed while heapshift installed "
            "(another tool hooking ucrtbase at the same time?)",
         HS_R_FOREIGN_HOOK, 0);
    if (err != 0) fail_restore(r, err);
    return ATTEMPT_FAILED;
  }
  attempt_result res = ATTEMPT_COMMITTED;
  if (!write_jumps()) {
    if (roll_back()) {
      fail(r, "a written jump did not read back (rolled back)",
           HS_R_READBACK, 0);
      res = ATTEMPT_FAILED;
    } else {
      /* Some jumps may be live: the hooks must be treated as live. */
      r->error = "a written jump did not read back, nor did its rollback";
      r->reason = HS_R_READBACK;
    }
  }
  if (res == ATTEMPT_COMMITTED) log->moved = move_threads();
  err = pages_restored(page_count);
  resume_threads();
  /* live either way; r says a page stayed writable */
  if (err != 0 && r->reason == HS_R_NONE) fail_restore(r, err);
  return res;
}

static double now_ms(void) {
  LARGE_INTEGER t, f;
  QueryPerformanceCounter(&t);
  QueryPerformanceFrequency(&f);
  return (double)t.QuadPart * 1000.0 / (double)f.QuadPart;
}

/* Attempts until one commits or fails for good, for at most BUDGET_MS. */
static attempt_result attempts(hs_patch_result* r, unsigned* n,
                               attempt_log* log) {
  double start = now_ms();
  for (*n = 0;;) {
    attempt_result res = attempt(r, (*n)++, log);
    if (res != ATTEMPT_GIVEN_UP) return res;
    if (now_ms() - start >= BUDGET_MS) break;
    /* The pause lets threads leave the sites (and a thread that refused to
     * stop, in its kernel exit, end). */
    DWORD pause = hs_faults.retry_sleep ? hs_faults.retry_sleep : 1;
    if (log->wait_on != NULL) WaitForSingleObject(log->wait_on, pause);
    else Sleep(pause);
  }
  /* r holds why a thread refused, if that is what stopped the last one. */
  if (r->reason != HS_R_THREAD_SUSPEND && r->reason != HS_R_THREAD_CONTEXT) {
    fail(r, "a thread stayed inside (or returns into) a patch site",
         HS_R_THREAD_IN_SITE, 0);
  }
  return ATTEMPT_FAILED;
}

BOOL hs_patch_all(hs_patch_result* r) {
  static unsigned takeovers;
  all_busy = takeovers++ < hs_faults.busy_takeovers;
  memset(r, 0, sizeof *r);
  site_count = 0;
  returns_lo = returns_hi = 0;
  double t0 = now_ms();
  hs_code_open(&code, hs_target.ucrtbase);
  hs_code_file_open(&code);
  hs_log("patch: ucrtbase at %p: function extents from %s; its file %s",
         (void*)code.base,
         HS_X64 ? ".pdata" : code.eh_frame ? ".eh_frame" : "decoding only",
         code.file != INVALID_HANDLE_VALUE
             ? "is the mapped image: sites are compared with it"
             : "cannot be compared (not the mapped image, rewritten at load, "
               "or unreadable)");
  BOOL planned = plan(r);
  hs_code_file_close(&code);
  hs_log("patch: planned in %.1f ms", now_ms() - t0);
  if (!planned) return FALSE;
  /* Made writable only in the attempt that commits: a probe before the
   * threads are suspended raced another tool's VirtualProtect of the page
   * too, and left it writable for good. */
  collect_pages();

  attempt_result res = ATTEMPT_FAILED;
  attempt_log log = {0, 0, 0, NULL};
  unsigned n = 0;
  if (take_threads(r)) res = attempts(r, &n, &log);
  unsigned held = thread_count, touched = page_count;
  release_threads();
  if (r->reason == HS_R_RESTORE) {
    hs_log("patch: a page's protection could not be restored (error %lu)",
           (unsigned long)r->win32_error);
  }
  hs_log("patch: %u sites on %u pages, %u threads suspended (of %u held; %u "
         "ended meanwhile, %u moved), %u attempts",
         site_count, touched, log.suspended, held, log.ended, log.moved, n);
  if (res != ATTEMPT_COMMITTED) return FALSE;
  r->sites = site_count;
  return TRUE;
}

BOOL hs_patch_exports_untouched(const char* const* names) {
  hs_code_open(&code, hs_target.ucrtbase);
  hs_code_file_open(&code);
  BOOL ok = TRUE;
  for (; ok && *names != NULL; names++) {
    uint8_t* exp = (uint8_t*)GetProcAddress(hs_target.ucrtbase, *names);
    uint8_t* to = exp ? decode(exp) : NULL;
    ok = to != NULL && !hook_shaped(to) && !entry_changed(to) &&
         (to == exp || !entry_changed(exp));
  }
  hs_code_file_close(&code);
  return ok;
}

/* Opens the code of the module that holds p (for the test-only exports
 * below, which plan any module's functions); FALSE if none does. */
static BOOL open_module_of(const void* p, hs_code* m) {
  HMODULE h = NULL;
  if (!GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS |
                              GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
                          (LPCWSTR)p, &h)) {
    return FALSE;
  }
  hs_code_open(m, h);
  return TRUE;
}

/* Test-only export (dll/README.md): how a function anywhere in the process
 * would be patched: the bytes its jump writes at the entry and after it
 * (14 or 12 on x64, 5 on x86; 2 for an x86 hot-patch), 0 if refused. */
__declspec(dllexport) int heapshift_plan_site(void* fn);
__declspec(dllexport) int heapshift_plan_site(void* fn) {
  if (!open_module_of(fn, &code)) return 0;
  uint8_t* e = (uint8_t*)fn;
  uint32_t landing = 0, returns;
  const uint8_t* undecoded[2];
  const char* why;
  hs_code_landings(&code, &e, 1, &landing, undecoded);
  const shape* s = choose(e, landing, undecoded, &returns, &why);
  hs_log("plan_site %p: %s", fn, s ? "patchable" : why);
  return s ? s->from + (int)s->len : 0;
}

/* Test-only export (dll/README.md): where a wrapper of the entry `name`
 * (`_msize`, `_expand`, `_recalloc`) that hands its arguments on in
 * registers leads (x86, Microsoft's ucrtbase), and the adapter its target
 * would be patched with; NULL when it is no such wrapper (always on x64). */
__declspec(dllexport) void* heapshift_plan_wrapper(void* fn, const char* name,
                                                  void** adapter);
__declspec(dllexport) void* heapshift_plan_wrapper(void* fn, const char* name,
                                                  void** adapter) {
  *adapter = NULL;
  if (!open_module_of(fn, &code) ||
      !hs_code_contains(&code, fn, FORWARDER_MAX)) {
    return NULL;
  }
  for (size_t i = 0; i < TABLE_SIZE; i++) {
    if (strcmp(table[i].name, name) == 0 && (table[i].flags & HS_WRAPS_BASE)) {
      return register_forwarded((uint8_t*)fn, table[i].hook, adapter);
    }
  }
  return NULL;
}

/* Test-only export (dll/README.md): the Win32 heap call check on the
 * module holding fns[0], as if the n functions at fns were the ones the
 * jumps replace: the first use of its HeapFree, HeapSize or HeapReAlloc
 * import outside them, or NULL. */
__declspec(dllexport) const void* heapshift_plan_heap_calls(void* const fns[],
                                                            unsigned n);
__declspec(dllexport) const void* heapshift_plan_heap_calls(void* const fns[],
                                                            unsigned n) {
  if (n == 0 || n > MAX_SITES || !open_module_of(fns[0], &code)) return NULL;
  return hs_code_import_use_outside(&code, heap_calls, (uint8_t* const*)fns,
                                    n);
}

/* Test-only export (dll/README.md): whether the n bytes at p (any loaded
 * module's) are its file's, relocated: 1 yes, 0 no, -1 cannot be told. */
__declspec(dllexport) int heapshift_file_same(const void* p, size_t n);
__declspec(dllexport) int heapshift_file_same(const void* p, size_t n) {
  hs_code m;
  if (!open_module_of(p, &m)) return -1;
  hs_code_file_open(&m);
  int same = hs_code_file_same(&m, (const uint8_t*)p, n);
  hs_code_file_close(&m);
  return same;
}
