// Registry values read from `reg export`'s .reg text.
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { withVars } from "../pe/_test_dir.ts";
import {
  expandVars,
  regFileValues,
  regValues,
  valueNamed,
} from "./registry.ts";

/** `text` as a .reg file's hex(2) bytes (UTF-16LE with its NUL). */
function hex2(text: string): string {
  const bytes: string[] = [];
  for (const ch of text + "\0") {
    const c = ch.charCodeAt(0);
    bytes.push((c & 0xff).toString(16).padStart(2, "0"));
    bytes.push((c >> 8).toString(16).padStart(2, "0"));
  }
  // reg export wraps long values: `\` at the end of each line
  const lines: string[] = [];
  for (let i = 0; i < bytes.length; i += 20) {
    lines.push(bytes.slice(i, i + 20).join(","));
  }
  return `hex(2):${lines.join(",\\\r\n  ")}`;
}

Deno.test("registry: string and expandable values of the key itself, not its subkeys", () => {
  const key = "HKEY_CURRENT_USER\\Software\\Kaldaien\\Special K";
  const text = [
    "Windows Registry Editor Version 5.00",
    "",
    `[${key}]`,
    `"Path"="C:\\\\Games\\\\Special K \\"β\\""`,
    `"Dword"=dword:00000001`,
    `"Docs"=${hex2("%USERPROFILE%\\OneDrive - Contoso\\Documentos")}`,
    "",
    `[${key}\\Profiles]`,
    `"Path"="elsewhere"`,
    "",
  ].join("\r\n");
  const values = regFileValues(text, key);
  assert.deepEqual(values, {
    Path: 'C:\\Games\\Special K "β"',
    Docs: "%USERPROFILE%\\OneDrive - Contoso\\Documentos",
  });
  assert.equal(valueNamed(values, "path"), 'C:\\Games\\Special K "β"');
  assert.equal(valueNamed(values, "Missing"), undefined);
  assert.deepEqual(regFileValues(text, "HKEY_CURRENT_USER\\Other"), {});
});

Deno.test("registry: %NAME% expands from the environment, an unknown one stays", () => {
  const env = (k: string) =>
    ({ USERPROFILE: "C:\\Users\\José" } as Record<string, string>)[k];
  assert.equal(
    expandVars("%USERPROFILE%\\OneDrive\\Documents %NOPE%", env),
    "C:\\Users\\José\\OneDrive\\Documents %NOPE%",
  );
});

Deno.test("regValues: a reg.exe that cannot be started (missing, blocked) reads as no values, not a crash", async () => {
  // (Deno.Command throws at once for a program it cannot start)
  const values = await regValues("HKCU\\Software", {
    program: "heapshift-no-such-reg",
  });
  assert.deepEqual(values, {});
});

Deno.test({
  name:
    "regValues: Ctrl+C while reg export runs stops it and removes its folder, and fails as interrupted (not read as no values, which would go on to edit)",
  ignore: Deno.build.os === "windows", // SIGINT cannot be sent to a process there
  fn: async () => {
    const tmp = await Deno.makeTempDir();
    try {
      const temp = `${tmp}/temp`;
      await Deno.mkdir(temp);
      // a reg.exe that says it has started, then takes its time
      const reg = `${tmp}/reg`;
      await Deno.writeTextFile(
        reg,
        `#!/bin/sh\ntouch "${tmp}/started"\nexec sleep 5\n`,
      );
      await Deno.chmod(reg, 0o755);
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "eval",
          `import { regValues } from "./cli/registry.ts";
           await regValues("HKCU\\\\Software", { program: ${
            JSON.stringify(reg)
          } }).then(
             (v) => console.log("values " + JSON.stringify(v)),
             (e) => console.log("error " + e.message + " " + e.exitCode),
           );`,
        ],
        cwd: fileURLToPath(new URL("..", import.meta.url)),
        env: { TMPDIR: temp },
        stdout: "piped",
      }).spawn();
      const text = new Response(child.stdout).text();
      for (let i = 0; i < 200; i++) {
        try {
          Deno.statSync(`${tmp}/started`);
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      child.kill("SIGINT");
      await child.status;
      assert.match(await text, /^error .*interrupted.* 130$/m);
      assert.deepEqual([...Deno.readDirSync(temp)].map((e) => e.name), []);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test("regValues: with no usable temporary folder it exports into LocalAppData (leaving nothing there), and with neither it says to set TEMP", async () => {
  await withVars(["TMPDIR", "TEMP", "TMP", "LOCALAPPDATA"], async (dir) => {
    for (const v of ["TMPDIR", "TEMP", "TMP"]) Deno.env.set(v, `${dir}/gone`);
    Deno.env.set("LOCALAPPDATA", dir);
    const reg = { program: "heapshift-no-such-reg" };
    assert.deepEqual(await regValues("HKCU\\Software", reg), {});
    assert.deepEqual([...Deno.readDirSync(dir)], []);
    Deno.env.delete("LOCALAPPDATA");
    await assert.rejects(
      () => regValues("HKCU\\Software", reg),
      /^Error: Cannot read the registry key HKCU\\Software: no folder to export it to \(.+\); set TEMP to a folder you can write to$/,
    );
  });
});

Deno.test("regValues: the folders of reads killed outright (SIGKILL, a closed console: nothing runs to remove them) are removed by the next read once a day old; a newer one (a read under way), one holding anything but key.reg, or another name is left alone", async () => {
  await withVars(["TMPDIR", "TEMP", "TMP"], async (dir) => {
    for (const v of ["TMPDIR", "TEMP", "TMP"]) Deno.env.set(v, dir);
    const old = new Date(Date.now() - 2 * 24 * 3600 * 1000);
    const make = async (name: string, files: string[], time = old) => {
      await Deno.mkdir(`${dir}/${name}`);
      for (const f of files) {
        await Deno.writeTextFile(`${dir}/${name}/${f}`, "x");
        await Deno.utime(`${dir}/${name}/${f}`, time, time);
      }
      await Deno.utime(`${dir}/${name}`, time, time);
    };
    await make("heapshift-reg-0a1b2c3d", ["key.reg"]); // killed after reg
    await make("heapshift-reg-4e5f6a7b", []); // killed before reg wrote
    await make("heapshift-reg-11111111", ["key.reg"], new Date());
    await make("heapshift-reg-22222222", ["key.reg", "notes.txt"]);
    await make("heapshift-registry", []);
    await make("other", ["key.reg"]);
    assert.deepEqual(
      await regValues("HKCU\\Software", { program: "heapshift-no-such-reg" }),
      {},
    );
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((e) => e.name).sort(),
      [
        "heapshift-reg-11111111",
        "heapshift-reg-22222222",
        "heapshift-registry",
        "other",
      ],
    );
  });
});
