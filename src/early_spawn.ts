/**
 * The server's start before the proxy's modules load: the command line spawns
 * the server as soon as its options are parsed, and the proxy's first start
 * of it takes that process instead of spawning another. The server's own
 * start-up (often 100 ms or more) then overlaps the loading of mcpmon's
 * modules, which a client otherwise waits for first at every connect.
 *
 * Taken only when the first start asks for exactly the same process (the
 * same {@linkcode spawnOptions}); otherwise, and when the proxy never starts
 * it (a usage problem found later), the early process is stopped. A signal
 * that ends mcpmon before the proxy's handlers are in place ends the early
 * process too: it has its watchdog like every server mcpmon starts.
 *
 * @module
 */
import { type ServerOptions, spawnOptions } from "./config.ts";
import { type ChildProcess, type Runtime, type SpawnOptions, terminate } from "./runtime/mod.ts";

/** A server spawned ahead of the proxy (see {@linkcode spawnEarly}). */
export interface EarlySpawn {
  /**
   * `runtime`, whose first spawn returns the early process when it asks for
   * the same one (and stops it otherwise); every later spawn is the runtime's.
   */
  readonly runtime: Runtime;
  /**
   * Stops the early process if the proxy did not take it: stdin closed,
   * SIGTERM to its group, SIGKILL after the server's grace period. Resolves
   * once it has exited (at once when it was taken).
   */
  discard(): Promise<void>;
}

/**
 * Spawns `server` on `runtime` now, for the proxy to take at its first
 * start. Undefined when the server is not started at once by a plain spawn
 * (a build step first, a URL, no command) or when the spawn throws (the
 * proxy's own start then says why).
 *
 * @example
 * ```ts ignore
 * const early = spawnEarly(runtime, cli.server);
 * try {
 *   return await (await import("./run.ts")).run(early?.runtime ?? runtime, cli.server, cli.log);
 * } finally {
 *   await early?.discard();
 * }
 * ```
 */
export function spawnEarly(runtime: Runtime, server: ServerOptions): EarlySpawn | undefined {
  if (server.command === "" || server.url !== undefined || server.build !== undefined) {
    return undefined;
  }
  const options = spawnOptions(server);
  let early: ChildProcess | undefined;
  try {
    early = runtime.spawn(options);
  } catch {
    return undefined;
  }
  /** The early process, once: the first spawn or discard takes it. */
  const take = () => {
    const child = early;
    early = undefined;
    return child;
  };
  const stop = async (child: ChildProcess) => {
    child.stdin.close().catch(() => {});
    await terminate(child, server.graceMs, runtime.clock);
    await child.exited;
  };
  return {
    runtime: Object.create(runtime, {
      spawn: {
        value(wanted: SpawnOptions): ChildProcess {
          const child = take();
          if (child !== undefined) {
            if (sameSpawn(options, wanted)) return child;
            void stop(child);
          }
          return runtime.spawn(wanted);
        },
      },
    }),
    async discard() {
      const child = take();
      if (child !== undefined) await stop(child);
    },
  };
}

/** Whether two spawns start the same process the same way. */
function sameSpawn(a: SpawnOptions, b: SpawnOptions): boolean {
  return a.command === b.command && a.cwd === b.cwd &&
    a.watchdogGraceMs === b.watchdogGraceMs && a.http === undefined && b.http === undefined &&
    a.args.length === b.args.length && a.args.every((arg, i) => arg === b.args[i]) &&
    sameRecord(a.env, b.env);
}

function sameRecord(
  a: Record<string, string> | undefined,
  b: Record<string, string> | undefined,
): boolean {
  const ak = Object.keys(a ?? {}), bk = Object.keys(b ?? {});
  return ak.length === bk.length && ak.every((k) => a![k] === b?.[k]);
}
