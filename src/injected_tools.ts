/**
 * The tools mcpmon adds to the client's tool list: `restart_server` (its
 * definition in single-server and gateway mode, and the text it answers with:
 * restart number, time taken, tools added, removed, changed), the gateway's
 * `server_status`, and the opt-in call-through tools (`--call-through`),
 * `mcpmon_list_tools` and `mcpmon_call_tool`, for clients that never refresh
 * their tool list; and {@linkcode InjectedTools}, which answers their calls.
 *
 * @module
 */
import type { RestartOutcome } from "./backend.ts";
import type { Item } from "./catalog.ts";
import type { Mode, RouterCore } from "./mode.ts";
import { shortHash } from "./names.ts";
import type { ClientMessage, ClientRequest, Slot } from "./slot.ts";

/**
 * How long `restart_server` waits, at most, for the client to re-read the
 * tools after `list_changed` before it answers (Claude Code re-lists within
 * ~15 ms), so the model's next request can name the new tools.
 */
export const RELIST_WAIT_MS = 1000;

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

/**
 * What the injected tools need of the router: its state, its replies and its
 * routes (the {@linkcode RouterCore} the modes get too).
 */
export type ToolHost = RouterCore;

/**
 * Answers calls of the injected tools (`restart_server`, `server_status`,
 * the call-through pair) in either mode, and follows the client's re-reads of
 * the tool list: `restart_server` answers once the client has re-read the
 * tools it was told changed, so the model's next request can name them.
 *
 * @example
 * ```ts ignore
 * const tools = new InjectedTools(core, mode, RELIST_WAIT_MS);
 * if (c.method === "tools/call" && tools.handle(c)) return;
 * ```
 */
export class InjectedTools {
  readonly #core: ToolHost;
  readonly #mode: Mode;
  /** Longest wait of `restart_server` for the client to re-read the tools. */
  readonly #relistWaitMs: number;
  /** Counts events, to order a `tools/list` against the last tools `list_changed`. */
  #seq = 0;
  /** The {@linkcode InjectedTools.#seq} of the last tools `list_changed` sent to the client. */
  #toolsChangedAt = 0;
  /** The latest {@linkcode InjectedTools.#seq} at which a `tools/list` the client got an answer to arrived. */
  #relistedAt = 0;
  /** When each `tools/list` request arrived. */
  #arrivals = new WeakMap<ClientMessage, number>();
  #relistWaiters: (() => void)[] = [];

  constructor(core: ToolHost, mode: Mode, relistWaitMs: number) {
    this.#core = core;
    this.#mode = mode;
    this.#relistWaitMs = relistWaitMs;
  }

