/**
 * One server process as a JSON-RPC peer: its framing, the requests it owes
 * (by ids of its own), the tail of its stderr, and how it ended.
 *
 * A {@linkcode Generation} owns the requests sent to it. When it ends, each
 * one still unanswered gets an error response naming the cause (a restart, an
 * exit status with the tail of the server's stderr), never silence.
 *
 * @module
 */
import {
  type ChunkScanner,
  type Classified,
  classify,
  ErrorCode,
  errorResponse,
  FrameWriter,
  type JsonRpcErrorObject,
  type JsonRpcId,
  type JsonRpcMessage,
  parseLine,
  readByteLines,
  replaceId,
  scanMessage,
  type ScannedMessage,
} from "./jsonrpc.ts";
import type { Logger } from "./log.ts";
import { type Envelope, type Era, withEnvelope } from "./session.ts";
import {
  type ChildProcess,
  type Clock,
  delay,
  type ExitStatus,
  systemClock,
} from "./runtime/mod.ts";

/** A request sent to a generation and not yet answered. */
export interface Pending {
  /** Its method. */
  readonly method: string;
  /** The client's id when the request came from the client. */
  readonly clientId?: JsonRpcId;
  /**
   * Receives the response, or an error response built by mcpmon; `line` is
   * the server's own text of it (absent for mcpmon's errors).
   */
  readonly onResponse: (response: JsonRpcMessage, line?: string) => void;
  /**
   * A client's `subscriptions/listen` (modern): open until the client cancels
   * it or the server closes it, so no drain waits for it, and when the
   * process ends it is not answered (the router re-opens it on the next one).
   */
  readonly listen?: boolean;
  /**
   * Offered first, before the response is decoded or parsed: the server's
   * bytes of it and where its `id` sits (for `spliceId`). Returns true when
   * it delivered them; false sends the response on to `onResponse`.
   */
  readonly forward?: (raw: RawResponse) => boolean;
}

/** A server's response as it came: its bytes (one line, no newline) and its `id`'s place in them. */
export interface RawResponse {
  /**
   * The line's bytes, or its chunks in order when it came in several (offsets
   * count over all of them); they stay unchanged.
   */
  readonly bytes: Uint8Array | readonly Uint8Array[];
  /** Byte offset of the `id`'s value. */
  readonly idStart: number;
  /** Byte offset just past the `id`'s value. */
  readonly idEnd: number;
}

/** How long a server whose stdout ended may take to exit before it counts as broken, in ms. */
const BROKEN_GRACE_MS = 250;

/** Limits and hooks of a {@linkcode Generation}. */
export interface GenerationLimits {
  /** Longest line accepted from the server's stdout, in bytes (default: no limit). */
  maxMessageBytes?: number;
  /** The connection broke while the process runs on (see {@linkcode Generation.broken}). */
  onBroken?: (gen: Generation) => void;
  /** The clock of its timers (virtual time in tests; default the real one). */
  clock?: Clock;
}

/** A request or notification the server sent (for the client). */
export type ServerInitiated = Extract<Classified, { type: "request" | "notification" }>;

/**
 * Keeps the last lines a server wrote to stderr.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const tail = new StderrTail();
 * tail.push(new TextEncoder().encode("starting\nready\n"));
 * assert.deepEqual(tail.lines(), ["starting", "ready"]);
 * ```
 */
export class StderrTail {
  #lines: string[] = [];
  #partial = "";
  #decoder = new TextDecoder();
  readonly #maxLines: number;
  readonly #maxLineLength: number;

  /** Keeps at most `maxLines` lines of at most `maxLineLength` characters. */
  constructor(maxLines = 20, maxLineLength = 500) {
    this.#maxLines = maxLines;
    this.#maxLineLength = maxLineLength;
  }

  /** Adds bytes from the stream. */
  push(chunk: Uint8Array): void {
    const text = this.#partial + this.#decoder.decode(chunk, { stream: true });
    const lines = text.split("\n");
    this.#partial = lines.pop() ?? "";
    if (this.#partial.length > this.#maxLineLength) {
      this.#partial = this.#partial.slice(-this.#maxLineLength);
    }
    for (const line of lines) this.#add(line);
  }

  /** The kept lines (the unfinished last line included), oldest first. */
  lines(): string[] {
    return this.#partial ? [...this.#lines, this.#partial] : [...this.#lines];
  }

