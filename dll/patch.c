/* Installing the hooks: every entry of HS_HOOKS is resolved in the loaded
 * ucrtbase, wrappers are decoded down to the code that does the work, each
 * code site gets one absolute jump to its hook.
 *
 * - `jmp rel32/rel8` and `jmp [rip+x]` at an export are followed (UCRT's
 *   `_msize` is `jmp _msize_base`); a `sub rsp,N; call X; add rsp,N; ret`
 *   wrapper is decoded to X. That reaches the non-exported `_base` bodies the
 *   CRT calls directly.
 * - Room: a site's patch may not run past its function. The function's end
 *   comes from the .pdata entry covering it, else the next function start or
 *   export; 14 bytes (`jmp [rip+0]; dq hook`) where they fit, else 12
 *   (`mov rax, hook; jmp rax`; rax is free at a function's entry), else the
 *   entry is refused. A required entry refused → nothing is patched at all.
 * - Other threads are suspended (toolhelp snapshot, taken before anything is
 *   suspended) while the jumps are written; a thread whose RIP is exactly at
 *   a site is moved to the hook, one inside a site's bytes is let run for a
 *   moment and the attempt repeated. Nothing here allocates while threads
 *   are suspended (one may hold the process-heap lock): buffers are static
 *   or on the stack, handles come from the snapshot. */
#include "heapshift.h"

#include <tlhelp32.h>

#define MAX_SITES 64
#define MAX_THREADS 4096

typedef struct site {
  uint8_t* target;
  void* hook;
  unsigned len;
  DWORD old_protect;
} site;

static site sites[MAX_SITES];
static unsigned site_count;
static HANDLE threads[MAX_THREADS];
static unsigned thread_count;

typedef struct entry {
  const char* name;
  void* hook;
  unsigned flags;
} entry;

#define HS_ENTRY(name, hook, flags) {#name, (void*)hook, flags},
static const entry table[] = {HS_HOOKS(HS_ENTRY)};
#undef HS_ENTRY

static uint8_t* image;
static IMAGE_NT_HEADERS* nt;

static BOOL in_image(const uint8_t* p) {
  return p >= image && p < image + nt->OptionalHeader.SizeOfImage;
}

static IMAGE_SECTION_HEADER* section_of(const uint8_t* p) {
  IMAGE_SECTION_HEADER* s = IMAGE_FIRST_SECTION(nt);
  DWORD rva = (DWORD)(p - image);
  for (unsigned i = 0; i < nt->FileHeader.NumberOfSections; i++, s++) {
    DWORD size = s->Misc.VirtualSize ? s->Misc.VirtualSize : s->SizeOfRawData;
    if (rva >= s->VirtualAddress && rva < s->VirtualAddress + size) return s;
  }
  return NULL;
}

static BOOL is_code(const uint8_t* p) {
  IMAGE_SECTION_HEADER* s = in_image(p) ? section_of(p) : NULL;
  return s != NULL && (s->Characteristics & IMAGE_SCN_MEM_EXECUTE);
}

/* Follows jumps and decodes short call wrappers; NULL if it leaves the
 * module's code. */
static uint8_t* decode(uint8_t* p) {
  for (int hops = 0; hops < 8; hops++) {
    if (!is_code(p)) return NULL;
    if (p[0] == 0xE9) {
      p = p + 5 + *(int32_t*)(p + 1);
    } else if (p[0] == 0xEB) {
      p = p + 2 + *(int8_t*)(p + 1);
    } else if (p[0] == 0xFF && p[1] == 0x25) {
      p = *(uint8_t**)(p + 6 + *(int32_t*)(p + 2));
    } else if (p[0] == 0x48 && p[1] == 0xFF && p[2] == 0x25) {
      p = *(uint8_t**)(p + 7 + *(int32_t*)(p + 3));
    } else if (p[0] == 0x48 && p[1] == 0x83 && p[2] == 0xEC &&
               p[4] == 0xE8 && p[9] == 0x48 && p[10] == 0x83 &&
               p[11] == 0xC4 && p[12] == p[3] && p[13] == 0xC3) {
      /* sub rsp,N; call X; add rsp,N; ret */
      p = p + 9 + *(int32_t*)(p + 5);
    } else {
      return p;
    }
  }
  return NULL;
}

