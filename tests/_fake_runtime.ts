/**
 * An in-process Runtime for unit tests: children are scripted fake servers
 * speaking JSON-RPC over in-memory streams; the client is a pair of streams.
 */
import { dirname } from "node:path";
import { type ServerOptions, serverOptions } from "../src/config.ts";
import { LineSplitter, readClientLines } from "../src/jsonrpc.ts";
import { Logger } from "../src/log.ts";
import { type GatewayOptions, Router } from "../src/router.ts";
import type {
  ChildProcess,
  Clock,
  ExitStatus,
  FsEvent,
  FsWatch,
  KillSignal,
  Runtime,
  SpawnOptions,
} from "../src/runtime/mod.ts";
import { FsEventQueue } from "../src/runtime/mod.ts";
import { ManualClock } from "../testing/manual_clock.ts";
import { processTempDir } from "../testing/fixtures.ts";

// deno-lint-ignore no-explicit-any
export type Msg = Record<string, any>;

/**
 * How long, in real time, each wait of the harness waits before it fails: a router bug fails the
 * spec in seconds instead of hanging the suite. Fake processes answer within microtasks, and timers
 * run on the spec's clock, so nothing legitimate comes near it.
 */
export const DEFAULT_WAIT_MS = 5000;

/** Settles as `promise` does; rejects with an error naming `what` after `ms` of real time. */
export function within<T>(promise: Promise<T>, what: string, ms = DEFAULT_WAIT_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Registers a waiter with `register` (it calls the resolver it is given when the awaited event comes)
 * and rejects with an error naming `what` when `ms` of real time pass first (`Infinity`: never).
 */
function bounded<T>(
  what: string,
  ms: number,
  register: (resolve: (value: T) => void) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const wait: { done: boolean; timer?: ReturnType<typeof setTimeout> } = { done: false };
    // Registered before the timer is set: in the test runner, setting a timer has let pending
    // jobs run (the awaited message came then, and was missed).
    register((value) => {
      wait.done = true;
      clearTimeout(wait.timer);
      resolve(value);
    });
    if (ms === Infinity) return; // no limit: the waiter holds no timer either
    const timer = setTimeout(
      () => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)),
      ms,
    );
    if (wait.done) clearTimeout(timer);
    else wait.timer = timer;
  });
}

/** A fake server process. */
export class FakeChild implements ChildProcess {
  static nextPid = 1000;
  readonly pid = FakeChild.nextPid++;
  readonly stdin: WritableStream<Uint8Array>;
  readonly stdout: ReadableStream<Uint8Array>;
  readonly stderr: ReadableStream<Uint8Array>;
  readonly exited: Promise<ExitStatus>;
  /** Every message the server received, in order. */
  readonly received: Msg[] = [];
  /** The same, as the lines it got. */
  readonly receivedLines: string[] = [];
  /** Signals sent to the group. */
  readonly signals: KillSignal[] = [];
  ignoreSigterm = false;
  #out!: ReadableStreamDefaultController<Uint8Array>;
  #err!: ReadableStreamDefaultController<Uint8Array>;
  #exit!: (s: ExitStatus) => void;
  #alive = true;
  #waiters: { pred: (m: Msg) => boolean; resolve: (m: Msg) => void }[] = [];

