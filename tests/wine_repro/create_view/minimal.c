/* minimal.exe: Wine's create_view assertion at exit (18 runs in 100).
 * 8 threads each VirtualAlloc 64 blocks (16 B..10 MiB, first byte touched)
 * then VirtualFree them, in a loop; the main thread calls exit(0) after
 * 300 ms; minimal_late.dll's detach then VirtualAllocs 4000 8 KiB blocks.
 * No heapshift, no CRT heap. See README.md. */
#include <stdlib.h>
#include <windows.h>
static DWORD WINAPI worker(void* arg) {
  unsigned r = (unsigned)(UINT_PTR)arg * 2654435761u;
  for (;;) {
    char* keep[64];
    for (int i = 0; i < 64; i++) {
      r = r * 1103515245u + 12345u;
      SIZE_T n = (r >> 4) % 100 < 40 ? 1 + (r >> 8) % (10u << 20) : 16 + (r >> 8) % 4096;
      keep[i] = VirtualAlloc(NULL, n, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
      if (keep[i]) keep[i][0] = 1;
    }
    for (int i = 0; i < 64; i++) if (keep[i]) VirtualFree(keep[i], 0, MEM_RELEASE);
  }
}
int main(void) {
  if (!LoadLibraryA("minimal_late.dll")) return 4;
  for (int i = 0; i < 8; i++) CloseHandle(CreateThread(NULL, 0, worker, (void*)(UINT_PTR)(i + 1), 0, NULL));
  Sleep(300);
  exit(0);
}
