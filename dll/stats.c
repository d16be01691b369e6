/* The stats block: named shared memory `Local\heapshift-<pid>`, layout v1
 * (see heapshift.h and STATS.md). Created before any hook goes in; if it
 * cannot be created the counters go to a private block instead. */
#include <stdio.h>

#include "heapshift.h"

static hs_stats_header fallback_header;
static hs_stats_header* header = &fallback_header;

BOOL hs_stats_open(void) {
  static HANDLE mapping;
  if (mapping != NULL) return TRUE;
  wchar_t name[64];
  _snwprintf(name, 64, L"Local\\heapshift-%lu", GetCurrentProcessId());
  name[63] = 0;
  mapping = CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0,
                               HS_STATS_SIZE, name);
  BOOL existed = mapping != NULL && GetLastError() == ERROR_ALREADY_EXISTS;
  uint8_t* view = NULL;
  if (mapping != NULL) {
    view = MapViewOfFile(mapping, FILE_MAP_ALL_ACCESS, 0, 0, HS_STATS_SIZE);
  }
  hs_log("stats: shared memory %ls %s", name,
         view ? (existed ? "already exists" : "created") : "FAILED");
  if (view == NULL) return TRUE; /* the mapping handle stays open for good */
  hs_stats_header* h = (hs_stats_header*)view;
  if (existed && h->magic == HS_STATS_MAGIC && h->pid == GetCurrentProcessId() &&
      (h->state == HS_STATE_LIVE || h->state == HS_STATE_LOADING)) {
    /* Another copy of heapshift (another path) owns this process. */
    UnmapViewOfFile(view);
    return FALSE;
  }
  h->layout_version = HS_STATS_LAYOUT;
  h->total_size = HS_STATS_SIZE;
  h->state = HS_STATE_LOADING;
  h->pid = GetCurrentProcessId();
  h->mimalloc_version = hs_mi_version();
  h->dll_version = HEAPSHIFT_VERSION;
  h->stripe_count = HS_STATS_STRIPES;
  h->stripe_offset = HS_STATS_STRIPE_OFFSET;
  h->names_offset = HS_STATS_NAMES_OFFSET;
  h->names_size = HS_STATS_NAMES_SIZE;
  hs_stripes = (hs_stripe*)(view + HS_STATS_STRIPE_OFFSET);
  MemoryBarrier();
  h->magic = HS_STATS_MAGIC; /* written last: readers check it first */
  header = h;
  return TRUE;
}

hs_stats_header* hs_stats(void) { return header; }

void hs_stats_set_names(const char* const* names, unsigned count) {
  if (header == &fallback_header) {
    header->hooked_count = count;
    return;
  }
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

void hs_stats_mark_live(uint32_t patch_sites, uint32_t reason) {
  FILETIME ft;
  GetSystemTimeAsFileTime(&ft);
  uint64_t t = ((uint64_t)ft.dwHighDateTime << 32) | ft.dwLowDateTime;
  header->patch_sites = patch_sites;
  header->reason = reason;
  header->hooks_live_filetime = t;
  header->hooks_live_unix_ms = (t - 116444736000000000ull) / 10000u;
  MemoryBarrier();
  header->state = HS_STATE_LIVE;
}

/* ---- counting (see hs_count in heapshift.h) ----------------------------- */

/* Owner values: 0 never claimed, a thread id (ids are multiples of 4),
 * or (thread id | 1): given back by that thread on DLL_THREAD_DETACH. An
 * exiting thread still counts (other DLLs' detach code frees after ours
 * ran) but never re-claims the stripe it gave back, so no stripe is left
 * held by a dead thread; it uses the shared stripe instead. (A later
 * thread that gets the same id uses the shared stripe too until someone
 * else claims that stripe: slower, never wrong.) */
void hs_count_slow(hs_counter which, int64_t n) {
  uint32_t tid = hs_thread_id();
  uint32_t i = hs_stripe_of(tid);
  if (i != HS_STATS_SHARED_STRIPE) {
    uint32_t o = hs_stripe_owner[i];
    if ((o == 0 || (o & 1u) != 0) && o != (tid | 1u) &&
        (uint32_t)InterlockedCompareExchange(
            (volatile LONG*)&hs_stripe_owner[i], (LONG)tid, (LONG)o) == o) {
      /* Claimed (the CAS is a full barrier: the previous owner's counts,
       * published before it gave the stripe back, are visible). */
      volatile int64_t* c = &hs_stripes[i].c[which];
      *c = *c + n;
      return;
    }
  }
  InterlockedExchangeAdd64(
      (volatile LONG64*)&hs_stripes[HS_STATS_SHARED_STRIPE].c[which], n);
}

/* DLL_THREAD_DETACH: give the stripe back (see above). */
void hs_count_thread_done(void) {
  uint32_t tid = hs_thread_id();
  uint32_t i = hs_stripe_of(tid);
  if (hs_stripe_owner[i] == tid) {
    MemoryBarrier();
    hs_stripe_owner[i] = tid | 1u;
  }
}
