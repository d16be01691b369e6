/* heapshift's demo target: an allocation-heavy program that uses the UCRT
 * heap (malloc, calloc, realloc, free) from several threads, and reports
 * its throughput on stdout in machine-readable lines.
 *
 *   sample.exe [--threads N] [--slots N] [--hot N] [--cold-ops PCT]
 *              [--seconds S] [--interval MS]
 *
 * Output (one line each, space-separated key=value fields):
 *   ready <pid>
 *   tick t=<ms> ops=<n> rate=<ops/s> live=<blocks> old=<blocks> hooked=<0|1>
 *        corrupt=<n>
 *   done t=<ms> ops=<n> corrupt=<n>
 *
 * Each thread owns a range of slots holding live blocks, like a program's
 * data: a few hot slots (--hot, default 5% of them) take most operations,
 * and the cold rest is touched by only --cold-ops percent (default 3) of
 * them, so long-lived blocks stay around. Every operation picks a slot and
 * either replaces its block (free + malloc/calloc), grows
 * or shrinks it (realloc), or makes a short-lived temporary block. Every
 * block carries its slot number and a checksum, and marks of its slot
 * spread over its contents, verified before each realloc and free, and
 * after each realloc up to the smaller size: `corrupt` counts blocks whose
 * contents were lost (and calloc'd blocks that were not zeroed).
 *
 * `old` counts live blocks allocated before heapshift.dll appeared in the
 * process (polled every 20 ms): they drain as the program frees or
 * reallocates them — a realloc of an old block is what the hook DLL
 * migrates into mimalloc. `hooked` says whether heapshift.dll is loaded
 * (heapshift32.dll in the 32-bit build).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>

#define MAX_THREADS 16

typedef struct {
  uint32_t slot;
  uint32_t size;
  uint32_t check;
} header_t;

typedef struct {
  header_t *p;
  int old;
} slot_t;

typedef struct {
  int index;
  slot_t *slots;
  int nslots;
  int nhot;
  int cold_pct;
  uint64_t rng;
  volatile LONG64 ops;
  volatile LONG64 old;
  volatile LONG64 live;
  volatile LONG64 corrupt;
  char pad[64];
} worker_t;

static volatile LONG g_hooked = 0;
static volatile LONG g_stop = 0;
static worker_t g_workers[MAX_THREADS];

static uint64_t next_rand(uint64_t *s) {
  /* xorshift64* */
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545F4914F6CDD1DULL;
}

static uint32_t checksum(uint32_t slot, uint32_t size) {
  return (slot * 2654435761u) ^ (size * 40503u) ^ 0x5A5A5A5Au;
}

static uint32_t pick_size(uint64_t *rng) {
  uint64_t r = next_rand(rng);
  /* Mostly small blocks, some medium, a few large. */
  switch (r & 7) {
    case 7:
      if ((r >> 32) & 3) return 256 + (uint32_t)((r >> 8) % 3840);
      return 4096 + (uint32_t)((r >> 8) % 12288);
    case 5:
    case 6: return 256 + (uint32_t)((r >> 8) % 3840);
    default: return 16 + (uint32_t)((r >> 8) % 240);
  }
}

/* Besides its header, a block of `size` bytes carries marks of its slot
 * past the header: at its first byte after it, halfway through the rest,
 * and at its last byte (sizes are at least 16: three distinct places). A
 * realloc must keep the ones below the new size, so a move that copied
 * only part of a block shows. */
#define MARKS 3

static void mark_places(uint32_t size, uint32_t at[MARKS], unsigned char v[MARKS],
                        uint32_t slot) {
  at[0] = sizeof(header_t);
  at[1] = sizeof(header_t) + (size - sizeof(header_t) - 1) / 2;
  at[2] = size - 1;
  v[0] = (unsigned char)(slot ^ 0x3C);
  v[1] = (unsigned char)(slot ^ 0xA5);
  v[2] = (unsigned char)slot;
}

