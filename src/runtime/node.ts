/**
 * The Node (>= 20) and Bun implementation of {@linkcode Runtime}, built on
 * `node:` builtins only. The npm package (`scripts/build_npm.ts`) runs mcpmon
 * with it; nothing here refers to `Deno`.
 *
 * - Children are started by `node:child_process` `spawn` with
 *   `detached: true`: each runs in a new session and process group
 *   (pgid = pid), so `process.kill(-pid, signal)` reaches the server and
 *   everything it started.
 * - stdio is exposed as web streams with backpressure both ways: a reader that
 *   falls behind pauses the Node stream ({@linkcode readableFromNode}), and a
 *   write resolves only once the Node stream has taken the bytes
 *   ({@linkcode writableFromNode}).
 * - Watching is one non-recursive `fs.watch(dir)` per directory (never
 *   Node 20's recursive mode, which on Linux stops reporting a file after an
 *   atomic save and watches every ignored subdirectory); Node's
 *   `rename`/`change` events and relative file names become
 *   {@linkcode FsEvent}s with absolute paths (a `rename` is a `create` when
 *   the path exists afterwards, else a `remove`).
 * - stderr is written with `fs.writeSync(2, …)`, retrying on `EAGAIN` (a
 *   non-blocking stderr pipe that is full), so log lines are never
 *   interleaved and nothing is lost on exit.
 *
 * Bun 1.4 runs this module unchanged: process groups (`detached` → setsid),
 * `process.kill(-pid)`, `fs.watch` of a directory (names relative to it, its
 * own removal as a rename of its name) and the stream adapters behave as
 * on Node; `tests/runtime_node_test.ts` checks both. The differences, handled
 * here:
 *
 * - Bun's `spawn` throws at once for some failures (`ENOEXEC`: a file that is
 *   not a program), where Node reports every failure as an `'error'` event
 *   and leaves `pid` undefined (and runs a file that is not a program through
 *   `/bin/sh`); `spawn` turns both into one thrown `Error`.
 * - Bun reports a rename as the removal of the old name, then the creation of
 *   the new one; Node the other way round. Both arrive as `remove`/`create`.
 * - On Bun, a gathered write (`DIRECT_WRITEV`: a long line's chunks) is written
 *   chunk by chunk, each once the stream took the one before; Node's writev
 *   takes the chunks as they are, at once ({@linkcode writableFromNode}'s `paced`).
 *
 * @module
 */
import { type ChildProcess as NodeChildProcess, spawn as spawnProcess } from "node:child_process";
import {
  accessSync,
  appendFileSync,
  constants as fsConstants,
  existsSync,
  type FSWatcher,
  readdirSync,
  readFileSync,
  statSync,
  watch as watchPath,
  writeSync,
} from "node:fs";
import { delimiter, join, resolve } from "node:path";
import process from "node:process";
import { isatty } from "node:tty";
import { nodeFileQueries, type NodeFsQueries } from "./files.ts";
import type { Readable, Writable } from "node:stream";
import type {
  ChildProcess,
  ExitStatus,
  FsWatch,
  HostSignal,
  HttpHandler,
  HttpListenOptions,
  HttpServer,
  KillSignal,
  Runtime,
  SpawnOptions,
} from "./mod.ts";
import {
  DIRECT_READ,
  DIRECT_SEND,
  DIRECT_WRITE,
  DIRECT_WRITEV,
  type DirectReadable,
  type DirectWritable,
  FsEventQueue,
  sendEach,
  signalGroup,
  watchdogCommand,
} from "./mod.ts";

/**
 * Chunks a {@linkcode readableFromNode} stream queues before pausing its
 * source: none beyond the reads waiting (the source is only read once a reader
 * asks, so that {@linkcode DIRECT_READ} can take it over untouched).
 */
const READ_HIGH_WATER_MARK = 0;