  #add(line: string) {
    const clean = line.replace(/\r$/, "");
    if (clean.trim() === "") return;
    this.#lines.push(
      clean.length > this.#maxLineLength ? clean.slice(0, this.#maxLineLength) + "…" : clean,
    );
    if (this.#lines.length > this.#maxLines) this.#lines.shift();
  }
}

/** Describes an exit status for people: "exited with code 1", "was killed by SIGKILL". */
export function describeExit(status: ExitStatus): string {
  if (status.reason !== undefined) return status.reason;
  if (status.signal) return `was killed by ${status.signal}`;
  return `exited with code ${status.code}`;
}

/**
 * One server process and the requests it owes. A {@linkcode Backend} makes
 * one per start; it ends when its process exits.
 *
 * @example
 * ```ts ignore
 * const gen = backend.current;
 * if (gen && gen.state === "ready") console.error(`pid ${gen.pid}: ${gen.pending.size} pending`);
 * ```
 */
export class Generation {
  /** 1 for the first process, then 2, 3, … */
  readonly number: number;
  /** The process. */
  readonly child: ChildProcess;
  /** When it was spawned (ms since epoch). */
  readonly startedAt: number = Date.now();
  /** Lifecycle: starting → ready → stopping → exited (any state may go straight to exited). */
  state: "starting" | "ready" | "stopping" | "exited" = "starting";
  /**
   * The server's `initialize` result (legacy), or its `server/discover`
   * result (modern): what it declares, capabilities first.
   */
  initResult: Record<string, unknown> | undefined;
  /** The era this process was opened in, once it was. */
  era: Era | undefined;
  /** The client's envelope, for mcpmon's own requests to a modern process. */
  envelope: () => Envelope | undefined = () => undefined;
  /** How it ended, once it has. */
  exitStatus: ExitStatus | undefined;
  /** Why mcpmon stopped it; unset when it ended on its own (a crash). */
  stopReason: string | undefined;
  /** The last lines of its stderr. */
  readonly stderr: StderrTail = new StderrTail();
  /** Requests sent to it and not yet answered, by the id mcpmon gave them. */
  readonly pending: Map<number, Pending> = new Map();
  /** Server→client requests of this generation: server's id → id toward the client. */
  readonly outgoing: Map<JsonRpcId, number> = new Map();
  /** Resolves when the process has exited and its stdout is fully read. */
  readonly ended: Promise<ExitStatus>;
  /**
   * Set when the connection broke while the process ran on (it closed or
   * overflowed its stdout): why. The process is then stopped like a crash.
   */
  broken: string | undefined;
  readonly #writer: FrameWriter;
  readonly #log: Logger;
  readonly #onBroken: (gen: Generation) => void;
  readonly #clock: Clock;
  #nextId = 1;
  #idle: (() => void)[] = [];
  #cancelled = new Set<number>();

