/**
 * Gateway mode's configuration at run time: the servers the config file
 * names, a file watcher per server, and config reloads that start, stop or
 * restart only the servers whose definition changed
 * ({@linkcode Gateway.applyConfig}).
 *
 * Loaded only with `--config` (it brings the config loader and its YAML
 * parser with it).
 *
 * @module
 */
import { readFileSync } from "node:fs";
import {
  type ConfigDiff,
  ConfigError,
  diffConfigs,
  type GatewayConfig,
  loadGatewayConfig,
} from "./gateway_config.ts";
import type { Logger } from "./log.ts";
import { defaultClientPrefix, exposedBudget } from "./names.ts";
import type { GatewayOptions, Router } from "./router.ts";
import type { ServerOptions } from "./config.ts";
import { missingWatchPaths } from "./watcher.ts";

/** What a config reload asks of the router. */
export type GatewayRouter = Pick<
  Router,
  "addServer" | "replaceServer" | "removeServer" | "setNaming" | "notify"
>;

/** Something to stop: a server's file watcher. */
export interface Closable {
  /** Stops it; safe to call more than once. */
  close(): void;
}

/** What a {@linkcode Gateway} works with. */
export interface GatewayParts {
  /** The router the servers run behind. */
  router: GatewayRouter;
  /** Where reloads are logged. */
  log: Logger;
  /** The config file, as given (for messages). */
  path: string;
  /** The gateway's name (`--name`): the default client prefix is `mcp__<name>__`. */
  name: string;
  /** `--call-through` on the command line (the config file's `callThrough` also turns it on). */
  callThrough?: boolean;
  /** Reads the config file again (throws what {@linkcode describeConfigError} describes). */
  load(): GatewayConfig;
  /**
   * Starts watching a server's files; `undefined` when it watches nothing,
   * `null` when its paths cannot be watched (the watcher logs why).
   */
  watch(server: ServerOptions): Closable | undefined | null;
}

/**
 * The router's naming options for `config`: names fit the model's limit with
 * the client's prefix (`mcp__<gatewayName>__` unless the config gives one).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadGatewayConfig } from "./gateway_config.ts";
 * const config = loadGatewayConfig("g.yaml", "servers: {a: {command: x, watch: []}}", {
 *   cwd: "/proj",
 *   env: () => undefined,
 * });
 * assert.deepEqual(gatewayNaming(config, "gateway"), {
 *   separator: "__",
 *   nameBudget: 64 - "mcp__gateway__".length,
 *   callThrough: false,
 * });
 * ```
 */
export function gatewayNaming(
  config: GatewayConfig,
  gatewayName: string,
  callThrough = false,
): GatewayOptions {
  return {
    separator: config.separator,
    nameBudget: exposedBudget(
      config.nameBudget,
      config.clientPrefix ?? defaultClientPrefix(gatewayName),
    ),
    callThrough: config.callThrough || callThrough,
  };
}

/**
 * Reads and loads the config file at `path` (relative paths in it resolve
 * against `base.cwd`).
 *
 * @example
 * ```ts ignore
 * const config = readGatewayConfig("/app/.mcpmon.yaml", { cwd: "/app", env: (n) => Deno.env.get(n) });
 * ```
 */
export function readGatewayConfig(
  path: string,
  base: { cwd: string; env(name: string): string | undefined },
): GatewayConfig {
  return loadGatewayConfig(path, readFileSync(path, "utf8"), base);
}

/**
 * Why the config file at `path` could not be read or loaded, for people.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const missing = Object.assign(new Error("no such file"), { code: "ENOENT" });
 * assert.equal(describeConfigError(missing, "/app/g.yaml"), "config file not found: /app/g.yaml");
 * ```
 */
export function describeConfigError(err: unknown, path: string): string {
  if (err instanceof ConfigError) return `invalid config:\n${err.message}`;
  const code = (err as { code?: string }).code;
  if (code === "ENOENT") return `config file not found: ${path}`;
  if (code === "EISDIR") {
    return `${path} is a directory; give the config file in it (a YAML file or .mcp.json)`;
  }
  return `cannot read config ${path}: ${err instanceof Error ? err.message : err}`;
}

