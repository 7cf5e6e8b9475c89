/**
 * The client's session, in either protocol era, and what every new server
 * process must be told to serve it.
 *
 * - **Legacy** (MCP 2025, `initialize`): the `initialize` params,
 *   `notifications/initialized`, the log level and resource subscriptions,
 *   replayed to each new process.
 * - **Modern** (MCP 2026-07-28, stateless): nothing to replay; the client's
 *   latest `_meta` envelope (protocol version, client capabilities, client
 *   info), which mcpmon's own requests carry, and its open
 *   `subscriptions/listen` requests, which each new process gets again.
 *
 * The era comes from the client's first message: `initialize` is legacy, a
 * request whose `_meta` names a protocol version is modern. `server/discover`
 * decides nothing (a client probes with it, then falls back to `initialize`).
 *
 * @module
 */
import { idKey, type JsonRpcId, type JsonRpcMessage } from "./jsonrpc.ts";

/** The `_meta` key naming a modern request's protocol version. */
export const PROTOCOL_VERSION_KEY = "io.modelcontextprotocol/protocolVersion";
/** The `_meta` key carrying a modern client's capabilities. */
export const CLIENT_CAPABILITIES_KEY = "io.modelcontextprotocol/clientCapabilities";
/** The `_meta` key carrying a modern client's name and version. */
export const CLIENT_INFO_KEY = "io.modelcontextprotocol/clientInfo";
/** The `_meta` key tagging a notification (or a closing result) with its listen's id. */
export const SUBSCRIPTION_ID_KEY = "io.modelcontextprotocol/subscriptionId";
/** The stateless revision mcpmon serves, and the one it opens backends in. */
export const MODERN_VERSION = "2026-07-28";

/** The last revision of the 2025 era (`initialize`), offered to legacy servers for a modern client. */
export const LATEST_LEGACY_VERSION = "2025-11-25";

/** A protocol era: the 2025 revisions (`initialize`) or 2026-07-28 (stateless). */
export type Era = "legacy" | "modern";

/** A modern request's envelope: the `_meta` keys that name the client and its version. */
export type Envelope = Record<string, unknown>;

/**
 * The protocol version a message's `_meta` envelope names, if it has one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const meta = { "io.modelcontextprotocol/protocolVersion": "2026-07-28" };
 * assert.equal(envelopeVersion({ jsonrpc: "2.0", id: 1, method: "tools/list", params: { _meta: meta } }), "2026-07-28");
 * assert.equal(envelopeVersion({ jsonrpc: "2.0", id: 1, method: "tools/list" }), undefined);
 * ```
 */
export function envelopeVersion(message: JsonRpcMessage): string | undefined {
  const meta = metaOf(message.params);
  const version = meta?.[PROTOCOL_VERSION_KEY];
  return typeof version === "string" ? version : undefined;
}

/** A params object's `_meta`, when it is an object. */
export function metaOf(params: unknown): Record<string, unknown> | undefined {
  if (typeof params !== "object" || params === null) return undefined;
  const meta = (params as Record<string, unknown>)._meta;
  return typeof meta === "object" && meta !== null && !Array.isArray(meta)
    ? meta as Record<string, unknown>
    : undefined;
}

/**
 * A copy of a request's params whose `_meta` carries `envelope` (its other
 * `_meta` keys, such as a progress token, kept).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const params = withEnvelope({ name: "a", _meta: { progressToken: 1 } }, { "io.modelcontextprotocol/protocolVersion": "2026-07-28" });
 * assert.deepEqual(params._meta, { progressToken: 1, "io.modelcontextprotocol/protocolVersion": "2026-07-28" });
 * ```
 */
export function withEnvelope(
  params: Record<string, unknown> | undefined,
  envelope: Envelope | undefined,
): Record<string, unknown> {
  return { ...params, _meta: { ...metaOf(params), ...envelope } };
}

/**
 * A 2026-07-28 result as a 2025 client gets it: without the fields of that
 * revision (`resultType: "complete"`, a list's `ttlMs` and `cacheScope`).
 * Used where one era's server answers the other era's client (the gateway,
 * and 2025 sessions of a gateway served on HTTP).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(legacyResult({ resultType: "complete", tools: [], ttlMs: 0 }), { tools: [] });
 * assert.deepEqual(legacyResult({ content: [] }), { content: [] });
 * ```
 */
export function legacyResult(result: Record<string, unknown>): Record<string, unknown> {
  if (result.resultType !== "complete" && !("ttlMs" in result) && !("cacheScope" in result)) {
    return result;
  }
  const { resultType, ttlMs: _ttl, cacheScope: _scope, ...rest } = result;
  return resultType === undefined || resultType === "complete" ? rest : { resultType, ...rest };
}

/**
 * The params of a `subscriptions/listen` that asks for every list change,
 * with `envelope` as its `_meta`: what mcpmon opens on a modern process it
 * must hear from (the gateway's backends, and the listen the HTTP front holds
 * for each bridged 2025 session).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const params = listenToAllLists({ "io.modelcontextprotocol/protocolVersion": "2026-07-28" });
 * assert.equal(params.notifications.toolsListChanged, true);
 * assert.equal(params._meta["io.modelcontextprotocol/protocolVersion"], "2026-07-28");
 * ```
 */
