/**
 * The router between the client and the backend: id tables in both
 * directions, a queue while the backend restarts, the client's session
 * replayed to each new generation, and `list_changed` after each restart.
 *
 * Ids: each request forwarded to a server gets an id of that generation's own;
 * the client's id (string or number) is restored on the response. Requests a
 * server sends to the client get ids from one router-wide counter, so they
 * never collide across generations; a reply meant for a generation that is
 * gone is dropped and logged.
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
} from "./jsonrpc.ts";
import type { Logger } from "./log.ts";
import type { Runtime } from "./runtime/mod.ts";
import { Session } from "./session.ts";
import { VERSION } from "./version.ts";
import {
  diffTools,
  RESTART_TOOL,
  RESTART_TOOL_FALLBACK,
  restartResultText,
  restartToolDefinition,
  type ToolLike,
} from "./restart_tool.ts";
import {
  Backend,
  type Generation,
  type RestartOutcome,
  type ServerInitiated,
} from "./supervisor.ts";

/** The list kinds a server can declare and the client is told about. */
const LISTS = ["tools", "prompts", "resources"] as const;

type ClientMessage = Extract<ReturnType<typeof classify>, { type: "request" | "notification" }>;

/**
 * Routes messages between the client and its backend.
 *
 * @example
 * ```ts ignore
 * const router = new Router(runtime, logger, serverOptions);
 * router.start();
 * await readLines(runtime.stdin, (line) => router.handleClientLine(line));
 * await router.close({ drain: true });
 * ```
 */
export class Router {
  /** What the client set up. */
  readonly session: Session = new Session();
  /** The backend. */
  readonly backend: Backend;
  readonly #log: Logger;
  readonly #client: FrameWriter;
  readonly #graceMs: number;
  /** Client messages waiting for the backend to be ready, in arrival order. */
  #queue: { message: ClientMessage; line: string }[] = [];
  /** Client requests in flight: client id → where they went. */
  #inFlight = new Map<JsonRpcId, { gen: Generation; id: number }>();
  /** Server→client requests awaiting the client's reply: id toward the client → origin. */
  #toClient = new Map<number, { gen: Generation; id: JsonRpcId }>();
  #nextToClientId = 1;
  /** The client's `initialize` request while it waits for an answer. */
  #initialize: JsonRpcId | undefined;
  #initializeAnswered = false;
  #idle: (() => void)[] = [];
  /** The injected restart tool's name; undefined when it is turned off. */
  #restartTool: string | undefined;
  /** The current generation's tools (all pages), read when it became ready. */
  #tools: Promise<ToolLike[] | undefined> | undefined;
  /** Called when the backend's state, pid, restarts or last error change. */
  onChange: ((backend: Backend) => void) | undefined;

