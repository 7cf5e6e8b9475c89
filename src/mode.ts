/**
 * The mode seam: what differs between single-server mode and gateway mode,
 * behind one small interface the router calls at fixed points of its message
 * path (the client's `initialize` or first modern request, `server/discover`,
 * a request or notification mcpmon does not answer itself, a process spawned,
 * ready or failed, a server's notification, the tools the injected tools see).
 *
 * - {@linkcode PassThrough} (single-server mode) passes names, lists and the
 *   server's own answers through: the client's `initialize` waits for the
 *   server's, a probe goes to the process, the restart tool is appended to the
 *   server's own `tools/list`.
 * - {@linkcode Merged} (gateway mode) answers `initialize` and
 *   `server/discover` itself, holds a modern client's listens, serves every
 *   backend's lists merged under `<server><sep><name>` and routes calls back by
 *   table ({@linkcode Catalog}).
 *
 * The router owns the id tables, the queues and the replies; a mode reaches
 * them through {@linkcode RouterCore}.
 *
 * @module
 */
import {
  advertiseListChanged,
  declaredLists,
  gatewayDiscoverResult,
  gatewayInitializeResult,
  standInInitializeResult,
} from "./capabilities.ts";
import { Catalog, type Item, KINDS, type ListKind, MAX_URI_LENGTH, page } from "./catalog.ts";
import type { Generation, ServerInitiated } from "./generation.ts";
import {
  callThroughTools,
  gatewayRestartToolDefinition,
  RESTART_TOOL,
  RESTART_TOOL_FALLBACK,
  restartToolDefinition,
  STATUS_TOOL,
  statusToolDefinition,
  type ToolLike,
} from "./injected_tools.ts";
import { ErrorCode, errorResponse, idKey, type JsonRpcId, type JsonRpcMessage } from "./jsonrpc.ts";
import type { Logger } from "./log.ts";
import { exposedName } from "./names.ts";
import type { Clock } from "./runtime/mod.ts";
import {
  listenToAllLists,
  metaOf,
  type Session,
  SUBSCRIPTION_ID_KEY,
  withEnvelope,
} from "./session.ts";
import {
  type ClientMessage,
  type ClientRequest,
  LIST_CHANGED,
  LIST_METHODS,
  type Slot,
} from "./slot.ts";

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

/** What a response to a routed request goes through before it reaches the client. */
export type Transform = (response: JsonRpcMessage) => void;

/** What the router lends its modes: its state and its message path. */
export interface RouterCore {
  /** What the client set up. */
  readonly session: Session;
  readonly log: Logger;
  readonly clock: Clock;
  /** The backends, by name. */
  readonly slots: ReadonlyMap<string, Slot>;
  /** Aborted when the router closes. */
  readonly closing: AbortSignal;
  /** Writes a message (a notification, or a server's request) to the client. */
  write(message: JsonRpcMessage | string): void;
  /** Writes a response to the client (batches, raw ids and the era's result shape handled). */
  answer(response: JsonRpcMessage): void;
  /** Answers a request with an error. */
  reject(c: ClientRequest, code: number, message: string): undefined;
  /** Answers a request a backend cannot take now with its cause. */
  refuse(slot: Slot, c: ClientMessage, cause: string): void;
  /** Sends a client message to a slot's backend, queues it, or refuses it. */
  route(
    slot: Slot,
    c: ClientMessage,
    line: string,
    transform?: Transform,
  ): Promise<void> | undefined;
  /** Sends a client message to a process now. */
  deliver(
    gen: Generation,
    c: ClientMessage,
    line: string,
    transform?: Transform,
  ): Promise<void> | undefined;
  /** Logs an exception met while handling a client message and answers it (-32603). */
  internalError(c: ClientMessage, err: unknown): void;
  /** Tells the client a list changed (tagged on its listens in the modern era). */
  listChanged(method: string): void;
  /** Reads a process's lists (all pages) into its slot. */
  readLists(slot: Slot, gen: Generation, only?: readonly ListKind[]): Promise<void>;
  /** Delivers what waited in a slot's queue to its new process. */
  flushQueue(slot: Slot, gen: Generation): void;
  /** A `tools/list` was answered (restart_server waits for the client's re-read). */
  answeredToolsList(c: ClientMessage): void;
  /** Opens the client's listens again on a new process (single mode, modern era). */
  reopenListens(gen: Generation): void;
  /** Logs a warning once. */
  warnOnce(message: string): void;
}

/** Where a tool the client names lives now, for the call-through tools. */
export type ToolOwner =
  | { slot: Slot; own: string }
  | { coming: Slot }
  | undefined;

