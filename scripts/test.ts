/**
 * `deno task test`: the whole spec, on each runtime mcpmon ships for. Runs,
 * one after the other (the e2e tests are timing-sensitive on small machines):
 *
 * 1. `deno run -A scripts/build_deno.ts` (the Deno bundle, `dist/deno/`), then
 *    `deno test -A --doc`: every unit and e2e test, and every JSDoc
 *    `@example`; the e2e launcher is that bundle on Deno with
 *    the narrowest permissions (see the README's "Permissions"), and the npm
 *    build and the Node runtime are tested under Node and Bun;
 * 2. `deno run -A scripts/build_npm.ts`: builds the npm package into `npm/`;
 * 3. `deno test -A tests/e2e/` with `MCPMON_E2E_LAUNCHER="node npm/bin/mcpmon.js"`;
 * 4. the same with `bun npm/bin/mcpmon.js`;
 * 5. `bun build --compile` of that bin into the single-file binary `dist/mcpmon`
 *    (`scripts/compile.ts`, offline), and the e2e suite with
 *    `MCPMON_E2E_LAUNCHER=dist/mcpmon`;
 * 6. `deno test -A tests/conformance/conformance.ts`: the official MCP
 *    conformance suite against a server directly and through `mcpmon --http`
 *    (both eras); the suite and the Node 22 it needs are installed from the npm
 *    registry on first use into `~/.cache/mcpmon/` (in CI too: nothing to
 *    install beforehand).
 *
 * Each `deno test` run ends with its own `ok | N passed | N failed` line
 * (`.ci/run` adds them up). A run that cannot happen (no Bun, a failed build
 * or compile) prints a `FAILED | 0 passed | 1 failed` line of its own instead
 * of being skipped. Exits 1 when anything failed.
 *
 * Bun: taken from PATH; outside CI, when missing, installed from the npm
 * registry into `~/.cache/mcpmon/bun-<version>` for this run. In CI
 * (`CI=true`) a missing Bun is a failure (`.ci/run` installs it first).
 *
 * ```sh
 * deno task test
 * deno task test --only node     # just the Node e2e run (builds npm/ first)
 * deno task test --only binary   # just the binary's e2e run (builds npm/ and dist/mcpmon first)
 * deno task test --only conformance   # just the conformance comparison
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { compileWithBun } from "./compile.ts";
import { buildDeno, DENO_BUNDLE_PATH } from "./build_deno.ts";

/** The Bun version the npm package is tested with. */
export const BUN_VERSION = "1.4.4";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DENO = Deno.execPath();
const BIN = join(ROOT, "npm", "bin", "mcpmon.js");
const DENO_BUNDLE = join(ROOT, DENO_BUNDLE_PATH);
const BINARY = join(ROOT, "dist", Deno.build.os === "windows" ? "mcpmon.exe" : "mcpmon");
const CI = /^(1|true|yes)$/i.test(Deno.env.get("CI") ?? "");

/** One step of the run. */
interface Step {
  /** Name shown in headers and the final report. */
  name: string;
  /** Key for `--only`. */
  key: "deno" | "node" | "bun" | "binary" | "conformance";
}

const STEPS: Step[] = [
  {
    name: "Deno: all tests, e2e on deno run dist/deno/mcpmon.js with scoped permissions",
    key: "deno",
  },
  { name: "Node: e2e on node npm/bin/mcpmon.js", key: "node" },
  { name: "Bun: e2e on bun npm/bin/mcpmon.js", key: "bun" },
  { name: "Binary: e2e on dist/mcpmon (bun build --compile)", key: "binary" },
  {
    name: "Conformance: the official MCP suite, directly and through mcpmon --http",
    key: "conformance",
  },
];

function header(text: string): void {
  console.log(`\n━━━ ${text} ━━━`);
}

/** A failure that stands in for a test run that could not happen; `.ci/run` counts it. */
function failedRun(reason: string): void {
  console.log(`FAILED | 0 passed | 1 failed (${reason})`);
}

