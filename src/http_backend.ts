/**
 * Servers reached over Streamable HTTP (`--url`, a gateway entry's `url:`),
 * made to look like a stdio server, so the router and the generations work
 * unchanged: {@linkcode httpChild} gives a {@linkcode ChildProcess} whose
 * stdin takes newline-delimited JSON-RPC and POSTs each message to the URL,
 * and whose stdout carries, one line each, the JSON responses and the `data:`
 * events of SSE responses (and of the legacy GET stream).
 *
 * - **The process.** With a command, it is spawned as usual (its own process
 *   group, the watchdog, signals go to the group); its stdout and stderr are
 *   both logs and make up the child's stderr. Without a command there is no
 *   process: the connection is all there is, and stopping it ends the session
 *   (`DELETE`).
 * - **Waiting for the port.** Until the server has answered once, a refused
 *   connection is retried with a short backoff for `connectTimeoutMs` (less a
 *   margin, so the answer beats the caller's own timer); then each waiting
 *   request is answered with an error naming the URL and the last lines the
 *   server wrote.
 * - **Legacy era (2025-11-25).** The `Mcp-Session-Id` of the `initialize`
 *   response and the negotiated `MCP-Protocol-Version` go on every later
 *   request; after `notifications/initialized` the GET stream is opened for
 *   server-initiated messages (a `405` means the server has none); responses
 *   to the server's requests are POSTed like any message.
 * - **Modern era (2026-07-28).** Requests carry `MCP-Protocol-Version` (from
 *   their `_meta`), `Mcp-Method`, `Mcp-Name` for `tools/call`, `prompts/get`,
 *   `resources/read` and `tasks/*`, and `Mcp-Param-*` for the arguments a
 *   tool's schema marks with `x-mcp-header` (learnt from the `tools/list`
 *   answers that pass); values that are not plain ASCII are Base64
 *   sentinel-encoded. A `subscriptions/listen` is a long SSE response whose
 *   events become lines; `notifications/cancelled` closes the cancelled
 *   request's stream instead of being POSTed.
 * - **Cancelling (2025).** The notification is POSTed, then the request's
 *   stream is closed.
 * - **Losing the server.** After the server has answered once, a refused or
 *   reset connection, or a `404` on the session id, ends the connection: with
 *   no command the "process" exits (its {@linkcode ExitStatus} has a
 *   `reason`), with a command its stdout fails, so the generation is stopped
 *   as broken. Either way the backend's crash path restarts and replays.
 * - **Broken streams (2025 era).** An SSE answer that ends or breaks before
 *   its response while the server is there, after events with ids, is
 *   resumed with a GET and `Last-Event-ID` after the server's `retry:` time
 *   (the v1 SDK's `closeSSEStream` polling); the GET stream reopens from its
 *   last event id. The 2026-07-28 transport has no resumption.
 * - **A taken port.** {@linkcode checkPortFree}, which the backend calls
 *   before starting a command, tells an old instance holding the URL's port
 *   (an error at first start) from a port still being let go (a restart
 *   waits for it).
 * - **Credentials.** The configured headers (`--header`, `headers:`) go on
 *   every request; their values are replaced by `[redacted]` in every line
 *   mcpmon writes and every error it answers with. A `401`/`403` answers the
 *   request with an error naming the URL, the status and the essentials of
 *   the `WWW-Authenticate` challenge (logged once per status), and is not
 *   retried.
 * - **Every request gets exactly one answer.** An HTTP error, a body that is
 *   not JSON-RPC, a response over `maxMessageBytes`, or a stream that ends
 *   without the response is answered with a JSON-RPC error for that request;
 *   a request in flight when the connection ends is answered by the
 *   generation that owns it.
 *
 * @module
 */
import { challengeSummary, parseHttpUrl, redactor } from "./http_headers.ts";
import {
  type ChildProcess,
  type Clock,
  delay,
  type ExitStatus,
  type KillSignal,
  type Runtime,
  type SpawnOptions,
  systemClock,
} from "./runtime/mod.ts";

/** Where a Streamable HTTP server listens, and how long to wait for it ({@linkcode SpawnOptions.http}). */
export type HttpTarget = NonNullable<SpawnOptions["http"]>;

/** The name of the error a connection that ended for good fails its stdout with. */
export const CONNECTION_LOST = "ConnectionLost";

/** The `_meta` key of a 2026-07-28 request's protocol version. */
const MODERN_VERSION_KEY = "io.modelcontextprotocol/protocolVersion";

/** Methods whose request carries `Mcp-Name`, and the field of `params` it mirrors. */
const NAME_SOURCES: ReadonlyMap<string, string> = new Map([
  ["tools/call", "name"],
  ["prompts/get", "name"],
  ["resources/read", "uri"],
  ["tasks/get", "taskId"],
  ["tasks/update", "taskId"],
  ["tasks/cancel", "taskId"],
]);

/** RFC 9110 `token`: what an `x-mcp-header` name must be. */
const HEADER_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** An `x-mcp-header` declaration of a tool's input: the header's name and the argument's path. */
interface ParamHeader {
  readonly name: string;
  readonly path: readonly string[];
}

/**
 * The `x-mcp-header` declarations of a tool's `inputSchema`: properties
 * reached through `properties` only, with a token name; others are skipped.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const schema = {
 *   type: "object",
 *   properties: { region: { type: "string", "x-mcp-header": "Region" } },
 * };
 * assert.deepEqual(paramHeaders(schema), [{ name: "Region", path: ["region"] }]);
 * ```
 */
