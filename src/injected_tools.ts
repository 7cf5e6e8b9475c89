/**
 * The tools mcpmon adds to the client's tool list: `restart_server` (its
 * definition in single-server and gateway mode, and the text it answers with:
 * restart number, time taken, tools added, removed, changed), the gateway's
 * `server_status`, and the opt-in call-through tools (`--call-through`),
 * `mcpmon_list_tools` and `mcpmon_call_tool`, for clients that never refresh
 * their tool list.
 *
 * @module
 */
import type { RestartOutcome } from "./backend.ts";
import { shortHash } from "./names.ts";

/** The injected tool's preferred name. */
export const RESTART_TOOL = "restart_server";
/** Its name when the server has a tool called {@linkcode RESTART_TOOL} (the server's wins). */
export const RESTART_TOOL_FALLBACK = "mcpmon_restart_server";

/** A tool as listed by `tools/list` (only what the diff needs). */
export interface ToolLike {
  /** Tool name. */
  name: string;
  /** Anything else the server says about it. */
  [key: string]: unknown;
}

/**
 * The injected tool's definition for `tools/list`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(restartToolDefinition("restart_server", "my-server").name, "restart_server");
 * ```
 */
export function restartToolDefinition(name: string, server: string): ToolLike {
  return {
    name,
    title: "Restart the MCP server",
    description:
      `Restart the MCP server "${server}" (hot reload by mcpmon) so that code changes take ` +
      "effect. Returns once the new server is ready, naming the tools added, removed and changed, " +
      "or the failure with the end of the server's stderr.",
    inputSchema: {
      type: "object",
      properties: {
        reason: {
          type: "string",
          description: "Why the restart is needed (shown in mcpmon's log).",
        },
      },
      additionalProperties: false,
    },
  };
}

/** What changed between two tool lists. */
export interface ToolDiff {
  /** Names new in `after`. */
  added: string[];
  /** Names gone from `after`. */
  removed: string[];
  /** Names in both whose definition differs. */
  changed: string[];
}

/**
 * Compares two tool lists by name, and by definition for names in both.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const diff = diffTools([{ name: "a" }, { name: "b", description: "1" }], [{ name: "b", description: "2" }, { name: "c" }]);
 * assert.deepEqual(diff, { added: ["c"], removed: ["a"], changed: ["b"] });
 * ```
 */
export function diffTools(before: readonly ToolLike[], after: readonly ToolLike[]): ToolDiff {
  const old = new Map(before.map((t) => [t.name, canonical(t)]));
  const now = new Map(after.map((t) => [t.name, canonical(t)]));
  return {
    added: [...now.keys()].filter((n) => !old.has(n)),
    removed: [...old.keys()].filter((n) => !now.has(n)),
    changed: [...now].filter(([n, json]) => old.has(n) && old.get(n) !== json).map(([n]) => n),
  };
}

/** JSON with object keys sorted, so key order never counts as a change. */
function canonical(value: unknown): string {
  return JSON.stringify(
    value,
    (_key, v) =>
      v && typeof v === "object" && !Array.isArray(v)
        ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0))
        : v,
  );
}

/**
 * The text `restart_server` answers with.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const text = restartResultText("srv", {
 *   ok: true, restart: 2, durationMs: 84, pid: 42,
 *   timings: { drainMs: 0, stopMs: 5, initializeMs: 70, replayMs: 1 },
 * }, { added: ["b"], removed: [], changed: [] });
 * assert.ok(text.startsWith('Restarted "srv" (restart #2) in 84 ms'));
 * ```
 */
export function restartResultText(
  server: string,
  outcome: RestartOutcome,
  diff?: ToolDiff,
): string {
  if (!outcome.ok) return `Restart of "${server}" failed: ${outcome.error ?? "unknown error"}`;
  const lines = [
    `Restarted "${server}" (restart #${outcome.restart}) in ${outcome.durationMs} ms; new pid ${outcome.pid}.`,
  ];
  if (diff) {
    const list = (names: string[]) => names.length > 0 ? names.join(", ") : "none";
    lines.push(`Tools added: ${list(diff.added)}`);
    lines.push(`Tools removed: ${list(diff.removed)}`);
    lines.push(`Tools changed: ${list(diff.changed)}`);
  }
  return lines.join("\n");
}

/** The call-through tool that lists the live tools with their schemas and schema hashes. */
export const LIST_TOOLS = "mcpmon_list_tools";
/** The call-through tool that calls a tool by name on the server process running now. */
export const CALL_TOOL = "mcpmon_call_tool";