export function listenToAllLists(envelope: Envelope | undefined): {
  notifications: Record<string, boolean>;
  _meta: Envelope;
} {
  return {
    notifications: {
      toolsListChanged: true,
      promptsListChanged: true,
      resourcesListChanged: true,
    },
    _meta: { ...envelope },
  };
}

/** A client's open `subscriptions/listen`: its id as sent and its params (the filter). */
export interface Listen {
  /** The client's id of the listen request (string or number, as sent). */
  readonly id: JsonRpcId;
  /** Its params: `notifications` (the filter) and the `_meta` it came with. */
  readonly params: Record<string, unknown>;
}

/** The listen filter's key for each list's `list_changed`. */
const LISTEN_KEYS: Record<string, string> = {
  tools: "toolsListChanged",
  prompts: "promptsListChanged",
  resources: "resourcesListChanged",
};

/**
 * Whether a listen asked for `notifications/<list>/list_changed`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const listen = { id: "listen:0", params: { notifications: { toolsListChanged: true } } };
 * assert.equal(listensFor(listen, "tools"), true);
 * assert.equal(listensFor(listen, "prompts"), false);
 * ```
 */
export function listensFor(listen: Listen, list: string): boolean {
  const filter = listen.params.notifications;
  if (typeof filter !== "object" || filter === null) return false;
  return (filter as Record<string, unknown>)[LISTEN_KEYS[list] ?? ""] === true;
}

/** One message to replay to a fresh server after its `initialize` response. */
export interface ReplayStep {
  /** JSON-RPC method. */
  method: string;
  /** Its params. */
  params?: Record<string, unknown>;
  /** True for a notification (no response expected). */
  notification: boolean;
}

/**
 * Records the client's session state from the messages it sends.
 *
 * @example
 * ```ts
 * import { Session } from "./session.ts";
 * const s = new Session();
 * s.observe({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18" } });
 * s.observe({ jsonrpc: "2.0", method: "notifications/initialized" });
 * s.observe({ jsonrpc: "2.0", id: 2, method: "logging/setLevel", params: { level: "debug" } });
 * s.replay().map((step) => step.method);
 * // ["notifications/initialized", "logging/setLevel"]
 * ```
 */
export class Session {
  #era: Era | undefined;
  #envelope: Envelope | undefined;
  #listens = new Map<string, Listen>();
  #eraWaiters: (() => void)[] = [];
  #initializeParams: Record<string, unknown> | undefined;
  #initialized = false;
  #underway = false;
  #underwayWaiters: (() => void)[] = [];
  #level: string | undefined;
  #subscriptions = new Set<string>();

  /** The client's era, once its first message decided it. */
  get era(): Era | undefined {
    return this.#era;
  }

  /**
   * The client's latest envelope (modern): the `_meta` keys naming its
   * protocol version, capabilities and info, for mcpmon's own requests.
   */
  get envelope(): Envelope | undefined {
    return this.#envelope;
  }

