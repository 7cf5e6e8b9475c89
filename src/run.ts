/**
 * Runs mcpmon: the client on this process's stdio, one supervised server
 * ({@linkcode run}) or several behind one entry ({@linkcode runGateway}),
 * file watchers that restart them, signals, and the state-dir registry.
 *
 * @module
 */
import { dirname } from "node:path";
import { findCommand } from "./command.ts";
import { DEFAULT_MAX_MESSAGE_BYTES, type LogOptions, type ServerOptions } from "./config.ts";
import type { Registry } from "./registry.ts";
import type { GatewayConfig } from "./gateway_config.ts";
import { LineSplitter, readClientLines } from "./jsonrpc.ts";
import { Logger } from "./log.ts";
import { Router } from "./router.ts";
import { Tracer, tracingRuntime } from "./trace.ts";
import type { HttpServer, Runtime, SpawnOptions } from "./runtime/mod.ts";
import type { HttpFrontOptions } from "./http_front.ts";
import type { Backend, RestartOutcome } from "./backend.ts";
import { VERSION } from "./version.ts";
import type { Change, Watcher } from "./watcher.ts";
import { missingWatchPaths } from "./watch_paths.ts";

/**
 * Proxies the client on `runtime`'s stdio to the server described by
 * `server`, restarting it when watched files change. Resolves with the exit
 * code once the client closed stdin or a SIGINT/SIGTERM arrived, after the
 * server's process group has been stopped.
 *
 * @example
 * ```ts ignore
 * import { denoRuntime } from "./runtime/deno.ts";
 * const code = await run(denoRuntime, serverOptions, { level: "info", timestamps: false });
 * ```
 */
export async function run(
  runtime: Runtime,
  server: ServerOptions,
  logOptions: LogOptions,
  http?: HttpListen,
): Promise<number> {
  const log = new Logger(runtime, logOptions);
  log.info(versionLine(runtime));
  const problem = cannotStart(runtime, server);
  if (problem !== undefined) {
    log.error(problem);
    return 1;
  }
  const missing = missingWatchPaths([server], false, runtime.files);
  if (missing) {
    log.error(missing);
    return 2;
  }
  if (http) return await runHttp(runtime, log, server, logOptions, http);
  const tracer = newTracer(runtime, log, logOptions);
  const traced = tracingRuntime(
    await reachingUrls(runtime, server.url !== undefined),
    tracer,
    (o) => sameCommand(o, server) ? server.name : undefined,
    { server: server.name },
  );
  const router = new Router(traced, log, [server]);
  let watcher: Watcher | undefined | null;
  return await serve(traced, log, stdioClient(traced, router), {
    tracer,
    name: server.name,
    command: server.command === "" && server.url !== undefined
      ? [server.url]
      : [server.command, ...server.args],
    cwd: server.cwd ?? runtime.cwd(),
    startWatchers: () => {
      watcher = watchServer(runtime, log, server, (reason) => router.restart(reason), false);
      return watcher !== null;
    },
    closeWatchers: () => watcher?.close(),
    restart: (reason) => router.restart(reason),
    track: (registry) => router.onChange = (backend) => registry.updateFrom(backend),
  });
}

/**
 * Gateway mode: runs every server of the config file at `configPath` behind
 * one entry, each watched and restarted on its own; edits to the config file
 * add, remove or restart only the servers whose definition changed. Resolves
 * with the exit code (2 when the config is invalid at start).
 *
 * With `options.http`, the gateway is served on Streamable HTTP
 * ({@linkcode HttpFront} with one shared peer): one router, one process per
 * server, shared by every HTTP client of both eras. The router's client is
 * the front, in the 2026-07-28 era: modern requests reach it under the
 * front's own ids, and each 2025 session is bridged onto it (its
 * `initialize` becomes the `_meta` envelope of its requests, a listen held
 * for it brings it `list_changed`). A stdio server holds one session, so a
 * gateway per client would mean a process per server per client; the
 * gateway answers `initialize` and `server/discover` itself and opens its
 * servers in the era they speak, so one client side (the modern one) is
 * enough for all.
 *
 * @example
 * ```ts ignore
 * import { denoRuntime } from "./runtime/deno.ts";
 * const code = await runGateway(denoRuntime, "/app/.mcpmon.yaml", "gateway", { level: "info", timestamps: false });
 * ```
 */
