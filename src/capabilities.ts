/**
 * What mcpmon tells the client about capabilities in `initialize` results:
 * the server's own with `listChanged: true` advertised (single-server mode),
 * the gateway's, and the stand-in for a first server that failed to start.
 *
 * @module
 */
import { VERSION } from "./version.ts";
import { MODERN_VERSION } from "./session.ts";

/** The `_meta` key of a modern result's server identity. */
export const SERVER_INFO_KEY = "io.modelcontextprotocol/serverInfo";

/** The lists a server can declare and the client is told about. */
const LISTS = ["tools", "prompts", "resources"] as const;

/** The protocol version answered when the client named none. */
const FALLBACK_VERSION = "2025-06-18";

/** The capabilities mcpmon serves on its own: every list, each changing. */
const LIST_CAPABILITIES = {
  tools: { listChanged: true },
  prompts: { listChanged: true },
  resources: { listChanged: true, subscribe: true },
  logging: {},
} as const;

/**
 * The lists (tools, prompts, resources) a server's `initialize` result declares.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(declaredLists({ capabilities: { tools: {}, logging: {} } }), ["tools"]);
 * ```
 */
export function declaredLists(initResult: Record<string, unknown>): string[] {
  const caps = (initResult.capabilities ?? {}) as Record<string, unknown>;
  return LISTS.filter((list) => typeof caps[list] === "object" && caps[list] !== null);
}

/**
 * Returns a copy of an `initialize` result whose declared tools, prompts and
 * resources capabilities say `listChanged: true` (Claude Code only listens for
 * `list_changed` when it is declared).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const result = advertiseListChanged({ capabilities: { tools: {} } });
 * assert.deepEqual(result, { capabilities: { tools: { listChanged: true } } });
 * ```
 */
export function advertiseListChanged(initResult: Record<string, unknown>): Record<string, unknown> {
  const caps = { ...(initResult.capabilities ?? {}) as Record<string, unknown> };
  for (const list of declaredLists(initResult)) {
    caps[list] = { ...(caps[list] as Record<string, unknown>), listChanged: true };
  }
  return { ...initResult, capabilities: caps };
}

/**
 * The gateway's `initialize` result: the client's protocol version, every
 * list with `listChanged`, completions, and instructions naming the servers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const result = gatewayInitializeResult("2025-06-18", ["alpha", "beta"], "__", ["restart_server", "server_status"]);
 * assert.match(String(result.instructions), /alpha, beta/);
 * ```
 */
export function gatewayInitializeResult(
  requested: unknown,
  servers: readonly string[],
  separator: string,
  tools: readonly [restart: string, status: string],
): Record<string, unknown> {
  return {
    protocolVersion: typeof requested === "string" ? requested : FALLBACK_VERSION,
    capabilities: { ...LIST_CAPABILITIES, completions: {} },
    serverInfo: { name: "mcpmon", title: "mcpmon gateway", version: VERSION },
    instructions: `mcpmon gateway over ${servers.length} MCP server(s): ${servers.join(", ")}. ` +
      `Tool and prompt names are <server>${separator}<name>. ` +
      `${tools[0]} restarts a server; ${tools[1]} shows their state.`,
  };
}

/**
 * The gateway's DiscoverResult (MCP 2026-07-28): the versions it serves (the
 * stateless one; `initialize` serves the 2025 ones), the same capabilities
 * and instructions as its `initialize` result, its identity in `_meta`. Not
 * to be cached (`ttlMs` 0): what the gateway serves changes with its config.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const result = gatewayDiscoverResult(["alpha"], "__", ["restart_server", "server_status"]);
 * assert.deepEqual(result.supportedVersions, ["2026-07-28"]);
 * ```
 */
export function gatewayDiscoverResult(
  servers: readonly string[],
  separator: string,
  tools: readonly [restart: string, status: string],
): Record<string, unknown> {
  const { capabilities, serverInfo, instructions } = gatewayInitializeResult(
    undefined,
    servers,
    separator,
    tools,
  );
  return {
    resultType: "complete",
    supportedVersions: [MODERN_VERSION],
    capabilities,
    instructions,
    ttlMs: 0,
    cacheScope: "private",
    _meta: { [SERVER_INFO_KEY]: serverInfo },
  };
}

/**
 * The `initialize` result mcpmon gives for a first server that failed before
 * answering, so the client keeps its session until the next good edit: every
 * list, each changing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const result = standInInitializeResult(undefined, "api");
 * assert.deepEqual(result.serverInfo, { name: "mcpmon (api)", version: result.serverInfo.version });
 * ```
 */
export function standInInitializeResult(
  requested: unknown,
  server: string,
): {
  protocolVersion: string;
  capabilities: object;
  serverInfo: { name: string; version: string };
} {
  return {
    protocolVersion: typeof requested === "string" ? requested : FALLBACK_VERSION,
    capabilities: { ...LIST_CAPABILITIES },
    serverInfo: { name: `mcpmon (${server})`, version: VERSION },
  };
}
