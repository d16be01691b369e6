/* The soak's target (tests/soak/README.md; not a fixture): a busy program
 * heapshift is injected into late, for minutes.
 *
 *   soak.exe SECONDS WORKERS [novictim|exitbusy]
 *     novictim  no thread is ended with TerminateThread
 *     exitbusy  exit() at the end while every thread still works
 *
 * WORKERS long-lived threads and two spawners of short-lived threads
 * (CreateThread / _beginthreadex; some ExitThread / _endthreadex mid-way,
 * some TerminateThread'd while parked) work on SLOTS shared slots: every
 * block carries a pattern checked before it is freed or resized and after
 * it moved. Prints "ready <pid>" at once, "tick ..." every second,
 * key=value results and "done". */
#include <errno.h>
#include <malloc.h>
#include <process.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>
#define PSAPI_VERSION 2
#include <psapi.h>

#ifdef _WIN64
#define HS_NAME L"heapshift.dll"
#else
#define HS_NAME L"heapshift32.dll"
#endif

#define SLOTS 4096

enum { K_PLAIN = 0, K_ALIGNED = 1 };

typedef struct slot {
  volatile LONG lock;
  uint8_t* p;
  size_t size;  /* bytes holding the pattern */
  size_t msize; /* requested size (exact _msize of a mimalloc block) */
  size_t align;
  size_t off; /* _aligned_offset_*: (p + off) % align == 0 */
  uint8_t seed;
  uint8_t kind;
  uint8_t last_op;
} slot;

static slot slots[SLOTS];
static volatile LONG stop;
static volatile LONG pattern_bad, msize_bad, align_bad, zero_bad, failed_frees,
    null_allocs, expand_ok, expand_null, strdup_bad, file_bad;
static volatile LONG bad_by_op[32];
static volatile LONG64 ops;
static volatile LONG threads_started, threads_ended_normal, threads_exit_mid,
    threads_terminated, threads_failed_create;
static int (*volatile owns)(const void*);
static int no_victims;

static uint32_t xs(uint32_t* s) {
  *s ^= *s << 13;
  *s ^= *s >> 17;
  *s ^= *s << 5;
  return *s;
}

static inline uint8_t pat(uint8_t seed, size_t i) {
  return (uint8_t)(seed + i + (i >> 9));
}

static void fill(uint8_t* p, size_t n, uint8_t seed) {
  for (size_t i = 0; i < n; i++) p[i] = pat(seed, i);
}

static int intact(const uint8_t* p, size_t n, uint8_t seed) {
  for (size_t i = 0; i < n; i++) {
    if (p[i] != pat(seed, i)) return 0;
  }
  return 1;
}

static size_t pick_size(uint32_t* r) {
  uint32_t k = xs(r) % 1000;
  if (k < 600) return xs(r) % 129;             /* 0..128, 0 included */
  if (k < 900) return 129 + xs(r) % 8000;      /* small/medium */
  if (k < 995) return 8192 + xs(r) % 250000;   /* large */
  return (1 << 20) + xs(r) % (1 << 20);        /* > 1 MiB */
}

static size_t pick_align(uint32_t* r) {
  static const size_t a[] = {8, 16, 32, 64, 256, 4096};
  return a[xs(r) % 6];
}

static void lock(slot* s) {
  while (InterlockedCompareExchange(&s->lock, 1, 0) != 0) SwitchToThread();
}
static void unlock(slot* s) { InterlockedExchange(&s->lock, 0); }

static void bad(volatile LONG* what, slot* s) {
  InterlockedIncrement(what);
  InterlockedIncrement(&bad_by_op[s->last_op & 31]);
}

/* Checks a slot's block: pattern, alignment, _msize. */
static void check(slot* s) {
  if (s->p == NULL) return;
  if (!intact(s->p, s->size, s->seed)) bad(&pattern_bad, s);
  if (s->kind == K_ALIGNED) {
    if (((uintptr_t)s->p + s->off) % s->align) bad(&align_bad, s);
    size_t m = _aligned_msize(s->p, s->align, s->off);
    if (m < s->size) bad(&msize_bad, s);
    return;
  }
  size_t m = _msize(s->p);
  int (*o)(const void*) = owns;
  if (o != NULL && o(s->p)) {
    if (m != s->msize) bad(&msize_bad, s);
  } else {
    if (m < s->size || m == (size_t)-1) bad(&msize_bad, s);
    if (o != NULL && m != HeapSize((HANDLE)_get_heap_handle(), 0, s->p)) {
      bad(&msize_bad, s);
    }
  }
}

