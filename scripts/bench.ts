/**
 * `deno task bench`: what mcpmon costs compared with talking to the server directly.
 *
 * One run measures, against the same fixture server (`node well_behaved.mjs`, dependency-free),
 * connected directly, through a no-op byte relay written for the same runtime (the floor: what any
 * extra process hop costs) and through mcpmon:
 *
 * - **latency**: p50 and p99 of sequential `tools/call` (echo), after a warm-up;
 * - **throughput**: calls/s with a whole batch of `tools/call` pipelined (all in flight at once),
 *   and the CPU time each process spent per call (from /proc/<pid>/task/×/schedstat);
 * - **reload**: file write → `notifications/tools/list_changed` → first successful call on the new
 *   server, broken down with mcpmon's verbose `Restart #N timings` line, with a small `--debounce`
 *   and with the default;
 * - **RSS** of the mcpmon process itself (VmRSS from /proc): idle, sampled under load, and its peak
 *   (VmHWM);
 * - **gateway** (`--config` with 10 backends): start → all tools listed, then the same latency and
 *   throughput rounds with calls spread over the backends; n/a when the launcher has no `--config`;
 * - **connect** (`scripts/bench/connect.ts`): spawn → `initialize` answered, direct, through the
 *   relay and through mcpmon, with the bare runtime's start and `mcpmon --version` beside them,
 *   and spawn → mcpmon ready to read the client (its `MCPMON_READY_MARKER=1` line: the server
 *   spawned, stdin being read) against the bare runtime's start plus 30 ms (median of
 *   `--connect-runs` runs);
 * - **large message**: a `tools/call` whose result is `--large-mb` MB (the fixture's `big` tool),
 *   time per call and the CPU the middle process spent on it, direct / relay / mcpmon (with
 *   mcpmon ÷ relay CPU per round, min–max);
 * - **SDK client** (`scripts/bench/sdk.ts`): sequential `tools/call` p50 with the MCP SDK's client,
 *   direct / relay / mcpmon: the figure other proxies publish, with mcpmon ÷ relay per round
 *   (min–max; both ran in each round, sides in rotating order) beside the ratio of the medians.
 *
 * Honesty: every side is driven by the same raw JSON-RPC client (no SDK), sides take turns in a
 * rotating order in each round against processes started once and warmed up, and each figure is
 * the median of the rounds (the range is shown too). Every loop is bounded in count and in time, and
 * everything the bench starts is stopped at the end, also on error or Ctrl-C.
 *
 * ```sh
 * deno task bench                         # table; the Deno bundle (+ npm build under Node/Bun if built)
 * deno task bench --launcher deno --launcher deno-src   # the Deno bundle against mod.ts
 * deno task bench --json                  # machine output on stdout
 * deno task bench --launcher deno --launcher "node npm/bin/mcpmon.js"
 * deno task bench --calls 200 --rounds 1  # quicker
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { existsSync } from "node:fs";
import { basename, join } from "node:path";
import { makeFixtureDir, MOD_PATH, REPO_ROOT } from "../testing/fixtures.ts";
import { processTree } from "../testing/processes.ts";
import { median, percentile } from "./bench/stats.ts";
import { benchConnect, type ConnectResult } from "./bench/connect.ts";
import { benchSdk, type SdkResult } from "./bench/sdk.ts";
import { buildDeno } from "./build_deno.ts";

export { median, percentile };

// ── options ──────────────────────────────────────────────────────────────────

/** How to start mcpmon: a name for the report and the argv before mcpmon's own flags. */
export interface Launcher {
  /** Short name (`deno`, `node`, `bun`, `binary`, or the command itself). */
  name: string;
  /** The command and its arguments, e.g. `["node", "npm/bin/mcpmon.js"]`. */
  argv: string[];
  /** The runtime whose no-op relay is its floor; default: the command's name. */
  runtime?: string;
}

/** What one bench run does. */
export interface BenchOptions {
  /** mcpmon launchers to bench, each against its own interleaved direct baseline. */
  launchers: Launcher[];
  /** Sequential calls per latency round (at least 1000 for the figures in the README). */
  calls: number;
  /** Calls in flight at once per throughput round. */
  pipelined: number;
  /** Rounds of each measurement; figures are medians over rounds. */
  rounds: number;
  /** Sequential warm-up calls (plus one pipelined batch) before measuring. */
  warmup: number;
  /** Reloads per debounce setting (0: no reload runs). */
  reloads: number;
  /** Debounce settings to bench reloads with; `null` is mcpmon's default (no flag). */
  debounces: (number | null)[];
  /** Pause after each reload before the next write, ms. */
  reloadGapMs: number;
  /** Backends of the gateway run (0: no gateway run). */
  gatewayBackends: number;
  /** Also bench a no-op relay in the launcher's runtime (the floor of any proxy). */
  relay: boolean;
  /** Upper bound of each phase (a latency or throughput round, one reload), in ms. */
  phaseTimeoutMs: number;
  /** Runs of the connect rows (0: none). */
  connectRuns: number;
  /** Size of the large result in MB (0: no large-message rounds). */
  largeMb: number;
  /** Calls of the large message per side and round. */
  largeCalls: number;
  /** Sequential SDK calls per side and round (0: no SDK row). */
  sdkCalls: number;
}

/** Targets from issue 7. */
export const TARGETS = {
  /** p50 latency through mcpmon at most this times direct. */
  p50Ratio: 1.25,
  /** Throughput through mcpmon at least this times direct. */
  throughputRatio: 0.9,
  /** File write → list_changed at most this many ms (Node fixture server). */
  writeToListChangedMs: 200,
  /** mcpmon's RSS with one server at most this many MB. */
  rssMb: 60,
} as const;

const NPM_BIN = join(REPO_ROOT, "npm", "bin", "mcpmon.js");
/** The bench's own Deno bundle (`scripts/build_deno.ts`), built afresh at every run that uses it. */
const BENCH_DENO_DIR = join(REPO_ROOT, "dist", "bench", "deno");
const BENCH_DENO = join(BENCH_DENO_DIR, "mcpmon.js");
/** The single-file binary of `deno task compile` (`bun build --compile`). */
const BINARY = join(REPO_ROOT, "dist", "mcpmon");

/**
 * Resolves `deno` (the Deno bundle, what the JSR package's `./bin` runs; built at the start of the
 * run), `deno-src` (`mod.ts`, the sources), `node`, `bun` (the npm build) and `binary` to their
 * launchers; anything else is split on spaces.
 */
export function launcherFor(spec: string): Launcher {
  switch (spec) {
    case "deno":
      return { name: "deno", argv: [Deno.execPath(), "run", "-A", BENCH_DENO] };
    case "deno-src":
      return { name: "deno-src", argv: [Deno.execPath(), "run", "-A", MOD_PATH] };
    case "node":
      return { name: "node", argv: ["node", NPM_BIN] };
    case "bun":
      return { name: "bun", argv: ["bun", NPM_BIN] };
    case "binary":
      return { name: "binary", argv: [BINARY], runtime: "bun" };
    default: {
      const argv = spec.trim().split(/\s+/);
      return { name: argv.map((a) => basename(a)).join(" "), argv };
    }
  }
}

function onPath(command: string): boolean {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir && existsSync(join(dir, command))) return true;
  }
  return false;
}

/**
 * Deno always; the npm build under Node and Bun when it is built and the runtime is installed; the
 * binary when `deno task compile` built it.
 */
export function defaultLaunchers(): { launchers: Launcher[]; skipped: string[] } {
  const launchers = [launcherFor("deno")];
  const skipped: string[] = [];
  for (const runtime of ["node", "bun"]) {
    if (!existsSync(NPM_BIN)) skipped.push(`${runtime}: npm build not found (${NPM_BIN})`);
    else if (!onPath(runtime)) skipped.push(`${runtime}: not installed`);
    else launchers.push(launcherFor(runtime));
  }
  if (existsSync(BINARY)) launchers.push(launcherFor("binary"));
  else skipped.push(`binary: not built (${BINARY}; deno task compile)`);
  return { launchers, skipped };
}

// ── small helpers ────────────────────────────────────────────────────────────

// deno-lint-ignore no-explicit-any
type Msg = Record<string, any>;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Rejects after `ms` with `what` in the message; the timer is always cleared. */
async function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A figure measured over several rounds: their median, and the range. */
export interface Figure {
  /** Median over rounds. */
  median: number;
  /** Smallest round. */
  min: number;
  /** Largest round. */
  max: number;
  /** Every round, in order. */
  rounds: number[];
}

function figure(rounds: number[]): Figure {
  return { median: median(rounds), min: Math.min(...rounds), max: Math.max(...rounds), rounds };
}