/* Bytes from p to the end of its function (or the next function/export). */
static size_t room_at(const uint8_t* p) {
  DWORD rva = (DWORD)(p - image);
  size_t room = 64;
  IMAGE_SECTION_HEADER* s = section_of(p);
  DWORD send = s->VirtualAddress +
               (s->Misc.VirtualSize ? s->Misc.VirtualSize : s->SizeOfRawData);
  if (send - rva < room) room = send - rva;
  IMAGE_DATA_DIRECTORY* d =
      &nt->OptionalHeader.DataDirectory[IMAGE_DIRECTORY_ENTRY_EXCEPTION];
  if (d->VirtualAddress != 0) {
    RUNTIME_FUNCTION* rf = (RUNTIME_FUNCTION*)(image + d->VirtualAddress);
    size_t n = d->Size / sizeof(RUNTIME_FUNCTION);
    for (size_t i = 0; i < n; i++) {
      if (rf[i].BeginAddress <= rva && rva < rf[i].EndAddress) {
        if (rf[i].EndAddress - rva < room) room = rf[i].EndAddress - rva;
      } else if (rf[i].BeginAddress > rva && rf[i].BeginAddress - rva < room) {
        room = rf[i].BeginAddress - rva;
      }
    }
  }
  d = &nt->OptionalHeader.DataDirectory[IMAGE_DIRECTORY_ENTRY_EXPORT];
  if (d->VirtualAddress != 0) {
    IMAGE_EXPORT_DIRECTORY* ex =
        (IMAGE_EXPORT_DIRECTORY*)(image + d->VirtualAddress);
    DWORD* funcs = (DWORD*)(image + ex->AddressOfFunctions);
    for (DWORD i = 0; i < ex->NumberOfFunctions; i++) {
      if (funcs[i] > rva && funcs[i] - rva < room) room = funcs[i] - rva;
    }
  }
  return room;
}

static site* find_site(uint8_t* target) {
  for (unsigned i = 0; i < site_count; i++) {
    if (sites[i].target == target) return &sites[i];
  }
  return NULL;
}

static BOOL fail(hs_patch_result* r, const char* what, DWORD code) {
  r->error = what;
  r->error_code = code;
  return FALSE;
}

/* Resolves every entry into sites; nothing is written. */
static BOOL plan(hs_patch_result* r) {
  char why[160];
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    const entry* e = &table[i];
    uint8_t* exp = (uint8_t*)GetProcAddress(hs_target.ucrtbase, e->name);
    if (exp == NULL) {
      if (e->flags & HS_REQUIRED) return fail(r, e->name, 1);
      continue;
    }
    uint8_t* t = decode(exp);
    size_t room = t ? room_at(t) : 0;
    unsigned len = room >= 14 ? 14 : room >= 12 ? 12 : 0;
    if (t != exp) {
      hs_log("patch: %s at %p decodes to %p (room %u)", e->name, exp, t,
             (unsigned)room);
    }
    if (len == 0) {
      hs_log("patch: %s: no room to patch (%u bytes)", e->name,
             (unsigned)room);
      if (e->flags & HS_REQUIRED) return fail(r, e->name, 2);
      continue;
    }
    site* s = find_site(t);
    if (s != NULL) {
      if (s->hook != e->hook) {
        hs_log("patch: %s shares code with another hook", e->name);
        if (e->flags & HS_REQUIRED) return fail(r, e->name, 3);
        continue;
      }
    } else {
      for (unsigned k = 0; k < site_count; k++) {
        if (t < sites[k].target + sites[k].len && sites[k].target < t + len) {
          if (e->flags & HS_REQUIRED) return fail(r, e->name, 4);
          goto next;
        }
      }
      if (site_count == MAX_SITES) return fail(r, "too many sites", 5);
      s = &sites[site_count++];
      s->target = t;
      s->hook = e->hook;
      s->len = len;
    }
    if (r->names < sizeof r->names_list / sizeof r->names_list[0]) {
      r->names_list[r->names++] = e->name;
    }
  next:;
  }
  (void)why;
  return TRUE;
}

static void snapshot_threads(void) {
  thread_count = 0;
  DWORD pid = GetCurrentProcessId(), self = GetCurrentThreadId();
  HANDLE snap = CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0);
  if (snap == INVALID_HANDLE_VALUE) return;
  THREADENTRY32 te;
  te.dwSize = sizeof te;
  for (BOOL ok = Thread32First(snap, &te); ok; ok = Thread32Next(snap, &te)) {
    if (te.th32OwnerProcessID != pid || te.th32ThreadID == self) continue;
    HANDLE h = OpenThread(THREAD_SUSPEND_RESUME | THREAD_GET_CONTEXT |
                              THREAD_SET_CONTEXT | THREAD_QUERY_INFORMATION,
                          FALSE, te.th32ThreadID);
    if (h != NULL && thread_count < MAX_THREADS) threads[thread_count++] = h;
    else if (h != NULL) CloseHandle(h);
  }
  CloseHandle(snap);
}