  /**
   * The envelope for a modern server process: the client's own (modern), or
   * one made from its `initialize` params (a legacy client, through the
   * gateway, to a server that speaks only 2026-07-28).
   */
  envelopeForServer(): Envelope | undefined {
    if (this.#envelope) return this.#envelope;
    const params = this.#initializeParams;
    if (!params) return undefined;
    return {
      [PROTOCOL_VERSION_KEY]: MODERN_VERSION,
      [CLIENT_CAPABILITIES_KEY]: params.capabilities ?? {},
      ...(params.clientInfo !== undefined ? { [CLIENT_INFO_KEY]: params.clientInfo } : {}),
    };
  }

  /**
   * The `initialize` params for a legacy server process: the client's own
   * (legacy), or ones made from its envelope (a modern client, through the
   * gateway, to a server that speaks only the 2025 era).
   */
  initializeParamsForServer(): Record<string, unknown> | undefined {
    if (this.#initializeParams) return this.#initializeParams;
    const envelope = this.#envelope;
    if (!envelope) return undefined;
    return {
      protocolVersion: LATEST_LEGACY_VERSION,
      capabilities: envelope[CLIENT_CAPABILITIES_KEY] ?? {},
      clientInfo: envelope[CLIENT_INFO_KEY] ?? { name: "mcpmon", version: "0" },
    };
  }

  /** The client's open listens (modern), in the order it opened them. */
  get listens(): Listen[] {
    return [...this.#listens.values()];
  }

  /** The open listen with the client's id `id`, if any. */
  listen(id: JsonRpcId): Listen | undefined {
    return this.#listens.get(idKey(id));
  }

  /** Forgets a listen (the client cancelled it, or it was closed). */
  closeListen(id: JsonRpcId): Listen | undefined {
    const key = idKey(id);
    const listen = this.#listens.get(key);
    this.#listens.delete(key);
    return listen;
  }

  /**
   * Resolves once the client's 2025 session is under way: it sent
   * `notifications/initialized`, or anything else after `initialize` (a
   * client that skips the notification still counts as initialized). Until
   * then a server must get no request of mcpmon's own (MCP; the Python SDK
   * refuses them).
   */
  underway(): Promise<void> {
    if (this.#underway) return Promise.resolve();
    return new Promise((resolve) => this.#underwayWaiters.push(resolve));
  }

  #wakeUnderway() {
    if (this.#underway) return;
    this.#underway = true;
    const waiting = this.#underwayWaiters;
    this.#underwayWaiters = [];
    for (const wake of waiting) wake();
  }

  /** Resolves once the client's era is known (at once if it is). */
  eraDecided(): Promise<Era> {
    if (this.#era) return Promise.resolve(this.#era);
    return new Promise((resolve) => this.#eraWaiters.push(() => resolve(this.#era!)));
  }

  #decide(era: Era) {
    if (this.#era) return;
    this.#era = era;
    const waiting = this.#eraWaiters;
    this.#eraWaiters = [];
    for (const wake of waiting) wake();
  }

  /** The client's `initialize` params, once it sent them. */
  get initializeParams(): Record<string, unknown> | undefined {
    return this.#initializeParams;
  }

  /** True once the client sent `notifications/initialized`. */
  get initialized(): boolean {
    return this.#initialized;
  }

  /** The last level the client set with `logging/setLevel`. */
  get logLevel(): string | undefined {
    return this.#level;
  }

  /** Resource URIs the client is subscribed to, in subscription order. */
  get subscriptions(): string[] {
    return [...this.#subscriptions];
  }

  /**
   * {@linkcode Session.observe} for a request read without its params (the
   * router's byte path): true when `method`, in an established legacy
   * session, sets nothing up, so that is all `observe` would have done; false
   * when the message must be observed whole.
   */
  observePlain(method: string): boolean {
    if (this.#era !== "legacy" || this.#initializeParams === undefined) return false;
    switch (method) {
      case "initialize":
      case "notifications/initialized":
      case "logging/setLevel":
      case "resources/subscribe":
      case "resources/unsubscribe":
        return false;
    }
    this.#wakeUnderway();
    return true;
  }

  /**
   * Records what a client→server request or notification sets up. The first
   * `initialize` or enveloped request decides the era; in the modern era each
   * enveloped message updates the envelope and `subscriptions/listen` opens a
   * listen.
   */
  observe(message: JsonRpcMessage): void {
    const params = (message.params ?? {}) as Record<string, unknown>;
    if (
      this.#era !== "legacy" && message.method !== "initialize" &&
      message.method !== "server/discover"
    ) {
      const meta = metaOf(params);
      if (meta && typeof meta[PROTOCOL_VERSION_KEY] === "string") {
        this.#envelope = envelopeOf(meta);
        this.#decide("modern");
      }
    }
    if (this.#era === "modern") {
      if (message.method === "subscriptions/listen" && message.id != null) {
        this.#listens.set(idKey(message.id), { id: message.id, params });
      }
      return;
    }
    if (this.#initializeParams && message.method !== "initialize") this.#wakeUnderway();
    switch (message.method) {
      case "initialize": {
        if (this.#initializeParams) return; // a second initialize changes nothing
        this.#initializeParams = params;
        this.#decide("legacy");
        return;
      }
      case "notifications/initialized":
        this.#initialized = true;
        return;
      case "logging/setLevel":
        if (typeof params.level === "string") this.#level = params.level;
        return;
      case "resources/subscribe":
        if (typeof params.uri === "string") this.#subscriptions.add(params.uri);
        return;
      case "resources/unsubscribe":
        if (typeof params.uri === "string") this.#subscriptions.delete(params.uri);
        return;
    }
  }

  /**
   * What a new server must receive after its `initialize` response, in
   * order (legacy; nothing in the modern era, whose listens the router
   * re-opens). `ownsUri` keeps only the subscriptions that server owns (gateway).
   */
  replay(ownsUri?: (uri: string) => boolean): ReplayStep[] {
    const steps: ReplayStep[] = [];
    if (this.#era !== "legacy" || !this.#initialized) return steps;
    steps.push({ method: "notifications/initialized", notification: true });
    if (this.#level !== undefined) {
      steps.push({
        method: "logging/setLevel",
        params: { level: this.#level },
        notification: false,
      });
    }
    for (const uri of this.#subscriptions) {
      if (ownsUri && !ownsUri(uri)) continue;
      steps.push({ method: "resources/subscribe", params: { uri }, notification: false });
    }
    return steps;
  }
}

/** The envelope keys of a request's `_meta` (not its progress token or other per-request keys). */
function envelopeOf(meta: Record<string, unknown>): Envelope {
  const envelope: Envelope = {};
  for (const key of [PROTOCOL_VERSION_KEY, CLIENT_CAPABILITIES_KEY, CLIENT_INFO_KEY]) {
    if (meta[key] !== undefined) envelope[key] = meta[key];
  }
  return envelope;
}
