/**
 * The raw kernel32 symbol table: every kernel32 function heapshift calls,
 * with its Deno FFI signature. Nothing else in the project declares
 * kernel32 symbols; {@linkcode ./library.ts} opens the library lazily.
 *
 * Conventions: `HANDLE` and local pointers are `"pointer"`, addresses in
 * *another* process are `"usize"` (they are numbers there, not pointers
 * here), out-parameters and strings are `"buffer"`. Every call is
 * synchronous, so `GetLastError` can be read right after a failing call.
 *
 * @module
 */

/** kernel32 functions used by heapshift. */
export const KERNEL32_SYMBOLS = {
  GetLastError: { parameters: [], result: "u32" },
  GetErrorMode: { parameters: [], result: "u32" },
  SetErrorMode: { parameters: ["u32"], result: "u32" },
  OutputDebugStringA: { parameters: ["buffer"], result: "void" },
  FormatMessageW: {
    // dwFlags, lpSource, dwMessageId, dwLanguageId, lpBuffer, nSize, Arguments
    parameters: ["u32", "pointer", "u32", "u32", "buffer", "u32", "pointer"],
    result: "u32",
  },
  CloseHandle: { parameters: ["pointer"], result: "i32" },
  OpenProcess: { parameters: ["u32", "i32", "u32"], result: "pointer" },
  TerminateProcess: { parameters: ["pointer", "u32"], result: "i32" },
  GetExitCodeProcess: { parameters: ["pointer", "buffer"], result: "i32" },
  CheckRemoteDebuggerPresent: {
    parameters: ["pointer", "buffer"],
    result: "i32",
  },
  GetProcessId: { parameters: ["pointer"], result: "u32" },
  GetProcessTimes: {
    parameters: ["pointer", "buffer", "buffer", "buffer", "buffer"],
    result: "i32",
  },
  IsWow64Process: { parameters: ["pointer", "buffer"], result: "i32" },
  ProcessIdToSessionId: { parameters: ["u32", "buffer"], result: "i32" },
  // hProcess, ProcessInformationClass, ProcessInformation, size
  // (Windows 8 and later)
  GetProcessInformation: {
    parameters: ["pointer", "u32", "buffer", "u32"],
    result: "i32",
    optional: true,
  },
  IsWow64Process2: {
    parameters: ["pointer", "buffer", "buffer"],
    result: "i32",
    optional: true,
  },
  QueryFullProcessImageNameW: {
    parameters: ["pointer", "u32", "buffer", "buffer"],
    result: "i32",
  },
  CreateProcessW: {
    // lpApplicationName, lpCommandLine, lpProcessAttributes,
    // lpThreadAttributes, bInheritHandles, dwCreationFlags, lpEnvironment,
    // lpCurrentDirectory, lpStartupInfo, lpProcessInformation
    parameters: [
      "buffer",
      "buffer",
      "pointer",
      "pointer",
      "i32",
      "u32",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
    ],
    result: "i32",
  },
  GetStdHandle: { parameters: ["u32"], result: "pointer" },
  // lpAttributeList, dwAttributeCount, dwFlags, lpSize
  InitializeProcThreadAttributeList: {
    parameters: ["buffer", "u32", "u32", "buffer"],
    result: "i32",
  },
  // lpAttributeList, dwFlags, Attribute, lpValue, cbSize, lpPreviousValue,
  // lpReturnSize
  UpdateProcThreadAttribute: {
    parameters: [
      "buffer",
      "u32",
      "usize",
      "buffer",
      "usize",
      "pointer",
      "pointer",
    ],
    result: "i32",
  },
  DeleteProcThreadAttributeList: { parameters: ["buffer"], result: "void" },
  GetCurrentProcess: { parameters: [], result: "pointer" },
  DuplicateHandle: {
    // hSourceProcess, hSource, hTargetProcess, lpTargetHandle,
    // dwDesiredAccess, bInheritHandle, dwOptions
    parameters: [
      "pointer",
      "pointer",
      "pointer",
      "buffer",
      "u32",
      "i32",
      "u32",
    ],
    result: "i32",
  },
  ResumeThread: { parameters: ["pointer"], result: "u32" },
  SuspendThread: { parameters: ["pointer"], result: "u32" },
  // Not in Wine's kernel32.
  Wow64SuspendThread: {
    parameters: ["pointer"],
    result: "u32",
    optional: true,
  },
  // hThread, lpContext (CONTEXT: 16-byte aligned; WOW64_CONTEXT)
  GetThreadContext: { parameters: ["pointer", "buffer"], result: "i32" },
  Wow64GetThreadContext: { parameters: ["pointer", "buffer"], result: "i32" },
  VirtualAllocEx: {
    // hProcess, lpAddress, dwSize, flAllocationType, flProtect
    parameters: ["pointer", "usize", "usize", "u32", "u32"],
    result: "usize",
  },
  VirtualFreeEx: {
    parameters: ["pointer", "usize", "usize", "u32"],
    result: "i32",
  },
  VirtualProtectEx: {
    parameters: ["pointer", "usize", "usize", "u32", "buffer"],
    result: "i32",
  },
  VirtualQueryEx: {
    parameters: ["pointer", "usize", "buffer", "usize"],
    result: "usize",
  },
  WriteProcessMemory: {
    parameters: ["pointer", "usize", "buffer", "usize", "buffer"],
    result: "i32",
  },
  ReadProcessMemory: {
    parameters: ["pointer", "usize", "buffer", "usize", "buffer"],
    result: "i32",
  },
  FlushInstructionCache: {
    parameters: ["pointer", "usize", "usize"],
    result: "i32",
  },
  CreateRemoteThread: {
    // hProcess, lpThreadAttributes, dwStackSize, lpStartAddress,
    // lpParameter, dwCreationFlags, lpThreadId
    parameters: [
      "pointer",
      "pointer",
      "usize",
      "usize",
      "usize",
      "u32",
      "buffer",
    ],
    result: "pointer",
  },
  WaitForSingleObject: { parameters: ["pointer", "u32"], result: "u32" },
  GetExitCodeThread: { parameters: ["pointer", "buffer"], result: "i32" },
  GetProcessIdOfThread: { parameters: ["pointer"], result: "u32" },
  GetModuleHandleW: { parameters: ["buffer"], result: "usize" },
  LoadLibraryW: { parameters: ["buffer"], result: "usize" },
  GetProcAddress: { parameters: ["usize", "buffer"], result: "usize" },
  CreateToolhelp32Snapshot: { parameters: ["u32", "u32"], result: "pointer" },
  Process32FirstW: { parameters: ["pointer", "buffer"], result: "i32" },
  Process32NextW: { parameters: ["pointer", "buffer"], result: "i32" },
  Module32FirstW: { parameters: ["pointer", "buffer"], result: "i32" },
  Module32NextW: { parameters: ["pointer", "buffer"], result: "i32" },
  Thread32First: { parameters: ["pointer", "buffer"], result: "i32" },
  Thread32Next: { parameters: ["pointer", "buffer"], result: "i32" },
  // dwDesiredAccess, bInheritHandle, dwThreadId
  OpenThread: { parameters: ["u32", "i32", "u32"], result: "pointer" },
  // psapi, as kernel32 exports it: the only module list of a WOW64 process
  // that works under Wine (toolhelp fails there with error 998).
  K32EnumProcessModulesEx: {
    // hProcess, lphModule, cb, lpcbNeeded, dwFilterFlag
    parameters: ["pointer", "buffer", "u32", "buffer", "u32"],
    result: "i32",
  },
  K32GetProcessMemoryInfo: {
    // Process, ppsmemCounters (PROCESS_MEMORY_COUNTERS), cb
    parameters: ["pointer", "buffer", "u32"],
    result: "i32",
  },
  K32GetModuleBaseNameW: {
    parameters: ["pointer", "usize", "buffer", "u32"],
    result: "u32",
  },
  K32GetModuleFileNameExW: {
    parameters: ["pointer", "usize", "buffer", "u32"],
    result: "u32",
  },
  K32GetModuleInformation: {
    parameters: ["pointer", "usize", "buffer", "u32"],
    result: "i32",
  },
  OpenFileMappingW: { parameters: ["u32", "i32", "buffer"], result: "pointer" },
  CreateEventW: {
    // lpEventAttributes, bManualReset, bInitialState, lpName
    parameters: ["pointer", "i32", "i32", "buffer"],
    result: "pointer",
  },
  OpenEventW: {
    // dwDesiredAccess, bInheritHandle, lpName
    parameters: ["u32", "i32", "buffer"],
    result: "pointer",
  },
  SetEvent: { parameters: ["pointer"], result: "i32" },
  ResetEvent: { parameters: ["pointer"], result: "i32" },
  CreateMutexW: {
    // lpMutexAttributes, bInitialOwner, lpName
    parameters: ["pointer", "i32", "buffer"],
    result: "pointer",
  },
  ReleaseMutex: { parameters: ["pointer"], result: "i32" },
  CreateJobObjectW: { parameters: ["pointer", "pointer"], result: "pointer" },
  // hJob, JobObjectInformationClass, lpJobObjectInformation, cbLength
  SetInformationJobObject: {
    parameters: ["pointer", "u32", "buffer", "u32"],
    result: "i32",
  },
  AssignProcessToJobObject: {
    parameters: ["pointer", "pointer"],
    result: "i32",
  },
  // lpFileName
  GetFileAttributesW: { parameters: ["buffer"], result: "u32" },
  // lpFileName, dwFileAttributes
  SetFileAttributesW: { parameters: ["buffer", "u32"], result: "i32" },
  // lpFileName, nBufferLength, lpBuffer, lpFilePart
  GetFullPathNameW: {
    parameters: ["buffer", "u32", "buffer", "pointer"],
    result: "u32",
  },
  // lpszLongPath, lpszShortPath, cchBuffer
  GetShortPathNameW: { parameters: ["buffer", "buffer", "u32"], result: "u32" },
  CreateFileW: {
    // lpFileName, dwDesiredAccess, dwShareMode, lpSecurityAttributes,
    // dwCreationDisposition, dwFlagsAndAttributes, hTemplateFile
    parameters: ["buffer", "u32", "u32", "pointer", "u32", "u32", "pointer"],
    result: "pointer",
  },
  // hFile, lpCreationTime, lpLastAccessTime, lpLastWriteTime
  SetFileTime: {
    parameters: ["pointer", "buffer", "buffer", "buffer"],
    result: "i32",
  },
  MapViewOfFile: {
    parameters: ["pointer", "u32", "u32", "u32", "usize"],
    result: "pointer",
  },
  UnmapViewOfFile: { parameters: ["pointer"], result: "i32" },
  VirtualQuery: {
    parameters: ["pointer", "buffer", "usize"],
    result: "usize",
  },
} as const satisfies Deno.ForeignLibraryInterface;

/** Type of the opened kernel32 symbols. */
export type Kernel32 = Deno.DynamicLibrary<typeof KERNEL32_SYMBOLS>["symbols"];
