/* DLL: in DLL_PROCESS_DETACH (at exit, after ExitProcess killed the other
 * threads) reserve+commit 48 MiB with VirtualAlloc, touch it, free it. */
#include <windows.h>
BOOL WINAPI DllMain(HINSTANCE inst, DWORD reason, LPVOID reserved) {
  (void)inst; (void)reserved;
  if (reason != DLL_PROCESS_DETACH) return TRUE;
  char* volatile p = VirtualAlloc(NULL, (SIZE_T)48 << 20, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
  if (p) { p[0] = 1; VirtualFree(p, 0, MEM_RELEASE); }
  for (unsigned i = 0, r = 7; i < 200; i++) {
    r = r * 1103515245u + 12345u;
    char* volatile q = VirtualAlloc(NULL, 1 + (r >> 8) % 200000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    if (q) VirtualFree(q, 0, MEM_RELEASE);
  }
  return TRUE;
}