/**
 * Wraps a Node `Readable` (a socket, a pipe, `process.stdin`) as a web
 * `ReadableStream` of bytes. The Node stream is paused whenever the web
 * stream's queue is full and resumed when its reader asks for more, so a slow
 * reader slows the writer at the other end of the pipe (backpressure).
 * Chunks are plain `Uint8Array` views (not `Buffer`s); cancelling destroys
 * the Node stream.
 *
 * @example
 * ```ts
 * import { Readable } from "node:stream";
 * const stream = readableFromNode(Readable.from([new TextEncoder().encode("hi\n")]));
 * const text = await new Response(stream).text(); // "hi\n"
 * ```
 *
 * @param source The Node stream to read from (bytes or strings).
 * @returns A web stream that ends when `source` ends or closes, and errors when it errors.
 */
export function readableFromNode(source: Readable): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const bytes = (chunk: Uint8Array | string) =>
    typeof chunk === "string"
      ? encoder.encode(chunk)
      : new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  let settled = false;
  /** True once the source is read, through the web stream or directly. */
  let reading = false;
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const stream: DirectReadable = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
      const end = () => {
        if (settled) return;
        settled = true;
        controller.close();
      };
      source.once("end", end);
      source.once("close", end);
      source.on("error", (err: unknown) => {
        if (settled) return;
        settled = true;
        controller.error(err);
      });
    },
    pull() {
      if (!reading) {
        // The first read: flow from now on, pausing whenever a chunk finds no read waiting.
        reading = true;
        source.on("data", (chunk: Uint8Array | string) => {
          if (settled) return;
          controller.enqueue(bytes(chunk));
          if ((controller.desiredSize ?? 0) < 0) source.pause();
        });
      }
      if (!settled && source.isPaused()) source.resume();
    },
    cancel() {
      settled = true;
      source.destroy();
    },
  }, new CountQueuingStrategy({ highWaterMark: READ_HIGH_WATER_MARK }));
  stream[DIRECT_READ] = (onChunk) => {
    if (reading || stream.locked) return undefined;
    reading = true;
    const reader = stream.getReader(); // locked: nobody else reads it
    return new Promise<void>((resolve, reject) => {
      let done = false;
      const finish = (err?: unknown) => {
        if (done) return;
        done = true;
        source.off("data", onData);
        reader.releaseLock();
        if (err === undefined) resolve();
        else reject(err);
      };
      const onData = (chunk: Uint8Array | string) => {
        if (done) return;
        let wait: void | Promise<void>;
        try {
          wait = onChunk(bytes(chunk));
        } catch (err) {
          finish(err);
          return;
        }
        if (wait) {
          source.pause();
          wait.then(() => {
            if (!done) source.resume();
          }, finish);
        }
      };
      source.on("data", onData);
      source.once("end", () => finish());
      source.once("close", () => finish());
      source.once("error", (err: unknown) => finish(err));
    });
  };
  return stream;
}

/** True under Bun (which runs this module as Node does). */
const IS_BUN = typeof (process.versions as Record<string, string | undefined>).bun === "string";

/**
 * Wraps a Node `Writable` (a child's stdin, `process.stdout`) as a web
 * `WritableStream` of bytes. Each write resolves once the Node stream has
 * taken the chunk (its write callback ran: the bytes reached the kernel), so
 * a consumer that does not read makes the writer wait instead of buffering
 * without bound, and nothing written is left in memory when the process
 * exits. A write after the stream failed rejects with the failure (such as
 * `EPIPE` when the reader went away). Closing ends the Node stream.
 *
 * @example
 * ```ts
 * import { Writable } from "node:stream";
 * const seen: string[] = [];
 * const sink = new Writable({
 *   write: (chunk, _encoding, done) => (seen.push(String(chunk)), done()),
 * });
 * const writer = writableFromNode(sink).getWriter();
 * await writer.write(new TextEncoder().encode("hello"));
 * await writer.close(); // seen: ["hello"]
 * ```
 *
 * @param target The Node stream to write to.
 * @param options `paced`: a gathered write (`DIRECT_WRITEV`) hands the stream
 *   its chunks one at a time, the next once the stream took the one before
 *   (default: under Bun only; else they are written corked, as one writev).
 *   Bun's stream copies what the pipe cannot take at once into a buffer of
 *   its own: handed a 4 MB line at once (its chunks corked, or copied into
 *   one buffer), that is 4 MB of fresh memory per line, and page faults;
 *   paced, it holds one chunk at most. Measured on Bun against one copied
 *   write, per 4 MB result: ~0.8 ms less CPU and ~40% fewer page faults with
 *   a fast client, about even in `deno task bench`; ~20 MB less peak RSS.
 * @returns A web stream whose writes complete when `target` has taken each chunk.
 */
