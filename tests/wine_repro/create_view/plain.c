/* plain.exe MODE: Wine's create_view assertion at exit, without heapshift.
 * 8 worker slots VirtualAlloc/VirtualFree 16 B..10 MiB (MODE "va...") or
 * malloc/free (MODE "malloc"); each slot's thread is replaced by a fresh
 * one every 20 rounds, unless MODE contains "nochurn"; after 2,000 rounds
 * the main thread calls exit(0) while they run. late.dll is loaded first
 * (it VirtualAllocs in its DLL_PROCESS_DETACH) unless MODE contains
 * "nolate". See README.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>
static int use_va, nochurn;
static volatile LONG rounds;
static DWORD WINAPI worker(void* arg);
static void* get(size_t n) { return use_va ? VirtualAlloc(NULL, n, MEM_RESERVE|MEM_COMMIT, PAGE_READWRITE) : malloc(n); }
static void put(void* p) { if (!p) return; if (use_va) VirtualFree(p, 0, MEM_RELEASE); else free(p); }
static DWORD WINAPI worker(void* arg) {
  unsigned r = (unsigned)(uintptr_t)arg * 2654435761u;
  for (int round = 0; round < 20; round++) {
    void* keep[64];
    for (int i = 0; i < 64; i++) {
      r = r * 1103515245u + 12345u;
      size_t n = (r >> 4) % 100 < 40 ? 1 + (r >> 8) % (10u << 20) : 16 + (r >> 8) % 4096;
      keep[i] = get(n);
      if (keep[i]) ((char*)keep[i])[0] = 1;
    }
    for (int i = 0; i < 64; i++) put(keep[i]);
    InterlockedIncrement(&rounds);
  }
  if (nochurn) return worker(arg); /* same thread goes on */
  HANDLE t = CreateThread(NULL, 0, worker, arg, 0, NULL);
  if (t) CloseHandle(t);
  return 0;
}
int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  const char* mode = argc > 1 ? argv[1] : "va";
  use_va = strncmp(mode, "va", 2) == 0;
  nochurn = strstr(mode, "nochurn") != NULL;
  if (!strstr(mode, "nolate") && !LoadLibraryA("late.dll")) return 4;
  for (int i = 0; i < 8; i++) { HANDLE t = CreateThread(NULL, 0, worker, (void*)(uintptr_t)(i + 1), 0, NULL); CloseHandle(t); }
  while (rounds < 2000) Sleep(1);
  printf("exiting\n");
  exit(0);
}
