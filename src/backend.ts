/**
 * One backend server as a sequence of generations (processes): build,
 * throttle, drain, stop, spawn, initialize with the client's replayed
 * session, serve; crashes restarted with backoff.
 *
 * @module
 */
import { type ServerOptions, spawnOptions } from "./config.ts";
import { describeExit, Generation, type ServerInitiated } from "./generation.ts";
import { ErrorCode, type JsonRpcErrorObject, type JsonRpcMessage } from "./jsonrpc.ts";
import type { Logger } from "./log.ts";
import {
  type ChildProcess,
  type Clock,
  delay,
  type ExitStatus,
  type Runtime,
  systemClock,
  terminate,
} from "./runtime/mod.ts";
import { type Era, PROTOCOL_VERSION_KEY, type ReplayStep, type Session } from "./session.ts";
import { Throttle } from "./throttle.ts";

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
  /** A generation's process was spawned; it is not opened yet (no era, no handshake). */
  onSpawned?(backend: Backend, gen: Generation): void;
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
  /**
   * The server's own error when it refused to be opened (e.g. -32022, an
   * unsupported protocol version); cleared by the next good start.
   */
  openingRefusal: JsonRpcErrorObject | undefined;

  /** Spawns the server; for a URL server, wrapped at its first start to reach the URL. */
  #runtime: Runtime;
  readonly #session: Session;
  readonly #log: Logger;
  readonly #hooks: BackendHooks;
  readonly #labelled: boolean;
  /** Gateway: a server that refuses the client's era is opened in the other one. */
  readonly #bridgeEras: boolean;
  readonly #stopping = new AbortController();
  readonly #clock: Clock;
  readonly #throttle: Throttle;
  #generations = 0;
  #cycle: Promise<void> | null = null;
  #again: string | null = null;
  #waiters: ((outcome: RestartOutcome) => void)[] = [];
  #requestedAt = 0;
  #initializedAt = 0;
  #building: ChildProcess | undefined;
  #crashTimer: unknown;

  /** Prepares a backend; nothing runs until {@linkcode Backend.start}. */
  constructor(
    runtime: Runtime,
    options: ServerOptions,
    session: Session,
    log: Logger,
    hooks: BackendHooks,
    display: { labelled?: boolean; bridgeEras?: boolean } = {},
  ) {
    this.#labelled = display.labelled ?? false;
    this.#bridgeEras = display.bridgeEras ?? false;
    this.name = options.name;
    this.options = options;
    this.#runtime = runtime;
    this.#session = session;
    this.#log = log;
    this.#hooks = hooks;
    this.#clock = runtime.clock ?? systemClock;
    this.#throttle = new Throttle({
      minIntervalMs: options.minRestartIntervalMs,
      crashBackoff: options.crashBackoff,
    }, this.#clock);
  }

  /** The server's pid, while one runs. */
  get pid(): number | undefined {
    const gen = this.current;
    // 0: a server at a URL without a command of mcpmon's runs no process.
    return gen && gen.state !== "exited" && gen.pid > 0 ? gen.pid : undefined;
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
    this.#clock.clearTimeout(this.#crashTimer);
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
    // Only with a timer to clear: on Deno 2.9 the first touch of a timer global loads its timers
    // (~9 ms), and the first start has none, so that cost waits until the server is spawned.
    if (this.#crashTimer !== undefined) {
      this.#clock.clearTimeout(this.#crashTimer);
      this.#crashTimer = undefined;
    }
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
      this.#requestedAt = this.#clock.now();
      const old = this.current;
      const isRestart = old !== undefined;
      const serving = old !== undefined && old.state !== "exited";
      let outcome: RestartOutcome;
      // No await unless there is something to wait for: with no build and no
      // throttle, a restart takes effect in the same turn it was asked for.
      const command = this.options.build?.trim();
      const built = command
        // build.ts loads only for a server that has a build step.
        ? await (await import("./build.ts")).runBuild(this.#runtime, this.#log, {
          command,
          cwd: this.options.cwd,
          env: this.options.env,
          reason,
          context: this.#ctx(),
          onStart: (child) => this.#building = child,
        })
        : { ok: true as const };
      this.#building = undefined;
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
        const wait = this.#throttle.wait();
        if (wait > 0) {
          this.#log.verbose(`Waiting ${wait} ms before starting (restart throttle)`, this.#ctx());
          await delay(wait, this.#stopping.signal, this.#clock);
          if (this.#stopping.signal.aborted) break;
        }
        // Restarts are spaced from each other; the first one after launch is never held back.
        if (isRestart) this.#throttle.restarted();
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
      durationMs: this.#clock.now() - this.#requestedAt,
      pid,
      error,
      timings,
    };
  }

  /** Waits for in-flight client requests, up to the grace period. */
  async #drain(gen: Generation) {
    if (gen.clientRequestsPending === 0) return;
    this.#log.verbose(
      `Waiting up to ${this.options.graceMs} ms for ${gen.clientRequestsPending} request(s) in flight`,
      this.#ctx(gen.pid),
    );
    const timeout = new AbortController();
    await Promise.race([
      gen.idle(),
      gen.ended,
      delay(this.options.graceMs, timeout.signal, this.#clock),
    ]);
    timeout.abort();
  }

  /**
   * SIGTERM to a generation's process group, then SIGKILL if it has not
   * exited within the grace period. Resolves true when SIGKILL was needed.
   */
  #terminate(gen: Generation): Promise<boolean> {
    return terminate(gen.child, this.options.graceMs, this.#clock);
  }

  /** Stops a generation's process group: EOF + SIGTERM, SIGKILL after the grace period. */
  async #stopGeneration(gen: Generation, why: string) {
    gen.stopReason ??= why;
    if (gen.state !== "exited") {
      gen.state = "stopping";
      gen.closeStdin();
      if (await this.#terminate(gen)) {
        this.#log.warn(
          `Server did not exit within ${this.options.graceMs} ms of SIGTERM; sending SIGKILL`,
          this.#ctx(gen.pid),
        );
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
    const { command, args, url } = this.options;
    const shown = command === "" && url !== undefined
      ? `connection to ${url}`
      : [command, ...args].join(" ") + (url !== undefined ? ` (serving ${url})` : "");
    // A server reached at a URL: the runtime's spawn connects to it (already so when the
    // runtime was wrapped before tracing, which then sees the messages). The HTTP transport
    // loads only for such a server.
    const http = url !== undefined ? await import("./http_backend.ts") : undefined;
    if (http) this.#runtime = http.withHttpBackends(this.#runtime);
    if (
      http && url !== undefined && command !== "" &&
      this.#runtime.env("MCPMON_NO_PORT_CHECK") !== "1"
    ) {
      // The port must be free before the command starts, else mcpmon would talk to what holds
      // it: an old instance, or a server still on its way out (given the grace period to go).
      const taken = await http.checkPortFree(
        url,
        [command, ...args].join(" "),
        this.options.graceMs,
        number === 1,
        this.#clock,
        this.#stopping.signal,
      );
      if (taken !== undefined) {
        this.#fail(taken);
        return undefined;
      }
      if (this.#stopping.signal.aborted) return undefined;
    }
    let child: ChildProcess;
    try {
      child = this.#runtime.spawn(spawnOptions(this.options));
    } catch (err) {
      const cause = `could not start \`${shown}\`: ${err instanceof Error ? err.message : err}`;
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
        clock: this.#clock,
        // Stopped like a crash: its exit answers what it owes and schedules a restart.
        onBroken: (g) => void this.#terminate(g),
      },
    );
    this.current = gen;
    this.#log.info(`Started: ${shown}`, this.#ctx(gen.pid));
    this.#hooks.onSpawned?.(this, gen);
    gen.ended.then((status) => this.#onEnded(gen, status));

    const race = new AbortController();
    let era = await Promise.race([
      this.#session.eraDecided(),
      gen.ended.then(() => undefined),
      this.#whenStopped(race.signal),
    ]);
    race.abort();
    if (era === undefined) {
      if (!this.#stopping.signal.aborted) {
        this.#fail(this.#exitCause(gen, "before it was initialized"));
      }
      return undefined;
    }
    // Opened in the client's era: the first message pins a dual-era server's. A modern
    // process is opened with `server/discover` (carrying the client's envelope), which
    // also tells whether it still speaks the client's version. Through the gateway a
    // server that refuses the client's era is opened in the other one.
    gen.envelope = () => this.#session.envelopeForServer();
    let opened = await this.#open(gen, era);
    if (
      this.#bridgeEras && opened.response &&
      (opened.response.error?.code !== ErrorCode.ServerUnavailable) &&
      (opened.response.error || this.#eraRefusal(era, opened.response.result))
    ) {
      const other = era === "modern" ? "legacy" : "modern";
      this.#log.debug(
        `does not speak the client's era; opening it in the ${other} one`,
        this.#ctx(gen.pid),
      );
      opened = await this.#open(gen, other);
    }
    const { response, opening } = opened;
    if (this.#stopping.signal.aborted) return undefined;
    if (response === undefined) {
      const tail = gen.stderr.lines();
      this.#fail(
        `server "${this.name}" did not answer ${opening} within ${this.options.initTimeoutMs} ms ` +
          "(raise it with --init-timeout <ms>, or initTimeout in a gateway config); it was stopped" +
          (tail.length > 0
            ? `\nLast stderr lines:\n${tail.map((l) => `  ${l}`).join("\n")}`
            : "\nIt wrote nothing to stderr."),
      );
      await this.#stopGeneration(gen, `stopped: it did not answer ${opening} in time`);
      return undefined;
    }
    era = gen.era!;
    const refusal = response.error ? undefined : this.#eraRefusal(era, response.result);
    if (response.error || refusal) {
      const cause = response.error?.code === ErrorCode.ServerUnavailable
        ? this.#exitCause(gen, "before it finished initializing")
        : refusal ?? this.#openingError(era, response.error!);
      if (response.error && response.error.code !== ErrorCode.ServerUnavailable) {
        this.openingRefusal = response.error;
      }
      this.#fail(cause);
      if (gen.state !== "exited") await this.#stopGeneration(gen, `stopped: ${opening} failed`);
      return undefined;
    }
    this.openingRefusal = undefined;
    gen.initResult = (response.result ?? {}) as Record<string, unknown>;
    this.#initializedAt = performance.now();
    const replies: Promise<JsonRpcMessage>[] = [];
    const owns = this.#hooks.ownsResource;
    // A legacy process of a modern client (gateway) has no replay but the handshake's end.
    const steps = era === "modern"
      ? []
      : this.#session.era === "modern"
      ? [{ method: "notifications/initialized", notification: true }]
      : this.#session.replay(owns && ((uri) => owns(this, uri)));
    for (const step of steps as ReplayStep[]) {
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
        if (this.options.command === "" && this.options.url !== undefined) {
          // No process of ours: the server someone else runs went away or forgot the
          // session. Reconnect at once (paced by the failure backoff); new requests wait
          // for it, at most the init timeout, instead of being refused meanwhile.
          this.#throttle.failed();
          this.lastError = cause;
          this.state = "restarting";
          this.#log.warn(`${firstLine(cause)}; reconnecting`, this.#ctx());
          this.#request("reconnecting: the connection was lost");
        } else {
          this.#fail(cause);
          this.#scheduleCrashRestart();
        }
      }
    }
    this.#hooks.onGenerationEnd?.(this, gen);
  }

  /**
   * After a crash mid-session, restart on our own with exponential backoff;
   * after too many crashes in the window, wait for a change or a request.
   */
  #scheduleCrashRestart() {
    const { windowMs, maxCrashes } = this.#throttle.limits;
    const n = this.#throttle.recentFailures;
    if (this.#throttle.givesUp()) {
      this.#log.error(
        `Server crashed ${n} times in ${windowMs / 1000} s; not restarting it on its own. ` +
          "Waiting for a file change or a restart request",
        this.#ctx(),
      );
      return;
    }
    const wait = this.#throttle.backoff();
    this.#log.info(
      `Restarting in ${wait} ms (crash ${n} of at most ${maxCrashes} in ${windowMs / 1000} s)`,
      this.#ctx(),
    );
    this.#clock.clearTimeout(this.#crashTimer);
    this.#crashTimer = this.#clock.setTimeout(() => {
      this.#crashTimer = undefined;
      if (this.state === "failed") this.#request("automatic restart after a crash");
    }, wait);
  }

  /** Opens a process in `era`: `initialize` (legacy) or `server/discover` (modern), bounded by the init timeout. */
  async #open(
    gen: Generation,
    era: Era,
  ): Promise<{ response: JsonRpcMessage | undefined; opening: string }> {
    gen.era = era;
    const opening = era === "modern" ? "server/discover" : "initialize";
    const timeout = new AbortController();
    const response = await Promise.race([
      gen.call(opening, era === "modern" ? {} : this.#session.initializeParamsForServer()),
      delay(this.options.initTimeoutMs, timeout.signal, this.#clock).then(() => undefined),
      this.#whenStopped(timeout.signal),
    ]);
    timeout.abort();
    return { response, opening };
  }

  /**
   * Why an opening error ends the session's hope of this process: the server
   * no longer speaks the client's era (the developer changed SDK or its
   * settings), said exactly, or its own error.
   */
  #openingError(era: Era, error: JsonRpcErrorObject): string {
    const said = `${error.message} (${error.code})`;
    if (era === "modern") {
      return `server "${this.name}" does not speak MCP ${this.#clientVersion()} (server/discover: ${said}), ` +
        "the protocol era the client's session uses; if it now speaks only the 2025 era " +
        "(initialize), reconnect the client so it negotiates again";
    }
    if (error.code === ErrorCode.UnsupportedProtocolVersion) {
      return `server "${this.name}" does not speak the client's MCP ${this.#clientVersion()} ` +
        `(initialize: ${said}); if it now speaks only 2026-07-28, reconnect the client so it ` +
        "negotiates again";
    }
    return `server "${this.name}" answered initialize with an error: ${error.message}`;
  }

  /** A DiscoverResult that does not list the client's version: the era changed under it. */
  #eraRefusal(era: Era, result: unknown): string | undefined {
    if (era !== "modern") return undefined;
    const versions = (result as { supportedVersions?: unknown } | undefined)?.supportedVersions;
    const version = String(this.#session.envelopeForServer()?.[PROTOCOL_VERSION_KEY]);
    if (!Array.isArray(versions) || versions.includes(version)) return undefined;
    return `server "${this.name}" no longer supports MCP ${version}, the client's version ` +
      `(it supports ${versions.join(", ") || "none"}); reconnect the client so it negotiates again`;
  }

  /** The protocol version the client's session uses. */
  #clientVersion(): string {
    const version = this.#session.era === "modern"
      ? this.#session.envelope?.[PROTOCOL_VERSION_KEY]
      : this.#session.initializeParams?.protocolVersion;
    return typeof version === "string" ? version : "?";
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
    this.#throttle.failed();
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

/** The first line of a multi-line message (for a log line whose details were shown already). */
function firstLine(text: string): string {
  const end = text.indexOf("\n");
  return end === -1 ? text : text.slice(0, end);
}
