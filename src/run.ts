/**
 * Runs mcpmon as a stdio proxy: the client on this process's stdin/stdout,
 * one supervised server, a file watcher that restarts it.
 *
 * @module
 */
import type { LogOptions, ServerOptions } from "./config.ts";
import { readLines } from "./jsonrpc.ts";
import { Registry, stateDir } from "./control.ts";
import { Logger } from "./log.ts";
import { Router } from "./router.ts";
import type { Runtime } from "./runtime/mod.ts";
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

  let watcher: Watcher | undefined;
  if (server.watch.length > 0) {
    watcher = new Watcher(
      runtime.watch,
      {
        paths: server.watch,
        extensions: server.extensions,
        ignore: server.ignore,
        debounceMs: server.debounceMs,
      },
      (changes) => {
        for (const change of changes) log.verbose(describeChange(change, runtime.cwd()));
        const reason = changes.length === 1
          ? `${changes[0].kind}: ${relative(changes[0].path, runtime.cwd())}`
          : `${changes.length} files changed`;
        router.restart(reason);
      },
      (err) => log.error(`file watching failed: ${err instanceof Error ? err.message : err}`),
    );
    try {
      watcher.start();
    } catch (err) {
      log.error(
        `cannot watch ${server.watch.join(", ")}: ${err instanceof Error ? err.message : err}`,
      );
      return 1;
    }
    const exts = server.extensions.length > 0
      ? server.extensions.map((e) => `.${e}`).join(",")
      : "all";
    log.info(
      `Watching ${
        server.watch.map((p) => relative(p, runtime.cwd())).join(", ")
      } for ${exts} changes`,
    );
  }

  let registry: Registry | undefined;
  let shuttingDown: Promise<void> | undefined;
  const shutdown = (drain: boolean) => {
    shuttingDown ??= (async () => {
      watcher?.close();
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

  // SIGHUP and SIGUSR2 (as nodemon uses) restart the server; `mcpmon restart`
  // leaves a request (with its reason) in the state dir, then sends SIGUSR2.
  for (const signal of ["SIGHUP", "SIGUSR2"] as const) {
    removers.push(runtime.onSignal(signal, () => {
      const request = registry?.takeRequest();
      log.info(`Received ${signal}; restarting${request?.reason ? ` (${request.reason})` : ""}`);
      router.restart(request?.reason ?? signal).then((outcome) =>
        registry?.recordRestart(outcome, request)
      );
    }));
  }

  // Registered only once the signal handlers exist (an unhandled SIGUSR2 would end the process).
  try {
    registry = Registry.open(
      stateDir((name) => runtime.env(name)),
      {
        name: server.name,
        pid: runtime.pid,
        command: [server.command, ...server.args],
        cwd: server.cwd ?? runtime.cwd(),
        startedAt: Date.now(),
      },
      (err) => log.debug(`state dir: ${err instanceof Error ? err.message : err}`),
    );
    router.onChange = (backend) => registry?.updateFrom(backend);
  } catch (err) {
    log.warn(
      `mcpmon status/restart will not see this instance: ${
        err instanceof Error ? err.message : err
      }`,
    );
  }

  router.start();
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
