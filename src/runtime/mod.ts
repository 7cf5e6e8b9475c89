/**
 * The Runtime interface: everything mcpmon needs from the host runtime.
 *
 * The core (router, backends, watcher, CLI) is written against this interface
 * and web streams only. `src/runtime/deno.ts` implements it with `Deno.*`;
 * the npm build swaps in `src/runtime/node.ts` (Node and Bun). Tests can pass
 * a fake.
 *
 * @module
 */

/** How a child process ended. */
export interface ExitStatus {
  /** Exit code, or `null` when the process was ended by a signal. */
  code: number | null;
  /** Signal name (e.g. `"SIGTERM"`) when the process was ended by a signal. */
  signal: string | null;
  /**
   * Why it ended, when there was no process to exit: a server reached over
   * HTTP without a command whose connection was lost (`src/http_backend.ts`).
   */
  reason?: string;
}

/** Signals mcpmon sends to a child's process group. */
export type KillSignal = "SIGTERM" | "SIGKILL";

/** Signals mcpmon listens for. */
export type HostSignal = "SIGINT" | "SIGTERM" | "SIGHUP" | "SIGUSR2";

/** What to start. */
export interface SpawnOptions {
  /** The program to run (looked up on `PATH`). */
  command: string;
  /** Its arguments. */
  args: readonly string[];
  /** Working directory; the current one when absent. */
  cwd?: string;
  /** Variables added to (and overriding) mcpmon's own environment. */
  env?: Record<string, string>;
  /**
   * Starts a watchdog ({@linkcode watchdogCommand}) that stops the child's
   * process group if mcpmon dies without stopping it; the value is the grace
   * between its SIGTERM and SIGKILL, in ms.
   */
  watchdogGraceMs?: number;
  /**
   * The server speaks Streamable HTTP at this URL: the child's stdin and
   * stdout carry its messages over HTTP (`src/http_backend.ts`, whose
   * `withHttpBackends` wraps a runtime's `spawn` for this), and `command`,
   * when not empty, is the process that serves it.
   */
  http?: {
    /** The MCP endpoint, an `http:` or `https:` URL. */
    url: string;
    /** How long requests wait for the port to accept connections at first, in ms. */
    connectTimeoutMs: number;
    /** The largest message accepted from the server, in bytes. */
    maxMessageBytes?: number;
    /** Headers sent with every request (credentials: never shown in logs or errors). */
    headers?: Record<string, string>;
  };
}

/**
 * The command of a child's watchdog: a shell that waits for end of file on
 * its stdin, a pipe whose only writer is mcpmon, then stops the child's
 * process group (SIGTERM, SIGKILL `graceMs` later). The pipe ends when
 * mcpmon ends, however it ends (even by SIGKILL, which leaves no chance to
 * clean up), so a server that ignores its own stdin's end and SIGTERM still
 * does not outlive mcpmon. When the child ends normally, mcpmon kills the
 * watchdog first. It polls nothing and costs one idle `sh` per server.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const { command, args } = watchdogCommand(4242, 2000);
 * assert.equal(command, "sh");
 * assert.deepEqual(args.slice(-2), ["4242", "2"]);
 * ```
 */
export function watchdogCommand(
  pgid: number,
  graceMs: number,
): { command: string; args: string[] } {
  // `kill -s SIG -- -PGID`: the form POSIX sh (dash included) takes for a process group.
  const script = 'read -r _ || :; kill -s TERM -- "-$1" 2>/dev/null || exit 0; ' +
    'sleep "$2"; kill -s KILL -- "-$1" 2>/dev/null; exit 0';
  return {
    command: "sh",
    args: [
      "-c",
      script,
      "mcpmon-watchdog",
      String(pgid),
      String(Math.max(1, Math.ceil(graceMs / 1000))),
    ],
  };
}

/** A child process running in its own process group, with piped stdio. */
export interface ChildProcess {
  /** The child's pid, which is also its process group id. */
  readonly pid: number;
  /** The child's stdin. */
  readonly stdin: WritableStream<Uint8Array>;
  /** The child's stdout. */
  readonly stdout: ReadableStream<Uint8Array>;
  /** The child's stderr. */
  readonly stderr: ReadableStream<Uint8Array>;
  /** Resolves once the child has exited. Never rejects. */
  readonly exited: Promise<ExitStatus>;
  /**
   * Sends `signal` to the child's whole process group. Does nothing (and does
   * not throw) when the group is already gone.
   */
  killGroup(signal: KillSignal): void;
}