async function run(
  command: string,
  args: string[],
  env: Record<string, string> = {},
  unset: string[] = [],
): Promise<boolean> {
  const childEnv = { ...Deno.env.toObject(), ...env };
  for (const name of unset) delete childEnv[name];
  const { success } = await new Deno.Command(command, {
    args,
    cwd: ROOT,
    env: childEnv,
    clearEnv: true,
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  return success;
}

async function works(command: string, args: string[]): Promise<boolean> {
  try {
    const { success } = await new Deno.Command(command, {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch {
    return false;
  }
}

/**
 * Finds `bun` (PATH first); outside CI installs it from npm when missing.
 * Returns the directory to put on PATH ("" when already there), or undefined.
 */
async function findBun(): Promise<string | undefined> {
  if (await works("bun", ["--version"])) return "";
  if (CI) {
    console.error(
      `bun is not installed: the npm package cannot be tested on Bun. ` +
        `.ci/run installs it (npm install -g bun@${BUN_VERSION}); did that fail?`,
    );
    return undefined;
  }
  const home = Deno.env.get("XDG_CACHE_HOME") ?? join(Deno.env.get("HOME") ?? "/tmp", ".cache");
  const prefix = join(home, "mcpmon", `bun-${BUN_VERSION}`);
  const binDir = join(prefix, "node_modules", ".bin");
  if (await works(join(binDir, "bun"), ["--version"])) return binDir;
  console.log(`bun not found on PATH: installing bun@${BUN_VERSION} into ${prefix} (npm)`);
  const installed = await run("npm", [
    "install",
    "--prefix",
    prefix,
    "--no-audit",
    "--no-fund",
    "--no-save",
    `bun@${BUN_VERSION}`,
  ]);
  if (installed && !(await works(join(binDir, "bun"), ["--version"]))) {
    // The package's postinstall puts the binary in place; run it if npm did not.
    await run("node", [join(prefix, "node_modules", "bun", "install.js")]);
  }
  if (await works(join(binDir, "bun"), ["--version"])) return binDir;
  console.error(`could not install bun@${BUN_VERSION} from npm`);
  return undefined;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { only: { type: "string", multiple: true } },
  });
  const only = new Set(values.only ?? STEPS.map((s) => s.key));
  const results: { name: string; ok: boolean }[] = [];
  const started = performance.now();

  const bunDir = only.has("deno") || only.has("bun") || only.has("binary") ? await findBun() : "";
  const path = bunDir ? `${bunDir}:${Deno.env.get("PATH") ?? ""}` : Deno.env.get("PATH") ?? "";

  for (const step of STEPS.filter((s) => only.has(s.key))) {
    const npm = step.key === "node" || step.key === "bun" || step.key === "binary";
    if (npm && !results.some((r) => r.name === "npm build")) {
      header("build the npm package: deno run -A scripts/build_npm.ts");
      const built = await run(DENO, ["run", "-A", "scripts/build_npm.ts"]);
      results.push({ name: "npm build", ok: built });
    }
    header(step.name);
    let ok: boolean;
    if (step.key === "deno") {
      if (bunDir === undefined) console.error("(the Bun tests in this run will fail: no bun)");
      header("build the Deno bundle: deno run -A scripts/build_deno.ts");
      const bundled = await buildDeno().then(() => true, (err) => {
        console.error(err instanceof Error ? err.message : err);
        return false;
      });
      if (!bundled) failedRun("the Deno bundle could not be built; the e2e run is on mod.ts");
      results.push({ name: "Deno bundle", ok: bundled });
      // --doc: every @example block runs too (they are part of the spec). The e2e suite runs
      // what ships for Deno: the bundle, with the README's scoped permissions.
      ok = await run(
        DENO,
        ["test", "-A", "--doc"],
        { PATH: path, ...(bundled ? { MCPMON_E2E_DENO_ENTRY: DENO_BUNDLE } : {}) },
        ["MCPMON_E2E_LAUNCHER", ...(bundled ? [] : ["MCPMON_E2E_DENO_ENTRY"])],
      );
    } else if (step.key === "conformance") {
      ok = await run(DENO, ["test", "-A", "tests/conformance/conformance.ts"]);
    } else {
      if (!results.find((r) => r.name === "npm build")!.ok) {
        failedRun(`the npm build failed, so the ${step.key} e2e run could not start`);
        ok = false;
      } else if ((step.key === "bun" || step.key === "binary") && bunDir === undefined) {
        failedRun(`bun@${BUN_VERSION} is not installed`);
        ok = false;
      } else if (step.key === "binary") {
        header(`bun build --compile --bytecode npm/bin/mcpmon-cli.cjs → dist/mcpmon`);
        const t0 = performance.now();
        const built = await compileWithBun({
          output: BINARY,
          bin: BIN,
          bun: bunDir ? join(bunDir, "bun") : "bun",
        }).then(() => true, (err) => {
          console.error(err instanceof Error ? err.message : err);
          return false;
        });
        console.log(`compiled in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
        if (!built) {
          failedRun("bun build --compile failed, so the binary's e2e run could not start");
          ok = false;
        } else {
          ok = await run(DENO, ["test", "-A", "tests/e2e/"], {
            PATH: path,
            MCPMON_E2E_LAUNCHER: BINARY,
          });
        }
      } else {
        ok = await run(DENO, ["test", "-A", "tests/e2e/"], {
          PATH: path,
          MCPMON_E2E_LAUNCHER: `${step.key} ${BIN}`,
        });
      }
    }
    results.push({ name: step.name, ok });
  }

  header(`deno task test: ${((performance.now() - started) / 1000).toFixed(0)} s`);
  for (const r of results) console.log(`${r.ok ? "✔" : "✘"} ${r.name}`);
  Deno.exit(results.every((r) => r.ok) ? 0 : 1);
}
