/**
 * The router between the client and its backends: id tables in both
 * directions, a queue per backend while it restarts, the client's session
 * replayed to each new generation, `list_changed` after restarts, and the
 * injected tools.
 *
 * One router, one message path for both modes: what differs between
 * single-server mode and gateway mode lives behind the mode seam
 * (`src/mode.ts`: {@linkcode PassThrough} and {@linkcode Merged}); what
 * differs between the protocol eras lives in the session (`src/session.ts`)
 * and, for the client's listens, in the id tables here.
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
  type ChunkScanner,
  classify,
  ErrorCode,
  errorResponse,
  FrameWriter,
  idKey,
  type JsonRpcId,
  type JsonRpcMessage,
  parseLine,
  peekId,
  replaceId,
  scanMessage,
  spliceId,
} from "./jsonrpc.ts";
import type { Logger } from "./log.ts";
import type { Item, ListKind } from "./catalog.ts";
import { InjectedTools, RELIST_WAIT_MS } from "./injected_tools.ts";
import {
  type GatewayOptions,
  Merged,
  type Mode,
  PassThrough,
  type RouterCore,
  type Transform,
} from "./mode.ts";
import type { Clock, Runtime } from "./runtime/mod.ts";
import {
  envelopeVersion,
  legacyResult,
  listensFor,
  metaOf,
  MODERN_VERSION,
  Session,
  SUBSCRIPTION_ID_KEY,
  withEnvelope,
} from "./session.ts";
import { Backend, type BackendHooks, type RestartOutcome } from "./backend.ts";
import {
  CAPABILITY,
  type ClientMessage,
  type ClientRequest,
  LIST_CHANGED,
  LIST_METHODS,
  Slot,
} from "./slot.ts";
import type { Generation, Pending, RawResponse, ServerInitiated } from "./generation.ts";
import { delay, systemClock } from "./runtime/mod.ts";
import {
  fulfilInputRequired,
  INPUT_METHODS,
  inputFailure,
  InputParking,
  isInputRequired,
  OwnRequests,
} from "./mrtr.ts";

export { RELIST_WAIT_MS } from "./injected_tools.ts";

export type { GatewayOptions } from "./mode.ts";

/**
 * A client's `subscriptions/listen` as delivered to one process: the id mcpmon
 * gave it there. A listen re-opened on a new process swallows that process's
 * acknowledgment (the client had its own long ago).
 */
interface ListenRoute {
  clientId: JsonRpcId;
  gen: Generation;
  id: number;
  swallowAck: boolean;
}