/** One file system change. */
export interface FsEvent {
  /** What happened. */
  kind: "create" | "modify" | "remove" | "rename" | "other";
  /** Absolute paths involved. */
  paths: string[];
}

/**
 * A non-recursive watch over a set of directories that can grow and shrink
 * while it runs: each watched directory reports changes to its direct
 * entries (files and subdirectories created, modified, removed or renamed),
 * with absolute paths. A watched directory that is itself removed is
 * reported as a `remove` of its own path (and stops being watched). Watching
 * directories, not files, is what survives an editor's atomic save
 * (write a temporary file, rename it over the original): the directory sees
 * the rename where a watch on the old file would go silent.
 *
 * Walking a tree, adding its subdirectories and filtering events is the
 * caller's job ({@linkcode Watcher} in `src/watcher.ts`), so ignored trees
 * such as `node_modules` are never watched at all.
 */
export interface FsWatch extends AsyncIterable<FsEvent> {
  /**
   * Starts watching the direct entries of the directory `dir` (an absolute
   * path). Adding a directory already watched does nothing. Throws when it
   * cannot be watched (it does not exist, is not a directory, or the
   * system's watch limit is reached).
   */
  add(dir: string): void;
  /** Stops watching `dir`; nothing happens when it is not watched. */
  remove(dir: string): void;
  /** How many directories are watched now. */
  readonly size: number;
  /** Stops watching everything; the iteration ends. */
  close(): void;
}

/**
 * A clock: the time now and timers. The runtimes give the real one; tests
 * pass a manual clock so time-dependent logic runs in virtual time.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` after `ms` milliseconds; returns a handle for {@linkcode Clock.clearTimeout}. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancels a timer; unknown or fired handles are ignored. */
  clearTimeout(handle: unknown): void;
}

/**
 * The real clock (`Date.now` and the global timers).
 *
 * @example
 * ```ts
 * const start = systemClock.now();
 * const handle = systemClock.setTimeout(() => {}, 10);
 * systemClock.clearTimeout(handle);
 * ```
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Where {@linkcode Runtime.serve} listens. */
export interface HttpListenOptions {
  /** The address to bind (`127.0.0.1`, `::1`, `0.0.0.0`, a host name). */
  hostname: string;
  /** The TCP port; 0 picks a free one (see {@linkcode HttpServer.port}). */
  port: number;
}

/** A listening HTTP server made by {@linkcode Runtime.serve}. */
export interface HttpServer {
  /** The bound address, as given. */
  readonly hostname: string;
  /** The bound port (the one picked when 0 was asked). */
  readonly port: number;
  /**
   * Stops listening and ends the open connections (responses still
   * streaming are cut); resolves once the server is closed.
   */
  close(): Promise<void>;
}

/**
 * Handles one HTTP request (web `Request` in, web `Response` out). When the
 * client goes away, a streamed response's body is cancelled (every
 * runtime), and the request's `signal` aborts (Node and Bun; never on Deno).
 */
export type HttpHandler = (request: Request) => Promise<Response>;

/**
 * The few synchronous questions about files mcpmon asks before its server is spawned: is the
 * command there and executable, do the watch paths exist, what is the project's `package.json`.
 * Deno answers them with its own API (`node:fs` costs it 10–20 ms to load); `files.ts` has the
 * `node:fs` answers.
 */
export interface FileQueries {
  /** What is at `path` (links followed); undefined when nothing is, or it cannot be seen. */
  kind(path: string): "file" | "directory" | "other" | undefined;
  /** Whether mcpmon may run the file at `path`. */
  executable(path: string): boolean;
  /** The names in the directory `path`; throws when it cannot be read. */
  readDir(path: string): string[];
  /** The text of the file at `path`; throws when it cannot be read. */
  readText(path: string): string;
}

