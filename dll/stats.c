/* The stats block (named shared memory, layout v1: heapshift_stats.h,
 * STATS.md) and the counters' slow path. The block is created before any
 * hook goes in; if it cannot be created the counters go to a private
 * block. */
#include <stdio.h>

#include "heapshift.h"

#include <psapi.h> /* K32EnumProcessModules */

#if defined(_MSC_VER) && !defined(__clang__)
#define ALIGN64 __declspec(align(64))
#else
#define ALIGN64 __attribute__((aligned(64)))
#endif

static ALIGN64 uint8_t private_block[HS_STATS_SIZE];
static hs_stats_header* header = (hs_stats_header*)private_block;
static hs_stripe* stripes =
    (hs_stripe*)(private_block + HS_STATS_STRIPE_OFFSET);

static uint64_t filetime(FILETIME t) {
  return ((uint64_t)t.dwHighDateTime << 32) | t.dwLowDateTime;
}

/* The process's creation time: with the pid it names this process. */
static uint64_t process_created(void) {
  FILETIME created, exited, kernel, user;
  if (!GetProcessTimes(GetCurrentProcess(), &created, &exited, &kernel,
                       &user)) {
    return 0;
  }
  return filetime(created);
}

/* Whether `view` maps a file: ntdll's name of the file behind it, which
 * K32GetMappedFileNameW returns too but gives up on a long one (a file on
 * a network share would pass for the page file), exists or did not fit.
 * DllMain's thread only (one buffer). */
static BOOL file_backed(const void* view) {
  typedef LONG(NTAPI * query_fn)(HANDLE, PVOID, int, PVOID, SIZE_T, SIZE_T*);
  FARPROC f = hs_ntdll_fn("NtQueryVirtualMemory");
  if (f == NULL) return TRUE; /* no telling: not used */
  query_fn query;
  memcpy(&query, &f, sizeof f);
  static uint64_t name[128]; /* a UNICODE_STRING and its characters */
  const int mapped_filename_information = 2;
  LONG status = query(GetCurrentProcess(), (PVOID)view,
                      mapped_filename_information, name, sizeof name, NULL);
  return status >= 0 || status == (LONG)0x80000005 /* BUFFER_OVERFLOW */ ||
         status == (LONG)0xC0000004 /* INFO_LENGTH_MISMATCH */ ||
         status == (LONG)0xC0000023 /* BUFFER_TOO_SMALL */;
}

/* Whether [view, view + size) is a view of a plain section of the page
 * file, committed and with protection `protect` throughout. Anyone in the
 * session can make the name first, with any backing: with SEC_RESERVE its
 * pages stay reserved (reading them is an access violation on Windows,
 * inside DllMain); an image section's header page is read-only; a file's
 * pages can fail to page in (EXCEPTION_IN_PAGE_ERROR, which would raise
 * inside malloc: a lost network drive, a full disk). */
static BOOL page_file_view(const uint8_t* view, size_t size, DWORD protect) {
  for (size_t at = 0; at < size;) {
    MEMORY_BASIC_INFORMATION mbi;
    if (VirtualQuery(view + at, &mbi, sizeof mbi) == 0 ||
        mbi.State != MEM_COMMIT || mbi.Type != MEM_MAPPED ||
        mbi.Protect != protect) {
      return FALSE;
    }
    at = (size_t)((const uint8_t*)mbi.BaseAddress + mbi.RegionSize - view);
  }
  return !file_backed(view);
}

/* Maps the named block at our size (the mapping handle stays open for the
 * process's life); NULL if that cannot be done, e.g. an older, smaller
 * block of that name exists, or a section that is not one of the page
 * file's with committed pages (page_file_view). */
static uint8_t* map_block(const wchar_t* name, BOOL* existed) {
  /* the security applies only if the name is new (not a block left by an
   * earlier process, which keeps its own) */
  HANDLE m = CreateFileMappingW(INVALID_HANDLE_VALUE, hs_stats_access(),
                                PAGE_READWRITE, 0, HS_STATS_SIZE, name);
  *existed = m != NULL && GetLastError() == ERROR_ALREADY_EXISTS;
  uint8_t* view =
      m ? MapViewOfFile(m, FILE_MAP_ALL_ACCESS, 0, 0, HS_STATS_SIZE) : NULL;
  if (view != NULL && *existed &&
      !page_file_view(view, HS_STATS_SIZE, PAGE_READWRITE)) {
    hs_log("stats: %ls is not committed page-file memory: not used", name);
    UnmapViewOfFile(view);
    view = NULL;
  }
  if (view == NULL && m != NULL) CloseHandle(m);
  return view;
}