/**
 * A short hash of a tool's input schema, the same for the same schema
 * whatever its key order; `mcpmon_call_tool` refuses a call whose
 * `schemaHash` is not the current one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(schemaHash({ type: "object", properties: {} }), schemaHash({ properties: {}, type: "object" }));
 * assert.notEqual(schemaHash({ type: "object" }), schemaHash({ type: "string" }));
 * ```
 */
export function schemaHash(inputSchema: unknown): string {
  const text = canonical(inputSchema ?? {});
  return shortHash(text) + shortHash(`${text.length}:${text}`);
}

/**
 * The definitions of `mcpmon_list_tools` and `mcpmon_call_tool`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(callThroughTools().map((t) => t.name), ["mcpmon_list_tools", "mcpmon_call_tool"]);
 * ```
 */
export function callThroughTools(): ToolLike[] {
  return [{
    name: LIST_TOOLS,
    title: "List the live MCP tools",
    description:
      "List the tools the MCP server(s) behind mcpmon offer right now, with their input " +
      `schemas and a schemaHash, including tools added since this session's tool list was read. ` +
      `Call any of them with ${CALL_TOOL}.`,
    inputSchema: { type: "object", properties: {}, additionalProperties: false },
  }, {
    name: CALL_TOOL,
    title: "Call a live MCP tool by name",
    description: `Call a tool listed by ${LIST_TOOLS} on the server process running now (useful ` +
      "right after the server was edited and restarted). Pass the schemaHash from the listing to " +
      "be told, instead of calling, when the tool's input schema has changed since.",
    inputSchema: {
      type: "object",
      properties: {
        name: { type: "string", description: `The tool's name as ${LIST_TOOLS} shows it.` },
        arguments: { type: "object", description: "The tool's arguments." },
        schemaHash: {
          type: "string",
          description:
            `The schemaHash ${LIST_TOOLS} gave; a different current one refuses the call.`,
        },
      },
      required: ["name"],
      additionalProperties: false,
    },
  }];
}

/** The gateway's status tool. */
export const STATUS_TOOL = "server_status";

/**
 * The gateway's `restart_server`: which server to restart is an argument,
 * one of `servers`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const tool = gatewayRestartToolDefinition(["alpha", "beta"]);
 * assert.deepEqual((tool.inputSchema as { required: string[] }).required, ["server"]);
 * ```
 */
export function gatewayRestartToolDefinition(servers: readonly string[]): ToolLike {
  const restart = restartToolDefinition(RESTART_TOOL, servers.join(", "));
  restart.description =
    "Restart one of the MCP servers behind this mcpmon gateway so that code changes " +
    "take effect. Returns once it is ready, naming the tools added, removed and changed, or the failure " +
    "with the end of the server's stderr.";
  restart.inputSchema = {
    type: "object",
    properties: {
      server: { type: "string", enum: [...servers], description: "Which server to restart." },
      reason: {
        type: "string",
        description: "Why the restart is needed (shown in mcpmon's log).",
      },
    },
    required: ["server"],
    additionalProperties: false,
  };
  return restart;
}

/**
 * The gateway's `server_status` tool definition.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(statusToolDefinition().name, "server_status");
 * ```
 */
export function statusToolDefinition(): ToolLike {
  return {
    name: STATUS_TOOL,
    title: "MCP server status",
    description:
      "Show the state of each MCP server behind this mcpmon gateway: pid, restarts, last error.",
    inputSchema: { type: "object", properties: {}, additionalProperties: false },
  };
}

/** What `server_status` reports of one backend. */
export interface BackendStatus {
  /** The server's name. */
  name: string;
  /** Its state (ready, restarting, failed, …). */
  state: string;
  /** Its pid, while it runs. */
  pid?: number;
  /** Completed restarts. */
  restarts: number;
  /** Why it last restarted. */
  lastReason?: string;
  /** Why it last failed. */
  lastError?: string;
}

/**
 * The text `server_status` answers with: a line per server, its last error
 * indented below it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const text = statusText([{ name: "api", state: "ready", pid: 42, restarts: 2 }]);
 * assert.equal(text, "api: ready, pid 42, 2 restart(s)");
 * ```
 */
export function statusText(backends: readonly BackendStatus[]): string {
  return backends.map((b) => {
    const lines = [
      `${b.name}: ${b.state}${b.pid ? `, pid ${b.pid}` : ""}, ${b.restarts} restart(s)` +
      (b.lastReason ? `, last reason: ${b.lastReason}` : ""),
    ];
    if (b.lastError) lines.push(`  last error: ${b.lastError.split("\n").join("\n  ")}`);
    return lines.join("\n");
  }).join("\n");
}