export function writableFromNode(
  target: Writable,
  options: { paced?: boolean } = {},
): WritableStream<Uint8Array> {
  const paced = options.paced ?? IS_BUN;
  let failure: unknown;
  // Without a listener, an 'error' event (EPIPE) would crash the process.
  target.on("error", (err: unknown) => {
    failure ??= err;
  });
  const closedError = () => failure ?? new Error("the stream is closed");
  const write = (chunk: Uint8Array) =>
    new Promise<void>((resolve, reject) => {
      if (failure !== undefined || target.destroyed || target.writableEnded) {
        reject(closedError());
        return;
      }
      target.write(chunk, (err?: Error | null) => {
        if (err) {
          failure ??= err;
          reject(err);
        } else {
          resolve();
        }
      });
    });
  const stream: DirectWritable = new WritableStream<Uint8Array>({
    write,
    close() {
      return new Promise<void>((resolve) => {
        if (target.destroyed || target.writableEnded) {
          resolve();
          return;
        }
        target.end(() => resolve());
      });
    },
    abort() {
      target.destroy();
    },
  });
  stream[DIRECT_WRITE] = write;
  // FrameWriter's hot path: Node's own write callback, no promise per write (an error also
  // reaches the 'error' listener above, which records it for later writes).
  const send = (chunk: Uint8Array, done: (error?: unknown) => void) => {
    if (failure !== undefined || target.destroyed || target.writableEnded) done(closedError());
    else target.write(chunk, done);
  };
  stream[DIRECT_SEND] = send;
  // Paced: through `send`, recording a failure for the writes after it as a promised write does.
  const sendPaced = sendEach((chunk, done) =>
    send(chunk, (err?: unknown) => {
      if (err) failure ??= err;
      done(err);
    })
  );
  // Corked, the chunks go out as one writev (one JS round trip, not one per chunk). Paced, one
  // at a time (see `options.paced`); nothing else writes meanwhile (the caller holds the writer).
  stream[DIRECT_WRITEV] = (chunks) => {
    if (failure !== undefined || target.destroyed || target.writableEnded) {
      return Promise.reject(closedError());
    }
    if (paced) return sendPaced(chunks);
    return new Promise<void>((resolve, reject) => {
      target.cork();
      for (let i = 0; i < chunks.length - 1; i++) target.write(chunks[i]);
      target.write(chunks[chunks.length - 1], (err?: Error | null) => {
        if (err) {
          failure ??= err;
          reject(err);
        } else resolve();
      });
      target.uncork();
    });
  };
  return stream;
}

/** Blocks the thread for `ms` milliseconds (for retrying a write to a full pipe). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Longest time {@linkcode nodeRuntime}'s `writeStderr` waits for a full stderr pipe. */
const STDERR_WAIT_MS = 10_000;

function writeStderr(data: Uint8Array): void {
  let offset = 0;
  let waited = 0;
  while (offset < data.length) {
    try {
      offset += writeSync(2, data, offset, data.length - offset);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === "EINTR") continue;
      if (code === "EAGAIN" && waited < STDERR_WAIT_MS) {
        // stderr is a non-blocking pipe that is full: wait for the reader.
        const ms = Math.min(1 + (waited >> 4), 50);
        sleepSync(ms);
        waited += ms;
        continue;
      }
      return; // stderr is closed, or its reader is stuck: nowhere left to report to
    }
  }
}

