/**
 * The npm package built once per test module into a temp dir (removed when
 * the module unloads), and the runtimes it is tested on.
 *
 * @module
 */
import { buildNpm, type BuildNpmResult } from "../scripts/build_npm.ts";

let build: Promise<BuildNpmResult> | undefined;

/**
 * Builds the npm package from this checkout (once per test module).
 *
 * @example
 * ```ts ignore
 * const { outDir } = await npmPackage();
 * ```
 */
export function npmPackage(): Promise<BuildNpmResult> {
  build ??= (async () => {
    const outDir = await Deno.makeTempDir({ prefix: "mcpmon-npm-test-" });
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(outDir, { recursive: true });
      } catch { /* already gone */ }
    });
    return await buildNpm({ outDir });
  })();
  return build;
}

/** The JavaScript runtimes the npm package is for. */
export const JS_RUNTIMES = ["node", "bun"] as const;

/** Node or Bun. */
export type JsRuntime = typeof JS_RUNTIMES[number];

/**
 * Throws (loudly: a runtime the package claims to support is not tested) when
 * `runtime` is not on PATH. `deno task test` installs Bun first when missing.
 *
 * @example
 * ```ts ignore
 * await requireRuntime("bun");
 * ```
 */
export async function requireRuntime(runtime: JsRuntime): Promise<void> {
  try {
    const { success } = await new Deno.Command(runtime, {
      args: ["--version"],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    if (success) return;
  } catch { /* not found */ }
  throw new Error(
    `${runtime} is not installed, so the npm package cannot be tested on it` +
      (runtime === "bun" ? " (install it: npm install -g bun@1.4.4, or run `deno task test`)" : ""),
  );
}

/** What a finished process printed. */
export interface Output {
  /** Exit code. */
  code: number;
  /** Signal that ended it, if any. */
  signal: Deno.Signal | null;
  /** Its stdout as text. */
  stdout: string;
  /** Its stderr as text. */
  stderr: string;
}

/**
 * Runs `command` to completion with stdin closed.
 *
 * @example
 * ```ts ignore
 * const out = await output("node", ["--version"]);
 * ```
 */
export async function output(
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<Output> {
  const out = await new Deno.Command(command, {
    args,
    cwd: options.cwd,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: out.code,
    signal: out.signal,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
  };
}