  /** Creates the router and its backend; {@linkcode Router.start} starts the server. */
  constructor(runtime: Runtime, log: Logger, server: ServerOptions) {
    this.#log = log;
    this.#graceMs = server.graceMs;
    this.#client = new FrameWriter(runtime.stdout, (err) => {
      log.debug(`client stdout closed: ${err instanceof Error ? err.message : err}`);
    });
    this.backend = new Backend(runtime, server, this.session, log, {
      clientReady: () => this.#client.ready(),
      onServerMessage: (_b, gen, message, line) => this.#fromServer(gen, message, line),
      onReady: (_b, gen) => this.#onReady(gen),
      onFailed: (_b, cause) => this.#onFailed(cause),
      onGenerationEnd: (_b, gen) => this.#onGenerationEnd(gen),
      onBuildFailed: (_b, error) => this.#notifyClient("error", error),
      onChange: (b) => this.onChange?.(b),
    });
    if (server.restartTool !== false) this.#restartTool = RESTART_TOOL;
  }

  /** Starts the backend's first generation. */
  start(): void {
    this.backend.start();
  }

  /** Restarts the backend (see {@linkcode Backend.restart}). */
  restart(reason: string): Promise<RestartOutcome> {
    return this.backend.restart(reason);
  }

  /** Client requests not yet answered (queued or in flight). */
  get pendingClientRequests(): number {
    let queued = 0;
    for (const q of this.#queue) if (q.message.type === "request") queued++;
    return queued + this.#inFlight.size + (this.#initialize !== undefined ? 1 : 0);
  }

  /**
   * Handles one line from the client. Returns a promise when the destination
   * is congested; the caller should wait for it before reading on.
   */
  handleClientLine(line: string): Promise<void> | undefined {
    if (line.trim() === "") return undefined;
    const parsed = parseLine(line);
    if (!parsed.ok) {
      this.#log.warn(`client sent invalid JSON: ${parsed.error}`);
      this.#client.write(errorResponse(null, ErrorCode.ParseError, `Parse error: ${parsed.error}`));
      return this.#client.ready();
    }
    let wait: Promise<void> | undefined;
    for (const value of parsed.values) {
      const c = classify(value);
      const text = parsed.values.length === 1 ? line : undefined;
      switch (c.type) {
        case "invalid":
          this.#log.warn(`client sent an invalid message: ${c.reason}`);
          this.#client.write(
            errorResponse(c.id, ErrorCode.InvalidRequest, `Invalid Request: ${c.reason}`),
          );
          wait = this.#client.ready() ?? wait;
          break;
        case "response":
          wait = this.#replyFromClient(c.id, c.message) ?? wait;
          break;
        case "request":
          if (c.method === "initialize") this.#clientInitialize(c);
          else if (c.method === "tools/call" && this.#isRestartToolCall(c.message)) {
            this.#callRestartTool(c);
          } else wait = this.#route(c, text ?? JSON.stringify(value)) ?? wait;
          break;
        case "notification":
          wait = this.#route(c, text ?? JSON.stringify(value)) ?? wait;
          break;
      }
    }
    return wait;
  }

  /**
   * Shuts down: with `drain`, first waits (up to the grace period) for
   * requests in flight; then stops the backend, answers whatever is left with
   * an error, and flushes stdout.
   */
  async close(options: { drain: boolean }): Promise<void> {
    if (options.drain && this.pendingClientRequests > 0) {
      const timeout = new AbortController();
      await Promise.race([
        new Promise<void>((resolve) => this.#idle.push(resolve)),
        new Promise<void>((resolve) => {
          const t = setTimeout(resolve, this.#graceMs);
          timeout.signal.addEventListener("abort", () => clearTimeout(t));
        }),
      ]);
      timeout.abort();
    }
    await this.backend.stop();
    this.#failQueue("mcpmon is shutting down");
    if (this.#initialize !== undefined) {
      this.#answer(
        errorResponse(this.#initialize, ErrorCode.ServerUnavailable, "mcpmon is shutting down"),
      );
      this.#initialize = undefined;
    }
    await this.#client.flushed();
  }

  // ── client → server ──────────────────────────────────────────────────────

  #clientInitialize(c: Extract<ClientMessage, { type: "request" }>) {
    if (this.session.initializeParams !== undefined) {
      this.#client.write(
        errorResponse(
          c.id,
          ErrorCode.InvalidRequest,
          "Invalid Request: the session is already initialized",
        ),
      );
      return;
    }
    this.#initialize = c.id;
    this.session.observe(c.message);
    // A backend that already failed (e.g. crashed at start) cannot answer:
    // answer for it, so the session survives until the next good edit.
    if (this.backend.state === "failed") this.#answerInitializeForFailedServer();
  }

  #route(c: ClientMessage, line: string): Promise<void> | undefined {
    if (c.type === "notification" && c.method === "notifications/cancelled") {
      return this.#cancelFromClient(c.message);
    }
    switch (this.backend.state) {
      case "ready":
        return this.#deliver(this.backend.current!, c, line);
      case "failed":
      case "stopped":
        this.#refuse(c, this.backend.lastError ?? "the server is not running");
        return undefined;
      default:
        this.#queue.push({ message: c, line });
        return undefined;
    }
  }

  #deliver(gen: Generation, c: ClientMessage, line: string): Promise<void> | undefined {
    this.session.observe(c.message);
    if (c.type === "notification") {
      gen.send(line);
      return gen.ready();
    }
    const clientId = c.id;
    const listsTools = c.method === "tools/list" && this.#restartTool !== undefined;
    const id = gen.request(c.method, c.message, {
      clientId,
      onResponse: (response) => {
        this.#inFlight.delete(clientId);
        response.id = clientId;
        if (listsTools) this.#addRestartTool(response);
        this.#answer(response);
      },
    });
    this.#inFlight.set(clientId, { gen, id });
    return gen.ready();
  }

  /** Answers a request the backend cannot take now; notifications still shape the session. */
  #refuse(c: ClientMessage, cause: string) {
    this.session.observe(c.message);
    if (c.type === "request") {
      this.#answer(
        errorResponse(c.id, ErrorCode.ServerUnavailable, `mcpmon: ${cause}`, {
          server: this.backend.name,
        }),
      );
    } else this.#log.debug(`dropped ${c.method}: ${cause}`);
  }

  #cancelFromClient(message: JsonRpcMessage): undefined {
    const params = (message.params ?? {}) as Record<string, unknown>;
    const requestId = params.requestId as JsonRpcId;
    const queued = this.#queue.findIndex((q) =>
      q.message.type === "request" && q.message.id === requestId
    );
    if (queued !== -1) {
      // Never sent: drop it. A cancelled request is owed no response (MCP).
      this.#queue.splice(queued, 1);
      this.#wakeIdle();
      return undefined;
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

  // ── server → client ──────────────────────────────────────────────────────

  #fromServer(gen: Generation, c: ServerInitiated, line: string) {
    if (c.type === "request") {
      const id = this.#nextToClientId++;
      this.#toClient.set(id, { gen, id: c.id });
      gen.outgoing.set(c.id, id);
      c.message.id = id;
      this.#client.write(c.message);
      return;
    }
    if (c.method === "notifications/cancelled") {
      const params = (c.message.params ?? {}) as Record<string, unknown>;
      const id = gen.outgoing.get(params.requestId as JsonRpcId);
      if (id === undefined) return;
      gen.outgoing.delete(params.requestId as JsonRpcId);
      this.#toClient.delete(id);
      this.#client.write({ ...c.message, params: { ...params, requestId: id } });
      return;
    }
    this.#client.write(line);
  }

  // ── backend lifecycle ────────────────────────────────────────────────────

  #onReady(gen: Generation) {
    this.#tools = this.#restartTool === undefined ? undefined : this.#listTools(gen);
    const init = this.#initialize;
    if (init !== undefined) {
      this.#initialize = undefined;
      this.#initializeAnswered = true;
      this.#answer({
        jsonrpc: "2.0",
        id: init,
        result: advertiseListChanged(gen.initResult ?? {}),
      });
    } else if (this.#initializeAnswered) {
      // Deliver first what waited for this generation, then tell the client its lists may differ.
      this.#flushQueue(gen);
      for (const list of declaredLists(gen.initResult ?? {})) {
        this.#client.write({ jsonrpc: "2.0", method: `notifications/${list}/list_changed` });
      }
      return;
    }
    this.#flushQueue(gen);
  }

  #flushQueue(gen: Generation) {
    const queue = this.#queue;
    this.#queue = [];
    for (const { message, line } of queue) this.#deliver(gen, message, line);
  }

  #onFailed(cause: string) {
    if (this.#initialize !== undefined) this.#answerInitializeForFailedServer();
    this.#failQueue(cause);
  }

  #failQueue(cause: string) {
    const queue = this.#queue;
    this.#queue = [];
    for (const { message } of queue) this.#refuse(message, cause);
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
    const requested = this.session.initializeParams?.protocolVersion;
    this.#log.warn(
      "Answering initialize for the server, which failed to start; fix it and save to recover",
    );
    this.#answer({
      jsonrpc: "2.0",
      id,
      result: {
        protocolVersion: typeof requested === "string" ? requested : "2025-06-18",
        capabilities: {
          tools: { listChanged: true },
          prompts: { listChanged: true },
          resources: { listChanged: true, subscribe: true },
          logging: {},
        },
        serverInfo: { name: `mcpmon (${this.backend.name})`, version: VERSION },
      },
    });
  }

  // ── the injected restart tool ────────────────────────────────────────────

  #isRestartToolCall(message: JsonRpcMessage): boolean {
    const name = (message.params as Record<string, unknown> | undefined)?.name;
    return this.#restartTool !== undefined && name === this.#restartTool;
  }

  /** Appends the restart tool to the last page of a `tools/list` result. */
  #addRestartTool(response: JsonRpcMessage) {
    const result = response.result as { tools?: ToolLike[]; nextCursor?: string } | undefined;
    if (!result || !Array.isArray(result.tools) || result.nextCursor) return;
    if (this.#restartTool === RESTART_TOOL && result.tools.some((t) => t.name === RESTART_TOOL)) {
      this.#useFallbackName();
    }
    result.tools.push(restartToolDefinition(this.#restartTool!, this.backend.name));
  }

  #useFallbackName() {
    if (this.#restartTool !== RESTART_TOOL) return;
    this.#restartTool = RESTART_TOOL_FALLBACK;
    this.#log.warn(
      `the server has its own "${RESTART_TOOL}" tool, which wins; mcpmon's is "${RESTART_TOOL_FALLBACK}"`,
    );
  }

  /** Reads every page of a generation's tools (for the restart tool's diff and name). */
  async #listTools(gen: Generation): Promise<ToolLike[] | undefined> {
    if (!declaredLists(gen.initResult ?? {}).includes("tools")) return [];
    const tools: ToolLike[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 1000; page++) {
      const response = await gen.call("tools/list", cursor === undefined ? undefined : { cursor });
      const result = response.result as { tools?: ToolLike[]; nextCursor?: string } | undefined;
      if (!result || !Array.isArray(result.tools)) return undefined;
      tools.push(...result.tools);
      cursor = result.nextCursor;
      if (!cursor) break;
    }
    if (tools.some((t) => t.name === RESTART_TOOL)) this.#useFallbackName();
    return tools;
  }

  async #callRestartTool(c: Extract<ClientMessage, { type: "request" }>) {
    const args = ((c.message.params as Record<string, unknown>).arguments ?? {}) as Record<
      string,
      unknown
    >;
    const why = typeof args.reason === "string" && args.reason.trim()
      ? args.reason.trim()
      : undefined;
    this.#log.info(`restart_server called${why ? `: ${why}` : ""}`);
    const before = await this.#tools;
    const outcome = await this.backend.restart(
      why ? `restart_server: ${why}` : "restart_server tool",
    );
    const after = outcome.ok ? await this.#tools : undefined;
    const diff = before && after ? diffTools(before, after) : undefined;
    this.#answer({
      jsonrpc: "2.0",
      id: c.id,
      result: {
        content: [{ type: "text", text: restartResultText(this.backend.name, outcome, diff) }],
        ...(outcome.ok ? {} : { isError: true }),
      },
    });
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

  #answer(response: JsonRpcMessage) {
    this.#client.write(response);
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

/** The lists (tools, prompts, resources) a server's `initialize` result declares. */
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
 * import { advertiseListChanged } from "./router.ts";
 * advertiseListChanged({ capabilities: { tools: {} } });
 * // { capabilities: { tools: { listChanged: true } } }
 * ```
 */
export function advertiseListChanged(initResult: Record<string, unknown>): Record<string, unknown> {
  const caps = { ...(initResult.capabilities ?? {}) as Record<string, unknown> };
  for (const list of declaredLists(initResult)) {
    caps[list] = { ...(caps[list] as Record<string, unknown>), listChanged: true };
  }
  return { ...initResult, capabilities: caps };
}
