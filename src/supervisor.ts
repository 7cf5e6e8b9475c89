/**
 * One backend server as a sequence of generations (processes): spawn,
 * initialize with the client's replayed session, serve, drain, stop.
 *
 * A {@linkcode Generation} owns the requests sent to it. When it ends, each
 * one still unanswered gets an error response naming the cause (a restart, an
 * exit status with the tail of the server's stderr), never silence.
 *
 * @module
 */
import {
  DEFAULT_CRASH_BACKOFF,
  DEFAULT_MIN_RESTART_INTERVAL_MS,
  type ServerOptions,
} from "./config.ts";
import {
  type Classified,
  classify,
  ErrorCode,
  errorResponse,
  FrameWriter,
  type JsonRpcErrorObject,
  type JsonRpcId,
  type JsonRpcMessage,
  parseLine,
  readLines,
  replaceId,
} from "./jsonrpc.ts";
import type { Logger } from "./log.ts";
import type { ChildProcess, ExitStatus, Runtime } from "./runtime/mod.ts";
import type { Session } from "./session.ts";

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
}

/** How long a server whose stdout ended may take to exit before it counts as broken, in ms. */
const BROKEN_GRACE_MS = 250;

/** Limits and hooks of a {@linkcode Generation}. */
export interface GenerationLimits {
  /** Longest line accepted from the server's stdout, in bytes (default: no limit). */
  maxMessageBytes?: number;
  /** The connection broke while the process runs on (see {@linkcode Generation.broken}). */
  onBroken?: (gen: Generation) => void;
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
  /** The server's `initialize` result. */
  initResult: Record<string, unknown> | undefined;
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
    this.#writer = new FrameWriter(child.stdin, (err) => {
      log.debug(`write to server failed: ${err instanceof Error ? err.message : err}`, {
        ...context,
        pid: child.pid,
      });
    });
    const logContext = { ...context, pid: child.pid };
    const stdoutDone = readLines(child.stdout, (line) => {
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
      (err) => this.#broken(`stdout failed: ${err instanceof Error ? err.message : err}`),
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
      await Promise.race([Promise.all([stdoutDone, stderrDone]), delay(1000, timeout.signal)]);
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
    for (const p of this.pending.values()) if (p.clientId !== undefined) n++;
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
    pending: Omit<Pending, "method">,
    line?: string,
  ): number {
    const id = this.#nextId++;
    this.pending.set(id, { method, ...pending });
    const spliced = line !== undefined && message.id !== undefined && message.id !== null
      ? replaceId(line, message.id, id)
      : undefined;
    this.#writer.write(spliced ?? { ...message, id });
    return id;
  }

  /** Sends a request of mcpmon's own and resolves with the response. */
  call(method: string, params?: Record<string, unknown>): Promise<JsonRpcMessage> {
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

  /** Answers every pending request with `error`; used when the generation ends. */
  failPending(error: JsonRpcErrorObject): void {
    const entries = [...this.pending];
    this.pending.clear();
    for (const [id, p] of entries) {
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
      delay(BROKEN_GRACE_MS, timeout.signal).then(() => false),
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

/** The first line of a multi-line message (for a log line whose details were shown already). */
function firstLine(text: string): string {
  const end = text.indexOf("\n");
  return end === -1 ? text : text.slice(0, end);
}

function truncate(text: string, max = 300): string {
  return text.length > max ? text.slice(0, max) + "…" : text;
}

/** Resolves after `ms` milliseconds; the timer does not keep the process alive past `signal`. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** What a restart came to. */
export interface RestartOutcome {
  /** True when a new generation is serving. */
  ok: boolean;
  /** The restart's number (1 for the first restart after the initial start). */
  restart: number;
  /** Time from the request to ready (or failure), in ms. */
  durationMs: number;
  /** The new server's pid, when one started. */
  pid?: number;
  /** Why it failed. */
  error?: string;
  /**
   * Where the time went, in ms: waiting for in-flight requests, stopping the
   * old process, spawning and initializing the new one, replaying the session.
   */
  timings: { drainMs: number; stopMs: number; initializeMs: number; replayMs: number };
}

/** What the router learns from a backend. */
export interface BackendHooks {
  /** A promise while the client's stdout is congested: the server's stdout waits for it. */
  clientReady(): Promise<void> | undefined;
  /** A request or notification from the server. */
  onServerMessage(backend: Backend, gen: Generation, message: ServerInitiated, line: string): void;
  /** A generation finished its handshake and replay and now serves. */
  onReady(backend: Backend, gen: Generation): void;
  /** The backend cannot serve until the next restart; `cause` says why. */
  onFailed(backend: Backend, cause: string): void;
  /** A generation ended (its pending requests were already answered). */
  onGenerationEnd?(backend: Backend, gen: Generation): void;
  /** The build failed while a server kept serving; `error` carries the build's output tail. */
  onBuildFailed?(backend: Backend, error: string): void;
  /** State, pid, restarts or last error changed (for status). */
  onChange?(backend: Backend): void;
  /** Whether a resource URI belongs to this backend (gateway); all do when absent. Filters the replayed subscriptions. */
  ownsResource?(backend: Backend, uri: string): boolean;
}

/** The backend's state, as the router and status see it. */
export type BackendState = "starting" | "ready" | "restarting" | "failed" | "stopped";

/**
 * Supervises one server: its generations, restarts and failures.
 *
 * @example
 * ```ts ignore
 * const backend = new Backend(runtime, serverOptions, session, logger, hooks);
 * backend.start();
 * await backend.restart("file change");
 * await backend.stop();
 * ```
 */
export class Backend {
  /** The server's name (logs, status, gateway prefix). */
  readonly name: string;
  /** How it is run. */
  readonly options: ServerOptions;
  /** The generation serving, starting or last failed. */
  current: Generation | undefined;
  /** State for routing: only `ready` takes requests at once. */
  state: BackendState = "starting";
  /** Completed restarts (the initial start is not one). */
  restarts = 0;
  /** Why the backend last failed (kept after it recovers, for status). */
  lastError: string | undefined;
  /** Why it last restarted. */
  lastReason: string | undefined;

  readonly #runtime: Runtime;
  readonly #session: Session;
  readonly #log: Logger;
  readonly #hooks: BackendHooks;
  readonly #labelled: boolean;
  readonly #stopping = new AbortController();
  #generations = 0;
  #cycle: Promise<void> | null = null;
  #again: string | null = null;
  #waiters: ((outcome: RestartOutcome) => void)[] = [];
  #requestedAt = 0;
  #initializedAt = 0;
  /** When recent failures (crashes, failed starts) happened, ms since epoch. */
  #failures: number[] = [];
  #lastRestartAt = 0;
  #building: ChildProcess | undefined;
  #crashTimer: ReturnType<typeof setTimeout> | undefined;

  /** Prepares a backend; nothing runs until {@linkcode Backend.start}. */
  constructor(
    runtime: Runtime,
    options: ServerOptions,
    session: Session,
    log: Logger,
    hooks: BackendHooks,
    display: { labelled?: boolean } = {},
  ) {
    this.#labelled = display.labelled ?? false;
    this.name = options.name;
    this.options = options;
    this.#runtime = runtime;
    this.#session = session;
    this.#log = log;
    this.#hooks = hooks;
  }

  /** The server's pid, while one runs. */
  get pid(): number | undefined {
    const gen = this.current;
    return gen && gen.state !== "exited" ? gen.pid : undefined;
  }

  /** Starts the first generation. */
  start(): void {
    this.#request("start");
  }

  /**
   * Replaces the running generation with a new one: drain (up to the grace
   * period), stop the process group, spawn, initialize, replay. Requests made
   * while one is under way fold into one more restart after it (never lost).
   * Resolves when the resulting generation serves or has failed.
   */
  restart(reason: string): Promise<RestartOutcome> {
    return new Promise((resolve) => {
      this.#waiters.push(resolve);
      this.#request(reason);
    });
  }

  /**
   * Stops the server's process group and all future restarts. With `drain`,
   * requests in flight first get up to the grace period to finish; `why`
   * goes into the error of those that do not.
   */
  async stop(options: { drain?: boolean; why?: string } = {}): Promise<void> {
    if (this.#stopping.signal.aborted) return;
    this.#stopping.abort();
    clearTimeout(this.#crashTimer);
    this.state = "stopped";
    this.#building?.killGroup("SIGKILL");
    const why = options.why ?? "mcpmon is shutting down";
    const gen = this.current;
    if (gen && options.drain) await this.#drain(gen);
    if (gen) await this.#stopGeneration(gen, why);
    await this.#cycle;
    // A generation the cycle spawned meanwhile is stopped too: nothing outlives stop().
    const late = this.current;
    if (late && late !== gen && late.state !== "exited") await this.#stopGeneration(late, why);
  }

  #request(reason: string) {
    if (this.#stopping.signal.aborted) return;
    clearTimeout(this.#crashTimer);
    this.#crashTimer = undefined;
    if (this.#cycle) {
      this.#again = reason;
      return;
    }
    this.#cycle = this.#cycles(reason).catch((err) => {
      // A bug, not a server failure: report it, and let the next request start afresh.
      this.#cycle = null;
      this.#fail(`internal error while restarting: ${err instanceof Error ? err.stack : err}`);
    });
  }

  async #cycles(first: string) {
    let reason: string | null = first;
    while (reason !== null && !this.#stopping.signal.aborted) {
      this.#again = null;
      this.#requestedAt = Date.now();
      const old = this.current;
      const isRestart = old !== undefined;
      const serving = old !== undefined && old.state !== "exited";
      let outcome: RestartOutcome;
      // No await unless there is something to wait for: with no build and no
      // throttle, a restart takes effect in the same turn it was asked for.
      const built = this.options.build?.trim() ? await this.#build(reason) : { ok: true as const };
      if (this.#stopping.signal.aborted) break;
      if (this.#again !== null) {
        // Files changed during the build: build again before anything restarts.
        reason = this.#again;
        continue;
      }
      if (!built.ok) {
        outcome = this.#outcome(false, isRestart, undefined, built.error);
        if (serving) {
          this.#log.error(
            `${firstLine(built.error)}; the running server keeps serving`,
            this.#ctx(old.pid),
          );
          this.#hooks.onBuildFailed?.(this, built.error);
        } else this.#fail(built.error);
      } else {
        const wait = this.#throttleWait();
        if (wait > 0) {
          this.#log.verbose(`Waiting ${wait} ms before starting (restart throttle)`, this.#ctx());
          await delay(wait, this.#stopping.signal);
          if (this.#stopping.signal.aborted) break;
        }
        // Restarts are spaced from each other; the first one after launch is never held back.
        if (isRestart) this.#lastRestartAt = Date.now();
        const t0 = performance.now();
        let drained = t0, stopped = t0;
        if (serving) {
          this.state = "restarting";
          this.lastReason = reason;
          this.#log.info(`Restarting (${reason})...`, this.#ctx(old.pid));
          await this.#drain(old);
          drained = performance.now();
          await this.#stopGeneration(old, `restarted (${reason})`);
          stopped = performance.now();
          // Shutdown began while the old server drained: start nothing new.
          if (this.#stopping.signal.aborted) break;
        } else if (isRestart) {
          this.state = "restarting";
          this.lastReason = reason;
          this.#log.info(`Starting again (${reason})...`, this.#ctx());
        }
        const gen = await this.#startGeneration();
        outcome = this.#outcome(
          gen !== undefined,
          isRestart,
          gen?.pid,
          gen ? undefined : this.lastError,
          {
            drainMs: Math.round(drained - t0),
            stopMs: Math.round(stopped - drained),
            initializeMs: gen ? Math.round(this.#initializedAt - stopped) : 0,
            replayMs: gen ? Math.round(performance.now() - this.#initializedAt) : 0,
          },
        );
        if (gen && isRestart) {
          this.restarts++;
          this.#log.info(
            `Restart #${this.restarts} complete (${outcome.durationMs} ms)`,
            this.#ctx(gen.pid),
          );
          const t = outcome.timings;
          this.#log.verbose(
            `Restart #${this.restarts} timings: drain ${t.drainMs} ms, stop ${t.stopMs} ms, ` +
              `spawn+initialize ${t.initializeMs} ms, replay ${t.replayMs} ms`,
            this.#ctx(gen.pid),
          );
        }
      }
      this.#hooks.onChange?.(this);
      if (this.#again === null) {
        const waiting = this.#waiters;
        this.#waiters = [];
        for (const resolve of waiting) resolve(outcome);
      }
      reason = this.#again;
      // Cleared in the same turn as the last look at #again, so no request slips between.
      if (reason === null) this.#cycle = null;
    }
    if (this.#stopping.signal.aborted) {
      const waiting = this.#waiters;
      this.#waiters = [];
      for (const resolve of waiting) {
        resolve(this.#outcome(false, true, undefined, "mcpmon is shutting down"));
      }
    }
  }

  #outcome(
    ok: boolean,
    isRestart: boolean,
    pid: number | undefined,
    error: string | undefined,
    timings: RestartOutcome["timings"] = { drainMs: 0, stopMs: 0, initializeMs: 0, replayMs: 0 },
  ): RestartOutcome {
    return {
      ok,
      restart: this.restarts + (ok && isRestart ? 1 : 0),
      durationMs: Date.now() - this.#requestedAt,
      pid,
      error,
      timings,
    };
  }

  /**
   * Runs the build command, if any, while the running server keeps serving.
   * Its output goes to stderr; on failure the error carries its tail.
   */
  async #build(reason: string): Promise<{ ok: true } | { ok: false; error: string }> {
    const command = this.options.build?.trim();
    if (!command) return { ok: true };
    this.#log.info(`Building (${reason}): ${command}`, this.#ctx());
    const t0 = performance.now();
    let child: ChildProcess;
    try {
      child = this.#runtime.spawn({
        command: "sh",
        args: ["-c", command],
        cwd: this.options.cwd,
        env: this.options.env,
      });
    } catch (err) {
      return {
        ok: false,
        error: `build could not start: ${err instanceof Error ? err.message : err}`,
      };
    }
    this.#building = child;
    child.stdin.close().catch(() => {});
    const tail = new StderrTail(30);
    const pump = async (stream: ReadableStream<Uint8Array>) => {
      try {
        for await (const chunk of stream) {
          tail.push(chunk);
          this.#log.serverOutput(chunk, this.#ctx(child.pid));
        }
      } catch { /* the build is gone */ }
    };
    const [status] = await Promise.all([child.exited, pump(child.stdout), pump(child.stderr)]);
    child.killGroup("SIGKILL"); // whatever the build left behind
    this.#building = undefined;
    const ms = Math.round(performance.now() - t0);
    if (status.code === 0) {
      this.#log.info(`Build succeeded (${ms} ms)`, this.#ctx());
      return { ok: true };
    }
    const lines = tail.lines();
    const output = lines.length > 0
      ? `\nLast output lines:\n${lines.map((l) => `  ${l}`).join("\n")}`
      : "";
    return {
      ok: false,
      error: `build \`${command}\` ${describeExit(status)} after ${ms} ms${output}`,
    };
  }

  /**
   * One mechanism for pacing starts: at least `minRestartIntervalMs` between
   * two restarts (the first restart after launch is not held back), and after failures (crashes, failed starts) an exponential
   * backoff counted from the last failure, so a loop slows down while a
   * person's fix, seconds later, starts at once.
   */
  #throttleWait(): number {
    const now = Date.now();
    const minInterval = this.options.minRestartIntervalMs ?? DEFAULT_MIN_RESTART_INTERVAL_MS;
    let wait = this.#lastRestartAt === 0 ? 0 : minInterval - (now - this.#lastRestartAt);
    const failures = this.#recentFailures(now);
    if (failures.length > 0) {
      wait = Math.max(wait, this.#backoff(failures.length) - (now - failures.at(-1)!));
    }
    return wait;
  }

  #recentFailures(now: number): number[] {
    const { windowMs } = this.options.crashBackoff ?? DEFAULT_CRASH_BACKOFF;
    this.#failures = this.#failures.filter((t) => now - t < windowMs);
    return this.#failures;
  }

  #backoff(failures: number): number {
    const { baseDelayMs, maxDelayMs } = this.options.crashBackoff ?? DEFAULT_CRASH_BACKOFF;
    return Math.min(baseDelayMs * 2 ** (failures - 1), maxDelayMs);
  }

  /** Waits for in-flight client requests, up to the grace period. */
  async #drain(gen: Generation) {
    if (gen.clientRequestsPending === 0) return;
    this.#log.verbose(
      `Waiting up to ${this.options.graceMs} ms for ${gen.clientRequestsPending} request(s) in flight`,
      this.#ctx(gen.pid),
    );
    const timeout = new AbortController();
    await Promise.race([gen.idle(), gen.ended, delay(this.options.graceMs, timeout.signal)]);
    timeout.abort();
  }

  /** Ends a broken generation's process group without marking it stopped (so it counts as a crash). */
  async #kill(gen: Generation) {
    gen.child.killGroup("SIGTERM");
    const timeout = new AbortController();
    const exited = await Promise.race([
      gen.child.exited.then(() => true),
      delay(this.options.graceMs, timeout.signal).then(() => false),
    ]);
    timeout.abort();
    if (!exited) gen.child.killGroup("SIGKILL");
  }

  /** Stops a generation's process group: EOF + SIGTERM, SIGKILL after the grace period. */
  async #stopGeneration(gen: Generation, why: string) {
    gen.stopReason ??= why;
    if (gen.state !== "exited") {
      gen.state = "stopping";
      gen.closeStdin();
      gen.child.killGroup("SIGTERM");
      const timeout = new AbortController();
      const exited = await Promise.race([
        gen.child.exited.then(() => true),
        delay(this.options.graceMs, timeout.signal).then(() => false),
      ]);
      timeout.abort();
      if (!exited) {
        this.#log.warn(
          `Server did not exit within ${this.options.graceMs} ms of SIGTERM; sending SIGKILL`,
          this.#ctx(gen.pid),
        );
        gen.child.killGroup("SIGKILL");
      }
    }
    await gen.ended;
    gen.failPending({
      code: ErrorCode.ServerUnavailable,
      message: `mcpmon: server "${this.name}" was ${why} before it answered this request`,
      data: { server: this.name, reason: why },
    });
  }

  /** Spawns and initializes a generation; returns it once ready, or undefined on failure. */
  async #startGeneration(): Promise<Generation | undefined> {
    const number = ++this.#generations;
    const { command, args, cwd, env } = this.options;
    let child: ChildProcess;
    try {
      child = this.#runtime.spawn({
        command,
        args,
        cwd,
        env,
        watchdogGraceMs: this.options.graceMs,
      });
    } catch (err) {
      const cause = `could not start \`${[command, ...args].join(" ")}\`: ${
        err instanceof Error ? err.message : err
      }`;
      this.#fail(cause);
      return undefined;
    }
    const gen = new Generation(
      number,
      child,
      this.#log,
      this.#ctx(),
      (g, message, line) => this.#hooks.onServerMessage(this, g, message, line),
      () => this.#hooks.clientReady(),
      {
        maxMessageBytes: this.options.maxMessageBytes,
        // Stopped like a crash: its exit answers what it owes and schedules a restart.
        onBroken: (g) => this.#kill(g),
      },
    );
    this.current = gen;
    this.#log.info(`Started: ${[command, ...args].join(" ")}`, this.#ctx(gen.pid));
    gen.ended.then((status) => this.#onEnded(gen, status));

    const race = new AbortController();
    const params = await Promise.race([
      this.#session.initializeParamsReady(),
      gen.ended.then(() => undefined),
      this.#whenStopped(race.signal),
    ]);
    race.abort();
    if (params === undefined) {
      if (!this.#stopping.signal.aborted) {
        this.#fail(this.#exitCause(gen, "before it was initialized"));
      }
      return undefined;
    }
    const timeout = new AbortController();
    const response = await Promise.race([
      gen.call("initialize", params),
      delay(this.options.initTimeoutMs, timeout.signal).then(() => undefined),
      this.#whenStopped(timeout.signal),
    ]);
    timeout.abort();
    if (this.#stopping.signal.aborted) return undefined;
    if (response === undefined) {
      const tail = gen.stderr.lines();
      this.#fail(
        `server "${this.name}" did not answer initialize within ${this.options.initTimeoutMs} ms ` +
          "(raise it with --init-timeout <ms>, or initTimeout in a gateway config); it was stopped" +
          (tail.length > 0
            ? `\nLast stderr lines:\n${tail.map((l) => `  ${l}`).join("\n")}`
            : "\nIt wrote nothing to stderr."),
      );
      await this.#stopGeneration(gen, "stopped: it did not answer initialize in time");
      return undefined;
    }
    if (response.error) {
      const cause = response.error.code === ErrorCode.ServerUnavailable
        ? this.#exitCause(gen, "before it finished initializing")
        : `server answered initialize with an error: ${response.error.message}`;
      this.#fail(cause);
      if (gen.state !== "exited") await this.#stopGeneration(gen, "stopped: initialize failed");
      return undefined;
    }
    gen.initResult = (response.result ?? {}) as Record<string, unknown>;
    this.#initializedAt = performance.now();
    const replies: Promise<JsonRpcMessage>[] = [];
    const owns = this.#hooks.ownsResource;
    for (const step of this.#session.replay(owns && ((uri) => owns(this, uri)))) {
      if (step.notification) {
        gen.send(
          step.params ? { jsonrpc: "2.0", method: step.method, params: step.params } : {
            jsonrpc: "2.0",
            method: step.method,
          },
        );
      } else replies.push(gen.call(step.method, step.params));
    }
    for (const reply of await Promise.all(replies)) {
      if (reply.error) this.#log.debug(`replay: ${reply.error.message}`, this.#ctx(gen.pid));
    }
    if (gen.state === "exited") {
      this.#fail(this.#exitCause(gen, "right after initialize"));
      return undefined;
    }
    gen.state = "ready";
    this.state = "ready";
    this.#hooks.onReady(this, gen);
    return gen;
  }

  /**
   * Resolves with undefined once {@linkcode Backend.stop} is called. Its
   * listener is removed when `done` aborts, so a race that is over keeps
   * nothing alive (a long-lived promise in each race would hold every
   * generation's `initialize` result forever).
   */
  #whenStopped(done: AbortSignal): Promise<undefined> {
    const stopping = this.#stopping.signal;
    return new Promise((resolve) => {
      if (stopping.aborted) return resolve(undefined);
      const stopped = () => {
        release();
        resolve(undefined);
      };
      const release = () => {
        stopping.removeEventListener("abort", stopped);
        done.removeEventListener("abort", release);
      };
      stopping.addEventListener("abort", stopped);
      done.addEventListener("abort", release);
    });
  }

  #onEnded(gen: Generation, status: ExitStatus) {
    if (gen.stopReason === undefined && !this.#stopping.signal.aborted) {
      const cause = this.#exitCause(gen);
      gen.failPending({
        code: ErrorCode.ServerUnavailable,
        message: `mcpmon: ${cause}`,
        data: {
          server: this.name,
          exitCode: status.code,
          signal: status.signal,
          stderr: gen.stderr.lines(),
        },
      });
      if (gen === this.current && this.state === "ready") {
        this.#fail(cause);
        this.#scheduleCrashRestart();
      }
    }
    this.#hooks.onGenerationEnd?.(this, gen);
  }

  /**
   * After a crash mid-session, restart on our own with exponential backoff;
   * after too many crashes in the window, wait for a change or a request.
   */
  #scheduleCrashRestart() {
    const { windowMs, maxCrashes } = this.options.crashBackoff ?? DEFAULT_CRASH_BACKOFF;
    const n = this.#recentFailures(Date.now()).length;
    if (n > maxCrashes) {
      this.#log.error(
        `Server crashed ${n} times in ${windowMs / 1000} s; not restarting it on its own. ` +
          "Waiting for a file change or a restart request",
        this.#ctx(),
      );
      return;
    }
    const wait = this.#backoff(n);
    this.#log.info(
      `Restarting in ${wait} ms (crash ${n} of at most ${maxCrashes} in ${windowMs / 1000} s)`,
      this.#ctx(),
    );
    clearTimeout(this.#crashTimer);
    this.#crashTimer = setTimeout(() => {
      this.#crashTimer = undefined;
      if (this.state === "failed") this.#request("automatic restart after a crash");
    }, wait);
  }

  #exitCause(gen: Generation, when = "unexpectedly"): string {
    const status = gen.exitStatus;
    const what = gen.broken !== undefined
      ? `${gen.broken}, so mcpmon stopped it,`
      : status
      ? describeExit(status)
      : "ended";
    const tail = gen.stderr.lines();
    const stderr = tail.length > 0
      ? `\nLast stderr lines:\n${tail.map((l) => `  ${l}`).join("\n")}`
      : "";
    return `server "${this.name}" ${what} ${when}${stderr}`;
  }

  #fail(cause: string) {
    this.#failures.push(Date.now());
    this.state = "failed";
    this.lastError = cause;
    // The stderr or build output tail is in the cause for the client and status; the log
    // has shown those lines already as they came.
    this.#log.error(firstLine(cause), this.#ctx(this.current?.pid));
    this.#hooks.onFailed(this, cause);
    this.#hooks.onChange?.(this);
  }

  #ctx(pid?: number): { server?: string; pid?: number } {
    const ctx: { server?: string; pid?: number } = this.#labelled ? { server: this.name } : {};
    if (pid !== undefined) ctx.pid = pid;
    return ctx;
  }
}
