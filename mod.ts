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
 * Run it from a checkout (or, once published, `deno run -A jsr:@mcpmon/cli`):
 *
 * ```sh
 * deno run -A mod.ts --watch src -- python server.py
 * ```
 *
 * This module exports the building blocks for embedding or testing mcpmon.
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
export { run, runGateway } from "./src/run.ts";
export type { ConfigBase, ConfigDiff, ConfigIssue, GatewayConfig } from "./src/gateway_config.ts";
export { exposedName } from "./src/names.ts";
export { Router } from "./src/router.ts";
export type { GatewayOptions } from "./src/router.ts";
export { Backend } from "./src/backend.ts";
export type { BackendState, RestartOutcome } from "./src/backend.ts";
export { Generation, StderrTail } from "./src/generation.ts";
export type { Pending } from "./src/generation.ts";
export type { JsonRpcErrorObject, JsonRpcId, JsonRpcMessage } from "./src/jsonrpc.ts";
export { Session } from "./src/session.ts";
export type { ReplayStep } from "./src/session.ts";
export { Watcher } from "./src/watcher.ts";
export { Logger } from "./src/log.ts";
export type { LogContext, Severity } from "./src/log.ts";
export * from "./src/config.ts";
export { VERSION } from "./src/version.ts";
export type * from "./src/runtime/mod.ts";

if (import.meta.main) {
  const { denoRuntime } = await import("./src/runtime/deno.ts");
  const { main } = await import("./src/cli.ts");
  denoRuntime.exit(await main(denoRuntime));
}
