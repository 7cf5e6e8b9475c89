/**
 * The Deno implementation of {@linkcode Runtime}.
 *
 * Children are started with `detached: true`, which puts each in a new session
 * and process group (pgid = pid), so `Deno.kill(-pid, signal)` reaches the
 * server and everything it started.
 *
 * @module
 */
import type {
  ChildProcess,
  ExitStatus,
  FileQueries,
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
  delay,
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

/** Starts the watchdog of the process group `pgid` (see `watchdogCommand`); never keeps mcpmon alive. */
function startWatchdog(pgid: number, graceMs: number): Deno.ChildProcess | undefined {
  const { command, args } = watchdogCommand(pgid, graceMs);
  try {
    const watchdog = new Deno.Command(command, {
      args,
      stdin: "piped",
      stdout: "null",
      stderr: "null",
      detached: true,
    }).spawn();
    watchdog.unref();
    watchdog.status.catch(() => {});
    return watchdog;
  } catch {
    return undefined; // no sh: the child runs without a watchdog
  }
}

function spawn(options: SpawnOptions): ChildProcess {
  const child = new Deno.Command(options.command, {
    args: [...options.args],
    cwd: options.cwd,
    env: options.env,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    detached: true,
  }).spawn();
  const pid = child.pid;
  const watchdog = options.watchdogGraceMs === undefined
    ? undefined
    : startWatchdog(pid, options.watchdogGraceMs);
  let done = false;
  const ended = () => {
    done = true;
    try {
      watchdog?.kill("SIGKILL");
    } catch { /* gone already */ }
  };
  const exited: Promise<ExitStatus> = child.status.then(
    (s) => {
      ended();
      return { code: s.signal ? null : s.code, signal: s.signal ?? null };
    },
    () => {
      ended();
      return { code: null, signal: null };
    },
  );
  const ops = coreOps();
  return {
    pid,
    stdin: ops ? directPipeWritable(child.stdin, ops) : child.stdin,
    stdout: ops ? directPipeReadable(child.stdout, ops) : child.stdout,
    stderr: child.stderr,
    exited,
    killGroup(signal: KillSignal) {
      signalGroup((target, sig) => Deno.kill(target, sig), pid, signal, () => !done);
    },
  };
}

function watch(): FsWatch {
  const queue = new FsEventQueue();
  const dirs = new Set<string>();
  let current: { watcher: Deno.FsWatcher; done: Promise<void> } | undefined;
  let rebuild: ReturnType<typeof setTimeout> | undefined;
  /** Arms one after the other. */
  let arming: Promise<void> = Promise.resolve();
  /** A directory of the current watcher was removed since it was made. */
  let stale = false;
  /**
   * `Deno.watchFs` takes its paths once, and each call makes an inotify
   * instance of its own (128 per user by default), so one watcher covers
   * every directory and is replaced when the set changes.
   *
   * Normally the new one is made before the old one closes: an event in
   * between may come twice (the caller debounces per path), never not at
   * all. But once a directory of the old watcher was removed, a watcher
   * made while the old one is still open never reports anything (Deno 2.9;
   * `tests/watcher_test.ts` pins it), so the old one is closed, and its end
   * awaited, first.
   */
  const arm = async () => {
    if (queue.closed) return;
    const previous = current;
    if (previous && stale) {
      current = undefined;
      closeQuietly(previous.watcher);
      await previous.done;
    }
    stale = false;
    const paths = [...dirs].filter((dir) => {
      try {
        return Deno.statSync(dir).isDirectory;
      } catch {
        dirs.delete(dir);
        queue.push({ kind: "remove", paths: [dir] });
        return false;
      }
    });
    if (queue.closed) return;
    let next: typeof current;
    if (paths.length > 0) {
      try {
        const watcher = Deno.watchFs(paths, { recursive: false });
        next = { watcher, done: pump(watcher) };
      } catch (err) {
        // A directory removed since the check above: check again on the next turn.
        if (err instanceof Deno.errors.NotFound) schedule();
        else queue.fail(err);
        return;
      }
    }
    if (previous && current === previous) closeQuietly(previous.watcher);
    current = next;
  };
  const pump = async (watcher: Deno.FsWatcher) => {
    try {
      for await (const event of watcher) {
        if (queue.closed) break;
        const kind = event.kind === "create" || event.kind === "modify" ||
            event.kind === "remove" || event.kind === "rename"
          ? event.kind
          : "other";
        for (const path of event.paths) {
          if (kind === "remove" && dirs.has(path)) {
            dirs.delete(path);
            stale = true;
          }
        }
        queue.push({ kind, paths: event.paths });
      }
    } catch (err) {
      if (watcher === current?.watcher) queue.fail(err);
    }
  };
  const schedule = () => {
    rebuild ??= setTimeout(() => {
      rebuild = undefined;
      arming = arming.then(arm).catch((err) => queue.fail(err));
    }, 0);
  };
  return {
    [Symbol.asyncIterator]: () => queue[Symbol.asyncIterator](),
    get size() {
      return dirs.size;
    },
    add(dir: string) {
      if (queue.closed || dirs.has(dir)) return;
      if (!Deno.statSync(dir).isDirectory) {
        throw Object.assign(new Error(`ENOTDIR: not a directory: ${dir}`), { code: "ENOTDIR" });
      }
      dirs.add(dir);
      // The first directory is armed at once; later changes are batched.
      if (current === undefined && rebuild === undefined && dirs.size === 1) {
        arming = arming.then(arm).catch((err) => queue.fail(err));
      } else schedule();
    },
    remove(dir: string) {
      if (dirs.delete(dir)) schedule();
    },
    close() {
      clearTimeout(rebuild);
      rebuild = undefined;
      dirs.clear();
      queue.close();
      if (current) closeQuietly(current.watcher);
      current = undefined;
    },
  };
}

function closeQuietly(watcher: Deno.FsWatcher) {
  try {
    watcher.close();
  } catch { /* already closed */ }
}

/**
 * The read and write ops of Deno's core, which its own streams over a child's
 * pipes call for each chunk. Not public API (Deno 2.9 has no other way to a
 * child's pipes than web streams): `undefined` when this Deno has them not,
 * and the streams are then used as they are.
 */
interface CoreOps {
  /** Reads into `buffer`; resolves with the bytes read, 0 at the end. */
  read(rid: number, buffer: Uint8Array): Promise<number>;
  /** Writes from `buffer`; resolves with the bytes written. */
  write(rid: number, buffer: Uint8Array): Promise<number>;
}

/** Deno's core ops, once looked up (null: not there). */
let cachedOps: CoreOps | null | undefined;

function coreOps(): CoreOps | undefined {
  if (cachedOps === undefined) {
    const deno = Deno as unknown as Record<symbol, { core?: Partial<CoreOps> } | undefined>;
    const internal = (Deno as unknown as { internal?: unknown }).internal;
    const core = typeof internal === "symbol" ? deno[internal]?.core : undefined;
    cachedOps = typeof core?.read === "function" && typeof core.write === "function"
      ? core as CoreOps
      : null;
  }
  return cachedOps ?? undefined;
}

/** The resource id behind a stream Deno made over one (a child's pipe), if it says. */
function backingRid(stream: object): number | undefined {
  for (const key of Object.getOwnPropertySymbols(stream)) {
    if (key.description?.startsWith("[[resourceBacking") !== true) continue;
    const rid = (stream as Record<symbol, { rid?: unknown } | undefined>)[key]?.rid;
    if (typeof rid === "number") return rid;
  }
  return undefined;
}

/** Bytes one direct read of a child's stdout asks for (a pipe holds 64 KiB). */
const PIPE_READ_SIZE = 64 * 1024;

/** A read at least this long hands its buffer over (a fresh one is made); a shorter one is copied. */
const HAND_OVER_MIN = 16 * 1024;

/**
 * A child's stdout with the {@linkcode DIRECT_READ} hook: its pipe read with
 * core ops into one buffer, without the web stream's read, its byte-stream
 * request and their promises per chunk. A short read is handed on as a copy;
 * a long one (a large message) as the buffer itself, and the next read goes
 * to a new one. At the end the stream is cancelled, which closes the pipe
 * as the stream itself does at its end.
 */
function directPipeReadable(
  stream: ReadableStream<Uint8Array>,
  ops: CoreOps,
): ReadableStream<Uint8Array> {
  const rid = backingRid(stream);
  if (rid === undefined) return stream;
  (stream as DirectReadable)[DIRECT_READ] = (onChunk) => {
    if (stream.locked) return undefined;
    const lock = stream.getReader(); // nobody reads it the web way meanwhile
    return (async () => {
      let buffer = new Uint8Array(PIPE_READ_SIZE);
      try {
        for (;;) {
          const n = await ops.read(rid, buffer);
          if (typeof n !== "number" || n <= 0) return; // the end (or an op not as expected)
          let chunk: Uint8Array;
          if (n >= HAND_OVER_MIN) {
            chunk = buffer.subarray(0, n);
            buffer = new Uint8Array(PIPE_READ_SIZE);
          } else chunk = buffer.slice(0, n);
          const wait = onChunk(chunk);
          if (wait) await wait;
        }
      } finally {
        await lock.cancel().catch(() => {});
      }
    })();
  };
  return stream;
}

/**
 * A child's stdin with the {@linkcode DIRECT_WRITE}, {@linkcode DIRECT_SEND}
 * and {@linkcode DIRECT_WRITEV} ({@linkcode sendEach}) hooks: each chunk
 * written to its pipe with core ops until all of it is, without the web
 * stream's queue and promises. Its writer's `close()` still closes the pipe.
 * A gathered write sends the chunks one after the other, as they are: the
 * pipe takes at most 64 KiB per write whatever it is handed, so copying them
 * into one buffer first only adds the copy (measured per 4 MB line of 64 KiB
 * chunks, CPU: one by one 1.0–2.2 ms, copied into a kept buffer 1.5–3.5, into
 * a fresh one 4.1–4.9).
 */
function directPipeWritable(
  stream: WritableStream<Uint8Array>,
  ops: CoreOps,
): WritableStream<Uint8Array> {
  const rid = backingRid(stream);
  if (rid === undefined) return stream;
  const send = sendByOps(ops, rid, "the server's stdin");
  (stream as DirectWritable)[DIRECT_SEND] = send;
  (stream as DirectWritable)[DIRECT_WRITE] = promised(send);
  (stream as DirectWritable)[DIRECT_WRITEV] = sendEach(send);
  return stream;
}

/** The largest buffer {@linkcode sendGathered} keeps: a longer gathered write goes out in pieces of this size. */
export const GATHER_BYTES = 1024 * 1024;

/** The smallest buffer {@linkcode sendGathered} keeps (it grows by doubling, up to {@linkcode GATHER_BYTES}). */
const GATHER_MIN_BYTES = 64 * 1024;

/**
 * The {@linkcode DIRECT_WRITEV} hook of stdout: the chunks copied into one
 * buffer it keeps, and sent, {@linkcode GATHER_BYTES} at most at a time (one
 * write op per piece, not per chunk). Deno writes stdout on a thread of its
 * blocking pool, one hand-over per op, and takes all of a piece at once:
 * measured per 4 MB line of 64 KiB chunks, CPU: a write per chunk 2.5–4.2 ms,
 * copied into a fresh buffer and written once 2.9–3.0, copied into a kept
 * 1 MiB buffer 1.7–2.0 (a kept 4 MiB one 1.5–2.0, 256 KiB 2.3–2.8). The
 * buffer is reused once its write was taken; a gathered write while it is
 * still in flight copies into a buffer of its own.
 */
export function sendGathered(
  send: (chunk: Uint8Array, done: (error?: unknown) => void) => void,
): (chunks: readonly Uint8Array[]) => Promise<void> {
  let kept: Uint8Array | undefined;
  let keptBusy = false;
  return (chunks) =>
    new Promise((resolve, reject) => {
      let total = 0;
      for (const chunk of chunks) total += chunk.length;
      let buffer: Uint8Array;
      const own = keptBusy;
      if (own) buffer = new Uint8Array(Math.min(total, GATHER_BYTES));
      else {
        if (kept === undefined || (kept.length < total && kept.length < GATHER_BYTES)) {
          let size = GATHER_MIN_BYTES;
          while (size < total && size < GATHER_BYTES) size *= 2;
          kept = new Uint8Array(size);
        }
        buffer = kept;
        keptBusy = true;
      }
      let i = 0; // the chunk being copied
      let at = 0; // how much of it is copied
      const next = (error?: unknown): void => {
        const failed = error !== undefined && error !== null;
        let used = 0;
        while (!failed && i < chunks.length && used < buffer.length) {
          const chunk = chunks[i];
          const take = Math.min(chunk.length - at, buffer.length - used);
          buffer.set(
            at === 0 && take === chunk.length ? chunk : chunk.subarray(at, at + take),
            used,
          );
          used += take;
          at += take;
          if (at === chunk.length) {
            i++;
            at = 0;
          }
        }
        if (failed || used === 0) {
          if (!own) keptBusy = false;
          return failed ? reject(error) : resolve();
        }
        try {
          send(buffer.subarray(0, used), next);
        } catch (err) {
          next(err ?? new Error("the write failed"));
        }
      };
      next();
    });
}

/** The {@linkcode DIRECT_WRITE} hook made of a {@linkcode DIRECT_SEND} one: the same write, as a promise. */
function promised(
  send: (chunk: Uint8Array, done: (error?: unknown) => void) => void,
): (chunk: Uint8Array) => Promise<void> {
  return (chunk) =>
    new Promise((resolve, reject) =>
      send(chunk, (error) => error === undefined || error === null ? resolve() : reject(error))
    );
}

/**
 * The {@linkcode DIRECT_SEND} hook over the core write op on `rid`: the op's
 * own promise calls `done` once the whole chunk is written (a short write goes
 * on from where it stopped), with no async function and no promise of its own
 * per write; `done(error)` once when a write fails or takes no bytes (`what`
 * names the target in that error).
 */
export function sendByOps(
  ops: Pick<CoreOps, "write">,
  rid: number,
  what: string,
): (chunk: Uint8Array, done: (error?: unknown) => void) => void {
  const failed = (done: (error?: unknown) => void) => (err: unknown) =>
    done(err ?? new Error(`${what}: the write failed`));
  const send = (chunk: Uint8Array, done: (error?: unknown) => void): void => {
    ops.write(rid, chunk).then((n) => {
      if (typeof n !== "number" || n <= 0) done(new Error(`${what} took no bytes`));
      else if (n < chunk.length) send(chunk.subarray(n), done);
      else done();
    }, failed(done));
  };
  return send;
}

/** The resources of the process's stdin and stdout (Deno opens them first, as 0 and 1). */
const STDIN_RID = 0;
const STDOUT_RID = 1;

/** Bytes one direct read of stdin asks for. */
const STDIN_READ_SIZE = 64 * 1024;

/**
 * `Deno.stdin.readable` with the {@linkcode DIRECT_READ} hook: the core read op
 * on stdin's resource (`Deno.stdin.read` where this Deno has no such op) into
 * one buffer, each chunk handed on as a copy of what arrived (no web-stream
 * read, and its promises, per chunk).
 */
function stdinReadable(): ReadableStream<Uint8Array> {
  const stream: DirectReadable = Deno.stdin.readable;
  stream[DIRECT_READ] ??= (onChunk) => {
    if (stream.locked) return undefined;
    const lock = stream.getReader(); // nobody reads it the web way meanwhile
    const ops = coreOps();
    return (async () => {
      const buffer = new Uint8Array(STDIN_READ_SIZE);
      try {
        for (;;) {
          // The core op itself where this Deno has it (`Deno.stdin.read` is an async function
          // around it: one more promise per read); it answers 0 at the end.
          const n = ops ? await ops.read(STDIN_RID, buffer) : await Deno.stdin.read(buffer);
          if (n === null || (ops && (typeof n !== "number" || n <= 0))) return;
          if (n === 0) continue;
          const wait = onChunk(buffer.slice(0, n));
          if (wait) await wait;
        }
      } finally {
        lock.releaseLock();
      }
    })();
  };
  return stream;
}

/**
 * `Deno.stdout.writable` with the {@linkcode DIRECT_SEND} hook (`sendByOps` on
 * stdout's resource) and the {@linkcode DIRECT_WRITE} hook made of it, where
 * this Deno has core ops; else `Deno.stdout.write` until the whole chunk is
 * written, as {@linkcode DIRECT_WRITE}.
 */
function stdoutWritable(): WritableStream<Uint8Array> {
  const stream: DirectWritable = Deno.stdout.writable;
  // What `Deno.stdout.write` calls (the core write op on its resource), by callback.
  const ops = coreOps();
  if (ops) {
    stream[DIRECT_SEND] ??= sendByOps(ops, STDOUT_RID, "stdout");
    stream[DIRECT_WRITE] ??= promised(stream[DIRECT_SEND]);
    stream[DIRECT_WRITEV] ??= sendGathered(stream[DIRECT_SEND]);
  } else {
    stream[DIRECT_WRITE] ??= async (chunk) => {
      let offset = 0;
      while (offset < chunk.length) offset += await Deno.stdout.write(chunk.subarray(offset));
    };
  }
  return stream;
}

/** The system's name for a bind failure Deno reports by class. */
const BIND_ERROR_CODES: [new (...args: never[]) => Error, string][] = [
  [Deno.errors.AddrInUse, "EADDRINUSE"],
  [Deno.errors.AddrNotAvailable, "EADDRNOTAVAIL"],
  [Deno.errors.PermissionDenied, "EACCES"],
  [Deno.errors.NotCapable, "ENOTCAPABLE"],
];

/**
 * `Runtime.serve` on `Deno.serve`. The handler gets a copy of each request
 * whose `signal` never aborts: Deno 2.9 aborts `request.signal` after every
 * successful response too, and warns on stderr once it was read. A client
 * that goes away is seen by a streamed response (its body is cancelled).
 */
function serve(options: HttpListenOptions, handler: HttpHandler): Promise<HttpServer> {
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      hostname: options.hostname,
      port: options.port,
      onListen: () => {},
      onError: (err) => {
        console.error(`HTTP handler failed: ${err instanceof Error ? err.stack : err}`);
        return new Response("Internal Server Error", { status: 500 });
      },
    }, (request) =>
      handler(
        new Request(request.url, {
          method: request.method,
          headers: request.headers,
          body: request.body,
          // One per request (not one shared), so listeners on it go with the request.
          signal: new AbortController().signal,
          duplex: "half",
        } as RequestInit),
      ));
  } catch (err) {
    const code = BIND_ERROR_CODES.find(([type]) => err instanceof type)?.[1];
    return Promise.reject(code ? Object.assign(err as Error, { code }) : err);
  }
  return Promise.resolve({
    hostname: options.hostname,
    port: server.addr.port,
    async close() {
      // Graceful: in-flight responses finish (the caller ends its streams first); bounded.
      const timeout = new AbortController();
      await Promise.race([server.shutdown(), delay(2000, timeout.signal)]);
      timeout.abort();
    },
  });
}