static void release(slot* s) {
  if (s->p == NULL) return;
  int saved = errno;
  errno = 0;
  if (s->kind == K_ALIGNED) {
    _aligned_free(s->p);
  } else {
    free(s->p);
  }
  if (errno != 0) InterlockedIncrement(&failed_frees);
  errno = saved;
  s->p = NULL;
  s->size = s->msize = 0;
}

static void set_new(slot* s, uint8_t* p, size_t n, uint8_t kind,
                    size_t align) {
  s->p = p;
  s->size = p ? n : 0;
  s->msize = p ? (n ? n : 1) : 0;
  s->kind = kind;
  s->align = align;
  s->off = 0;
  if (p == NULL && n != 0) InterlockedIncrement(&null_allocs);
}

static void touch(uint32_t* r) {
  slot* s = &slots[xs(r) % SLOTS];
  lock(s);
  check(s);
  uint32_t op = xs(r) % 14;
  size_t n = pick_size(r);
  switch (op) {
    case 0: /* free + malloc */
      release(s);
      set_new(s, malloc(n), n, K_PLAIN, 0);
      break;
    case 1: /* free + calloc, which must be zero */
      release(s);
      set_new(s, calloc(1, n), n, K_PLAIN, 0);
      if (s->p) {
        for (size_t i = 0; i < n; i++) {
          if (s->p[i]) {
            InterlockedIncrement(&zero_bad);
            break;
          }
        }
      }
      break;
    case 2:
    case 3: /* realloc (plain) */
      if (s->kind == K_PLAIN) {
        if (n == 0 && s->p) { /* realloc(p, 0) frees, returns NULL */
          uint8_t* q = realloc(s->p, 0);
          if (q != NULL) free(q);
          s->p = NULL;
          s->size = s->msize = 0;
          break;
        }
        size_t keep = s->size < n ? s->size : n;
        uint8_t* q = realloc(s->p, n);
        if (q) {
          if (!intact(q, keep, s->seed)) bad(&pattern_bad, s);
          s->p = q;
          s->size = n;
          s->msize = n ? n : 1;
        } else if (n) {
          InterlockedIncrement(&null_allocs);
        }
      }
      break;
    case 4: /* _recalloc grow: zero from the old _msize */
      if (s->kind == K_PLAIN && s->p) {
        size_t old = _msize(s->p);
        size_t m = old + 1 + xs(r) % 3000;
        uint8_t* q = _recalloc(s->p, 1, m);
        if (q) {
          if (!intact(q, s->size, s->seed)) bad(&pattern_bad, s);
          for (size_t i = old; i < m; i++) {
            if (q[i]) {
              InterlockedIncrement(&zero_bad);
              break;
            }
          }
          s->p = q;
          s->size = s->msize = m;
        }
      }
      break;
    case 5: /* _expand shrink */
      if (s->kind == K_PLAIN && s->p && s->size > 8) {
        size_t m = s->size / 2;
        uint8_t* q = _expand(s->p, m);
        if (q == s->p) {
          InterlockedIncrement(&expand_ok);
          int (*o)(const void*) = owns;
          s->size = m;
          /* a mimalloc block shrinks to exactly m; an old one may stay */
          s->msize = (o && o(q)) ? m : _msize(q);
        } else if (q == NULL) {
          InterlockedIncrement(&expand_null);
        } else {
          bad(&pattern_bad, s); /* _expand never moves */
        }
      }
      break;
    case 6: /* _expand grow (may fail) */
      if (s->kind == K_PLAIN && s->p) {
        size_t m = s->size + 1 + xs(r) % 64;
        uint8_t* q = _expand(s->p, m);
        if (q == s->p) {
          int (*o)(const void*) = owns;
          s->msize = (o && o(q)) ? m : _msize(q);
          /* size stays: the new bytes are not ours yet */
          if (s->msize < m) bad(&msize_bad, s);
        } else if (q != NULL) {
          bad(&pattern_bad, s);
        }
      }
      break;
    case 7: /* aligned malloc */
      release(s);
      {
        size_t a = pick_align(r);
        set_new(s, _aligned_malloc(n ? n : 1, a), n ? n : 1, K_ALIGNED, a);
      }
      break;
    case 8: /* aligned realloc */
      if (s->kind == K_ALIGNED && s->p && s->off == 0) {
        size_t m = n ? n : 1;
        size_t keep = s->size < m ? s->size : m;
        uint8_t* q = _aligned_realloc(s->p, m, s->align);
        if (q) {
          if (!intact(q, keep, s->seed)) bad(&pattern_bad, s);
          if ((uintptr_t)q % s->align) bad(&align_bad, s);
          s->p = q;
          s->size = s->msize = m;
        }
      }
      break;
    case 9: /* strdup of a string, checked */
      release(s);
      {
        char buf[200];
        int len = snprintf(buf, sizeof buf, "soak-%u-%zu", xs(r), n);
        char* d = _strdup(buf);
        if (d == NULL || strcmp(d, buf) != 0) InterlockedIncrement(&strdup_bad);
        free(d);
        (void)len;
      }
      set_new(s, malloc(n), n, K_PLAIN, 0);
      break;
    case 12: /* aligned offset malloc */
      release(s);
      {
        size_t a = pick_align(r);
        size_t m = n < 2 ? 2 : n;
        size_t off = (xs(r) & 1) ? xs(r) % (m < 64 ? m : 64) : 0;
        set_new(s, _aligned_offset_malloc(m, a, off), m, K_ALIGNED, a);
        s->off = off;
      }
      break;
    case 13: /* aligned offset realloc / recalloc (recalloc: hooks only) */
      if (s->kind == K_ALIGNED && s->p) {
        size_t m = n <= s->off ? s->off + 1 : n;
        size_t keep = s->size < m ? s->size : m;
        int (*o)(const void*) = owns;
        uint8_t* q;
        size_t old = 0;
        int rec = o != NULL && (xs(r) & 1);
        if (rec) {
          old = _aligned_msize(s->p, s->align, s->off);
          q = _aligned_offset_recalloc(s->p, 1, m, s->align, s->off);
        } else {
          q = _aligned_offset_realloc(s->p, m, s->align, s->off);
        }
        if (q) {
          if (!intact(q, keep, s->seed)) bad(&pattern_bad, s);
          if (((uintptr_t)q + s->off) % s->align) bad(&align_bad, s);
          if (rec) {
            for (size_t i = old; i < m; i++) {
              if (q[i]) {
                InterlockedIncrement(&zero_bad);
                break;
              }
            }
          }
          s->p = q;
          s->size = s->msize = m;
        }
      }
      break;
    default: /* just look */
      break;
  }
  if (s->p) {
    s->seed = (uint8_t)xs(r);
    fill(s->p, s->size, s->seed);
  }
  s->last_op = (uint8_t)(1 + op);
  unlock(s);
  InterlockedIncrement64(&ops);
}