export function paramHeaders(schema: unknown): { name: string; path: string[] }[] {
  const found: { name: string; path: string[] }[] = [];
  const walk = (node: unknown, path: string[]) => {
    if (node === null || typeof node !== "object" || path.length > 32) return;
    const n = node as Json;
    const header = n["x-mcp-header"];
    if (path.length > 0 && typeof header === "string" && HEADER_TOKEN.test(header)) {
      found.push({ name: header, path });
    }
    const properties = n.properties;
    if (properties !== null && typeof properties === "object") {
      for (const [key, child] of Object.entries(properties)) walk(child, [...path, key]);
    }
  };
  walk(schema, []);
  return found;
}

/** Where an SSE stream got to: what a resumption with `Last-Event-ID` needs. */
interface SseCursor {
  /** The `id` of the last event that had one. */
  lastEventId?: string;
  /** The reconnection time the server asked for (`retry:`), in ms. */
  retryMs?: number;
  /** Events read so far (to tell a resumption that brought something from one that did not). */
  events: number;
}

/**
 * How the v1 SDK's example event store (`InMemoryEventStore`, which servers
 * copy) names the GET stream's events. It cannot resume that stream: it
 * takes the stream's id for empty, and the server's later messages never
 * reach the resumed stream. A reopened GET stream whose last event id starts
 * so is opened afresh instead (what it missed meanwhile is lost either way).
 */
const SDK_EXAMPLE_GET_STREAM = "_GET_stream_";

/** Resumptions of one stream in a row that bring no event before mcpmon gives up on it. */
const MAX_RESUMES = 5;

/** Wait before resuming a stream when the server set no `retry:`, in ms (doubled per failed try). */
const RESUME_DELAY_MS = 100;

/** Longest wait before resuming a stream, in ms (a larger `retry:` is cut to this). */
const MAX_RESUME_DELAY_MS = 5_000;

/** How long a process whose connection broke may take to exit before the break counts, in ms. */
const LOST_GRACE_MS = 250;

/** Longest error body kept from an HTTP error answer, in bytes. */
const ERROR_BODY_BYTES = 64 * 1024;

/**
 * Whether something accepts TCP connections at the host and port of `url`
 * (the scheme's default port when it names none). A connection that is
 * refused, fails or is not accepted within `timeoutMs` counts as no.
 *
 * @example
 * ```ts ignore
 * await portAccepts(new URL("http://127.0.0.1:3000/mcp")); // true while a server listens there
 * ```
 */
