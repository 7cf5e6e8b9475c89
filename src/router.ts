/**
 * The router between the client and its backends: id tables in both
 * directions, a queue per backend while it restarts, the client's session
 * replayed to each new generation, `list_changed` after restarts, and the
 * injected tools.
 *
 * One router serves both modes. In single-server mode there is one backend
 * whose names pass through unprefixed: `initialize` and the lists come from
 * the server itself. In gateway mode mcpmon answers `initialize`, keeps each
 * backend's lists (read when it becomes ready, and again on its own
 * `list_changed`), and serves them merged with names `<server><sep><name>`,
 * routing calls back by lookup table.
 *
 * Ids: each request forwarded to a server gets an id of that generation's own;
 * the client's id (string or number) is restored on the response. Requests a
 * server sends to the client get ids from one router-wide counter, so they
 * never collide across generations or backends; a reply meant for a
 * generation that is gone is dropped and logged.
 *
 * @module
 */
import type { ServerOptions } from "./config.ts";
import {
  classify,
  ErrorCode,
  errorResponse,
  FrameWriter,
  type JsonRpcId,
  type JsonRpcMessage,
  parseLine,
  peekId,
  replaceId,
  spliceId,
} from "./jsonrpc.ts";
import type { Logger } from "./log.ts";
import {
  advertiseListChanged,
  declaredLists,
  gatewayInitializeResult,
  standInInitializeResult,
} from "./capabilities.ts";
import { Catalog, type Item, KINDS, type ListKind, MAX_URI_LENGTH, page } from "./catalog.ts";
import { exposedName } from "./names.ts";
import {
  CALL_TOOL,
  callThroughTools,
  diffTools,
  gatewayRestartToolDefinition,
  LIST_TOOLS,
  RESTART_TOOL,
  RESTART_TOOL_FALLBACK,
  restartResultText,
  restartToolDefinition,
  schemaHash,
  STATUS_TOOL,
  statusText,
  statusToolDefinition,
  type ToolDiff,
  type ToolLike,
} from "./injected_tools.ts";
import type { Clock, Runtime } from "./runtime/mod.ts";
import { Session } from "./session.ts";
import { Backend, type BackendHooks, type RestartOutcome } from "./backend.ts";
import type { Generation, ServerInitiated } from "./generation.ts";
import { delay, systemClock } from "./runtime/mod.ts";

/** By own entry only (a Map): a method named `toString` or `constructor` is no list. */
const LIST_METHODS: ReadonlyMap<string, ListKind> = new Map([
  ["tools/list", "tools"],
  ["prompts/list", "prompts"],
  ["resources/list", "resources"],
  ["resources/templates/list", "resourceTemplates"],
]);
/** The capability that declares each list. */
const CAPABILITY: Record<ListKind, string> = {
  tools: "tools",
  prompts: "prompts",
  resources: "resources",
  resourceTemplates: "resources",
};
/** The notification that tells the client a list changed. */
const LIST_CHANGED: Record<ListKind, string> = {
  tools: "notifications/tools/list_changed",
  prompts: "notifications/prompts/list_changed",
  resources: "notifications/resources/list_changed",
  resourceTemplates: "notifications/resources/list_changed",
};
/**
 * How much client text (characters) may wait for one backend before mcpmon
 * stops reading the client until the backend takes it: 16 Mi, room for any
 * burst a client makes while a server starts, and for a 64 MB message.
 */
const QUEUE_HIGH_WATER_MARK = 16 * 1024 * 1024;

/**
 * How long `restart_server` waits, at most, for the client to re-read the
 * tools after `list_changed` before it answers (Claude Code re-lists within
 * ~15 ms), so the model's next request can name the new tools.
 */
export const RELIST_WAIT_MS = 1000;

type ClientMessage = Extract<ReturnType<typeof classify>, { type: "request" | "notification" }>;
type ClientRequest = Extract<ClientMessage, { type: "request" }>;

/** Gateway naming options. */
export interface GatewayOptions {
  /** Between server name and tool or prompt name (default `__`). */
  separator: string;
  /**
   * Longest exposed name; longer ones are shortened with a hash. The CLI
   * passes the model's limit minus the client's prefix (see `exposedBudget`).
   */
  nameBudget: number;
  /** Offer `mcpmon_list_tools` and `mcpmon_call_tool` (default false). */
  callThrough?: boolean;
}

/** A client message waiting for its backend, with what to do to its response. */
interface Queued {
  message: ClientMessage;
  line: string;
  transform?: (response: JsonRpcMessage) => void;
}