static DWORD WINAPI worker(void* arg) {
  uint32_t r = (uint32_t)(uintptr_t)arg * 2654435761u + 1;
  while (!stop) touch(&r);
  return 0;
}

/* CRT use beyond the heap: a file written, read back, removed. */
static void file_io(uint32_t* r) {
  char name[MAX_PATH], tmp[MAX_PATH];
  GetTempPathA(MAX_PATH, tmp);
  snprintf(name, sizeof name, "%ssoak-%lu-%u.txt", tmp, GetCurrentThreadId(),
           xs(r));
  FILE* f = fopen(name, "w");
  if (f == NULL) {
    InterlockedIncrement(&file_bad);
    return;
  }
  for (int i = 0; i < 50; i++) fprintf(f, "line %d %u\n", i, xs(r));
  fclose(f);
  f = fopen(name, "r");
  int lines = 0;
  char line[100];
  if (f) {
    while (fgets(line, sizeof line, f)) lines++;
    fclose(f);
  }
  if (lines != 50) InterlockedIncrement(&file_bad);
  remove(name);
}

typedef struct {
  uint32_t seed;
  int kind;
  HANDLE parked; /* victims: set once parked */
} short_arg;

static unsigned work_short(short_arg* a) {
  uint32_t r = a->seed;
  void* mine[16];
  size_t sz[16];
  for (int i = 0; i < 16; i++) {
    sz[i] = pick_size(&r) % 2048;
    mine[i] = malloc(sz[i]);
    if (mine[i]) fill(mine[i], sz[i], (uint8_t)i);
  }
  int n = 20 + xs(&r) % 60;
  for (int i = 0; i < n; i++) {
    touch(&r);
    if (a->kind == 2 && i == n / 2) { /* ExitThread mid-way, mine leaked */
      InterlockedIncrement(&threads_exit_mid);
      free(a);
      ExitThread(7);
    }
    if (a->kind == 3 && i == n / 2) {
      InterlockedIncrement(&threads_exit_mid);
      free(a);
      _endthreadex(7);
    }
  }
  if ((xs(&r) % 16) == 0) file_io(&r);
  char* d = _strdup("short-lived");
  free(d);
  for (int i = 0; i < 16; i++) {
    if (mine[i] && !intact(mine[i], sz[i], (uint8_t)i)) {
      InterlockedIncrement(&pattern_bad);
    }
    free(mine[i]);
  }
  if (a->kind == 4) { /* victim: park holding nothing, to be terminated */
    SetEvent(a->parked);
    for (;;) Sleep(INFINITE);
  }
  free(a);
  InterlockedIncrement(&threads_ended_normal);
  return 0;
}