export async function runGateway(
  runtime: Runtime,
  configPath: string,
  name: string,
  logOptions: LogOptions,
  options: { callThrough?: boolean; http?: HttpListen } = {},
): Promise<number> {
  const log = new Logger(runtime, logOptions);
  log.info(versionLine(runtime));
  // Loaded here, not at start-up: single-server mode needs neither the YAML parser nor the loader.
  const { describeConfigError, Gateway, gatewayNaming, readGatewayConfig } = await import(
    "./gateway.ts"
  );
  const readConfig = (path: string): GatewayConfig =>
    readGatewayConfig(path, { cwd: runtime.cwd(), env: (name) => runtime.env(name) });
  let config: GatewayConfig;
  try {
    config = readConfig(configPath);
  } catch (err) {
    log.error(describeConfigError(err, configPath));
    return 2;
  }
  const missing = missingWatchPaths(config.servers, true, runtime.files);
  if (missing) {
    log.error(`invalid config ${configPath}:\n${missing}`);
    return 2;
  }
  for (const warning of config.warnings) log.warn(warning);
  if (config.servers.length === 0) log.warn(`${configPath} has no enabled servers`);
  const tracer = newTracer(runtime, log, logOptions);
  const traced = tracingRuntime(
    await reachingUrls(runtime, true), // a config reload may add a URL server
    tracer,
    (o) => router.backends.find((b) => sameCommand(o, b.options))?.name,
  );
  /** Where the router's client messages go with --http: the front, once it opened its peer. */
  let toFront: (line: string) => void = () => {};
  const router: Router = new Router(
    options.http ? inMemoryClient(traced, (line) => toFront(line)) : traced,
    log,
    config.servers,
    { gateway: gatewayNaming(config, name, options.callThrough === true) },
  );
  let client: ClientSide | number = stdioClient(traced, router);
  let routerClosed: Promise<void> | undefined;
  const closeRouter = () => routerClosed ??= router.close({ drain: false });
  if (options.http) {
    if (!runtime.serve) {
      log.error(`this runtime (${runtime.name}) cannot serve HTTP`);
      return 2;
    }
    client = await httpClient(
      runtime,
      log,
      options.http,
      {
        maxBodyBytes: Math.max(...config.servers.map((s) => s.maxMessageBytes), 0) ||
          DEFAULT_MAX_MESSAGE_BYTES,
        sharedPeer: true,
        openPeer: (send) => {
          toFront = send;
          return {
            handleClientLine: (line) => router.handleClientLine(line),
            close: closeRouter,
          };
        },
      },
      "one process per server, shared by every client",
      () => router.start(),
    );
    if (typeof client === "number") return client;
    // The servers stop with mcpmon even when no client came (the front never opened its peer).
    const front = client;
    client = { ...front, close: (o) => front.close(o).then(closeRouter) };
  }
  // Reloads of the config file add, remove and restart servers, each with its own watcher.
  const gateway = new Gateway(config, {
    router,
    log,
    path: configPath,
    name,
    callThrough: options.callThrough,
    load: () => readConfig(configPath),
    watch: (server) =>
      watchServer(runtime, log, server, (reason) => router.restart(reason, server.name), true),
  });

  // The config file is watched through its directory: editors that replace it are seen too.
  const { Watcher } = await loadWatcher();
  const configWatcher = new Watcher(
    () => runtime.watch(),
    { paths: [configPath], extensions: [], ignore: [], debounceMs: 100, ignoreFiles: false },
    () => void gateway.reload(),
    (err) =>
      log.error(`watching ${configPath} failed: ${err instanceof Error ? err.message : err}`),
    {
      clock: runtime.clock,
      onWarning: (message) => log.warn(message),
      onInfo: (message) => log.info(message),
    },
  );
  log.info(
    `Gateway over ${config.servers.map((s) => s.name).join(", ") || "no servers"} (${configPath})`,
  );

  const summarize = (registry: Registry) => {
    const backends = router.backends;
    const failed = backends.filter((b) => b.state === "failed");
    registry.update({
      state: failed.length > 0
        ? "failed"
        : backends.some((b) => b.state !== "ready")
        ? "restarting"
        : "ready",
      restarts: backends.reduce((n, b) => n + b.restarts, 0),
      lastError: failed.length > 0
        ? failed.map((b) => `${b.name}: ${b.lastError}`).join("\n")
        : undefined,
      backends: backends.map((b) => ({
        name: b.name,
        state: b.state,
        serverPid: b.pid,
        restarts: b.restarts,
        lastReason: b.lastReason,
        lastError: b.lastError,
      })),
    });
  };
  let gatewayRestarts = 0; // restarts of the whole gateway, counted from 1
  return await serve(traced, log, client, {
    tracer,
    name,
    command: ["mcpmon", "--config", configPath],
    cwd: dirname(configPath),
    startWatchers: () => {
      gateway.watchAll();
      try {
        configWatcher.start();
      } catch (err) {
        log.warn(
          `cannot watch ${configPath} for changes: ${err instanceof Error ? err.message : err}`,
        );
      }
      return true;
    },
    closeWatchers: () => {
      configWatcher.close();
      gateway.closeWatchers();
    },
    restart: async (reason, server) => {
      if (server !== undefined) {
        // `mcpmon restart <gateway>/<server>`: that server alone.
        return await router.restart(reason, server).catch((err) => ({
          ok: false,
          restart: 0,
          durationMs: 0,
          error: err instanceof Error ? err.message : String(err),
          timings: { drainMs: 0, stopMs: 0, initializeMs: 0, replayMs: 0 },
        }));
      }
      const outcomes = await Promise.all(
        router.backends.map((b) => router.restart(reason, b.name)),
      );
      const ok = outcomes.every((o) => o.ok);
      if (ok) gatewayRestarts++;
      return {
        ok,
        restart: gatewayRestarts + (ok ? 0 : 1),
        durationMs: Math.max(0, ...outcomes.map((o) => o.durationMs)),
        error: outcomes.filter((o) => !o.ok).map((o) => o.error).join("\n") || undefined,
        timings: { drainMs: 0, stopMs: 0, initializeMs: 0, replayMs: 0 },
      };
    },
    track: (registry) => router.onChange = () => summarize(registry),
  });
}