static void stamp(header_t *h, uint32_t slot, uint32_t size) {
  uint32_t at[MARKS];
  unsigned char v[MARKS];
  h->slot = slot;
  h->size = size;
  h->check = checksum(slot, size);
  mark_places(size, at, v, slot);
  for (int i = 0; i < MARKS; i++) ((unsigned char *)h)[at[i]] = v[i];
}

/* Whether the marks a block of `size` bytes had are still there in its
 * first `kept` bytes. */
static int marks_kept(const header_t *h, uint32_t slot, uint32_t size,
                      uint32_t kept) {
  uint32_t at[MARKS];
  unsigned char v[MARKS];
  mark_places(size, at, v, slot);
  for (int i = 0; i < MARKS; i++)
    if (at[i] < kept && ((const unsigned char *)h)[at[i]] != v[i]) return 0;
  return 1;
}

static int intact(const header_t *h, uint32_t slot) {
  return h->slot == slot && h->check == checksum(slot, h->size) &&
         marks_kept(h, slot, h->size, h->size);
}

/* Whether the places stamp() writes are zero in a calloc'd block. */
static int zeroed_block(const header_t *h, uint32_t size) {
  uint32_t at[MARKS];
  unsigned char v[MARKS];
  mark_places(size, at, v, 0);
  if (h->slot || h->size || h->check) return 0;
  for (int i = 0; i < MARKS; i++)
    if (((const unsigned char *)h)[at[i]]) return 0;
  return 1;
}

static header_t *fresh(worker_t *w, uint32_t slot, int zeroed) {
  uint32_t size = pick_size(&w->rng);
  header_t *h = zeroed ? calloc(1, size) : malloc(size);
  if (!h) return h;
  if (zeroed && !zeroed_block(h, size)) InterlockedIncrement64(&w->corrupt);
  stamp(h, slot, size);
  return h;
}

static void release(worker_t *w, slot_t *s, uint32_t slot) {
  if (!s->p) return;
  if (!intact(s->p, slot)) InterlockedIncrement64(&w->corrupt);
  free(s->p);
  s->p = NULL;
  InterlockedDecrement64(&w->live);
  if (s->old) InterlockedDecrement64(&w->old);
  s->old = 0;
}

static void place(worker_t *w, slot_t *s, header_t *h) {
  s->p = h;
  if (!h) return;
  s->old = !g_hooked;
  InterlockedIncrement64(&w->live);
  if (s->old) InterlockedIncrement64(&w->old);
}

static DWORD WINAPI worker_main(LPVOID arg) {
  worker_t *w = (worker_t *)arg;
  uint32_t base = (uint32_t)(w->index * w->nslots);
  for (int i = 0; i < w->nslots; i++) place(w, &w->slots[i], fresh(w, base + i, i & 1));
  while (!g_stop) {
    for (int batch = 0; batch < 256; batch++) {
      uint64_t r = next_rand(&w->rng);
      int cold = (int)((r >> 48) % 100) < w->cold_pct;
      int i = (int)((r >> 16) % (uint64_t)(cold ? w->nslots : w->nhot));
      uint32_t slot = base + (uint32_t)i;
      slot_t *s = &w->slots[i];
      switch (r & 3) {
        case 0:
        case 1: { /* replace */
          release(w, s, slot);
          place(w, s, fresh(w, slot, (r >> 8) & 1));
          break;
        }
        case 2: { /* resize: the migration path for old blocks */
          if (!s->p) {
            place(w, s, fresh(w, slot, 0));
            break;
          }
          if (!intact(s->p, slot)) InterlockedIncrement64(&w->corrupt);
          uint32_t old_size = s->p->size;
          uint32_t size = pick_size(&w->rng);
          header_t *n = realloc(s->p, size);
          if (!n) break;
          /* What it held up to the smaller size must have come along. */
          if (n->slot != slot ||
              !marks_kept(n, slot, old_size, size < old_size ? size : old_size))
            InterlockedIncrement64(&w->corrupt);
          stamp(n, slot, size);
          s->p = n;
          if (s->old && g_hooked) {
            s->old = 0;
            InterlockedDecrement64(&w->old);
          }
          break;
        }
        default: { /* short-lived temporary */
          uint32_t size = pick_size(&w->rng);
          char *t = malloc(size);
          if (t) {
            t[0] = 1;
            t[size - 1] = 2;
            free(t);
          }
          break;
        }
      }
    }
    InterlockedAdd64(&w->ops, 256);
  }
  return 0;
}

