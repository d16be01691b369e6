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
 *   export; a 14-byte jump where it fits, else 12 bytes, else the entry is
 *   refused. A required entry refused → nothing is patched at all.
 * - Pages: each page the sites touch is made writable once and given back
 *   its own protection once (several sites share pages).
 * - Threads (fail closed): every other thread is opened from a toolhelp
 *   snapshot and suspended; one that cannot be opened, suspended or
 *   inspected fails the installation, unless it has really ended. An
 *   attempt in which a thread is inside a site's bytes, or has a return
 *   address into them on its stack, is given up with nothing changed and
 *   repeated after 1 ms (up to ATTEMPTS times). Only an attempt that
 *   commits writes the jumps, checks they read back (else rolls them
 *   back) and moves the threads found exactly at a site entry to the hook.
 *   Nothing here allocates while threads are suspended (one may hold the
 *   process-heap lock): buffers are static or on the stack.
 *
 * The x64-only parts (jump encodings, RIP/RSP, call decoding) are the
 * "x64" block below: the x86 port replaces that block. */
#include "heapshift.h"

#include <stdio.h>
#include <tlhelp32.h>

#define MAX_SITES 64
#define MAX_THREADS 4096
#define MAX_PAGES (2 * MAX_SITES)
#define ATTEMPTS 200
#define JUMP_MAX 16

/* ---- x64 ---------------------------------------------------------------- */

/* `jmp [rip+0]; dq hook` (14 bytes) or `mov rax, hook; jmp rax` (12; rax
 * is free at a function's entry); 0 if neither fits. */
static unsigned jump_len(size_t room) {
  return room >= 14 ? 14 : room >= 12 ? 12 : 0;
}