  /**
   * Wraps a started child. `onMessage` gets what the server sends, except
   * responses (which go to their {@linkcode Pending} entry). After each line
   * the server's stdout is read on only once `backpressure()` resolves.
   */
  constructor(
    number: number,
    child: ChildProcess,
    log: Logger,
    context: { server?: string },
    onMessage: (gen: Generation, message: ServerInitiated, line: string) => void,
    backpressure: () => Promise<void> | undefined,
    limits: GenerationLimits = {},
  ) {
    this.number = number;
    this.child = child;
    this.#log = log;
    this.#onBroken = limits.onBroken ?? (() => {});
    this.#clock = limits.clock ?? systemClock;
    this.#writer = new FrameWriter(child.stdin, (err) => {
      log.debug(`write to server failed: ${err instanceof Error ? err.message : err}`, {
        ...context,
        pid: child.pid,
      });
    });
    const logContext = { ...context, pid: child.pid };
    const decoder = new TextDecoder();
    const stdoutDone = readByteLines(child.stdout, (read) => {
      // A response someone forwards as it came is not decoded or parsed (see `Pending.forward`).
      if (this.#forwarded(read, log, logContext)) return backpressure();
      const line = decoder.decode(read instanceof Uint8Array ? read : read.join());
      if (line.trim() === "") return;
      const parsed = parseLine(line);
      if (!parsed.ok) {
        log.warn(`server stdout (not JSON-RPC, not forwarded): ${truncate(line)}`, logContext);
        return;
      }
      for (const value of parsed.values) {
        const c = classify(value);
        try {
          if (c.type === "response") {
            this.#settle(
              c.id,
              c.message,
              parsed.values.length === 1 ? line : undefined,
              log,
              logContext,
            );
          } else if (c.type === "invalid") {
            log.warn(`server stdout (${c.reason}, not forwarded): ${truncate(line)}`, logContext);
          } else onMessage(this, c, parsed.values.length === 1 ? line : JSON.stringify(value));
        } catch (err) {
          // One message mcpmon cannot handle (too deep to serialize again, …) costs that
          // message, never the session: a response owed to someone is answered with the error.
          const why = err instanceof Error ? err.message : String(err);
          log.error(`cannot forward a message from the server: ${why}`, logContext);
          if (c.type === "request") {
            this.send(
              errorResponse(c.id, ErrorCode.InternalError, `mcpmon could not forward it: ${why}`),
            );
          }
        }
      }
      return backpressure();
    }, {
      maxLineBytes: limits.maxMessageBytes,
      onOversized: (bytes) => {
        this.#broken(
          `sent a message of ${bytes} bytes, over the limit of ${limits.maxMessageBytes} bytes`,
        );
      },
    }).then(
      () => this.#broken("closed its stdout"),
      (err) =>
        this.#broken(
          // A Streamable HTTP server's lost connection says what happened itself.
          err instanceof Error && err.name === "ConnectionLost"
            ? err.message
            : `stdout failed: ${err instanceof Error ? err.message : err}`,
        ),
    );
    const stderrDone = (async () => {
      const reader = child.stderr.getReader();
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          this.stderr.push(value);
          log.serverOutput(value, logContext);
        }
      } catch { /* stream broke: the process is gone */ }
    })();
    this.ended = child.exited.then(async (status) => {
      this.exitStatus = status;
      // Whatever the server left in its group dies with it; that also closes
      // pipes a grandchild might hold open.
      child.killGroup("SIGKILL");
      const timeout = new AbortController();
      await Promise.race([
        Promise.all([stdoutDone, stderrDone]),
        delay(1000, timeout.signal, this.#clock),
      ]);
      timeout.abort();
      this.state = "exited";
      return status;
    });
  }

  /** The server's pid. */
  get pid(): number {
    return this.child.pid;
  }

  /** Client requests still waiting for this generation's answer. */
  get clientRequestsPending(): number {
    let n = 0;
    for (const p of this.pending.values()) if (p.clientId !== undefined && !p.listen) n++;
    return n;
  }

  /**
   * Sends a request; returns the id it was given on this connection. With
   * `line` (the message's text as received) the id is spliced into it
   * instead of serializing the message again, where {@linkcode replaceId} can.
   */
  request(
    method: string,
    message: JsonRpcMessage,
    pending: Omit<Pending, "method"> | Pending,
    line?: string,
  ): number {
    const id = this.#nextId++;
    // A whole entry (the router's, with its method) is kept as it is: no copy per request.
    this.pending.set(
      id,
      "method" in pending && pending.method === method ? pending : { method, ...pending },
    );
    const spliced = line !== undefined && message.id !== undefined && message.id !== null
      ? replaceId(line, message.id, id)
      : undefined;
    this.#writer.write(spliced ?? { ...message, id });
    return id;
  }

  /**
   * {@linkcode Generation.request} for a client request read as bytes: they
   * are written as they came, with the id at `scanned`'s place replaced by
   * this connection's (the bytes must not change afterwards).
   */
  requestBytes(
    pending: Pending,
    bytes: Uint8Array,
    scanned: Pick<ScannedMessage, "idStart" | "idEnd">,
  ): number {
    const id = this.#nextId++;
    this.pending.set(id, pending);
    this.#writer.writeSpliced(bytes, scanned, id);
    return id;
  }

  /**
   * Sends a request of mcpmon's own and resolves with the response. To a
   * modern process it carries the client's envelope in `_meta` (a modern
   * server refuses a request without one).
   */
  call(method: string, params?: Record<string, unknown>): Promise<JsonRpcMessage> {
    const envelope = this.era === "modern" ? this.envelope() : undefined;
    if (envelope) {
      params = withEnvelope(params, envelope);
    }
    return new Promise((resolve) => {
      const message: JsonRpcMessage = params === undefined
        ? { jsonrpc: "2.0", method }
        : { jsonrpc: "2.0", method, params };
      this.request(method, message, { onResponse: resolve });
    });
  }

  /** Sends a notification or response (an object or its JSON text). */
  send(message: JsonRpcMessage | string): void {
    this.#writer.write(message);
  }

  /** A promise while the server's stdin is congested; see {@linkcode FrameWriter.ready}. */
  ready(): Promise<void> | undefined {
    return this.#writer.ready();
  }

  /** Resolves when no client request is pending. */
  idle(): Promise<void> {
    if (this.clientRequestsPending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /**
   * Forgets a request the client cancelled: it is owed no response (MCP), so
   * it no longer holds up a drain, and a late answer is dropped quietly.
   */
  cancel(id: number): void {
    if (this.pending.delete(id)) {
      this.#cancelled.add(id);
      this.#wakeIdle();
    }
  }

  /**
   * Answers every pending request with `error`; used when the generation
   * ends. Listens are dropped unanswered: they outlive the process.
   */
  failPending(error: JsonRpcErrorObject): void {
    const entries = [...this.pending];
    this.pending.clear();
    for (const [id, p] of entries) {
      if (p.listen) continue;
      p.onResponse(errorResponse(id, error.code, error.message, error.data));
    }
    this.#wakeIdle();
  }

  /**
   * The server's stdout ended or failed. If the process still runs a moment
   * later, the connection is broken for good: record why and tell the backend,
   * which stops the process and treats it as a crash.
   */
  async #broken(why: string) {
    if (this.broken !== undefined || this.exitStatus !== undefined) return;
    const timeout = new AbortController();
    const exited = await Promise.race([
      this.child.exited.then(() => true),
      delay(BROKEN_GRACE_MS, timeout.signal, this.#clock).then(() => false),
    ]);
    timeout.abort();
    if (exited || this.state === "exited" || this.stopReason !== undefined) return;
    this.broken = why;
    this.#log.error(`server ${why} while still running; stopping it`, { pid: this.pid });
    this.#onBroken(this);
  }

  /** Closes the server's stdin (a polite request to exit). */
  closeStdin(): void {
    this.#writer.close().catch(() => {});
  }

  /**
   * Offers a response line to its pending entry's `forward`, from what
   * {@linkcode scanMessage} reads of it (the same checks as `classify`);
   * true when it was delivered that way.
   */
  #forwarded(
    read: Uint8Array | ChunkScanner,
    log: Logger,
    context: { pid: number },
  ): boolean {
    if (this.pending.size === 0) return false;
    let bytes: Uint8Array | readonly Uint8Array[];
    let s: ScannedMessage | undefined;
    if (read instanceof Uint8Array) s = scanMessage(bytes = read);
    else {
      // A line that came in chunks was scanned as they came; forwarded as those chunks.
      s = read.end();
      bytes = read.parts;
      if (s === undefined) s = scanMessage(bytes = read.join()); // scanMessage decides
    }
    if (
      s === undefined || !s.jsonrpc || s.method !== undefined || !(s.hasResult || s.hasError) ||
      s.id === undefined || s.id === null
    ) return false;
    const key = typeof s.id === "number" ? s.id : Number(s.id);
    const p = this.pending.get(key);
    if (p?.forward === undefined) return false;
    let delivered: boolean;
    try {
      delivered = p.forward({ bytes, idStart: s.idStart, idEnd: s.idEnd });
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      log.error(`cannot forward the server's response to request ${key}: ${why}`, context);
      return false; // the parsed way answers it
    }
    if (!delivered) return false;
    this.pending.delete(key);
    if (p.clientId !== undefined) this.#wakeIdle();
    return true;
  }

  #settle(
    id: JsonRpcId,
    message: JsonRpcMessage,
    line: string | undefined,
    log: Logger,
    context: { pid: number },
  ) {
    const key = typeof id === "number" ? id : Number(id);
    const p = this.pending.get(key);
    if (!p) {
      if (this.#cancelled.delete(key)) {
        log.debug(`server answered cancelled request ${key}; dropped`, context);
        return;
      }
      log.warn(`server answered unknown request id ${JSON.stringify(id)}; dropped`, context);
      return;
    }
    this.pending.delete(key);
    try {
      p.onResponse(message, line);
    } catch (err) {
      // Delivering it failed (too deep to serialize again, …): the asker still gets an answer.
      const why = err instanceof Error ? err.message : String(err);
      log.error(`cannot forward the server's response to request ${key}: ${why}`, context);
      p.onResponse(
        errorResponse(
          key,
          ErrorCode.InternalError,
          `mcpmon could not forward the response: ${why}`,
        ),
      );
    }
    if (p.clientId !== undefined) this.#wakeIdle();
  }

  #wakeIdle() {
    if (this.#idle.length > 0 && this.clientRequestsPending === 0) {
      const waiting = this.#idle;
      this.#idle = [];
      for (const resolve of waiting) resolve();
    }
  }
}

function truncate(text: string, max = 300): string {
  return text.length > max ? text.slice(0, max) + "…" : text;
}