/** What differs between single-server mode and gateway mode. */
export interface Mode {
  /** True in gateway mode (backends are named in logs and errors). */
  readonly gateway: boolean;
  /** True once the client's session was answered (`initialize`, or its first modern request). */
  readonly answered: boolean;
  /** Client requests the mode holds (neither queued at a backend nor in flight). */
  readonly held: number;
  /** The injected restart tool's name; undefined when it is turned off. */
  readonly restartTool: string | undefined;
  /** Whether `mcpmon_list_tools` and `mcpmon_call_tool` are offered. */
  readonly callThrough: boolean;
  /** Whether `server_status` is offered. */
  readonly statusTool: boolean;
  /** The client's `initialize` (MCP 2025), once the session recorded it. */
  initialize(c: ClientRequest): void;
  /** The client's first enveloped request opened a modern session. */
  opened(): void;
  /** `server/discover` before the era (single mode), or any (gateway). */
  discover(c: ClientRequest, line: string): Promise<void> | undefined;
  /** A client request mcpmon does not answer itself. */
  request(c: ClientRequest, line: string): Promise<void> | undefined;
  /** A client notification (other than `notifications/cancelled`). */
  notification(c: ClientMessage, line: string): Promise<void> | undefined;
  /** Drops a held request the client cancelled; true when it held it. */
  forget(id: JsonRpcId): boolean;
  /** A process was spawned (not opened yet). */
  onSpawned(slot: Slot, gen: Generation): void;
  /** A process is open and serving. */
  onReady(slot: Slot, gen: Generation): void;
  /** A backend failed (its queue is answered by the router). */
  onFailed(slot: Slot, cause: string): void;
  /** A server notification the router does not route itself; true when handled here. */
  fromServer(slot: Slot, gen: Generation, c: ServerInitiated, line: string): boolean;
  /** Which lists are read from each process when it is ready. */
  readKinds(): readonly ListKind[];
  /** Lists were read (or a backend came or went): rebuild what the client sees. */
  updateViews(): void;
  /** The live tools as the client names them. */
  liveTools(): Item[];
  /** Where the tool the client calls `name` lives. */
  toolOwner(name: string): ToolOwner;
  /** Tool names of `slot` as the client sees them. */
  expose(slot: Slot, names: string[]): string[];
  /** mcpmon closes: answer what the mode holds. */
  close(): void;
}

/** A DiscoverResult passed to the client advertises the `list_changed` mcpmon sends after restarts. */
function advertiseDiscovered(response: JsonRpcMessage) {
  response.result = advertiseListChanged(response.result as Item);
}

/**
 * Single-server mode: one backend whose names, lists and answers pass
 * through. The client's `initialize` is answered with the server's own
 * result (with `listChanged` advertised), or, when the first server failed,
 * with mcpmon's stand-in (or the server's own version refusal).
 */
export class PassThrough implements Mode {
  readonly gateway = false;
  readonly #core: RouterCore;
  #restartTool: string | undefined;
  readonly callThrough: boolean;
  readonly statusTool = false;
  /** The client's `initialize` while it waits for the server's answer. */
  #initialize: JsonRpcId | undefined;
  #answered = false;
  /** `server/discover` probes that came before the era, waiting for a process. */
  #probes: ClientRequest[] = [];
  /** A first modern process served the client (later ones are restarts). */
  #modernServed = false;

  constructor(core: RouterCore, options: { restartTool: boolean; callThrough: boolean }) {
    this.#core = core;
    this.#restartTool = options.restartTool ? RESTART_TOOL : undefined;
    this.callThrough = options.callThrough;
  }

  get answered(): boolean {
    return this.#answered;
  }

  get held(): number {
    return (this.#initialize !== undefined ? 1 : 0) + this.#probes.length;
  }

  get restartTool(): string | undefined {
    return this.#restartTool;
  }

  get #slot(): Slot {
    return this.#core.slots.values().next().value!;
  }