/** The host runtime, as mcpmon sees it. */
export interface Runtime {
  /** Short name of the runtime: `"deno"`, `"node"` or `"bun"`. */
  readonly name: string;
  /**
   * The runtime's version and the platform, as Node spells them (`{ version: "2.9.6", platform:
   * "linux", arch: "x64" }`), for mcpmon's first log line; when absent, they are read from the
   * `process` global.
   */
  readonly host?: { version: string; platform: string; arch: string };
  /** The command line after the program name. */
  readonly args: readonly string[];
  /** mcpmon's stdin (the client's messages). */
  readonly stdin: ReadableStream<Uint8Array>;
  /** mcpmon's stdout (the protocol: only JSON-RPC goes here). */
  readonly stdout: WritableStream<Uint8Array>;
  /** Writes to mcpmon's stderr (logs). Synchronous, so nothing is lost on exit. */
  writeStderr(data: Uint8Array): void;
  /** Starts a child in a new process group. Throws when it cannot be started. */
  spawn(options: SpawnOptions): ChildProcess;
  /** Starts an empty non-recursive directory watch; see {@linkcode FsWatch}. */
  watch(): FsWatch;
  /**
   * Calls `handler` with any error nothing else caught (an uncaught exception
   * or unhandled rejection) instead of crashing, so mcpmon can stop its
   * servers before it exits.
   */
  onUncaughtError(handler: (error: unknown) => void): void;
  /** Calls `handler` on `signal`; returns a function that removes it. */
  onSignal(signal: HostSignal, handler: () => void): () => void;
  /** Reads an environment variable. */
  env(name: string): string | undefined;
  /** The current working directory. */
  cwd(): string;
  /** Answers about files before the server starts; default: `node:fs`'s (`files.ts`). */
  readonly files?: FileQueries;
  /** mcpmon's own pid. */
  readonly pid: number;
  /** Whether mcpmon's stdin is a terminal (a person typing, not an MCP client). */
  stdinIsTerminal(): boolean;
  /**
   * The clock for timers that tests control (restart pacing, backoff,
   * debounce); the real one ({@linkcode systemClock}) when absent.
   */
  readonly clock?: Clock;
  /**
   * Serves HTTP on `options.hostname`:`options.port` with the runtime's own
   * server (`Deno.serve`; `node:http` on Node and Bun), calling `handler` for
   * every request. Resolves once listening; rejects when it cannot bind, with
   * an error whose `code` is the system's (`EADDRINUSE`, `EACCES`,
   * `EADDRNOTAVAIL`, …). Absent in runtimes that cannot serve (test fakes).
   */
  serve?(options: HttpListenOptions, handler: HttpHandler): Promise<HttpServer>;
  /** Appends text to a file, creating it (for `--log-file`). Synchronous. */
  appendFile(path: string, text: string): void;
  /** Ends mcpmon with `code`. */
  exit(code: number): never;
}

/**
 * Sends `signal` to the process group led by `pid` with the runtime's `kill`
 * (which takes a negative pid for a group). If the group is gone but the
 * leader still runs (it left its group), the leader gets the signal; if both
 * are gone, nothing happens.
 *
 * @example
 * ```ts
 * const sent: number[] = [];
 * signalGroup((pid) => void sent.push(pid), 42, "SIGTERM", () => true);
 * // sent: [-42]
 * ```
 */
export function signalGroup(
  kill: (pid: number, signal: KillSignal) => void,
  pid: number,
  signal: KillSignal,
  leaderRunning: () => boolean,
): void {
  try {
    kill(-pid, signal);
  } catch {
    if (!leaderRunning()) return;
    try {
      kill(pid, signal);
    } catch { /* already gone */ }
  }
}

/**
 * Resolves after `ms` milliseconds on `clock`, or as soon as `signal`
 * aborts; the timer is cleared either way, so it never keeps the process
 * alive past its use.
 *
 * @example
 * ```ts
 * const done = new AbortController();
 * const waiting = delay(60_000, done.signal);
 * done.abort(); // resolves now
 * await waiting;
 * ```
 */