/**
 * `runtime`, able to reach a server at a URL when `needed` (its spawn then
 * connects there, `withHttpBackends`); the HTTP transport loads only then.
 * Wrapped before tracing, which then sees the messages.
 */
async function reachingUrls(runtime: Runtime, needed: boolean): Promise<Runtime> {
  return needed ? (await import("./http_backend.ts")).withHttpBackends(runtime) : runtime;
}

/**
 * Why `server`'s command cannot start (not found, not executable), as a
 * startup error for people; `undefined` when it can. A command given as a
 * path is not checked when a build runs first: the build may create it.
 */
function cannotStart(runtime: Runtime, server: ServerOptions): string | undefined {
  if (server.command === "" && server.url !== undefined) return undefined; // a URL only
  const isPath = server.command.includes("/") || server.command.includes("\\");
  if (isPath && server.build?.trim()) return undefined;
  const found = findCommand(server.command, {
    cwd: server.cwd ?? runtime.cwd(),
    path: server.env?.PATH ?? runtime.env("PATH"),
    pathExt: runtime.env("PATHEXT"),
    platform: runtime.host?.platform,
    files: runtime.files,
  });
  if (found.ok) return undefined;
  return `cannot start the server \`${[server.command, ...server.args].join(" ")}\`: ` +
    `${found.reason}.\nFix the command: in your MCP client's config (the "command" and "args" ` +
    `of this server's entry), or on the command line.`;
}

/**
 * The first log line: mcpmon's version, the runtime and its version, the
 * platform and mcpmon's pid (what a bug report needs).
 *
 * @example
 * ```ts ignore
 * versionLine(denoRuntime); // "mcpmon 0.1.0 on deno 2.9.6 (linux x64), pid 4242"
 * ```
 */
export function versionLine(runtime: Runtime): string {
  const host = runtime.host ?? hostOfProcess(runtime.name);
  return `mcpmon ${VERSION} on ${runtime.name} ${host.version} ` +
    `(${host.platform} ${host.arch}), pid ${runtime.pid}`;
}