  initialize(c: ClientRequest): void {
    this.#initialize = c.id;
    // A backend that already failed (e.g. crashed at start) cannot answer:
    // answer for it, so the session survives until the next good edit.
    if (this.#slot.backend.state === "failed") this.#answerInitializeForFailedServer();
  }

  opened(): void {}

  /**
   * Before the client's era is known (a probe), `server/discover` goes to the
   * server process as it is, opened in no era yet: a dual-era server answers
   * and still takes `initialize` after it, a legacy one answers with its own
   * error and the client falls back to `initialize`.
   */
  discover(c: ClientRequest, line: string): Promise<void> | undefined {
    const slot = this.#slot;
    const gen = slot.backend.current;
    if (gen && gen.era === undefined && gen.state === "starting") {
      return this.#core.deliver(gen, c, line, advertiseDiscovered);
    }
    if (slot.backend.state === "failed" || slot.backend.state === "stopped") {
      this.#core.refuse(slot, c, slot.backend.lastError ?? "the server is not running");
      return undefined;
    }
    this.#probes.push(c); // no process yet (e.g. a build runs): the next one takes it
    return undefined;
  }

  request(c: ClientRequest, line: string): Promise<void> | undefined {
    const addsTools = c.method === "tools/list" &&
      (this.#restartTool !== undefined || this.callThrough);
    return this.#core.route(
      this.#slot,
      c,
      line,
      addsTools ? (response) => this.#addRestartTool(response) : undefined,
    );
  }

  notification(c: ClientMessage, line: string): Promise<void> | undefined {
    return this.#core.route(this.#slot, c, line);
  }

  forget(id: JsonRpcId): boolean {
    const at = this.#probes.findIndex((c) => c.id === id);
    if (at === -1) return false;
    this.#probes.splice(at, 1);
    return true;
  }

  /** A process was spawned: probes waiting for one go to it. */
  onSpawned(_slot: Slot, gen: Generation): void {
    const probes = this.#probes;
    this.#probes = [];
    for (const c of probes) {
      this.#core.deliver(gen, c, JSON.stringify(c.message), advertiseDiscovered);
    }
  }

  onReady(slot: Slot, gen: Generation): void {
    if (gen.era === "modern") return this.#onModernReady(slot, gen);
    // mcpmon's own tools/list waits until the client's session is under way (its
    // notifications/initialized reached the server first).
    slot.listsRead = Promise.race([this.#core.session.underway(), gen.ended])
      .then(() => gen.state === "ready" ? this.#core.readLists(slot, gen) : undefined)
      .then(() => this.updateViews());
    slot.listsRead.finally(() => {
      if (slot.backend.current === gen) slot.settle();
    });
    const init = this.#initialize;
    if (init !== undefined) {
      this.#initialize = undefined;
      this.#answered = true;
      this.#core.answer({
        jsonrpc: "2.0",
        id: init,
        result: advertiseListChanged(gen.initResult ?? {}),
      });
      this.#core.flushQueue(slot, gen);
    } else if (this.#answered) {
      // Deliver first what waited for this generation, then tell the client its lists may differ.
      this.#core.flushQueue(slot, gen);
      for (const list of declaredLists(gen.initResult ?? {})) {
        this.#core.listChanged(`notifications/${list}/list_changed`);
      }
    } else this.#core.flushQueue(slot, gen);
  }

  /**
   * A modern process is ready: the client's listens are opened on it before
   * any queued request; after a restart the client then hears `list_changed`
   * on the listens that asked for it.
   */
  #onModernReady(slot: Slot, gen: Generation) {
    const restart = this.#modernServed;
    this.#modernServed = true;
    this.#answered = true;
    this.#core.reopenListens(gen);
    slot.listsRead = this.#core.readLists(slot, gen).then(() => this.updateViews());
    slot.listsRead.finally(() => {
      if (slot.backend.current === gen) slot.settle();
    });
    this.#core.flushQueue(slot, gen);
    if (!restart) return;
    for (const list of declaredLists(gen.initResult ?? {})) {
      this.#core.listChanged(`notifications/${list}/list_changed`);
    }
  }

  onFailed(slot: Slot, cause: string): void {
    if (this.#initialize !== undefined) this.#answerInitializeForFailedServer();
    this.#failProbes(slot, cause);
  }

  fromServer(): boolean {
    return false;
  }

  readKinds(): readonly ListKind[] {
    return this.#restartTool !== undefined || this.callThrough ? ["tools"] : [];
  }

  /** The server's own tool named like mcpmon's wins; mcpmon's takes the fallback name. */
  updateViews(): void {
    if (this.#slot.lists.tools?.some((t) => t.name === RESTART_TOOL)) this.#useFallbackName();
  }

  liveTools(): Item[] {
    return this.#slot.lists.tools ?? [];
  }

  toolOwner(name: string): ToolOwner {
    return { slot: this.#slot, own: name };
  }

  expose(_slot: Slot, names: string[]): string[] {
    return names;
  }

  close(): void {
    this.#failProbes(this.#slot, "mcpmon is shutting down");
    if (this.#initialize !== undefined) {
      this.#core.answer(
        errorResponse(this.#initialize, ErrorCode.ServerUnavailable, "mcpmon is shutting down"),
      );
      this.#initialize = undefined;
    }
  }

  /** Answers the probes waiting for a process that will not come. */
  #failProbes(slot: Slot, cause: string) {
    const probes = this.#probes;
    this.#probes = [];
    for (const c of probes) this.#core.refuse(slot, c, cause);
  }

  /**
   * The first server failed before answering `initialize`. Answer it with
   * mcpmon's own result so the client keeps its session: its requests get
   * errors naming the cause, and the next good edit brings the tools in with
   * `list_changed`. A server that refused the client's protocol version is
   * the exception: the client hears that as it would directly.
   */
  #answerInitializeForFailedServer() {
    const id = this.#initialize;
    if (id === undefined) return;
    this.#initialize = undefined;
    const backend = this.#slot.backend;
    const refusal = backend.openingRefusal;
    if (refusal?.code === ErrorCode.UnsupportedProtocolVersion) {
      // E.g. a dual-era client then reconnects in MCP 2026-07-28.
      this.#core.answer({ jsonrpc: "2.0", id, error: refusal });
      return;
    }
    this.#answered = true;
    this.#core.log.warn(
      "Answering initialize for the server, which failed to start; fix it and save to recover",
    );
    this.#core.answer({
      jsonrpc: "2.0",
      id,
      result: standInInitializeResult(
        this.#core.session.initializeParams?.protocolVersion,
        backend.name,
      ),
    });
  }

  /** Appends the injected tools to the last page of a `tools/list` result. */
  #addRestartTool(response: JsonRpcMessage) {
    const result = response.result as { tools?: ToolLike[]; nextCursor?: string } | undefined;
    if (!result || !Array.isArray(result.tools) || result.nextCursor) return;
    if (this.#restartTool === RESTART_TOOL && result.tools.some((t) => t.name === RESTART_TOOL)) {
      this.#useFallbackName();
    }
    if (this.#restartTool !== undefined) {
      result.tools.push(restartToolDefinition(this.#restartTool, this.#slot.backend.name));
    }
    if (this.callThrough) result.tools.push(...callThroughTools());
  }

  #useFallbackName() {
    if (this.#restartTool !== RESTART_TOOL) return;
    this.#restartTool = RESTART_TOOL_FALLBACK;
    this.#core.log.warn(
      `the server has its own "${RESTART_TOOL}" tool, which wins; mcpmon's is "${RESTART_TOOL_FALLBACK}"`,
    );
  }
}