/* Whether another heapshift DLL in this process is live: a loaded module
 * other than this one whose heapshift_state() says so. (Only live: a copy
 * mapped without its DllMain run says "loading" for ever, and two copies'
 * installations never overlap: DllMain holds the loader lock.) The list is
 * K32EnumProcessModules', which may fail or be torn while another thread
 * loads a DLL (the parallel loader changes the lists under a lock of its
 * own): then, and when there are more modules than fit, the answer is yes,
 * as wiping a live copy's block would be worse than not hooking. */
static BOOL other_copy_loaded(void) {
  extern IMAGE_DOS_HEADER __ImageBase;
  static HMODULE mods[1024]; /* DllMain: one thread at a time */
  DWORD bytes = 0;
  BOOL listed = FALSE;
  for (int tries = 0; tries < 3 && !listed; tries++) {
    listed = K32EnumProcessModules(GetCurrentProcess(), mods, sizeof mods,
                                   &bytes) &&
             bytes <= sizeof mods;
  }
  if (!listed) return TRUE;
  for (DWORD i = 0; i < bytes / sizeof(HMODULE); i++) {
    if (mods[i] == (HMODULE)&__ImageBase) continue;
    FARPROC f = GetProcAddress(mods[i], "heapshift_state");
    if (f == NULL) continue;
    int (*state)(void);
    memcpy(&state, &f, sizeof f);
    if (state() == HS_STATE_LIVE) return TRUE;
  }
  return FALSE;
}

/* Whether `view` is the live block of a heapshift in this very process
 * (same pid, same creation time), and one is loaded: another copy (another
 * path) owns it. Any process may create the name first, with any header
 * (the pid and creation time are public), so the header alone proves
 * nothing: a forged one is wiped like a stale one. */
static BOOL live_here(const uint8_t* view, DWORD pid, uint64_t created) {
  const hs_stats_header* h = (const hs_stats_header*)view;
  return h->magic == HS_STATS_MAGIC && h->pid == pid && created != 0 &&
         h->process_created == created &&
         (h->state == HS_STATE_LIVE || h->state == HS_STATE_LOADING) &&
         other_copy_loaded();
}

/* Whether another copy of heapshift in this process publishes under the
 * name beside the plain one (it found the plain name taken then). */
static BOOL other_copy_beside(const wchar_t* name, DWORD pid,
                              uint64_t created) {
  HANDLE m = OpenFileMappingW(FILE_MAP_READ, FALSE, name);
  if (m == NULL) return FALSE;
  /* the header only: a section of any size may have the name */
  const uint8_t* view =
      MapViewOfFile(m, FILE_MAP_READ, 0, 0, sizeof(hs_stats_header));
  BOOL other = view != NULL &&
               page_file_view(view, sizeof(hs_stats_header), PAGE_READONLY) &&
               live_here(view, pid, created);
  if (view != NULL) UnmapViewOfFile(view);
  CloseHandle(m);
  return other;
}

/* Clears a block someone else left, magic first: readers check it first. */
static void wipe(uint8_t* view) {
  ((hs_stats_header*)view)->magic = 0;
  MemoryBarrier();
  memset(view + sizeof(uint32_t), 0, HS_STATS_SIZE - sizeof(uint32_t));
}

BOOL hs_stats_open(void) {
  static BOOL opened;
  if (opened) return TRUE;
  opened = TRUE;
  DWORD pid = GetCurrentProcessId();
  uint64_t created = process_created();
  wchar_t name[80];
  _snwprintf(name, 80, L"Local\\heapshift-%lu", pid);
  wchar_t beside[80]; /* the name beside it, with the creation time */
  _snwprintf(beside, 80, L"Local\\heapshift-%lu-%016llx", pid,
             (unsigned long long)created);
  if (hs_faults.no_stats) return TRUE;
  if (other_copy_beside(beside, pid, created)) {
    hs_log("stats: %ls belongs to another heapshift in this process", beside);
    return FALSE;
  }
  BOOL existed;
  uint8_t* view = map_block(name, &existed);
  if (view != NULL && existed) {
    if (live_here(view, pid, created)) {
      UnmapViewOfFile(view);
      hs_log("stats: %ls belongs to another heapshift in this process", name);
      return FALSE;
    }
    /* Left by a dead process with the same pid and held open by a reader
     * (or a failed attempt of ours): start over. */
    wipe(view);
    hs_log("stats: %ls was left by an earlier process: reused", name);
  } else if (view == NULL) {
    /* One we cannot map at our size: our own name beside it (a block
     * there is not a live copy's, checked above: a failed attempt's). */
    memcpy(name, beside, sizeof name);
    view = map_block(name, &existed);
    if (view != NULL && existed) wipe(view);
  }
  hs_log("stats: shared memory %ls %s", name, view ? "mapped" : "FAILED");
  if (view == NULL) return TRUE; /* counters go to the private block */
  hs_stats_header* h = (hs_stats_header*)view;
  h->layout_version = HS_STATS_LAYOUT;
  h->total_size = HS_STATS_SIZE;
  h->state = HS_STATE_LOADING;
  h->pid = pid;
  h->mimalloc_version = hs_mi_version();
  h->dll_version = HEAPSHIFT_VERSION;
  h->stripe_count = HS_STATS_STRIPES;
  h->stripe_offset = HS_STATS_STRIPE_OFFSET;
  h->names_offset = HS_STATS_NAMES_OFFSET;
  h->names_size = HS_STATS_NAMES_SIZE;
  h->process_created = created;
  stripes = (hs_stripe*)(view + HS_STATS_STRIPE_OFFSET);
  MemoryBarrier();
  h->magic = HS_STATS_MAGIC; /* written last: readers check it first */
  header = h;
  return TRUE;
}