/** One backend and what the router keeps for it. */
class Slot {
  /** Client messages waiting for this backend to be ready, in arrival order. */
  queue: Queued[] = [];
  /** Their size (characters of their text). */
  #queued = 0;
  /** Readers of the client waiting for the queue to shrink (backpressure). */
  #space: (() => void)[] = [];
  /** The backend's own lists (gateway; tools also in single mode, for the restart tool). */
  lists: Partial<Record<ListKind, Item[]>> = {};
  /** Settles when the lists of the current generation have been read. */
  listsRead: Promise<void> = Promise.resolve();
  /** Resource URIs renamed because another backend has the same: original → exposed. */
  renamedUris = new Map<string, string>();
  /** Gateway: true from a generation's ready until its lists are read and merged. */
  reading = false;
  /** Gateway: called at the backend's next "listed" (ready, lists merged) or "failed". */
  waiters: (() => void)[] = [];
  /** The backend (set right after the slot is made: its hooks need the slot). */
  backend!: Backend;
  get name(): string {
    return this.backend.name;
  }
  /** Whether the backend is on its way to serving (its names may not be listed yet). */
  get coming(): boolean {
    const state = this.backend.state;
    return state === "starting" || state === "restarting" || this.reading;
  }
  /**
   * Queues a client message. Past {@linkcode QUEUE_HIGH_WATER_MARK} characters
   * queued, returns a promise that settles once the queue is taken: the client's
   * reader waits for it, so a client cannot pile up messages without bound
   * while the server starts.
   */
  enqueue(queued: Queued): Promise<void> | undefined {
    this.queue.push(queued);
    this.#queued += queued.line.length || 256;
    if (this.#queued <= QUEUE_HIGH_WATER_MARK) return undefined;
    return new Promise((resolve) => this.#space.push(resolve));
  }

  /** Takes every queued message (to deliver or refuse them) and wakes the waiting reader. */
  takeQueue(): Queued[] {
    const queue = this.queue;
    this.queue = [];
    this.#queued = 0;
    const waiting = this.#space;
    this.#space = [];
    for (const wake of waiting) wake();
    return queue;
  }

  /** Wakes whatever waits for this backend's next "listed" or "failed". */
  settle(): void {
    const waiting = this.waiters;
    this.waiters = [];
    for (const wake of waiting) wake();
  }
}

/** The MCP revision whose JSON-RPC allows batches. */
const BATCH_VERSION = "2025-03-26";

/** Tells 1 and "1" apart. */
function batchKey(id: JsonRpcId | null): string {
  return `${typeof id}:${id}`;
}

/** A batch from the client: its answers, gathered into one array line. */
class Batch {
  /** The request ids still owed an answer (keys). */
  readonly keys = new Set<string>();
  readonly #owed = new Set<string>();
  /** Answers in the order they came. */
  readonly answers: string[] = [];
  /** Every message of the batch has been handled (no more requests will be added). */
  sealed = false;
  /** Its answers have been written. */
  flushed = false;

  /** A request of the batch, owed an answer; an invalid element (`null`) is answered at once. */
  expect(id: JsonRpcId | null, index: Map<string, Batch>) {
    if (id === null) return;
    const key = batchKey(id);
    this.keys.add(key);
    this.#owed.add(key);
    index.set(key, this);
  }

  answer(key: string | null, text: string) {
    if (key !== null) this.#owed.delete(key);
    this.answers.push(text);
  }

  /** A request the client cancelled: owed nothing (MCP). */
  forget(key: string) {
    this.#owed.delete(key);
  }

  get complete(): boolean {
    return this.sealed && this.#owed.size === 0;
  }
}

/** A merged list as the client sees it (gateway). */

/**
 * Routes messages between the client and its backends.
 *
 * @example
 * ```ts ignore
 * const router = new Router(runtime, logger, [serverOptions]);
 * router.start();
 * await readLines(runtime.stdin, (line) => router.handleClientLine(line));
 * await router.close({ drain: true });
 * ```
 */
export class Router {
  /** What the client set up. */
  readonly session: Session = new Session();
  /** Called when a backend's state, pid, restarts or last error change. */
  onChange: ((backend: Backend) => void) | undefined;
  readonly #runtime: Runtime;
  readonly #log: Logger;
  readonly #client: FrameWriter;
  #gateway: GatewayOptions | undefined;
  readonly #slots = new Map<string, Slot>();
  /** Client requests in flight: client id → where they went. */
  #inFlight = new Map<JsonRpcId, { gen: Generation; id: number }>();
  /** Server→client requests awaiting the client's reply: id toward the client → origin. */
  #toClient = new Map<number, { gen: Generation; id: JsonRpcId }>();
  #nextToClientId = 1;
  /** The client's `initialize` request while it waits for an answer (single mode). */
  #initialize: JsonRpcId | undefined;
  #initializeAnswered = false;
  #idle: (() => void)[] = [];
  /** The injected restart tool's name; undefined when it is turned off. */
  #restartTool: string | undefined;
  /** Offer `mcpmon_list_tools` and `mcpmon_call_tool`. */
  #callThrough: boolean;
  /** Gateway: the merged lists, their name tables and routes. */
  readonly #catalog: Catalog<Slot>;
  #warned = new Set<string>();
  /** Ids past 2^53, as the client wrote them: answered with that token, not the rounded number. */
  #rawIds = new Map<JsonRpcId, string>();
  /** The batch whose messages are being handled now. */
  #openBatch: Batch | undefined;
  /** Batches waiting for answers, by the key of each request id in them. */
  #batches = new Map<string, Batch>();
  /**
   * Gateway: false until every backend is listed or failed (or missed its
   * init timeout) after the client's `initialize`; list requests wait meanwhile.
   */
  #complete = false;
  /** Gateway: list requests held until {@linkcode Router.#complete}. */
  #heldLists: ClientRequest[] = [];
  /** Gateway: calls naming a backend that is still coming, by the client's id. */
  #waitingCalls = new Map<JsonRpcId, ClientRequest>();
  /** Gateway: resource requests, among {@linkcode Router.#waitingCalls}, held until the lists are complete. */
  #heldCalls: ClientRequest[] = [];
  /** Longest wait of `restart_server` for the client to re-read the tools. */
  readonly #relistWaitMs: number;
  /** Counts events, to order a `tools/list` against the last tools `list_changed`. */
  #seq = 0;
  /** The {@linkcode Router.#seq} of the last tools `list_changed` sent to the client. */
  #toolsChangedAt = 0;
  /** The latest {@linkcode Router.#seq} at which a `tools/list` the client got an answer to arrived. */
  #relistedAt = 0;
  /** When each `tools/list` request arrived. */
  #arrivals = new WeakMap<ClientMessage, number>();
  #relistWaiters: (() => void)[] = [];
  /** Aborted by {@linkcode Router.close}: ends the router's own timers. */
  readonly #closing = new AbortController();
  /** The runtime's clock (a manual one in specs). */
  readonly #clock: Clock;

  /**
   * Creates the router and a backend per server; {@linkcode Router.start}
   * starts them. Without `options.gateway` exactly one server is expected
   * (single-server mode). `options.relistWaitMs` bounds how long
   * `restart_server` waits for the client to re-read the tools (default
   * {@linkcode RELIST_WAIT_MS}).
   */
  constructor(
    runtime: Runtime,
    log: Logger,
    servers: readonly ServerOptions[],
    options: { gateway?: GatewayOptions; relistWaitMs?: number } = {},
  ) {
    this.#relistWaitMs = options.relistWaitMs ?? RELIST_WAIT_MS;
    this.#runtime = runtime;
    this.#clock = runtime.clock ?? systemClock;
    this.#log = log;
    this.#gateway = options.gateway;
    if (!this.#gateway && servers.length !== 1) {
      throw new Error("single-server mode takes exactly one server; use gateway mode for more");
    }
    this.#client = new FrameWriter(runtime.stdout, (err) => {
      log.debug(`client stdout closed: ${err instanceof Error ? err.message : err}`);
    });
    this.#catalog = new Catalog(
      this.#gateway ?? { separator: "__", nameBudget: 64 },
      (m) => this.#warnOnce(m),
    );
    for (const server of servers) this.#addSlot(server);
    const restartTool = this.#gateway ? true : servers[0].restartTool;
    if (restartTool) this.#restartTool = RESTART_TOOL;
    this.#callThrough = this.#gateway ? this.#gateway.callThrough === true : servers[0].callThrough;
  }

  /** The first (in single-server mode, the only) backend. */
  get backend(): Backend {
    return this.#slots.values().next().value!.backend;
  }

  /** Every backend, in configuration order. */
  get backends(): Backend[] {
    return [...this.#slots.values()].map((s) => s.backend);
  }

  /** Starts every backend's first generation (in parallel). */
  start(): void {
    for (const slot of this.#slots.values()) slot.backend.start();
  }

  /** Restarts a backend (the only one when `server` is omitted in single mode). */
  restart(reason: string, server?: string): Promise<RestartOutcome> {
    const slot = server === undefined
      ? this.#slots.values().next().value!
      : this.#slots.get(server);
    if (!slot) return Promise.reject(new Error(`no server named "${server}"`));
    return slot.backend.restart(reason);
  }

  /** Gateway: adds a backend and starts it. */
  addServer(server: ServerOptions): void {
    if (!this.#gateway) throw new Error("servers can only be added in gateway mode");
    if (this.#slots.has(server.name)) throw new Error(`a server named "${server.name}" exists`);
    this.#addSlot(server).backend.start();
  }

  /**
   * Gateway: gives a server a new definition. Like a restart, its tools stay
   * listed and requests wait in its queue meanwhile: the old process drains
   * and stops, then the new one starts.
   */
  async replaceServer(server: ServerOptions): Promise<void> {
    const slot = this.#slots.get(server.name);
    if (!slot) return this.addServer(server);
    const old = slot.backend;
    this.#makeBackend(slot, server);
    await old.stop({ drain: true, why: "replaced by its new definition" });
    if (this.#slots.get(server.name) === slot) slot.backend.start();
  }

  /** Gateway: stops a backend and removes it, with its tools, prompts and resources. */
  async removeServer(name: string): Promise<void> {
    const slot = this.#slots.get(name);
    if (!slot) return;
    this.#slots.delete(name);
    await slot.backend.stop();
    this.#failQueue(slot, `server "${name}" was removed from the configuration`);
    slot.settle();
    this.#updateViews();
  }

  /** Gateway: changes the separator or name budget; the lists are renamed and the client told. */
  setNaming(options: GatewayOptions): void {
    if (!this.#gateway) throw new Error("naming applies to gateway mode only");
    this.#gateway = options;
    this.#callThrough = options.callThrough === true;
    this.#catalog.setNaming(options);
    this.#updateViews();
  }

  /** Client requests not yet answered (queued or in flight). */
  get pendingClientRequests(): number {
    let queued = 0;
    for (const slot of this.#slots.values()) {
      for (const q of slot.queue) if (q.message.type === "request") queued++;
    }
    return queued + this.#inFlight.size + (this.#initialize !== undefined ? 1 : 0) +
      this.#heldLists.length + this.#waitingCalls.size;
  }

  /**
   * Handles one line from the client. Returns a promise when the destination
   * is congested; the caller should wait for it before reading on.
   */
  handleClientLine(line: string): Promise<void> | undefined {
    if (line.trim() === "") return undefined;
    const parsed = parseLine(line);
    if (!parsed.ok) {
      if (parsed.error === "empty batch") {
        // JSON-RPC 2.0: an empty array is an invalid request, answered with one error.
        this.#log.warn("client sent an empty batch");
        this.#client.write(
          errorResponse(null, ErrorCode.InvalidRequest, "Invalid Request: empty batch"),
        );
        return this.#client.ready();
      }
      this.#log.warn(`client sent invalid JSON: ${parsed.error}`);
      this.#client.write(errorResponse(null, ErrorCode.ParseError, `Parse error: ${parsed.error}`));
      return this.#client.ready();
    }
    const batch = line.trimStart().startsWith("[");
    if (batch) {
      const refusal = this.#batchRefusal();
      if (refusal) {
        this.#log.warn(`client sent a batch: ${refusal}`);
        this.#client.write(errorResponse(null, ErrorCode.InvalidRequest, refusal));
        return this.#client.ready();
      }
      this.#openBatch = new Batch();
    }
    let wait: Promise<void> | undefined;
    try {
      for (const value of parsed.values) {
        const c = classify(value);
        const text = batch ? undefined : line;
        if (c.type === "request" && typeof c.id === "number" && !Number.isSafeInteger(c.id)) {
          // An id JavaScript cannot hold exactly (past 2^53): answer with the client's own token.
          const raw = text !== undefined ? rawIdToken(text) : undefined;
          if (raw !== undefined && raw !== JSON.stringify(c.id)) this.#rawIds.set(c.id, raw);
        }
        if (batch && (c.type === "request" || c.type === "invalid")) {
          this.#openBatch!.expect(c.type === "request" ? c.id : null, this.#batches);
        }
        try {
          wait = this.#clientMessage(c, text, value) ?? wait;
        } catch (err) {
          // A bug or an input mcpmon cannot handle (e.g. too deep to serialize again): this
          // message gets an error, the session goes on.
          this.#internalError(c, err);
        }
      }
    } finally {
      const opened = this.#openBatch;
      this.#openBatch = undefined;
      if (opened) this.#sealBatch(opened);
    }
    return wait;
  }

  /** Why a batch is refused now (JSON-RPC batches exist in MCP 2025-03-26 only); undefined: allowed. */
  #batchRefusal(): string | undefined {
    const version = this.session.initializeParams?.protocolVersion;
    if (version === undefined) {
      return "Invalid Request: a batch cannot come before initialize; send one message per line";
    }
    if (version !== BATCH_VERSION) {
      return `Invalid Request: JSON-RPC batches are not part of MCP ${
        JSON.stringify(version)
      } (only of ${BATCH_VERSION}); send one message per line`;
    }
    return undefined;
  }

  /** All of a batch's messages were handled: write its answers now if they are all in. */
  #sealBatch(batch: Batch) {
    batch.sealed = true;
    this.#flushBatch(batch);
  }

  #flushBatch(batch: Batch) {
    if (!batch.complete || batch.flushed) return;
    batch.flushed = true;
    for (const key of batch.keys) this.#batches.delete(key);
    // A batch of notifications only is answered with nothing (JSON-RPC 2.0).
    if (batch.answers.length > 0) this.#client.write(`[${batch.answers.join(",")}]`);
  }

  #clientMessage(
    c: ReturnType<typeof classify>,
    line: string | undefined,
    value: unknown,
  ): Promise<void> | undefined {
    switch (c.type) {
      case "invalid": {
        this.#log.warn(`client sent an invalid message: ${c.reason}`);
        const error = errorResponse(c.id, ErrorCode.InvalidRequest, `Invalid Request: ${c.reason}`);
        if (this.#openBatch) this.#openBatch.answer(null, serialize(error));
        else this.#client.write(error);
        return this.#client.ready();
      }
      case "response":
        return this.#replyFromClient(c.id, c.message);
      case "request":
        return this.#request(c, line ?? JSON.stringify(value));
      case "notification":
        return this.#notification(c, line ?? JSON.stringify(value));
    }
  }

  /** Logs an exception met while handling one client message and answers that message (-32603). */
  #internalError(c: ReturnType<typeof classify>, err: unknown) {
    const what = c.type === "request" || c.type === "notification" ? ` ${c.method}` : "";
    this.#log.error(
      `internal error while handling the client's${what} ${c.type}: ${
        err instanceof Error ? err.stack ?? err.message : String(err)
      }`,
    );
    if (c.type !== "request") return;
    this.#inFlight.delete(c.id);
    const detail = err instanceof RangeError
      ? "the message is nested too deeply for mcpmon to handle"
      : err instanceof Error
      ? err.message
      : String(err);
    this.#answer(errorResponse(c.id, ErrorCode.InternalError, `mcpmon: internal error: ${detail}`));
  }

  /**
   * Answers a client message that was too long to read (see `LineSplitter`):
   * an Invalid Request error with the id found at its start (`peekId`), or
   * `null`. The session goes on with the next line.
   */
  rejectOversized(bytes: number, head: string, limit: number): void {
    const id = peekId(head);
    this.#log.warn(`client sent a message of ${bytes} bytes, over the limit of ${limit}; refused`);
    this.#answer(
      errorResponse(
        id,
        ErrorCode.InvalidRequest,
        `Invalid Request: the message is ${bytes} bytes, over mcpmon's limit of ${limit} bytes`,
      ),
    );
  }

  /**
   * Shuts down: with `drain`, first waits (up to the grace period) for
   * requests in flight; then stops the backends, answers whatever is left
   * with an error, and flushes stdout.
   */
  async close(options: { drain: boolean }): Promise<void> {
    if (options.drain && this.pendingClientRequests > 0) {
      const graceMs = Math.max(...this.backends.map((b) => b.options.graceMs), 0);
      const timeout = new AbortController();
      await Promise.race([
        new Promise<void>((resolve) => this.#idle.push(resolve)),
        new Promise<void>((resolve) => {
          const t = this.#clock.setTimeout(resolve, graceMs);
          timeout.signal.addEventListener("abort", () => this.#clock.clearTimeout(t));
        }),
      ]);
      timeout.abort();
    }
    this.#closing.abort();
    await Promise.all(this.backends.map((b) => b.stop()));
    for (const slot of this.#slots.values()) this.#failQueue(slot, "mcpmon is shutting down");
    this.#openLists();
    for (const c of this.#waitingCalls.values()) {
      this.#reject(c, ErrorCode.ServerUnavailable, "mcpmon: mcpmon is shutting down");
    }
    this.#waitingCalls.clear();
    if (this.#initialize !== undefined) {
      this.#answer(
        errorResponse(this.#initialize, ErrorCode.ServerUnavailable, "mcpmon is shutting down"),
      );
      this.#initialize = undefined;
    }
    // A client that stopped reading must not keep mcpmon up: the last flush is bounded.
    const flushTimeout = new AbortController();
    const graceMs = Math.max(...this.backends.map((b) => b.options.graceMs), 1000);
    await Promise.race([
      this.#client.flushed(),
      delay(graceMs, flushTimeout.signal, this.#clock),
    ]);
    flushTimeout.abort();
  }

  #addSlot(server: ServerOptions): Slot {
    const slot = new Slot();
    this.#makeBackend(slot, server);
    this.#slots.set(server.name, slot);
    return slot;
  }

  /** Gives a slot a new (not yet started) backend; events from an older one are ignored. */
  #makeBackend(slot: Slot, server: ServerOptions) {
    const current = (b: Backend) => slot.backend === b;
    const hooks: BackendHooks = {
      clientReady: () => this.#client.ready(),
      onServerMessage: (_b, gen, message, line) => {
        try {
          this.#fromServer(slot, gen, message, line);
        } catch (err) {
          this.#log.error(
            `internal error on the server's ${message.method}: ${
              err instanceof Error ? err.stack ?? err.message : err
            }`,
            this.#gateway ? { server: slot.name } : {},
          );
        }
      },
      onReady: (b, gen) => current(b) && this.#onReady(slot, gen),
      onFailed: (b, cause) => current(b) && this.#onFailed(slot, cause),
      onGenerationEnd: (_b, gen) => this.#onGenerationEnd(gen),
      onBuildFailed: (b, error) =>
        this.#notifyClient("error", this.#gateway ? `[${b.name}] ${error}` : error),
      onChange: (b) => this.onChange?.(b),
      // The session holds the URI as the backend knows it (requests are rewritten before delivery).
      ownsResource: this.#gateway ? (_b, uri) => this.#catalog.ownsResource(slot, uri) : undefined,
    };
    slot.backend = new Backend(this.#runtime, server, this.session, this.#log, hooks, {
      labelled: !!this.#gateway,
    });
  }

  // ── client → server ──────────────────────────────────────────────────────

  #request(c: ClientRequest, line: string): Promise<void> | undefined {
    if (c.method === "tools/list") this.#arrivals.set(c, ++this.#seq);
    if (c.method === "initialize") {
      this.#clientInitialize(c);
      return undefined;
    }
    if (this.session.initializeParams === undefined) {
      // Before initialize only pings are allowed (MCP); anything else would
      // wait for a server that cannot start without the client's params.
      if (c.method === "ping") this.#answer({ jsonrpc: "2.0", id: c.id, result: {} });
      else this.#reject(c, ErrorCode.InvalidRequest, "Invalid Request: send initialize first");
      return undefined;
    }
    if (c.method === "tools/call") {
      const name = (c.message.params as Item | undefined)?.name;
      if (this.#restartTool !== undefined && name === this.#restartTool) {
        this.#callRestartTool(c).catch((err) => this.#internalError(c, err));
        return undefined;
      }
      if (this.#callThrough && (name === LIST_TOOLS || name === CALL_TOOL)) {
        const handle = name === LIST_TOOLS ? this.#listLiveTools(c) : this.#callThroughTool(c);
        handle.catch((err) => this.#internalError(c, err));
        return undefined;
      }
      if (this.#gateway && name === STATUS_TOOL) {
        this.#answer({
          jsonrpc: "2.0",
          id: c.id,
          result: { content: [{ type: "text", text: statusText(this.backends) }] },
        });
        return undefined;
      }
    }
    if (!this.#gateway) return this.#route(this.#slots.values().next().value!, c, line);
    return this.#gatewayRequest(c);
  }

  #notification(c: ClientMessage, line: string): Promise<void> | undefined {
    if (c.method === "notifications/cancelled") return this.#cancelFromClient(c.message);
    if (!this.#gateway) return this.#route(this.#slots.values().next().value!, c, line);
    // Gateway: every backend hears the client's notifications. Session state
    // (initialized) reaches those not yet ready through their replay.
    this.session.observe(c.message);
    let wait: Promise<void> | undefined;
    for (const slot of this.#slots.values()) {
      const gen = slot.backend.current;
      if (slot.backend.state === "ready" && gen) gen.send(line);
      else if (c.method !== "notifications/initialized" && slot.backend.state !== "failed") {
        wait = slot.enqueue({ message: c, line }) ?? wait;
      }
    }
    return wait;
  }

  #clientInitialize(c: ClientRequest) {
    if (this.session.initializeParams !== undefined) {
      this.#answer(
        errorResponse(
          c.id,
          ErrorCode.InvalidRequest,
          "Invalid Request: the session is already initialized",
        ),
      );
      return;
    }
    this.session.observe(c.message);
    if (this.#gateway) {
      this.#initializeAnswered = true;
      this.#answer({ jsonrpc: "2.0", id: c.id, result: this.#gatewayInitializeResult() });
      this.#awaitBackends();
      return;
    }
    this.#initialize = c.id;
    // A backend that already failed (e.g. crashed at start) cannot answer:
    // answer for it, so the session survives until the next good edit.
    if (this.backend.state === "failed") this.#answerInitializeForFailedServer();
  }

  /** Sends a client message to a slot's backend, queues it, or refuses it, by the backend's state. */
  #route(
    slot: Slot,
    c: ClientMessage,
    line: string,
    transform?: (response: JsonRpcMessage) => void,
  ): Promise<void> | undefined {
    switch (slot.backend.state) {
      case "ready":
        return this.#deliver(slot.backend.current!, c, line, transform);
      case "failed":
      case "stopped":
        this.#refuse(slot, c, slot.backend.lastError ?? "the server is not running");
        return undefined;
      default:
        return slot.enqueue({ message: c, line, transform });
    }
  }

  #deliver(
    gen: Generation,
    c: ClientMessage,
    line: string,
    transform?: (response: JsonRpcMessage) => void,
  ): Promise<void> | undefined {
    this.session.observe(c.message);
    if (c.type === "notification") {
      gen.send(line);
      return gen.ready();
    }
    const clientId = c.id;
    const addsRestartTool = !this.#gateway && c.method === "tools/list" &&
      (this.#restartTool !== undefined || this.#callThrough);
    const id: number = gen.request(c.method, c.message, {
      clientId,
      // An untouched response goes out as the server's own bytes, only the id swapped (no parse).
      forward: (raw) => {
        if (
          addsRestartTool || transform || this.#rawIds.has(clientId) ||
          this.#batches.has(batchKey(clientId))
        ) return false;
        this.#inFlight.delete(clientId);
        this.#client.write(spliceId(raw.bytes, raw, clientId));
        this.#wakeIdle();
        if (c.method === "tools/list") this.#answeredToolsList(c);
        return true;
      },
      onResponse: (response, text) => {
        this.#inFlight.delete(clientId);
        // Untouched responses keep the server's text, with only the id swapped.
        const spliced = text !== undefined && !addsRestartTool && !transform &&
            !this.#rawIds.has(clientId)
          ? replaceId(text, id, clientId)
          : undefined;
        if (spliced !== undefined) {
          this.#answer(spliced, clientId);
          if (c.method === "tools/list") this.#answeredToolsList(c);
          return;
        }
        response.id = clientId;
        try {
          if (addsRestartTool) this.#addRestartTool(response);
          if (transform && response.result) transform(response);
        } catch (err) {
          return this.#internalError(c, err);
        }
        this.#answer(response);
        if (c.method === "tools/list") this.#answeredToolsList(c);
      },
    }, line);
    this.#inFlight.set(clientId, { gen, id });
    return gen.ready();
  }

  /** Answers a request the backend cannot take now; notifications still shape the session. */
  #refuse(slot: Slot, c: ClientMessage, cause: string) {
    this.session.observe(c.message);
    if (c.type === "request") {
      this.#answer(
        errorResponse(c.id, ErrorCode.ServerUnavailable, `mcpmon: ${cause}`, { server: slot.name }),
      );
    } else this.#log.debug(`dropped ${c.method}: ${cause}`);
  }

  #cancelFromClient(message: JsonRpcMessage): undefined {
    const params = (message.params ?? {}) as Record<string, unknown>;
    const requestId = params.requestId as JsonRpcId;
    const batch = this.#batches.get(batchKey(requestId));
    if (batch) {
      batch.forget(batchKey(requestId));
      queueMicrotask(() => this.#flushBatch(batch)); // after the cancel itself is handled
    }
    this.#rawIds.delete(requestId);
    const held = this.#heldLists.findIndex((h) => h.id === requestId);
    if (held !== -1) this.#heldLists.splice(held, 1);
    if (this.#waitingCalls.delete(requestId) || held !== -1) {
      this.#wakeIdle(); // never sent: a cancelled request is owed no response (MCP)
      return undefined;
    }
    for (const slot of this.#slots.values()) {
      const queued = slot.queue.findIndex((q) =>
        q.message.type === "request" && q.message.id === requestId
      );
      if (queued !== -1) {
        // Never sent: drop it. A cancelled request is owed no response (MCP).
        slot.queue.splice(queued, 1);
        this.#wakeIdle();
        return undefined;
      }
    }
    const target = this.#inFlight.get(requestId);
    if (!target || target.gen.state === "exited") {
      this.#log.debug(`cancellation for unknown request ${JSON.stringify(requestId)} dropped`);
      return undefined;
    }
    this.#inFlight.delete(requestId);
    target.gen.cancel(target.id);
    target.gen.send({ ...message, params: { ...params, requestId: target.id } });
    this.#wakeIdle();
    return undefined;
  }

  #replyFromClient(id: JsonRpcId, message: JsonRpcMessage): Promise<void> | undefined {
    const origin = typeof id === "number" ? this.#toClient.get(id) : undefined;
    if (!origin) {
      this.#log.warn(`client replied to unknown or expired request ${JSON.stringify(id)}; dropped`);
      return undefined;
    }
    this.#toClient.delete(id as number);
    origin.gen.outgoing.delete(origin.id);
    if (origin.gen.state === "exited") {
      this.#log.info(
        `client reply for server generation #${origin.gen.number}, which is gone; dropped`,
      );
      return undefined;
    }
    message.id = origin.id;
    origin.gen.send(message);
    return origin.gen.ready();
  }

  // ── gateway: one client, many servers ────────────────────────────────────

  #gatewayInitializeResult(): Item {
    return gatewayInitializeResult(
      this.session.initializeParams?.protocolVersion,
      [...this.#slots.keys()],
      this.#gateway!.separator,
      [RESTART_TOOL, STATUS_TOOL],
    );
  }

  /**
   * Gateway, at the client's `initialize`: the lists are complete once every
   * backend is listed or failed, each waited for at most its init timeout (a
   * backend that misses it is reported and listed when it comes).
   */
  #awaitBackends() {
    const waits = [...this.#slots.values()].map((slot) => {
      if (!slot.coming) return undefined;
      return new Promise<void>((resolve) => {
        const ms = slot.backend.options.initTimeoutMs;
        const timer = this.#clock.setTimeout(() => {
          if (this.#complete || this.#closing.signal.aborted) return resolve();
          this.#log.warn(
            `not ready within its init timeout (${ms} ms); listing the others without waiting for it`,
            { server: slot.name },
          );
          resolve();
        }, ms);
        const done = () => {
          this.#clock.clearTimeout(timer);
          resolve();
        };
        this.#closing.signal.addEventListener("abort", done, { once: true });
        slot.waiters.push(() => {
          this.#closing.signal.removeEventListener("abort", done);
          done();
        });
      });
    }).filter((w) => w !== undefined);
    if (waits.length === 0) return this.#openLists();
    Promise.all(waits).then(() => this.#openLists());
  }

  /** The lists are complete: answer the list requests held meanwhile. */
  #openLists() {
    if (this.#complete) return;
    this.#complete = true;
    const held = this.#heldLists;
    this.#heldLists = [];
    for (const c of held) {
      const kind = LIST_METHODS.get(c.method)!;
      try {
        this.#answerList(c, kind, ((c.message.params ?? {}) as Item).cursor);
      } catch (err) {
        this.#internalError(c, err);
      }
    }
    const calls = this.#heldCalls;
    this.#heldCalls = [];
    for (const c of calls) {
      if (this.#waitingCalls.get(c.id) !== c) continue; // cancelled meanwhile
      this.#waitingCalls.delete(c.id);
      if (this.#closing.signal.aborted) {
        this.#reject(c, ErrorCode.ServerUnavailable, "mcpmon: mcpmon is shutting down");
        continue;
      }
      try {
        this.#gatewayRequest(c, true);
      } catch (err) {
        this.#internalError(c, err);
      }
    }
  }

  /** The backend whose `<server><sep>` starts `name` (a name not listed yet may be its). */
  #prefixOwner(name: unknown): Slot | undefined {
    if (typeof name !== "string") return undefined;
    const sep = this.#gateway!.separator;
    const at = name.indexOf(sep);
    return at > 0 ? this.#slots.get(name.slice(0, at)) : undefined;
  }

  /** Holds a call until `slot` is listed or failed, then routes it again. */
  #waitForSlot(slot: Slot, c: ClientRequest): undefined {
    this.#log.debug(`${c.method} waits for the server to be ready`, { server: slot.name });
    this.#waitingCalls.set(c.id, c);
    slot.waiters.push(() => {
      if (this.#waitingCalls.get(c.id) !== c) return; // cancelled, or answered at shutdown
      this.#waitingCalls.delete(c.id);
      try {
        this.#gatewayRequest(c, true);
      } catch (err) {
        this.#internalError(c, err);
      }
    });
    return undefined;
  }

  /**
   * A call naming no listed tool or prompt: when its prefix names a backend
   * that is still coming, it waits for it; one that failed answers with its
   * own error; otherwise the name is unknown.
   */
  #unlisted(c: ClientRequest, name: unknown, what: string, retried: boolean): undefined {
    const slot = this.#prefixOwner(name);
    if (slot && !retried && slot.coming) return this.#waitForSlot(slot, c);
    if (slot && (slot.backend.state === "failed" || slot.backend.state === "stopped")) {
      this.#refuse(
        slot,
        c,
        `server "${slot.name}": ${slot.backend.lastError ?? "the server is not running"}`,
      );
      return undefined;
    }
    return this.#reject(c, ErrorCode.InvalidParams, `Unknown ${what}: ${name}`);
  }

  #gatewayRequest(c: ClientRequest, retried = false): Promise<void> | undefined {
    const params = (c.message.params ?? {}) as Item;
    const kind = LIST_METHODS.get(c.method);
    if (kind) {
      if (!this.#complete) {
        this.#heldLists.push(c);
        return undefined;
      }
      return this.#answerList(c, kind, params.cursor);
    }
    switch (c.method) {
      case "ping":
        this.#answer({ jsonrpc: "2.0", id: c.id, result: {} });
        return undefined;
      case "logging/setLevel":
        // Every backend gets the level; those not serving now get it replayed.
        this.session.observe(c.message);
        for (const slot of this.#slots.values()) {
          const gen = slot.backend.current;
          if (slot.backend.state === "ready" && gen) gen.call("logging/setLevel", params);
        }
        this.#answer({ jsonrpc: "2.0", id: c.id, result: {} });
        return undefined;
      case "tools/call":
      case "prompts/get": {
        const owner = typeof params.name !== "string"
          ? undefined
          : c.method === "tools/call"
          ? this.#catalog.routeTool(params.name)
          : this.#catalog.routePrompt(params.name);
        const slot = owner && this.#live(owner.source);
        if (!owner || !slot) {
          return this.#unlisted(
            c,
            params.name,
            c.method === "tools/call" ? "tool" : "prompt",
            retried,
          );
        }
        c.message.params = { ...params, name: owner.name };
        return this.#route(slot, c, "");
      }
      case "resources/read":
      case "resources/subscribe":
      case "resources/unsubscribe": {
        const uri = String(params.uri);
        const target = this.#resourceTarget(uri);
        if (!target && !this.#complete && !retried) {
          // Perhaps a backend not listed yet offers it: wait for the lists to be complete.
          this.#waitingCalls.set(c.id, c);
          this.#heldCalls.push(c);
          return undefined;
        }
        if (!target) {
          return this.#reject(
            c,
            ErrorCode.InvalidParams,
            uri.length > MAX_URI_LENGTH
              ? `Unknown resource: a URI of ${uri.length} characters, longer than the ${MAX_URI_LENGTH} mcpmon routes by template`
              : `Unknown resource: ${uri}`,
          );
        }
        c.message.params = { ...params, uri: target.uri };
        const renamed = target.uri !== params.uri;
        return this.#route(
          target.source,
          c,
          "",
          renamed ? (r) => renameContents(r, target.uri, params.uri) : undefined,
        );
      }
      case "completion/complete": {
        const ref = (params.ref ?? {}) as Item;
        let slot: Slot | undefined;
        if (ref.type === "ref/prompt") {
          const owner = this.#catalog.routePrompt(String(ref.name));
          slot = owner && this.#live(owner.source);
          if (owner) c.message.params = { ...params, ref: { ...ref, name: owner.name } };
        } else if (ref.type === "ref/resource") {
          slot = this.#catalog.templateOwner(String(ref.uri)) ??
            this.#resourceTarget(String(ref.uri))?.source;
        }
        if (!slot) return this.#reject(c, ErrorCode.InvalidParams, "Unknown completion reference");
        return this.#route(slot, c, "");
      }
      default:
        return this.#reject(c, ErrorCode.MethodNotFound, `Method not found: ${c.method}`);
    }
  }

  /** Where a resource URI goes: by table, else the one backend with templates. */
  #resourceTarget(uri: string): { source: Slot; uri: string } | undefined {
    const target = this.#catalog.resourceTarget(uri);
    return target && this.#live(target.source) ? target : undefined;
  }

  /** `slot` if it is still one of the router's (a removed backend's names route nowhere). */
  #live(slot: Slot): Slot | undefined {
    return this.#slots.get(slot.name) === slot ? slot : undefined;
  }

  #reject(c: ClientRequest, code: number, message: string): undefined {
    this.#answer(errorResponse(c.id, code, message));
    return undefined;
  }

  /** Answers a list request from the merged view, a page at a time. */
  #answerList(c: ClientRequest, kind: ListKind, cursor: unknown): undefined {
    const items = kind === "tools"
      ? [...this.#catalog.items("tools"), ...this.#injectedTools()]
      : this.#catalog.items(kind);
    const one = page(items, cursor);
    if (!one) return this.#reject(c, ErrorCode.InvalidParams, "Invalid cursor");
    const result: Item = { [kind]: one.items };
    if (one.nextCursor !== undefined) result.nextCursor = one.nextCursor;
    this.#answer({ jsonrpc: "2.0", id: c.id, result });
    if (kind === "tools") this.#answeredToolsList(c);
    return undefined;
  }

  #injectedTools(): Item[] {
    return [
      gatewayRestartToolDefinition([...this.#slots.keys()]),
      ...(this.#callThrough ? callThroughTools() : []),
      statusToolDefinition(),
    ];
  }

  /** Reads every list a generation declares (all pages); gateway, or tools for the restart tool. */
  async #readLists(slot: Slot, gen: Generation, only?: ListKind[]): Promise<void> {
    const caps = (gen.initResult?.capabilities ?? {}) as Item;
    const kinds = only ??
      (this.#gateway
        ? KINDS
        : this.#restartTool !== undefined || this.#callThrough
        ? ["tools" as const]
        : []);
    await Promise.all(kinds.map(async (kind) => {
      if (typeof caps[CAPABILITY[kind]] !== "object" || caps[CAPABILITY[kind]] === null) {
        delete slot.lists[kind];
        return;
      }
      const method = [...LIST_METHODS].find(([, k]) => k === kind)![0];
      const items: Item[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < 1000; page++) {
        const response = await gen.call(method, cursor === undefined ? undefined : { cursor });
        const list = (response.result as Item | undefined)?.[kind];
        if (!Array.isArray(list)) {
          if (response.error?.code !== ErrorCode.MethodNotFound) {
            this.#log.debug(`${method} failed: ${response.error?.message ?? "no list"}`, {
              server: slot.name,
            });
          }
          return;
        }
        for (const item of list) items.push(item);
        cursor = (response.result as Item).nextCursor;
        if (!cursor) break;
      }
      if (gen !== slot.backend.current) return; // a newer generation owns the lists now
      // mcpmon serializes, compares and hashes its lists again: an item too deep for that
      // (JSON.stringify throws RangeError) is left out, named in the log; the others serve.
      const servable = items.filter((item) => {
        try {
          JSON.stringify(item);
          return true;
        } catch (err) {
          this.#log.error(
            `${method}: "${
              item?.name ?? item?.uri ?? "?"
            }" is left out: it cannot be served again (${
              err instanceof RangeError ? "nested too deeply" : err
            })`,
            { server: slot.name },
          );
          return false;
        }
      });
      slot.lists[kind] = servable;
    }));
    if (!this.#gateway && slot.lists.tools?.some((t) => t.name === RESTART_TOOL)) {
      this.#useFallbackName();
    }
  }

  /** Rebuilds the merged views and tells the client which lists changed. */
  #updateViews() {
    if (!this.#gateway) return;
    const changed = this.#catalog.rebuild(this.#slots.values());
    // Before the lists are complete the client has read none of them: nothing to tell.
    if (this.#initializeAnswered && this.#complete) {
      for (const method of new Set([...changed].map((kind) => LIST_CHANGED[kind]))) {
        this.#listChanged(method);
      }
    }
  }

  #warnOnce(message: string) {
    if (this.#warned.has(message)) return;
    this.#warned.add(message);
    this.#log.warn(message);
  }

  // ── server → client ──────────────────────────────────────────────────────

  #fromServer(slot: Slot, gen: Generation, c: ServerInitiated, line: string) {
    if (c.type === "request") {
      const id = this.#nextToClientId++;
      this.#toClient.set(id, { gen, id: c.id });
      gen.outgoing.set(c.id, id);
      c.message.id = id;
      this.#client.write(c.message);
      return;
    }
    const params = (c.message.params ?? {}) as Item;
    if (c.method === "notifications/cancelled") {
      const id = gen.outgoing.get(params.requestId as JsonRpcId);
      if (id === undefined) return;
      gen.outgoing.delete(params.requestId as JsonRpcId);
      this.#toClient.delete(id);
      this.#client.write({ ...c.message, params: { ...params, requestId: id } });
      return;
    }
    if (this.#gateway) {
      const changed = (Object.keys(LIST_CHANGED) as ListKind[]).filter((k) =>
        LIST_CHANGED[k] === c.method
      );
      if (changed.length > 0) {
        // Re-read that backend's list; the client hears of it only if the merged list changed.
        slot.listsRead = this.#readLists(slot, gen, changed).then(() => this.#updateViews());
        return;
      }
      if (c.method === "notifications/resources/updated") {
        const renamed = slot.renamedUris.get(String(params.uri));
        if (renamed) {
          this.#client.write({ ...c.message, params: { ...params, uri: renamed } });
          return;
        }
      }
    }
    if (c.method === LIST_CHANGED.tools) {
      // Single mode: keep mcpmon's copy of the tools current (restart diffs, call-through).
      if (slot.lists.tools !== undefined) {
        slot.listsRead = this.#readLists(slot, gen, ["tools"]);
      }
      this.#toolsChangedAt = ++this.#seq;
    }
    this.#client.write(line);
  }

  /** Tells the client a list changed. */
  #listChanged(method: string) {
    if (method === LIST_CHANGED.tools) this.#toolsChangedAt = ++this.#seq;
    this.#client.write({ jsonrpc: "2.0", method });
  }

  /** A `tools/list` was answered: wake whoever waits for the client to re-read the tools. */
  #answeredToolsList(c: ClientMessage) {
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
    if (this.#relistedAt > this.#toolsChangedAt || this.#closing.signal.aborted) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        this.#clock.clearTimeout(timer);
        this.#closing.signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = this.#clock.setTimeout(done, this.#relistWaitMs);
      this.#closing.signal.addEventListener("abort", done, { once: true });
      this.#relistWaiters.push(done);
    });
  }

  // ── backend lifecycle ────────────────────────────────────────────────────

  #onReady(slot: Slot, gen: Generation) {
    slot.listsRead = this.#readLists(slot, gen);
    if (this.#gateway) {
      this.#flushQueue(slot, gen);
      slot.reading = true;
      slot.listsRead = slot.listsRead.then(() => this.#updateViews()).finally(() => {
        if (slot.backend.current !== gen) return; // a newer generation settles it
        slot.reading = false;
        slot.settle();
      });
      return;
    }
    slot.listsRead.finally(() => {
      if (slot.backend.current === gen) slot.settle();
    });
    const init = this.#initialize;
    if (init !== undefined) {
      this.#initialize = undefined;
      this.#initializeAnswered = true;
      this.#answer({
        jsonrpc: "2.0",
        id: init,
        result: advertiseListChanged(gen.initResult ?? {}),
      });
      this.#flushQueue(slot, gen);
    } else if (this.#initializeAnswered) {
      // Deliver first what waited for this generation, then tell the client its lists may differ.
      this.#flushQueue(slot, gen);
      for (const list of declaredLists(gen.initResult ?? {})) {
        this.#listChanged(`notifications/${list}/list_changed`);
      }
    } else this.#flushQueue(slot, gen);
  }

  #flushQueue(slot: Slot, gen: Generation) {
    const queue = slot.takeQueue();
    for (const { message, line, transform } of queue) {
      // Routed gateway requests were rewritten in place: serialize them anew.
      this.#deliver(gen, message, line || JSON.stringify(message.message), transform);
    }
  }

  #onFailed(slot: Slot, cause: string) {
    if (!this.#gateway && this.#initialize !== undefined) this.#answerInitializeForFailedServer();
    this.#failQueue(slot, this.#gateway ? `server "${slot.name}": ${cause}` : cause);
    slot.reading = false;
    slot.settle();
  }

  #failQueue(slot: Slot, cause: string) {
    const queue = slot.takeQueue();
    for (const { message } of queue) this.#refuse(slot, message, cause);
    this.#wakeIdle();
  }

  #onGenerationEnd(gen: Generation) {
    // Requests this generation made of the client can no longer be answered.
    for (const [serverId, id] of gen.outgoing) {
      this.#toClient.delete(id);
      this.#client.write({
        jsonrpc: "2.0",
        method: "notifications/cancelled",
        params: {
          requestId: id,
          reason: "the server that sent this request was restarted or exited",
        },
      });
      gen.outgoing.delete(serverId);
    }
  }

  /**
   * The first server failed before answering `initialize`. Answer it with
   * mcpmon's own result so the client keeps its session: its requests get
   * errors naming the cause, and the next good edit brings the tools in with
   * `list_changed`.
   */
  #answerInitializeForFailedServer() {
    const id = this.#initialize;
    if (id === undefined) return;
    this.#initialize = undefined;
    this.#initializeAnswered = true;
    this.#log.warn(
      "Answering initialize for the server, which failed to start; fix it and save to recover",
    );
    this.#answer({
      jsonrpc: "2.0",
      id,
      result: standInInitializeResult(
        this.session.initializeParams?.protocolVersion,
        this.backend.name,
      ),
    });
  }

  // ── the injected restart tool ────────────────────────────────────────────

  /** Single mode: appends the restart tool to the last page of a `tools/list` result. */
  #addRestartTool(response: JsonRpcMessage) {
    const result = response.result as { tools?: ToolLike[]; nextCursor?: string } | undefined;
    if (!result || !Array.isArray(result.tools) || result.nextCursor) return;
    if (this.#restartTool === RESTART_TOOL && result.tools.some((t) => t.name === RESTART_TOOL)) {
      this.#useFallbackName();
    }
    if (this.#restartTool !== undefined) {
      result.tools.push(restartToolDefinition(this.#restartTool, this.backend.name));
    }
    if (this.#callThrough) result.tools.push(...callThroughTools());
  }

  #useFallbackName() {
    if (this.#restartTool !== RESTART_TOOL) return;
    this.#restartTool = RESTART_TOOL_FALLBACK;
    this.#log.warn(
      `the server has its own "${RESTART_TOOL}" tool, which wins; mcpmon's is "${RESTART_TOOL_FALLBACK}"`,
    );
  }

  async #callRestartTool(c: ClientRequest) {
    const args = ((c.message.params as Item).arguments ?? {}) as Item;
    const why = typeof args.reason === "string" && args.reason.trim()
      ? args.reason.trim()
      : undefined;
    let slot: Slot | undefined;
    if (typeof args.server === "string") slot = this.#slots.get(args.server);
    else if (this.#slots.size === 1) slot = this.#slots.values().next().value;
    if (!slot) {
      const names = [...this.#slots.keys()].join(", ");
      const text = typeof args.server === "string"
        ? `No server named "${args.server}". Servers: ${names}`
        : `Say which server to restart: ${names}`;
      this.#answer({
        jsonrpc: "2.0",
        id: c.id,
        result: { content: [{ type: "text", text }], isError: true },
      });
      return;
    }
    this.#log.info(
      `${RESTART_TOOL} called${why ? `: ${why}` : ""}`,
      this.#gateway ? { server: slot.name } : {},
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
    if (diff && this.#gateway) {
      const expose = (names: string[]) =>
        names.map((n) =>
          exposedName(slot.name, n, this.#gateway!.separator, this.#gateway!.nameBudget)
        );
      diff = {
        added: expose(diff.added),
        removed: expose(diff.removed),
        changed: expose(diff.changed),
      };
    }
    this.#answer({
      jsonrpc: "2.0",
      id: c.id,
      result: {
        content: [{ type: "text", text: restartResultText(slot.name, outcome, diff) }],
        ...(outcome.ok ? {} : { isError: true }),
      },
    });
  }

  // ── call-through: mcpmon_list_tools and mcpmon_call_tool ─────────────────

  /** Resolves once `slot` is listed or failed (at once when it is not on its way). */
  #settled(slot: Slot): Promise<void> {
    if (!slot.coming || this.#closing.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => slot.waiters.push(resolve));
  }

  /** Re-reads the tools of every serving backend (and merges them, in gateway mode). */
  async #refreshTools(): Promise<void> {
    await Promise.all([...this.#slots.values()].map(async (slot) => {
      await this.#settled(slot);
      const gen = slot.backend.current;
      if (slot.backend.state !== "ready" || !gen) return;
      slot.listsRead = this.#readLists(slot, gen, ["tools"]);
      await slot.listsRead;
    }));
    this.#updateViews();
  }

  /** The live tools as the client names them, each with its schema hash. */
  #liveTools(): Item[] {
    const tools = this.#gateway
      ? this.#catalog.items("tools")
      : this.#slots.values().next().value!.lists.tools ?? [];
    return tools.map((t) => ({ ...t, schemaHash: schemaHash(t.inputSchema) }));
  }

  #toolResult(c: ClientRequest, text: string, isError = false) {
    this.#answer({
      jsonrpc: "2.0",
      id: c.id,
      result: { content: [{ type: "text", text }], ...(isError ? { isError: true } : {}) },
    });
  }

  async #listLiveTools(c: ClientRequest) {
    await this.#refreshTools();
    const failed = this.backends.filter((b) => b.state === "failed" || b.state === "stopped")
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
      let slot: Slot | undefined;
      let own = name;
      if (this.#gateway) {
        const owner = this.#catalog.routeTool(name);
        slot = owner && this.#live(owner.source);
        if (owner) own = owner.name;
        else {
          const coming = this.#prefixOwner(name);
          if (coming && attempt === 0) {
            await this.#settled(coming);
            await this.#refreshTools();
            continue;
          }
        }
      } else {
        slot = this.#slots.values().next().value!;
        await this.#settled(slot);
      }
      if (!slot) return undefined;
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
    this.#route(found.slot, c, "");
  }

  #toolError(c: ClientRequest, text: string): void {
    this.#toolResult(c, text, true);
  }

  /**
   * Sends the client a log message (`notifications/message`, logger
   * `mcpmon`), once its session is initialized; e.g. an invalid config edit.
   */
  notify(level: "error" | "warning" | "info", data: string): void {
    this.#notifyClient(level, data);
  }

  /** Sends the client a log message (`notifications/message`) from mcpmon. */
  #notifyClient(level: "error" | "warning" | "info", data: string) {
    if (!this.#initializeAnswered) return;
    this.#client.write({
      jsonrpc: "2.0",
      method: "notifications/message",
      params: { level, logger: "mcpmon", data },
    });
  }

  /** Writes a response to the client; `id` names it when `response` is text. */
  #answer(response: JsonRpcMessage | string, id?: JsonRpcId) {
    if (typeof response !== "string") id = response.id ?? undefined;
    let text: string;
    const raw = typeof id === "number" ? this.#rawIds.get(id) : undefined;
    if (raw !== undefined && typeof response !== "string") {
      this.#rawIds.delete(id!);
      const mark = `mcpmon-raw-id-${crypto.randomUUID()}`;
      text = serialize({ ...response, id: mark }).replace(JSON.stringify(mark), raw);
    } else text = typeof response === "string" ? response : serialize(response);
    const batch = id !== undefined ? this.#batches.get(batchKey(id)) : undefined;
    if (batch) {
      batch.answer(batchKey(id!), text);
      this.#flushBatch(batch);
    } else this.#client.write(text);
    this.#wakeIdle();
  }

  #wakeIdle() {
    if (this.#idle.length > 0 && this.pendingClientRequests === 0) {
      const waiting = this.#idle;
      this.#idle = [];
      for (const resolve of waiting) resolve();
    }
  }
}