  constructor(
    readonly options: SpawnOptions,
    readonly handle: (child: FakeChild, msg: Msg) => void,
  ) {
    const splitter = new LineSplitter();
    this.stdin = new WritableStream({
      write: (chunk) => {
        if (!this.#alive) throw new Error("EPIPE");
        for (const line of splitter.push(chunk)) {
          const msg = JSON.parse(line);
          this.received.push(msg);
          this.receivedLines.push(line);
          this.#waiters = this.#waiters.filter((w) => {
            if (!w.pred(msg)) return true;
            w.resolve(msg);
            return false;
          });
          handle(this, msg);
        }
      },
    });
    this.stdout = new ReadableStream({ start: (c) => void (this.#out = c) });
    this.stderr = new ReadableStream({ start: (c) => void (this.#err = c) });
    this.exited = new Promise((resolve) => this.#exit = resolve);
  }

  get alive(): boolean {
    return this.#alive;
  }

  /**
   * Resolves with the first received message (past or future) matching `pred`; rejects after
   * `timeoutMs` of real time.
   */
  waitFor(pred: (m: Msg) => boolean, timeoutMs = DEFAULT_WAIT_MS): Promise<Msg> {
    const seen = this.received.find(pred);
    if (seen) return Promise.resolve(seen);
    return bounded(
      `server ${this.pid} to receive a message matching ${pred}`,
      timeoutMs,
      (resolve) => this.#waiters.push({ pred, resolve }),
    );
  }

  send(msg: Msg | string): void {
    if (!this.#alive) return;
    const text = typeof msg === "string" ? msg : JSON.stringify(msg);
    this.#out.enqueue(new TextEncoder().encode(text + "\n"));
  }

  reply(request: Msg, result: unknown): void {
    this.send({ jsonrpc: "2.0", id: request.id, result });
  }

  writeStderr(text: string): void {
    if (this.#alive) this.#err.enqueue(new TextEncoder().encode(text));
  }

  /** Ends the server's stdout while the process keeps running. */
  closeStdout(): void {
    this.#out.close();
  }

  exit(status: ExitStatus): void {
    if (!this.#alive) return;
    this.#alive = false;
    try {
      this.#out.close();
    } catch { /* closed already (closeStdout) */ }
    this.#err.close();
    this.#exit(status);
  }

  killGroup(signal: KillSignal): void {
    this.signals.push(signal);
    if (signal === "SIGTERM" && this.ignoreSigterm) return;
    this.exit({ code: null, signal });
  }
}

/** A server that answers the basics; `extra` may handle a message first (return true if it did). */
export function basicServer(
  tools: string[] = ["a"],
  extra?: (child: FakeChild, msg: Msg) => boolean,
): (child: FakeChild, msg: Msg) => void {
  return (child, msg) => {
    if (extra?.(child, msg)) return;
    if (msg.id === undefined || msg.method === undefined) return;
    switch (msg.method) {
      case "initialize":
        return child.reply(msg, {
          protocolVersion: msg.params.protocolVersion,
          capabilities: { tools: {}, logging: {} },
          serverInfo: { name: "fake", version: "1" },
        });
      case "tools/list":
        return child.reply(msg, {
          tools: tools.map((name) => ({ name, inputSchema: { type: "object" } })),
        });
      case "tools/call":
        return child.reply(msg, {
          content: [{ type: "text", text: `${msg.params.name}@${child.pid}` }],
        });
      default:
        return child.reply(msg, {});
    }
  };
}

/** The fake runtime plus handles to drive it. */
export interface FakeHarness {
  runtime: Runtime;
  children: FakeChild[];
  /** Sends a message (or raw line) as the client. */
  clientSend(msg: Msg | string): void;
  /** Everything mcpmon wrote to stdout, parsed. */
  clientReceived: Msg[];
  /**
   * Resolves with the first stdout message (past or future) matching `pred`; rejects after
   * `timeoutMs` of real time (default {@linkcode DEFAULT_WAIT_MS}, as for every wait here).
   */
  clientWaitFor(pred: (m: Msg) => boolean, timeoutMs?: number): Promise<Msg>;
  /** Ends the client's stdin. */
  clientClose(): void;
  /** Text written to stderr. */
  stderr(): string;
  /** Handlers registered with `onUncaughtError`. */
  uncaught: ((error: unknown) => void)[];
  /** Codes passed to `exit`. */
  exits: number[];
  /** Resolves with the first exit code. */
  exited(timeoutMs?: number): Promise<number>;
  /** Resolves when the n-th child (1-based) has been spawned. */
  spawned(n: number, timeoutMs?: number): Promise<FakeChild>;
  /** The directories watched now, over every open `watch()`. */
  watchedDirs(): string[];
  /**
   * A file system event, as the runtime's watch reports it: each open watch of a directory that
   * holds one of `paths` (or is one) gets it.
   */
  fsEvent(kind: FsEvent["kind"], ...paths: string[]): void;
}

type Handler = (child: FakeChild, msg: Msg) => void;

/** The state dirs of this process's fake runtimes, under one temp dir removed when the tests end. */
let fakeStateRoot: string | undefined;

function stateRoot(): string {
  return fakeStateRoot ??= processTempDir("mcpmon-fake-state-");
}

/**
 * Builds a fake runtime. With a list, the i-th spawn runs `handles[i]` (the
 * last one for any later spawn); with a record, a spawn of `command` runs
 * `handles[command]`.
 */
export function fakeRuntime(
  handles: Handler[] | Record<string, Handler>,
  options: { clock?: Clock; env?: Record<string, string> } = {},
): FakeHarness {
  const children: FakeChild[] = [];
  const clientReceived: Msg[] = [];
  let stdinController!: ReadableStreamDefaultController<Uint8Array>;
  const stdin = new ReadableStream<Uint8Array>({ start: (c) => void (stdinController = c) });
  const outSplitter = new LineSplitter();
  let clientWaiters: { pred: (m: Msg) => boolean; resolve: (m: Msg) => void }[] = [];
  let spawnWaiters: { n: number; resolve: (c: FakeChild) => void }[] = [];
  const stdout = new WritableStream<Uint8Array>({
    write(chunk) {
      for (const line of outSplitter.push(chunk)) {
        const msg = JSON.parse(line);
        clientReceived.push(msg);
        clientWaiters = clientWaiters.filter((w) => {
          if (!w.pred(msg)) return true;
          w.resolve(msg);
          return false;
        });
      }
    },
  });
  let err = "";
  const stateHome = Deno.makeTempDirSync({ dir: stateRoot(), prefix: "state-" });
  const uncaught: ((error: unknown) => void)[] = [];
  const exits: number[] = [];
  const exitWaiters: ((code: number) => void)[] = [];
  const watches = new Set<{ dirs: Set<string>; queue: FsEventQueue }>();
  const runtime: Runtime = {
    name: "fake",
    clock: options.clock,
    args: [],
    stdin,
    stdout,
    writeStderr: (data) => void (err += new TextDecoder().decode(data)),
    spawn(options) {
      const handle = Array.isArray(handles)
        ? handles[Math.min(children.length, handles.length - 1)]
        : handles[options.command];
      const child = new FakeChild(options, handle);
      children.push(child);
      spawnWaiters = spawnWaiters.filter((w) => {
        if (children.length < w.n) return true;
        w.resolve(children[w.n - 1]);
        return false;
      });
      return child;
    },
    watch(): FsWatch {
      // Watches nothing for real: the spec reports events with fsEvent().
      const dirs = new Set<string>();
      const queue = new FsEventQueue();
      const watch = { dirs, queue };
      watches.add(watch);
      return {
        add: (dir) => void dirs.add(dir),
        remove: (dir) => void dirs.delete(dir),
        get size() {
          return dirs.size;
        },
        close: () => {
          watches.delete(watch);
          queue.close();
        },
        [Symbol.asyncIterator]: () => queue[Symbol.asyncIterator](),
      };
    },
    onUncaughtError(handler) {
      uncaught.push(handler);
    },
    onSignal: () => () => {},
    // Keeps the state dir (mcpmon status/restart) out of the real home.
    env: (name) => name === "XDG_STATE_HOME" ? stateHome : options.env?.[name],
    cwd: () => "/fake",
    pid: 1,
    stdinIsTerminal: () => false,
    appendFile() {},
    exit(code: number): never {
      exits.push(code);
      for (const resolve of exitWaiters.splice(0)) resolve(code);
      return undefined as never;
    },
  };
  return {
    runtime,
    children,
    clientReceived,
    clientSend(msg) {
      const text = typeof msg === "string" ? msg : JSON.stringify(msg);
      stdinController.enqueue(new TextEncoder().encode(text + "\n"));
    },
    clientWaitFor(pred, timeoutMs = DEFAULT_WAIT_MS) {
      const seen = clientReceived.find(pred);
      if (seen) return Promise.resolve(seen);
      return bounded(
        `a message to the client matching ${pred}`,
        timeoutMs,
        (resolve) => clientWaiters.push({ pred, resolve }),
      );
    },
    clientClose: () => stdinController.close(),
    uncaught,
    exits,
    exited: (timeoutMs = DEFAULT_WAIT_MS) =>
      exits.length > 0
        ? Promise.resolve(exits[0])
        : bounded("mcpmon to exit", timeoutMs, (resolve) => exitWaiters.push(resolve)),
    stderr: () => err,
    watchedDirs: () => [...new Set([...watches].flatMap((w) => [...w.dirs]))],
    fsEvent(kind, ...paths) {
      for (const { dirs, queue } of watches) {
        if (paths.some((p) => dirs.has(p) || dirs.has(dirname(p)))) queue.push({ kind, paths });
      }
    },
    spawned(n, timeoutMs = DEFAULT_WAIT_MS) {
      if (children.length >= n) return Promise.resolve(children[n - 1]);
      return bounded(
        `server process #${n} to be spawned (${children.length} so far)`,
        timeoutMs,
        (resolve) => spawnWaiters.push({ n, resolve }),
      );
    },
  };
}

/**
 * Options for a fake server named `name` (its command is its name, so a
 * record of handlers in {@linkcode fakeRuntime} can pick it): short
 * timeouts, no watching, no restart throttle.
 */
export function fakeServer(name = "fake", overrides: Partial<ServerOptions> = {}): ServerOptions {
  return {
    ...serverOptions({ name, command: name, watch: [] }),
    extensions: [],
    ignore: [],
    debounceMs: 10,
    graceMs: 200,
    initTimeoutMs: 2000,
    minRestartIntervalMs: 0,
    ...overrides,
  };
}

/** A router on a fake runtime, reading the fake client's stdin. */
export interface StartedRouter {
  /** The fake runtime's handles. */
  h: FakeHarness;
  /** The router under test. */
  router: Router;
  /** Closes the client's stdin and waits for the router to stop everything. */
  close(): Promise<void>;
}

/** Starts a router over `servers` on a fake runtime running `handles` (debug logging). */
export function startRouter(
  handles: Handler[] | Record<string, Handler>,
  servers: ServerOptions[],
  options: { gateway?: GatewayOptions; clock?: Clock; env?: Record<string, string> } = {},
): StartedRouter {
  const h = fakeRuntime(handles, { clock: options.clock, env: options.env });
  const log = new Logger(h.runtime, { level: "debug", timestamps: false });
  const router = new Router(h.runtime, log, servers, options);
  router.start();
  // As `mcpmon` reads its client (src/run.ts): lines as bytes.
  const loop = readClientLines(h.runtime.stdin, (line) => router.handleClientBytes(line));
  return {
    h,
    router,
    async close() {
      h.clientClose();
      await loop;
      const closed = router.close({ drain: true });
      await (options.clock instanceof ManualClock
        ? options.clock.runUntil(closed)
        : within(closed, "the router to close", DEFAULT_WAIT_MS));
    },
  };
}

/** The `initialize` params the unit specs send. */
export const INIT_PARAMS = {
  protocolVersion: "2025-06-18",
  capabilities: {},
  clientInfo: { name: "spec-client", version: "1.0.0" },
};

/**
 * Initializes the fake client's session (`initialize`, then
 * `notifications/initialized` unless `initialized` is false); resolves with
 * the `initialize` response.
 */
export async function initializeClient(h: FakeHarness, initialized = true): Promise<Msg> {
  h.clientSend({ jsonrpc: "2.0", id: "init", method: "initialize", params: INIT_PARAMS });
  const response = await h.clientWaitFor((m) => m.id === "init");
  if (initialized) h.clientSend({ jsonrpc: "2.0", method: "notifications/initialized" });
  return response;
}