void hs_stats_set_names(const char* const* names, unsigned count) {
  char* out = (char*)header + HS_STATS_NAMES_OFFSET;
  size_t room = HS_STATS_NAMES_SIZE - 1, used = 0;
  unsigned written = 0;
  for (unsigned i = 0; i < count; i++) {
    size_t n = strlen(names[i]) + 1;
    if (used + n > room) break;
    memcpy(out + used, names[i], n);
    used += n;
    written++;
  }
  out[used] = 0;
  header->hooked_count = written;
}

void hs_stats_set_state(enum hs_state state, uint32_t reason, DWORD error) {
  header->reason = reason;
  header->error = error;
  MemoryBarrier();
  header->state = state;
}

void hs_stats_mark_live(uint32_t patch_sites, uint32_t reason,
                        DWORD error) {
  FILETIME ft;
  GetSystemTimeAsFileTime(&ft);
  uint64_t t = filetime(ft);
  header->patch_sites = patch_sites;
  header->reason = reason;
  header->error = error;
  header->hooks_live_filetime = t;
  header->hooks_live_unix_ms = (t - 116444736000000000ull) / 10000u;
  MemoryBarrier();
  header->state = HS_STATE_LIVE;
}

volatile hs_trim_stats* hs_stats_trim(void) { return &header->trim; }

/* Every shared stripe's count (private stripes' pending counts are not
 * seen until published: a pacing signal, not an exact total). */
int64_t hs_stats_total(hs_counter which) {
  int64_t total = 0;
  for (unsigned i = 0; i < HS_STATS_STRIPES; i++) {
    total += hs_load64(&stripes[i].c[which]);
  }
  return total;
}

/* ---- counting (see hs_count in heapshift.h) -----------------------------
 * A thread's TLS slot `hs_count_slot` points at the stripe its counts go
 * to, so every count, whatever the number of threads, is one TEB read and
 * one plain add: to a stripe of its own in the shared block, or, when none
 * is free, to a private stripe (also in `private_slot`). Private counts are
 * published into the shared last stripe with atomic adds, never on the hot
 * path: from mimalloc's deferred-free heartbeat (called on the thread's
 * allocation slow path) once 1024 of them are pending, also moving them to
 * a stripe of its own once one is free, and at thread exit. */

#define PUBLISH_EVERY 1024 /* pending private allocs + frees */

static DWORD private_slot = TLS_OUT_OF_INDEXES; /* the thread's private stripe */
static unsigned ownable;            /* stripes a thread may own */
static volatile LONG stripes_free; /* of those, how many nobody holds */

BOOL hs_count_init(void) {
  if (hs_count_slot == TLS_OUT_OF_INDEXES) hs_count_slot = TlsAlloc();
  if (private_slot == TLS_OUT_OF_INDEXES) private_slot = TlsAlloc();
  /* mimalloc 2's thread heap, cached (mimalloc 3 keeps its own) */
  BOOL heap_cache = hs_mi_version() < 300;
  if (hs_heap_slot == TLS_OUT_OF_INDEXES && heap_cache) {
    hs_heap_slot = TlsAlloc();
  }
  ownable = HS_STATS_SHARED_STRIPE;
  if (hs_faults.stripes != 0 && hs_faults.stripes < ownable) {
    ownable = hs_faults.stripes;
  }
  stripes_free = (LONG)ownable;
  return hs_count_slot != TLS_OUT_OF_INDEXES &&
         private_slot != TLS_OUT_OF_INDEXES &&
         (hs_heap_slot != TLS_OUT_OF_INDEXES || !heap_cache);
}