/** The `Vm*` field of /proc/<pid>/status in bytes; 0 when the process is gone. */
export function procStatusBytes(pid: number, field: "VmRSS" | "VmHWM"): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

/** CPU time (ns) the threads of `pids` have run, from /proc/<pid>/task/×/schedstat. */
export function cpuNs(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
        try {
          const stat = Deno.readTextFileSync(`/proc/${pid}/task/${task.name}/schedstat`);
          total += Number(stat.slice(0, stat.indexOf(" ")));
        } catch { /* the thread ended */ }
      }
    } catch { /* the process ended */ }
  }
  return total;
}

const MB = 1024 * 1024;

// ── a raw JSON-RPC peer over a child's stdio ─────────────────────────────────

/** Every process the bench started, so that all of them are stopped whatever happens. */
const running = new Set<Peer>();
/** Pids the bench started, and their descendants seen along the way (for the smoke test). */
const seenPids = new Set<number>();

/**
 * A process spoken to in newline-delimited JSON-RPC over its stdio: the same code for the server
 * connected directly, the relay and mcpmon, so the difference between them is what they add.
 */
class Peer {
  readonly label: string;
  readonly child: Deno.ChildProcess;
  /** Notifications received: method and arrival time (performance.now()). */
  readonly notifications: { method: string; at: number }[] = [];
  /** The echo tool's name(s) on this peer; calls take turns over them. */
  tools: string[] = ["echo"];
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #encoder = new TextEncoder();
  #nextId = 1;
  #waiting = new Map<number, { resolve: (m: Msg) => void; reject: (err: Error) => void }>();
  #batch: {
    from: number;
    to: number;
    got: number;
    errors: number;
    done: () => void;
    reject: (err: Error) => void;
  } | undefined;
  #stderr = "";
  #changed: (() => void)[] = [];
  #failure: Error | undefined;
  #reading: Promise<void>;
  #stderrDone: Promise<void>;
  #stopping: Promise<void> | undefined;

  constructor(label: string, argv: string[], cwd?: string) {
    this.label = label;
    const [command, ...args] = argv;
    this.child = new Deno.Command(command, {
      args,
      cwd,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    running.add(this);
    seenPids.add(this.child.pid);
    this.#writer = this.child.stdin.getWriter();
    this.#reading = this.#read();
    this.#stderrDone = this.#readStderr();
    this.child.status.then((s) => {
      if (!this.#stopping) {
        this.#fail(
          new Error(
            `${label} exited (code ${s.code}, signal ${s.signal}); stderr:\n${
              this.#stderr.slice(-2000)
            }`,
          ),
        );
      }
    });
  }

  get pid(): number {
    return this.child.pid;
  }

  /** Everything written to stderr so far. */
  get stderr(): string {
    return this.#stderr;
  }

  /** Writes raw text (one or more complete lines). */
  async write(text: string): Promise<void> {
    if (this.#failure) throw this.#failure;
    await this.#writer.write(this.#encoder.encode(text));
  }

  /** Sends a request and resolves with its response. */
  call(method: string, params?: unknown): Promise<Msg> {
    const id = this.#nextId++;
    const message = params === undefined
      ? { jsonrpc: "2.0", id, method }
      : { jsonrpc: "2.0", id, method, params };
    const response = this.#expect(id);
    return this.write(JSON.stringify(message) + "\n").then(() => response);
  }

  /** One echo call; resolves with the round-trip time in ms. Throws on a wrong answer. */
  async echo(text: string): Promise<number> {
    const id = this.#nextId++;
    const response = this.#expect(id);
    const t0 = performance.now();
    await this.write(echoLine(id, text, this.tools[id % this.tools.length]));
    const m = await response;
    const dt = performance.now() - t0;
    if (m.result?.content?.[0]?.text !== text) {
      throw new Error(`${this.label}: bad echo answer ${JSON.stringify(m).slice(0, 300)}`);
    }
    return dt;
  }

  /** One call of the fixture's `big` tool (a result of `bytes` bytes); resolves with ms taken. */
  async big(bytes: number): Promise<number> {
    const t0 = performance.now();
    const m = await this.call("tools/call", { name: "big", arguments: { bytes } });
    const dt = performance.now() - t0;
    if (typeof m.result?.content?.[0]?.text !== "string") {
      throw new Error(`${this.label}: bad big answer ${JSON.stringify(m).slice(0, 300)}`);
    }
    return dt;
  }

  /** Sends `n` echo calls in one write and resolves when all are answered; returns ms taken. */
  async pipeline(n: number): Promise<number> {
    if (this.#batch) throw new Error("one batch at a time");
    if (this.#failure) throw this.#failure;
    const from = this.#nextId;
    this.#nextId += n;
    let text = "";
    for (let id = from; id < from + n; id++) {
      text += echoLine(id, "p", this.tools[id % this.tools.length]);
    }
    let errors = 0;
    const all = new Promise<void>((resolve, reject) => {
      this.#batch = {
        reject,
        from,
        to: from + n,
        got: 0,
        errors: 0,
        done: () => {
          errors = this.#batch!.errors;
          this.#batch = undefined;
          resolve();
        },
      };
    });
    all.catch(() => {}); // when the write fails, it is never awaited
    const t0 = performance.now();
    await this.write(text);
    await all;
    const dt = performance.now() - t0;
    if (errors > 0) throw new Error(`${this.label}: ${errors} of ${n} pipelined calls failed`);
    return dt;
  }

  /** initialize + notifications/initialized. */
  async initialize(): Promise<Msg> {
    const response = await this.call("initialize", {
      protocolVersion: "2025-06-18",
      capabilities: {},
      clientInfo: { name: "mcpmon-bench", version: "1.0.0" },
    });
    if (!response.result) {
      throw new Error(`${this.label}: initialize failed: ${JSON.stringify(response)}`);
    }
    await this.write('{"jsonrpc":"2.0","method":"notifications/initialized"}\n');
    return response;
  }

  /** Every tool name, following `nextCursor`. */
  async listTools(): Promise<string[]> {
    const names: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 1000; page++) {
      const r = await this.call("tools/list", cursor === undefined ? {} : { cursor });
      if (!r.result) throw new Error(`${this.label}: tools/list failed: ${JSON.stringify(r)}`);
      for (const tool of r.result.tools ?? []) names.push(tool.name);
      cursor = r.result.nextCursor;
      if (cursor === undefined) break;
    }
    return names;
  }

  /** Resolves with the first notification `method` at index ≥ `after`. */
  waitNotification(method: string, after: number): Promise<{ method: string; at: number }> {
    return this.#until(() => this.notifications.slice(after).find((n) => n.method === method));
  }

  /** Resolves with the first match of `re` in stderr at or after char offset `from`. */
  waitStderr(re: RegExp, from = 0): Promise<RegExpMatchArray> {
    return this.#until(() => this.#stderr.slice(from).match(re) ?? undefined);
  }

  /** The live descendants of this process (the servers behind mcpmon or the relay). */
  descendants(): number[] {
    const tree = processTree(this.pid).filter((pid) => pid !== this.pid);
    for (const pid of tree) seenPids.add(pid);
    return tree;
  }

  /** Closes stdin and waits for the exit; SIGTERM then SIGKILL if it takes too long. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      // Descendants now (mcpmon's servers): checked, and killed if left, after the exit.
      const tree = this.descendants();
      await this.#writer.close().catch(() => {});
      const exited = (ms: number) =>
        bounded(this.child.status, ms, "exit").then(() => true, () => false);
      if (!(await exited(5000))) {
        try {
          this.child.kill("SIGTERM");
        } catch { /* gone */ }
        if (!(await exited(3000))) {
          try {
            this.child.kill("SIGKILL");
          } catch { /* gone */ }
          await exited(3000);
        }
      }
      // mcpmon stops its servers itself; this only fires if one was left behind.
      const deadline = Date.now() + 3000;
      while (tree.some(alive) && Date.now() < deadline) await sleep(25);
      for (const pid of tree.filter(alive)) {
        try {
          Deno.kill(pid, "SIGKILL");
          console.error(`bench: ${this.label} left pid ${pid} running; killed it`);
        } catch { /* gone */ }
      }
      await Promise.race([Promise.all([this.#reading, this.#stderrDone]), sleep(2000)]);
      running.delete(this);
      this.#fail(new Error(`${this.label} stopped`));
    })();
    return this.#stopping;
  }

  #expect(id: number): Promise<Msg> {
    const response = this.#failure
      ? Promise.reject(this.#failure)
      : new Promise<Msg>((resolve, reject) => this.#waiting.set(id, { resolve, reject }));
    response.catch(() => {}); // a caller whose write failed never awaits it
    return response;
  }

  #until<T>(probe: () => T | undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const check = () => {
        if (this.#failure) return reject(this.#failure);
        const found = probe();
        if (found !== undefined) return resolve(found);
        this.#changed.push(check);
      };
      check();
    });
  }

  #notify() {
    const waiting = this.#changed;
    this.#changed = [];
    for (const f of waiting) f();
  }

  #fail(err: Error) {
    this.#failure ??= err;
    const waiting = [...this.#waiting.values()];
    this.#waiting.clear();
    for (const w of waiting) w.reject(this.#failure);
    const batch = this.#batch;
    this.#batch = undefined;
    batch?.reject(this.#failure);
    this.#notify();
  }

  #onLine(line: string) {
    if (line === "") return;
    let m: Msg;
    try {
      m = JSON.parse(line);
    } catch {
      this.#fail(new Error(`${this.label} wrote a non-JSON line to stdout: ${line.slice(0, 200)}`));
      return;
    }
    if (typeof m.id === "number" && ("result" in m || "error" in m)) {
      const b = this.#batch;
      if (b && m.id >= b.from && m.id < b.to) {
        if (!m.result) b.errors++;
        if (++b.got === b.to - b.from) b.done();
        return;
      }
      const waiting = this.#waiting.get(m.id);
      if (waiting) {
        this.#waiting.delete(m.id);
        waiting.resolve(m);
      }
      return;
    }
    if (typeof m.method === "string" && !("id" in m)) {
      this.notifications.push({ method: m.method, at: performance.now() });
      this.#notify();
    }
  }

  async #read() {
    const decoder = new TextDecoder();
    let buffer = "";
    try {
      for await (const chunk of this.child.stdout) {
        buffer += decoder.decode(chunk, { stream: true });
        let start = 0;
        for (let nl = buffer.indexOf("\n"); nl !== -1; nl = buffer.indexOf("\n", start)) {
          this.#onLine(buffer.slice(start, nl));
          start = nl + 1;
        }
        buffer = buffer.slice(start);
      }
    } catch { /* killed */ }
  }

  async #readStderr() {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of this.child.stderr) {
        this.#stderr += decoder.decode(chunk, { stream: true });
        if (this.#stderr.length > 1 << 20) this.#stderr = this.#stderr.slice(-(1 << 19));
        this.#notify();
      }
    } catch { /* killed */ }
  }
}