static void jump_encode(uint8_t* out, unsigned len, const void* hook) {
  uint64_t to = (uint64_t)(uintptr_t)hook;
  if (len == 14) {
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

/* Length of `call r/m64` (FF /2) from its ModRM byte on, REX excluded. */
static unsigned ff2_len(const uint8_t* p) {
  unsigned mod = p[1] >> 6, rm = p[1] & 7, len = 2;
  if (mod != 3 && rm == 4) {
    len++;
    if (mod == 0 && (p[2] & 7) == 5) len += 4;
  }
  if (mod == 1) len += 1;
  else if (mod == 2 || (mod == 0 && rm == 5)) len += 4;
  return len;
}

/* Whether a call instruction lying in [lo, end) ends exactly at `end`:
 * `call rel32` or `call r/m64` (with or without REX). A thread inside that
 * call's callee has `end` on its stack as a return address. */
static BOOL call_ends_at(const uint8_t* lo, const uint8_t* end) {
  if (end - lo >= 5 && end[-5] == 0xE8) return TRUE;
  for (unsigned k = 2; k <= 8 && (size_t)(end - lo) >= k; k++) {
    const uint8_t* p = end - k;
    if (p[0] == 0xFF && ((p[1] >> 3) & 7) == 2 && ff2_len(p) == k) {
      return TRUE;
    }
    if ((p[0] & 0xF0) == 0x40 && p[1] == 0xFF && ((p[2] >> 3) & 7) == 2 &&
        1 + ff2_len(p + 1) == k) {
      return TRUE;
    }
  }
  return FALSE;
}

/* ---- sites -------------------------------------------------------------- */

typedef struct site {
  uint8_t* target;
  void* hook;
  unsigned len;
  uint8_t original[JUMP_MAX];
  /* Bit k set: a return address target + k (0 < k < len) would land inside
   * the jump (a call in the original bytes ends there). */
  uint32_t returns;
} site;

typedef struct page {
  uint8_t* base;
  DWORD protect; /* before we touched it */
} page;

typedef struct thread {
  HANDLE h;
  DWORD id;
  site* at_entry; /* its pc is exactly at this site: moved at commit */
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

static BOOL fail(hs_patch_result* r, const char* what, uint32_t reason,
                 DWORD win32_error) {
  r->error = what;
  r->reason = reason;
  r->win32_error = win32_error;
  return FALSE;
}

/* A new site: its original bytes and where return addresses would land
 * inside its jump. */
static void add_site(site* s, uint8_t* t, void* hook, unsigned len) {
  s->target = t;
  s->hook = hook;
  s->len = len;
  memcpy(s->original, t, len);
  s->returns = 0;
  for (unsigned k = 1; k < len; k++) {
    if (call_ends_at(t, t + k) ||
        (hs_faults.call_in_site != 0 && k == hs_faults.call_in_site)) {
      s->returns |= 1u << k;
      hs_log("patch: site %p: a call inside it returns to +%u", t, k);
      if (returns_lo == 0 || (uintptr_t)(t + k) < returns_lo) {
        returns_lo = (uintptr_t)(t + k);
      }
      if ((uintptr_t)(t + k) > returns_hi) returns_hi = (uintptr_t)(t + k);
    }
  }
}

/* Resolves every entry into sites; nothing is written. */
static BOOL plan(hs_patch_result* r) {
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    const entry* e = &table[i];
    BOOL required = (e->flags & HS_REQUIRED) != 0;
    uint8_t* exp = (uint8_t*)GetProcAddress(hs_target.ucrtbase, e->name);
    if (exp == NULL) {
      if (required) return fail(r, e->name, HS_R_NO_UCRT, 0);
      continue;
    }
    uint8_t* t = decode(exp);
    size_t room = t ? room_at(t) : 0;
    unsigned len = jump_len(room);
    if (t != exp) {
      hs_log("patch: %s at %p decodes to %p (room %u)", e->name, exp, t,
             (unsigned)room);
    }
    if (len == 0) {
      hs_log("patch: %s: no room to patch (%u bytes)", e->name,
             (unsigned)room);
      if (required) return fail(r, e->name, HS_R_NO_ROOM, 0);
      continue;
    }
    site* s = find_site(t);
    if (s != NULL) {
      if (s->hook != e->hook) {
        hs_log("patch: %s shares code with another hook", e->name);
        if (required) return fail(r, e->name, HS_R_SHARED_SITE, 0);
        continue;
      }
    } else {
      BOOL overlaps = FALSE;
      for (unsigned k = 0; k < site_count; k++) {
        overlaps |= t < sites[k].target + sites[k].len &&
                    sites[k].target < t + len;
      }
      if (overlaps) {
        if (required) return fail(r, e->name, HS_R_OVERLAP, 0);
        continue;
      }
      if (site_count == MAX_SITES) {
        return fail(r, "too many sites", HS_R_TOO_MANY_SITES, 0);
      }
      add_site(&sites[site_count++], t, e->hook, len);
    }
    if (r->names < sizeof r->names_list / sizeof r->names_list[0]) {
      r->names_list[r->names++] = e->name;
    }
  }
  return TRUE;
}

/* ---- page protection ----------------------------------------------------- */

static void restore_pages(void) {
  for (unsigned i = page_count; i-- > 0;) {
    DWORD ignored;
    VirtualProtect(pages[i].base, 1, pages[i].protect, &ignored);
  }
  page_count = 0;
}

/* Each page under a site, once: the protection VirtualProtect reports is
 * then the page's own, not one we set for a site before. */
static BOOL unprotect_pages(hs_patch_result* r) {
  SYSTEM_INFO si;
  GetSystemInfo(&si);
  uintptr_t size = si.dwPageSize;
  page_count = 0;
  for (unsigned k = 0; k < site_count; k++) {
    uintptr_t first = (uintptr_t)sites[k].target & ~(size - 1);
    uintptr_t last = ((uintptr_t)sites[k].target + sites[k].len - 1) &
                     ~(size - 1);
    for (uintptr_t p = first; p <= last; p += size) {
      BOOL seen = FALSE;
      for (unsigned i = 0; i < page_count; i++) seen |= pages[i].base == (uint8_t*)p;
      if (seen) continue;
      page* pg = &pages[page_count];
      pg->base = (uint8_t*)p;
      if (!VirtualProtect(pg->base, 1, PAGE_EXECUTE_READWRITE, &pg->protect)) {
        DWORD err = GetLastError();
        restore_pages();
        /* Arbitrary Code Guard and similar policies refuse this. */
        return fail(r, "cannot make ucrtbase code writable (code integrity "
                       "or Arbitrary Code Guard policy?)",
                    HS_R_PROTECT, err);
      }
      page_count++;
    }
  }
  return TRUE;
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
    HANDLE h = NULL;
    if (hs_faults.open) SetLastError(ERROR_ACCESS_DENIED);
    else {
      h = OpenThread(THREAD_SUSPEND_RESUME | THREAD_GET_CONTEXT |
                         THREAD_SET_CONTEXT | THREAD_QUERY_INFORMATION |
                         SYNCHRONIZE,
                     FALSE, te.th32ThreadID);
    }
    if (h == NULL) {
      DWORD err = GetLastError();
      if (!id_has_ended(te.th32ThreadID)) {
        ok = fail(r, "a thread cannot be opened", HS_R_THREAD_OPEN, err);
      }
    } else if (thread_count == max) {
      CloseHandle(h);
      ok = fail(r, "more threads than the installer can hold",
                HS_R_TOO_MANY_THREADS, 0);
    } else {
      threads[thread_count].h = h;
      threads[thread_count].id = te.th32ThreadID;
      thread_count++;
    }
  }
  CloseHandle(snap);
  if (ok && hs_faults.snapshot_rendezvous) snapshot_rendezvous();
  return ok;
}

static void resume_threads(void) HS_NO_ALLOC {
  for (unsigned i = 0; i < thread_count; i++) {
    if (threads[i].h != NULL) ResumeThread(threads[i].h);
  }
}

/* A word on the stack that is a return address into a site's jump. */
static BOOL is_return_into_site(uintptr_t w) HS_NO_ALLOC {
  if (w < returns_lo || w > returns_hi) return FALSE;
  for (unsigned k = 0; k < site_count; k++) {
    uintptr_t t = (uintptr_t)sites[k].target;
    if (w > t && w < t + sites[k].len && (sites[k].returns >> (w - t)) & 1) {
      return TRUE;
    }
  }
  return FALSE;
}

/* Scans the live part of a suspended thread's stack (sp up to the end of
 * its committed region) for return addresses into a site. A stack that
 * cannot be read counts as holding one: we cannot tell. */
static BOOL stack_returns_into_site(uintptr_t sp) HS_NO_ALLOC {
  MEMORY_BASIC_INFORMATION m;
  if (VirtualQuery((void*)sp, &m, sizeof m) != sizeof m) return TRUE;
  DWORD readable = PAGE_READONLY | PAGE_READWRITE | PAGE_WRITECOPY |
                   PAGE_EXECUTE_READ | PAGE_EXECUTE_READWRITE |
                   PAGE_EXECUTE_WRITECOPY;
  if (m.State != MEM_COMMIT || !(m.Protect & readable) ||
      (m.Protect & PAGE_GUARD)) {
    return TRUE;
  }
  const uintptr_t* w = (const uintptr_t*)(sp & ~(uintptr_t)7);
  const uintptr_t* end =
      (const uintptr_t*)((uintptr_t)m.BaseAddress + m.RegionSize);
  for (; w < end; w++) {
    if (is_return_into_site(*w)) return TRUE;
  }
  return FALSE;
}

/* With every other thread suspended: is any in a site's way? Records the
 * ones exactly at a site entry. FALSE (and *failed) when a thread's
 * registers cannot be read. */
static BOOL threads_in_the_way(hs_patch_result* r, BOOL* failed) HS_NO_ALLOC {
  BOOL busy = FALSE;
  for (unsigned i = 0; i < thread_count; i++) {
    thread* t = &threads[i];
    t->at_entry = NULL;
    if (t->h == NULL) continue;
    CONTEXT ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.ContextFlags = CONTEXT_CONTROL;
    BOOL got = !hs_faults.context && GetThreadContext(t->h, &ctx);
    if (!got) {
      DWORD err = hs_faults.context ? ERROR_ACCESS_DENIED : GetLastError();
      if (has_ended(t->h)) {
        CloseHandle(t->h);
        t->h = NULL;
        continue;
      }
      *failed = TRUE;
      fail(r, "a thread's registers cannot be read", HS_R_THREAD_CONTEXT,
           err);
      return TRUE;
    }
    uintptr_t pc = ctx_pc(&ctx);
    for (unsigned k = 0; k < site_count; k++) {
      uintptr_t s = (uintptr_t)sites[k].target;
      if (pc == s) t->at_entry = &sites[k];
      else if (pc > s && pc < s + sites[k].len) busy = TRUE;
    }
    if (!busy && returns_hi != 0 && stack_returns_into_site(ctx_sp(&ctx))) {
      busy = TRUE;
    }
  }
  return busy;
}

/* Writes every jump; TRUE if they all read back. */
static BOOL write_jumps(void) HS_NO_ALLOC {
  for (unsigned k = 0; k < site_count; k++) {
    jump_encode(sites[k].target, sites[k].len, sites[k].hook);
  }
  FlushInstructionCache(GetCurrentProcess(), NULL, 0);
  BOOL ok = !hs_faults.readback;
  for (unsigned k = 0; k < site_count; k++) {
    uint8_t want[JUMP_MAX];
    jump_encode(want, sites[k].len, sites[k].hook);
    ok &= memcmp(sites[k].target, want, sites[k].len) == 0;
  }
  return ok;
}

/* Puts the original bytes back; TRUE if they read back. */
static BOOL roll_back(void) HS_NO_ALLOC {
  /* readback-sticky: as if these writes did not stick either. */
  if (hs_faults.readback_sticky) return FALSE;
  for (unsigned k = 0; k < site_count; k++) {
    memcpy(sites[k].target, sites[k].original, sites[k].len);
  }
  FlushInstructionCache(GetCurrentProcess(), NULL, 0);
  BOOL ok = TRUE;
  for (unsigned k = 0; k < site_count; k++) {
    ok &= memcmp(sites[k].target, sites[k].original, sites[k].len) == 0;
  }
  return ok;
}

/* The threads found at a site entry continue in its hook. One that cannot
 * be moved runs the jump now at that entry: the same place. */
static unsigned move_threads(void) HS_NO_ALLOC {
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

typedef enum attempt_result {
  ATTEMPT_COMMITTED,
  ATTEMPT_GIVEN_UP, /* nothing changed; try again */
  ATTEMPT_FAILED    /* nothing changed; r says why */
} attempt_result;

typedef struct attempt_log {
  unsigned suspended, ended, moved;
} attempt_log;

/* One attempt: suspend all, look, and either commit or change nothing. */
static attempt_result attempt(hs_patch_result* r, unsigned n,
                              attempt_log* log) HS_NO_ALLOC {
  log->suspended = 0;
  for (unsigned i = 0; i < thread_count; i++) {
    thread* t = &threads[i];
    if (t->h == NULL) continue;
    if (SuspendThread(t->h) != (DWORD)-1) {
      log->suspended++;
      continue;
    }
    DWORD err = GetLastError();
    if (has_ended(t->h)) {
      CloseHandle(t->h);
      t->h = NULL;
      log->ended++;
      continue;
    }
    for (unsigned j = 0; j < i; j++) {
      if (threads[j].h != NULL) ResumeThread(threads[j].h);
    }
    fail(r, "a thread cannot be suspended", HS_R_THREAD_SUSPEND, err);
    return ATTEMPT_FAILED;
  }
  BOOL failed = FALSE;
  BOOL busy = threads_in_the_way(r, &failed) || n < hs_faults.busy;
  if (failed || busy) {
    resume_threads();
    return failed ? ATTEMPT_FAILED : ATTEMPT_GIVEN_UP;
  }
  if (!write_jumps()) {
    if (roll_back()) {
      resume_threads();
      fail(r, "a written jump did not read back (rolled back)",
           HS_R_READBACK, 0);
      return ATTEMPT_FAILED;
    }
    /* Some jumps may be live: the hooks must be treated as live. */
    r->error = "a written jump did not read back, nor did its rollback";
    r->reason = HS_R_READBACK;
  }
  log->moved = move_threads();
  resume_threads();
  return ATTEMPT_COMMITTED;
}

BOOL hs_patch_all(hs_patch_result* r) {
  memset(r, 0, sizeof *r);
  site_count = 0;
  returns_lo = returns_hi = 0;
  image = (uint8_t*)hs_target.ucrtbase;
  nt = (IMAGE_NT_HEADERS*)(image + ((IMAGE_DOS_HEADER*)image)->e_lfanew);
  if (!plan(r)) return FALSE;
  if (!unprotect_pages(r)) return FALSE;

  attempt_result res = ATTEMPT_FAILED;
  attempt_log log = {0, 0, 0};
  unsigned n = 0;
  if (take_threads(r)) {
    while (n < ATTEMPTS) {
      res = attempt(r, n++, &log);
      if (res != ATTEMPT_GIVEN_UP) break;
      Sleep(1);
    }
    if (res == ATTEMPT_GIVEN_UP) {
      fail(r, "a thread stayed inside (or returns into) a patch site",
           HS_R_THREAD_IN_SITE, 0);
    }
  }
  unsigned held = thread_count, touched = page_count;
  release_threads();
  restore_pages();
  hs_log("patch: %u sites on %u pages, %u threads suspended (of %u held; %u "
         "ended meanwhile, %u moved), %u attempts",
         site_count, touched, log.suspended, held, log.ended, log.moved, n);
  if (res != ATTEMPT_COMMITTED) return FALSE;
  r->sites = site_count;
  return TRUE;
}