static DWORD WINAPI short_ct(void* a) { return work_short(a); }
static unsigned __stdcall short_bt(void* a) { return work_short(a); }

static DWORD WINAPI spawner(void* arg) {
  uint32_t r = (uint32_t)(uintptr_t)arg * 7919u + 3;
  HANDLE parked = CreateEventW(NULL, FALSE, FALSE, NULL);
  while (!stop) {
    HANDLE h[8];
    short_arg* victim = NULL;
    int k = 0;
    for (; k < 8; k++) {
      short_arg* a = malloc(sizeof *a);
      a->seed = xs(&r) | 1;
      uint32_t c = xs(&r) % 100;
      a->kind = c < 40 ? 0 : c < 80 ? 1 : c < 88 ? 2 : c < 96 ? 3 : 4;
      if (a->kind == 4 && (victim || no_victims)) a->kind = 0; /* one per batch */
      a->parked = parked;
      if (a->kind == 4) victim = a;
      if (a->kind == 1 || a->kind == 3 || (a->kind == 4 && (c & 1))) {
        h[k] = (HANDLE)_beginthreadex(NULL, 0, short_bt, a, 0, NULL);
      } else {
        h[k] = CreateThread(NULL, 0, short_ct, a, 0, NULL);
      }
      if (!h[k]) {
        InterlockedIncrement(&threads_failed_create);
        if (victim == a) victim = NULL;
        free(a);
        break;
      }
      InterlockedIncrement(&threads_started);
    }
    if (victim) WaitForSingleObject(parked, INFINITE);
    /* wait for all but the victim: poll until one remains and it is parked */
    int remaining = k;
    DWORD deadline = GetTickCount() + 600000;
    while (remaining > (victim ? 1 : 0) && GetTickCount() < deadline) {
      remaining = 0;
      for (int i = 0; i < k; i++) {
        if (WaitForSingleObject(h[i], 0) == WAIT_TIMEOUT) remaining++;
      }
      if (remaining > (victim ? 1 : 0)) Sleep(1);
    }
    for (int i = 0; i < k; i++) {
      if (WaitForSingleObject(h[i], 0) == WAIT_TIMEOUT) {
        TerminateThread(h[i], 9);
        WaitForSingleObject(h[i], INFINITE);
        InterlockedIncrement(&threads_terminated);
      }
      CloseHandle(h[i]);
    }
    if (victim) free(victim);
  }
  return 0;
}