  /** Handles a `tools/call` of an injected tool; false when it names another tool. */
  handle(c: ClientRequest): boolean {
    const name = (c.message.params as Item | undefined)?.name;
    if (this.#mode.restartTool !== undefined && name === this.#mode.restartTool) {
      this.#restart(c).catch((err) => this.#core.internalError(c, err));
      return true;
    }
    if (this.#mode.callThrough && (name === LIST_TOOLS || name === CALL_TOOL)) {
      const handle = name === LIST_TOOLS ? this.#listLiveTools(c) : this.#callThroughTool(c);
      handle.catch((err) => this.#core.internalError(c, err));
      return true;
    }
    if (this.#mode.statusTool && name === STATUS_TOOL) {
      this.#toolResult(c, statusText(this.#backends()));
      return true;
    }
    return false;
  }

  /**
   * Whether a `tools/call` line, read as bytes, may name one of mcpmon's own
   * tools: it holds a backslash (a name may be escaped) or one of their names.
   * False means {@linkcode InjectedTools.handle} would return false.
   */
  mayHandle(line: Uint8Array): boolean {
    if (line.indexOf(0x5c) !== -1) return true;
    const mode = this.#mode;
    const restart = mode.restartTool;
    return (restart !== undefined && includesText(line, restart)) ||
      (mode.callThrough && (includesText(line, LIST_TOOLS) || includesText(line, CALL_TOOL))) ||
      (mode.statusTool && includesText(line, STATUS_TOOL));
  }

  /** The client asked for the tool list. */
  listRequested(c: ClientMessage): void {
    this.#arrivals.set(c, ++this.#seq);
  }

  /** The client was told the tools changed. */
  told(): void {
    this.#toolsChangedAt = ++this.#seq;
  }

  #backends() {
    return [...this.#core.slots.values()].map((s) => s.backend);
  }

  /** A `tools/list` was answered: wake whoever waits for the client to re-read the tools. */
  listAnswered(c: ClientMessage): void {
    const at = this.#arrivals.get(c);
    if (at === undefined) return;
    this.#arrivals.delete(c);
    if (at > this.#relistedAt) this.#relistedAt = at;
    if (at > this.#toolsChangedAt) {
      const waiting = this.#relistWaiters;
      this.#relistWaiters = [];
      for (const wake of waiting) wake();
    }
  }

  /**
   * Resolves once the client has read the tools after the last tools
   * `list_changed`, or after {@linkcode RELIST_WAIT_MS} (at once when it already has).
   */
  #clientRelisted(): Promise<void> {
    if (this.#relistedAt > this.#toolsChangedAt || this.#core.closing.aborted) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        this.#core.clock.clearTimeout(timer);
        this.#core.closing.removeEventListener("abort", done);
        resolve();
      };
      const timer = this.#core.clock.setTimeout(done, this.#relistWaitMs);
      this.#core.closing.addEventListener("abort", done, { once: true });
      this.#relistWaiters.push(done);
    });
  }

  async #restart(c: ClientRequest) {
    const args = ((c.message.params as Item).arguments ?? {}) as Item;
    const why = typeof args.reason === "string" && args.reason.trim()
      ? args.reason.trim()
      : undefined;
    let slot: Slot | undefined;
    if (typeof args.server === "string") slot = this.#core.slots.get(args.server);
    else if (this.#core.slots.size === 1) slot = this.#core.slots.values().next().value;
    if (!slot) {
      const names = [...this.#core.slots.keys()].join(", ");
      const text = typeof args.server === "string"
        ? `No server named "${args.server}". Servers: ${names}`
        : `Say which server to restart: ${names}`;
      this.#core.answer({
        jsonrpc: "2.0",
        id: c.id,
        result: { content: [{ type: "text", text }], isError: true },
      });
      return;
    }
    this.#core.log.info(
      `${this.#mode.restartTool ?? RESTART_TOOL} called${why ? `: ${why}` : ""}`,
      this.#mode.gateway ? { server: slot.name } : {},
    );
    await slot.listsRead;
    const before = slot.lists.tools;
    const toldBefore = this.#toolsChangedAt;
    const outcome = await slot.backend.restart(
      why ? `${RESTART_TOOL}: ${why}` : `${RESTART_TOOL} tool`,
    );
    if (outcome.ok) await slot.listsRead;
    // Answer once the client has re-read the tools it was told changed, so the model's next
    // request can already name the new ones (bounded: a client that never re-lists only delays it).
    if (this.#toolsChangedAt !== toldBefore) await this.#clientRelisted();
    const after = outcome.ok ? slot.lists.tools : undefined;
    let diff: ToolDiff | undefined;
    try {
      diff = before && after ? diffTools(before as ToolLike[], after as ToolLike[]) : undefined;
    } catch { /* too deep to compare: no diff */ }
    if (diff) {
      const expose = (names: string[]) => this.#mode.expose(slot, names);
      diff = {
        added: expose(diff.added),
        removed: expose(diff.removed),
        changed: expose(diff.changed),
      };
    }
    this.#core.answer({
      jsonrpc: "2.0",
      id: c.id,
      result: {
        content: [{ type: "text", text: restartResultText(slot.name, outcome, diff) }],
        ...(outcome.ok ? {} : { isError: true }),
      },
    });
  }

  /** Resolves once `slot` is listed or failed (at once when it is not on its way). */
  #settled(slot: Slot): Promise<void> {
    if (!slot.coming || this.#core.closing.aborted) return Promise.resolve();
    return new Promise((resolve) => slot.waiters.push(resolve));
  }

  /** Re-reads the tools of every serving backend (and merges them, in gateway mode). */
  async #refreshTools(): Promise<void> {
    await Promise.all([...this.#core.slots.values()].map(async (slot) => {
      await this.#settled(slot);
      const gen = slot.backend.current;
      if (slot.backend.state !== "ready" || !gen) return;
      slot.listsRead = this.#core.readLists(slot, gen, ["tools"]);
      await slot.listsRead;
    }));
    this.#mode.updateViews();
  }

  /** The live tools as the client names them, each with its schema hash. */
  #liveTools(): Item[] {
    return this.#mode.liveTools().map((t) => ({ ...t, schemaHash: schemaHash(t.inputSchema) }));
  }

  #toolResult(c: ClientRequest, text: string, isError = false) {
    this.#core.answer({
      jsonrpc: "2.0",
      id: c.id,
      result: { content: [{ type: "text", text }], ...(isError ? { isError: true } : {}) },
    });
  }

  async #listLiveTools(c: ClientRequest) {
    await this.#refreshTools();
    const failed = this.#backends().filter((b) => b.state === "failed" || b.state === "stopped")
      .map((b) => `${b.name}: ${b.lastError ?? b.state}`);
    this.#toolResult(
      c,
      // Compact: a model pays for every character of a tool result.
      JSON.stringify({ tools: this.#liveTools(), ...(failed.length > 0 ? { failed } : {}) }),
    );
  }

  /** Where a call-through name leads now: the backend and the tool's own name and definition. */
  async #findLiveTool(
    name: string,
  ): Promise<{ slot: Slot; own: string; tool: Item } | { error: string } | undefined> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const owner = this.#mode.toolOwner(name);
      if (owner && "coming" in owner) {
        if (attempt > 0) return undefined;
        await this.#settled(owner.coming);
        await this.#refreshTools();
        continue;
      }
      if (!owner) return undefined;
      const { slot, own } = owner;
      if (!this.#mode.gateway) await this.#settled(slot);
      if (slot.backend.state === "failed" || slot.backend.state === "stopped") {
        return { error: `server "${slot.name}": ${slot.backend.lastError ?? "not running"}` };
      }
      const tool = slot.lists.tools?.find((t) => t.name === own);
      if (tool) return { slot, own, tool };
      if (attempt === 0) await this.#refreshTools(); // perhaps added since mcpmon last read
    }
    return undefined;
  }

  async #callThroughTool(c: ClientRequest) {
    const params = (c.message.params ?? {}) as Item;
    const args = (params.arguments ?? {}) as Item;
    if (typeof args.name !== "string" || args.name === "") {
      return this.#toolError(c, `${CALL_TOOL} needs "name": a tool ${LIST_TOOLS} shows`);
    }
    const found = await this.#findLiveTool(args.name);
    if (found === undefined) {
      const names = this.#liveTools().map((t) => t.name).join(", ") || "none";
      return this.#toolError(c, `No tool named "${args.name}" now. Tools: ${names}`);
    }
    if ("error" in found) return this.#toolError(c, found.error);
    const hash = schemaHash(found.tool.inputSchema);
    if (args.schemaHash !== undefined && args.schemaHash !== hash) {
      const { name: _own, ...definition } = found.tool;
      return this.#toolError(
        c,
        `The tool "${args.name}" has changed since schemaHash ${
          JSON.stringify(args.schemaHash)
        }; ` +
          `its schemaHash is now "${hash}". Current definition:\n` +
          JSON.stringify({ name: args.name, ...definition }, null, 2) +
          `\nCheck the arguments against it and call again with schemaHash "${hash}".`,
      );
    }
    // The call goes on as a plain tools/call of the tool, on the process running now.
    c.message.params = {
      ...(params._meta !== undefined ? { _meta: params._meta } : {}),
      name: found.own,
      arguments: args.arguments ?? {},
    };
    this.#core.route(found.slot, c, "");
  }

  #toolError(c: ClientRequest, text: string): void {
    this.#toolResult(c, text, true);
  }
}

/** Whether `bytes` hold the ASCII text `text`. */
function includesText(bytes: Uint8Array, text: string): boolean {
  const first = text.charCodeAt(0);
  for (let i = bytes.indexOf(first); i !== -1; i = bytes.indexOf(first, i + 1)) {
    if (i + text.length > bytes.length) return false;
    let k = 1;
    while (k < text.length && bytes[i + k] === text.charCodeAt(k)) k++;
    if (k === text.length) return true;
  }
  return false;
}
