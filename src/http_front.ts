/**
 * The HTTP front (`mcpmon --http [host:]port`): serves the reloading stdio
 * server on Streamable HTTP at `/mcp`, in both protocol eras, behind the
 * runtime's own HTTP server ({@linkcode Runtime.serve}). The front only
 * speaks HTTP; behind it are line-level peers ({@linkcode LinePeer}: in
 * mcpmon, Routers whose client streams are in memory).
 *
 * - **Legacy (2025-03-26 … 2025-11-25) sessions.** A POST `initialize`
 *   without `Mcp-Session-Id` opens a session: its own peer (own server
 *   process, own id space, its client's session replayed across restarts),
 *   and an id the client sends on every later request. GET opens the
 *   session's SSE stream for what the server sends on its own (list_changed,
 *   log messages, sampling and roots requests); DELETE ends the session and
 *   stops its process. An unknown session id gets 404.
 * - **Resumption (legacy).** Each SSE stream of a session (its GET stream,
 *   each POST's response stream) is a resumable channel: its events
 *   carry ids (`<stream>:<n>`) and its last
 *   {@linkcode HttpFrontOptions.replayEvents} are kept, so a client whose
 *   connection broke GETs with `Last-Event-ID` and gets the rest of that
 *   stream (a POST's request stays pending meanwhile). A 2025-11-25 client's
 *   POST stream opens with a priming event. An id naming no event kept gets
 *   400 (-32000, as the SDK's servers answer); one whose stream is still
 *   open takes it over (the old response ends: the client may learn of the
 *   break before mcpmon does).
 *   2026-07-28 streams carry no ids: that revision has no resumption.
 * - **One shared peer (gateway mode, {@linkcode HttpFrontOptions.sharedPeer}).**
 *   Legacy sessions open no peer: the front bridges each onto the modern
 *   peer (its `initialize` answered from `server/discover` and turned into
 *   the `_meta` envelope of its requests; a listen held for it brings its
 *   GET stream `list_changed`), so every client of both eras shares one
 *   router and its processes.
 * - **Modern (2026-07-28) requests** are stateless: every POST is checked
 *   against its `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` headers
 *   (400 with a `HeaderMismatch` error when they are missing or disagree
 *   with the body), and all of them share one peer, each request under an
 *   id of the front's own, so clients' ids never collide.
 *   `subscriptions/listen` is answered with an SSE stream that stays open
 *   (across server restarts) and carries the notifications tagged with its
 *   id; closing a response stream cancels its request. A JSON answer that
 *   is a "method not found" error gets 404, an unsupported version, missing
 *   capability or header mismatch 400, as the spec asks.
 * - **Security.** A foreign `Origin` gets 403 (an absent one is allowed);
 *   on a loopback bind a `Host` that is not loopback gets 403 (DNS
 *   rebinding); with a token, a request without `Authorization: Bearer
 *   <token>` gets 401. Bodies past the limit get 413, more open responses
 *   than the limit 429; a new session past the limit ends the least
 *   recently used idle one, or gets 503 when all are busy; a wrong method
 *   405, a wrong content type 415, an `Accept` without JSON or SSE 406,
 *   malformed JSON a JSON-RPC parse error with 400.
 *
 * @module
 */
import { ErrorCode, errorResponse, type JsonRpcId, type JsonRpcMessage } from "./jsonrpc.ts";
import { type Clock, type HttpHandler, systemClock } from "./runtime/mod.ts";
import { SERVER_INFO_KEY as SERVER_INFO } from "./capabilities.ts";
import { fulfilInputRequired, inputFailure, isInputRequired, OwnRequests } from "./mrtr.ts";
import {
  CLIENT_CAPABILITIES_KEY as CLIENT_CAPABILITIES,
  CLIENT_INFO_KEY as CLIENT_INFO,
  LATEST_LEGACY_VERSION,
  legacyResult,
  listenToAllLists,
  MODERN_VERSION,
  PROTOCOL_VERSION_KEY as PROTOCOL_VERSION,
  SUBSCRIPTION_ID_KEY as SUBSCRIPTION_ID,
} from "./session.ts";

/** The path of the MCP endpoint. */
export const MCP_PATH = "/mcp";
/** JSON-RPC error code of the 2026-07-28 spec for headers that disagree with the body. */
export const HEADER_MISMATCH = -32020;
/** Default {@linkcode HttpFrontOptions.maxOpen}. */
export const DEFAULT_MAX_OPEN = 100;
/** Default {@linkcode HttpFrontOptions.keepAliveMs}. */
export const DEFAULT_KEEP_ALIVE_MS = 15_000;
/** Default {@linkcode HttpFrontOptions.maxSessions}. */
export const DEFAULT_MAX_SESSIONS = 32;
/** Default {@linkcode HttpFrontOptions.replayEvents}. */
export const DEFAULT_REPLAY_EVENTS = 1000;
/** Ended response streams of a legacy session kept for resumption (the most recent ones). */
export const ENDED_STREAMS_KEPT = 16;
/** The first revision whose clients resume a POST's stream after a priming event. */
const PRIMING_VERSION = "2025-11-25";
/** The log levels of MCP, least severe first. */
const LOG_LEVELS: readonly string[] = [
  "debug",
  "info",
  "notice",
  "warning",
  "error",
  "critical",
  "alert",
  "emergency",
];
/** Methods whose `Mcp-Name` header is required, and the body field it mirrors. */
const NAMED: ReadonlyMap<string, string> = new Map([
  ["tools/call", "name"],
  ["prompts/get", "name"],
  ["resources/read", "uri"],
]);
const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

/**
 * A line-level MCP peer: what the front hands client messages to and hears
 * answers from (in mcpmon a Router, with its server process).
 */
export interface LinePeer {
  /** Takes one client message (its JSON text); a promise means "congested, wait". */
  handleClientLine(line: string): Promise<void> | undefined;
  /** Stops the peer (its server process included). */
  close(): Promise<void>;
}

/**
 * Opens a peer whose messages to the client go to `send`, one JSON text
 * each. `label` says what it serves: a legacy session (with its id) or the
 * modern requests.
 */
export type OpenPeer = (
  send: (line: string) => void,
  label: { kind: "session"; id: string } | { kind: "modern" },
) => LinePeer;

/** What the front logs. */
export interface FrontLog {
  /** Notable events (a session opened or ended). */
  info(message: string): void;
  /** Refused input. */
  warn(message: string): void;
  /** Detail. */
  debug(message: string): void;
}

/** Options of {@linkcode HttpFront}. */
export interface HttpFrontOptions {
  /** Makes the peers: one per legacy session, one for the modern requests. */
  openPeer: OpenPeer;
  /** The address bound: decides whether `Host` must be loopback and which origins are allowed. */
  hostname: string;
  /** When set, every request needs `Authorization: Bearer <token>`. */
  token?: string;
  /** The largest request body, in bytes (413 past it). */
  maxBodyBytes: number;
  /**
   * At most this many responses open at once (SSE streams, listens and
   * requests waiting for their answer); past it, 429. Default
   * {@linkcode DEFAULT_MAX_OPEN}.
   */
  maxOpen?: number;
  /**
   * At most this many legacy sessions (each runs a server). A new one past it
   * ends the least recently used session that has no request or stream open
   * (its client went away without DELETE, as many do), or gets 503 when every
   * session is busy. Default {@linkcode DEFAULT_MAX_SESSIONS}.
   */
  maxSessions?: number;
  /** Where to log; silent when absent. */
  log?: FrontLog;
  /** Makes session ids (tests); `crypto.randomUUID` when absent. */
  newSessionId?: () => string;
  /**
   * Every this many ms, the long-lived streams (GET streams, listens) get an
   * SSE comment, so idle-timeouts of clients and proxies (Node's fetch: 5
   * minutes) do not cut them in quiet times. Default
   * {@linkcode DEFAULT_KEEP_ALIVE_MS}; 0 turns it off.
   */
  keepAliveMs?: number;
  /** The clock of the keep-alive timer (a manual one in specs). */
  clock?: Clock;
  /**
   * Legacy sessions' SSE events kept per stream (the GET stream, each POST's
   * response stream), for a client that resumes with `Last-Event-ID` (and,
   * on the GET stream, what waits for a GET to open). Default
   * {@linkcode DEFAULT_REPLAY_EVENTS}.
   */
  replayEvents?: number;
  /**
   * One peer for everything (gateway mode): legacy sessions open no peer of
   * their own but are bridged onto the modern peer. The front keeps each
   * session's state (its `initialize` params become the `_meta` envelope of
   * its requests), answers its `initialize` from `server/discover`, gives its
   * requests ids of the front's own, and holds a `subscriptions/listen` for
   * it whose `list_changed` notifications go, untagged, to its GET stream.
   */
  sharedPeer?: boolean;
}

