// Microsoft's x86 ucrtbase hands the arguments of its non-exported
// `_msize_base`, `_expand_base` and `_recalloc_base` on in registers; the
// hook DLL patches those with adapters (dll/patch.c). Wine's ucrtbase has no
// such wrappers, so tests/fixtures/dll_regwrap.c writes them in Microsoft's
// shapes (and in shapes that must be refused) and calls the adapters
// directly. x86 only: x64 has one calling convention.
import { hookDll, test } from "./harness.ts";
import { assertValues, runValues } from "./fixture_values.ts";

test("x86 register wrappers: Microsoft's shapes lead to their _base functions, other shapes are refused", async () => {
  assertValues(
    await runValues("dll_regwrap.exe", [hookDll("x86")], { arch: "x86" }),
    {
      "wrap.w_msize": "base",
      "wrap.w_expand": "base",
      "wrap.w_recalloc": "base",
      "wrap.w_msize_edx": "none",
      "wrap.w_expand_swapped": "none",
      "wrap.w_recalloc_tail": "none",
      "wrap.w_msize_as_expand": "none",
      "wrap.w_msize_as_malloc": "none",
      "wrap.w_expand_ecx_first": "base",
      "wrap.w_recalloc_add": "base",
      "wrap.w_expand_fnptr": "none",
    },
  );
});

test("x86 register adapters: arguments from ecx, edx and the stack reach the hooks, every register but eax kept", async () => {
  const r = await runValues("dll_regwrap.exe", [hookDll("x86")], {
    arch: "x86",
  });
  assertValues(r, {
    "adapter.msize": 100,
    "adapter.msize.kept": 1,
    "adapter.expand": "same",
    "adapter.expand.msize": 40,
    "adapter.expand.kept": 1,
    "adapter.recalloc": "ptr",
    "adapter.recalloc.msize": 200,
    "adapter.recalloc.kept": 1,
    "adapter.recalloc.data": 1,
    "adapter.recalloc.zero": 1,
  });
});
