/**
 * `deno task compile`: mcpmon as one self-contained executable, nothing to install.
 *
 * Two ways, for two kinds of machine:
 *
 * - **`bun build --compile --bytecode`** (the default, works offline): the npm build's one-file
 *   command line (`bin/mcpmon-cli.cjs` from `scripts/build_npm.ts`, mcpmon on its Node runtime)
 *   compiled with the Bun that runs here, with its bytecode, into `dist/mcpmon` (`.exe` on
 *   Windows) for this platform. This is the binary `deno task test`
 *   runs the e2e suite against. Other platforms (`--target`) make Bun download that platform's
 *   runtime: release machines only.
 * - **`deno compile`** (`--with deno`): `mod.ts` on the Deno runtime, compiled with the README's
 *   permission-scoped flags except that `--allow-write` is not limited to a path (the state dir
 *   is only known where the binary runs); no network. Needs Deno's servers for the runtime of
 *   each target (`denort`), so it is for release machines, and not part of `deno task test`.
 *
 * With `--target`, each target is built into `dist/mcpmon-<bun|deno>-<target>` (`.exe` on
 * Windows); `--all` builds every target both ways (the release workflow).
 *
 * ```sh
 * deno task compile                                                 # dist/mcpmon, this platform, offline
 * deno task compile --with deno --target x86_64-unknown-linux-gnu   # one target with deno compile
 * deno task compile --all                                           # every target, both ways
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { basename, dirname, join } from "node:path";
import { buildNpm, BUNDLE_PATH } from "./build_npm.ts";

/** The targets binaries are released for (Deno's names; Bun's are in {@linkcode BUN_TARGETS}). */
export const TARGETS: readonly string[] = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
];

/** `bun build --compile --target` for each of {@linkcode TARGETS}. */
export const BUN_TARGETS: Readonly<Record<string, string>> = {
  "x86_64-unknown-linux-gnu": "bun-linux-x64",
  "aarch64-unknown-linux-gnu": "bun-linux-arm64",
  "x86_64-apple-darwin": "bun-darwin-x64",
  "aarch64-apple-darwin": "bun-darwin-arm64",
  "x86_64-pc-windows-msvc": "bun-windows-x64",
};

/** The permissions `deno compile` compiles in (see the README's "Permissions"). */
export const COMPILE_PERMISSIONS: readonly string[] = [
  "--allow-run",
  "--allow-read",
  "--allow-env",
  "--allow-sys=uid,homedir",
  "--allow-write",
];

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** What {@linkcode run} saw. */
interface Ran {
  success: boolean;
  output: string;
}