/** Whether `hostname` is a loopback address or name (the bind needs no token then). */
export function isLoopback(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return LOOPBACK_HOSTS.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** One SSE response stream. */
class SseStream {
  readonly response: Response;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #closed = false;
  readonly #encoder = new TextEncoder();
  readonly #onGone: () => void;

  /**
   * @param signal the request's signal (aborted when the client goes away)
   * @param onGone called once when the stream ends, whoever ended it
   * @param headers extra response headers
   */
  constructor(signal: AbortSignal, onGone: () => void, headers: Record<string, string> = {}) {
    this.#onGone = onGone;
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
        // The runtimes send a streamed response's headers with its first bytes: a comment (which
        // clients ignore) sends them now, so a client waiting for the stream to open is not kept
        // waiting until the first message.
        controller.enqueue(this.#encoder.encode(": open\n\n"));
      },
      cancel: () => this.#end(false),
    });
    signal.addEventListener("abort", () => this.#end(true), { once: true });
    this.response = new Response(body, {
      status: 200,
      headers: {
        "content-type": "text/event-stream",
        "cache-control": "no-cache, no-transform",
        "x-accel-buffering": "no",
        ...headers,
      },
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Sends one JSON-RPC message as a `message` event (with its event id, when given). */
  send(text: string, id?: string): void {
    if (this.#closed) return;
    const data = text.split("\n").map((l) => `data: ${l}\n`).join("");
    const head = id === undefined ? "" : `id: ${id}\n`;
    this.#controller.enqueue(this.#encoder.encode(`${head}event: message\n${data}\n`));
  }

  /** Sends an event with an id and no data: the 2025-11-25 priming event a client resumes from. */
  prime(id: string): void {
    if (!this.#closed) this.#controller.enqueue(this.#encoder.encode(`id: ${id}\ndata: \n\n`));
  }

  /** Sends an SSE comment, which clients ignore: a keep-alive. */
  comment(): void {
    if (!this.#closed) this.#controller.enqueue(this.#encoder.encode(": keep-alive\n\n"));
  }

  /** Ends the stream (after what was sent). */
  close(): void {
    this.#end(true);
  }

  #end(closeBody: boolean) {
    if (this.#closed) return;
    this.#closed = true;
    if (closeBody) {
      try {
        this.#controller.close();
      } catch { /* already cancelled */ }
    }
    this.#onGone();
  }
}

/** Where an SSE exchange's messages go: a stream (modern), or a resumable channel (legacy). */
interface EventSink {
  send(text: string): void;
  close(): void;
  readonly closed: boolean;
}

/**
 * One resumable SSE stream of a legacy session (2025 revisions): its GET
 * stream, or a POST's response stream. Each message gets an event id,
 * `<channel>:<seq>`, unique in the session and naming its stream, and is
 * kept (the last `limit` of them) so that a client whose connection broke
 * can GET them again with `Last-Event-ID`; the HTTP response it goes on is
 * attached and detached as connections come and go.
 */
class EventChannel implements EventSink {
  readonly no: number;
  readonly #limit: number;
  /** The last event's sequence number (events count from 1). */
  seq = 0;
  /** The highest sequence number no longer kept. */
  dropped = 0;
  /** The highest sequence number written to a stream. */
  delivered = 0;
  readonly #events: { seq: number; text: string }[] = [];
  /** The response it goes on, while one is open. */
  stream: SseStream | undefined;
  /** A response stream's answer went out: no more events. */
  #ended = false;
  /** Called with the count of events dropped before any stream got them. */
  readonly #onLost: (count: number) => void;

  constructor(no: number, limit: number, onLost: (count: number) => void = () => {}) {
    this.no = no;
    this.#limit = Math.max(1, limit);
    this.#onLost = onLost;
  }

  /** The id of event `seq`. */
  id(seq: number): string {
    return `${this.no}:${seq}`;
  }

  /** Whether a stream is attached and open. */
  get attached(): boolean {
    return this.stream !== undefined && !this.stream.closed;
  }

  get closed(): boolean {
    return this.#ended;
  }

  send(text: string): void {
    if (this.#ended) return;
    const seq = ++this.seq;
    this.#events.push({ seq, text });
    if (this.#events.length > this.#limit) {
      const gone = this.#events.shift()!;
      this.dropped = gone.seq;
      if (gone.seq > this.delivered) this.#onLost(1);
    }
    if (this.attached) {
      this.stream!.send(text, this.id(seq));
      this.delivered = seq;
    }
  }

  /** Ends it (a response stream after its answer); what is kept stays for a resuming client. */
  close(): void {
    this.#ended = true;
    this.stream?.close();
  }

  /** Whether a client that saw event `seq` can have every later one. */
  canResume(seq: number): boolean {
    return seq >= this.dropped && seq <= this.seq;
  }

  /** Sends `stream` the events after `seq`, then goes on it (or closes it, when ended). */
  attach(stream: SseStream, seq: number): void {
    for (const event of this.#events) {
      if (event.seq > seq) stream.send(event.text, this.id(event.seq));
    }
    this.delivered = Math.max(this.delivered, this.seq);
    if (this.#ended) {
      stream.close();
      return;
    }
    this.stream = stream;
  }
}

/**
 * A request waiting for its answer: as one JSON response, or on an SSE
 * stream (with the notifications related to it before the answer).
 */
class Exchange {
  /** The client's id, restored on the answer. */
  readonly clientId: JsonRpcId;
  /** The SSE stream or channel, when the answer goes on one. */
  readonly sse: EventSink | undefined;
  /** The client's progress token (modern: the front's own one replaced it). */
  progressToken: string | number | undefined;
  /** Resolves a JSON-mode exchange with the answer's text. */
  #resolve: ((text: string) => void) | undefined;
  readonly answer: Promise<string> | undefined;
  #done = false;

  constructor(clientId: JsonRpcId, sse: EventSink | undefined) {
    this.clientId = clientId;
    this.sse = sse;
    if (!sse) this.answer = new Promise((resolve) => this.#resolve = resolve);
  }

  get done(): boolean {
    return this.#done || (this.sse?.closed ?? false);
  }

  /** Sends a related notification (SSE only; dropped in JSON mode). */
  notify(text: string): void {
    if (!this.#done) this.sse?.send(text);
  }

  /** Delivers the answer and ends the exchange. */
  finish(text: string): void {
    if (this.#done) return;
    this.#done = true;
    if (this.sse) {
      this.sse.send(text);
      this.sse.close();
    } else this.#resolve!(text);
  }
}

/** One legacy client session: its peer and what waits on it. */
class LegacySession {
  readonly id: string;
  peer!: LinePeer;
  /** Requests waiting for their answer, by the key of the client's id. */
  readonly pending = new Map<string, Exchange>();
  /** SSE exchanges with a progress token, by the token's key. */
  readonly progress = new Map<string, Exchange>();
  /**
   * Its GET stream (channel 0): what the server sends on its own, kept while
   * no GET is open and for resumption.
   */
  readonly events: EventChannel;
  /** Its POST response streams (channels from 1), the ended ones kept for resumption. */
  readonly channels = new Map<number, EventChannel>();
  /** The number of the next response stream. */
  nextChannel = 1;
  /** The `initialize` request's id until it is answered. */
  initializeKey: string | undefined;
  /** Set once the session is ended (DELETE, a failed initialize, shutdown). */
  ended = false;
  /** When it was last used (a counter of the front's requests). */
  lastUsed = 0;
  /** Bridged (shared peer): the `_meta` envelope its requests carry. */
  envelope: Record<string, unknown> | undefined;
  /** Bridged: the front's own id of each of its requests in flight, by the key of the client's id. */
  readonly ownIds = new Map<string, string>();
  /** Bridged: the front's own id of the listen held for it. */
  listenId: string | undefined;
  /** Bridged: the resource URIs its client subscribed to (its listen asks for their updates). */
  readonly subscriptions = new Set<string>();
  /** Bridged: `resources/subscribe` and `unsubscribe` answered once the new listen is acknowledged. */
  subscribing: { clientId: JsonRpcId; uri: string; subscribe: boolean }[] = [];
  /** Bridged: the front's own requests to its client (input a server asked for), by their ids. */
  readonly asks = new OwnRequests<string>();
  /** Bridged: its requests whose client is being asked for input, by the key of the client's id. */
  readonly awaitingInput = new Map<string, AbortController>();
  /** Bridged: the level its client set (`logging/setLevel`); the servers' log messages below it are not sent. */
  logLevel = "debug";

  /** Whether nothing of its client is open: no GET stream, no request waiting. */
  get idle(): boolean {
    return this.pending.size === 0 && !this.events.attached;
  }

  constructor(id: string, events: EventChannel) {
    this.id = id;
    this.events = events;
  }
}

/** A bridged session's request on the shared peer. */
interface BridgedRequest {
  session: LegacySession;
  /** The client's id, restored on the answer. */
  clientId: JsonRpcId;
  /** The client's progress token (the front's own id replaced it). */
  progressToken: string | number | undefined;
  /** Turns the answer into the one the client gets (initialize from discover). */
  reshape?: (answer: Record<string, unknown>) => Record<string, unknown>;
  /** The method and the client's params (for a retry with the input a server asks for). */
  method: string;
  params: Record<string, unknown> | undefined;
  /** Rounds of input asked so far (multi round-trip requests). */
  round: number;
}

/** A copy of `params` whose `_meta` has `extra` too. */
function withMeta(
  params: Record<string, unknown> | undefined,
  extra: Record<string, unknown> | undefined,
): Record<string, unknown> {
  const meta = params && isObject(params._meta) ? params._meta : {};
  return { ...params, _meta: { ...meta, ...extra } };
}

/** Tells 1 and "1" apart. */
function idKey(id: unknown): string {
  return `${typeof id}:${String(id)}`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A JSON response. */
function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(typeof body === "string" ? body : JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/** An HTTP error whose body is a JSON-RPC error response (no id unless given). */
function rpcError(
  status: number,
  code: number,
  message: string,
  headers: Record<string, string> = {},
  id: JsonRpcId | null = null,
): Response {
  return json(status, errorResponse(id, code, message), headers);
}

/** Decodes the spec's Base64 sentinel (`=?base64?…?=`); other values as they are. */
function decodeHeaderValue(value: string): string | undefined {
  const sentinel = /^=\?base64\?([A-Za-z0-9+/=]*)\?=$/.exec(value);
  if (!sentinel) return value;
  try {
    const bytes = Uint8Array.from(atob(sentinel[1]), (c) => c.charCodeAt(0));
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

/** Compares two strings in time that depends only on their lengths. */
function sameSecret(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    diff |= (a.charCodeAt(i) || 0) ^ (b.charCodeAt(i) || 0);
  }
  return diff === 0;
}

/** The media types of an `Accept` header, lower case, without parameters. */
function accepted(request: Request): string[] {
  const accept = request.headers.get("accept");
  if (accept === null) return ["*/*"];
  return accept.split(",").map((part) => part.split(";")[0].trim().toLowerCase());
}

/**
 * Serves MCP over Streamable HTTP on peers opened on demand. Give
 * {@linkcode HttpFront.handle} to the runtime's server; {@linkcode HttpFront.close}
 * ends every stream and stops every peer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const front = new HttpFront({
 *   hostname: "127.0.0.1",
 *   maxBodyBytes: 1 << 20,
 *   openPeer: (send) => ({
 *     handleClientLine(line) {
 *       const m = JSON.parse(line);
 *       if (m.id !== undefined) send(JSON.stringify({ jsonrpc: "2.0", id: m.id, result: {} }));
 *       return undefined;
 *     },
 *     close: () => Promise.resolve(),
 *   }),
 * });
 * const response = await front.handle(new Request("http://127.0.0.1/mcp", {
 *   method: "POST",
 *   headers: { "content-type": "application/json", accept: "application/json" },
 *   body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: {} }),
 * }));
 * assert.equal(response.status, 200);
 * assert.ok(response.headers.get("mcp-session-id"));
 * await front.close();
 * ```
 */
export class HttpFront {
  readonly #options: HttpFrontOptions;
  readonly #loopback: boolean;
  readonly #maxOpen: number;
  readonly #maxSessions: number;
  readonly #sessions = new Map<string, LegacySession>();
  /** The shared peer of modern requests, opened on the first one. */
  #modern: LinePeer | undefined;
  /** Modern requests in flight (listens included), by the front's own id. */
  readonly #modernPending = new Map<string, Exchange>();
  /** The next of the front's own ids for modern requests. */
  #nextModernId = 1;
  /** Bridged sessions' requests on the shared peer, by the front's own id. */
  readonly #bridged = new Map<string, BridgedRequest>();
  /** The listens held for bridged sessions, by the front's own id. */
  readonly #bridgedListens = new Map<string, LegacySession>();
  /** Counts requests, to order sessions by last use. */
  #uses = 0;
  /** The long-lived streams (GET streams, listens), kept alive by a comment now and then. */
  readonly #longLived = new Set<SseStream>();
  /** The keep-alive timer, while it runs. */
  #keepAlive: unknown;
  /** Open responses (SSE streams, listens, requests awaiting their answer). */
  #open = 0;
  #closed = false;

  /** Creates the front; nothing is opened until the first request. */
  constructor(options: HttpFrontOptions) {
    this.#options = options;
    this.#loopback = isLoopback(options.hostname);
    this.#maxOpen = options.maxOpen ?? DEFAULT_MAX_OPEN;
    this.#maxSessions = options.maxSessions ?? DEFAULT_MAX_SESSIONS;
  }

  /** Legacy sessions open now. */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** Responses open now (SSE streams, listens, requests awaiting their answer). */
  get openResponses(): number {
    return this.#open;
  }

  /** Handles one HTTP request (give this to {@linkcode Runtime.serve}). */
  readonly handle: HttpHandler = async (request) => {
    try {
      return await this.#handle(request);
    } catch (err) {
      this.#options.log?.warn(
        `HTTP ${request.method} failed: ${err instanceof Error ? err.stack ?? err.message : err}`,
      );
      return rpcError(500, ErrorCode.InternalError, "Internal error");
    }
  };

  /** Ends every stream and legacy session and stops every peer. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#keepAlive !== undefined) this.#clock.clearTimeout(this.#keepAlive);
    this.#keepAlive = undefined;
    const peers: LinePeer[] = [];
    for (const session of this.#sessions.values()) {
      session.ended = true;
      peers.push(session.peer);
    }
    if (this.#modern) peers.push(this.#modern);
    // The peers answer what they owe ("shutting down") while they close; the streams end after.
    await Promise.all(peers.map((p) => p.close().catch(() => {})));
    for (const session of this.#sessions.values()) this.#endSession(session, "mcpmon stopped");
    this.#sessions.clear();
    for (const exchange of this.#modernPending.values()) {
      exchange.finish(
        JSON.stringify(
          errorResponse(exchange.clientId, ErrorCode.ServerUnavailable, "mcpmon is shutting down"),
        ),
      );
    }
    this.#modernPending.clear();
  }

  async #handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname !== MCP_PATH) {
      return new Response(`Not Found: the MCP endpoint is ${MCP_PATH}\n`, { status: 404 });
    }
    this.#options.log?.debug(
      `HTTP ${request.method}${
        request.headers.has("mcp-session-id")
          ? ` (session ${request.headers.get("mcp-session-id")})`
          : ""
      }`,
    );
    const refusal = this.#guard(request);
    if (refusal) return refusal;
    if (this.#closed) return rpcError(503, ErrorCode.ServerUnavailable, "mcpmon is shutting down");
    switch (request.method) {
      case "POST":
        return await this.#post(request);
      case "GET":
        return this.#get(request);
      case "DELETE":
        return await this.#delete(request);
      default:
        return rpcError(
          405,
          ErrorCode.InvalidRequest,
          `Method Not Allowed: ${request.method} (the MCP endpoint takes POST, GET and DELETE)`,
          { allow: "POST, GET, DELETE" },
        );
    }
  }

  /** Host, Origin and token checks; a response when the request is refused. */
  #guard(request: Request): Response | undefined {
    const log = this.#options.log;
    if (this.#loopback) {
      const host = request.headers.get("host");
      const hostname = host === null ? undefined : hostOf(host);
      if (hostname !== undefined && !isLoopback(hostname)) {
        log?.warn(`refused a request for host ${host} (mcpmon serves loopback only)`);
        return rpcError(403, ErrorCode.InvalidRequest, `Forbidden: host ${host} is not served`);
      }
    }
    const origin = request.headers.get("origin");
    if (origin !== null && !this.#originAllowed(origin)) {
      log?.warn(`refused a request from origin ${origin}`);
      return rpcError(403, ErrorCode.InvalidRequest, `Forbidden: origin ${origin} is not allowed`);
    }
    const token = this.#options.token;
    if (token !== undefined) {
      const auth = request.headers.get("authorization") ?? "";
      const given = /^Bearer\s+(.+)$/i.exec(auth)?.[1]?.trim();
      if (given === undefined || !sameSecret(given, token)) {
        log?.warn("refused a request without the right bearer token");
        return rpcError(401, ErrorCode.InvalidRequest, "Unauthorized: a bearer token is required", {
          "www-authenticate": 'Bearer realm="mcpmon"',
        });
      }
    }
    return undefined;
  }

  /** Loopback origins, and the bound host's own when it is a named (non-wildcard) one. */
  #originAllowed(origin: string): boolean {
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return false;
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") return false;
    if (isLoopback(url.hostname)) return true;
    const bound = this.#options.hostname.toLowerCase();
    return bound !== "0.0.0.0" && bound !== "::" && url.hostname.toLowerCase() === bound;
  }

  // ── POST ─────────────────────────────────────────────────────────────────

  async #post(request: Request): Promise<Response> {
    const type = (request.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
    if (type !== "application/json") {
      return rpcError(
        415,
        ErrorCode.InvalidRequest,
        `Unsupported Media Type: the body must be application/json, not ${type || "untyped"}`,
      );
    }
    const accepts = accepted(request);
    const json = accepts.some((t) => t === "application/json" || t === "application/*");
    const sse = accepts.some((t) => t === "text/event-stream" || t === "text/*");
    const any = accepts.includes("*/*");
    if (!json && !sse && !any) {
      return rpcError(
        406,
        ErrorCode.InvalidRequest,
        "Not Acceptable: the client must accept application/json or text/event-stream",
      );
    }
    const body = await this.#readBody(request);
    if (body instanceof Response) return body;
    let message: unknown;
    try {
      message = JSON.parse(body);
    } catch (err) {
      return rpcError(
        400,
        ErrorCode.ParseError,
        `Parse error: ${err instanceof Error ? err.message : err}`,
      );
    }
    if (Array.isArray(message)) {
      return rpcError(
        400,
        ErrorCode.InvalidRequest,
        "Invalid Request: JSON-RPC batches are not supported over HTTP; send one message per POST",
      );
    }
    if (!isObject(message) || message.jsonrpc !== "2.0") {
      return rpcError(400, ErrorCode.InvalidRequest, "Invalid Request: not a JSON-RPC 2.0 message");
    }
    const mode = { json: json || any, sse };
    const sessionId = request.headers.get("mcp-session-id");
    // A 2026-07-28 request's Mcp-Session-Id is ignored, as that revision asks.
    const modernHeader = (request.headers.get("mcp-protocol-version") ?? "") >=
      MODERN_VERSION;
    if (sessionId !== null && !modernHeader) {
      return await this.#legacyPost(request, message, sessionId, mode);
    }
    if (message.method === "initialize" && !modernHeader) {
      return await this.#initialize(request, message, mode);
    }
    if (this.#isModern(request, message)) return await this.#modernPost(request, message, mode);
    return rpcError(
      400,
      ErrorCode.ServerUnavailable,
      "Bad Request: Mcp-Session-Id header is required (initialize first)",
    );
  }

  /** Reads the body, refusing one past the limit (by its Content-Length, or as it streams). */
  async #readBody(request: Request): Promise<string | Response> {
    const limit = this.#options.maxBodyBytes;
    const tooLarge = () =>
      rpcError(
        413,
        ErrorCode.InvalidRequest,
        `Payload Too Large: the body exceeds ${limit} bytes (mcpmon --max-message)`,
      );
    const length = Number(request.headers.get("content-length") ?? NaN);
    if (length > limit) return tooLarge();
    if (!request.body) return "";
    const chunks: Uint8Array[] = [];
    let size = 0;
    const reader = request.body.getReader();
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > limit) {
        await reader.cancel().catch(() => {});
        return tooLarge();
      }
      chunks.push(value);
    }
    const bytes = new Uint8Array(size);
    let offset = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, offset);
      offset += chunk.length;
    }
    return new TextDecoder().decode(bytes);
  }

  /** Whether a request without a session speaks the modern era (by header or `_meta`). */
  #isModern(request: Request, message: Record<string, unknown>): boolean {
    const header = request.headers.get("mcp-protocol-version");
    if (header !== null) return header >= MODERN_VERSION;
    const params = message.params;
    return isObject(params) && isObject(params._meta) && PROTOCOL_VERSION in params._meta;
  }

  get #clock(): Clock {
    return this.#options.clock ?? systemClock;
  }

  /** Keeps `stream` alive until it ends (a comment every {@linkcode HttpFrontOptions.keepAliveMs}). */
  #keepAliveStream(stream: SseStream) {
    const every = this.#options.keepAliveMs ?? DEFAULT_KEEP_ALIVE_MS;
    if (every <= 0) return;
    this.#longLived.add(stream);
    const arm = () => {
      if (this.#keepAlive !== undefined || this.#closed || this.#longLived.size === 0) return;
      this.#keepAlive = this.#clock.setTimeout(() => {
        this.#keepAlive = undefined;
        for (const s of this.#longLived) {
          if (s.closed) this.#longLived.delete(s);
          else s.comment();
        }
        arm();
      }, every);
    };
    arm();
  }

  /** Counts one more open response; false (and nothing counted) past the limit. */
  #reserve(): boolean {
    if (this.#open >= this.#maxOpen) return false;
    this.#open++;
    return true;
  }

  #release = () => {
    this.#open--;
  };

  #tooMany(): Response {
    this.#options.log?.warn(`refused a request: ${this.#maxOpen} responses are open already`);
    return rpcError(
      429,
      ErrorCode.ServerUnavailable,
      `Too Many Requests: ${this.#maxOpen} responses are open already`,
    );
  }

  // ── legacy sessions ──────────────────────────────────────────────────────

  async #initialize(
    request: Request,
    message: Record<string, unknown>,
    mode: { json: boolean; sse: boolean },
  ): Promise<Response> {
    if (message.id === undefined || message.id === null) {
      return rpcError(400, ErrorCode.InvalidRequest, "Invalid Request: initialize needs an id");
    }
    if (this.#sessions.size >= this.#maxSessions && !this.#evictIdleSession()) {
      this.#options.log?.warn(`refused a new session: ${this.#maxSessions} are open already`);
      return rpcError(
        503,
        ErrorCode.ServerUnavailable,
        `Service Unavailable: ${this.#maxSessions} sessions are open already${
          this.#options.sharedPeer ? "" : " (each runs a server)"
        }; end one with DELETE`,
      );
    }
    const id = this.#options.newSessionId?.() ?? crypto.randomUUID();
    const session = new LegacySession(
      id,
      new EventChannel(0, this.#replayEvents, () =>
        this.#options.log?.debug(
          `session ${id}: no GET stream; the oldest message kept for it dropped`,
        )),
    );
    session.initializeKey = idKey(message.id);
    session.lastUsed = ++this.#uses;
    session.peer = this.#options.sharedPeer
      ? this.#bridgePeer(session)
      : this.#options.openPeer((line) => this.#fromSessionPeer(session, line), {
        kind: "session",
        id,
      });
    this.#sessions.set(id, session);
    this.#options.log?.info(`HTTP session ${id} opened`);
    return await this.#legacyRequest(request, session, message, mode);
  }

  async #legacyPost(
    request: Request,
    message: Record<string, unknown>,
    sessionId: string,
    mode: { json: boolean; sse: boolean },
  ): Promise<Response> {
    const session = this.#sessions.get(sessionId);
    if (!session) {
      return rpcError(404, -32001, "Session not found (it ended, or mcpmon was restarted)");
    }
    session.lastUsed = ++this.#uses;
    if (message.method === "initialize") {
      return rpcError(
        400,
        ErrorCode.InvalidRequest,
        "Invalid Request: this session is initialized already",
      );
    }
    if (typeof message.method === "string" && message.id !== undefined) {
      return await this.#legacyRequest(request, session, message, mode);
    }
    // A notification, or the client's answer to a request of the server's: accepted.
    await session.peer.handleClientLine(JSON.stringify(message));
    return new Response(null, { status: 202, headers: { "mcp-session-id": session.id } });
  }

  async #legacyRequest(
    request: Request,
    session: LegacySession,
    message: Record<string, unknown>,
    mode: { json: boolean; sse: boolean },
  ): Promise<Response> {
    const key = idKey(message.id);
    if (session.pending.has(key)) {
      return rpcError(
        400,
        ErrorCode.InvalidRequest,
        `Invalid Request: a request with id ${JSON.stringify(message.id)} is in flight already`,
      );
    }
    if (!this.#reserve()) return this.#tooMany();
    const token = progressTokenOf(message);
    const streamed = mode.sse && (!mode.json || token !== undefined);
    const headers = { "mcp-session-id": session.id };
    // A streamed answer goes on a resumable channel: a client whose connection breaks before the
    // answer GETs the rest with Last-Event-ID (the request stays pending meanwhile).
    const channel = streamed ? this.#openChannel(session) : undefined;
    let sse: SseStream | undefined;
    if (channel) {
      const stream: SseStream = new SseStream(request.signal, () => {
        this.#release();
        if (channel.stream === stream) channel.stream = undefined;
      }, headers);
      sse = stream;
      if ((request.headers.get("mcp-protocol-version") ?? "") >= PRIMING_VERSION) {
        stream.prime(channel.id(0));
      }
      channel.attach(stream, 0);
    }
    const exchange = new Exchange(message.id as JsonRpcId, channel);
    exchange.progressToken = token;
    session.pending.set(key, exchange);
    if (channel && token !== undefined) session.progress.set(idKey(token), exchange);
    const wait = session.peer.handleClientLine(JSON.stringify(message));
    if (sse) {
      await wait;
      return sse.response;
    }
    // Legacy: a client that goes away has not cancelled (it says so with notifications/cancelled).
    const answer = await untilAborted(exchange.answer!, request.signal);
    this.#release();
    if (answer === undefined) {
      return new Response(null, { status: 499 });
    }
    return json(200, answer, headers);
  }

  #fromSessionPeer(session: LegacySession, line: string): void {
    let message: JsonRpcMessage;
    try {
      message = JSON.parse(line);
    } catch {
      this.#options.log?.debug(`session ${session.id}: unparsable line from the server dropped`);
      return;
    }
    if (!isObject(message)) return;
    if (message.method === undefined && message.id !== undefined && message.id !== null) {
      const key = idKey(message.id);
      const exchange = session.pending.get(key);
      if (!exchange) {
        this.#options.log?.debug(
          `session ${session.id}: an answer to ${key}, which nobody waits for, dropped`,
        );
        return;
      }
      session.pending.delete(key);
      if (exchange.progressToken !== undefined) {
        session.progress.delete(idKey(exchange.progressToken));
      }
      if (key === session.initializeKey) {
        session.initializeKey = undefined;
        if (message.error !== undefined) {
          // No session without a successful initialize.
          exchange.finish(line);
          this.#endSession(session, "its initialize failed");
          session.peer.close().catch(() => {});
          return;
        }
      }
      exchange.finish(line);
      return;
    }
    if (message.method === "notifications/progress" && isObject(message.params)) {
      const exchange = session.progress.get(idKey(message.params.progressToken));
      if (exchange && !exchange.done) return exchange.notify(line);
    }
    session.events.send(line); // on the GET stream, or kept until one opens
  }

  /** A new response stream of `session`; the oldest ended ones past the number kept go. */
  #openChannel(session: LegacySession): EventChannel {
    const channel = new EventChannel(session.nextChannel++, this.#replayEvents);
    let ended = 0;
    for (const c of session.channels.values()) if (c.closed) ended++;
    for (const [no, c] of session.channels) {
      if (ended <= ENDED_STREAMS_KEPT - 1) break;
      if (c.closed) {
        session.channels.delete(no);
        ended--;
      }
    }
    session.channels.set(channel.no, channel);
    return channel;
  }

  get #replayEvents(): number {
    return this.#options.replayEvents ?? DEFAULT_REPLAY_EVENTS;
  }

  #get(request: Request): Response {
    const sessionId = request.headers.get("mcp-session-id");
    if (sessionId === null) {
      return rpcError(
        405,
        ErrorCode.InvalidRequest,
        "Method Not Allowed: GET needs an Mcp-Session-Id (2026-07-28 clients use subscriptions/listen)",
        { allow: "POST" },
      );
    }
    const session = this.#sessions.get(sessionId);
    if (!session) return rpcError(404, -32001, "Session not found");
    const accepts = accepted(request);
    if (!accepts.some((t) => t === "text/event-stream" || t === "text/*" || t === "*/*")) {
      return rpcError(
        406,
        ErrorCode.InvalidRequest,
        "Not Acceptable: GET serves text/event-stream",
      );
    }
    // Resumption (2025-03-26 … 2025-11-25): the events of one stream after the one named.
    let channel: EventChannel | undefined = session.events;
    let after = session.events.delivered;
    const lastEventId = request.headers.get("last-event-id");
    if (lastEventId !== null) {
      const match = /^(\d{1,15}):(\d{1,15})$/.exec(lastEventId.trim());
      const no = match ? Number(match[1]) : NaN;
      channel = no === 0 ? session.events : session.channels.get(no);
      after = match ? Number(match[2]) : NaN;
      if (!channel || !channel.canResume(after)) {
        this.#options.log?.debug(`HTTP session ${session.id}: cannot resume after ${lastEventId}`);
        return rpcError(
          400,
          -32000,
          `Bad Request: Last-Event-ID ${JSON.stringify(lastEventId)} names no event kept for ` +
            `this session (mcpmon keeps the last ${this.#replayEvents} events of each stream, ` +
            `and the last ${ENDED_STREAMS_KEPT} ended response streams)`,
        );
      }
    }
    if (channel.attached) {
      if (lastEventId === null) {
        return rpcError(
          409,
          ErrorCode.InvalidRequest,
          "Conflict: this session's GET stream is open",
        );
      }
      // A client resuming may be quicker than the news that its old connection broke: the new
      // response takes the stream over (the old one ends, so no message goes on both).
      this.#options.log?.debug(`HTTP session ${session.id}: stream ${channel.no} taken over`);
      channel.stream!.close();
    }
    if (!this.#reserve()) return this.#tooMany();
    session.lastUsed = ++this.#uses;
    const resumed = channel;
    const stream: SseStream = new SseStream(request.signal, () => {
      this.#options.log?.debug(`HTTP session ${session.id}: stream ${resumed.no} closed`);
      this.#release();
      this.#longLived.delete(stream);
      if (resumed.stream === stream) resumed.stream = undefined;
    }, { "mcp-session-id": session.id });
    this.#keepAliveStream(stream);
    channel.attach(stream, after);
    return stream.response;
  }

  async #delete(request: Request): Promise<Response> {
    const sessionId = request.headers.get("mcp-session-id");
    if (sessionId === null) {
      return rpcError(
        405,
        ErrorCode.InvalidRequest,
        "Method Not Allowed: DELETE needs an Mcp-Session-Id",
        {
          allow: "POST",
        },
      );
    }
    const session = this.#sessions.get(sessionId);
    if (!session) return rpcError(404, -32001, "Session not found");
    this.#sessions.delete(sessionId);
    session.ended = true;
    this.#options.log?.info(`HTTP session ${session.id} ended by the client`);
    await session.peer.close().catch(() => {});
    this.#endSession(session, "the session ended");
    return new Response(null, { status: 200 });
  }

  /**
   * Makes room for a new session by ending the least recently used idle one
   * (clients often go away without DELETE); false when every session is busy.
   */
  #evictIdleSession(): boolean {
    let oldest: LegacySession | undefined;
    for (const session of this.#sessions.values()) {
      if (session.idle && (!oldest || session.lastUsed < oldest.lastUsed)) oldest = session;
    }
    if (!oldest) return false;
    this.#options.log?.info(
      `HTTP session ${oldest.id} ended to make room for a new one (the least recently used ` +
        `of ${this.#maxSessions}, with no request or stream open)`,
    );
    this.#endSession(oldest, "the session ended to make room for a new one");
    oldest.peer.close().catch(() => {});
    return true;
  }

  /** Ends a session's streams; what still waits gets an error. */
  #endSession(session: LegacySession, why: string) {
    session.ended = true;
    this.#sessions.delete(session.id);
    for (const exchange of session.pending.values()) {
      exchange.finish(
        JSON.stringify(errorResponse(exchange.clientId, ErrorCode.ServerUnavailable, why)),
      );
    }
    session.pending.clear();
    session.progress.clear();
    session.events.close();
    for (const channel of session.channels.values()) channel.close();
  }

  // ── legacy sessions bridged onto the shared peer (gateway) ──────────────

  /** A session's peer that is no process of its own: its messages go to the shared peer. */
  #bridgePeer(session: LegacySession): LinePeer {
    return {
      handleClientLine: (line) => this.#toBridge(session, line),
      close: () => {
        this.#closeBridge(session);
        return Promise.resolve();
      },
    };
  }

  /** A bridged session's message, in the modern era on the shared peer. */
  #toBridge(session: LegacySession, line: string): Promise<void> | undefined {
    const message = JSON.parse(line) as Record<string, unknown>; // the front's own text
    const params = isObject(message.params) ? message.params : undefined;
    if (typeof message.method !== "string") {
      // The client's answer to a request of the front's own (input a server asked for).
      session.asks.answer(String(message.id), message as unknown as JsonRpcMessage);
      return undefined;
    }
    if (message.id === undefined) {
      if (message.method === "notifications/initialized") return undefined; // 2025 only
      if (message.method === "notifications/cancelled") {
        const waiting = session.awaitingInput.get(idKey(params?.requestId));
        if (waiting) {
          session.awaitingInput.delete(idKey(params?.requestId));
          waiting.abort(); // between rounds: nothing to cancel on the shared peer
          return undefined;
        }
        const own = session.ownIds.get(idKey(params?.requestId));
        if (own === undefined) return undefined;
        return this.#modernPeer().handleClientLine(JSON.stringify({
          ...message,
          params: { ...params, requestId: own },
        }));
      }
      return this.#modernPeer().handleClientLine(JSON.stringify({
        ...message,
        params: withMeta(params, session.envelope),
      }));
    }
    const clientId = message.id as JsonRpcId;
    if (message.method === "initialize") {
      const asked = params ?? {};
      session.envelope = {
        [PROTOCOL_VERSION]: MODERN_VERSION,
        [CLIENT_INFO]: isObject(asked.clientInfo)
          ? asked.clientInfo
          : { name: "unknown", version: "0" },
        [CLIENT_CAPABILITIES]: isObject(asked.capabilities) ? asked.capabilities : {},
      };
      const version = typeof asked.protocolVersion === "string" &&
          asked.protocolVersion < MODERN_VERSION
        ? asked.protocolVersion
        : LATEST_LEGACY_VERSION;
      return this.#bridgeRequest(session, clientId, "server/discover", {}, (answer) => {
        if (!isObject(answer.result)) return answer;
        const discovered = answer.result;
        const meta = isObject(discovered._meta) ? discovered._meta : {};
        if (session.listenId === undefined) this.#bridgeListen(session);
        const capabilities = isObject(discovered.capabilities)
          ? { ...discovered.capabilities }
          : {};
        return {
          jsonrpc: "2.0",
          id: answer.id,
          result: {
            protocolVersion: version,
            capabilities,
            serverInfo: isObject(meta[SERVER_INFO])
              ? meta[SERVER_INFO]
              : { name: "mcpmon", version: "0" },
            ...(typeof discovered.instructions === "string"
              ? { instructions: discovered.instructions }
              : {}),
          },
        };
      });
    }
    if (message.method === "logging/setLevel") {
      // The shared servers keep their level; the session's filters what it is sent.
      if (typeof params?.level === "string" && LOG_LEVELS.includes(params.level)) {
        session.logLevel = params.level;
      }
      this.#fromSessionPeer(session, JSON.stringify({ jsonrpc: "2.0", id: clientId, result: {} }));
      return undefined;
    }
    if (message.method === "resources/subscribe" || message.method === "resources/unsubscribe") {
      // The session's listen carries its subscriptions: a new one with the new set replaces it.
      const uri = params?.uri;
      if (typeof uri !== "string") {
        this.#fromSessionPeer(
          session,
          JSON.stringify(
            errorResponse(clientId, ErrorCode.InvalidParams, "params.uri must be a string"),
          ),
        );
        return undefined;
      }
      const subscribe = message.method === "resources/subscribe";
      if (subscribe) session.subscriptions.add(uri);
      else session.subscriptions.delete(uri);
      session.subscribing.push({ clientId, uri, subscribe });
      this.#bridgeListen(session);
      return undefined;
    }
    return this.#bridgeRequest(session, clientId, message.method, params);
  }

  /** Sends a bridged session's request to the shared peer under an id of the front's own. */
  #bridgeRequest(
    session: LegacySession,
    clientId: JsonRpcId,
    method: string,
    params: Record<string, unknown> | undefined,
    reshape?: (answer: Record<string, unknown>) => Record<string, unknown>,
    round = 0,
  ): Promise<void> | undefined {
    const own = `mcpmon-http-${this.#nextModernId++}`;
    const forwarded = {
      jsonrpc: "2.0",
      id: own,
      method,
      params: withMeta(params, session.envelope),
    };
    const meta = forwarded.params._meta as Record<string, unknown>;
    const token = meta.progressToken;
    if (typeof token === "string" || typeof token === "number") meta.progressToken = own;
    this.#bridged.set(own, {
      session,
      clientId,
      progressToken: typeof token === "string" || typeof token === "number" ? token : undefined,
      reshape,
      method,
      params,
      round,
    });
    session.ownIds.set(idKey(clientId), own);
    return this.#modernPeer().handleClientLine(JSON.stringify(forwarded));
  }

  /**
   * A shared server asked a bridged session's request for input (a 2025
   * client cannot read `input_required`): the front asks the client each
   * embedded request on the request's own stream, then sends the request
   * again with the answers (`src/mrtr.ts`), or answers with the failure.
   */
  #fulfil(request: BridgedRequest, result: Record<string, unknown>) {
    const { session, clientId, method } = request;
    const key = idKey(clientId);
    const abort = new AbortController();
    session.awaitingInput.set(key, abort);
    const capabilities = session.envelope?.[CLIENT_CAPABILITIES];
    fulfilInputRequired(method, request.params, result, request.round + 1, {
      capabilities: isObject(capabilities) ? capabilities : undefined,
      ask: (kind, asked) => this.#askClient(session, clientId, kind, asked, abort.signal),
      signal: abort.signal,
    }).then((round) => {
      if (abort.signal.aborted || session.ended) return;
      session.awaitingInput.delete(key);
      if ("failure" in round) {
        this.#options.log?.info(`${method}: ${round.failure}`);
        this.#fromSessionPeer(
          session,
          JSON.stringify(inputFailure(clientId, method, round.failure)),
        );
        return;
      }
      this.#bridgeRequest(session, clientId, method, round.params, undefined, request.round + 1);
    });
  }

  /** Sends a bridged session's client a request of the front's own; resolves with its answer. */
  #askClient(
    session: LegacySession,
    clientId: JsonRpcId,
    method: string,
    params: Record<string, unknown> | undefined,
    signal: AbortSignal,
  ): Promise<JsonRpcMessage> {
    const id = `mcpmon-ask-${this.#nextModernId++}`;
    return session.asks.ask(id, method, params, (request) => {
      const line = JSON.stringify(request);
      // On the request's own stream when it is one, else on the GET stream (a JSON answer has none).
      const exchange = session.pending.get(idKey(clientId));
      if (exchange?.sse && !exchange.done) exchange.notify(line);
      else session.events.send(line);
    }, signal);
  }

  /**
   * Holds a listen for a bridged session: the list changes of the shared peer
   * reach it, and updates of the resources it subscribed to. A listen's filter
   * is fixed, so when the subscriptions change a new one replaces it (opened
   * first, then the old one cancelled: no change falls between them).
   */
  #bridgeListen(session: LegacySession) {
    if (session.ended) return;
    const previous = session.listenId;
    const own = `mcpmon-http-${this.#nextModernId++}`;
    session.listenId = own;
    this.#bridgedListens.set(own, session);
    const params = listenToAllLists(session.envelope);
    const notifications: Record<string, unknown> = params.notifications;
    if (session.subscriptions.size > 0) {
      notifications.resourceSubscriptions = [...session.subscriptions];
    }
    this.#modernPeer().handleClientLine(JSON.stringify({
      jsonrpc: "2.0",
      id: own,
      method: "subscriptions/listen",
      params,
    }));
    if (previous === undefined) return;
    this.#bridgedListens.delete(previous);
    this.#modernPeer().handleClientLine(JSON.stringify({
      jsonrpc: "2.0",
      method: "notifications/cancelled",
      params: { requestId: previous, reason: "the session's resource subscriptions changed" },
    }));
  }

  /**
   * A bridged session's listen was acknowledged: its waiting `resources/subscribe`
   * get `{}` when the gateway honors the URI (a server offers it and can tell its
   * updates), else an error saying so; `unsubscribe` always gets `{}`.
   */
  #subscribed(session: LegacySession, params: Record<string, unknown> | undefined) {
    const filter = isObject(params?.notifications) ? params.notifications : {};
    const honored = new Set(
      Array.isArray(filter.resourceSubscriptions) ? filter.resourceSubscriptions : [],
    );
    const waiting = session.subscribing;
    session.subscribing = [];
    for (const { clientId, uri, subscribe } of waiting) {
      if (!subscribe || honored.has(uri)) {
        this.#fromSessionPeer(
          session,
          JSON.stringify({ jsonrpc: "2.0", id: clientId, result: {} }),
        );
        continue;
      }
      session.subscriptions.delete(uri);
      this.#fromSessionPeer(
        session,
        JSON.stringify(errorResponse(
          clientId,
          ErrorCode.InvalidParams,
          `Unknown resource: ${uri} (no server offers it, or its server cannot tell its updates)`,
        )),
      );
    }
  }

  /** Ends what the shared peer holds for a bridged session: its listen and requests. */
  #closeBridge(session: LegacySession) {
    for (const waiting of session.awaitingInput.values()) waiting.abort();
    session.awaitingInput.clear();
    const owns = [...session.ownIds.values()];
    if (session.listenId !== undefined) owns.push(session.listenId);
    session.ownIds.clear();
    if (session.listenId !== undefined) this.#bridgedListens.delete(session.listenId);
    session.listenId = undefined;
    for (const own of owns) {
      this.#bridged.delete(own);
      if (this.#closed || !this.#modern) continue;
      this.#modern.handleClientLine(JSON.stringify({
        jsonrpc: "2.0",
        method: "notifications/cancelled",
        params: { requestId: own, reason: "the HTTP session ended" },
      }));
    }
  }

  /**
   * A message of the shared peer for a bridged session (an answer, its
   * listen's notifications, its progress); false when it is none of theirs.
   */
  #toBridgedSession(
    message: Record<string, unknown>,
    params: Record<string, unknown> | undefined,
  ): boolean {
    if (message.method === undefined && message.id !== undefined && message.id !== null) {
      const own = String(message.id);
      if (this.#bridgedListens.has(own)) return true; // the listen ended (the server stops)
      const request = this.#bridged.get(own);
      if (!request) return false;
      this.#bridged.delete(own);
      const { session } = request;
      session.ownIds.delete(idKey(request.clientId));
      if (isInputRequired(request.method, message.result) && !session.ended) {
        this.#fulfil(request, message.result as Record<string, unknown>);
        return true;
      }
      let answer: Record<string, unknown> = { ...message, id: request.clientId };
      if (request.reshape) answer = request.reshape(answer);
      else if (isObject(answer.result)) answer.result = legacyResult(answer.result);
      if (!session.ended) this.#fromSessionPeer(session, JSON.stringify(answer));
      return true;
    }
    const meta = params && isObject(params._meta) ? params._meta : undefined;
    const subscription = meta?.[SUBSCRIPTION_ID];
    if (subscription !== undefined) {
      const session = this.#bridgedListens.get(String(subscription));
      if (!session) return false;
      if (message.method === "notifications/subscriptions/acknowledged") {
        if (String(subscription) === session.listenId) this.#subscribed(session, params);
        return true;
      }
      delete meta![SUBSCRIPTION_ID];
      if (Object.keys(meta!).length === 0) delete params!._meta;
      if (!session.ended) this.#fromSessionPeer(session, JSON.stringify(message));
      return true;
    }
    if (
      message.method === "notifications/message" && params && this.#bridgedListens.size > 0
    ) {
      // A 2025 server's log message (untagged): every bridged session whose level it passes.
      const level = LOG_LEVELS.indexOf(String(params.level));
      for (const session of this.#bridgedListens.values()) {
        if (!session.ended && level >= LOG_LEVELS.indexOf(session.logLevel)) {
          this.#fromSessionPeer(session, JSON.stringify(message));
        }
      }
      return true;
    }
    if (message.method === "notifications/progress" && params) {
      const request = this.#bridged.get(String(params.progressToken));
      if (!request || request.progressToken === undefined) return false;
      params.progressToken = request.progressToken;
      if (!request.session.ended) this.#fromSessionPeer(request.session, JSON.stringify(message));
      return true;
    }
    return false;
  }

  // ── modern (2026-07-28) ──────────────────────────────────────────────────

  /** The header checks of the 2026-07-28 spec; a 400 `HeaderMismatch` when one fails. */
  #checkHeaders(request: Request, message: Record<string, unknown>): Response | undefined {
    const mismatch = (detail: string) =>
      rpcError(
        400,
        HEADER_MISMATCH,
        `Header mismatch: ${detail}`,
        {},
        typeof message.id === "string" || typeof message.id === "number" ? message.id : null,
      );
    const version = request.headers.get("mcp-protocol-version");
    if (version === null) return mismatch("the MCP-Protocol-Version header is required");
    const params = isObject(message.params) ? message.params : {};
    const meta = isObject(params._meta) ? params._meta : {};
    if (meta[PROTOCOL_VERSION] !== undefined && meta[PROTOCOL_VERSION] !== version) {
      return mismatch(
        `MCP-Protocol-Version header value '${version}' does not match body value '${
          String(meta[PROTOCOL_VERSION])
        }'`,
      );
    }
    if (message.id === undefined) return undefined; // notifications: no header rules
    const method = request.headers.get("mcp-method");
    if (method === null) return mismatch("the Mcp-Method header is required");
    if (method !== message.method) {
      return mismatch(
        `Mcp-Method header value '${method}' does not match body value '${String(message.method)}'`,
      );
    }
    const field = NAMED.get(method);
    if (field === undefined) return undefined;
    const raw = request.headers.get("mcp-name");
    if (raw === null) return mismatch(`the Mcp-Name header is required for ${method}`);
    const name = decodeHeaderValue(raw);
    if (name === undefined) return mismatch("the Mcp-Name header is not valid Base64 UTF-8");
    if (name !== params[field]) {
      return mismatch(
        `Mcp-Name header value '${name}' does not match body value '${String(params[field])}'`,
      );
    }
    return undefined;
  }

  #modernPeer(): LinePeer {
    return this.#modern ??= this.#options.openPeer(
      (line) => this.#fromModernPeer(line),
      { kind: "modern" },
    );
  }

  async #modernPost(
    request: Request,
    message: Record<string, unknown>,
    mode: { json: boolean; sse: boolean },
  ): Promise<Response> {
    const refusal = this.#checkHeaders(request, message);
    if (refusal) return refusal;
    if (typeof message.method !== "string") {
      return rpcError(
        400,
        ErrorCode.InvalidRequest,
        "Invalid Request: a 2026-07-28 client sends requests and notifications only",
      );
    }
    // The revision mcpmon implements is the one it serves: another (a future one) gets the
    // spec's UnsupportedProtocolVersion error with 400 here, before it reaches the shared peer.
    const version = request.headers.get("mcp-protocol-version")!;
    if (version !== MODERN_VERSION) {
      return json(
        400,
        errorResponse(
          typeof message.id === "string" || typeof message.id === "number" ? message.id : null,
          ErrorCode.UnsupportedProtocolVersion,
          `Unsupported protocol version: ${version}`,
          { supported: [MODERN_VERSION], requested: version },
        ),
      );
    }
    if (message.id === undefined) {
      await this.#modernPeer().handleClientLine(JSON.stringify(message));
      return new Response(null, { status: 202 });
    }
    if (typeof message.id !== "string" && typeof message.id !== "number") {
      return rpcError(
        400,
        ErrorCode.InvalidRequest,
        "Invalid Request: the id must be a string or number",
      );
    }
    // A request missing the envelope's required fields is malformed (-32602 with 400, as the
    // 2026-07-28 spec asks); answered here, it never reaches the shared peer, where a server
    // that pins its era per connection (the v2 SDK's stdio entry) would take it for 2025 traffic.
    const meta = isObject(message.params) ? message.params._meta : undefined;
    const missing = !isObject(meta)
      ? "_meta"
      : typeof meta[PROTOCOL_VERSION] !== "string"
      ? PROTOCOL_VERSION
      : !isObject(meta[CLIENT_CAPABILITIES])
      ? CLIENT_CAPABILITIES
      : undefined;
    if (message.method === "initialize") {
      // Removed in 2026-07-28: the spec's answer for a method the server does not implement.
      return rpcError(
        404,
        ErrorCode.MethodNotFound,
        `Method not found: initialize does not exist in MCP ${version}`,
        {},
        message.id,
      );
    }
    if (missing !== undefined) {
      return rpcError(
        400,
        ErrorCode.InvalidParams,
        `Invalid params: a 2026-07-28 request needs ${missing} in its _meta envelope`,
        {},
        message.id,
      );
    }
    if (!this.#reserve()) return this.#tooMany();
    const own = `mcpmon-http-${this.#nextModernId++}`;
    const listen = message.method === "subscriptions/listen";
    const token = progressTokenOf(message);
    const streamed = listen || (mode.sse && (!mode.json || token !== undefined));
    let answered = false;
    const sse = streamed
      ? new SseStream(request.signal, () => {
        this.#release();
        if (this.#modernPending.delete(own) && !answered) this.#cancelModern(own);
      })
      : undefined;
    const exchange = new Exchange(message.id, sse);
    this.#modernPending.set(own, exchange);
    if (listen && sse) this.#keepAliveStream(sse);
    const forwarded = structuredClone(message);
    forwarded.id = own;
    if (token !== undefined) {
      exchange.progressToken = token;
      const meta = (forwarded.params as Record<string, Record<string, unknown>>)._meta;
      meta.progressToken = own;
    }
    const peer = this.#modernPeer();
    const wait = peer.handleClientLine(JSON.stringify(forwarded));
    if (sse) {
      await wait;
      return sse.response;
    }
    const answer = await untilAborted(exchange.answer!, request.signal);
    answered = answer !== undefined;
    this.#release();
    if (answer === undefined) {
      // Closing the response is the cancellation of its request (2026-07-28).
      if (this.#modernPending.delete(own)) this.#cancelModern(own);
      return new Response(null, { status: 499 });
    }
    return json(modernStatus(answer), answer);
  }

  /** Tells the peer a request is cancelled (its client closed the response). */
  #cancelModern(own: string) {
    if (this.#closed) return;
    this.#modern?.handleClientLine(JSON.stringify({
      jsonrpc: "2.0",
      method: "notifications/cancelled",
      params: { requestId: own, reason: "the HTTP client closed the response" },
    }));
  }

  #fromModernPeer(line: string): void {
    let message: JsonRpcMessage & Record<string, unknown>;
    try {
      message = JSON.parse(line);
    } catch {
      this.#options.log?.debug("an unparsable line from the server dropped");
      return;
    }
    if (!isObject(message)) return;
    const params = isObject(message.params) ? message.params : undefined;
    const result = isObject(message.result) ? message.result : undefined;
    if (this.#toBridgedSession(message, params)) return;
    if (message.method === undefined && message.id !== undefined && message.id !== null) {
      const own = String(message.id);
      const exchange = this.#modernPending.get(own);
      if (!exchange) {
        this.#options.log?.debug(`an answer to ${own}, which nobody waits for, dropped`);
        return;
      }
      this.#modernPending.delete(own);
      message.id = exchange.clientId;
      const meta = result && isObject(result._meta) ? result._meta : undefined;
      if (meta && meta[SUBSCRIPTION_ID] === own) meta[SUBSCRIPTION_ID] = exchange.clientId;
      exchange.finish(JSON.stringify(message));
      return;
    }
    if (message.method !== undefined && message.id !== undefined && message.id !== null) {
      // A request of the server's: 2026-07-28 servers embed them in results (MRTR); over HTTP
      // there is nobody to ask, so it is answered at once (never left hanging).
      this.#options.log?.debug(`the server's ${message.method} request refused (no channel)`);
      this.#modern?.handleClientLine(JSON.stringify(errorResponse(
        message.id,
        ErrorCode.MethodNotFound,
        `${message.method} cannot reach a 2026-07-28 HTTP client outside a result`,
      )));
      return;
    }
    const meta = params && isObject(params._meta) ? params._meta : undefined;
    const subscription = meta?.[SUBSCRIPTION_ID];
    if (subscription !== undefined) {
      const exchange = this.#modernPending.get(String(subscription));
      if (exchange) {
        meta![SUBSCRIPTION_ID] = exchange.clientId;
        return exchange.notify(JSON.stringify(message));
      }
    }
    if (message.method === "notifications/progress" && params) {
      const exchange = this.#modernPending.get(String(params.progressToken));
      if (exchange && exchange.progressToken !== undefined) {
        params.progressToken = exchange.progressToken;
        return exchange.notify(JSON.stringify(message));
      }
    }
    this.#options.log?.debug(`${message.method ?? "a message"} for nobody dropped`);
  }
}