static void release_slot(DWORD* slot) {
  if (*slot != TLS_OUT_OF_INDEXES) TlsFree(*slot);
  *slot = TLS_OUT_OF_INDEXES;
}

void hs_count_release(void) {
  release_slot(&hs_count_slot);
  release_slot(&private_slot);
  release_slot(&hs_heap_slot);
}

/* A free stripe for thread `tid`, the lowest (so few pages are touched). */
static hs_stripe* claim(uint32_t tid) {
  if (stripes_free <= 0) return NULL;
  for (unsigned i = 0; i < ownable; i++) {
    volatile LONG64* owner = (volatile LONG64*)&stripes[i].c[HS_STRIPE_OWNER];
    if (*owner == 0 && InterlockedCompareExchange64(owner, tid, 0) == 0) {
      /* The CAS is a full barrier: the previous owner's counts, stored
       * before it gave the stripe back, are visible. */
      InterlockedDecrement(&stripes_free);
      return &stripes[i];
    }
  }
  return NULL;
}

/* Moves a private stripe's counts into `to` (atomically: the shared one). */
static void publish(hs_stripe* from, hs_stripe* to, BOOL atomic) {
  for (int k = 0; k < HS_C_COUNT_; k++) {
    int64_t v = from->c[k];
    if (v == 0) continue;
    if (atomic) InterlockedExchangeAdd64((volatile LONG64*)&to->c[k], v);
    else hs_store64(&to->c[k], to->c[k] + v);
    from->c[k] = 0;
  }
}

void hs_count_slow(hs_counter which, int64_t n) {
  DWORD last_error = GetLastError();
  hs_stripe* shared = &stripes[HS_STATS_SHARED_STRIPE];
  if (hs_tls_thread_late()) {
    /* Past our DLL_THREAD_DETACH (another DLL's detach code): whatever this
     * call made mimalloc set up again for the thread is released now, no
     * one would later; the count goes to the shared stripe. */
    hs_thread_late_release();
    InterlockedExchangeAdd64((volatile LONG64*)&shared->c[which], n);
    SetLastError(last_error);
    return;
  }
  hs_stripe* to = claim(hs_thread_id());
  if (to == NULL) {
    to = hs_private_alloc(sizeof *to);
    if (to == NULL) {
      InterlockedExchangeAdd64((volatile LONG64*)&shared->c[which], n);
      SetLastError(last_error);
      return;
    }
    TlsSetValue(private_slot, to);
  }
  hs_store64(&to->c[which], to->c[which] + n);
  TlsSetValue(hs_count_slot, to); /* the fast path counts there from now */
  SetLastError(last_error);
}

void hs_count_heartbeat(void) {
  hs_stripe* mine = private_slot == TLS_OUT_OF_INDEXES
                        ? NULL
                        : (hs_stripe*)hs_tls_slot(private_slot);
  if (mine == NULL) return; /* a stripe of its own: nothing to do */
  DWORD last_error = GetLastError();
  hs_stripe* own = claim(hs_thread_id());
  if (own != NULL) {
    publish(mine, own, FALSE);
    TlsSetValue(hs_count_slot, own);
    TlsSetValue(private_slot, NULL);
    hs_private_free(mine);
  } else if (mine->c[HS_C_ALLOCS] + mine->c[HS_C_FREES] >= PUBLISH_EVERY) {
    publish(mine, &stripes[HS_STATS_SHARED_STRIPE], TRUE);
  }
  SetLastError(last_error);
}

void hs_count_thread_done(void) {
  if (hs_count_slot == TLS_OUT_OF_INDEXES) return;
  hs_stripe* own = (hs_stripe*)hs_tls_slot(hs_count_slot);
  hs_stripe* mine = (hs_stripe*)hs_tls_slot(private_slot);
  if (own != NULL) {
    TlsSetValue(hs_count_slot, NULL);
    if (own != mine) {
      /* Release: our counts are stored before the stripe looks free. */
      InterlockedExchange64((volatile LONG64*)&own->c[HS_STRIPE_OWNER], 0);
      InterlockedIncrement(&stripes_free);
    }
  }
  if (mine != NULL) {
    publish(mine, &stripes[HS_STATS_SHARED_STRIPE], TRUE);
    TlsSetValue(private_slot, NULL);
    hs_private_free(mine);
  }
}