/** {@linkcode Runtime.host} from the `process` global, for a runtime that does not say. */
function hostOfProcess(name: string): NonNullable<Runtime["host"]> {
  const process = (globalThis as {
    process?: { versions: Record<string, string | undefined>; platform: string; arch: string };
  }).process;
  const versions = process?.versions ?? {};
  return {
    version: versions[name] ?? versions.bun ?? versions.deno ?? versions.node ?? "?",
    platform: process?.platform ?? "?",
    arch: process?.arch ?? "?",
  };
}

/**
 * What mcpmon says when its stdin is a terminal: it waits for an MCP client,
 * and how to try the server by hand through mcpmon with the MCP Inspector's
 * CLI (`argv` is mcpmon's own command line).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.ok(terminalHint(["--", "python", "server.py"]).includes(
 *   "npx @modelcontextprotocol/inspector --cli --method tools/list -- mcpmon -- python server.py",
 * ));
 * ```
 */
export function terminalHint(argv: readonly string[]): string {
  return "stdin is a terminal: mcpmon waits for an MCP client to speak JSON-RPC on stdin.\n" +
    "  Put this command in your MCP client's config, or try the server by hand with the\n" +
    "  MCP Inspector's CLI (Node >= 22.19), which starts mcpmon for you:\n" +
    `    npx @modelcontextprotocol/inspector --cli --method tools/list -- ${
      shellWords(["mcpmon", ...argv])
    }\n` +
    "  (--method tools/call --tool-name NAME --tool-arg key=value calls a tool). Ctrl-C stops.";
}