/** Why `command` could not be started, for the error thrown by `spawn`. */
function spawnFailure(options: SpawnOptions, env: Record<string, string | undefined>): string {
  if (options.cwd !== undefined && !isDirectory(options.cwd)) {
    return `ENOENT: working directory ${options.cwd} does not exist`;
  }
  const command = options.command;
  const candidates = command.includes("/")
    ? [resolve(options.cwd ?? process.cwd(), command)]
    : (env.PATH ?? "").split(delimiter).filter((d) => d !== "").map((d) => join(d, command));
  const found = candidates.find((c) => existsSync(c));
  if (found === undefined) {
    return command.includes("/")
      ? `ENOENT: ${command}: no such file`
      : `ENOENT: ${command}: command not found on PATH`;
  }
  return `EACCES: ${found}: permission denied (not an executable file?)`;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Starts the watchdog of the process group `pgid` (see `watchdogCommand`); never keeps mcpmon alive. */
function startWatchdog(pgid: number, graceMs: number): NodeChildProcess | undefined {
  const { command, args } = watchdogCommand(pgid, graceMs);
  try {
    const watchdog = spawnProcess(command, args, {
      stdio: ["pipe", "ignore", "ignore"],
      detached: true,
    });
    watchdog.on("error", () => {});
    watchdog.stdin?.on("error", () => {});
    watchdog.unref();
    (watchdog.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    return watchdog;
  } catch {
    return undefined; // no sh: the child runs without a watchdog
  }
}

function spawn(options: SpawnOptions): ChildProcess {
  const env = options.env ? { ...process.env, ...options.env } : process.env;
  let child: NodeChildProcess;
  try {
    child = spawnProcess(options.command, [...options.args], {
      cwd: options.cwd,
      env,
      stdio: ["pipe", "pipe", "pipe"],
      detached: true, // setsid(): a new session and process group, pgid = pid
      windowsHide: true,
    });
  } catch (err) {
    // Bun throws some failures at once (ENOEXEC: a file that is not a program).
    const { code, message } = err as { code?: string; message?: string };
    throw new Error(`spawn ${options.command} failed: ${code ?? "error"}: ${message ?? err}`);
  }
  // Node (and Bun, mostly) report a failed spawn as an 'error' event on the
  // next tick, which crashes the process when nobody listens; the missing pid
  // tells at once.
  child.on("error", () => {});
  const pid = child.pid;
  if (pid === undefined) {
    child.stdin?.destroy();
    child.stdout?.destroy();
    child.stderr?.destroy();
    throw new Error(`spawn ${options.command} failed: ${spawnFailure(options, env)}`);
  }
  const watchdog = options.watchdogGraceMs === undefined
    ? undefined
    : startWatchdog(pid, options.watchdogGraceMs);
  let done = false;
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once("exit", (code: number | null, signal: string | null) => {
      done = true;
      watchdog?.kill("SIGKILL");
      resolve({ code: signal ? null : code, signal: signal ?? null });
    });
  });
  return {
    pid,
    stdin: writableFromNode(child.stdin!),
    stdout: readableFromNode(child.stdout!),
    stderr: readableFromNode(child.stderr!),
    exited,
    killGroup(signal: KillSignal) {
      signalGroup((target, sig) => process.kill(target, sig), pid, signal, () => !done);
    },
  };
}