/** JSON-RPC errors the 2026-07-28 transport answers with an HTTP status of their own. */
const MODERN_ERROR_STATUS: ReadonlyMap<number, number> = new Map([
  [ErrorCode.MethodNotFound, 404],
  [HEADER_MISMATCH, 400],
  [-32021, 400], // MissingRequiredClientCapability
  [-32022, 400], // UnsupportedProtocolVersion
]);

/** The HTTP status of a 2026-07-28 JSON answer: 200, or the spec's for some errors. */
function modernStatus(answer: string): number {
  if (!answer.includes('"error"')) return 200;
  try {
    const code = JSON.parse(answer)?.error?.code;
    return MODERN_ERROR_STATUS.get(code) ?? 200;
  } catch {
    return 200;
  }
}

/** The host name of a `Host` header value (`name:port`, `[v6]:port`). */
function hostOf(host: string): string {
  const trimmed = host.trim();
  if (trimmed.startsWith("[")) return trimmed.slice(0, trimmed.indexOf("]") + 1);
  return trimmed.replace(/:\d*$/, "");
}

/** `promise`'s value, or undefined once `signal` aborts first (its listener removed either way). */
async function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  let onAbort = () => {};
  const aborted = new Promise<undefined>((resolve) => {
    onAbort = () => resolve(undefined);
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([promise, aborted]);
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

/** The request's `_meta.progressToken`, when it has one. */
function progressTokenOf(message: Record<string, unknown>): string | number | undefined {
  const params = message.params;
  if (!isObject(params) || !isObject(params._meta)) return undefined;
  const token = params._meta.progressToken;
  return typeof token === "string" || typeof token === "number" ? token : undefined;
}
