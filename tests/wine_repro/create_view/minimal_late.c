/* minimal_late.dll: allocates 4000 8 KiB blocks in its DLL_PROCESS_DETACH,
 * after exit(0) killed minimal.c's threads (see README.md). */
#include <windows.h>
BOOL WINAPI DllMain(HINSTANCE inst, DWORD reason, LPVOID reserved) {
  (void)inst; (void)reserved;
  if (reason != DLL_PROCESS_DETACH) return TRUE;
  for (int i = 0; i < 4000; i++) {
    char* volatile p = VirtualAlloc(NULL, 8192, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    (void)p;
  }
  return TRUE;
}