function watch(): FsWatch {
  const queue = new FsEventQueue();
  const watchers = new Map<string, FSWatcher>();
  const remove = (dir: string) => {
    const watcher = watchers.get(dir);
    if (!watcher) return;
    watchers.delete(dir);
    try {
      watcher.close();
    } catch { /* already closed */ }
  };
  return {
    [Symbol.asyncIterator]: () => queue[Symbol.asyncIterator](),
    get size() {
      return watchers.size;
    },
    add(dir: string) {
      if (queue.closed || watchers.has(dir)) return;
      if (!statSync(dir).isDirectory()) {
        throw Object.assign(new Error(`ENOTDIR: not a directory: ${dir}`), { code: "ENOTDIR" });
      }
      // One inotify watch on the directory (libuv shares one inotify
      // instance per process). Node names the entry relative to `dir`; the
      // directory's own removal comes as a rename of its own name.
      const watcher = watchPath(dir, (type, filename) => {
        if (queue.closed) return;
        const name = filename === null || filename === undefined ? "" : String(filename);
        if (!existsSync(dir)) {
          remove(dir);
          queue.push({ kind: "remove", paths: [dir] });
          return;
        }
        if (name === "") {
          queue.push({ kind: "other", paths: [dir] });
          return;
        }
        const abs = resolve(dir, name);
        // A rename is a creation when the path exists now, a removal when not.
        const kind = type === "change" ? "modify" : existsSync(abs) ? "create" : "remove";
        queue.push({ kind, paths: [abs] });
      });
      watcher.on("error", (err: unknown) => {
        remove(dir);
        if (existsSync(dir)) queue.fail(err);
        else queue.push({ kind: "remove", paths: [dir] });
      });
      watchers.set(dir, watcher);
    },
    remove,
    close() {
      for (const dir of [...watchers.keys()]) remove(dir);
      queue.close();
    },
  };
}

let stdinStream: ReadableStream<Uint8Array> | undefined;
let stdoutStream: WritableStream<Uint8Array> | undefined;

/**
 * `Runtime.serve` on `node:http` (Node and Bun), with `@hono/node-server`'s
 * request listener adapting Node's request and response to web ones (the
 * request's `signal` aborts when the client goes away). Both are loaded on
 * first use: stdio mode never needs them.
 */
async function serve(options: HttpListenOptions, handler: HttpHandler): Promise<HttpServer> {
  const [{ createServer }, { getRequestListener }] = await Promise.all([
    import("node:http"),
    import("@hono/node-server"),
  ]);
  const server = createServer(
    getRequestListener((request) => handler(request), {
      overrideGlobalObjects: false,
      errorHandler: (err) => {
        writeStderr(
          new TextEncoder().encode(
            `HTTP handler failed: ${err instanceof Error ? err.stack : err}\n`,
          ),
        );
        return new Response("Internal Server Error", { status: 500 });
      },
    }),
  );
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  return {
    hostname: options.hostname,
    port: typeof address === "object" && address !== null ? address.port : options.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * The runtime for Node (>= 20) and Bun: `name` is `"bun"` under Bun, else
 * `"node"`. `args` is `process.argv` after the script.
 *
 * @example
 * ```ts ignore
 * import { main } from "../cli.ts";
 * import { nodeRuntime } from "./node.ts";
 * nodeRuntime.exit(await main(nodeRuntime));
 * ```
 */
export const nodeRuntime: Runtime = {
  name: IS_BUN ? "bun" : "node",
  args: process.argv.slice(2),
  get stdin() {
    return stdinStream ??= readableFromNode(process.stdin);
  },
  get stdout() {
    return stdoutStream ??= writableFromNode(process.stdout);
  },
  writeStderr,
  spawn,
  watch,
  onUncaughtError(handler: (error: unknown) => void) {
    process.on("uncaughtException", (error: unknown) => handler(error));
    process.on("unhandledRejection", (reason: unknown) => handler(reason));
  },
  onSignal(signal: HostSignal, handler: () => void) {
    const listener = () => handler();
    process.on(signal, listener);
    return () => {
      process.off(signal, listener);
    };
  },
  env: (name: string) => process.env[name],
  cwd: () => process.cwd(),
  files: nodeFileQueries(() => ({
    accessSync,
    constants: fsConstants,
    readdirSync,
    readFileSync,
    statSync,
  } as NodeFsQueries)),
  pid: process.pid,
  stdinIsTerminal: () => isatty(0),
  serve,
  appendFile(path: string, text: string) {
    appendFileSync(path, text);
  },
  exit: (code: number): never => process.exit(code),
};