export async function portAccepts(url: URL, timeoutMs = 1_000): Promise<boolean> {
  const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  // Loaded here, not with this module: it is on the way to mcpmon's start, node:net is not.
  const { createConnection } = await import("node:net");
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (accepts: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(accepts);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

/** Host names of this machine's loopback interface, as a URL's `hostname` spells them. */
const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

/**
 * Checks, before mcpmon starts the command that serves `url` (a URL on this
 * machine's loopback, `localhost`, `127.x.x.x` or `[::1]`; others are not
 * checked), that nothing holds its port; returns an error for people when
 * something still does after `waitMs`, or undefined. The wait lets a server
 * that is on its way out let go: the previous process's leftovers on a
 * restart, or the server of an mcpmon the client has just replaced. What
 * holds the port longer is, at `first` start, most likely an old instance of
 * the server (mcpmon would otherwise talk to it instead of what it starts);
 * on a restart, a process the previous one started that outlived it.
 *
 * @example
 * ```ts ignore
 * const problem = await checkPortFree("http://127.0.0.1:3000/mcp", "pnpm dev", 2_000, true);
 * if (problem) console.error(problem); // "port 3000 … already accepts connections …"
 * ```
 */
export async function checkPortFree(
  url: string,
  shown: string,
  waitMs: number,
  first: boolean,
  clock: Clock = systemClock,
  signal?: AbortSignal,
): Promise<string | undefined> {
  const parsed = new URL(url);
  // Only a server on this machine can be an old instance; a remote URL (a tunnel to the
  // command's port, say) accepts connections whatever runs here.
  if (!LOOPBACK.test(parsed.hostname)) return undefined;
  const port = parsed.port || (parsed.protocol === "https:" ? "443" : "80");
  const deadline = clock.now() + waitMs;
  for (;;) {
    if (!(await portAccepts(parsed))) return undefined;
    if (signal?.aborted || clock.now() >= deadline) break;
    await delay(Math.min(50, Math.max(1, deadline - clock.now())), signal, clock);
  }
  if (first) {
    return `port ${port} (${url}) already accepts connections before mcpmon started \`${shown}\` ` +
      `(and still did ${waitMs} ms later): most likely an earlier instance of the server is ` +
      `still running (another terminal, an earlier run). Stop it (\`lsof -i :${port}\` names ` +
      `it), or use the running server as it is by leaving out the command (mcpmon --url ${url}); ` +
      "set MCPMON_NO_PORT_CHECK=1 if the command serves behind what holds that port";
  }
  return `port ${port} (${url}) is still in use ${waitMs} ms after the previous server ` +
    "exited: a process it started outlived it (outside its process group?) and holds the port. " +
    `Stop it (\`lsof -i :${port}\` names it); the next change starts the server again`;
}

/**
 * A header value as the 2026-07-28 transport requires it: as it is when it
 * is plain printable ASCII without surrounding spaces, else the Base64
 * sentinel form `=?base64?…?=` of its UTF-8 bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(headerValue("get_weather"), "get_weather");
 * assert.equal(headerValue("Hello, 世界"), "=?base64?SGVsbG8sIOS4lueVjA==?=");
 * assert.equal(headerValue(" padded "), "=?base64?IHBhZGRlZCA=?=");
 * ```
 */
export function headerValue(value: string): string {
  const plain = /^[\x20-\x7e]*$/.test(value) && value.trim() === value &&
    !(value.startsWith("=?base64?") && value.endsWith("?="));
  if (plain) return value;
  let binary = "";
  for (const byte of new TextEncoder().encode(value)) binary += String.fromCharCode(byte);
  return `=?base64?${btoa(binary)}?=`;
}

/**
 * Wraps `runtime` so that a spawn with {@linkcode SpawnOptions.http} gives an
 * HTTP child ({@linkcode httpChild}); every other spawn is the runtime's own.
 *
 * @example
 * ```ts ignore
 * const runtime = withHttpBackends(denoRuntime);
 * const child = runtime.spawn({ command: "", args: [], http: { url, connectTimeoutMs: 5000 } });
 * ```
 */
export function withHttpBackends(runtime: Runtime): Runtime {
  if (speaksHttp(runtime)) return runtime;
  return Object.create(runtime, {
    [HTTP_AWARE]: { value: true },
    spawn: {
      value(options: SpawnOptions): ChildProcess {
        return options.http ? httpChild(runtime, options) : runtime.spawn(options);
      },
    },
  });
}

/** Marks a runtime made by {@linkcode withHttpBackends} (and those built on it, such as a traced one). */
const HTTP_AWARE = Symbol("mcpmon.httpBackends");

/**
 * Whether `runtime`'s spawn already handles {@linkcode SpawnOptions.http}
 * (it is, or is built on, one {@linkcode withHttpBackends} made).
 *
 * @example
 * ```ts ignore
 * speaksHttp(withHttpBackends(denoRuntime)); // true
 * ```
 */
export function speaksHttp(runtime: Runtime): boolean {
  return (runtime as unknown as Record<symbol, unknown>)[HTTP_AWARE] === true;
}

/**
 * Starts `options.command` (unless it is empty) and returns a child that
 * speaks newline-delimited JSON-RPC on its stdin and stdout while the
 * messages travel over Streamable HTTP to `options.http.url` (see the module
 * doc). Throws when the URL is not http(s) or the command cannot start.
 *
 * @example
 * ```ts ignore
 * const child = httpChild(runtime, {
 *   command: "node",
 *   args: ["server.mjs"],
 *   http: { url: "http://127.0.0.1:3000/mcp", connectTimeoutMs: 30_000 },
 * });
 * ```
 */
export function httpChild(runtime: Runtime, options: SpawnOptions): ChildProcess {
  const { http, ...spawn } = options;
  if (!http) throw new Error("httpChild: no url to connect to");
  const url = parseHttpUrl(http.url);
  const proc = spawn.command !== "" ? runtime.spawn(spawn) : undefined;
  return new HttpConnection(url, http, proc, runtime.clock ?? systemClock);
}

type Json = Record<string, unknown>;

/** A request sent and not yet answered. */
interface InFlight {
  readonly abort: AbortController;
  /** The request's method and params (for what its answer teaches: tools' header declarations). */
  readonly method: string | undefined;
  readonly params: Json | undefined;
  answered: boolean;
  cancelled: boolean;
  /** A re-opened listen: its next acknowledgment is mcpmon's to swallow (the client has one). */
  relistened?: boolean;
}

/** The child {@linkcode httpChild} returns. */
class HttpConnection implements ChildProcess {
  readonly pid: number;
  readonly stdin: WritableStream<Uint8Array>;
  readonly stdout: ReadableStream<Uint8Array>;
  readonly stderr: ReadableStream<Uint8Array>;
  readonly exited: Promise<ExitStatus>;

  readonly #url: URL;
  readonly #target: HttpTarget;
  readonly #proc: ChildProcess | undefined;
  readonly #clock: Clock;
  readonly #deadline: number;
  readonly #abort = new AbortController();
  readonly #inFlight = new Map<string, InFlight>();
  readonly #encoder = new TextEncoder();
  readonly #tail: string[] = [];
  #out!: ReadableStreamDefaultController<Uint8Array>;
  #err!: ReadableStreamDefaultController<Uint8Array>;
  #errSources: number;
  #resolveExit!: (status: ExitStatus) => void;
  /** The connection is over: no more lines, no more answers of our own. */
  #done = false;
  /** The server has answered an HTTP request at least once. */
  #connected = false;
  #era: "legacy" | "modern" | undefined;
  #sessionId: string | undefined;
  #protocolVersion: string | undefined;
  #getStream = false;
  /** Each tool's `x-mcp-header` declarations, from the `tools/list` answers that passed. */
  readonly #toolHeaders = new Map<string, readonly ParamHeader[]>();
  /** The connection broke; waiting to see whether the process exits. */
  #losing = false;
  /** mcpmon is stopping the server (stdin closed): broken streams are not resumed or re-opened. */
  #closing = false;
  /** Hides the configured headers' values in any text mcpmon shows. */
  readonly #redact: (text: string) => string;
  /** The refusals (401/403) already logged, so a refusing server is logged once per status. */
  readonly #refusalsLogged = new Set<number>();

  constructor(url: URL, target: HttpTarget, proc: ChildProcess | undefined, clock: Clock) {
    this.#url = url;
    this.#target = target;
    this.#proc = proc;
    this.#clock = clock;
    this.#redact = redactor(target.headers);
    this.pid = proc?.pid ?? 0;
    const margin = Math.min(500, Math.floor(target.connectTimeoutMs / 10));
    this.#deadline = clock.now() + Math.max(0, target.connectTimeoutMs - margin);
    this.stdout = new ReadableStream({ start: (c) => void (this.#out = c) });
    this.stderr = new ReadableStream({ start: (c) => void (this.#err = c) });
    this.#errSources = proc ? 2 : 0;
    this.exited = new Promise((resolve) => this.#resolveExit = resolve);

    const decoder = new TextDecoder();
    let partial = "";
    this.stdin = new WritableStream({
      write: (chunk) => {
        const text = partial + decoder.decode(chunk, { stream: true });
        const lines = text.split("\n");
        partial = lines.pop() ?? "";
        for (const line of lines) if (line.trim() !== "") this.#send(line);
      },
      close: () => this.#stdinClosed(),
      abort: () => this.#stdinClosed(),
    });

    if (proc) {
      // An HTTP server's stdout is its log, like its stderr.
      void this.#pumpLog(proc.stderr);
      void this.#pumpLog(proc.stdout);
      proc.exited.then((status) => {
        this.#finish();
        this.#resolveExit(status);
      });
    }
  }

  killGroup(signal: KillSignal): void {
    if (this.#proc) this.#proc.killGroup(signal);
    else void this.#close();
  }

  // ── client → server ─────────────────────────────────────────────────────

  #send(line: string) {
    if (this.#done) return; // the generation answers what is still owed
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      this.#note(`not JSON, not sent: ${line.slice(0, 200)}`);
      return;
    }
    const messages = Array.isArray(parsed) ? parsed : [parsed];
    for (const message of messages) {
      if (message === null || typeof message !== "object") continue;
      this.#sendOne(message as Json, messages.length === 1 ? line : JSON.stringify(message));
    }
  }

  #sendOne(message: Json, body: string) {
    const method = typeof message.method === "string" ? message.method : undefined;
    const isRequest = method !== undefined && message.id !== undefined && message.id !== null;
    if (isRequest) {
      if (method === "initialize") this.#era = "legacy";
      else if (typeof modernVersion(message) === "string") this.#era = "modern";
    }
    if (method === "notifications/cancelled") {
      const params = message.params as Json | undefined;
      const entry = this.#inFlight.get(idKey(params?.requestId));
      if (entry) entry.cancelled = true;
      if (this.#era === "modern") {
        // 2026-07-28: closing the request's stream is the cancellation.
        entry?.abort.abort();
        return;
      }
      // 2025: the server is told, then the request's stream is closed (it is owed nothing, and
      // a server that sends nothing more would keep it open).
      void this.#post(message, body, method, undefined).finally(() => entry?.abort.abort());
      return;
    }
    void this.#post(message, body, method, isRequest ? idKey(message.id) : undefined);
  }

  #headers(message: Json, method: string | undefined, accept: string): Headers {
    // The configured ones (credentials) first: the transport's own are set over them.
    const headers = new Headers(this.#target.headers);
    headers.set("accept", accept);
    if (this.#sessionId !== undefined) headers.set("mcp-session-id", this.#sessionId);
    const version = modernVersion(message) ?? this.#protocolVersion;
    if (typeof version === "string") headers.set("mcp-protocol-version", version);
    if (this.#era === "modern" && method !== undefined) {
      headers.set("mcp-method", headerValue(method));
      const params = message.params as Json | undefined;
      const source = NAME_SOURCES.get(method);
      const name = source === undefined ? undefined : params?.[source];
      if (typeof name === "string") headers.set("mcp-name", headerValue(name));
      if (method === "tools/call" && typeof name === "string") {
        // The tool's arguments its schema asks to see as headers (`x-mcp-header`).
        for (const { name: header, path } of this.#toolHeaders.get(name) ?? []) {
          let value: unknown = params?.arguments;
          for (const key of path) value = (value as Json | null | undefined)?.[key];
          if (
            typeof value === "string" || typeof value === "number" || typeof value === "boolean"
          ) {
            headers.set(`mcp-param-${header}`, headerValue(String(value)));
          }
        }
      }
    }
    return headers;
  }

  async #post(message: Json, body: string, method: string | undefined, id: string | undefined) {
    const entry: InFlight | undefined = id === undefined ? undefined : {
      abort: new AbortController(),
      method,
      params: message.params as Json | undefined,
      answered: false,
      cancelled: false,
    };
    if (id !== undefined) this.#inFlight.set(id, entry!);
    const signal = entry
      ? eitherSignal(this.#abort.signal, entry.abort.signal)
      : this.#abort.signal;
    const sentSession = this.#sessionId;
    const what = method ?? "a response";
    let headers: Headers;
    try {
      headers = this.#headers(message, method, "application/json, text/event-stream");
      headers.set("content-type", "application/json");
    } catch (err) {
      // A value no HTTP header can carry (a protocol version in _meta that is not text, …).
      const why = `${what} cannot be sent over HTTP: ${describeError(err)}`;
      if (id !== undefined) this.#answerError(id, entry!, why);
      else this.#note(why);
      this.#inFlight.delete(id!);
      return;
    }
    try {
      let response: Response;
      try {
        response = await this.#fetch({ method: "POST", headers, body, signal });
      } catch (err) {
        if (err instanceof ConnectTimeout) {
          if (id !== undefined) this.#answerError(id, entry!, err.message);
          else this.#note(`${what} not sent: ${err.message}`);
        } else if (!signal.aborted) {
          this.#lost(`POST ${what} to ${this.#url.href} failed: ${describeError(err)}`);
        }
        return;
      }
      if (method === "initialize") {
        this.#sessionId = response.headers.get("mcp-session-id") ?? undefined;
      }
      if (response.status === 404 && sentSession !== undefined) {
        await response.body?.cancel().catch(() => {});
        this.#lost(`the server no longer knows session ${sentSession} (HTTP 404)`);
        return;
      }
      const type = response.headers.get("content-type") ?? "";
      if (response.status === 401 || response.status === 403) {
        const refused = await this.#refused(response);
        if (id !== undefined) this.#answerError(id, entry!, refused);
        return;
      }
      if (!response.ok) {
        await this.#httpError(response, what, id, entry);
        return;
      }
      if (id === undefined || response.status === 202 || !response.body) {
        await response.body?.cancel().catch(() => {});
        if (method === "notifications/initialized" && this.#era !== "modern") this.#openGetStream();
      } else if (type.includes("text/event-stream")) {
        await this.#readStream(response.body, id, entry!, what, signal, { message, body });
      } else if (type.includes("application/json")) {
        const text = await readBody(response.body, this.#target.maxMessageBytes);
        if (text === undefined) {
          this.#answerError(id, entry!, this.#tooLarge(`the response to ${what}`));
        } else this.#emit(text, id, entry);
      } else {
        await response.body.cancel().catch(() => {});
        this.#answerError(
          id,
          entry!,
          `the server answered ${what} with Content-Type ${JSON.stringify(type)}, ` +
            "neither application/json nor text/event-stream",
        );
      }
      if (entry && !entry.answered && !entry.cancelled && !this.#done) {
        this.#answerError(id!, entry, `the server ended its answer to ${what} without a response`);
      }
    } catch (err) {
      if (this.#done || signal.aborted) return;
      this.#lost(`reading the answer to ${what} failed: ${describeError(err)}`);
    } finally {
      if (id !== undefined && this.#inFlight.get(id) === entry) this.#inFlight.delete(id);
    }
  }

  /**
   * A 401 or 403: the server wants credentials mcpmon does not have (or
   * refuses the ones it sent). Logged once per status; returns the message,
   * with the essentials of the `WWW-Authenticate` challenge. Not retried:
   * the same request would be refused again.
   */
  async #refused(response: Response): Promise<string> {
    const challenge = challengeSummary(response.headers.get("www-authenticate"));
    const text = response.body ? await readBody(response.body, ERROR_BODY_BYTES, true) : "";
    let detail = "";
    try {
      // An OAuth error body ({"error": "invalid_token", "error_description": …}) or a JSON-RPC one.
      const parsed = JSON.parse(text ?? "");
      const error = parsed?.error;
      detail = typeof error === "string"
        ? [error, parsed.error_description].filter((s) => typeof s === "string").join(": ")
        : typeof error?.message === "string"
        ? error.message
        : "";
    } catch {
      detail = (text ?? "").trim().split("\n")[0].slice(0, 200);
    }
    const sent = Object.keys(this.#target.headers ?? {});
    const message = `the server at ${this.#url.href} refused mcpmon: ${response.status}` +
      `${response.statusText ? ` ${response.statusText}` : ""}` +
      (challenge ? ` (WWW-Authenticate: ${challenge})` : "") +
      (detail ? `: ${detail}` : "") +
      (sent.length > 0
        ? `; mcpmon sent ${sent.join(", ")}: check the credentials (--header / headers:)`
        : "; pass its credentials with --header / headers: (e.g. " +
          '--header "Authorization: Bearer ${TOKEN}")');
    if (!this.#refusalsLogged.has(response.status)) {
      this.#refusalsLogged.add(response.status);
      this.#note(message);
    }
    return message;
  }

  /** An HTTP error status: the server's JSON-RPC error when it sent one, else one naming the status. */
  async #httpError(response: Response, what: string, id?: string, entry?: InFlight) {
    const text = response.body ? await readBody(response.body, ERROR_BODY_BYTES, true) : "";
    const status = `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ""}`;
    let error: Json | undefined;
    try {
      const parsed = JSON.parse(text ?? "");
      if (parsed && typeof parsed === "object" && typeof parsed.error === "object") {
        error = parsed.error;
      }
    } catch { /* not JSON */ }
    const message = `the server answered ${what} with ${status}` +
      (error && typeof error.message === "string"
        ? `: ${error.message}`
        : text
        ? `: ${text.slice(0, 300)}`
        : "");
    if (id === undefined || !entry) {
      this.#note(message);
      return;
    }
    if (error && typeof error.code === "number" && typeof error.message === "string") {
      this.#answer(id, entry, { ...error, message: `${error.message} (${status})` });
    } else this.#answerError(id, entry, message);
  }

  /**
   * Reads the SSE answer to request `id`. In the 2025 era, when it ends or
   * breaks before the response and its events carried ids, it is resumed
   * (2025-11-25 transport, "Resumability and Redelivery"): a GET with
   * `Last-Event-ID`, after the server's `retry:` time, continues the same
   * stream, as often as each resumption brings events (at most
   * {@linkcode MAX_RESUMES} in a row that bring none). The 2026-07-28
   * transport has no resumption. A break that cannot be resumed is thrown
   * (the connection is lost).
   */
  async #readStream(
    body: ReadableStream<Uint8Array>,
    id: string,
    entry: InFlight,
    what: string,
    signal: AbortSignal,
    request: { message: Json; body: string },
  ) {
    const cursor: SseCursor = { events: 0 };
    let failure: unknown;
    try {
      await this.#readEvents(body, id, entry, cursor);
    } catch (err) {
      failure = err;
    }
    // 2026-07-28 has no resumption, but a listen whose stream drops is sent again (the spec's
    // "trigger to reconnect"): the client's subscription goes on.
    const listen = this.#era === "modern" && entry.method === "subscriptions/listen";
    let fruitless = 0;
    while (
      !entry.answered && !entry.cancelled && !this.#done && !this.#closing && !signal.aborted &&
      (listen || (this.#era !== "modern" && cursor.lastEventId !== undefined)) &&
      fruitless < MAX_RESUMES
    ) {
      const wait = Math.min(
        (listen ? undefined : cursor.retryMs) ?? RESUME_DELAY_MS * 2 ** fruitless,
        MAX_RESUME_DELAY_MS,
      );
      fruitless++;
      await delay(wait, signal, this.#clock);
      if (signal.aborted || this.#done || this.#closing) break;
      const before = cursor.events;
      const started = this.#clock.now();
      const reopened = listen
        ? this.#relisten(request, entry, signal)
        : this.#resume(cursor.lastEventId!, signal);
      const response = await reopened.catch((err) => {
        failure = err;
        return undefined;
      });
      if (response === undefined) break;
      if (response === "gone") return;
      if (typeof response === "string") {
        this.#note(
          `${listen ? "re-opening" : "resuming"} the answer to ${what} failed: ${response}`,
        );
        failure = undefined;
        break;
      }
      failure = undefined;
      try {
        await this.#readEvents(response, id, entry, cursor);
      } catch (err) {
        failure = err;
      }
      // A re-opened listen always brings its acknowledgment: progress is more than that.
      const progress = listen
        ? cursor.events > before + 1 || this.#clock.now() - started > 5_000
        : cursor.events > before;
      if (progress) fruitless = 0;
    }
    if (failure !== undefined) throw failure;
  }

  /**
   * A dropped 2026-07-28 listen, sent again as it was: the new stream's body,
   * or why not. Its acknowledgment is swallowed (the client has had one), and
   * the client is told the lists it listens to may have changed, since what
   * changed while no stream was open is not replayed.
   */
  async #relisten(
    request: { message: Json; body: string },
    entry: InFlight,
    signal: AbortSignal,
  ): Promise<ReadableStream<Uint8Array> | string> {
    const headers = this.#headers(
      request.message,
      "subscriptions/listen",
      "application/json, text/event-stream",
    );
    headers.set("content-type", "application/json");
    const response = await fetch(this.#url, {
      method: "POST",
      headers,
      body: request.body,
      signal,
    });
    const type = response.headers.get("content-type") ?? "";
    if (!response.ok || !response.body || !type.includes("text/event-stream")) {
      await response.body?.cancel().catch(() => {});
      return `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ""}`;
    }
    entry.relistened = true;
    return response.body;
  }

  /**
   * The acknowledgment of a re-opened listen, in place of passing it on: the
   * list changes (and resource updates) it agreed to, as notifications
   * tagged with the listen's id, so the client reads its lists again.
   */
  #reacknowledged(ack: Json) {
    const params = ack.params as Json | undefined;
    const filter = params?.notifications as Json | undefined;
    const meta = { ...(params?._meta as Json | undefined) };
    const kinds: [string, string][] = [
      ["toolsListChanged", "notifications/tools/list_changed"],
      ["promptsListChanged", "notifications/prompts/list_changed"],
      ["resourcesListChanged", "notifications/resources/list_changed"],
    ];
    const out: Json[] = [];
    for (const [key, method] of kinds) {
      if (filter?.[key] === true) out.push({ jsonrpc: "2.0", method, params: { _meta: meta } });
    }
    const uris = filter?.resourceSubscriptions;
    for (const uri of Array.isArray(uris) ? uris : []) {
      if (typeof uri !== "string") continue;
      out.push({
        jsonrpc: "2.0",
        method: "notifications/resources/updated",
        params: { _meta: meta, uri },
      });
    }
    for (const message of out) {
      this.#out.enqueue(this.#encoder.encode(JSON.stringify(message) + "\n"));
    }
  }

  /**
   * A GET with `Last-Event-ID` (2025 era): the resumed stream's body; a
   * string saying why not when the server will not resume it; "gone" when
   * the server no longer knows the session (the connection is then lost).
   * Throws when the server cannot be reached.
   */
  async #resume(
    lastEventId: string,
    signal: AbortSignal,
  ): Promise<ReadableStream<Uint8Array> | string | "gone"> {
    const headers = this.#headers({}, undefined, "text/event-stream");
    headers.set("last-event-id", lastEventId);
    const response = await fetch(this.#url, { method: "GET", headers, signal });
    if (response.status === 404 && this.#sessionId !== undefined) {
      await response.body?.cancel().catch(() => {});
      this.#lost(`the server no longer knows session ${this.#sessionId} (HTTP 404)`);
      return "gone";
    }
    const type = response.headers.get("content-type") ?? "";
    if (!response.ok || !response.body || !type.includes("text/event-stream")) {
      await response.body?.cancel().catch(() => {});
      return `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ""}`;
    }
    return response.body;
  }

  /** Reads an SSE body; each event's data is a message. `cursor` keeps where it got to. */
  async #readEvents(
    body: ReadableStream<Uint8Array>,
    id?: string,
    entry?: InFlight,
    cursor?: SseCursor,
  ) {
    const max = this.#target.maxMessageBytes;
    let pending = 0;
    const { createParser } = await import("eventsource-parser"); // only servers with SSE need it
    const parser = createParser({
      onEvent: (event) => {
        pending = 0;
        if (cursor) {
          cursor.events++;
          if (event.id !== undefined && event.id !== "") cursor.lastEventId = event.id;
        }
        if (event.data.trim() !== "") this.#emit(event.data, id, entry);
      },
      onRetry: (ms) => {
        if (cursor) cursor.retryMs = ms;
      },
    });
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        pending += value.length;
        if (max !== undefined && pending > max) {
          await reader.cancel().catch(() => {});
          const what = this.#tooLarge("an event of the server's stream");
          if (id !== undefined && entry) this.#answerError(id, entry, what);
          else this.#note(what);
          return;
        }
        parser.feed(value);
      }
    } finally {
      reader.releaseLock();
    }
  }

  /** The legacy GET stream, reopened when it ends while the server is still there. */
  #openGetStream() {
    if (this.#getStream || this.#done) return;
    this.#getStream = true;
    // Where the stream got to: a reopened stream resumes from its last event id, if it gave any.
    const cursor: SseCursor = { events: 0 };
    void (async () => {
      let wait = 100;
      /** The stream was just reopened at once after it broke: if it breaks again soon, wait. */
      let reopenedAtOnce = false;
      while (!this.#done) {
        const started = this.#clock.now();
        let broke = false;
        let response: Response;
        try {
          const headers = this.#headers({}, undefined, "text/event-stream");
          const last = cursor.lastEventId;
          if (last !== undefined && !last.startsWith(SDK_EXAMPLE_GET_STREAM)) {
            headers.set("last-event-id", last);
          }
          response = await fetch(this.#url, {
            method: "GET",
            headers,
            signal: this.#abort.signal,
          });
        } catch (err) {
          if (!this.#done) this.#lost(`the server's event stream is gone: ${describeError(err)}`);
          return;
        }
        if (response.status === 404 && this.#sessionId !== undefined) {
          await response.body?.cancel().catch(() => {});
          this.#lost(`the server no longer knows session ${this.#sessionId} (HTTP 404)`);
          return;
        }
        if (response.status === 401 || response.status === 403) {
          await this.#refused(response);
          return;
        }
        const type = response.headers.get("content-type") ?? "";
        if (!response.ok || !response.body || !type.includes("text/event-stream")) {
          // 405: the server offers no GET stream, which is its right.
          if (response.status !== 405) await this.#httpError(response, "GET (event stream)");
          else await response.body?.cancel().catch(() => {});
          return;
        }
        try {
          await this.#readEvents(response.body, undefined, undefined, cursor);
        } catch {
          // Broken, as when the server is stopped for a restart: reopening it at once tells
          // whether the server is still there (quietly, so a restart logs no false alarm), before
          // a request finds out the hard way.
          if (this.#done) return;
          broke = true;
        }
        // mcpmon is stopping the server: there is nothing to reopen.
        if (this.#closing) return;
        const long = this.#clock.now() - started > 5_000;
        if (broke && (!reopenedAtOnce || long)) {
          reopenedAtOnce = true;
          continue;
        }
        reopenedAtOnce = false;
        // Reopened after the server's `retry:` time if it set one; else at once after a long
        // stream, more slowly after short ones.
        wait = cursor.retryMs !== undefined
          ? Math.min(Math.max(cursor.retryMs, 50), MAX_RESUME_DELAY_MS)
          : long
          ? 100
          : Math.min(wait * 2, 2_000);
        await delay(wait, this.#abort.signal, this.#clock);
      }
    })().catch((err) => {
      if (!this.#done) this.#lost(`the server's event stream failed: ${describeError(err)}`);
    });
  }

  /** Fetches; until the server has answered once, refused connections are retried until the deadline. */
  async #fetch(init: RequestInit & { signal: AbortSignal }): Promise<Response> {
    let wait = 25;
    for (;;) {
      try {
        const response = await fetch(this.#url, init);
        this.#connected = true;
        return response;
      } catch (err) {
        if (init.signal.aborted || this.#connected) throw err;
        const left = this.#deadline - this.#clock.now();
        if (left <= 0) {
          throw new ConnectTimeout(
            `nothing accepted connections at ${this.#url.href} within ` +
              `${this.#target.connectTimeoutMs} ms (${describeError(err)}); ` +
              `is the server listening there?${this.#tailText()}`,
          );
        }
        await delay(Math.min(wait, left), init.signal, this.#clock);
        wait = Math.min(wait * 2, 250);
      }
    }
  }

  // ── server → client ─────────────────────────────────────────────────────

  /** Puts a message the server sent on stdout, noting the answer to `id`. */
  #emit(text: string, id?: string, entry?: InFlight) {
    if (this.#done) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      this.#note(`the server sent something that is not JSON: ${text.slice(0, 200)}`);
      return;
    }
    if (
      entry?.relistened && !Array.isArray(parsed) &&
      (parsed as Json | null)?.method === "notifications/subscriptions/acknowledged"
    ) {
      entry.relistened = false;
      this.#reacknowledged(parsed as Json);
      return;
    }
    for (const message of Array.isArray(parsed) ? parsed : [parsed]) {
      if (message === null || typeof message !== "object") continue;
      const m = message as Json;
      const isResponse = m.method === undefined && ("result" in m || "error" in m);
      if (isResponse && id !== undefined && entry && idKey(m.id) === id) {
        if (entry.answered) continue; // exactly one answer
        entry.answered = true;
        const result = m.result as Json | undefined;
        if (typeof result?.protocolVersion === "string" && this.#era === "legacy") {
          this.#protocolVersion ??= result.protocolVersion;
        }
        if (entry.method === "tools/list" && Array.isArray(result?.tools)) {
          this.#learnTools(result.tools, entry.params?.cursor === undefined);
        }
      }
    }
    const line = /[\r\n]/.test(text) ? JSON.stringify(parsed) : text;
    this.#out.enqueue(this.#encoder.encode(line + "\n"));
  }

  /** Keeps the tools' `x-mcp-header` declarations (a first page starts the list afresh). */
  #learnTools(tools: unknown[], firstPage: boolean) {
    if (firstPage) this.#toolHeaders.clear();
    for (const tool of tools) {
      const t = tool as Json | null;
      if (typeof t?.name !== "string") continue;
      const headers = paramHeaders(t.inputSchema);
      if (headers.length > 0) this.#toolHeaders.set(t.name, headers);
      else this.#toolHeaders.delete(t.name);
    }
  }

  #answer(id: string, entry: InFlight, error: Json) {
    if (entry.answered || entry.cancelled || this.#done) return;
    entry.answered = true;
    if (typeof error.message === "string") {
      error = { ...error, message: this.#redact(error.message) };
    }
    const line = JSON.stringify({ jsonrpc: "2.0", id: JSON.parse(id), error });
    this.#out.enqueue(this.#encoder.encode(line + "\n"));
  }

  #answerError(id: string, entry: InFlight, message: string) {
    this.#answer(id, entry, { code: -32603, message: `mcpmon: ${message}` });
  }

  #tooLarge(what: string): string {
    return `${what} is over the limit of ${this.#target.maxMessageBytes} bytes ` +
      "(raise it with --max-message)";
  }

  // ── logs ────────────────────────────────────────────────────────────────

  async #pumpLog(stream: ReadableStream<Uint8Array>) {
    const reader = stream.getReader();
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        this.#keep(decoder.decode(value, { stream: true }));
        try {
          this.#err.enqueue(value);
        } catch { /* closed */ }
      }
    } catch { /* the process is gone */ }
    if (--this.#errSources === 0 && this.#done) this.#closeErr();
  }

  /** Keeps the last lines the server wrote, for the error when its port never opens. */
  #keep(text: string) {
    const lines = text.split("\n").map((l) => l.trimEnd()).filter((l) => l !== "");
    this.#tail.push(...lines.map((l) => l.length > 300 ? l.slice(0, 300) + "…" : l));
    if (this.#tail.length > 10) this.#tail.splice(0, this.#tail.length - 10);
  }

  #tailText(): string {
    if (!this.#proc) return "";
    return this.#tail.length > 0
      ? `\nLast output lines:\n${this.#tail.map((l) => `  ${l}`).join("\n")}`
      : "\nIt wrote nothing yet.";
  }

  /** A line of mcpmon's about the connection, in the server's log. */
  #note(text: string) {
    if (this.#done) return;
    try {
      this.#err.enqueue(this.#encoder.encode(`mcpmon: ${this.#redact(text)}\n`));
    } catch { /* closed */ }
  }

  #closeErr() {
    try {
      this.#err.close();
    } catch { /* closed */ }
  }

  // ── the end ─────────────────────────────────────────────────────────────

  /** The connection is over: stop every request, end stdout. */
  #finish(error?: Error) {
    if (this.#done) return;
    this.#done = true;
    this.#abort.abort();
    try {
      if (error) this.#out.error(error);
      else this.#out.close();
    } catch { /* closed */ }
    if (this.#errSources === 0) this.#closeErr();
  }

  /** The server went away (or forgot the session) while the connection was in use. */
  #lost(cause: string) {
    if (this.#done || this.#losing) return;
    cause = this.#redact(cause);
    if (this.#proc) {
      // Most often the process is exiting (a crash): then its exit ends the connection, and
      // answers read before it still reach the generation. If it runs on without a
      // connection, the generation sees its stdout fail and stops it like a crash.
      this.#losing = true;
      const timeout = new AbortController();
      void Promise.race([
        this.#proc.exited.then(() => true),
        delay(LOST_GRACE_MS, timeout.signal, this.#clock).then(() => false),
      ]).then((exited) => {
        timeout.abort();
        if (exited) return;
        const error = new Error(cause);
        error.name = CONNECTION_LOST;
        this.#finish(error);
      });
    } else {
      this.#finish();
      this.#resolveExit({ code: null, signal: null, reason: `lost the connection: ${cause}` });
    }
  }

  #stdinClosed() {
    this.#closing = true;
    if (this.#proc) {
      const writer = this.#proc.stdin.getWriter();
      writer.close().catch(() => {});
      writer.releaseLock();
    } else void this.#close();
  }

  /** Without a process: end the session (DELETE, briefly) and the connection. */
  async #close() {
    if (this.#done) return;
    const session = this.#sessionId;
    this.#finish();
    if (session !== undefined) {
      const timeout = new AbortController();
      const timer = this.#clock.setTimeout(() => timeout.abort(), 1_000);
      try {
        const response = await fetch(this.#url, {
          method: "DELETE",
          headers: this.#headers({}, undefined, "application/json, text/event-stream"),
          signal: timeout.signal,
        });
        await response.body?.cancel().catch(() => {});
      } catch { /* the server is gone already */ }
      this.#clock.clearTimeout(timer);
    }
    this.#resolveExit({ code: 0, signal: null });
  }
}

/** The connection never opened in time. */
class ConnectTimeout extends Error {}

/** A signal that aborts when `a` or `b` does (`AbortSignal.any` is missing before Node 20.3). */
function eitherSignal(a: AbortSignal, b: AbortSignal): AbortSignal {
  if (typeof AbortSignal.any === "function") return AbortSignal.any([a, b]);
  const both = new AbortController();
  const abort = () => both.abort();
  if (a.aborted || b.aborted) abort();
  a.addEventListener("abort", abort, { once: true });
  b.addEventListener("abort", abort, { once: true });
  return both.signal;
}

/** A JSON-RPC id as a map key (`1` and `"1"` stay apart). */
function idKey(id: unknown): string {
  return JSON.stringify(id ?? null);
}

/** The protocol version a 2026-07-28 message carries in its `_meta`. */
function modernVersion(message: Json): unknown {
  const params = message.params as Json | undefined;
  const meta = params?._meta as Json | undefined;
  return meta?.[MODERN_VERSION_KEY];
}

/** A fetch error for people: its message and, where the runtime nests it, the cause's. */
function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? err.cause : undefined;
  const code = (err.cause as { code?: string } | undefined)?.code ??
    (err as { code?: string }).code;
  const parts = [err.message];
  if (cause && cause.message && !err.message.includes(cause.message)) parts.push(cause.message);
  else if (code && !err.message.includes(code)) parts.push(code);
  return parts.join(": ");
}

/**
 * Reads a body as text, at most `max` bytes: undefined when it is longer
 * (or, with `cut`, the start of it).
 */
async function readBody(
  body: ReadableStream<Uint8Array>,
  max: number | undefined,
  cut = false,
): Promise<string | undefined> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      size += value.length;
      chunks.push(value);
      if (max !== undefined && size > max) {
        await reader.cancel().catch(() => {});
        if (!cut) return undefined;
        break;
      }
    }
  } finally {
    reader.releaseLock();
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    all.set(chunk, at);
    at += chunk.length;
  }
  return new TextDecoder().decode(max !== undefined && cut ? all.subarray(0, max) : all);
}
