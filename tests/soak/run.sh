#!/bin/sh
# The soak (tests/soak/README.md): builds build/soak/, then runs
# tests/soak/drive.ts. From the checkout's root, on Linux:
#   sh tests/soak/run.sh PREFIX ARCH SECONDS WORKERS DELAY_MS [api] > log 2>&1
# Wine's heap and crash reports go to the same log: grep it for
# ':heap:', ':seh:' and 'starting debugger'.
set -e
prefix=$1
shift
deno task env run --prefix "$prefix" -- sh -c '
  mkdir -p build/soak &&
  x86_64-w64-mingw32ucrt-gcc -O2 -Wall -static -o build/soak/soak.exe tests/soak/soak.c &&
  i686-w64-mingw32-gcc -mcrtdll=ucrt -O2 -Wall -static -o build/soak/soak32.exe tests/soak/soak.c &&
  x86_64-w64-mingw32ucrt-gcc -O2 -Wall -static -o build/soak/term_mem.exe tests/soak/term_mem.c &&
  i686-w64-mingw32-gcc -mcrtdll=ucrt -O2 -Wall -static -o build/soak/term_mem32.exe tests/soak/term_mem.c'
exec deno task env run --prefix "$prefix" -- env \
  WINEDEBUG=-all,+pid,warn+heap,err+heap,err+seh,fixme+seh \
  SOAK_EXE="${SOAK_EXE:-}" SOAK_EXTRA="${SOAK_EXTRA:-}" SOAK_DLL_DIR="${SOAK_DLL_DIR:-}" \
  windeno run -A tests/soak/drive.ts "$@"