/** The MCP revision whose JSON-RPC allows batches. */
const BATCH_VERSION = "2025-03-26";

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
    const key = idKey(id);
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
  readonly #decoder = new TextDecoder();
  /** Single-server mode: the one slot (found once). */
  #only: Slot | undefined;
  readonly #gateway: boolean;
  /** What differs between single-server and gateway mode. */
  readonly #mode: Mode;
  readonly #slots = new Map<string, Slot>();
  /** Client requests in flight: client id → where they went. */
  #inFlight = new Map<JsonRpcId, { readonly gen: Generation; readonly id: number }>();
  /** Server→client requests awaiting the client's reply: id toward the client → origin. */
  #toClient = new Map<number, { gen: Generation; id: JsonRpcId }>();
  #nextToClientId = 1;
  /**
   * mcpmon's own requests to the client (input a 2026-07-28 server asked a
   * 2025 client for): id toward the client → who waits for the answer.
   */
  readonly #asked = new OwnRequests<number>();
  /** A modern client's calls parked at 2025 processes that asked it for input (gateway). */
  readonly #parking: InputParking;
  /** Client requests whose server asked for input, being fulfilled: by the key of the client's id. */
  #awaitingInput = new Map<string, { id: JsonRpcId; round: number; abort: AbortController }>();
  #idle: (() => void)[] = [];
  #warned = new Set<string>();
  /** Ids past 2^53, as the client wrote them: answered with that token, not the rounded number. */
  #rawIds = new Map<JsonRpcId, string>();
  /** The batch whose messages are being handled now. */
  #openBatch: Batch | undefined;
  /** Batches waiting for answers, by the key of each request id in them. */
  #batches = new Map<string, Batch>();
  /** The injected tools' calls, and their view of the client's tool list re-reads. */
  readonly #tools: InjectedTools;
  /** Aborted by {@linkcode Router.close}: ends the router's own timers. */
  readonly #closing = new AbortController();
  /** The runtime's clock (a manual one in specs). */
  readonly #clock: Clock;
  /** The client's listens (modern) as delivered, by the key of the client's id. */
  #listens = new Map<string, ListenRoute>();
  /** The same, per process, by the id mcpmon gave them there. */
  #listensByGen = new WeakMap<Generation, Map<number, ListenRoute>>();

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
    this.#runtime = runtime;
    this.#clock = runtime.clock ?? systemClock;
    this.#log = log;
    this.#gateway = options.gateway !== undefined;
    if (!this.#gateway && servers.length !== 1) {
      throw new Error("single-server mode takes exactly one server; use gateway mode for more");
    }
    this.#parking = new InputParking({
      answer: (response) => this.#answer(response),
      finish: (call, to, response) => {
        const route = new ResponseRoute(to, call.transform, true, this.#routeHost, call.gen);
        route.id = call.id;
        route.onResponse(response);
      },
      track: (clientId, at) => {
        if (at) this.#inFlight.set(clientId, at);
        else this.#inFlight.delete(clientId);
      },
      log,
      clock: this.#clock,
    });
    this.#client = new FrameWriter(runtime.stdout, (err) => {
      log.debug(`client stdout closed: ${err instanceof Error ? err.message : err}`);
    });
    const core = this.#core();
    this.#mode = options.gateway
      ? new Merged(core, options.gateway)
      : new PassThrough(core, servers[0]);
    this.#tools = new InjectedTools(core, this.#mode, options.relistWaitMs ?? RELIST_WAIT_MS);
    for (const server of servers) this.#addSlot(server);
  }

  /** What the modes may use of the router. */
  #core(): RouterCore {
    return {
      session: this.session,
      log: this.#log,
      clock: this.#clock,
      slots: this.#slots,
      closing: this.#closing.signal,
      write: (message) => this.#client.write(message),
      answer: (response) => this.#answer(response),
      reject: (c, code, message) => this.#reject(c, code, message),
      refuse: (slot, c, cause) => this.#refuse(slot, c, cause),
      route: (slot, c, line, transform) => this.#route(slot, c, line, transform),
      deliver: (gen, c, line, transform) => this.#deliver(gen, c, line, transform),
      internalError: (c, err) => this.#internalError(c, err),
      listChanged: (method) => this.#listChanged(method),
      readLists: (slot, gen, only) => this.#readLists(slot, gen, only),
      flushQueue: (slot, gen) => this.#flushQueue(slot, gen),
      answeredToolsList: (c) => this.#tools.listAnswered(c),
      reopenListens: (gen) => this.#reopenListens(gen),
      warnOnce: (message) => this.#warnOnce(message),
    };
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
    this.#mode.updateViews();
  }

  /** Gateway: changes the separator or name budget; the lists are renamed and the client told. */
  setNaming(options: GatewayOptions): void {
    if (!(this.#mode instanceof Merged)) throw new Error("naming applies to gateway mode only");
    this.#mode.setNaming(options);
  }

  /** Client requests not yet answered (queued or in flight). */
  get pendingClientRequests(): number {
    let queued = 0;
    for (const slot of this.#slots.values()) {
      for (const q of slot.queue) if (q.message.type === "request") queued++;
    }
    return queued + this.#inFlight.size + this.#mode.held;
  }

  /**
   * Handles one line from the client as its bytes (from `readClientLines`; text goes to
   * {@linkcode Router.handleClientLine}). A
   * plain request (an id, a method mcpmon passes on, params an object or
   * absent) in an established single-server legacy session, to a ready
   * server, goes out as the client's own bytes with only the id replaced,
   * never decoded or parsed; anything else is decoded and handled by
   * {@linkcode Router.handleClientLine}.
   */
  handleClientBytes(read: Uint8Array | ChunkScanner | string): Promise<void> | undefined {
    if (typeof read === "string") return this.handleClientLine(read);
    if (read instanceof Uint8Array) {
      const sent = this.#plainRequest(read);
      if (sent !== false) return sent;
    }
    return this.handleClientLine(
      this.#decoder.decode(read instanceof Uint8Array ? read : read.join()),
    );
  }

  /** {@linkcode Router.handleClientBytes}'s byte path; false: not such a request, nothing done. */
  #plainRequest(bytes: Uint8Array): Promise<void> | undefined | false {
    if (this.#gateway || this.session.era !== "legacy") return false;
    const backend = (this.#only ??= this.#slots.values().next().value!).backend;
    const gen = backend.current;
    if (backend.state !== "ready" || gen === undefined || gen.era !== "legacy") return false;
    const s = scanMessage(bytes);
    if (
      s === undefined || !s.jsonrpc || !s.paramsValid || typeof s.method !== "string" ||
      s.hasResult || s.hasError
    ) return false;
    const { id, method } = s;
    if (typeof id !== "string" && !(typeof id === "number" && Number.isSafeInteger(id))) {
      return false;
    }
    if (
      method === "tools/list" || method === "initialize" || method === "server/discover" ||
      method === "subscriptions/listen" || (method === "tools/call" && this.#tools.mayHandle(bytes))
    ) return false;
    if (!this.session.observePlain(method)) return false;
    const c: ClientRequest = new BytesRequest(id, method, bytes);
    try {
      const route = new ResponseRoute(c, undefined, false, this.#routeHost, gen);
      route.id = gen.requestBytes(route, bytes, s);
      this.#inFlight.set(id, route);
    } catch (err) {
      this.#internalError(c, err);
      return undefined;
    }
    return gen.ready();
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
    if (this.session.era === "modern") {
      return `Invalid Request: JSON-RPC batches are not part of MCP ${MODERN_VERSION}; send one message per line`;
    }
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
    this.#mode.close();
    this.#parking.close();
    for (const waiting of this.#awaitingInput.values()) {
      waiting.abort.abort();
      if (!this.#inFlight.has(waiting.id)) {
        this.#answer(
          errorResponse(waiting.id, ErrorCode.ServerUnavailable, "mcpmon is shutting down"),
        );
      }
    }
    this.#awaitingInput.clear();
    // Each open listen ends gracefully, as a server closing its stream would end it.
    for (const listen of this.session.listens) {
      this.session.closeListen(listen.id);
      this.#answer({
        jsonrpc: "2.0",
        id: listen.id,
        result: { resultType: "complete", _meta: { [SUBSCRIPTION_ID_KEY]: listen.id } },
      });
    }
    this.#listens.clear();
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
      onSpawned: (b, gen) => current(b) && this.#mode.onSpawned(slot, gen),
      onReady: (b, gen) => current(b) && this.#mode.onReady(slot, gen),
      onFailed: (b, cause) => current(b) && this.#onFailed(slot, cause),
      onGenerationEnd: (_b, gen) => this.#onGenerationEnd(gen),
      onBuildFailed: (b, error) =>
        this.#notifyClient("error", this.#gateway ? `[${b.name}] ${error}` : error),
      onChange: (b) => this.onChange?.(b),
      // The session holds the URI as the backend knows it (requests are rewritten before delivery).
      ownsResource: this.#mode instanceof Merged
        ? (_b, uri) => (this.#mode as Merged).catalog.ownsResource(slot, uri)
        : undefined,
    };
    slot.backend = new Backend(this.#runtime, server, this.session, this.#log, hooks, {
      labelled: this.#gateway,
      bridgeEras: this.#gateway,
    });
  }

  // ── client → server ──────────────────────────────────────────────────────

  #request(c: ClientRequest, line: string): Promise<void> | undefined {
    if (c.method === "tools/list") this.#tools.listRequested(c);
    if (c.method === "initialize") {
      this.#clientInitialize(c);
      return undefined;
    }
    if (c.method === "server/discover" && (this.#gateway || this.session.era === undefined)) {
      return this.#mode.discover(c, line);
    }
    if (this.session.era === undefined) {
      if (envelopeVersion(c.message) !== undefined) {
        // MCP 2026-07-28: the first enveloped request opens a modern session.
        this.session.observe(c.message);
        this.#mode.opened();
      } else {
        // Before initialize only pings are allowed (MCP 2025); anything else would
        // wait for a server that cannot start without the client's params.
        if (c.method === "ping") this.#answer({ jsonrpc: "2.0", id: c.id, result: {} });
        else {
          this.#reject(
            c,
            ErrorCode.InvalidRequest,
            "Invalid Request: send initialize first (or, in MCP 2026-07-28, requests with the _meta envelope)",
          );
        }
        return undefined;
      }
    }
    if (c.method === "tools/call" && this.#tools.handle(c)) return undefined;
    if (this.#gateway && this.session.era === "modern" && INPUT_METHODS.has(c.method)) {
      this.session.observe(c.message);
      if (this.#parking.retry(c)) return undefined; // a parked call, continued with the input
    }
    return this.#mode.request(c, line);
  }

  #notification(c: ClientMessage, line: string): Promise<void> | undefined {
    if (c.method === "notifications/cancelled") return this.#cancelFromClient(c.message);
    return this.#mode.notification(c, line);
  }

  /** The client's `initialize` (MCP 2025): once, and never in a modern session. */
  #clientInitialize(c: ClientRequest) {
    if (this.session.era === "modern") {
      this.#reject(
        c,
        ErrorCode.InvalidRequest,
        `Invalid Request: this session speaks MCP ${MODERN_VERSION}, which has no initialize`,
      );
      return;
    }
    if (this.session.initializeParams !== undefined) {
      this.#reject(
        c,
        ErrorCode.InvalidRequest,
        "Invalid Request: the session is already initialized",
      );
      return;
    }
    this.session.observe(c.message);
    this.#mode.initialize(c);
  }

  /**
   * Delivers a client's `subscriptions/listen` to a modern process, or opens
   * one again on a new process (`reopen`): it stays open until the client
   * cancels it or the server ends it, across every restart.
   */
  #openListen(
    gen: Generation,
    c: { id: JsonRpcId; message: JsonRpcMessage },
    line: string | undefined,
    reopen: boolean,
  ): Promise<void> | undefined {
    const route: ListenRoute = { clientId: c.id, gen, id: 0, swallowAck: reopen };
    route.id = gen.request("subscriptions/listen", c.message, {
      clientId: c.id,
      listen: true,
      onResponse: (response) => this.#listenEnded(route, response),
    }, line);
    this.#listens.set(idKey(c.id), route);
    let routes = this.#listensByGen.get(gen);
    if (!routes) this.#listensByGen.set(gen, routes = new Map());
    routes.set(route.id, route);
    return gen.ready();
  }

  /** Forgets a listen route; with `closed`, the client's listen is over too. */
  #dropListen(route: ListenRoute, closed: boolean) {
    this.#listensByGen.get(route.gen)?.delete(route.id);
    if (!closed) return;
    if (this.#listens.get(idKey(route.clientId)) === route) {
      this.#listens.delete(idKey(route.clientId));
    }
    this.session.closeListen(route.clientId);
  }

  /**
   * The server answered a listen: it closed it (gracefully, or with an
   * error). Passed to the client with its own id, unless mcpmon is stopping
   * that process (a restart): then the client's listen stays open.
   */
  #listenEnded(route: ListenRoute, response: JsonRpcMessage) {
    const current = this.#listens.get(idKey(route.clientId)) === route;
    const stopping = route.gen.state === "stopping" || route.gen.stopReason !== undefined;
    this.#dropListen(route, current && !stopping);
    if (!current || stopping) {
      this.#log.debug(`listen ${JSON.stringify(route.clientId)} closed by a stopping server; kept`);
      return;
    }
    response.id = route.clientId;
    const result = response.result as Item | undefined;
    const meta = metaOf(result);
    if (result && meta && SUBSCRIPTION_ID_KEY in meta) {
      result._meta = { ...meta, [SUBSCRIPTION_ID_KEY]: route.clientId };
    }
    this.#answer(response);
  }

  /** Single mode, modern: opens each of the client's listens on a new process. */
  #reopenListens(gen: Generation) {
    for (const route of [...this.#listens.values()]) {
      if (route.gen === gen) continue;
      const listen = this.session.listen(route.clientId);
      this.#dropListen(route, listen === undefined);
      if (!listen) continue;
      const params = withEnvelope(listen.params, this.session.envelope);
      this.#openListen(
        gen,
        {
          id: listen.id,
          message: { jsonrpc: "2.0", id: listen.id, method: "subscriptions/listen", params },
        },
        undefined,
        true,
      );
    }
  }

  /**
   * A modern notification tagged with a listen's id (mcpmon's, on that
   * process): passed on tagged with the client's id; a re-opened listen's
   * acknowledgment is swallowed. False when it is not tagged.
   */
  #taggedFromServer(slot: Slot, gen: Generation, c: ServerInitiated): boolean {
    const params = (c.message.params ?? {}) as Item;
    const meta = metaOf(params);
    if (!meta || !(SUBSCRIPTION_ID_KEY in meta)) return false;
    const tag = meta[SUBSCRIPTION_ID_KEY];
    const route = typeof tag === "number" ? this.#listensByGen.get(gen)?.get(tag) : undefined;
    if (!route) {
      this.#log.debug(`${c.method} for unknown listen ${JSON.stringify(tag)}; dropped`);
      return true;
    }
    if (c.method === "notifications/subscriptions/acknowledged" && route.swallowAck) {
      route.swallowAck = false;
      return true;
    }
    if (c.method === LIST_CHANGED.tools) this.#serverToolsChanged(slot, gen);
    this.#client.write({
      ...c.message,
      params: { ...params, _meta: { ...meta, [SUBSCRIPTION_ID_KEY]: route.clientId } },
    });
    return true;
  }

  /** The server said its tools changed: keep mcpmon's copy current (restart diffs, call-through). */
  #serverToolsChanged(slot: Slot, gen: Generation) {
    if (this.#mode.readKinds().includes("tools")) {
      slot.listsRead = this.#readLists(slot, gen, ["tools"]).then(() => this.#mode.updateViews());
    }
    this.#tools.told();
  }

  /** Sends a client message to a slot's backend, queues it, or refuses it, by the backend's state. */
  #route(
    slot: Slot,
    c: ClientMessage,
    line: string,
    transform?: Transform,
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
    transform?: Transform,
  ): Promise<void> | undefined {
    this.session.observe(c.message);
    if (c.type === "notification") {
      gen.send(line);
      return gen.ready();
    }
    if (c.method === "subscriptions/listen" && gen.era === "modern" && !this.#gateway) {
      return this.#openListen(gen, c, line, false);
    }
    if (gen.era === "modern" && envelopeVersion(c.message) === undefined) {
      // A legacy client's request to a modern process (gateway): it needs an envelope.
      const params = (c.message.params ?? {}) as Item;
      c.message.params = withEnvelope(params, gen.envelope());
      line = JSON.stringify(c.message);
    }
    // Across eras (gateway) a result is reshaped: a legacy process's result to a modern client
    // gains its resultType in #answer; a modern process's to a legacy client loses that era's fields.
    const bridged = this.session.era === "modern" ? gen.era === "legacy" : gen.era === "modern";
    const route = new ResponseRoute(c, transform, bridged, this.#routeHost, gen);
    route.id = gen.request(
      c.method,
      c.message,
      bridged && INPUT_METHODS.has(c.method) ? this.#inputRoute(route) : route,
      line,
    );
    this.#inFlight.set(c.id, route);
    return gen.ready();
  }

  /**
   * How a client request's response comes back (the {@linkcode ResponseRoute}s'
   * shared half, made once): forwarded as the server's bytes with the id
   * swapped when untouched, else parsed.
   */
  readonly #routeHost: RouteHost = {
    // An untouched response goes out as the server's own bytes, only the id swapped (no parse).
    forward: (route, raw) => {
      const clientId = route.clientId;
      if (
        route.transform || route.bridged ||
        (this.#rawIds.size > 0 && this.#rawIds.has(clientId)) ||
        (this.#batches.size > 0 && this.#batches.has(idKey(clientId)))
      ) return false;
      this.#inFlight.delete(clientId);
      if (raw.bytes instanceof Uint8Array) this.#client.writeSpliced(raw.bytes, raw, clientId);
      else this.#client.write(spliceId(raw.bytes, raw, clientId));
      this.#wakeIdle();
      if (route.method === "tools/list") this.#tools.listAnswered(route.request);
      return true;
    },
    respond: (route, response, text) => {
      const { clientId, transform, bridged, request: c } = route;
      this.#inFlight.delete(clientId);
      // Untouched responses keep the server's text, with only the id swapped.
      const spliced = text !== undefined && !transform && !bridged &&
          !this.#rawIds.has(clientId)
        ? replaceId(text, route.id, clientId)
        : undefined;
      if (spliced !== undefined) {
        this.#answer(spliced, clientId);
        if (c.method === "tools/list") this.#tools.listAnswered(c);
        return;
      }
      response.id = clientId;
      if (bridged && this.session.era !== "modern" && response.result) {
        response.result = legacyResult(response.result as Item);
      }
      try {
        if (transform && response.result) transform(response);
      } catch (err) {
        return this.#internalError(c, err);
      }
      this.#answer(response);
      if (c.method === "tools/list") this.#tools.listAnswered(c);
    },
  };

  /**
   * A call across eras that may take input (multi round-trip requests): its
   * answer first goes through {@linkcode Router.#parkable} (a modern client,
   * a 2025 process) or {@linkcode Router.#withInput} (a 2025 client, a modern
   * process), then on to `route`.
   */
  #inputRoute(route: ResponseRoute): Pending {
    return {
      method: route.method,
      clientId: route.clientId,
      onResponse: this.session.era === "modern" ? this.#parkable(route) : this.#withInput(route),
    };
  }

  /**
   * A 2026-07-28 process's answer to a 2025 client's request may ask for
   * input (`input_required`): mcpmon asks the client each embedded request,
   * then sends the request again to that process with the answers, until it
   * answers for good (see `src/mrtr.ts`). Other answers go on to the route.
   */
  #withInput(route: ResponseRoute): Pending["onResponse"] {
    const { request: c, gen, transform } = route;
    return (response, text) => {
      const key = idKey(c.id);
      if (!isInputRequired(c.method, response.result)) {
        this.#awaitingInput.delete(key);
        return route.onResponse(response, text);
      }
      this.#inFlight.delete(c.id);
      const entry = this.#awaitingInput.get(key) ??
        { id: c.id, round: 0, abort: new AbortController() };
      entry.round++;
      this.#awaitingInput.set(key, entry);
      const params = c.message.params as Record<string, unknown> | undefined;
      fulfilInputRequired(c.method, params, response.result as Item, entry.round, {
        capabilities: this.session.initializeParams?.capabilities as Item | undefined,
        ask: (method, asked) => this.#ask(method, asked, entry.abort.signal),
        signal: entry.abort.signal,
        clock: this.#clock,
      }).then((round) => {
        if (entry.abort.signal.aborted) return; // cancelled by the client, or mcpmon stops
        if ("failure" in round) {
          this.#awaitingInput.delete(key);
          this.#log.info(`${c.method}: ${round.failure}`, { pid: gen.pid });
          return this.#answer(inputFailure(c.id, c.method, round.failure));
        }
        if (gen.state !== "ready") {
          this.#awaitingInput.delete(key);
          return this.#answer(inputFailure(
            c.id,
            c.method,
            "the server restarted while the client was asked for input; send the request again",
          ));
        }
        const retry: ClientRequest = {
          ...c,
          message: { ...c.message, params: round.params },
        };
        this.#deliver(gen, retry, JSON.stringify(retry.message), transform);
      }).catch((err) => this.#internalError(c, err));
    };
  }

  /**
   * A modern client's call to a 2025 process (gateway): the process may ask
   * the client for input while it runs, and the call is then parked (see
   * {@linkcode InputParking}); its answer goes where the parking says.
   */
  #parkable(route: ResponseRoute): Pending["onResponse"] {
    const key = idKey(route.clientId);
    this.#parking.opened(key, route);
    return (response, text) => {
      if (!this.#parking.answered(key, route, response)) route.onResponse(response, text);
    };
  }

  /** Sends the client a request of mcpmon's own; resolves with its answer (an error when aborted). */
  #ask(
    method: string,
    params: Record<string, unknown> | undefined,
    signal: AbortSignal,
  ): Promise<JsonRpcMessage> {
    const id = this.#nextToClientId++;
    return this.#asked.ask(
      id,
      method,
      params,
      (request) => this.#client.write(request),
      signal,
      () =>
        this.#client.write({
          jsonrpc: "2.0",
          method: "notifications/cancelled",
          params: { requestId: id, reason: "the request it was for was cancelled" },
        }),
    );
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
    const batch = this.#batches.get(idKey(requestId));
    if (batch) {
      batch.forget(idKey(requestId));
      queueMicrotask(() => this.#flushBatch(batch)); // after the cancel itself is handled
    }
    this.#rawIds.delete(requestId);
    const listen = this.#listens.get(idKey(requestId));
    if (listen) {
      // The listen ends here: the server hears it with its own id and sends nothing back.
      this.#dropListen(listen, true);
      listen.gen.cancel(listen.id);
      if (listen.gen.state !== "exited") {
        listen.gen.send({ ...message, params: { ...params, requestId: listen.id } });
      }
      return undefined;
    }
    this.session.closeListen(requestId);
    if (this.#mode.forget(requestId)) {
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
    this.#parking.cancelled(requestId);
    const waiting = this.#awaitingInput.get(idKey(requestId));
    if (waiting && !this.#inFlight.has(requestId)) {
      // Between rounds (the client is asked for input): nothing to cancel at the server.
      this.#awaitingInput.delete(idKey(requestId));
      waiting.abort.abort();
      this.#wakeIdle();
      return undefined;
    }
    if (waiting) this.#awaitingInput.delete(idKey(requestId));
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
    if (typeof id === "number" && this.#asked.answer(id, message)) return undefined;
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

  #reject(c: ClientRequest, code: number, message: string): undefined {
    this.#answer(errorResponse(c.id, code, message));
    return undefined;
  }

  /** Reads the lists a generation declares (all pages): those the mode keeps, or `only`. */
  async #readLists(slot: Slot, gen: Generation, only?: readonly ListKind[]): Promise<void> {
    const caps = (gen.initResult?.capabilities ?? {}) as Item;
    const kinds = only ?? this.#mode.readKinds();
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
  }

  #warnOnce(message: string) {
    if (this.#warned.has(message)) return;
    this.#warned.add(message);
    this.#log.warn(message);
  }

  // ── server → client ──────────────────────────────────────────────────────

  #fromServer(slot: Slot, gen: Generation, c: ServerInitiated, line: string) {
    if (c.type === "request") {
      if (
        this.session.era === "modern" && gen.era === "legacy" &&
        this.#parking.serverRequest(gen, c.id, c.method, c.message.params)
      ) return;
      const id = this.#nextToClientId++;
      this.#toClient.set(id, { gen, id: c.id });
      gen.outgoing.set(c.id, id);
      c.message.id = id;
      this.#client.write(c.message);
      return;
    }
    const params = (c.message.params ?? {}) as Item;
    if (this.#mode.fromServer(slot, gen, c, line)) return;
    if (gen.era === "modern" && this.#taggedFromServer(slot, gen, c)) return;
    if (c.method === "notifications/cancelled") {
      const route = typeof params.requestId === "number"
        ? this.#listensByGen.get(gen)?.get(params.requestId)
        : undefined;
      if (route) {
        // The server ended a listen: the client hears it with its own id.
        this.#dropListen(route, this.#listens.get(idKey(route.clientId)) === route);
        this.#client.write({ ...c.message, params: { ...params, requestId: route.clientId } });
        return;
      }
      const id = gen.outgoing.get(params.requestId as JsonRpcId);
      if (id === undefined) return;
      gen.outgoing.delete(params.requestId as JsonRpcId);
      this.#toClient.delete(id);
      this.#client.write({ ...c.message, params: { ...params, requestId: id } });
      return;
    }
    if (c.method === LIST_CHANGED.tools) this.#serverToolsChanged(slot, gen);
    this.#client.write(line);
  }

  /**
   * Tells the client a list changed: in the modern era on each listen that
   * asked for it, tagged with its id (never untagged).
   */
  #listChanged(method: string) {
    if (this.session.era !== "modern") {
      if (method === LIST_CHANGED.tools) this.#tools.told();
      this.#client.write({ jsonrpc: "2.0", method });
      return;
    }
    const list = method.split("/")[1];
    for (const listen of this.session.listens) {
      if (!listensFor(listen, list)) continue;
      // Told: restart_server waits for the client to re-read (only a listener would).
      if (method === LIST_CHANGED.tools) this.#tools.told();
      this.#client.write({
        jsonrpc: "2.0",
        method,
        params: { _meta: { [SUBSCRIPTION_ID_KEY]: listen.id } },
      });
    }
  }

  // ── backend lifecycle ────────────────────────────────────────────────────

  #flushQueue(slot: Slot, gen: Generation) {
    const queue = slot.takeQueue();
    for (const { message, line, transform } of queue) {
      // Routed gateway requests were rewritten in place: serialize them anew.
      this.#deliver(gen, message, line || JSON.stringify(message.message), transform);
    }
  }

  #onFailed(slot: Slot, cause: string) {
    this.#mode.onFailed(slot, cause);
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
   * Sends the client a log message (`notifications/message`, logger
   * `mcpmon`), once its session is initialized; e.g. an invalid config edit.
   */
  notify(level: "error" | "warning" | "info", data: string): void {
    this.#notifyClient(level, data);
  }

  /** Sends the client a log message (`notifications/message`) from mcpmon. */
  #notifyClient(level: "error" | "warning" | "info", data: string) {
    // MCP 2026-07-28 has no session-wide log stream: the log has it.
    if (!this.#mode.answered || this.session.era === "modern") return;
    this.#client.write({
      jsonrpc: "2.0",
      method: "notifications/message",
      params: { level, logger: "mcpmon", data },
    });
  }

  /** Writes a response to the client; `id` names it when `response` is text. */
  #answer(response: JsonRpcMessage | string, id?: JsonRpcId) {
    if (typeof response !== "string") {
      id = response.id ?? undefined;
      // MCP 2026-07-28: every result says whether it is complete (mcpmon's own ones too).
      const result = response.result as Item | undefined;
      if (this.session.era === "modern" && result && result.resultType === undefined) {
        response = { ...response, result: { ...result, resultType: "complete" } };
      }
    }
    let text: string;
    const raw = typeof id === "number" ? this.#rawIds.get(id) : undefined;
    if (raw !== undefined && typeof response !== "string") {
      this.#rawIds.delete(id!);
      const mark = `mcpmon-raw-id-${crypto.randomUUID()}`;
      text = serialize({ ...response, id: mark }).replace(JSON.stringify(mark), raw);
    } else text = typeof response === "string" ? response : serialize(response);
    const batch = id !== undefined ? this.#batches.get(idKey(id)) : undefined;
    if (batch) {
      batch.answer(idKey(id!), text);
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

const requestDecoder = new TextDecoder();

/** A client request read as bytes: its message is parsed only if something asks for it. */
/** The router's half of every {@linkcode ResponseRoute}: one object per router. */
interface RouteHost {
  forward(route: ResponseRoute, raw: RawResponse): boolean;
  respond(route: ResponseRoute, response: JsonRpcMessage, text?: string): void;
}

/**
 * A client request in flight: its entry in its generation's pending table
 * (how its response comes back) and in the router's table of requests in
 * flight. One object per request (its two handlers are methods that call the
 * router's {@linkcode RouteHost}), not a closure each.
 */
class ResponseRoute implements Pending {
  readonly method: string;
  readonly clientId: JsonRpcId;
  /** The id the request got on its process. */
  id = 0;
  constructor(
    readonly request: ClientRequest,
    readonly transform: Transform | undefined,
    /** Across eras (gateway): the result is reshaped. */
    readonly bridged: boolean,
    readonly host: RouteHost,
    /** The process it went to. */
    readonly gen: Generation,
  ) {
    this.method = request.method;
    this.clientId = request.id;
  }

  forward(raw: RawResponse): boolean {
    return this.host.forward(this, raw);
  }

  onResponse(response: JsonRpcMessage, text?: string): void {
    this.host.respond(this, response, text);
  }
}

class BytesRequest {
  readonly type = "request" as const;
  #message: JsonRpcMessage | undefined;
  constructor(
    readonly id: JsonRpcId,
    readonly method: string,
    readonly bytes: Uint8Array,
  ) {}

  get message(): JsonRpcMessage {
    return this.#message ??= JSON.parse(requestDecoder.decode(this.bytes));
  }
}