/**
 * Gateway mode: mcpmon is the server the client sees, in either era, and a
 * client of each backend; every backend's lists are served merged.
 */
export class Merged implements Mode {
  readonly gateway = true;
  readonly #core: RouterCore;
  #naming: GatewayOptions;
  /** The merged lists, their name tables and routes. */
  readonly catalog: Catalog<Slot>;
  readonly restartTool = RESTART_TOOL;
  readonly statusTool = true;
  #answered = false;
  /**
   * False until every backend is listed or failed (or missed its init
   * timeout) after the client's `initialize`; list requests wait meanwhile.
   */
  #complete = false;
  /** List requests held until {@linkcode Merged.#complete}. */
  #heldLists: ClientRequest[] = [];
  /** Calls naming a backend that is still coming, by the client's id. */
  #waitingCalls = new Map<JsonRpcId, ClientRequest>();
  /** Resource requests, among {@linkcode Merged.#waitingCalls}, held until the lists are complete. */
  #heldCalls: ClientRequest[] = [];
  /**
   * A modern client's listens that asked for resource updates: the URIs (as
   * the client names them) each was acknowledged for, by the key of its id.
   */
  #resourceListens = new Map<string, { id: JsonRpcId; uris: Set<string> }>();
  /** Listens naming resources, held until the lists are complete (their URIs route then). */
  #heldListens: ClientRequest[] = [];
  /**
   * What mcpmon subscribed to on each backend process for the client, by the
   * backend's own URIs: `resources/subscribe` on a 2025 process, a listen with
   * `resourceSubscriptions` (its id here) on a 2026-07-28 one.
   */
  #subscribed = new WeakMap<Generation, { uris: Set<string>; listen?: number }>();
  /** The era of each backend's last process that served (one restarting has none yet). */
  #eras = new WeakMap<Slot, Generation["era"]>();

  constructor(core: RouterCore, naming: GatewayOptions) {
    this.#core = core;
    this.#naming = naming;
    this.catalog = new Catalog(naming, (m) => core.warnOnce(m));
  }

  get answered(): boolean {
    return this.#answered;
  }

  get held(): number {
    return this.#heldLists.length + this.#waitingCalls.size;
  }

  get callThrough(): boolean {
    return this.#naming.callThrough === true;
  }

  /** Changes the separator or name budget; the lists are renamed and the client told. */
  setNaming(naming: GatewayOptions): void {
    this.#naming = naming;
    this.catalog.setNaming(naming);
    this.updateViews();
  }

