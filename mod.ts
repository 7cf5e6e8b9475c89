/**
 * mcpmon: hot reload for MCP servers. Like nodemon, but for MCP.
 *
 * `mcpmon [options] -- <command> [args…]` runs an MCP server over stdio as a
 * transparent proxy: it restarts the server when watched files change and
 * keeps the client's session alive across restarts (the client initializes
 * once; every new server process is initialized with the client's original
 * params and session state; requests made meanwhile are queued, and nothing
 * goes unanswered). `mcpmon --config .mcpmon.yaml` runs several servers
 * behind one entry, names prefixed, each reloading on its own.
 *
 * Run it from a checkout, or, once published, as `deno run -A jsr:@mcpmon/cli/bin`
 * (the package's `./bin` export: the same command line bundled, which starts sooner):
 *
 * ```sh
 * deno run -A mod.ts --watch src -- python server.py
 * ```
 *
 * This module exports what embedding mcpmon needs: the CLI (`main`,
 * `parseCli`), the two modes (`run`, `runGateway`), the gateway config
 * loader, the options and their defaults, and the `Runtime` port a host
 * implements. The router, backends and watcher are internal.
 *
 * @example
 * ```ts
 * import { parseCli } from "@mcpmon/cli";
 * const cli = parseCli(["--watch", "src", "--", "python", "server.py"], "/app");
 * // cli.kind === "run"; cli.server.watch is ["/app/src"]; cli.server.command is "python"
 * ```
 *
 * @module
 */
export { main, parseCli, UsageError } from "./src/cli.ts";
export { HELP } from "./src/help.ts";
export type { HelpTopic } from "./src/help.ts";
export type { SetupClient, SetupRequest } from "./src/setup.ts";
export type { CliCommand, Subcommand } from "./src/cli.ts";
export type { HttpListen } from "./src/run.ts";
export { ConfigError, diffConfigs } from "./src/gateway_model.ts";
export type { ConfigBase, ConfigDiff, ConfigIssue, GatewayConfig } from "./src/gateway_model.ts";
export { exposedName } from "./src/names.ts";
export type { JsonRpcErrorObject, JsonRpcId, JsonRpcMessage } from "./src/jsonrpc.ts";
export * from "./src/config.ts";
export { VERSION } from "./src/version.ts";
export type * from "./src/runtime/mod.ts";
import type { ConfigBase, GatewayConfig } from "./src/gateway_model.ts";
import type { LogOptions, ServerOptions } from "./src/config.ts";
import type { Runtime } from "./src/runtime/mod.ts";
import type { HttpListen } from "./src/run.ts";

// `run`, `runGateway` and `loadGatewayConfig` load their modules on the first call, not with this
// one: the command line (`main`) spawns the server before the proxy's modules load, so that the
// server's start-up overlaps theirs.

/**
 * Proxies the client on `runtime`'s stdio to the server described by
 * `server`, restarting it when watched files change (or, with `http`, serves
 * it on Streamable HTTP). Resolves with the exit code once the client closed
 * stdin or a SIGINT/SIGTERM arrived, after the server's process group has
 * been stopped.
 *
 * @example
 * ```ts ignore
 * import { denoRuntime } from "./src/runtime/deno.ts";
 * const code = await run(denoRuntime, serverOptions, { level: "info", timestamps: false });
 * ```
 *
 * @param runtime The host: stdio, processes, files, signals.
 * @param server The server to run.
 * @param logOptions What to log.
 * @param http Serve on Streamable HTTP at this address instead of stdio.
 * @returns The exit code: 0 ok, 1 a runtime failure, 2 a usage error.
 */
export async function run(
  runtime: Runtime,
  server: ServerOptions,
  logOptions: LogOptions,
  http?: HttpListen,
): Promise<number> {
  return await (await import("./src/run.ts")).run(runtime, server, logOptions, http);
}

/**
 * Gateway mode: runs every server of the config file at `configPath` behind
 * one entry, each watched and restarted on its own; edits to the config file
 * add, remove or restart only the servers whose definition changed.
 *
 * @example
 * ```ts ignore
 * import { denoRuntime } from "./src/runtime/deno.ts";
 * const code = await runGateway(denoRuntime, "/app/.mcpmon.yaml", "gateway", { level: "info", timestamps: false });
 * ```
 *
 * @param runtime The host: stdio, processes, files, signals.
 * @param configPath The gateway's config file (YAML or JSON).
 * @param name The gateway's name (logs, `mcpmon status`).
 * @param logOptions What to log.
 * @param options `callThrough`: add the `mcpmon_call_tool` tool, for clients
 *   that never refresh their tool list; `http`: serve on Streamable HTTP at
 *   this address instead of stdio.
 * @returns The exit code: 0 ok, 1 a runtime failure, 2 an invalid config at start.
 */
export async function runGateway(
  runtime: Runtime,
  configPath: string,
  name: string,
  logOptions: LogOptions,
  options: { callThrough?: boolean; http?: HttpListen } = {},
): Promise<number> {
  return await (await import("./src/run.ts")).runGateway(
    runtime,
    configPath,
    name,
    logOptions,
    options,
  );
}

/**
 * Parses and validates a gateway configuration file (YAML or JSON) into one
 * {@linkcode ServerOptions} per enabled server, with the command line's
 * defaults. The YAML parser loads on the first call, not with this module,
 * so `mcpmon`'s own start does not pay for it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const base = { cwd: "/proj", env: () => undefined };
 * const config = await loadGatewayConfig(".mcpmon.yaml", "servers:\n  api: {command: python}\n", base);
 * assert.deepEqual(config.servers.map((s) => s.name), ["api"]);
 * await assert.rejects(
 *   loadGatewayConfig(".mcpmon.yaml", "servers:\n  api:\n    comand: x\n", base),
 *   (err: unknown) => err instanceof ConfigError && err.issues[0].line === 3,
 * );
 * ```
 *
 * @param path The configuration file as the user named it (used in messages;
 *   resolved against `base.cwd`).
 * @param text Its contents.
 * @param base mcpmon's working directory and environment.
 * @returns The configuration.
 * @throws {ConfigError} Listing every problem with its line and column.
 */
export async function loadGatewayConfig(
  path: string,
  text: string,
  base: ConfigBase,
): Promise<GatewayConfig> {
  return (await import("./src/gateway_config.ts")).loadGatewayConfig(path, text, base);
}

if (import.meta.main) {
  const { denoRuntime } = await import("./src/runtime/deno.ts");
  const { main } = await import("./src/cli.ts");
  denoRuntime.exit(await main(denoRuntime));
}