/** The runtime for `deno run`. */
/**
 * {@linkcode FileQueries} with Deno's own API. Deno has no `access(2)`: a file is taken as
 * executable when any of its execute bits is set (or the platform has no modes); the spawn that
 * follows still says why, when it is not.
 */
const denoFiles: FileQueries = {
  kind(path) {
    try {
      const stat = Deno.statSync(path);
      return stat.isFile ? "file" : stat.isDirectory ? "directory" : "other";
    } catch {
      return undefined;
    }
  },
  executable(path) {
    try {
      const mode = Deno.statSync(path).mode;
      return mode === null || (mode & 0o111) !== 0;
    } catch {
      return false;
    }
  },
  readDir: (path) => Array.from(Deno.readDirSync(path), (entry) => entry.name),
  readText: (path) => Deno.readTextFileSync(path),
};

export const denoRuntime: Runtime = {
  name: "deno",
  // Node's spellings, as the `process` global (node:process, slow for Deno to load) has them.
  host: {
    version: Deno.version.deno,
    platform: Deno.build.os === "windows" ? "win32" : Deno.build.os,
    arch: Deno.build.arch === "x86_64"
      ? "x64"
      : Deno.build.arch === "aarch64"
      ? "arm64"
      : Deno.build.arch,
  },
  args: Deno.args,
  get stdin() {
    return stdinReadable();
  },
  get stdout() {
    return stdoutWritable();
  },
  writeStderr(data: Uint8Array) {
    let offset = 0;
    while (offset < data.length) {
      try {
        offset += Deno.stderr.writeSync(data.subarray(offset));
      } catch (err) {
        if (err instanceof Deno.errors.Interrupted) continue;
        return; // stderr closed: nowhere left to report to
      }
    }
  },
  spawn,
  watch,
  onUncaughtError(handler: (error: unknown) => void) {
    globalThis.addEventListener("error", (event) => {
      event.preventDefault();
      handler(event.error);
    });
    globalThis.addEventListener("unhandledrejection", (event) => {
      event.preventDefault();
      handler(event.reason);
    });
  },
  onSignal(signal: HostSignal, handler: () => void) {
    Deno.addSignalListener(signal, handler);
    return () => {
      try {
        Deno.removeSignalListener(signal, handler);
      } catch { /* not registered */ }
    };
  },
  env: (name: string) => Deno.env.get(name),
  cwd: () => Deno.cwd(),
  files: denoFiles,
  pid: Deno.pid,
  stdinIsTerminal: () => Deno.stdin.isTerminal(),
  serve,
  appendFile(path: string, text: string) {
    Deno.writeTextFileSync(path, text, { append: true, create: true });
  },
  exit: (code: number): never => Deno.exit(code),
};