  initialize(c: ClientRequest): void {
    this.#answered = true;
    this.#core.answer({
      jsonrpc: "2.0",
      id: c.id,
      result: gatewayInitializeResult(
        this.#core.session.initializeParams?.protocolVersion,
        [...this.#core.slots.keys()],
        this.#naming.separator,
        [RESTART_TOOL, STATUS_TOOL],
      ),
    });
    this.#awaitBackends();
  }

  /** As at a legacy client's `initialize`: the first lists wait for every backend. */
  opened(): void {
    this.#answered = true;
    this.#awaitBackends();
  }

  discover(c: ClientRequest): undefined {
    this.#core.answer({
      jsonrpc: "2.0",
      id: c.id,
      result: gatewayDiscoverResult(
        [...this.#core.slots.keys()],
        this.#naming.separator,
        [RESTART_TOOL, STATUS_TOOL],
      ),
    });
    return undefined;
  }

  request(c: ClientRequest): Promise<void> | undefined {
    return this.#request(c);
  }

  /**
   * Every backend hears the client's notifications. Session state
   * (initialized) reaches those not yet ready through their replay.
   */
  notification(c: ClientMessage, line: string): Promise<void> | undefined {
    this.#core.session.observe(c.message);
    let wait: Promise<void> | undefined;
    for (const slot of this.#core.slots.values()) {
      const gen = slot.backend.current;
      if (slot.backend.state === "ready" && gen) {
        // The 2025 handshake's end means nothing to a 2026-07-28 process.
        if (!(gen.era === "modern" && c.method === "notifications/initialized")) gen.send(line);
      } else if (c.method !== "notifications/initialized" && slot.backend.state !== "failed") {
        wait = slot.enqueue({ message: c, line }) ?? wait;
      }
    }
    return wait;
  }

  forget(id: JsonRpcId): boolean {
    const held = this.#heldLists.findIndex((h) => h.id === id);
    if (held !== -1) this.#heldLists.splice(held, 1);
    const heldListen = this.#heldListens.findIndex((h) => h.id === id);
    if (heldListen !== -1) this.#heldListens.splice(heldListen, 1);
    if (this.#resourceListens.delete(idKey(id))) {
      this.#syncSubscriptions(); // a URI no listen wants any more is given up
      return true;
    }
    return this.#waitingCalls.delete(id) || held !== -1 || heldListen !== -1;
  }

  onSpawned(): void {}

  onReady(slot: Slot, gen: Generation): void {
    slot.listsRead = this.#core.readLists(slot, gen);
    this.#eras.set(slot, gen.era);
    if (gen.era === "modern") this.#listenToBackend(gen);
    this.#syncSubscriptions(slot);
    this.#core.flushQueue(slot, gen);
    slot.reading = true;
    slot.listsRead = slot.listsRead.then(() => this.updateViews()).finally(() => {
      if (slot.backend.current !== gen) return; // a newer generation settles it
      slot.reading = false;
      slot.settle();
    });
  }

  /** Nothing of its own: the router settles the slot (its readers and waiters) for both modes. */
  onFailed(): void {}

  fromServer(slot: Slot, gen: Generation, c: ServerInitiated): boolean {
    const params = (c.message.params ?? {}) as Item;
    if (c.method === "notifications/resources/updated") {
      this.#resourceUpdated(slot, params);
      return true;
    }
    if (gen.era === "modern" && metaOf(params)?.[SUBSCRIPTION_ID_KEY] !== undefined) {
      // On mcpmon's own listen: its acknowledgment is mcpmon's; list changes are handled below.
      if (!c.method.endsWith("/list_changed")) {
        this.#core.log.debug(`${c.method} on mcpmon's listen; not forwarded`, {
          server: slot.name,
        });
        return true;
      }
    }
    const changed = (Object.keys(LIST_CHANGED) as ListKind[]).filter((k) =>
      LIST_CHANGED[k] === c.method
    );
    if (changed.length > 0) {
      // Re-read that backend's list; the client hears of it only if the merged list changed.
      slot.listsRead = this.#core.readLists(slot, gen, changed).then(() => this.updateViews());
      return true;
    }
    return false;
  }

  readKinds(): readonly ListKind[] {
    return KINDS;
  }

  /** Rebuilds the merged views and tells the client which lists changed. */
  updateViews(): void {
    const changed = this.catalog.rebuild(this.#core.slots.values());
    this.#syncSubscriptions(); // a subscribed URI may have moved to another backend, or come
    // Before the lists are complete the client has read none of them: nothing to tell.
    if (this.#answered && this.#complete) {
      for (const method of new Set([...changed].map((kind) => LIST_CHANGED[kind]))) {
        this.#core.listChanged(method);
      }
    }
  }

  liveTools(): Item[] {
    return this.catalog.items("tools");
  }

  toolOwner(name: string): ToolOwner {
    const owner = this.catalog.routeTool(name);
    const slot = owner && this.#live(owner.source);
    if (owner && slot) return { slot, own: owner.name };
    if (owner) return undefined;
    const coming = this.#prefixOwner(name);
    return coming ? { coming } : undefined;
  }

  expose(slot: Slot, names: string[]): string[] {
    return names.map((n) =>
      exposedName(slot.name, n, this.#naming.separator, this.#naming.nameBudget)
    );
  }

  close(): void {
    this.#openLists();
    for (const c of this.#waitingCalls.values()) {
      this.#core.reject(c, ErrorCode.ServerUnavailable, "mcpmon: mcpmon is shutting down");
    }
    this.#waitingCalls.clear();
  }

  /**
   * At the client's `initialize` (or first modern request): the lists are
   * complete once every backend is listed or failed, each waited for at most
   * its init timeout (a backend that misses it is reported and listed when it
   * comes).
   */
  #awaitBackends() {
    const { clock, closing, log } = this.#core;
    const waits = [...this.#core.slots.values()].map((slot) => {
      if (!slot.coming) return undefined;
      return new Promise<void>((resolve) => {
        const ms = slot.backend.options.initTimeoutMs;
        const timer = clock.setTimeout(() => {
          if (this.#complete || closing.aborted) return resolve();
          log.warn(
            `not ready within its init timeout (${ms} ms); listing the others without waiting for it`,
            { server: slot.name },
          );
          resolve();
        }, ms);
        const done = () => {
          clock.clearTimeout(timer);
          resolve();
        };
        closing.addEventListener("abort", done, { once: true });
        slot.waiters.push(() => {
          closing.removeEventListener("abort", done);
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
        this.#core.internalError(c, err);
      }
    }
    const listens = this.#heldListens;
    this.#heldListens = [];
    for (const c of listens) this.#acknowledge(c);
    const calls = this.#heldCalls;
    this.#heldCalls = [];
    for (const c of calls) {
      if (this.#waitingCalls.get(c.id) !== c) continue; // cancelled meanwhile
      this.#waitingCalls.delete(c.id);
      if (this.#core.closing.aborted) {
        this.#core.reject(c, ErrorCode.ServerUnavailable, "mcpmon: mcpmon is shutting down");
        continue;
      }
      try {
        this.#request(c, true);
      } catch (err) {
        this.#core.internalError(c, err);
      }
    }
  }

  /** The backend whose `<server><sep>` starts `name` (a name not listed yet may be its). */
  #prefixOwner(name: unknown): Slot | undefined {
    if (typeof name !== "string") return undefined;
    const at = name.indexOf(this.#naming.separator);
    return at > 0 ? this.#core.slots.get(name.slice(0, at)) : undefined;
  }

  /** Holds a call until `slot` is listed or failed, then routes it again. */
  #waitForSlot(slot: Slot, c: ClientRequest): undefined {
    this.#core.log.debug(`${c.method} waits for the server to be ready`, { server: slot.name });
    this.#waitingCalls.set(c.id, c);
    slot.waiters.push(() => {
      if (this.#waitingCalls.get(c.id) !== c) return; // cancelled, or answered at shutdown
      this.#waitingCalls.delete(c.id);
      try {
        this.#request(c, true);
      } catch (err) {
        this.#core.internalError(c, err);
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
      this.#core.refuse(
        slot,
        c,
        `server "${slot.name}": ${slot.backend.lastError ?? "the server is not running"}`,
      );
      return undefined;
    }
    return this.#core.reject(c, ErrorCode.InvalidParams, `Unknown ${what}: ${name}`);
  }

  #request(c: ClientRequest, retried = false): Promise<void> | undefined {
    const core = this.#core;
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
        core.answer({ jsonrpc: "2.0", id: c.id, result: {} });
        return undefined;
      case "subscriptions/listen":
        return this.#listen(c);
      case "logging/setLevel":
        // Every backend gets the level; those not serving now get it replayed.
        core.session.observe(c.message);
        for (const slot of core.slots.values()) {
          const gen = slot.backend.current;
          if (slot.backend.state === "ready" && gen && gen.era === "legacy") {
            gen.call("logging/setLevel", params);
          }
        }
        core.answer({ jsonrpc: "2.0", id: c.id, result: {} });
        return undefined;
      case "tools/call":
      case "prompts/get": {
        const owner = typeof params.name !== "string"
          ? undefined
          : c.method === "tools/call"
          ? this.catalog.routeTool(params.name)
          : this.catalog.routePrompt(params.name);
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
        return core.route(slot, c, "");
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
          return core.reject(
            c,
            ErrorCode.InvalidParams,
            uri.length > MAX_URI_LENGTH
              ? `Unknown resource: a URI of ${uri.length} characters, longer than the ${MAX_URI_LENGTH} mcpmon routes by template`
              : `Unknown resource: ${uri}`,
          );
        }
        const era = target.source.backend.current?.era ?? this.#eras.get(target.source);
        if (c.method !== "resources/read" && era === "modern") {
          // A 2026-07-28 process has no resources/subscribe: mcpmon's listen on it carries the URI.
          core.session.observe(c.message);
          this.#syncSubscriptions(target.source);
          core.answer({ jsonrpc: "2.0", id: c.id, result: {} });
          return undefined;
        }
        c.message.params = { ...params, uri: target.uri };
        const renamed = target.uri !== params.uri;
        return core.route(
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
          const owner = this.catalog.routePrompt(String(ref.name));
          slot = owner && this.#live(owner.source);
          if (owner) c.message.params = { ...params, ref: { ...ref, name: owner.name } };
        } else if (ref.type === "ref/resource") {
          slot = this.catalog.templateOwner(String(ref.uri)) ??
            this.#resourceTarget(String(ref.uri))?.source;
        }
        if (!slot) return core.reject(c, ErrorCode.InvalidParams, "Unknown completion reference");
        return core.route(slot, c, "");
      }
      default:
        return core.reject(c, ErrorCode.MethodNotFound, `Method not found: ${c.method}`);
    }
  }

  /**
   * A modern client's `subscriptions/listen`: mcpmon holds it (no response
   * until the client cancels it or mcpmon stops) and acknowledges the list
   * changes it serves; each merged list's change then reaches the listens
   * that asked for it, tagged with their ids.
   */
  #listen(c: ClientRequest): undefined {
    const core = this.#core;
    if (core.session.era !== "modern") {
      return core.reject(c, ErrorCode.MethodNotFound, "Method not found: subscriptions/listen");
    }
    core.session.observe(c.message);
    if (!this.#complete && askedUris(c).length > 0) {
      this.#heldListens.push(c); // its URIs route once every backend is listed
      return undefined;
    }
    this.#acknowledge(c);
    return undefined;
  }

  /**
   * Acknowledges a listen with what mcpmon honors: the list changes it
   * serves, and the resources asked for that a backend offers and can
   * subscribe to; mcpmon then subscribes to those on their backends.
   */
  #acknowledge(c: ClientRequest) {
    const asked = ((c.message.params as Item | undefined)?.notifications ?? {}) as Item;
    const honored: Item = {};
    for (const key of ["toolsListChanged", "promptsListChanged", "resourcesListChanged"]) {
      if (asked[key] === true) honored[key] = true;
    }
    const uris = askedUris(c).filter((uri) => this.#subscribable(uri));
    if (uris.length > 0) {
      honored.resourceSubscriptions = uris;
      this.#resourceListens.set(idKey(c.id), { id: c.id, uris: new Set(uris) });
    }
    this.#core.write({
      jsonrpc: "2.0",
      method: "notifications/subscriptions/acknowledged",
      params: { notifications: honored, _meta: { [SUBSCRIPTION_ID_KEY]: c.id } },
    });
    if (uris.length > 0) this.#syncSubscriptions();
  }

  /** Whether a URI routes to a backend that can tell its updates (as far as mcpmon knows it). */
  #subscribable(uri: string): boolean {
    const target = this.#resourceTarget(uri);
    if (!target) return false;
    const caps = target.source.backend.current?.initResult?.capabilities as Item | undefined;
    return caps === undefined || (caps.resources as Item | undefined)?.subscribe === true;
  }

  /**
   * The client's resource subscriptions, as the client names them: its
   * listens' (modern), or its `resources/subscribe`s (legacy).
   */
  #wantedUris(): Set<string> {
    if (this.#core.session.era !== "modern") return new Set(this.#core.session.subscriptions);
    const uris = new Set<string>();
    for (const listen of this.#resourceListens.values()) {
      for (const uri of listen.uris) uris.add(uri);
    }
    return uris;
  }

  /**
   * Brings what mcpmon holds subscribed on each backend process (or `only`
   * this one) in line with what the client asked for, by the backend's own
   * URIs: `resources/subscribe` and `unsubscribe` on a 2025 process, a listen
   * with `resourceSubscriptions` (replaced when the set changes) on a
   * 2026-07-28 one. A 2025 client's subscriptions on a 2025 process are its
   * own requests, passed on and replayed after a restart: not done here.
   */
  #syncSubscriptions(only?: Slot) {
    const wanted = this.#wantedUris();
    for (const slot of only ? [only] : this.#core.slots.values()) {
      const gen = slot.backend.current;
      if (!gen || gen.state !== "ready") continue; // its onReady syncs it
      if (gen.era === "legacy" && this.#core.session.era !== "modern") continue;
      const held = this.#subscribed.get(gen) ?? { uris: new Set<string>() };
      const want = new Set<string>();
      for (const uri of wanted) {
        const target = this.#resourceTarget(uri);
        if (target?.source === slot) want.add(target.uri);
      }
      if (want.size === held.uris.size && [...want].every((u) => held.uris.has(u))) continue;
      this.#subscribed.set(gen, held);
      if (gen.era === "legacy") {
        const answered = (method: string) => (reply: JsonRpcMessage) => {
          if (reply.error) {
            this.#core.log.debug(`${method}: ${reply.error.message}`, { server: slot.name });
          }
        };
        for (const uri of want) {
          if (held.uris.has(uri)) continue;
          gen.call("resources/subscribe", { uri }).then(answered("resources/subscribe"));
        }
        for (const uri of held.uris) {
          if (want.has(uri)) continue;
          gen.call("resources/unsubscribe", { uri }).then(answered("resources/unsubscribe"));
        }
        held.uris = want;
        continue;
      }
      // A listen's filter is fixed: a new one with the new set, then the old one cancelled.
      const previous = held.listen;
      held.uris = want;
      held.listen = want.size === 0 ? undefined : this.#listenToBackend(gen, [...want]);
      if (previous !== undefined) {
        gen.cancel(previous);
        gen.send({
          jsonrpc: "2.0",
          method: "notifications/cancelled",
          params: { requestId: previous, reason: "the client's resource subscriptions changed" },
        });
      }
    }
  }

  /**
   * A backend's `notifications/resources/updated` (on mcpmon's listen, from a
   * 2026-07-28 process): to a modern client on each listen subscribed to the
   * URI, tagged with its id; to a legacy client as it is. Either way under
   * the URI the client knows (a renamed one mapped back).
   */
  #resourceUpdated(slot: Slot, params: Item) {
    const { _meta: _, ...rest } = params;
    const own = metaOf(params);
    const kept = own ? { ...own } : undefined;
    if (kept) delete kept[SUBSCRIPTION_ID_KEY];
    const uri = slot.renamedUris.get(String(params.uri)) ?? params.uri;
    const base = { ...rest, uri };
    if (this.#core.session.era !== "modern") {
      const out = kept && Object.keys(kept).length > 0 ? { ...base, _meta: kept } : base;
      this.#core.write({ jsonrpc: "2.0", method: "notifications/resources/updated", params: out });
      return;
    }
    for (const listen of this.#resourceListens.values()) {
      if (!listen.uris.has(String(uri))) continue;
      this.#core.write({
        jsonrpc: "2.0",
        method: "notifications/resources/updated",
        params: { ...base, _meta: { ...kept, [SUBSCRIPTION_ID_KEY]: listen.id } },
      });
    }
  }

  /**
   * A modern backend tells its list changes only on a listen, so mcpmon opens
   * one of its own on each of its processes; what it hears there is handled
   * like a legacy backend's `list_changed`. With `resourceSubscriptions`: the
   * listen for the client's resource subscriptions on that process. Returns
   * the listen's id there.
   */
  #listenToBackend(gen: Generation, resourceSubscriptions?: string[]): number {
    return gen.request("subscriptions/listen", {
      jsonrpc: "2.0",
      method: "subscriptions/listen",
      params: resourceSubscriptions
        ? withEnvelope({ notifications: { resourceSubscriptions } }, gen.envelope())
        : listenToAllLists(gen.envelope()),
    }, {
      listen: true,
      onResponse: (response) => {
        if (gen.state === "ready") {
          this.#core.log.debug(
            `the server closed mcpmon's listen: ${
              JSON.stringify(response.error ?? response.result)
            }`,
          );
        }
      },
    });
  }

  /** Where a resource URI goes: by table, else the one backend with templates. */
  #resourceTarget(uri: string): { source: Slot; uri: string } | undefined {
    const target = this.catalog.resourceTarget(uri);
    return target && this.#live(target.source) ? target : undefined;
  }

  /** `slot` if it is still one of the router's (a removed backend's names route nowhere). */
  #live(slot: Slot): Slot | undefined {
    return this.#core.slots.get(slot.name) === slot ? slot : undefined;
  }

  /** Answers a list request from the merged view, a page at a time. */
  #answerList(c: ClientRequest, kind: ListKind, cursor: unknown): undefined {
    const items = kind === "tools"
      ? [...this.catalog.items("tools"), ...this.#injectedTools()]
      : this.catalog.items(kind);
    const one = page(items, cursor);
    if (!one) return this.#core.reject(c, ErrorCode.InvalidParams, "Invalid cursor");
    const result: Item = { [kind]: one.items };
    if (one.nextCursor !== undefined) result.nextCursor = one.nextCursor;
    if (this.#core.session.era === "modern") {
      // Any restart may change a list (and mcpmon then says so): not to be cached.
      Object.assign(result, { resultType: "complete", ttlMs: 0, cacheScope: "private" });
    }
    this.#core.answer({ jsonrpc: "2.0", id: c.id, result });
    if (kind === "tools") this.#core.answeredToolsList(c);
    return undefined;
  }

  #injectedTools(): Item[] {
    return [
      gatewayRestartToolDefinition([...this.#core.slots.keys()]),
      ...(this.callThrough ? callThroughTools() : []),
      statusToolDefinition(),
    ];
  }
}

/** The resource URIs a listen asks for (`notifications.resourceSubscriptions`), strings only. */
function askedUris(c: ClientRequest): string[] {
  const asked = ((c.message.params as Item | undefined)?.notifications ?? {}) as Item;
  const uris = asked.resourceSubscriptions;
  return Array.isArray(uris) ? uris.filter((u): u is string => typeof u === "string") : [];
}

/** Puts a renamed resource's exposed URI back into a `resources/read` result. */
function renameContents(response: JsonRpcMessage, original: string, exposed: unknown) {
  const contents = (response.result as Item).contents;
  if (!Array.isArray(contents)) return;
  for (const c of contents) if (c?.uri === original) c.uri = exposed;
}