static void find_owns(void) {
  if (owns) return;
  HMODULE h = GetModuleHandleW(HS_NAME);
  if (!h) return;
  int (*state)(void) = (int (*)(void))(void*)GetProcAddress(h, "heapshift_state");
  int (*o)(const void*) =
      (int (*)(const void*))(void*)GetProcAddress(h, "heapshift_owns");
  if (state && o && state() == 1) owns = o;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  int seconds = argc > 1 ? atoi(argv[1]) : 60;
  int workers = argc > 2 ? atoi(argv[2]) : 8;
  /* exitbusy: exit() at the end while every thread still works */
  int exit_busy = argc > 3 && strstr(argv[3], "exitbusy") != NULL;
  no_victims = argc > 3 && strstr(argv[3], "novictim") != NULL;
  if (workers > 64) workers = 64;
  printf("ready %lu\n", GetCurrentProcessId());
  uint32_t r = 99;
  HANDLE th[66];
  /* the first storm starts at once: the slots fill while threads run */
  for (int i = 0; i < workers; i++) {
    th[i] = CreateThread(NULL, 0, worker, (void*)(uintptr_t)(i + 1), 0, NULL);
  }
  th[workers] = CreateThread(NULL, 0, spawner, (void*)1, 0, NULL);
  th[workers + 1] = CreateThread(NULL, 0, spawner, (void*)2, 0, NULL);
  (void)r;
  DWORD start = GetTickCount();
  int t = 0;
  while ((int)(GetTickCount() - start) < seconds * 1000) {
    Sleep(100);
    find_owns();
    if ((int)(GetTickCount() - start) / 1000 > t) {
      t = (GetTickCount() - start) / 1000;
      PROCESS_MEMORY_COUNTERS_EX pm;
      memset(&pm, 0, sizeof pm);
      K32GetProcessMemoryInfo(GetCurrentProcess(),
                              (PROCESS_MEMORY_COUNTERS*)&pm, sizeof pm);
      printf("tick mem=%zuM ws=%zuM ", pm.PrivateUsage >> 20,
             pm.WorkingSetSize >> 20);
      printf("t=%d ops=%lld threads=%ld term=%ld owns=%d bad=%ld/%ld/%ld/%ld ff=%ld\n",
             t, (long long)ops, threads_started, threads_terminated,
             owns != NULL, pattern_bad, msize_bad, align_bad, zero_bad,
             failed_frees);
      if (t % 10 == 0) _heapmin();
    }
  }
  if (exit_busy) {
    printf("ops=%lld\nowns_found=%d\n", (long long)ops, owns != NULL);
    printf("pattern_bad=%ld\nmsize_bad=%ld\nalign_bad=%ld\nzero_bad=%ld\n"
           "failed_frees=%ld\nstrdup_bad=%ld\nfile_bad=%ld\n",
           pattern_bad, msize_bad, align_bad, zero_bad, failed_frees,
           strdup_bad, file_bad);
    printf("done\n");
    exit(0);
  }
  stop = 1;
  WaitForMultipleObjects(workers + 2, th, TRUE, INFINITE);
  find_owns();
  for (int i = 0; i < SLOTS; i++) {
    check(&slots[i]);
    release(&slots[i]);
  }
  printf("ops=%lld\n", (long long)ops);
  printf("owns_found=%d\n", owns != NULL);
  printf("threads_started=%ld\nthreads_ended_normal=%ld\nthreads_exit_mid=%ld\n"
         "threads_terminated=%ld\nthreads_failed_create=%ld\n",
         threads_started, threads_ended_normal, threads_exit_mid,
         threads_terminated, threads_failed_create);
  printf("expand_ok=%ld\nexpand_null=%ld\nnull_allocs=%ld\n", expand_ok,
         expand_null, null_allocs);
  printf("pattern_bad=%ld\nmsize_bad=%ld\nalign_bad=%ld\nzero_bad=%ld\n"
         "failed_frees=%ld\nstrdup_bad=%ld\nfile_bad=%ld\n",
         pattern_bad, msize_bad, align_bad, zero_bad, failed_frees, strdup_bad,
         file_bad);
  for (int i = 0; i < 32; i++) {
    if (bad_by_op[i]) printf("bad_after_op_%d=%ld\n", i - 1, bad_by_op[i]);
  }
  printf("done\n");
  return 0;
}