static void write_jump(const site* s) HS_NO_ALLOC {
  uint8_t* p = s->target;
  uint64_t to = (uint64_t)(uintptr_t)s->hook;
  if (s->len == 14) {
    uint8_t code[14] = {0xFF, 0x25, 0, 0, 0, 0};
    memcpy(code + 6, &to, 8);
    memcpy(p, code, 14);
  } else {
    uint8_t code[12] = {0x48, 0xB8};
    memcpy(code + 2, &to, 8);
    code[10] = 0xFF;
    code[11] = 0xE0;
    memcpy(p, code, 12);
  }
}

/* With every other thread suspended: moves or waits out threads inside a
 * site, then writes. Returns FALSE to ask for another attempt. */
static BOOL write_all_suspended(unsigned* moved) HS_NO_ALLOC {
  BOOL busy = FALSE;
  for (unsigned i = 0; i < thread_count && !busy; i++) {
    if (threads[i] == NULL) continue;
    CONTEXT ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.ContextFlags = CONTEXT_CONTROL;
    if (!GetThreadContext(threads[i], &ctx)) continue;
    for (unsigned k = 0; k < site_count; k++) {
      uint8_t* rip = (uint8_t*)(uintptr_t)ctx.Rip;
      if (rip == sites[k].target) {
        ctx.Rip = (DWORD64)(uintptr_t)sites[k].hook;
        if (SetThreadContext(threads[i], &ctx)) (*moved)++;
        else busy = TRUE;
      } else if (rip > sites[k].target &&
                 rip < sites[k].target + sites[k].len) {
        busy = TRUE;
      }
    }
  }
  if (busy) return FALSE;
  for (unsigned k = 0; k < site_count; k++) write_jump(&sites[k]);
  FlushInstructionCache(GetCurrentProcess(), NULL, 0);
  return TRUE;
}

BOOL hs_patch_all(hs_patch_result* r) {
  memset(r, 0, sizeof *r);
  site_count = 0;
  image = (uint8_t*)hs_target.ucrtbase;
  nt = (IMAGE_NT_HEADERS*)(image + ((IMAGE_DOS_HEADER*)image)->e_lfanew);
  if (!plan(r)) return FALSE;

  for (unsigned k = 0; k < site_count; k++) {
    if (!VirtualProtect(sites[k].target, sites[k].len,
                        PAGE_EXECUTE_READWRITE, &sites[k].old_protect)) {
      DWORD err = GetLastError();
      for (unsigned j = 0; j < k; j++) {
        DWORD ignored;
        VirtualProtect(sites[j].target, sites[j].len, sites[j].old_protect,
                       &ignored);
      }
      /* Arbitrary Code Guard and similar policies refuse this. */
      return fail(r, "cannot make ucrtbase code writable (code integrity "
                     "or Arbitrary Code Guard policy?)",
                  err);
    }
  }

  snapshot_threads();
  unsigned moved = 0, attempt;
  BOOL done = FALSE;
  for (attempt = 0; attempt < 200 && !done; attempt++) {
    for (unsigned i = 0; i < thread_count; i++) {
      if (threads[i] != NULL && SuspendThread(threads[i]) == (DWORD)-1) {
        CloseHandle(threads[i]); /* gone */
        threads[i] = NULL;
      }
    }
    done = write_all_suspended(&moved);
    for (unsigned i = 0; i < thread_count; i++) {
      if (threads[i] != NULL) ResumeThread(threads[i]);
    }
    if (!done) Sleep(1);
  }
  for (unsigned i = 0; i < thread_count; i++) {
    if (threads[i] != NULL) CloseHandle(threads[i]);
  }
  for (unsigned k = 0; k < site_count; k++) {
    DWORD ignored;
    VirtualProtect(sites[k].target, sites[k].len, sites[k].old_protect,
                   &ignored);
  }
  hs_log("patch: %u sites, %u threads suspended, %u moved, %u attempts",
         site_count, thread_count, moved, attempt);
  if (!done) return fail(r, "a thread stayed inside a patch site", 6);
  for (unsigned k = 0; k < site_count; k++) {
    const uint8_t* p = sites[k].target;
    uint64_t to;
    memcpy(&to, p + (sites[k].len == 14 ? 6 : 2), 8);
    if (to != (uint64_t)(uintptr_t)sites[k].hook) {
      return fail(r, "a patch did not stick (code written back?)", 7);
    }
  }
  r->sites = site_count;
  return TRUE;
}