/**
 * The text of the top-level `"id"` member's value in a JSON object's text, as
 * written (so `9007199254740993` stays that, not the nearest double); a
 * linear scan that skips strings and nested values. Undefined when absent.
 *
 * @example
 * ```ts ignore
 * rawIdToken('{"jsonrpc":"2.0","id":9007199254740993,"method":"ping"}'); // "9007199254740993"
 * ```
 */
function rawIdToken(text: string): string | undefined {
  let depth = 0;
  let key: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 0x22) { // a string: a key at depth 1, or skipped
      const start = i;
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) {
        if (text.charCodeAt(i) === 0x5c) i++;
      }
      if (depth === 1 && key === undefined) key = text.slice(start, i + 1);
      continue;
    }
    if (ch === 0x7b || ch === 0x5b) depth++;
    else if (ch === 0x7d || ch === 0x5d) depth--;
    else if (ch === 0x2c && depth === 1) key = undefined;
    else if (ch === 0x3a && depth === 1) {
      if (key !== '"id"') continue;
      let end = i + 1;
      while (end < text.length && text[end] !== "," && text[end] !== "}") end++;
      return text.slice(i + 1, end).trim();
    }
  }
  return undefined;
}

/**
 * A response's JSON text; one too deep to serialize (RangeError) becomes an
 * error response with the same id, so the request is still answered.
 */
function serialize(response: JsonRpcMessage): string {
  try {
    return JSON.stringify(response);
  } catch (err) {
    return JSON.stringify(
      errorResponse(
        response.id ?? null,
        ErrorCode.InternalError,
        `mcpmon: the response cannot be forwarded: ${
          err instanceof RangeError ? "it is nested too deeply" : String(err)
        }`,
      ),
    );
  }
}

/** Puts a renamed resource's exposed URI back into a `resources/read` result. */
function renameContents(response: JsonRpcMessage, original: string, exposed: unknown) {
  const contents = (response.result as Item).contents;
  if (!Array.isArray(contents)) return;
  for (const c of contents) if (c?.uri === original) c.uri = exposed;
}