function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

function echoLine(id: number, text: string, tool: string): string {
  return `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"${tool}","arguments":{"text":${
    JSON.stringify(text)
  }}}}\n`;
}

async function stopAll(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop()));
}

// ── the no-op relay (the floor) ──────────────────────────────────────────────

/** A byte relay in Deno: `deno run -A relay.ts <server…>`. */
const DENO_RELAY = `const [command, ...args] = Deno.args;
if (!command) Deno.exit(2);
const child = new Deno.Command(command, { args, stdin: "piped", stdout: "piped", stderr: "inherit" }).spawn();
await Promise.all([
  Deno.stdin.readable.pipeTo(child.stdin).catch(() => {}),
  child.stdout.pipeTo(Deno.stdout.writable).catch(() => {}),
]);
Deno.exit((await child.status).code);
`;

/** The same with node:child_process, for Node and Bun. */
const NODE_RELAY = `import { spawn } from "node:child_process";
import process from "node:process";
const [command, ...args] = process.argv.slice(2);
if (!command) process.exit(2);
const child = spawn(command, args, { stdio: ["pipe", "pipe", "inherit"] });
process.stdin.pipe(child.stdin);
child.stdout.pipe(process.stdout);
child.on("exit", (code) => process.exit(code ?? 1));
`;

/** The relay for the launcher's runtime (by its command's name), or undefined for others. */
function relayFor(launcher: Launcher, dir: string): string[] | undefined {
  const runtime = launcher.runtime ?? basename(launcher.argv[0]);
  const command = launcher.runtime ?? launcher.argv[0];
  if (runtime === "deno") {
    const path = join(dir, "relay.ts");
    Deno.writeTextFileSync(path, DENO_RELAY);
    return [command, "run", "-A", "--no-config", path];
  }
  if (runtime === "node" || runtime === "bun") {
    const path = join(dir, "relay.mjs");
    Deno.writeTextFileSync(path, NODE_RELAY);
    return [command, path];
  }
  return undefined;
}

/** The runtime doing nothing, for the connect rows; undefined for a binary. */
function bareRuntime(launcher: Launcher): string[] | undefined {
  if (launcher.runtime !== undefined) return undefined;
  const runtime = basename(launcher.argv[0]);
  if (runtime === "deno") return [launcher.argv[0], "eval", "0"];
  if (runtime === "node" || runtime === "bun") return [launcher.argv[0], "-e", "0"];
  return undefined;
}

// ── measurements ─────────────────────────────────────────────────────────────

/** Latency and throughput through one side (direct, relay, mcpmon or the gateway). */
export interface SideResult {
  /** p50 of sequential calls, µs (median over rounds). */
  p50Us: Figure;
  /** p99 of sequential calls, µs (median over rounds). */
  p99Us: Figure;
  /** Pipelined calls/s (median over rounds). */
  callsPerSec: Figure;
  /**
   * CPU time per pipelined call of the process in the middle (mcpmon, the relay), µs, over all
   * throughput rounds (all its threads); 0 for direct.
   */
  cpuUsPerCall: number;
  /** CPU time per pipelined call of the server(s) behind it, µs. */
  serverCpuUsPerCall: number;
}

/** mcpmon's resident memory. */
export interface RssResult {
  /** VmRSS once started and initialized, before any other request, MB. */
  idleMb: number;
  /** Largest VmRSS sampled (every 10 ms) during the rounds, MB. */
  loadMb: number;
  /** VmHWM (peak RSS over its lifetime) after the rounds, MB. */
  peakMb: number;
}

/** One reload: where the time went, ms. */
export interface ReloadSample {
  /** Write started → list_changed arrived at the client. */
  writeToListChangedMs: number;
  /** Write started → the first call on the new server answered (with the new tool text). */
  writeToFirstCallMs: number;
  /** mcpmon's own restart duration (`Restart #N complete (X ms)`). */
  restartMs: number;
  /** Write → list_changed minus the restart: debounce, fs event delay, delivery. */
  debounceFsMs: number;
  /** From the `Restart #N timings` line: waiting for requests in flight. */
  drainMs: number;
  /** Stopping the old server. */
  stopMs: number;
  /** Spawning the new server and its `initialize`. */
  spawnInitializeMs: number;
  /** Replaying the session. */
  replayMs: number;
  /** mcpmon's restart throttle wait, when it logged one (else 0). */
  throttleMs: number;
}

/** Reloads with one debounce setting. */
export interface ReloadResult {
  /** `--debounce` given, or null for mcpmon's default. */
  debounceMs: number | null;
  /** Median of each field over the samples. */
  median: ReloadSample;
  /** Every reload. */
  samples: ReloadSample[];
  /** Restarts beyond one per write (a write seen as two bursts). */
  extraRestarts: number;
}

/** The gateway run, or why there is none. */
export interface GatewayResult {
  /** "ok", or "n/a" with a reason. */
  status: "n/a" | "ok";
  /** Why n/a. */
  reason?: string;
  /** Backends in the config. */
  backends?: number;
  /** Process start → `tools/list` holds every backend's echo tool, ms. */
  startToAllToolsMs?: number;
  /** Calls through the gateway, spread over the backends (same rounds as the others). */
  side?: SideResult;
  /** p50 through the gateway ÷ p50 direct. */
  p50Ratio?: number;
  /** Throughput through the gateway ÷ direct. */
  throughputRatio?: number;
  /** The gateway process's memory. */
  rss?: RssResult;
}

/** Everything measured for one launcher. */
export interface LauncherResult {
  /** The launcher's name. */
  name: string;
  /** Its argv. */
  argv: string[];
  /** The server connected directly. */
  direct: SideResult;
  /** The server behind a no-op relay in the same runtime (undefined when not run). */
  relay?: SideResult;
  /** The server through mcpmon. */
  mcpmon: SideResult;
  /** mcpmon p50 ÷ direct p50 (of the medians). */
  p50Ratio: number;
  /** mcpmon p99 ÷ direct p99. */
  p99Ratio: number;
  /** mcpmon calls/s ÷ direct calls/s. */
  throughputRatio: number;
  /** mcpmon's memory (one server). */
  rss: RssResult;
  /** Reload latency per debounce setting. */
  reload: ReloadResult[];
  /** Gateway of `gatewayBackends` backends. */
  gateway: GatewayResult;
  /** Start-up: spawn → `initialize` answered (undefined when `connectRuns` is 0). */
  connect?: ConnectResult;
  /** The large message (undefined when `largeMb` is 0). */
  large?: LargeResult;
  /** Sequential SDK calls p50, µs, by side (undefined when `sdkCalls` is 0). */
  sdkP50Us?: SdkResult;
  /** Each round's SDK p50, µs, by side, in round order (undefined when `sdkCalls` is 0). */
  sdkRoundsUs?: Record<string, number[]>;
}

