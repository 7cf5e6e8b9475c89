/**
 * Seeing the traffic: every JSON-RPC message mcpmon passes, in both
 * directions, as JSON lines, to a file (`--trace <file>`) and, while someone
 * follows it, to the state directory (`mcpmon trace <name>`).
 *
 * One tap: {@linkcode tracingRuntime} wraps the runtime so the client's
 * stdin and stdout and each server's stdin and stdout pass through a
 *  {@linkcode Tracer}; the router and the backends are not touched. A tap
 * that is not tracing only looks at the last byte of each chunk (to know
 * where the next line starts); lines are split, parsed and written only
 * while tracing.
 *
 * Live tracing needs no port: `mcpmon trace <name>` (`trace_command.ts`)
 * leaves a request file `<pid>.trace.<follower pid>.json` in the state
 * directory and sends the instance SIGUSR2; the instance then appends to
 * `<pid>.trace.jsonl` until no live follower's request file is left (checked
 * at most once a second, when a message passes), and then removes it. The
 * state directory's files are reached through a {@linkcode LiveTrace}
 * (`registry.ts`'s `liveTrace`), given once the instance registers: this
 * module, on the way to mcpmon's start, loads no file system module.
 *
 * @module
 */
import { join } from "node:path";
import { LineSplitter } from "./jsonrpc.ts";
import {
  type ChildProcess,
  DIRECT_READ,
  DIRECT_SEND,
  DIRECT_WRITE,
  DIRECT_WRITEV,
  type DirectReadable,
  type DirectWritable,
  type Runtime,
  type SpawnOptions,
} from "./runtime/mod.ts";

/** Which way a message went. */
export type Direction = "client→mcpmon" | "mcpmon→server" | "server→mcpmon" | "mcpmon→client";

/** One line of a trace. */
export interface TraceRecord {
  /** When mcpmon passed it (ISO 8601, UTC). */
  time: string;
  /** Which way it went. */
  dir: Direction;
  /** The server's name (server directions; client directions in single-server mode). */
  server?: string;
  /** The server process's pid (server directions). */
  pid?: number;
  /** The message's method (requests and notifications). */
  method?: string;
  /** The message's id (requests and responses). */
  id?: string | number | null;
  /** The line's size in bytes (UTF-8, without the newline). */
  bytes: number;
  /** The message; the raw text when it is not JSON. */
  message: unknown;
}

/** Where a tracer writes. */
export interface TraceSink {
  /** Appends text to a file, creating it. */
  appendFile(path: string, text: string): void;
}

/** Options of a {@linkcode Tracer}. */
export interface TracerOptions {
  /** `--trace <file>`: always write there. */
  file?: string;
  /** The state directory's files, for live followers; absent: no live tracing (until {@linkcode Tracer.followable}). */
  live?: LiveTrace;
  /** mcpmon's pid (names the live trace file). */
  pid: number;
  /** The clock (ms since the epoch). */
  now?: () => number;
  /** Told once per file that cannot be written (it is not tried again). */
  onError?: (path: string, error: unknown) => void;
}

/** What live tracing needs of the state directory; `registry.ts`'s `liveTrace` makes one. */
export interface LiveTrace {
  /** The state directory. */
  dir: string;
  /** The pids of the live followers of instance `pid` (stale request files are removed). */
  followers(pid: number): number[];
  /** Removes a file; nothing when it is not there. */
  remove(path: string): void;
}

/** Most text kept before it is written out. */
const FLUSH_BYTES = 256 * 1024;
/** How often, at most, a live tracer looks whether its followers are still there. */
const FOLLOWER_CHECK_MS = 1000;

/**
 * Writes trace records: to the `--trace` file when given, and to the state
 * directory while a `mcpmon trace` follows this instance. Writes are
 * batched (at most ~10 ms late); {@linkcode Tracer.close} writes what is left.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const written: string[] = [];
 * const tracer = new Tracer({ appendFile: (_path, text) => void written.push(text) }, {
 *   file: "/tmp/trace.jsonl",
 *   pid: 1,
 * });
 * tracer.record("client→mcpmon", '{"jsonrpc":"2.0","id":1,"method":"ping"}', {});
 * tracer.close();
 * const record = JSON.parse(written.join(""));
 * assert.equal(record.method, "ping");
 * assert.equal(record.bytes, 40);
 * ```
 */
export class Tracer {
  readonly #sink: TraceSink;
  readonly #file: string | undefined;
  #liveTrace: LiveTrace | undefined;
  readonly #pid: number;
  readonly #now: () => number;
  readonly #onError: ((path: string, error: unknown) => void) | undefined;
  readonly #encoder = new TextEncoder();
  #live = false;
  #followers = new Set<number>();
  #checkedAt = 0;
  #buffer: string[] = [];
  #buffered = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #broken = new Set<string>();

