/**
 * The bench's start-up rows (`deno task bench`, see `scripts/bench.ts`): what a client pays at
 * every launch.
 *
 * - **bare runtime**: spawn → exit of the runtime doing nothing (`node -e 0`, `deno eval 0`,
 *   `bun -e 0`): the floor of any program on it;
 * - **`mcpmon --version`**: spawn → exit of mcpmon printing its version (its module loading);
 * - **ready**: spawn → mcpmon ready to read the client: it has spawned its server and begins to
 *   read its stdin, as it says on stderr with `MCPMON_READY_MARKER=1` (the time is the bench's,
 *   when that line arrives; mcpmon's own clock, since its process started, is kept beside it);
 * - **connect**: spawn → the answer to `initialize`, the client writing `initialize` at once (as
 *   clients do): the server directly, through a no-op relay on the same runtime, through mcpmon.
 *
 * Each is the median of `runs` runs, the sides taking turns in each run (so that a load that comes
 * and goes costs each side the same). Every process is bounded in time and stopped (stdin closed,
 * then SIGTERM, then SIGKILL).
 *
 * @module
 */
import { median } from "./stats.ts";

/** What the connect rows measure for one launcher; ms, medians over the runs. */
export interface ConnectResult {
  /** Runs each figure is the median of. */
  runs: number;
  /** Spawn → exit of the bare runtime (`node -e 0`…); undefined for a binary. */
  bareRuntimeMs?: number;
  /** Spawn → exit of `mcpmon --version`. */
  versionMs: number;
  /** Spawn → mcpmon's ready line (`MCPMON_READY_MARKER=1`) read by the bench. */
  readyMs: number;
  /** The ready line's own figure: ms since mcpmon's process started, on its runtime's clock. */
  readySelfMs: number;
  /** `readyMs − bareRuntimeMs`: mcpmon's own start-up (the goal: ≤ 30 ms); undefined for a binary. */
  readyOverBareMs?: number;
  /** Spawn → `initialize` answered, the server alone. */
  directMs: number;
  /** The same through the no-op relay of the launcher's runtime, when there is one. */
  relayMs?: number;
  /** The same through mcpmon. */
  mcpmonMs: number;
  /** `mcpmonMs − directMs`: what mcpmon adds to every connect. */
  addedMs: number;
}

/** The argv of one connect side. */
export interface ConnectSides {
  /** The bare runtime doing nothing, if any. */
  bare?: string[];
  /** `mcpmon --version`. */
  version: string[];
  /** The server alone. */
  direct: string[];
  /** Relay + server, if any. */
  relay?: string[];
  /** mcpmon + server. */
  mcpmon: string[];
  /** Working directory of every side. */
  cwd: string;
}

const INITIALIZE = JSON.stringify({
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: {
    protocolVersion: "2025-06-18",
    capabilities: {},
    clientInfo: { name: "mcpmon-bench", version: "1.0.0" },
  },
}) + "\n";

/** Stops `child` (stdin closed first, then SIGTERM, then SIGKILL), bounded. */
async function stop(child: Deno.ChildProcess, stdin?: WritableStreamDefaultWriter<Uint8Array>) {
  const exited = (ms: number) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    return Promise.race([
      child.status.then(() => true),
      new Promise<boolean>((r) => timer = setTimeout(() => r(false), ms)),
    ]).finally(() => clearTimeout(timer));
  };
  await stdin?.close().catch(() => {});
  if (await exited(3000)) return;
  for (const signal of ["SIGTERM", "SIGKILL"] as const) {
    try {
      child.kill(signal);
    } catch { /* gone */ }
    if (await exited(3000)) return;
  }
}

