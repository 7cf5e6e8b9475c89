/**
 * The official MCP conformance suite (`@modelcontextprotocol/conformance`, its `server` mode) run
 * against the same server three ways, per scenario:
 *
 * - **direct**: `fixtures/servers/conformance_server.ts --port P` (the v2 SDK on Streamable HTTP);
 * - **front**: `mcpmon --http 127.0.0.1:0 -- <the same server on stdio>`;
 * - **back**: `mcpmon --http 127.0.0.1:0 --url http://127.0.0.1:P/mcp -- <the HTTP server>`.
 *
 * Both eras: the suite's default (`active`) run, on the 2025-11-25 wire, and
 * `--requirements 2026-07-28` (every scenario that revision requires, plus the extension and
 * pending ones it reports as not scored), on the 2026-07-28 wire. A scenario whose outcome (its
 * failed checks) through mcpmon differs from direct fails its step, naming the scenario and both
 * outcomes. A scenario that fails in BOTH (a limit of the fixture or of the suite) passes its step
 * and is listed at the end, not hidden.
 *
 * Not one of the files `deno test` picks up by itself (no `_test` suffix): `deno task test` runs
 * it as its own step (`deno test -A tests/conformance/conformance.ts`). The suite needs Node 22;
 * both come from the npm registry, installed on first use into
 * `$XDG_CACHE_HOME/mcpmon/conformance-<version>` (`~/.cache` by default): the global Node is
 * never touched.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../../testing/ports.ts";

/** The suite's version (the first with the 2026-07-28 requirement set) and the Node it runs on. */
export const CONFORMANCE_VERSION = "0.2.0-alpha.12";
export const NODE_VERSION = "22.23.3";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SERVER = join(ROOT, "fixtures", "servers", "conformance_server.ts");
const DENO = Deno.execPath();
const opts = { sanitizeOps: false, sanitizeResources: false };

/** Installs (once) the suite and Node 22 from npm; returns the commands to run the suite with. */
export async function installSuite(): Promise<{ node: string; cli: string }> {
  const home = Deno.env.get("XDG_CACHE_HOME") ?? join(Deno.env.get("HOME") ?? "/tmp", ".cache");
  const prefix = join(home, "mcpmon", `conformance-${CONFORMANCE_VERSION}-node-${NODE_VERSION}`);
  const node = join(prefix, "node_modules", "node", "bin", "node");
  const cli = join(
    prefix,
    "node_modules",
    "@modelcontextprotocol",
    "conformance",
    "dist",
    "index.js",
  );
  const ready = async () => {
    try {
      await Deno.stat(cli);
      const out = await new Deno.Command(node, { args: ["--version"], stderr: "null" }).output();
      return new TextDecoder().decode(out.stdout).trim() === `v${NODE_VERSION}`;
    } catch {
      return false;
    }
  };
  if (await ready()) return { node, cli };
  console.log(
    `installing @modelcontextprotocol/conformance@${CONFORMANCE_VERSION} and node@${NODE_VERSION} into ${prefix} (npm)`,
  );
  await Deno.mkdir(prefix, { recursive: true });
  const out = await new Deno.Command("npm", {
    args: [
      "install",
      "--prefix",
      prefix,
      "--no-audit",
      "--no-fund",
      "--no-save",
      `@modelcontextprotocol/conformance@${CONFORMANCE_VERSION}`,
      `node@${NODE_VERSION}`,
    ],
    stdin: "null",
  }).output();
  if (!out.success || !(await ready())) {
    throw new Error(
      `could not install the conformance suite from npm into ${prefix}:\n` +
        new TextDecoder().decode(out.stderr).slice(-2000),
    );
  }
  return { node, cli };
}

/** A process started by the test, stopped (with its group) at dispose. */
interface Started extends AsyncDisposable {
  /** The URL the suite is pointed at. */
  url: string;
  /** Everything the process wrote to stdout and stderr, for failure messages. */
  log(): string;
}

