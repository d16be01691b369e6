// A game that Steam must start, started otherwise
// (SteamAPI_RestartAppIfNecessary), in miniature: cli_handoff.exe's
// `restart STEAM` has steam.exe (cli_handoff.exe beside it, under that
// name) start it again and exits.
import { fixture } from "./harness.ts";

/** How the first instance, started outside Steam, ended. */
export interface FirstInstance {
  pid: number;
  code: number;
  stderr: string;
}

/**
 * Starts `game` (a copy of cli_handoff.exe) as a user does, not from
 * Steam, a steam.exe copied beside it: the first instance exits, once
 * taken over with `options.afterTakeover`, else at once.
 */
export async function startOutsideSteam(
  game: string,
  options: { afterTakeover?: boolean } = {},
): Promise<FirstInstance> {
  const steam = `${game.slice(0, game.lastIndexOf("\\"))}\\steam.exe`;
  await Deno.copyFile(fixture("cli_handoff.exe"), steam);
  const child = new Deno.Command(game, {
    args: [
      "restart",
      steam,
      ...(options.afterTakeover ? ["after-takeover"] : []),
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const out = await child.output();
  return {
    pid: child.pid,
    code: out.code,
    stderr: new TextDecoder().decode(out.stderr),
  };
}