/** Joins words for a POSIX shell, quoting those that need it. */
function shellWords(words: readonly string[]): string {
  return words.map((w) =>
    /^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : `'${w.replaceAll("'", `'\\''`)}'`
  )
    .join(" ");
}

/**
 * A tracer writing to `--trace` when given, and to the state dir while followed (once
 * {@linkcode serve} has opened the state dir).
 */
function newTracer(runtime: Runtime, log: Logger, logOptions: LogOptions): Tracer {
  return new Tracer(runtime, {
    file: logOptions.trace,
    pid: runtime.pid,
    onError: (path, err) =>
      log.error(`cannot write trace ${path}: ${err instanceof Error ? err.message : err}`),
  });
}

/** Whether a spawn is a server's own (not its build). */
function sameCommand(o: SpawnOptions, server: ServerOptions): boolean {
  return o.command === server.command && o.cwd === server.cwd && o.http?.url === server.url &&
    o.args.length === server.args.length && o.args.every((a, i) => a === server.args[i]);
}

/** What {@linkcode serve} needs to know of the mode it serves. */
interface ServeOptions {
  /** Records the traffic (`--trace`, `mcpmon trace`). */
  tracer: Tracer;
  /** The name this instance registers under. */
  name: string;
  /** The command shown by `mcpmon status`. */
  command: string[];
  /** Its working directory. */
  cwd: string;
  /**
   * Starts the file watchers, once the servers are spawned (watching a large tree takes a while,
   * and the servers start meanwhile); false when they cannot watch (logged): mcpmon stops.
   */
  startWatchers(): boolean;
  /** Stops every file watcher. */
  closeWatchers(): void;
  /**
   * Restarts what a SIGHUP/SIGUSR2 or `mcpmon restart` should restart;
   * `server`: one server of a gateway (`mcpmon restart <gateway>/<server>`).
   */
  restart(reason: string, server?: string): Promise<RestartOutcome>;
  /** Keeps the registry entry up to date from now on. */
  track(registry: Registry): void;
}

/**
 * The part both modes share: signals, the registry, the client's stdin, shutdown. The servers are
 * spawned first, as soon as the signal handlers that stop them are in place, so that their
 * start-up overlaps the rest of mcpmon's (watchers, the state dir).
 */
async function serve(
  runtime: Runtime,
  log: Logger,
  client: ClientSide,
  mode: ServeOptions,
): Promise<number> {
  keepStdoutForProtocol();
  if (client.readsStdin && runtime.stdinIsTerminal()) log.info(terminalHint(runtime.args));
  let registry: Registry | undefined;
  let shuttingDown: Promise<void> | undefined;
  const shutdown = (drain: boolean) => {
    shuttingDown ??= (async () => {
      mode.closeWatchers();
      await client.close({ drain });
      mode.tracer.close();
      registry?.close();
    })();
    return shuttingDown;
  };
  // mcpmon's own error paths stop the servers too: nothing is left behind.
  runtime.onUncaughtError((error) => {
    log.error(
      `internal error: ${error instanceof Error ? error.stack ?? error.message : String(error)}`,
    );
    shutdown(false).finally(() => runtime.exit(1));
  });
  // The handlers stay installed until the process exits: a signal that arrives
  // during shutdown must not find the default action (which ends the process).
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    runtime.onSignal(signal, () => {
      if (shuttingDown) {
        log.debug(`Received ${signal} while stopping; already stopping`);
        return;
      }
      log.info(`Received ${signal}; stopping`);
      shutdown(false).then(() => runtime.exit(0));
    });
  }
  // SIGHUP and SIGUSR2 (as nodemon uses) restart; `mcpmon restart` leaves a
  // request (with its reason) in the state dir, then sends SIGUSR2.
  for (const signal of ["SIGHUP", "SIGUSR2"] as const) {
    runtime.onSignal(signal, () => {
      if (shuttingDown) {
        log.debug(`Received ${signal} while stopping; no restart`);
        return;
      }
      const request = registry?.takeRequest();
      // `mcpmon trace` signals too: a new follower and no restart request is not a restart.
      if (request === undefined && signal === "SIGUSR2" && mode.tracer.poll() > 0) {
        log.info(`Tracing messages for mcpmon trace (${mode.tracer.liveFile})`);
        return;
      }
      log.info(
        `Received ${signal}; restarting${request?.server ? ` ${request.server}` : ""}${
          request?.reason ? ` (${request.reason})` : ""
        }`,
      );
      mode.restart(request?.reason ?? signal, request?.server).then((outcome) =>
        registry?.recordRestart(outcome, request)
      );
    });
  }
  const failed = await client.start();
  if (failed !== undefined) {
    await shutdown(false);
    return failed;
  }
  // The client is read from now on (its requests wait in the router's queue for the server), while
  // the watchers start and the state dir opens.
  const served = client.served(log);
  // The watcher (and its ignore rules) is loaded only now, with the client being read.
  await loadWatcher();
  if (!mode.startWatchers()) {
    await shutdown(false);
    return 1;
  }
  // Registered only once the signal handlers exist (an unhandled SIGUSR2 would end the process).
  // Loaded here, after the spawn: only the registry of `mcpmon status`/`restart` needs it.
  const { liveTrace, Registry, stateDir } = await import("./registry.ts");
  try {
    const dir = stateDir((name) => runtime.env(name));
    mode.tracer.followable(liveTrace(dir));
    registry = Registry.open(
      dir,
      {
        name: mode.name,
        pid: runtime.pid,
        command: mode.command,
        cwd: mode.cwd,
        startedAt: Date.now(),
      },
      (err) => log.debug(`state dir: ${err instanceof Error ? err.message : err}`),
    );
    mode.track(registry);
  } catch (err) {
    log.warn(
      `mcpmon status/restart will not see this instance: ${
        err instanceof Error ? err.message : err
      }`,
    );
  }

  await served;
  await shutdown(true);
  return 0;
}

/** Where the client is, as {@linkcode serve} drives it: stdio, or the HTTP front. */
interface ClientSide {
  /** Whether the client speaks on mcpmon's stdin (then a terminal there gets a hint). */
  readsStdin: boolean;
  /** Starts serving (the servers, or the listening socket); an exit code when it cannot. */
  start(): Promise<number | undefined>;
  /** Resolves once the client is gone (stdin's end); never, for the HTTP front. */
  served(log: Logger): Promise<void>;
  /** Stops serving and every server process; with `drain`, after the requests in flight. */
  close(options: { drain: boolean }): Promise<void>;
}

/** The client on mcpmon's stdio, in front of one router. */
function stdioClient(runtime: Runtime, router: Router): ClientSide {
  return {
    readsStdin: true,
    start: () => {
      router.start();
      return Promise.resolve(undefined);
    },
    async served(log) {
      try {
        readyMarker(runtime);
        const limit = Math.max(
          ...router.backends.map((b) => b.options.maxMessageBytes),
          0,
        ) || DEFAULT_MAX_MESSAGE_BYTES;
        await readClientLines(runtime.stdin, (line) => router.handleClientBytes(line), {
          maxLineBytes: limit,
          onOversized: (bytes, head) => router.rejectOversized(bytes, head, limit),
        });
        log.debug("client closed stdin");
      } catch (err) {
        log.debug(`client stdin failed: ${err instanceof Error ? err.message : err}`);
      }
    },
    close: (options) => router.close(options),
  };
}

/** The environment variable that asks for {@linkcode readyMarker}'s line. */
export const READY_MARKER_ENV = "MCPMON_READY_MARKER";

/**
 * With `MCPMON_READY_MARKER=1` in the environment, writes `mcpmon: ready <ms>` to stderr at the
 * moment mcpmon has spawned its server and begins to read the client's stdin: `<ms>` is the time
 * since the process started, on the runtime's own clock (`performance.now()`). `deno task bench`
 * times its start-up row by this line; without the variable, nothing is written.
 *
 * @example
 * ```ts ignore
 * // MCPMON_READY_MARKER=1 mcpmon -- node server.js   → stderr: "mcpmon: ready 41.3"
 * ```
 */
function readyMarker(runtime: Runtime): void {
  if (runtime.env(READY_MARKER_ENV) !== "1") return;
  runtime.writeStderr(
    new TextEncoder().encode(`mcpmon: ready ${performance.now().toFixed(1)}\n`),
  );
}

/** Where `--http` listens, and its bearer token. */
export interface HttpListen {
  /** The address to bind. */
  hostname: string;
  /** The port (0: any free one). */
  port: number;
  /** `--http-token`; `MCPMON_HTTP_TOKEN` from the environment when absent. */
  token?: string;
}

/**
 * `--http`: serves the server on Streamable HTTP ({@linkcode HttpFront}).
 * Each legacy client session gets a router of its own (its own server
 * process, its session replayed across restarts); the modern requests share
 * one. The one watcher restarts them all. Exit code 2 when it cannot listen
 * (the port is in use, a bad address) or a non-loopback bind has no token.
 */
async function runHttp(
  runtime: Runtime,
  log: Logger,
  server: ServerOptions,
  logOptions: LogOptions,
  http: HttpListen,
): Promise<number> {
  if (!runtime.serve) {
    log.error(`this runtime (${runtime.name}) cannot serve HTTP`);
    return 2;
  }
  const tracer = newTracer(runtime, log, logOptions);
  const traced = tracingRuntime(
    await reachingUrls(runtime, server.url !== undefined),
    tracer,
    (o) => sameCommand(o, server) ? server.name : undefined,
    { server: server.name },
  );
  const routers = new Set<Router>();
  let onChange: ((backend: Backend) => void) | undefined;
  const client = await httpClient(runtime, log, http, {
    maxBodyBytes: server.maxMessageBytes,
    openPeer: (send) => {
      const router = new Router(inMemoryClient(traced, send), log, [server]);
      router.onChange = (backend) => onChange?.(backend);
      routers.add(router);
      router.start();
      return {
        handleClientLine: (line) => router.handleClientLine(line),
        close: async () => {
          routers.delete(router);
          await router.close({ drain: false });
        },
      };
    },
  }, "each client session runs its own server process");
  if (typeof client === "number") return client;
  const restartAll = async (reason: string): Promise<RestartOutcome> => {
    const outcomes = await Promise.all(
      [...routers].map((r) =>
        r.restart(reason).catch((err): RestartOutcome => ({
          ok: false,
          restart: 0,
          durationMs: 0,
          error: err instanceof Error ? err.message : String(err),
          timings: { drainMs: 0, stopMs: 0, initializeMs: 0, replayMs: 0 },
        }))
      ),
    );
    return {
      ok: outcomes.every((o) => o.ok),
      restart: Math.max(0, ...outcomes.map((o) => o.restart)),
      durationMs: Math.max(0, ...outcomes.map((o) => o.durationMs)),
      error: outcomes.filter((o) => !o.ok).map((o) => o.error).join("\n") || undefined,
      timings: { drainMs: 0, stopMs: 0, initializeMs: 0, replayMs: 0 },
    };
  };
  let watcher: Watcher | undefined | null;
  return await serve(traced, log, client, {
    tracer,
    name: server.name,
    command: [server.command, ...server.args],
    cwd: server.cwd ?? runtime.cwd(),
    startWatchers: () => {
      watcher = watchServer(runtime, log, server, restartAll, false);
      return watcher !== null;
    },
    closeWatchers: () => watcher?.close(),
    restart: restartAll,
    track: (registry) => onChange = (backend) => registry.updateFrom(backend),
  });
}

/** A view of `runtime` whose stdout (the router's client) is in memory: each line goes to `send`. */
function inMemoryClient(runtime: Runtime, send: (line: string) => void): Runtime {
  const splitter = new LineSplitter();
  const stdout = new WritableStream<Uint8Array>({
    write(chunk) {
      for (const line of splitter.push(chunk)) send(line);
    },
  });
  return Object.create(runtime, { stdout: { value: stdout } });
}

/**
 * The HTTP front as the client side of {@linkcode serve}, for both modes;
 * exit code 2 (logged) when a non-loopback bind has no token. `shape` says
 * in the "Serving on" line how the sessions map to server processes;
 * `onListening` runs once the port is bound (gateway: starts the servers).
 */
async function httpClient(
  runtime: Runtime,
  log: Logger,
  http: HttpListen,
  options: Pick<HttpFrontOptions, "maxBodyBytes" | "openPeer" | "sharedPeer">,
  shape: string,
  onListening?: () => void,
): Promise<ClientSide | number> {
  const { HttpFront, isLoopback } = await import("./http_front.ts");
  const token = http.token ?? (runtime.env("MCPMON_HTTP_TOKEN") || undefined);
  const host = http.hostname.includes(":") ? `[${http.hostname}]` : http.hostname;
  const where = `http://${host}:${http.port}/mcp`;
  if (!isLoopback(http.hostname) && token === undefined) {
    log.error(
      `refusing to serve on ${where} without a token: anyone who can reach it could run the ` +
        "server. Set MCPMON_HTTP_TOKEN (or --http-token), or bind 127.0.0.1.",
    );
    return 2;
  }
  const front = new HttpFront({
    ...options,
    hostname: http.hostname,
    token,
    clock: runtime.clock,
    log: { info: (m) => log.info(m), warn: (m) => log.warn(m), debug: (m) => log.debug(m) },
  });
  let listening: HttpServer | undefined;
  return {
    readsStdin: false,
    async start() {
      try {
        listening = await runtime.serve!(
          { hostname: http.hostname, port: http.port },
          front.handle,
        );
      } catch (err) {
        log.error(bindError(err, where));
        return 2;
      }
      onListening?.(); // the servers start once mcpmon can serve them
      log.info(
        `Serving on http://${host}:${listening.port}/mcp (Streamable HTTP; ${shape})${
          token ? ", bearer token required" : ""
        }`,
      );
      return undefined;
    },
    served: () => new Promise<void>(() => {}), // until a signal stops mcpmon
    async close() {
      await front.close();
      await listening?.close();
    },
  };
}

/** Why the HTTP front cannot listen, for people. */
function bindError(err: unknown, where: string): string {
  const code = (err as { code?: string }).code;
  const message = err instanceof Error ? err.message : String(err);
  switch (code) {
    case "EADDRINUSE":
      return `cannot serve on ${where}: the port is in use (another mcpmon or server?). ` +
        "Choose another port with --http, or 0 for any free one.";
    case "EACCES":
      return `cannot serve on ${where}: permission denied (ports below 1024 need privileges).`;
    case "EADDRNOTAVAIL":
      return `cannot serve on ${where}: no such address on this machine.`;
    case "ENOTCAPABLE":
      return `cannot serve on ${where}: Deno needs --allow-net (${message})`;
    default:
      return `cannot serve on ${where}: ${message}`;
  }
}

/**
 * Starts watching a server's paths; `undefined` when it watches nothing,
 * `null` when its paths cannot be watched (logged).
 */
/** `watcher.ts`, `pycache.ts` and `restart_loop.ts`, once loaded by {@linkcode loadWatcher}. */
let watcherModule:
  | typeof import("./watcher.ts")
    & typeof import("./pycache.ts")
    & typeof import("./restart_loop.ts")
  | undefined;

/**
 * Loads the watcher, with what a change brings (the restart-loop guard, `__pycache__` clean-up):
 * not at start-up (with `ignore`, it costs Deno ~20 ms), but once the servers are spawned and the
 * client is being read ({@linkcode serve}), or for the gateway's config file.
 */
async function loadWatcher(): Promise<NonNullable<typeof watcherModule>> {
  const [watcher, pycache, restartLoop] = await Promise.all([
    import("./watcher.ts"),
    import("./pycache.ts"),
    import("./restart_loop.ts"),
  ]);
  return watcherModule ??= { ...watcher, ...pycache, ...restartLoop };
}

/** Watches `server`'s paths; needs {@linkcode loadWatcher} done. */
function watchServer(
  runtime: Runtime,
  log: Logger,
  server: ServerOptions,
  restart: (reason: string, changes: Change[]) => Promise<RestartOutcome>,
  labelled: boolean,
): Watcher | undefined | null {
  if (server.watch.length === 0) return undefined;
  const ctx = labelled ? { server: server.name } : {};
  if (watcherModule === undefined) throw new Error("internal error: the watcher is not loaded");
  const { RestartLoopGuard, removeBytecode, watchesPython } = watcherModule;
  const loopGuard = new RestartLoopGuard({}, runtime.clock);
  const exts = server.extensions.length > 0
    ? server.extensions.map((e) => `.${e}`).join(",")
    : "all";
  const watcher = new watcherModule.Watcher(
    () => runtime.watch(),
    {
      paths: server.watch,
      extensions: server.extensions,
      ignore: server.ignore,
      debounceMs: server.debounceMs,
      ignoreFiles: server.ignoreFiles,
    },
    (batch) => {
      const { changes, looping } = loopGuard.filter(batch);
      if (looping) {
        log.warn(
          `Restart loop: ${looping.map((p) => relative(p, runtime.cwd())).join(", ")} changed ` +
            "right after each of the last restarts (written by the server or the build?). " +
            "Changes to them are ignored until they change at a quiet time; " +
            "add --ignore for them to make it permanent",
          ctx,
        );
      }
      if (changes.length === 0) return;
      for (const change of changes) log.verbose(describeChange(change, runtime.cwd()), ctx);
      const reason = changes.length === 1
        ? `${changes[0].kind}: ${relative(changes[0].path, runtime.cwd())}`
        : `${changes.length} files changed`;
      if (server.clearPycache && watchesPython(server)) {
        // Stale bytecode of the changed files goes before the new process can load it.
        loopGuard.started();
        removeBytecode(changes.map((c) => c.path)).then((removed) => {
          if (removed.length > 0) log.verbose(`Removed ${removed.length} stale .pyc file(s)`, ctx);
          loopGuard.settled();
          loopGuard.track(restart(reason, changes));
        });
      } else loopGuard.track(restart(reason, changes));
    },
    (err) => log.error(`file watching failed: ${err instanceof Error ? err.message : err}`, ctx),
    {
      clock: runtime.clock,
      onReady: ({ directories }) =>
        log.info(
          `Watching ${server.watch.join(", ")} (${directories} ${
            directories === 1 ? "directory" : "directories"
          }) for ${exts} changes`,
          ctx,
        ),
      onWarning: (message) => log.warn(message, ctx),
      onInfo: (message) => log.info(message, ctx),
    },
  );
  try {
    watcher.start();
  } catch (err) {
    log.error(
      `cannot watch ${server.watch.join(", ")}: ${err instanceof Error ? err.message : err}`,
      ctx,
    );
    return null;
  }
  return watcher;
}

/**
 * Only JSON-RPC may reach stdout: whatever a library prints with
 * `console.log` and friends goes to stderr instead.
 */
function keepStdoutForProtocol() {
  const toStderr = (...args: unknown[]) => console.error(...args);
  console.log = toStderr;
  console.info = toStderr;
  console.debug = toStderr;
  console.dir = (item: unknown) => console.error(item);
  console.table = (data: unknown) => console.error(data);
}

function relative(path: string, cwd: string): string {
  if (path === cwd) return ".";
  return path.startsWith(cwd + "/") ? path.slice(cwd.length + 1) : path;
}

function describeChange(change: Change, cwd: string): string {
  const what = {
    create: "created",
    modify: "modified",
    remove: "removed",
    rename: "renamed",
    other: "changed",
  }[change.kind];
  return `File ${what}: ${relative(change.path, cwd)}`;
}