/** Starts `command`, waits for `pattern` in its output (group 1: the port) and builds the URL. */
async function start(name: string, args: string[], pattern: RegExp): Promise<Started> {
  const child = new Deno.Command(DENO, {
    args,
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  let text = "";
  let found: (port: string) => void = () => {};
  const port = new Promise<string>((resolve) => (found = resolve));
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      const m = text.match(pattern);
      if (m) found(m[1]);
    }
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${name} did not start in 60 s:\n${text}`)), 60_000);
  });
  try {
    const p = await Promise.race([
      port,
      timeout,
      child.status.then(() => {
        throw new Error(`${name} exited before listening:\n${text}`);
      }),
    ]);
    return {
      url: `http://127.0.0.1:${p}/mcp`,
      log: () => text,
      async [Symbol.asyncDispose]() {
        try {
          child.kill("SIGTERM");
        } catch { /* already gone */ }
        await child.status;
        await pumps.catch(() => {});
      },
    };
  } catch (error) {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

const LISTENING = /listening on (\d+)/;
const SERVING = /Serving on http:\/\/127\.0\.0\.1:(\d+)\/mcp/;
const MCPMON = ["run", "-A", join(ROOT, "mod.ts"), "--http", "127.0.0.1:0", "--watch", SERVER];

/** The three ways the server is reached. */
async function startTargets() {
  const direct = await start("the HTTP server", ["run", "-A", SERVER, "--port", "0"], LISTENING);
  const front = await start("mcpmon --http (stdio server)", [
    ...MCPMON,
    "--",
    DENO,
    "run",
    "-A",
    SERVER,
  ], SERVING);
  const port = freePort();
  const back = await start("mcpmon --http --url (HTTP server)", [
    ...MCPMON,
    "--url",
    `http://127.0.0.1:${port}/mcp`,
    "--",
    DENO,
    "run",
    "-A",
    SERVER,
    "--port",
    String(port),
  ], SERVING);
  return { direct, front, back };
}

/** One scenario's outcome: its failed (and warning) checks, `id: message`, sorted. */
type Outcomes = Map<string, string[]>;

/** Runs the suite once against `url`; returns every scenario's outcome. */
async function runSuite(
  suite: { node: string; cli: string },
  url: string,
  args: string[],
): Promise<{ outcomes: Outcomes; output: string }> {
  const dir = await Deno.makeTempDir({ prefix: "mcpmon-conformance-" });
  try {
    const out = await new Deno.Command(suite.node, {
      args: [suite.cli, "server", "--url", url, "-o", dir, ...args],
      stdin: "null",
      env: { NO_COLOR: "1" },
    }).output();
    const output = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    const outcomes: Outcomes = new Map();
    for await (const entry of Deno.readDir(dir)) {
      const scenario = entry.name.replace(/^server-/, "").replace(/-\d{4}-\d\d-\d\dT[\d-]+Z$/, "");
      let checks: { id: string; status: string; errorMessage?: string }[];
      try {
        checks = JSON.parse(await Deno.readTextFile(join(dir, entry.name, "checks.json")));
      } catch {
        checks = [{
          id: "no-checks-json",
          status: "FAILURE",
          errorMessage: "the scenario wrote no checks",
        }];
      }
      outcomes.set(
        scenario,
        checks.filter((c) => c.status === "FAILURE" || c.status === "WARNING")
          .map((c) => `${c.id} (${c.status}): ${(c.errorMessage ?? "").slice(0, 300)}`)
          .sort(),
      );
    }
    if (outcomes.size === 0) {
      throw new Error(`the suite ran no scenario against ${url}:\n${output}`);
    }
    return { outcomes, output };
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

const show = (failed: string[] | undefined) =>
  failed === undefined ? "not run" : failed.length === 0 ? "passed" : failed.join("\n      ");

/** Ids only: messages may name ports or session ids that differ from run to run. */
const ids = (failed: string[] | undefined) => failed?.map((f) => f.replace(/:.*$/s, "")).join("|");

const ERAS = [
  { name: "2025-11-25 (the suite's active scenarios)", args: [] },
  { name: "2026-07-28 (--requirements 2026-07-28)", args: ["--requirements", "2026-07-28"] },
];

for (const era of ERAS) {
  Deno.test(
    `conformance, ${era.name}: mcpmon --http gives the results the server gives directly`,
    opts,
    async (t) => {
      const suite = await installSuite();
      await using targets = {
        ...(await startTargets()),
        async [Symbol.asyncDispose]() {
          await Promise.all(
            [this.direct, this.front, this.back].map((s) => s[Symbol.asyncDispose]()),
          );
        },
      };
      const started = performance.now();
      const [direct, front, back] = await Promise.all(
        [targets.direct, targets.front, targets.back].map((s) => runSuite(suite, s.url, era.args)),
      );
      console.log(`  (three suite runs in ${((performance.now() - started) / 1000).toFixed(1)} s)`);
      const bothFail: string[] = [];
      const scenarios = [
        ...new Set([...direct.outcomes.keys(), ...front.outcomes.keys(), ...back.outcomes.keys()]),
      ].sort();
      let passing = 0;
      for (const scenario of scenarios) {
        const d = direct.outcomes.get(scenario);
        await t.step(scenario, () => {
          for (
            const [how, run, target] of [
              ["mcpmon --http -- <stdio server>", front, targets.front],
              ["mcpmon --http --url … -- <HTTP server>", back, targets.back],
            ] as const
          ) {
            const m = run.outcomes.get(scenario);
            assert.ok(
              ids(m) === ids(d),
              `${scenario}: ${how} differs from the server directly\n    direct: ${
                show(d)
              }\n    ${how}: ${show(m)}\n  mcpmon's log (tail):\n${target.log().slice(-1500)}`,
            );
          }
        });
        if (d && d.length > 0) {
          bothFail.push(`${scenario}: ${d.map((f) => f.replace(/ \(.*$/s, "")).join(", ")}`);
        } else passing++;
      }
      console.log(
        `  ${scenarios.length} scenarios; ${passing} pass directly` +
          (bothFail.length
            ? `; fail directly too (fixture or suite limits, not mcpmon):\n    ${
              bothFail.join("\n    ")
            }`
            : ""),
      );
    },
  );
}