/** A `tools/call` with a large result, per side. */
export interface LargeResult {
  /** Size of the result's text, bytes. */
  bytes: number;
  /** Median time per call, ms, by side (`direct`, `relay`, `mcpmon`). */
  ms: Record<string, number>;
  /** CPU the process in the middle spent per call, ms, by side (`relay`, `mcpmon`). */
  cpuMs: Record<string, number>;
  /** The same per round, in round order, by side (absent from reports made before it was). */
  cpuMsRounds?: Record<string, number[]>;
}

function log(message: string) {
  console.error(`bench: ${message}`);
}

/** One side of the steady-state rounds. */
interface Side {
  key: string;
  peer: Peer;
  /** Pids whose CPU counts as the middle's (mcpmon, relay); empty for direct. */
  middle: number[];
  /** Pids of the server(s). */
  servers: number[];
  p50: number[];
  p99: number[];
  cps: number[];
  cpuNs: number;
  serverCpuNs: number;
  calls: number;
  /** Large-message calls: time of each (ms), CPU of the middle over all of them and per round. */
  largeMs: number[];
  largeCpuNs: number;
  largeRoundCpuNs: number[];
}

/** Starts every side, warms it up, runs the rounds in rotating order; stops everything. */
async function benchSteadyState(
  launcher: Launcher,
  opts: BenchOptions,
  tmp: string,
  gatewayReason: string | undefined,
): Promise<
  Pick<LauncherResult, "direct" | "relay" | "mcpmon" | "rss" | "gateway" | "large">
> {
  await using fx = await makeFixtureDir();
  const server = ["node", fx.serverPath];
  // mcpmon watches the (idle) fixture dir, not the checkout: edits elsewhere must not restart it.
  const peers: Peer[] = [];
  const gwDirs: AsyncDisposable[] = [];
  try {
    const direct = new Peer("server (direct)", server, fx.dir);
    peers.push(direct);
    const relayArgv = opts.relay ? relayFor(launcher, tmp) : undefined;
    const relay = relayArgv && new Peer("no-op relay", [...relayArgv, ...server], fx.dir);
    if (relay) peers.push(relay);
    const proxied = new Peer(
      `mcpmon (${launcher.name})`,
      [...launcher.argv, "--watch", fx.dir, "--", ...server],
      fx.dir,
    );
    peers.push(proxied);

    let gateway: GatewayResult = { status: "n/a", reason: gatewayReason ?? "not run" };
    let gw: Peer | undefined;
    if (gatewayReason === undefined) {
      const started = await startGateway(launcher, opts, tmp, gwDirs);
      gw = started.peer;
      peers.push(gw);
      gateway = {
        status: "ok",
        backends: opts.gatewayBackends,
        startToAllToolsMs: started.startToAllToolsMs,
      };
    }

    const sides: Side[] = [];
    const add = (key: string, peer: Peer, isDirect: boolean) =>
      sides.push({
        key,
        peer,
        middle: isDirect ? [] : [peer.pid],
        servers: isDirect ? [peer.pid] : peer.descendants(),
        p50: [],
        p99: [],
        cps: [],
        cpuNs: 0,
        serverCpuNs: 0,
        calls: 0,
        largeMs: [],
        largeCpuNs: 0,
        largeRoundCpuNs: [],
      });
    for (const peer of peers) {
      if (peer !== gw) {
        await bounded(peer.initialize(), opts.phaseTimeoutMs, `${peer.label} initialize`);
      }
    }
    // Idle: started and initialized, no traffic yet.
    await sleep(300);
    const idle = new Map(peers.map((p) => [p, procStatusBytes(p.pid, "VmRSS")]));
    for (const peer of peers) {
      await bounded(
        (async () => {
          for (let i = 0; i < opts.warmup; i++) await peer.echo("warm");
          await peer.pipeline(Math.min(opts.pipelined, 1000));
        })(),
        opts.phaseTimeoutMs,
        `${peer.label} warm-up`,
      );
    }
    add("direct", direct, true);
    if (relay) add("relay", relay, false);
    add("mcpmon", proxied, false);
    if (gw) add("gateway", gw, false);

    // RSS sampled during every side's rounds, so the sampler costs each the same.
    const loadRss = new Map<string, number>();
    const sampler = setInterval(() => {
      for (const s of sides) {
        if (s.key === "direct") continue;
        const rss = procStatusBytes(s.peer.pid, "VmRSS");
        loadRss.set(s.key, Math.max(loadRss.get(s.key) ?? 0, rss));
      }
    }, 10);
    const orderOf = (round: number) => {
      const rotated = sides.map((_, i) => sides[(i + round) % sides.length]);
      return round % 2 === 0 ? rotated : rotated.reverse();
    };
    try {
      for (let round = 0; round < opts.rounds; round++) {
        for (const s of orderOf(round)) {
          const deadline = performance.now() + opts.phaseTimeoutMs;
          const times = await bounded(
            (async () => {
              const out: number[] = [];
              for (let i = 0; i < opts.calls && performance.now() < deadline; i++) {
                out.push(await s.peer.echo("bench"));
              }
              return out;
            })(),
            opts.phaseTimeoutMs,
            `${s.peer.label} latency round ${round + 1}`,
          );
          if (times.length < opts.calls) {
            throw new Error(`${s.peer.label}: only ${times.length} calls within the phase timeout`);
          }
          s.p50.push(percentile(times, 0.5) * 1000);
          s.p99.push(percentile(times, 0.99) * 1000);
        }
        log(`latency round ${round + 1}/${opts.rounds} done`);
      }
      for (let round = 0; round < opts.rounds; round++) {
        for (const s of orderOf(round)) {
          const cpu0 = cpuNs(s.middle), server0 = cpuNs(s.servers);
          const ms = await bounded(
            s.peer.pipeline(opts.pipelined),
            opts.phaseTimeoutMs,
            `${s.peer.label} throughput round ${round + 1}`,
          );
          s.cpuNs += cpuNs(s.middle) - cpu0;
          s.serverCpuNs += cpuNs(s.servers) - server0;
          s.calls += opts.pipelined;
          s.cps.push(opts.pipelined / (ms / 1000));
        }
        log(`throughput round ${round + 1}/${opts.rounds} done`);
      }
      for (let round = 0; opts.largeMb > 0 && round < opts.rounds; round++) {
        for (const s of orderOf(round).filter((s) => s.key !== "gateway")) {
          const cpu0 = cpuNs(s.middle);
          for (let i = 0; i < opts.largeCalls; i++) {
            s.largeMs.push(
              await bounded(
                s.peer.big(Math.round(opts.largeMb * MB)),
                opts.phaseTimeoutMs,
                `${s.peer.label} large message`,
              ),
            );
          }
          const spent = cpuNs(s.middle) - cpu0;
          s.largeCpuNs += spent;
          s.largeRoundCpuNs.push(spent);
        }
        log(`large-message round ${round + 1}/${opts.rounds} done`);
      }
    } finally {
      clearInterval(sampler);
    }
    const result = (s: Side): SideResult => ({
      p50Us: figure(s.p50),
      p99Us: figure(s.p99),
      callsPerSec: figure(s.cps),
      cpuUsPerCall: s.cpuNs / 1000 / s.calls,
      serverCpuUsPerCall: s.serverCpuNs / 1000 / s.calls,
    });
    const rss = (s: Side): RssResult => ({
      idleMb: idle.get(s.peer)! / MB,
      loadMb: (loadRss.get(s.key) ?? 0) / MB,
      peakMb: procStatusBytes(s.peer.pid, "VmHWM") / MB,
    });
    const bySide = new Map(sides.map((s) => [s.key, s]));
    const d = result(bySide.get("direct")!);
    const g = bySide.get("gateway");
    if (g) {
      const side = result(g);
      gateway = {
        ...gateway,
        side,
        p50Ratio: side.p50Us.median / d.p50Us.median,
        throughputRatio: side.callsPerSec.median / d.callsPerSec.median,
        rss: rss(g),
      };
    }
    const r = bySide.get("relay");
    const largeSides = sides.filter((s) => s.key !== "gateway");
    const large: LargeResult | undefined = opts.largeMb > 0
      ? {
        bytes: Math.round(opts.largeMb * MB),
        ms: Object.fromEntries(largeSides.map((s) => [s.key, median(s.largeMs)])),
        cpuMs: Object.fromEntries(
          largeSides.filter((s) => s.middle.length > 0)
            .map((s) => [s.key, s.largeCpuNs / 1e6 / s.largeMs.length]),
        ),
        cpuMsRounds: Object.fromEntries(
          largeSides.filter((s) => s.middle.length > 0)
            .map((s) => [s.key, s.largeRoundCpuNs.map((ns) => ns / 1e6 / opts.largeCalls)]),
        ),
      }
      : undefined;
    return {
      large,
      direct: d,
      relay: r && result(r),
      mcpmon: result(bySide.get("mcpmon")!),
      rss: rss(bySide.get("mcpmon")!),
      gateway,
    };
  } finally {
    await Promise.all(peers.map((p) => p.stop()));
    for (const dir of gwDirs) await dir[Symbol.asyncDispose]();
  }
}

