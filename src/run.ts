/**
 * Runs mcpmon: the client on this process's stdio, one supervised server
 * ({@linkcode run}) or several behind one entry ({@linkcode runGateway}),
 * file watchers that restart them, signals, and the state-dir registry.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { basename, dirname, extname } from "node:path";
import type { LogOptions, ServerOptions } from "./config.ts";
import { DEFAULT_IGNORE } from "./config.ts";
import type { Registry } from "./control.ts";
import type { GatewayConfig } from "./gateway_config.ts";
import { readLines } from "./jsonrpc.ts";
import { Logger } from "./log.ts";
import { Router } from "./router.ts";
import type { Runtime } from "./runtime/mod.ts";
import type { RestartOutcome } from "./supervisor.ts";
import { type Change, Watcher } from "./watcher.ts";

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
): Promise<number> {
  const log = new Logger(runtime, logOptions);
  const router = new Router(runtime, log, [server]);
  let watcher: Watcher | undefined | null;
  return await serve(runtime, log, router, {
    name: server.name,
    command: [server.command, ...server.args],
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
): Promise<number> {
  const log = new Logger(runtime, logOptions);
  // Loaded here, not at start-up: single-server mode needs neither the YAML parser nor the loader.
  const { ConfigError, diffConfigs, loadGatewayConfig } = await import("./gateway_config.ts");
  const readConfig = (path: string): GatewayConfig =>
    loadGatewayConfig(path, readFileSync(path, "utf8"), {
      cwd: runtime.cwd(),
      env: (name) => runtime.env(name),
    });
  const describeConfigError = (err: unknown, path: string): string => {
    if (err instanceof ConfigError) return `invalid config:\n${err.message}`;
    if ((err as { code?: string }).code === "ENOENT") return `config file not found: ${path}`;
    return `cannot read config ${basename(path)}: ${err instanceof Error ? err.message : err}`;
  };
  let config: GatewayConfig;
  try {
    config = readConfig(configPath);
  } catch (err) {
    log.error(describeConfigError(err, configPath));
    return 2;
  }
  if (config.servers.length === 0) log.warn(`${configPath} has no enabled servers`);
  const router = new Router(runtime, log, config.servers, {
    gateway: { separator: config.separator, nameBudget: config.nameBudget },
  });
  const watchers = new Map<string, Watcher>();
  const watch = (server: ServerOptions) => {
    const watcher = watchServer(
      runtime,
      log,
      server,
      (reason) => router.restart(reason, server.name),
      true,
    );
    if (watcher) watchers.set(server.name, watcher);
  };

  // The config file itself: reload it on change (its directory is watched, so
  // editors that replace the file are seen too).
  let reloading = Promise.resolve();
  const reload = async () => {
    let next: GatewayConfig;
    try {
      next = readConfig(configPath);
    } catch (err) {
      log.error(`${describeConfigError(err, configPath)}\nKeeping the servers that are running.`);
      return;
    }
    const diff = diffConfigs(config, next);
    if (next.separator !== config.separator || next.nameBudget !== config.nameBudget) {
      router.setNaming({ separator: next.separator, nameBudget: next.nameBudget });
    }
    const byName = new Map(next.servers.map((s) => [s.name, s]));
    for (const n of [...diff.removed, ...diff.changed]) {
      watchers.get(n)?.close();
      watchers.delete(n);
    }
    await Promise.all(diff.removed.map((n) => router.removeServer(n)));
    await Promise.all(diff.changed.map((n) => router.replaceServer(byName.get(n)!)));
    for (const n of diff.added) router.addServer(byName.get(n)!);
    for (const n of [...diff.changed, ...diff.added]) watch(byName.get(n)!);
    config = next;
    const summary = [
      ...diff.added.map((n) => `+${n}`),
      ...diff.removed.map((n) => `-${n}`),
      ...diff.changed.map((n) => `~${n}`),
    ];
    log.info(`Config reloaded: ${summary.length > 0 ? summary.join(" ") : "no server changed"}`);
  };
  const configWatcher: Watcher = new Watcher(
    runtime.watch,
    {
      paths: [dirname(configPath)],
      extensions: [extname(configPath).slice(1)].filter(Boolean),
      ignore: [...DEFAULT_IGNORE],
      debounceMs: 100,
    },
    (changes) => {
      if (!changes.some((c) => c.path === configPath)) return;
      reloading = reloading.then(reload, reload);
    },
    (err) =>
      log.error(`watching ${configPath} failed: ${err instanceof Error ? err.message : err}`),
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
    });
  };
  return await serve(runtime, log, router, {
    name,
    command: ["mcpmon", "--config", configPath],
    cwd: dirname(configPath),
    startWatchers: () => {
      for (const server of config.servers) watch(server);
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
      for (const w of watchers.values()) w.close();
    },
    restart: async (reason) => {
      const outcomes = await Promise.all(
        router.backends.map((b) => router.restart(reason, b.name)),
      );
      return {
        ok: outcomes.every((o) => o.ok),
        restart: outcomes.reduce((n, o) => n + o.restart, 0),
        durationMs: Math.max(0, ...outcomes.map((o) => o.durationMs)),
        error: outcomes.filter((o) => !o.ok).map((o) => o.error).join("\n") || undefined,
        timings: { drainMs: 0, stopMs: 0, initializeMs: 0, replayMs: 0 },
      };
    },
    track: (registry) => router.onChange = () => summarize(registry),
  });
}

/** What {@linkcode serve} needs to know of the mode it serves. */
interface ServeOptions {
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
  /** Restarts what a SIGHUP/SIGUSR2 or `mcpmon restart` should restart. */
  restart(reason: string): Promise<RestartOutcome>;
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
  router: Router,
  mode: ServeOptions,
): Promise<number> {
  keepStdoutForProtocol();
  let registry: Registry | undefined;
  let shuttingDown: Promise<void> | undefined;
  const shutdown = (drain: boolean) => {
    shuttingDown ??= (async () => {
      mode.closeWatchers();
      await router.close({ drain });
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
  const removers = (["SIGINT", "SIGTERM"] as const).map((signal) =>
    runtime.onSignal(signal, () => {
      log.info(`Received ${signal}; stopping`);
      shutdown(false).then(() => runtime.exit(0));
    })
  );
  // SIGHUP and SIGUSR2 (as nodemon uses) restart; `mcpmon restart` leaves a
  // request (with its reason) in the state dir, then sends SIGUSR2.
  for (const signal of ["SIGHUP", "SIGUSR2"] as const) {
    removers.push(runtime.onSignal(signal, () => {
      const request = registry?.takeRequest();
      log.info(`Received ${signal}; restarting${request?.reason ? ` (${request.reason})` : ""}`);
      mode.restart(request?.reason ?? signal).then((outcome) =>
        registry?.recordRestart(outcome, request)
      );
    }));
  }
  router.start();
  if (!mode.startWatchers()) {
    await shutdown(false);
    for (const remove of removers) remove();
    return 1;
  }
  // Registered only once the signal handlers exist (an unhandled SIGUSR2 would end the process).
  // Loaded here, after the spawn: only the registry of `mcpmon status`/`restart` needs it.
  const { Registry, stateDir } = await import("./control.ts");
  try {
    registry = Registry.open(
      stateDir((name) => runtime.env(name)),
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

  try {
    await readLines(runtime.stdin, (line) => router.handleClientLine(line));
    log.debug("client closed stdin");
  } catch (err) {
    log.debug(`client stdin failed: ${err instanceof Error ? err.message : err}`);
  }
  await shutdown(true);
  for (const remove of removers) remove();
  return 0;
}

/**
 * Starts watching a server's paths; `undefined` when it watches nothing,
 * `null` when its paths cannot be watched (logged).
 */
function watchServer(
  runtime: Runtime,
  log: Logger,
  server: ServerOptions,
  restart: (reason: string) => Promise<RestartOutcome>,
  labelled: boolean,
): Watcher | undefined | null {
  if (server.watch.length === 0) return undefined;
  const ctx = labelled ? { server: server.name } : {};
  const watcher = new Watcher(
    runtime.watch,
    {
      paths: server.watch,
      extensions: server.extensions,
      ignore: server.ignore,
      debounceMs: server.debounceMs,
    },
    (changes) => {
      for (const change of changes) log.verbose(describeChange(change, runtime.cwd()), ctx);
      const reason = changes.length === 1
        ? `${changes[0].kind}: ${relative(changes[0].path, runtime.cwd())}`
        : `${changes.length} files changed`;
      restart(reason);
    },
    (err) => log.error(`file watching failed: ${err instanceof Error ? err.message : err}`, ctx),
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
  const exts = server.extensions.length > 0
    ? server.extensions.map((e) => `.${e}`).join(",")
    : "all";
  log.info(
    `Watching ${
      server.watch.map((p) => relative(p, runtime.cwd())).join(", ")
    } for ${exts} changes`,
    ctx,
  );
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