/* A line "stop" on stdin ends the run as --seconds does (tests use it to
 * wait for a clean end instead of a timer). EOF or other lines: nothing. */
static volatile LONG g_quit;

static DWORD WINAPI stdin_main(LPVOID arg) {
  (void)arg;
  char line[64];
  while (fgets(line, sizeof line, stdin)) {
    if (strncmp(line, "stop", 4) == 0) {
      InterlockedExchange(&g_quit, 1);
      break;
    }
  }
  return 0;
}

static int arg_int(int argc, char **argv, const char *name, int def) {
  for (int i = 1; i + 1 < argc; i++)
    if (strcmp(argv[i], name) == 0) return atoi(argv[i + 1]);
  return def;
}

int main(int argc, char **argv) {
  int threads = arg_int(argc, argv, "--threads", 2);
  int slots = arg_int(argc, argv, "--slots", 50000);
  int hot = arg_int(argc, argv, "--hot", slots / 20);
  int cold_pct = arg_int(argc, argv, "--cold-ops", 3);
  int seconds = arg_int(argc, argv, "--seconds", 0);
  int interval = arg_int(argc, argv, "--interval", 500);
  if (threads < 1) threads = 1;
  if (threads > MAX_THREADS) threads = MAX_THREADS;
  if (slots < 16) slots = 16;
  if (hot < threads) hot = threads;
  if (hot > slots) hot = slots;
  if (cold_pct < 0) cold_pct = 0;
  if (cold_pct > 100) cold_pct = 100;
  if (interval < 50) interval = 50;

  printf("ready %lu\n", GetCurrentProcessId());
  fflush(stdout);

  HANDLE handles[MAX_THREADS];
  for (int t = 0; t < threads; t++) {
    worker_t *w = &g_workers[t];
    w->index = t;
    w->nslots = slots / threads;
    w->nhot = hot / threads;
    w->cold_pct = cold_pct;
    w->slots = calloc((size_t)w->nslots, sizeof(slot_t));
    w->rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(t + 1);
    handles[t] = CreateThread(NULL, 0, worker_main, w, 0, NULL);
  }

  CloseHandle(CreateThread(NULL, 0, stdin_main, NULL, 0, NULL));
  ULONGLONG start = GetTickCount64();
  ULONGLONG last = start;
  LONG64 last_ops = 0;
  for (;;) {
    ULONGLONG next = last + (ULONGLONG)interval;
    while (GetTickCount64() < next && !g_quit) {
      if (!g_hooked && GetModuleHandleW(sizeof(void*) == 8
                                             ? L"heapshift.dll"
                                             : L"heapshift32.dll")) {
        g_hooked = 1;
      }
      Sleep(20);
    }
    ULONGLONG now = GetTickCount64();
    LONG64 ops = 0, old = 0, live = 0, corrupt = 0;
    for (int t = 0; t < threads; t++) {
      ops += g_workers[t].ops;
      old += g_workers[t].old;
      live += g_workers[t].live;
      corrupt += g_workers[t].corrupt;
    }
    double secs = (double)(now - last) / 1000.0;
    printf("tick t=%llu ops=%lld rate=%.0f live=%lld old=%lld hooked=%ld corrupt=%lld\n",
           now - start, ops - last_ops, (double)(ops - last_ops) / secs, live, old,
           g_hooked, corrupt);
    fflush(stdout);
    last = now;
    last_ops = ops;
    if (g_quit || (seconds > 0 && now - start >= (ULONGLONG)seconds * 1000)) {
      g_stop = 1;
      WaitForMultipleObjects((DWORD)threads, handles, TRUE, 10000);
      printf("done t=%llu ops=%lld corrupt=%lld\n", now - start, ops, corrupt);
      fflush(stdout);
      return corrupt ? 3 : 0;
    }
  }
}