/** Spawn → exit, ms. Throws when it fails or takes longer than `timeoutMs`. */
export async function timeToExit(argv: string[], cwd: string, timeoutMs: number): Promise<number> {
  const [command, ...args] = argv;
  const t0 = performance.now();
  const child = new Deno.Command(command, {
    args,
    cwd,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const status = await Promise.race([
    child.status,
    new Promise<undefined>((r) => timer = setTimeout(() => r(undefined), timeoutMs)),
  ]).finally(() => clearTimeout(timer));
  const ms = performance.now() - t0;
  if (status === undefined) {
    await stop(child);
    throw new Error(`${argv.join(" ")}: no exit within ${timeoutMs} ms`);
  }
  if (!status.success) throw new Error(`${argv.join(" ")} failed (exit ${status.code})`);
  return ms;
}

/** The line mcpmon writes to stderr when ready, with `MCPMON_READY_MARKER=1`. */
const READY_LINE = /^mcpmon: ready (\d+(?:\.\d+)?)$/m;

/**
 * Spawn → mcpmon ready to read the client (its `mcpmon: ready` line on stderr, asked for with
 * `MCPMON_READY_MARKER=1`), ms as the bench sees it, and the line's own figure; then stops mcpmon
 * (and, through it, its server). Its stdin stays open and silent until then. Throws when there is no
 * such line within `timeoutMs`.
 */
export async function timeToReady(
  argv: string[],
  cwd: string,
  timeoutMs: number,
): Promise<{ ms: number; selfMs: number }> {
  const [command, ...args] = argv;
  const t0 = performance.now();
  const child = new Deno.Command(command, {
    args,
    cwd,
    env: { MCPMON_READY_MARKER: "1" },
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stdin = child.stdin.getWriter();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const ready = (async () => {
      const decoder = new TextDecoder();
      let text = "";
      for await (const chunk of child.stderr) {
        text += decoder.decode(chunk, { stream: true });
        const m = READY_LINE.exec(text);
        if (m) return { ms: performance.now() - t0, selfMs: Number(m[1]) };
      }
      throw new Error(`${argv.join(" ")}: stderr ended without "mcpmon: ready":\n${text}`);
    })();
    return await Promise.race([
      ready,
      new Promise<never>((_, reject) =>
        timer = setTimeout(
          () => reject(new Error(`${argv.join(" ")}: not ready in ${timeoutMs} ms`)),
          timeoutMs,
        )
      ),
    ]);
  } finally {
    clearTimeout(timer);
    await stop(child, stdin);
    await child.stderr.cancel().catch(() => {});
  }
}

/**
 * Spawn → the answer to `initialize` (written at once), ms; then stops the process (and, through
 * it, its server). Throws when there is no answer within `timeoutMs`.
 */
export async function timeToInitialize(
  argv: string[],
  cwd: string,
  timeoutMs: number,
): Promise<number> {
  const [command, ...args] = argv;
  const t0 = performance.now();
  const child = new Deno.Command(command, {
    args,
    cwd,
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const stdin = child.stdin.getWriter();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await stdin.write(new TextEncoder().encode(INITIALIZE));
    const answered = (async () => {
      const decoder = new TextDecoder();
      let text = "";
      for await (const chunk of child.stdout) {
        text += decoder.decode(chunk, { stream: true });
        for (const line of text.split("\n").slice(0, -1)) {
          if (/"id"\s*:\s*1\b/.test(line) && /"result"/.test(line)) return performance.now() - t0;
        }
      }
      throw new Error(`${argv.join(" ")}: stdout ended without an answer to initialize`);
    })();
    return await Promise.race([
      answered,
      new Promise<never>((_, reject) =>
        timer = setTimeout(
          () => reject(new Error(`${argv.join(" ")}: no answer to initialize in ${timeoutMs} ms`)),
          timeoutMs,
        )
      ),
    ]);
  } finally {
    clearTimeout(timer);
    await stop(child, stdin);
    await child.stdout.cancel().catch(() => {});
  }
}

/**
 * Measures the start-up rows for one launcher: `runs` runs, the sides in turn in each.
 *
 * @example
 * ```ts ignore
 * const r = await benchConnect({ version: ["node", "npm/bin/mcpmon.js", "--version"], … }, 7, 30_000);
 * ```
 */
export async function benchConnect(
  sides: ConnectSides,
  runs: number,
  timeoutMs: number,
): Promise<ConnectResult> {
  const bare: number[] = [];
  const version: number[] = [];
  const ready: number[] = [];
  const readySelf: number[] = [];
  const direct: number[] = [];
  const relay: number[] = [];
  const mcpmon: number[] = [];
  // Once untimed: the first start of each warms the file cache (and Deno's module cache).
  await timeToInitialize(sides.direct, sides.cwd, timeoutMs);
  await timeToInitialize(sides.mcpmon, sides.cwd, timeoutMs);
  for (let run = 0; run < runs; run++) {
    const steps: (() => Promise<void>)[] = [
      async () => void version.push(await timeToExit(sides.version, sides.cwd, timeoutMs)),
      async () => void direct.push(await timeToInitialize(sides.direct, sides.cwd, timeoutMs)),
      async () => void mcpmon.push(await timeToInitialize(sides.mcpmon, sides.cwd, timeoutMs)),
      async () => {
        const r = await timeToReady(sides.mcpmon, sides.cwd, timeoutMs);
        ready.push(r.ms);
        readySelf.push(r.selfMs);
      },
    ];
    if (sides.bare) {
      const argv = sides.bare;
      steps.push(async () => void bare.push(await timeToExit(argv, sides.cwd, timeoutMs)));
    }
    if (sides.relay) {
      const argv = sides.relay;
      steps.push(async () => void relay.push(await timeToInitialize(argv, sides.cwd, timeoutMs)));
    }
    // Rotate the order from run to run.
    for (let i = 0; i < steps.length; i++) await steps[(i + run) % steps.length]();
  }
  const directMs = median(direct);
  const mcpmonMs = median(mcpmon);
  const bareRuntimeMs = sides.bare ? median(bare) : undefined;
  const readyMs = median(ready);
  return {
    runs,
    bareRuntimeMs,
    versionMs: median(version),
    readyMs,
    readySelfMs: median(readySelf),
    readyOverBareMs: bareRuntimeMs === undefined ? undefined : readyMs - bareRuntimeMs,
    directMs,
    relayMs: sides.relay ? median(relay) : undefined,
    mcpmonMs,
    addedMs: mcpmonMs - directMs,
  };
}