/** The connect rows and the SDK row for one launcher, each against a fresh fixture dir. */
async function benchStartupAndSdk(
  launcher: Launcher,
  opts: BenchOptions,
  tmp: string,
): Promise<Pick<LauncherResult, "connect" | "sdkP50Us" | "sdkRoundsUs">> {
  await using fx = await makeFixtureDir();
  const server = ["node", fx.serverPath];
  const relay = opts.relay ? relayFor(launcher, tmp) : undefined;
  // mcpmon watches the (idle) fixture dir: its default, the cwd, is that dir too.
  const mcpmon = [...launcher.argv, "--watch", fx.dir, "--", ...server];
  let connect: ConnectResult | undefined;
  if (opts.connectRuns > 0) {
    log(`${launcher.name}: connect times (${opts.connectRuns} runs)`);
    connect = await benchConnect(
      {
        bare: bareRuntime(launcher),
        version: [...launcher.argv, "--version"],
        direct: server,
        relay: relay && [...relay, ...server],
        mcpmon,
        cwd: fx.dir,
      },
      opts.connectRuns,
      opts.phaseTimeoutMs,
    );
  }
  let sdkP50Us: SdkResult | undefined;
  let sdkRoundsUs: Record<string, number[]> | undefined;
  if (opts.sdkCalls > 0) {
    log(`${launcher.name}: SDK client calls`);
    const sides = [{ key: "direct", argv: server }, { key: "mcpmon", argv: mcpmon }];
    if (relay) sides.splice(1, 0, { key: "relay", argv: [...relay, ...server] });
    ({ p50: sdkP50Us, rounds: sdkRoundsUs } = await benchSdk(
      sides,
      fx.dir,
      opts.sdkCalls,
      opts.rounds,
      Math.min(opts.warmup, opts.sdkCalls),
      opts.phaseTimeoutMs,
    ));
  }
  return { connect, sdkP50Us, sdkRoundsUs };
}

/**
 * Starts mcpmon as a gateway over `opts.gatewayBackends` copies of the fixture (each in its own
 * directory, watched) and times process start → `tools/list` holding every backend's echo tool.
 */
async function startGateway(
  launcher: Launcher,
  opts: BenchOptions,
  tmp: string,
  dirs: AsyncDisposable[],
): Promise<{ peer: Peer; startToAllToolsMs: number }> {
  const names = Array.from({ length: opts.gatewayBackends }, (_, i) => `b${i}`);
  const lines = ["servers:"];
  for (const name of names) {
    const fx = await makeFixtureDir();
    dirs.push(fx);
    lines.push(
      `  ${name}:`,
      "    command: node",
      `    args: ${JSON.stringify([fx.serverPath, `--name=${name}`])}`,
      `    watch: ${JSON.stringify(fx.dir)}`,
    );
  }
  const config = join(tmp, "gateway.yaml");
  await Deno.writeTextFile(config, lines.join("\n") + "\n");
  const wanted = names.map((n) => `${n}__echo`);
  const t0 = performance.now();
  const peer = new Peer(`gateway (${launcher.name})`, [...launcher.argv, "--config", config], tmp);
  await bounded(
    (async () => {
      await peer.initialize();
      for (;;) {
        const mark = peer.notifications.length;
        const tools = new Set(await peer.listTools());
        if (wanted.every((t) => tools.has(t))) return;
        await peer.waitNotification("notifications/tools/list_changed", mark);
      }
    })(),
    opts.phaseTimeoutMs,
    `${peer.label}: all ${names.length} backends' tools listed`,
  );
  const startToAllToolsMs = performance.now() - t0;
  peer.tools = wanted;
  return { peer, startToAllToolsMs };
}

const TIMINGS_RE =
  /Restart #(\d+) timings: drain (\d+) ms, stop (\d+) ms, spawn\+initialize (\d+) ms, replay (\d+) ms/;