/**
 * The servers of a gateway config and their file watchers, kept in step with
 * the config file: {@linkcode Gateway.reload} reads it again and
 * {@linkcode Gateway.applyConfig} starts the servers added, stops the ones
 * removed, restarts the ones whose definition changed, and leaves the rest
 * alone. An invalid config keeps the servers that run, with an error in the
 * log and to the client.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadGatewayConfig } from "./gateway_config.ts";
 * import { Logger } from "./log.ts";
 * const load = (text: string) =>
 *   loadGatewayConfig("g.yaml", text, { cwd: "/proj", env: () => undefined });
 * const calls: string[] = [];
 * const router = {
 *   addServer: (s: { name: string }) => void calls.push(`add ${s.name}`),
 *   replaceServer: async (s: { name: string }) => void calls.push(`replace ${s.name}`),
 *   removeServer: async (name: string) => void calls.push(`remove ${name}`),
 *   setNaming: () => void calls.push("naming"),
 *   notify: () => {},
 * };
 * const gateway = new Gateway(load("servers: {a: {command: x, watch: []}, b: {command: y, watch: []}}"), {
 *   router,
 *   log: new Logger({ writeStderr() {} }, { level: "error", timestamps: false }),
 *   path: "g.yaml",
 *   name: "gateway",
 *   load: () => { throw new Error("not read in this example"); },
 *   watch: () => undefined,
 * });
 * const diff = await gateway.applyConfig(
 *   load("servers: {b: {command: z, watch: []}, c: {command: w, watch: []}}"),
 * );
 * assert.deepEqual(diff, { added: ["c"], removed: ["a"], changed: ["b"], unchanged: [] });
 * assert.deepEqual(calls, ["remove a", "replace b", "add c"]);
 * ```
 */
export class Gateway {
  readonly #parts: GatewayParts;
  #config: GatewayConfig;
  readonly #watchers = new Map<string, Closable>();
  /** The reload under way; the next one waits for it. */
  #reloading: Promise<void> = Promise.resolve();

  /**
   * Keeps `config` (the one the router was built with) as the running one.
   *
   * @param config The configuration running now.
   * @param parts The router, the log, and how to read the file and watch a server.
   */
  constructor(config: GatewayConfig, parts: GatewayParts) {
    this.#config = config;
    this.#parts = parts;
  }

  /** The configuration running now. */
  get config(): GatewayConfig {
    return this.#config;
  }

  /** The router's naming options for `config` (by default the running one). */
  naming(config: GatewayConfig = this.#config): GatewayOptions {
    return gatewayNaming(config, this.#parts.name, this.#parts.callThrough === true);
  }

  /** Starts a file watcher for each server of the running config. */
  watchAll(): void {
    for (const server of this.#config.servers) this.#watch(server);
  }

  /** Stops every server's file watcher. */
  closeWatchers(): void {
    for (const watcher of this.#watchers.values()) watcher.close();
    this.#watchers.clear();
  }

  /**
   * Reads the config file again and applies it, after any reload under way;
   * never rejects. A file that cannot be read or loaded is logged and told to
   * the client, and the servers that run keep running.
   */
  reload(): Promise<void> {
    const reload = async () => {
      let next: GatewayConfig;
      try {
        next = this.#parts.load();
      } catch (err) {
        const message = `${
          describeConfigError(err, this.#parts.path)
        }\nKeeping the servers that are running.`;
        this.#parts.log.error(message);
        this.#parts.router.notify("error", message); // the client (and the model) hear of it too
        return;
      }
      await this.applyConfig(next);
    };
    this.#reloading = this.#reloading.then(reload, reload);
    return this.#reloading;
  }

  /**
   * Switches to `next`: applies a naming change, stops the servers removed,
   * restarts the ones whose definition changed (with their watchers), starts
   * the ones added, and leaves the others alone. A `next` with a watch path
   * that does not exist is refused (logged) and the running config stays.
   *
   * @returns What changed; `undefined` when `next` was refused.
   */
  async applyConfig(next: GatewayConfig): Promise<ConfigDiff | undefined> {
    const { router, log } = this.#parts;
    const missing = missingWatchPaths(next.servers, true);
    if (missing) {
      log.error(`invalid config:\n${missing}\nKeeping the servers that are running.`);
      return undefined;
    }
    for (const warning of next.warnings) log.warn(warning);
    const diff = diffConfigs(this.#config, next);
    if (JSON.stringify(this.naming(next)) !== JSON.stringify(this.naming())) {
      router.setNaming(this.naming(next));
    }
    const byName = new Map(next.servers.map((s) => [s.name, s]));
    for (const name of [...diff.removed, ...diff.changed]) {
      this.#watchers.get(name)?.close();
      this.#watchers.delete(name);
    }
    await Promise.all(diff.removed.map((name) => router.removeServer(name)));
    await Promise.all(diff.changed.map((name) => router.replaceServer(byName.get(name)!)));
    for (const name of diff.added) router.addServer(byName.get(name)!);
    for (const name of [...diff.changed, ...diff.added]) this.#watch(byName.get(name)!);
    this.#config = next;
    const summary = [
      ...diff.added.map((name) => `+${name}`),
      ...diff.removed.map((name) => `-${name}`),
      ...diff.changed.map((name) => `~${name}`),
    ];
    log.info(`Config reloaded: ${summary.length > 0 ? summary.join(" ") : "no server changed"}`);
    return diff;
  }

  #watch(server: ServerOptions): void {
    const watcher = this.#parts.watch(server);
    if (watcher) this.#watchers.set(server.name, watcher);
  }
}