async function run(command: string, args: string[], cwd = ROOT): Promise<Ran> {
  try {
    const out = await new Deno.Command(command, {
      args,
      cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decoder = new TextDecoder();
    return {
      success: out.success,
      output: decoder.decode(out.stdout) + decoder.decode(out.stderr),
    };
  } catch (err) {
    return { success: false, output: err instanceof Error ? err.message : String(err) };
  }
}

/** Options of {@linkcode compileWithBun}. */
export interface BunCompileOptions {
  /** Where to write the binary. */
  output: string;
  /**
   * The npm build's `bin/mcpmon.js`, whose bundle (`bin/mcpmon-cli.cjs`, next to it) is compiled;
   * default: build the npm package into a temp dir.
   */
  bin?: string;
  /** A Deno target name (see {@linkcode TARGETS}); default: this platform (no download). */
  target?: string;
  /** The `bun` to use; default `bun` on PATH. */
  bun?: string;
}

/**
 * Compiles the npm build's one-file bin into a self-contained executable with
 * `bun build --compile`.
 *
 * @example
 * ```ts ignore
 * await compileWithBun({ output: "dist/mcpmon", bin: "npm/bin/mcpmon.js" });
 * ```
 *
 * @throws When the npm build or Bun fails (Bun's output is in the message), or the target is
 * unknown.
 */
export async function compileWithBun(options: BunCompileOptions): Promise<void> {
  const bunTarget = options.target === undefined ? undefined : BUN_TARGETS[options.target];
  if (options.target !== undefined && bunTarget === undefined) {
    throw new Error(`unknown target ${options.target} (known: ${TARGETS.join(", ")})`);
  }
  let bin = options.bin;
  let tmp: string | undefined;
  try {
    if (bin === undefined) {
      tmp = await Deno.makeTempDir({ prefix: "mcpmon-compile-" });
      bin = join((await buildNpm({ outDir: tmp })).outDir, "bin", "mcpmon.js");
    }
    // The bundle next to the bin (the bin is only its loader, with Node's code cache).
    const bundle = join(dirname(bin), basename(BUNDLE_PATH));
    // --bytecode: the binary carries JavaScriptCore's bytecode of the bundle, so that it does not
    // parse and compile it at each start. Measured (2 cores, loaded machine, 2026-12-03, Bun 1.4.4;
    // two runs each, taking turns): spawn → ready to read the client 21 / 21 ms against 42 / 55
    // without it, `--version` 11–15 against 28–34 ms; CPU per pipelined call 10.6 / 10.8 against
    // 10.8 / 8.2 µs and a 4 MB result's CPU 12–13 against 14–15 ms, i.e. no cost per call. (An
    // earlier measurement, of the ES module bundle with top-level await, had seen calls slow down.)
    const args = ["build", "--compile", "--bytecode", bundle, "--outfile", options.output];
    if (bunTarget) args.push(`--target=${bunTarget}`);
    const ran = await run(options.bun ?? "bun", args);
    if (!ran.success) {
      throw new Error(`bun ${args.join(" ")} failed:\n${ran.output.trim().slice(-2000)}`);
    }
  } finally {
    if (tmp) await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

/**
 * Compiles `mod.ts` for `target` with `deno compile` (downloads that target's Deno runtime).
 *
 * @throws When `deno compile` fails (its output is in the message).
 */
export async function compileWithDeno(output: string, target: string): Promise<void> {
  const args = [
    "compile",
    ...COMPILE_PERMISSIONS,
    "--target",
    target,
    "--output",
    output,
    "mod.ts",
  ];
  const ran = await run(Deno.execPath(), args);
  if (!ran.success) {
    throw new Error(`deno ${args.join(" ")} failed:\n${ran.output.trim().slice(-2000)}`);
  }
}

const USAGE = `Usage: deno task compile [--with bun|deno] [--target <target>…] [--all]

  (no option)        dist/mcpmon for this platform with bun build --compile (offline)
  --with bun|deno    how to compile the --target binaries (default bun; repeatable)
  --target <t>       a target (repeatable): ${TARGETS.join(", ")}
  --all              every target, both ways (release machines: downloads runtimes)
`;

if (import.meta.main) {
  let values;
  try {
    ({ values } = parseArgs({
      args: Deno.args,
      options: {
        with: { type: "string", multiple: true },
        target: { type: "string", multiple: true },
        all: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    console.error(`${err instanceof Error ? err.message : err}\n\n${USAGE}`);
    Deno.exit(2);
  }
  if (values.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  const ways = values.all ? ["bun", "deno"] : values.with ?? ["bun"];
  const targets = values.all ? [...TARGETS] : values.target;
  for (const way of ways) {
    if (way !== "bun" && way !== "deno") {
      console.error(`--with must be bun or deno, not ${way}\n\n${USAGE}`);
      Deno.exit(2);
    }
  }
  for (const target of targets ?? []) {
    if (!TARGETS.includes(target)) {
      console.error(`unknown target ${target}\n\n${USAGE}`);
      Deno.exit(2);
    }
  }
  if (targets === undefined && ways.includes("deno")) {
    console.error(`--with deno needs --target (deno compile downloads each target's runtime)`);
    Deno.exit(2);
  }

  const jobs: { way: string; target?: string; output: string }[] = [];
  if (targets === undefined) {
    const exe = Deno.build.os === "windows" ? ".exe" : "";
    jobs.push({ way: "bun", output: join(ROOT, "dist", `mcpmon${exe}`) });
  } else {
    for (const way of ways) {
      for (const target of targets) {
        const exe = target.includes("windows") ? ".exe" : "";
        jobs.push({ way, target, output: join(ROOT, "dist", `mcpmon-${way}-${target}${exe}`) });
      }
    }
  }
  // One npm build for every Bun binary.
  let npmDir: string | undefined;
  let failed = 0;
  try {
    for (const job of jobs) {
      console.log(
        `${job.way === "bun" ? "bun build --compile" : "deno compile"}` +
          `${job.target ? ` --target ${job.target}` : ""} → ${job.output}`,
      );
      try {
        if (job.way === "bun") {
          npmDir ??= (await buildNpm({ outDir: await Deno.makeTempDir() })).outDir;
          await compileWithBun({
            output: job.output,
            target: job.target,
            bin: join(npmDir, "bin", "mcpmon.js"),
          });
        } else {
          await compileWithDeno(job.output, job.target!);
        }
      } catch (err) {
        failed++;
        console.error(err instanceof Error ? err.message : err);
      }
    }
  } finally {
    if (npmDir) await Deno.remove(npmDir, { recursive: true }).catch(() => {});
  }
  if (failed > 0) {
    console.error(`${failed} of ${jobs.length} binaries failed`);
    Deno.exit(1);
  }
}