/** Reloads: write tools.mjs → list_changed → a call answered by the new server. */
async function benchReload(
  launcher: Launcher,
  debounceMs: number | null,
  opts: BenchOptions,
): Promise<ReloadResult> {
  await using fx = await makeFixtureDir();
  const mon = new Peer(
    `mcpmon (${launcher.name}, reload)`,
    [
      ...launcher.argv,
      "--verbose",
      "--watch",
      fx.dir,
      ...(debounceMs === null ? [] : ["--debounce", String(debounceMs)]),
      "--",
      "node",
      fx.serverPath,
    ],
    fx.dir,
  );
  try {
    await bounded(mon.initialize(), opts.phaseTimeoutMs, `${mon.label} initialize`);
    await bounded(mon.waitStderr(/Watching /), opts.phaseTimeoutMs, `${mon.label} watching`);
    await bounded(mon.echo("warm"), opts.phaseTimeoutMs, `${mon.label} first call`);
    // mcpmon throttles starts (300 ms apart by default): the first edit comes after that too.
    await sleep(opts.reloadGapMs);
    const samples: ReloadSample[] = [];
    let restarts = 0;
    for (let i = 0; i < opts.reloads; i++) {
      const text = `hello v${i + 2}`;
      const sample = await bounded(
        (async (): Promise<ReloadSample> => {
          const mark = mon.notifications.length;
          const from = mon.stderr.length;
          const t0 = performance.now();
          await fx.writeTools([{ name: "hello", text }]);
          const changed = await mon.waitNotification("notifications/tools/list_changed", mark);
          const answer = await mon.call("tools/call", { name: "hello", arguments: {} });
          const t2 = performance.now();
          if (answer.result?.content?.[0]?.text !== text) {
            throw new Error(`after reload: expected "${text}", got ${JSON.stringify(answer)}`);
          }
          const timings = await mon.waitStderr(TIMINGS_RE, from);
          const complete = await mon.waitStderr(/Restart #(\d+) complete \((\d+) ms\)/, from);
          restarts = Number(timings[1]);
          const restartMs = Number(complete[2]);
          const throttle = /Waiting (\d+) ms before starting/.exec(mon.stderr.slice(from));
          const writeToListChangedMs = changed.at - t0;
          return {
            writeToListChangedMs,
            writeToFirstCallMs: t2 - t0,
            restartMs,
            debounceFsMs: writeToListChangedMs - restartMs,
            drainMs: Number(timings[2]),
            stopMs: Number(timings[3]),
            spawnInitializeMs: Number(timings[4]),
            replayMs: Number(timings[5]),
            throttleMs: throttle ? Number(throttle[1]) : 0,
          };
        })(),
        opts.phaseTimeoutMs,
        `${mon.label} reload ${i + 1}`,
      );
      samples.push(sample);
      mon.descendants();
      // Let late events of this write (if any) pass, and stay clear of mcpmon's restart throttle
      // (least time between two starts, 300 ms by default): edits by hand are farther apart.
      await sleep(opts.reloadGapMs);
    }
    // A late event may still have caused one more restart: count it.
    const all = [...mon.stderr.matchAll(/Restart #(\d+) complete/g)].map((m) => Number(m[1]));
    const last = Math.max(restarts, ...all);
    const keys = Object.keys(samples[0]) as (keyof ReloadSample)[];
    return {
      debounceMs,
      median: Object.fromEntries(
        keys.map((k) => [k, median(samples.map((s) => s[k]))]),
      ) as unknown as ReloadSample,
      samples,
      extraRestarts: last - samples.length,
    };
  } finally {
    await mon.stop();
  }
}

/** Why the launcher cannot run a gateway (its `--help` has no `--config`), or undefined. */
async function gatewayUnavailable(
  launcher: Launcher,
  opts: BenchOptions,
): Promise<string | undefined> {
  if (opts.gatewayBackends === 0) return "not run (--gateway 0)";
  const [command, ...args] = launcher.argv;
  const help = await new Deno.Command(command, {
    args: [...args, "--help"],
    stdin: "null",
    signal: AbortSignal.timeout(10_000),
  })
    .output()
    .then((o) => new TextDecoder().decode(o.stdout) + new TextDecoder().decode(o.stderr))
    .catch(() => "");
  return /--config\b/.test(help) ? undefined : "gateway not built yet";
}

/** Machine and versions for the report. */
export interface Machine {
  /** `nproc`. */
  cpus: number;
  /** /proc/cpuinfo model name. */
  model: string;
  /** Kernel release. */
  os: string;
  /** ISO date of the run. */
  date: string;
  /** Runtime versions (deno, node, bun when used). */
  versions: Record<string, string>;
}

async function versionOf(command: string): Promise<string | undefined> {
  try {
    const out = await new Deno.Command(command, { args: ["--version"], stdin: "null" }).output();
    return new TextDecoder().decode(out.stdout).trim().split("\n")[0].replace(/^v/, "");
  } catch {
    return undefined;
  }
}

async function machine(launchers: Launcher[]): Promise<Machine> {
  let model = "unknown";
  try {
    model = /model name\s*:\s*(.*)/.exec(Deno.readTextFileSync("/proc/cpuinfo"))?.[1] ?? model;
  } catch { /* not Linux */ }
  const versions: Record<string, string> = { deno: Deno.version.deno };
  const node = await versionOf("node");
  if (node) versions.node = node;
  if (launchers.some((l) => basename(l.argv[0]) === "bun")) {
    const bun = await versionOf("bun");
    if (bun) versions.bun = bun;
  }
  return {
    cpus: navigator.hardwareConcurrency,
    model,
    os: `${Deno.build.os} ${Deno.osRelease()}`,
    date: new Date().toISOString(),
    versions,
  };
}

/** The whole report (`--json` prints it). */
export interface BenchReport {
  /** Where and when. */
  machine: Machine;
  /** What was run. */
  options: Omit<BenchOptions, "launchers">;
  /** Targets compared against. */
  targets: typeof TARGETS;
  /** Per launcher. */
  results: LauncherResult[];
  /** Launchers not run, and why. */
  skipped: string[];
  /** Every pid the bench started or saw under mcpmon (all stopped at the end). */
  pids: number[];
  /** Wall time of the run, s. */
  seconds: number;
}

/** Runs every measurement for every launcher; stops everything it started. */
export async function runBench(opts: BenchOptions, skipped: string[] = []): Promise<BenchReport> {
  const t0 = performance.now();
  const results: LauncherResult[] = [];
  const tmp = await Deno.makeTempDir({ prefix: "mcpmon-bench-" });
  try {
    for (const launcher of opts.launchers) {
      log(`${launcher.name}: ${launcher.argv.join(" ")}`);
      const gatewayReason = await gatewayUnavailable(launcher, opts);
      const steady = await benchSteadyState(launcher, opts, tmp, gatewayReason);
      const extra = await benchStartupAndSdk(launcher, opts, tmp);
      const reload: ReloadResult[] = [];
      for (const debounce of opts.reloads > 0 ? opts.debounces : []) {
        log(`${launcher.name}: reloads with debounce ${debounce ?? "default"}`);
        reload.push(await benchReload(launcher, debounce, opts));
      }
      results.push({
        name: launcher.name,
        argv: launcher.argv,
        ...steady,
        p50Ratio: steady.mcpmon.p50Us.median / steady.direct.p50Us.median,
        p99Ratio: steady.mcpmon.p99Us.median / steady.direct.p99Us.median,
        throughputRatio: steady.mcpmon.callsPerSec.median / steady.direct.callsPerSec.median,
        reload,
        ...extra,
      });
    }
  } finally {
    await stopAll();
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
  const { launchers: _, ...options } = opts;
  return {
    machine: await machine(opts.launchers),
    options,
    targets: TARGETS,
    results,
    skipped,
    pids: [...seenPids],
    seconds: (performance.now() - t0) / 1000,
  };
}

// ── the table ────────────────────────────────────────────────────────────────

const fmt = (n: number | undefined, digits = 0) =>
  n !== undefined && Number.isFinite(n)
    ? n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : "—";
const range = (f: Figure | undefined, digits = 0) =>
  f === undefined
    ? "—"
    : f.rounds.length > 1
    ? `${fmt(f.median, digits)} (${fmt(f.min, digits)}–${fmt(f.max, digits)})`
    : fmt(f.median, digits);
const met = (pass: boolean) => (pass ? "yes" : "**no**");
const ratio = (n: number | undefined) => (n === undefined ? "" : `${fmt(n, 2)}×`);

/**
 * mcpmon ÷ relay in each round (both sides ran in every round, so each ratio
 * is paired), as " (<label>min–max per round)"; "" without a relay or with one round.
 */
function roundSpread(rounds: Record<string, number[]> | undefined, label = ""): string {
  const relay = rounds?.relay;
  const mcpmon = rounds?.mcpmon;
  if (!relay || !mcpmon || relay.length < 2 || relay.length !== mcpmon.length) return "";
  const ratios = relay.map((v, i) => mcpmon[i] / v);
  return ` (${label}${fmt(Math.min(...ratios), 2)}–${fmt(Math.max(...ratios), 2)} per round)`;
}

/** Renders the report as Markdown: one table per launcher (the README's Performance section). */
export function renderTable(report: BenchReport): string {
  const m = report.machine;
  const o = report.options;
  const out: string[] = [
    `Machine: ${m.cpus} cores (${m.model}), ${m.os}; ${
      Object.entries(m.versions).map(([k, v]) => `${k} ${v}`).join(", ")
    }; ${m.date.slice(0, 10)}. Run time ${fmt(report.seconds)} s.`,
    "",
    `Each figure is the median of ${o.rounds} rounds (range in parentheses); in every round each ` +
    `side makes ${o.calls} sequential calls, then ${o.pipelined} pipelined calls, in rotating order. ` +
    `Reloads: ${o.reloads} per setting. The no-op relay copies bytes between the client and the ` +
    "server in the same runtime: the floor for any proxy process.",
    "",
    renderSummary(report),
  ];
  for (const r of report.results) {
    const rows: string[][] = [];
    const gw = r.gateway;
    const row: RowFn = (...cells) => void rows.push(cells);
    row(
      "`tools/call` p50 latency (µs)",
      range(r.direct.p50Us),
      range(r.relay?.p50Us),
      range(r.mcpmon.p50Us),
      ratio(r.p50Ratio),
      `≤ ${TARGETS.p50Ratio}×`,
      met(r.p50Ratio <= TARGETS.p50Ratio),
    );
    row(
      "`tools/call` p99 latency (µs)",
      range(r.direct.p99Us),
      range(r.relay?.p99Us),
      range(r.mcpmon.p99Us),
      ratio(r.p99Ratio),
      "",
      "",
    );
    row(
      `pipelined throughput (calls/s, ${o.pipelined} in flight)`,
      range(r.direct.callsPerSec),
      range(r.relay?.callsPerSec),
      range(r.mcpmon.callsPerSec),
      ratio(r.throughputRatio),
      `≥ ${TARGETS.throughputRatio}×`,
      met(r.throughputRatio >= TARGETS.throughputRatio),
    );
    row(
      "CPU per pipelined call: proxy process / server (µs)",
      `— / ${fmt(r.direct.serverCpuUsPerCall, 1)}`,
      r.relay ? `${fmt(r.relay.cpuUsPerCall, 1)} / ${fmt(r.relay.serverCpuUsPerCall, 1)}` : "—",
      `${fmt(r.mcpmon.cpuUsPerCall, 1)} / ${fmt(r.mcpmon.serverCpuUsPerCall, 1)}`,
      "",
      "",
      "",
    );
    extraRows(row, r);
    row(
      "RSS of the proxy process: idle / peak under load (MB)",
      "",
      "",
      `${fmt(r.rss.idleMb, 1)} / ${fmt(r.rss.peakMb, 1)}`,
      "",
      `≤ ${TARGETS.rssMb} MB`,
      met(Math.max(r.rss.idleMb, r.rss.peakMb) <= TARGETS.rssMb),
    );
    for (const rl of r.reload) {
      const d = rl.debounceMs === null ? "default debounce" : `\`--debounce ${rl.debounceMs}\``;
      const md = rl.median;
      row(
        `reload (${d}): write → list_changed (ms)`,
        "",
        "",
        fmt(md.writeToListChangedMs),
        "",
        `≤ ${TARGETS.writeToListChangedMs} ms`,
        met(md.writeToListChangedMs <= TARGETS.writeToListChangedMs),
      );
      row(
        "↳ debounce + fs event / throttle / stop / spawn+initialize / replay (ms)",
        "",
        "",
        [md.debounceFsMs, md.throttleMs, md.stopMs, md.spawnInitializeMs, md.replayMs]
          .map((v) => fmt(v)).join(" / "),
        "",
        "",
        "",
      );
      row(
        `reload (${d}): write → first call answered by the new server (ms)`,
        "",
        "",
        fmt(md.writeToFirstCallMs),
        "",
        "",
        "",
      );
    }
    const na = gw.status === "n/a" ? `n/a (${gw.reason})` : undefined;
    const n = gw.backends ?? o.gatewayBackends;
    if (o.gatewayBackends > 0) {
      gatewayRows(row, r, na, n);
    }
    const argv = r.argv.map((a) => a.replace(REPO_ROOT + "/", "")).join(" ");
    out.push("", `mcpmon under ${r.name} (\`${argv}\`):`, "");
    out.push(
      markdownTable(
        ["", "direct", "no-op relay", "mcpmon", "mcpmon ÷ direct", "target", "met"],
        rows,
      ),
    );
  }
  for (const s of report.skipped) out.push("", `Not run: ${s}.`);
  return out.join("\n");
}

/**
 * One table for every launcher: the figures that have targets, and the gateway's. The README's
 * Performance section is this table.
 */
export function renderSummary(report: BenchReport): string {
  const rs = report.results;
  const o = report.options;
  const rows: string[][] = [];
  const add = (what: string, target: string, cell: (r: LauncherResult) => string) =>
    rows.push([what, target, ...rs.map(cell)]);
  const mark = (pass: boolean) => (pass ? " ✓" : " ✗");
  add(
    "`tools/call` p50, µs: direct / no-op relay / mcpmon",
    `mcpmon ≤ ${TARGETS.p50Ratio}× direct`,
    (r) =>
      `${fmt(r.direct.p50Us.median)} / ${fmt(r.relay?.p50Us.median)} / ${
        fmt(r.mcpmon.p50Us.median)
      } (${ratio(r.p50Ratio)})${mark(r.p50Ratio <= TARGETS.p50Ratio)}`,
  );
  add(
    "`tools/call` p99, µs: direct / no-op relay / mcpmon",
    "",
    (r) =>
      `${fmt(r.direct.p99Us.median)} / ${fmt(r.relay?.p99Us.median)} / ${
        fmt(r.mcpmon.p99Us.median)
      }`,
  );
  add(
    `pipelined calls/s (${o.pipelined} in flight): direct / no-op relay / mcpmon`,
    `mcpmon ≥ ${TARGETS.throughputRatio}× direct`,
    (r) =>
      `${fmt(r.direct.callsPerSec.median / 1000)}k / ${
        r.relay ? fmt(r.relay.callsPerSec.median / 1000) + "k" : "—"
      } / ${fmt(r.mcpmon.callsPerSec.median / 1000)}k (${ratio(r.throughputRatio)})${
        mark(r.throughputRatio >= TARGETS.throughputRatio)
      }`,
  );
  add(
    "CPU per pipelined call, µs: server / no-op relay / mcpmon",
    "",
    (r) =>
      `${fmt(r.mcpmon.serverCpuUsPerCall, 1)} / ${fmt(r.relay?.cpuUsPerCall, 1)} / ${
        fmt(r.mcpmon.cpuUsPerCall, 1)
      }`,
  );
  if (rs.some((r) => r.sdkP50Us)) {
    add(
      "MCP SDK client `tools/call` p50, µs: direct / no-op relay / mcpmon",
      "mcpmon ≤ 1.1× relay",
      (r) => {
        const sdk = r.sdkP50Us;
        if (!sdk) return "—";
        const vsRelay = sdk.relay === undefined ? undefined : sdk.mcpmon / sdk.relay;
        return `${fmt(sdk.direct)} / ${fmt(sdk.relay)} / ${fmt(sdk.mcpmon)}` +
          (vsRelay === undefined
            ? ""
            : ` (${ratio(vsRelay)} relay${roundSpread(r.sdkRoundsUs)})${mark(vsRelay <= 1.1)}`);
      },
    );
  }
  if (rs.some((r) => r.connect)) {
    add(
      "connect, spawn → `initialize` answered, ms: direct / no-op relay / mcpmon",
      "",
      (r) =>
        r.connect
          ? `${fmt(r.connect.directMs)} / ${fmt(r.connect.relayMs)} / ${
            fmt(r.connect.mcpmonMs)
          } (+${fmt(r.connect.addedMs)})`
          : "—",
    );
    add(
      "start-up, spawn → exit, ms: bare runtime / `mcpmon --version`",
      "",
      (r) => r.connect ? `${fmt(r.connect.bareRuntimeMs)} / ${fmt(r.connect.versionMs)}` : "—",
    );
    add(
      "start-up, spawn → ready to read the client, ms: mcpmon (its own clock)",
      "≤ bare runtime + 30",
      (r) => {
        const c = r.connect;
        if (!c) return "—";
        const over = c.readyOverBareMs;
        return `${fmt(c.readyMs)} (${fmt(c.readySelfMs)})` +
          (over === undefined ? "" : ` (+${fmt(over)})${mark(over <= 30)}`);
      },
    );
  }
  if (rs.some((r) => r.large)) {
    add(
      `${fmt(o.largeMb)} MB result, ms per call: direct / no-op relay / mcpmon; CPU relay / mcpmon`,
      "mcpmon CPU ≤ relay's",
      (r) => {
        const l = r.large;
        if (!l) return "—";
        return `${fmt(l.ms.direct)} / ${fmt(l.ms.relay)} / ${fmt(l.ms.mcpmon)}; ${
          fmt(l.cpuMs.relay)
        } / ${fmt(l.cpuMs.mcpmon)}${roundSpread(l.cpuMsRounds, "÷ relay ")}${
          l.cpuMs.relay === undefined ? "" : mark(l.cpuMs.mcpmon <= l.cpuMs.relay)
        }`;
      },
    );
  }
  add(
    "mcpmon RSS, MB: idle / peak under load",
    `≤ ${TARGETS.rssMb} MB`,
    (r) =>
      `${fmt(r.rss.idleMb)}${mark(r.rss.idleMb <= TARGETS.rssMb)} / ${fmt(r.rss.peakMb)}${
        mark(r.rss.peakMb <= TARGETS.rssMb)
      }`,
  );
  const debounces = rs[0]?.reload.map((rl) => rl.debounceMs) ?? [];
  debounces.forEach((debounce, i) => {
    const d = debounce === null ? "default debounce" : `\`--debounce ${debounce}\``;
    add(
      `reload (${d}): write → list_changed, ms`,
      `≤ ${TARGETS.writeToListChangedMs} ms`,
      (r) => {
        const md = r.reload[i]?.median;
        return md
          ? `${fmt(md.writeToListChangedMs)}${
            mark(md.writeToListChangedMs <= TARGETS.writeToListChangedMs)
          }`
          : "—";
      },
    );
    add(
      "↳ debounce+fs / stop / spawn+initialize / replay; → first call",
      "",
      (r) => {
        const md = r.reload[i]?.median;
        return md
          ? `${
            [md.debounceFsMs, md.stopMs, md.spawnInitializeMs, md.replayMs].map((v) => fmt(v))
              .join(" / ")
          }; ${fmt(md.writeToFirstCallMs)}`
          : "—";
      },
    );
  });
  if (o.gatewayBackends > 0) {
    const gw = (r: LauncherResult, f: (g: GatewayResult) => string) =>
      r.gateway.status === "ok" ? f(r.gateway) : `n/a (${r.gateway.reason})`;
    const n = o.gatewayBackends;
    add(
      `gateway of ${n}: start → all tools listed, ms`,
      "",
      (r) => gw(r, (g) => fmt(g.startToAllToolsMs)),
    );
    add(
      `gateway of ${n}: p50 µs; calls/s (÷ direct)`,
      "",
      (r) =>
        gw(
          r,
          (g) =>
            `${fmt(g.side?.p50Us.median)} (${ratio(g.p50Ratio)}); ${
              fmt((g.side?.callsPerSec.median ?? NaN) / 1000)
            }k (${ratio(g.throughputRatio)})`,
        ),
    );
    add(
      `gateway of ${n}: CPU per call µs; RSS idle / peak MB`,
      "",
      (r) =>
        gw(
          r,
          (g) => `${fmt(g.side?.cpuUsPerCall, 1)}; ${fmt(g.rss?.idleMb)} / ${fmt(g.rss?.peakMb)}`,
        ),
    );
  }
  return markdownTable(["", "target", ...rs.map((r) => r.name)], rows);
}

type RowFn = (
  what: string,
  direct: string,
  relay: string,
  mcpmon: string,
  ratioText: string,
  target: string,
  ok: string,
) => void;

/** The connect, large-message and SDK rows of one launcher's table. */
function extraRows(row: RowFn, r: LauncherResult) {
  const c = r.connect;
  if (c) {
    row(
      `connect: spawn → \`initialize\` answered (ms, median of ${c.runs})`,
      fmt(c.directMs),
      fmt(c.relayMs),
      fmt(c.mcpmonMs),
      ratio(c.mcpmonMs / c.directMs),
      "",
      `+${fmt(c.addedMs)} ms`,
    );
    row(
      "start-up: bare runtime / `mcpmon --version`, spawn → exit (ms)",
      "",
      "",
      `${fmt(c.bareRuntimeMs)} / ${fmt(c.versionMs)}`,
      "",
      "",
      "",
    );
    row(
      "start-up: spawn → mcpmon ready to read the client (ms; its own clock)",
      "",
      "",
      `${fmt(c.readyMs)} (${fmt(c.readySelfMs)})`,
      c.readyOverBareMs === undefined ? "" : `+${fmt(c.readyOverBareMs)} ms over bare`,
      "≤ bare + 30 ms",
      c.readyOverBareMs === undefined ? "" : met(c.readyOverBareMs <= 30),
    );
  }
  const l = r.large;
  if (l) {
    row(
      `${fmt(l.bytes / MB)} MB result: time per call (ms); CPU of the middle (ms)`,
      fmt(l.ms.direct, 1),
      l.ms.relay === undefined ? "—" : `${fmt(l.ms.relay, 1)}; ${fmt(l.cpuMs.relay, 1)}`,
      `${fmt(l.ms.mcpmon, 1)}; ${fmt(l.cpuMs.mcpmon, 1)}${roundSpread(l.cpuMsRounds, "÷ relay ")}`,
      ratio(l.ms.mcpmon / l.ms.direct),
      "CPU ≤ relay's",
      l.cpuMs.relay === undefined ? "" : met(l.cpuMs.mcpmon <= l.cpuMs.relay),
    );
  }
  const sdk = r.sdkP50Us;
  if (sdk) {
    row(
      "MCP SDK client: sequential `tools/call` p50 (µs)",
      fmt(sdk.direct),
      fmt(sdk.relay),
      fmt(sdk.mcpmon),
      ratio(sdk.mcpmon / sdk.direct),
      sdk.relay === undefined
        ? ""
        : `${ratio(sdk.mcpmon / sdk.relay)} relay${roundSpread(r.sdkRoundsUs)}`,
      sdk.relay === undefined ? "" : met(sdk.mcpmon / sdk.relay <= 1.1),
    );
  }
}

function gatewayRows(row: RowFn, r: LauncherResult, na: string | undefined, n: number) {
  const gw = r.gateway;
  row(
    `gateway, ${n} backends: start → all tools listed (ms)`,
    "",
    "",
    na ?? fmt(gw.startToAllToolsMs),
    "",
    "",
    "",
  );
  row(
    `gateway, ${n} backends: \`tools/call\` p50 latency (µs)`,
    na ? "" : range(r.direct.p50Us),
    "",
    na ?? range(gw.side?.p50Us),
    ratio(gw.p50Ratio),
    "",
    "",
  );
  row(
    `gateway, ${n} backends: pipelined throughput (calls/s)`,
    na ? "" : range(r.direct.callsPerSec),
    "",
    na ?? range(gw.side?.callsPerSec),
    ratio(gw.throughputRatio),
    "",
    "",
  );
  row(
    `gateway, ${n} backends: CPU per pipelined call: gateway / servers (µs)`,
    "",
    "",
    na ?? `${fmt(gw.side?.cpuUsPerCall, 1)} / ${fmt(gw.side?.serverCpuUsPerCall, 1)}`,
    "",
    "",
    "",
  );
  row(
    `gateway, ${n} backends: RSS idle / peak (MB)`,
    "",
    "",
    na ?? `${fmt(gw.rss?.idleMb, 1)} / ${fmt(gw.rss?.peakMb, 1)}`,
    "",
    "",
    "",
  );
}

function markdownTable(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(3, ...all.map((r) => [...r[i]].length)));
  const line = (r: string[]) =>
    `| ${r.map((c, i) => c + " ".repeat(widths[i] - [...c].length)).join(" | ")} |`;
  return [
    line(header),
    `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`,
    ...rows.map(line),
  ].join("\n");
}

// ── CLI ──────────────────────────────────────────────────────────────────────

const USAGE = `Usage: deno task bench [options]

  --json                 machine-readable report on stdout
  --launcher <spec>      deno | deno-src | node | bun | binary | "<command> <args…>"
                         (repeatable; deno: the Deno bundle, built first; deno-src: mod.ts);
                         default: deno, plus node and bun when npm/bin/mcpmon.js is built,
                         plus binary when dist/mcpmon is (deno task compile)
  --calls <n>            sequential calls per latency round (default 1000)
  --pipelined <n>        calls in flight per throughput round (default 5000)
  --rounds <n>           rounds per measurement, sides in rotating order (default 5)
  --warmup <n>           warm-up calls (default 500)
  --reloads <n>          reloads per debounce setting (default 5; 0: no reload runs)
  --debounce <list>      debounce settings for reloads, "default" = no flag (default "10,default")
  --reload-gap <ms>      pause between reloads, clear of the restart throttle (default 500)
  --gateway <n>          backends in the gateway run (default 10; 0: no gateway run)
  --no-relay             skip the no-op relay (the floor)
  --phase-timeout <ms>   bound of each round or reload (default 30000)
  --connect-runs <n>     runs of the connect rows, spawn → initialize answered (default 7; 0: none)
  --large-mb <n>         size of the large result in MB (default 4; 0: no large-message rounds)
  --large-calls <n>      large-message calls per side and round (default 3)
  --sdk-calls <n>        sequential MCP SDK client calls per side and round (default 1000; 0: none)
`;

/** Parses the bench's command line. */
export function parseBenchArgs(
  args: string[],
): { opts: BenchOptions; json: boolean; help: boolean; skipped: string[] } {
  const { values } = parseArgs({
    args,
    options: {
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
      launcher: { type: "string", multiple: true },
      calls: { type: "string" },
      pipelined: { type: "string" },
      rounds: { type: "string" },
      warmup: { type: "string" },
      reloads: { type: "string" },
      debounce: { type: "string" },
      "reload-gap": { type: "string" },
      gateway: { type: "string" },
      "no-relay": { type: "boolean" },
      "phase-timeout": { type: "string" },
      "connect-runs": { type: "string" },
      "large-mb": { type: "string" },
      "large-calls": { type: "string" },
      "sdk-calls": { type: "string" },
    },
  });
  const int = (value: string | undefined, fallback: number, min: number, name: string) => {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}`);
    return n;
  };
  const fromDefault = values.launcher === undefined ? defaultLaunchers() : undefined;
  return {
    json: values.json ?? false,
    help: values.help ?? false,
    skipped: fromDefault?.skipped ?? [],
    opts: {
      launchers: fromDefault?.launchers ?? values.launcher!.map(launcherFor),
      calls: int(values.calls, 1000, 1, "calls"),
      pipelined: int(values.pipelined, 5000, 1, "pipelined"),
      rounds: int(values.rounds, 5, 1, "rounds"),
      warmup: int(values.warmup, 500, 0, "warmup"),
      reloads: int(values.reloads, 5, 0, "reloads"),
      debounces: (values.debounce ?? "10,default").split(",").map((d) =>
        d.trim() === "default" ? null : int(d.trim(), 0, 0, "debounce")
      ),
      reloadGapMs: int(values["reload-gap"], 500, 0, "reload-gap"),
      gatewayBackends: int(values.gateway, 10, 0, "gateway"),
      relay: !values["no-relay"],
      phaseTimeoutMs: int(values["phase-timeout"], 30_000, 1, "phase-timeout"),
      connectRuns: int(values["connect-runs"], 7, 0, "connect-runs"),
      largeMb: int(values["large-mb"], 4, 0, "large-mb"),
      largeCalls: int(values["large-calls"], 3, 1, "large-calls"),
      sdkCalls: int(values["sdk-calls"], 1000, 0, "sdk-calls"),
    },
  };
}

if (import.meta.main) {
  let parsed;
  try {
    parsed = parseBenchArgs(Deno.args);
  } catch (err) {
    console.error(`${err instanceof Error ? err.message : err}\n\n${USAGE}`);
    Deno.exit(2);
  }
  if (parsed.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  const onSignal = () => {
    log("interrupted; stopping everything started");
    stopAll().finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    if (parsed.opts.launchers.some((l) => l.argv.includes(BENCH_DENO))) {
      log(`building the Deno bundle into ${BENCH_DENO_DIR}`);
      await buildDeno(BENCH_DENO_DIR);
    }
    const report = await runBench(parsed.opts, parsed.skipped);
    console.log(parsed.json ? JSON.stringify(report, null, 2) : renderTable(report));
  } catch (err) {
    console.error(`bench failed: ${err instanceof Error ? err.stack ?? err.message : err}`);
    Deno.exitCode = 1;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
}
