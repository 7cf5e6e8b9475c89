/**
 * `deno task compile`: self-contained mcpmon binaries with `deno compile`,
 * one per target, in `dist/mcpmon-<target>` (`.exe` on Windows).
 *
 * A binary's permissions are fixed when it is compiled, and the state dir
 * (`$XDG_STATE_HOME/mcpmon` or `~/.mcpmon`) is only known where it runs, so
 * binaries get the README's permission-scoped flags except that
 * `--allow-write` is not limited to a path. No network either way.
 *
 * `deno compile` downloads the runtime for each target (`denort`) from
 * Deno's servers; where those cannot be reached, this fails (and is not part
 * of `deno task test`).
 *
 * ```sh
 * deno task compile                                      # every target
 * deno task compile --target x86_64-unknown-linux-gnu    # one
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

/** The targets `deno compile` supports. */
export const TARGETS: readonly string[] = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
];

/** The permissions compiled in (see the README's "Permissions"). */
export const COMPILE_PERMISSIONS: readonly string[] = [
  "--allow-run",
  "--allow-read",
  "--allow-env",
  "--allow-sys=uid,homedir",
  "--allow-write",
];

if (import.meta.main) {
  const root = fileURLToPath(new URL("..", import.meta.url));
  const { values } = parseArgs({
    args: Deno.args,
    options: { target: { type: "string", multiple: true } },
  });
  const targets = values.target ?? [...TARGETS];
  let failed = 0;
  for (const target of targets) {
    const output = join(
      root,
      "dist",
      `mcpmon-${target}${target.includes("windows") ? ".exe" : ""}`,
    );
    console.log(`deno compile --target ${target} → ${output}`);
    const { success } = await new Deno.Command(Deno.execPath(), {
      args: ["compile", ...COMPILE_PERMISSIONS, "--target", target, "--output", output, "mod.ts"],
      cwd: root,
      stdin: "null",
    }).output();
    if (!success) failed++;
  }
  if (failed > 0) {
    console.error(`${failed} of ${targets.length} targets failed`);
    Deno.exit(1);
  }
}