  /** Creates a tracer; with neither a file nor a follower it writes nothing. */
  constructor(sink: TraceSink, options: TracerOptions) {
    this.#sink = sink;
    this.#file = options.file;
    this.#liveTrace = options.live;
    this.#pid = options.pid;
    this.#now = options.now ?? Date.now;
    this.#onError = options.onError;
  }

  /** Whether messages are being recorded now. */
  get active(): boolean {
    return this.#file !== undefined || this.#live;
  }

  /** The live trace file in the state directory. */
  get liveFile(): string | undefined {
    return this.#liveTrace === undefined
      ? undefined
      : liveTracePath(this.#liveTrace.dir, this.#pid);
  }

  /**
   * Lets `mcpmon trace` follow from now on: mcpmon gives the state directory once it registers
   * there (a follower finds an instance by its entry, so none can ask before).
   */
  followable(live: LiveTrace): void {
    this.#liveTrace = live;
  }

  /**
   * Looks for followers' request files (on SIGUSR2, and now and then while
   * tracing live); live tracing goes on while at least one live follower is
   * left. Returns how many followers are new since the last look.
   */
  poll(): number {
    this.#checkedAt = this.#now();
    const followers = this.#liveTrace?.followers(this.#pid) ?? [];
    const added = followers.filter((f) => !this.#followers.has(f)).length;
    this.#followers = new Set(followers);
    const was = this.#live;
    this.#live = followers.length > 0;
    if (was && !this.#live) {
      this.flush();
      this.#stopLive();
    }
    return added;
  }

  /** Records one line that went `dir`; `context` names the server and its pid. */
  record(dir: Direction, line: string, context: { server?: string; pid?: number }): void {
    if (!this.active) return;
    if (this.#live && this.#now() - this.#checkedAt >= FOLLOWER_CHECK_MS) {
      this.poll();
      if (!this.active) return;
    }
    let message: unknown = line;
    try {
      message = JSON.parse(line);
    } catch { /* not JSON: recorded as text */ }
    const m = typeof message === "object" && message !== null && !Array.isArray(message)
      ? message as Record<string, unknown>
      : undefined;
    const record: TraceRecord = {
      time: new Date(this.#now()).toISOString(),
      dir,
      ...(context.server !== undefined ? { server: context.server } : {}),
      ...(context.pid !== undefined ? { pid: context.pid } : {}),
      ...(typeof m?.method === "string" ? { method: m.method } : {}),
      ...(m !== undefined && "id" in m ? { id: m.id as string | number | null } : {}),
      bytes: this.#encoder.encode(line).length,
      message,
    };
    const text = JSON.stringify(record) + "\n";
    this.#buffer.push(text);
    this.#buffered += text.length;
    if (this.#buffered >= FLUSH_BYTES) this.flush();
    else this.#timer ??= setTimeout(() => this.flush(), 10);
  }

  /** Writes what is buffered. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#buffer.length === 0) return;
    const text = this.#buffer.join("");
    this.#buffer = [];
    this.#buffered = 0;
    if (this.#file !== undefined) this.#append(this.#file, text);
    const live = this.liveFile;
    if (this.#live && live !== undefined) this.#append(live, text);
  }

  /** Writes what is left and removes the live trace file. */
  close(): void {
    this.flush();
    if (this.#live) this.#stopLive();
    this.#live = false;
  }

  #append(path: string, text: string) {
    if (this.#broken.has(path)) return;
    try {
      this.#sink.appendFile(path, text);
    } catch (err) {
      this.#broken.add(path);
      this.#onError?.(path, err);
    }
  }

  #stopLive() {
    const live = this.liveFile;
    if (live !== undefined) this.#liveTrace?.remove(live); // never written, or already gone: nothing
  }
}

/**
 * `<dir>/<pid>.trace.jsonl`: where an instance writes while it is followed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(liveTracePath("/state/mcpmon", 42), "/state/mcpmon/42.trace.jsonl");
 * ```
 */
export function liveTracePath(dir: string, pid: number): string {
  return join(dir, `${pid}.trace.jsonl`);
}

/**
 * Passes a byte stream through, giving {@linkcode Tracer.record} each
 * complete line while the tracer is active. Chunks are not copied or
 * delayed; backpressure is kept (the source is read only when the consumer
 * reads). A source with the {@linkcode DIRECT_READ} hook (Node, Bun) keeps
 * it through the tap, so the consumer still reads it without a web-stream
 * read per chunk.
 */
function tapReadable(
  source: ReadableStream<Uint8Array>,
  onChunk: (chunk: Uint8Array) => void,
): ReadableStream<Uint8Array> {
  // The source is locked only once read: until then its direct hook may take it over.
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  const stream: DirectReadable = new ReadableStream<Uint8Array>({
    async pull(controller) {
      reader ??= source.getReader();
      const { done, value } = await reader.read();
      if (done) {
        controller.close();
        return;
      }
      onChunk(value);
      controller.enqueue(value);
    },
    cancel: (reason) => reader ? reader.cancel(reason) : source.cancel(reason),
  }, { highWaterMark: 0 });
  const direct = (source as DirectReadable)[DIRECT_READ];
  if (direct) {
    stream[DIRECT_READ] = (onData) => {
      if (reader !== undefined || stream.locked) return undefined;
      const reading = direct.call(source, (chunk) => {
        onChunk(chunk);
        return onData(chunk);
      });
      if (reading === undefined) return undefined;
      const lock = stream.getReader(); // nobody else reads the tap meanwhile
      return reading.finally(() => lock.releaseLock());
    };
  }
  return stream;
}

/**
 * Passes writes through, giving each chunk to `onChunk` first; a target with
 * the {@linkcode DIRECT_WRITE}, {@linkcode DIRECT_SEND} or {@linkcode DIRECT_WRITEV} hook keeps
 * it through the tap.
 */
function tapWritable(
  target: WritableStream<Uint8Array>,
  onChunk: (chunk: Uint8Array) => void,
): WritableStream<Uint8Array> {
  const writer = target.getWriter();
  const stream: DirectWritable = new WritableStream<Uint8Array>({
    write(chunk) {
      onChunk(chunk);
      return writer.write(chunk);
    },
    close: () => writer.close(),
    abort: (reason) => writer.abort(reason),
  });
  const direct = (target as DirectWritable)[DIRECT_WRITE];
  if (direct) {
    stream[DIRECT_WRITE] = (chunk) => {
      onChunk(chunk);
      return direct.call(target, chunk);
    };
  }
  const send = (target as DirectWritable)[DIRECT_SEND];
  if (send) {
    stream[DIRECT_SEND] = (chunk, done) => {
      onChunk(chunk);
      send.call(target, chunk, done);
    };
  }
  const gathered = (target as DirectWritable)[DIRECT_WRITEV];
  if (gathered) {
    stream[DIRECT_WRITEV] = (chunks) => {
      for (const chunk of chunks) onChunk(chunk);
      return gathered.call(target, chunks);
    };
  }
  return stream;
}

/** Splits one direction's bytes into lines for the tracer, only while it is active. */
function lineTap(
  tracer: Tracer,
  dir: Direction,
  context: { server?: string; pid?: number },
): (chunk: Uint8Array) => void {
  let splitter: LineSplitter | undefined;
  let atLineStart = true;
  let skipping = false;
  return (chunk) => {
    if (chunk.length === 0) return;
    if (!tracer.active) {
      splitter = undefined;
      atLineStart = chunk[chunk.length - 1] === 10;
      return;
    }
    if (splitter === undefined) {
      splitter = new LineSplitter();
      skipping = !atLineStart; // joined mid-line: that line's start was not seen
    }
    let lines = splitter.push(chunk);
    if (skipping && lines.length > 0) {
      lines = lines.slice(1);
      skipping = false;
    }
    for (const line of lines) if (line.trim() !== "") tracer.record(dir, line, context);
  };
}

/**
 * A runtime whose client stdio and server processes pass through `tracer`:
 * `client→mcpmon` and `mcpmon→client` on stdin and stdout, and
 * `mcpmon→server` and `server→mcpmon` on each spawned process that
 * `serverOf` names (build commands and other processes are not traced).
 *
 * @example
 * ```ts ignore
 * const traced = tracingRuntime(runtime, tracer, (o) => o.command === server.command ? server.name : undefined);
 * const router = new Router(traced, log, [server]);
 * ```
 */
export function tracingRuntime(
  runtime: Runtime,
  tracer: Tracer,
  serverOf: (options: SpawnOptions) => string | undefined,
  clientContext: { server?: string } = {},
): Runtime {
  const stdin = tapReadable(runtime.stdin, lineTap(tracer, "client→mcpmon", clientContext));
  const stdout = tapWritable(runtime.stdout, lineTap(tracer, "mcpmon→client", clientContext));
  const traced: Runtime = Object.create(runtime, {
    stdin: { value: stdin },
    stdout: { value: stdout },
    spawn: {
      value(options: SpawnOptions): ChildProcess {
        const child = runtime.spawn(options);
        const server = serverOf(options);
        if (server === undefined) return child;
        const context = { server, pid: child.pid };
        return {
          pid: child.pid,
          stdin: tapWritable(child.stdin, lineTap(tracer, "mcpmon→server", context)),
          stdout: tapReadable(child.stdout, lineTap(tracer, "server→mcpmon", context)),
          stderr: child.stderr,
          exited: child.exited,
          killGroup: (signal) => child.killGroup(signal),
        };
      },
    },
  });
  return traced;
}
