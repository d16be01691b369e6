/*
 * A Windows program that runs the Linux program of its own name under Wine
 * (tasks/unix_tools.ts copies it to x86_64-w64-mingw32-objdump.exe and the
 * like): the unit suite run by the Windows Deno finds the mingw-w64 tools
 * on PATH, as on Windows, and they are the environment's real ones.
 *
 * Why not the Linux program itself on PATH: Wine starts a Unix binary
 * through CreateProcess detached (ntdll's fork_and_exec), with no process
 * handle (Deno panics on it) nor exit code, and only its stdin and stdout
 * bound. ntdll's __wine_unix_spawnvp waits and gives the exit status.
 *
 * Arguments that are Windows paths (C:\x, or glued to -I, -L or -o) become
 * the Unix paths Wine maps them to. The program's stdout and stderr go
 * through temporary files to this program's own handles: the Unix side's
 * fd 2 is not the Windows stderr handle. Stdin is not passed on.
 */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

typedef LONG(WINAPI *spawnvp_fn)(char *const argv[], int wait);
typedef char *(CDECL *unix_name_fn)(LPCWSTR dos);

static unix_name_fn unix_name;

static void fail(const char *what) {
  char msg[512];
  int n = snprintf(msg, sizeof msg, "unix_tool: %s\n", what);
  DWORD done;
  WriteFile(GetStdHandle(STD_ERROR_HANDLE), msg, (DWORD)n, &done, NULL);
  ExitProcess(127);
}

static char *utf8(const wchar_t *w) {
  int n = WideCharToMultiByte(CP_UTF8, 0, w, -1, NULL, 0, NULL, NULL);
  char *s = malloc(n);
  if (!s) fail("out of memory");
  WideCharToMultiByte(CP_UTF8, 0, w, -1, s, n, NULL, NULL);
  return s;
}

static int is_dos_path(const wchar_t *a) {
  return ((a[0] >= L'A' && a[0] <= L'Z') || (a[0] >= L'a' && a[0] <= L'z')) &&
         a[1] == L':' && (a[2] == L'\\' || a[2] == L'/');
}

/* The argument for the Linux program: a Windows path, alone or after one
 * of the path options, as Wine's Unix path. */
static char *unix_arg(const wchar_t *a) {
  static const wchar_t *glued[] = {L"-I", L"-L", L"-o"};
  size_t skip = 0;
  for (size_t i = 0; i < sizeof glued / sizeof *glued; i++) {
    if (wcsncmp(a, glued[i], 2) == 0 && is_dos_path(a + 2)) skip = 2;
  }
  if (!skip && !is_dos_path(a)) return utf8(a);
  char *path = unix_name(a + skip);
  if (!path) return utf8(a); /* no Unix path: as it is */
  char *s = malloc(skip + strlen(path) + 1);
  if (!s) fail("out of memory");
  for (size_t i = 0; i < skip; i++) s[i] = (char)a[i];
  strcpy(s + skip, path);
  return s;
}

/* A new empty temporary file: its Windows and Unix names. */
static void temp_file(wchar_t *win, char **unix) {
  wchar_t dir[MAX_PATH];
  if (!GetTempPathW(MAX_PATH, dir) || !GetTempFileNameW(dir, L"ut", 0, win)) {
    fail("cannot create a temporary file");
  }
  if (!(*unix = unix_name(win))) fail("a temporary file has no Unix path");
}

/* Copies a file to a handle, then removes the file. */
static void drain(const wchar_t *file, DWORD std) {
  HANDLE in = CreateFileW(file, GENERIC_READ, FILE_SHARE_READ, NULL,
                          OPEN_EXISTING, 0, NULL);
  HANDLE out = GetStdHandle(std);
  char buf[65536];
  DWORD got, put;
  if (in != INVALID_HANDLE_VALUE) {
    while (ReadFile(in, buf, sizeof buf, &got, NULL) && got > 0) {
      if (out && out != INVALID_HANDLE_VALUE) WriteFile(out, buf, got, &put, NULL);
    }
    CloseHandle(in);
  }
  DeleteFileW(file);
}

int wmain(int argc, wchar_t **argv) {
  HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
  HMODULE kernel32 = GetModuleHandleW(L"kernel32.dll");
  spawnvp_fn spawnvp =
      (spawnvp_fn)(void *)GetProcAddress(ntdll, "__wine_unix_spawnvp");
  unix_name =
      (unix_name_fn)(void *)GetProcAddress(kernel32, "wine_get_unix_file_name");
  if (!spawnvp || !unix_name) fail("this runs under Wine only");

  /* the Linux program: this file's name without .exe, looked up on the
   * Unix PATH */
  wchar_t self[MAX_PATH];
  DWORD n = GetModuleFileNameW(NULL, self, MAX_PATH);
  if (!n || n == MAX_PATH) fail("cannot read its own file name");
  wchar_t *name = wcsrchr(self, L'\\');
  name = name ? name + 1 : self;
  size_t len = wcslen(name);
  if (len > 4 && _wcsicmp(name + len - 4, L".exe") == 0) name[len - 4] = 0;

  wchar_t out_win[MAX_PATH], err_win[MAX_PATH];
  char *out_unix, *err_unix;
  temp_file(out_win, &out_unix);
  temp_file(err_win, &err_unix);

  char **args = calloc(argc + 7, sizeof *args);
  if (!args) fail("out of memory");
  int k = 0;
  args[k++] = "/bin/sh";
  args[k++] = "-c";
  args[k++] = "o=$1 e=$2; shift 2; exec \"$@\" >\"$o\" 2>\"$e\"";
  args[k++] = "sh";
  args[k++] = out_unix;
  args[k++] = err_unix;
  args[k++] = utf8(name);
  for (int i = 1; i < argc; i++) args[k++] = unix_arg(argv[i]);
  args[k] = NULL;

  LONG code = spawnvp(args, 1);
  drain(out_win, STD_OUTPUT_HANDLE);
  drain(err_win, STD_ERROR_HANDLE);
  /* above 255: sh itself could not be started (an NTSTATUS) */
  if (code < 0 || code > 255) fail("cannot start /bin/sh");
  return (int)code;
}
