/* Variant 4 only (workload-mimalloc.exe): a fast replacement for libgcc's
 * emulated TLS, so that "mimalloc linked directly" is the upper bound it
 * is meant to be.
 *
 * mingw GCC has no native TLS: mimalloc's `__thread` default heap becomes
 * a call to __emutls_get_address on every malloc and free, which in libgcc
 * goes through winpthread's pthread_getspecific. The hook DLL replaces
 * that with a TEB-slot lookup (dll/tls.c); without the same here, the
 * direct build would be handicapped and the hook's overhead hidden. MSVC
 * builds use native TLS and need neither.
 *
 * Defining __emutls_get_address in the program keeps libgcc's emutls.o
 * out of the link. Each thread's array hangs off a Win32 TLS slot read
 * straight from the TEB; its memory comes from a private Win32 heap and
 * is not reclaimed when a thread exits (the bench's threads are few). */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <stdint.h>
#include <string.h>

#pragma GCC diagnostic ignored "-Warray-bounds" /* NtCurrentTeb() */

typedef struct emutls_object {
  uintptr_t size;
  uintptr_t align;
  union {
    uintptr_t offset;
    void *ptr;
  } loc;
  void *templ;
} emutls_object;

typedef struct emutls_array {
  uintptr_t count;
  void *data[];
} emutls_array;

static volatile LONG g_lock;
static DWORD g_index = TLS_OUT_OF_INDEXES;
static HANDLE g_heap;
static uintptr_t g_next;

static void lock(void) {
  while (InterlockedCompareExchange(&g_lock, 1, 0) != 0) YieldProcessor();
}
static void unlock(void) { InterlockedExchange(&g_lock, 0); }

static inline emutls_array *slot_get(void) {
  uint8_t *teb = (uint8_t *)NtCurrentTeb();
  if (g_index < 64) return ((emutls_array **)(teb + 0x1480))[g_index];
  return (emutls_array *)TlsGetValue(g_index);
}

static uintptr_t offset_of(emutls_object *obj) {
  uintptr_t off = __atomic_load_n(&obj->loc.offset, __ATOMIC_ACQUIRE);
  if (off) return off;
  lock();
  if (g_index == TLS_OUT_OF_INDEXES) {
    g_heap = HeapCreate(0, 0, 0);
    g_index = TlsAlloc();
    if (!g_heap || g_index == TLS_OUT_OF_INDEXES) ExitProcess(90);
  }
  off = obj->loc.offset;
  if (!off) {
    off = ++g_next;
    __atomic_store_n(&obj->loc.offset, off, __ATOMIC_RELEASE);
  }
  unlock();
  return off;
}

static void *new_object(emutls_object *obj) {
  uintptr_t align = obj->align < sizeof(void *) ? sizeof(void *) : obj->align;
  uint8_t *raw = HeapAlloc(g_heap, 0, obj->size + align + sizeof(void *));
  if (!raw) ExitProcess(91);
  uintptr_t p = ((uintptr_t)raw + sizeof(void *) + align - 1) & ~(align - 1);
  if (obj->templ) memcpy((void *)p, obj->templ, obj->size);
  else memset((void *)p, 0, obj->size);
  return (void *)p;
}

void *__emutls_get_address(void *object) {
  emutls_object *obj = object;
  uintptr_t off = offset_of(obj);
  emutls_array *a = slot_get();
  if (__builtin_expect(a == NULL || a->count < off, 0)) {
    uintptr_t count = off + 16;
    size_t bytes = sizeof(emutls_array) + count * sizeof(void *);
    emutls_array *n = a ? HeapReAlloc(g_heap, HEAP_ZERO_MEMORY, a, bytes)
                        : HeapAlloc(g_heap, HEAP_ZERO_MEMORY, bytes);
    if (!n) ExitProcess(92);
    n->count = count;
    TlsSetValue(g_index, n);
    a = n;
  }
  void *p = a->data[off - 1];
  if (__builtin_expect(p == NULL, 0)) p = a->data[off - 1] = new_object(obj);
  return p;
}
