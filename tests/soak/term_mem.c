/* Reduction: memory kept by threads ended with TerminateThread.
 *   term_mem.exe DLL ROUNDS [exit]   (exit: the victims return instead)
 * LoadLibrary(DLL) (HEAPSHIFT_DISABLE=1 for the baseline); ROUNDS victims,
 * one at a time, each allocate 64 blocks of mixed sizes (16 B .. 64 KiB)
 * and park; the main thread TerminateThread's each, then frees its blocks.
 * Committed private memory after 20 warm-up rounds and at the end. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>

#include "../fixtures/hook_dll.h"

#define BLOCKS 64
static void* blocks[BLOCKS];
static HANDLE parked, go;
static BOOL terminate_them = TRUE;

static uint32_t xs(uint32_t* s) {
  *s ^= *s << 13;
  *s ^= *s >> 17;
  *s ^= *s << 5;
  return *s;
}

static DWORD WINAPI victim(void* arg) {
  uint32_t r = (uint32_t)(uintptr_t)arg * 2654435761u + 7;
  for (int i = 0; i < BLOCKS; i++) {
    size_t n = (xs(&r) % 4 == 0) ? 4096 + xs(&r) % 60000 : 16 + xs(&r) % 2000;
    blocks[i] = malloc(n);
    memset(blocks[i], 1, n);
  }
  SetEvent(parked);
  WaitForSingleObject(go, INFINITE); /* only in "exit" mode */
  return 0;
}

static void round_(int i, BOOL terminate) {
  HANDLE t = CreateThread(NULL, 0, victim, (void*)(uintptr_t)(i + 1), 0, NULL);
  WaitForSingleObject(parked, INFINITE);
  if (terminate) {
    TerminateThread(t, 9);
  } else {
    SetEvent(go);
  }
  WaitForSingleObject(t, INFINITE);
  CloseHandle(t);
  for (int k = 0; k < BLOCKS; k++) free(blocks[k]);
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  if (argc < 3) return 2;
  HMODULE hs = load_utf8(argv[1]);
  printf("live=%d\n", hook_state(hs) == 1);
  int rounds = atoi(argv[2]);
  parked = CreateEventW(NULL, FALSE, FALSE, NULL);
  go = CreateEventW(NULL, FALSE, FALSE, NULL);
  terminate_them = !(argc > 3 && strcmp(argv[3], "exit") == 0);
  for (int i = 0; i < 20; i++) round_(i, terminate_them);
  size_t before = committed_private();
  for (int i = 20; i < 20 + rounds; i++) round_(i, terminate_them);
  size_t after = committed_private();
  printf("private.before=%zu\nprivate.growth=%lld\nper_thread=%lld\n", before,
         (long long)after - (long long)before,
         ((long long)after - (long long)before) / rounds);
  printf("done\n");
  return 0;
}