export function delay(ms: number, signal?: AbortSignal, clock: Clock = systemClock): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = clock.setTimeout(done, ms);
    function done() {
      clock.clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * Stops `child`'s process group: SIGTERM, then SIGKILL if it has not exited
 * within `graceMs` on `clock`. Resolves once it exited or SIGKILL was sent,
 * with whether SIGKILL was needed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const sent: string[] = [];
 * let exit = () => {};
 * const child = {
 *   exited: new Promise<void>((resolve) => exit = resolve),
 *   killGroup: (signal: "SIGTERM" | "SIGKILL") => void sent.push(signal),
 * };
 * assert.equal(await terminate(child, 10), true); // it ignored SIGTERM
 * assert.deepEqual(sent, ["SIGTERM", "SIGKILL"]);
 * exit();
 * ```
 */
export async function terminate(
  child: Pick<ChildProcess, "killGroup"> & { readonly exited: Promise<unknown> },
  graceMs: number,
  clock: Clock = systemClock,
): Promise<boolean> {
  child.killGroup("SIGTERM");
  const timeout = new AbortController();
  const exited = await Promise.race([
    child.exited.then(() => true),
    delay(graceMs, timeout.signal, clock).then(() => false),
  ]);
  timeout.abort();
  if (!exited) child.killGroup("SIGKILL");
  return !exited;
}

/**
 * A {@linkcode DIRECT_WRITEV} hook made of a {@linkcode DIRECT_SEND} one: the
 * chunks sent one after the other, as they are, each once `send` said it took
 * the one before; the first error stops it and rejects. A `send` that calls
 * back before it returns (Bun's pipes, when they take the chunk at once) goes
 * on in a loop, not one stack frame deeper per chunk. Used where copying the
 * chunks into one buffer first costs more than it saves: a pipe takes at most
 * 64 KiB per write whatever it is handed (Deno: a child's stdin; Node
 * streams under Bun, see `writableFromNode`'s `paced`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const sent: string[] = [];
 * const writev = sendEach((chunk, done) => (sent.push(new TextDecoder().decode(chunk)), done()));
 * await writev([new TextEncoder().encode("a"), new TextEncoder().encode("b\n")]);
 * assert.deepEqual(sent, ["a", "b\n"]);
 * ```
 */
export function sendEach(
  send: (chunk: Uint8Array, done: (error?: unknown) => void) => void,
): (chunks: readonly Uint8Array[]) => Promise<void> {
  return (chunks) =>
    new Promise((resolve, reject) => {
      let i = 0;
      /** Inside `send`: a callback now only says so, and the loop below goes on. */
      let sending = false;
      let tookAtOnce = false;
      const next = (error?: unknown): void => {
        if (error !== undefined && error !== null) return reject(error);
        if (sending) {
          tookAtOnce = true;
          return;
        }
        for (;;) {
          if (i === chunks.length) return resolve();
          sending = true;
          tookAtOnce = false;
          try {
            send(chunks[i++], next);
          } catch (err) {
            return reject(err);
          } finally {
            sending = false;
          }
          if (!tookAtOnce) return; // its callback goes on from there
        }
      };
      next();
    });
}

/**
 * The queue behind an {@linkcode FsWatch}'s iteration, shared by the
 * runtime adapters: events pushed by watch callbacks come out of the
 * iteration in order; a failure ends it with the error; `close()` ends it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const queue = new FsEventQueue();
 * queue.push({ kind: "create", paths: ["/app/a.py"] });
 * queue.close();
 * const seen = [];
 * for await (const event of queue) seen.push(event.kind);
 * assert.deepEqual(seen, ["create"]);
 * ```
 */
export class FsEventQueue implements AsyncIterable<FsEvent> {
  #events: FsEvent[] = [];
  #next = 0;
  #failure: { error: unknown } | undefined;
  #closed = false;
  #wake: (() => void) | undefined;

  /** Whether {@linkcode FsEventQueue.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Adds an event (ignored once closed). */
  push(event: FsEvent): void {
    if (this.#closed) return;
    this.#events.push(event);
    this.#notify();
  }

  /** Ends the iteration with `error` after the events already queued. */
  fail(error: unknown): void {
    if (this.#closed) return;
    this.#failure ??= { error };
    this.#notify();
  }

  /** Ends the iteration after the events already queued. */
  close(): void {
    this.#closed = true;
    this.#notify();
  }

  /** Yields the queued events, then waits for more until closed or failed. */
  async *[Symbol.asyncIterator](): AsyncIterator<FsEvent> {
    while (true) {
      if (this.#next < this.#events.length) {
        const event = this.#events[this.#next++];
        if (this.#next > 1024) {
          this.#events.splice(0, this.#next);
          this.#next = 0;
        }
        yield event;
        continue;
      }
      this.#events.length = 0;
      this.#next = 0;
      if (this.#failure) throw this.#failure.error;
      if (this.#closed) return;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
  }

  #notify() {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

/**
 * The direct-read hook an adapter may put on the readable streams it makes
 * (`src/runtime/node.ts` does, over Node streams): `stream[DIRECT_READ](onChunk)`
 * locks the web stream and hands each chunk straight to `onChunk` (the source
 * paused while a promise it returns is pending), without a web-stream read
 * per chunk; it resolves at the end, rejects on an error, and returns
 * undefined when the web stream was already read. Each chunk has bytes of
 * its own, which the stream never writes again (so lines may be kept as
 * views of it). `readLines` uses it when present.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const stream: DirectReadable = new ReadableStream<Uint8Array>();
 * assert.equal(stream[DIRECT_READ], undefined); // a plain web stream has no hook
 * ```
 */
export const DIRECT_READ: unique symbol = Symbol.for("mcpmon.directRead") as never;

/**
 * The direct-write hook an adapter may put on the writable streams it makes:
 * `stream[DIRECT_WRITE](chunk)` writes like the stream's own sink, without a
 * web-stream write per chunk. `FrameWriter` uses it when present, holding the
 * stream's writer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const stream: DirectWritable = new WritableStream<Uint8Array>();
 * assert.equal(stream[DIRECT_WRITE], undefined); // a plain web stream has no hook
 * ```
 */
export const DIRECT_WRITE: unique symbol = Symbol.for("mcpmon.directWrite") as never;

/**
 * The gathered-write hook an adapter may put next to {@linkcode DIRECT_WRITE}:
 * `stream[DIRECT_WRITEV](chunks)` writes the chunks in order, as one write
 * where the stream can (Node's `writev`) or one after another (Bun), with no
 * other write between them, resolving once all were taken.
 * `FrameWriter` uses it for a message of several large pieces (a long line
 * forwarded as the chunks it came in).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const stream: DirectWritable = new WritableStream<Uint8Array>();
 * assert.equal(stream[DIRECT_WRITEV], undefined); // a plain web stream has no hook
 * ```
 */
export const DIRECT_WRITEV: unique symbol = Symbol.for("mcpmon.directWritev") as never;

/**
 * The callback-write hook an adapter may put next to {@linkcode DIRECT_WRITE}:
 * `stream[DIRECT_SEND](chunk, done)` writes like it, but reports that the
 * stream took the chunk by calling `done()` (`done(error)` when it failed; `null`
 * counts as none) once, instead of
 * settling a promise: no promise and no microtask per write on the hot path.
 * `done` may be called before `DIRECT_SEND` returns. `FrameWriter` prefers it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const stream: DirectWritable = new WritableStream<Uint8Array>();
 * assert.equal(stream[DIRECT_SEND], undefined); // a plain web stream has no hook
 * ```
 */
export const DIRECT_SEND: unique symbol = Symbol.for("mcpmon.directSend") as never;

/** A readable stream that may carry the {@linkcode DIRECT_READ} hook. */
export type DirectReadable = ReadableStream<Uint8Array> & {
  [DIRECT_READ]?: (
    onChunk: (chunk: Uint8Array) => void | Promise<void>,
  ) => Promise<void> | undefined;
};

/** A writable stream that may carry the {@linkcode DIRECT_WRITE} hook. */
export type DirectWritable = WritableStream<Uint8Array> & {
  [DIRECT_WRITE]?: (chunk: Uint8Array) => Promise<void>;
  [DIRECT_WRITEV]?: (chunks: readonly Uint8Array[]) => Promise<void>;
  [DIRECT_SEND]?: (chunk: Uint8Array, done: (error?: unknown) => void) => void;
};
