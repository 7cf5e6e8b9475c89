/**
 * Helpers for tests in both MCP protocol eras: connect a real SDK client to any stdio command
 * (a fixture server directly, or mcpmon in front of one) and see every message on the wire.
 *
 * - {@linkcode connectClient} starts the command with the SDK's own `StdioClientTransport` and
 *   connects, in one of four {@linkcode ClientMode}s:
 *   - `"modern"`: `@modelcontextprotocol/client` 2.x pinned to 2026-07-28
 *     (`versionNegotiation: {mode: {pin}}`): probes `server/discover`, no fallback;
 *   - `"auto"`: the v2 client's dual-era mode (`versionNegotiation: {mode: "auto"}`): probes
 *     `server/discover`, falls back to `initialize` on a non-modern answer;
 *   - `"legacy"`: the v2 client with its default (no negotiation: the plain 2025 `initialize`);
 *   - `"v1"`: the v1 `@modelcontextprotocol/sdk` client (2025 `initialize`).
 *
 *   The v2 client probes on a THROWAWAY SIBLING PROCESS spawned from the same parameters (only
 *   when the transport is exactly the SDK's `StdioClientTransport`, which is why the tap below
 *   patches the instance instead of subclassing it): the handle's {@linkcode ClientHandle.wire}
 *   shows the real connection only. Pass `wireLog` to run the command under
 *   `fixtures/servers/wire_tap.mjs`, which logs both processes' traffic to that file.
 * - The handle records every raw message both ways ({@linkcode WireEntry}), the notifications
 *   with their `_meta["io.modelcontextprotocol/subscriptionId"]`, the server's stderr, answers
 *   elicitations (MRTR `input_required` on modern connections, `elicitation/create` requests on
 *   legacy ones) with a configurable reply, and opens `subscriptions/listen` streams
 *   ({@linkcode ClientHandle.listen}) whose ids it reports.
 * - {@linkcode RawStdio} writes exact JSON lines to a command (a first message without an
 *   envelope, a bare `server/discover`) and waits for replies.
 *
 * Every wait has a timeout ({@linkcode V2_TIMEOUT_MS} unless told), so a bug fails fast.
 *
 * @example
 * ```ts ignore
 * await using h = await connectClient({ mode: "modern", command: v2ServerCommand() });
 * assert.equal(h.era, "2026-07-28");
 * const listen = await h.listen({ toolsListChanged: true });
 * await h.callText("notify", { tools: true });
 * await h.waitForNotification("notifications/tools/list_changed", { subscriptionId: listen.id });
 * ```
 *
 * @module
 */
import { Client } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import type {
  ElicitResult,
  McpSubscription,
  SubscriptionFilter,
} from "@modelcontextprotocol/client";
import { Client as V1Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport as V1StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { join } from "node:path";
import { ensureFixtureDeps } from "../../fixtures/servers/install_deps.ts";
import {
  defaultLauncher,
  FIXTURES_DIR,
  TEST_CWD,
  TEST_STATE_HOME,
  withTimeout,
} from "./_harness.ts";

/** Default timeout of every wait in these helpers. */
export const V2_TIMEOUT_MS = 10_000;

/** The modern protocol revision. */
export const MODERN_VERSION = "2026-07-28";

/** `_meta` key of a notification's (or a listen result's) subscription id. */
export const SUBSCRIPTION_ID_KEY = "io.modelcontextprotocol/subscriptionId";

/** The v2-SDK fixture server (`node v2_server.mjs`). */
export const V2_SERVER: string = join(FIXTURES_DIR, "v2_server.mjs");
/** The wire tap (`node wire_tap.mjs LOGFILE -- COMMAND…`). */
export const WIRE_TAP: string = join(FIXTURES_DIR, "wire_tap.mjs");

/**
 * The command that runs the v2 fixture server under node, after making sure its npm
 * dependencies are installed. `modernOnly` serves it with `legacy: 'reject'`.
 */
export async function v2ServerCommand(
  opts: { modernOnly?: boolean; flags?: string[]; script?: string } = {},
): Promise<string[]> {
  await ensureFixtureDeps();
  return [
    "node",
    opts.script ?? V2_SERVER,
    ...(opts.modernOnly ? ["--modern-only"] : []),
    ...(opts.flags ?? []),
  ];
}

/**
 * mcpmon in front of `server`, as {@linkcode connectClient} options: the e2e launcher
 * (`MCPMON_E2E_LAUNCHER`, default Deno with scoped permissions), the test state dir and the empty
 * test cwd, as `startMcpmon` in `_harness.ts` runs it.
 *
 * @example
 * ```ts ignore
 * await using h = await connectClient({ mode: "auto", ...mcpmonCommand(await v2ServerCommand()) });
 * ```
 */
export function mcpmonCommand(
  server: string[],
  mcpmonArgs: string[] = [],
): { command: string[]; env: Record<string, string>; cwd: string } {
  return {
    command: [...defaultLauncher(), ...mcpmonArgs, "--", ...server],
    env: { XDG_STATE_HOME: TEST_STATE_HOME },
    cwd: TEST_CWD,
  };
}

/** How the client speaks; see the module doc. */
export type ClientMode = "modern" | "auto" | "legacy" | "v1";

// deno-lint-ignore no-explicit-any
export type Msg = Record<string, any>;

/** One message on the real connection, in order. */
export interface WireEntry {
  /** `"out"`: client → server; `"in"`: server → client. */
  dir: "out" | "in";
  /** The JSON-RPC message as it crossed the transport. */
  msg: Msg;
}

/** An open `subscriptions/listen` stream. */
export interface ListenHandle {
  /** The JSON-RPC id of the listen request (= its subscription id), as the client sent it. */
  id: string | number;
  /** The filter the server acknowledged. */
  honoredFilter: SubscriptionFilter;
  /** The SDK's subscription. */
  subscription: McpSubscription;
  /** Cancels it (the SDK sends `notifications/cancelled`). */
  close(): Promise<void>;
}

/** Options of {@linkcode connectClient}. */
export interface ConnectOptions {
  /** Which client and era; see {@linkcode ClientMode}. */
  mode: ClientMode;
  /** The stdio command (the server, or mcpmon in front of it). */
  command: string[];
  /** Extra environment for the command. */
  env?: Record<string, string>;
  /** Working directory of the command. */
  cwd?: string;
  /** Run the command under wire_tap.mjs, appending both directions (all processes) to this file. */
  wireLog?: string;
  /** The reply to every elicitation (default: accept with `{confirm: true}`). */
  elicit?: (params: Msg) => ElicitResult;
  /** Timeout of connect and of each wait (default {@linkcode V2_TIMEOUT_MS}). */
  timeoutMs?: number;
  /**
   * v2 clients: configure `ClientOptions.listChanged` for tools, prompts and resources, as hosts
   * such as Mastra do. On a modern connection the SDK then auto-opens one `subscriptions/listen`
   * at connect (its first message on the real connection) and re-lists on each list_changed;
   * every refreshed list is recorded in {@linkcode ClientHandle.listChanges}.
   */
  listChanged?: boolean;
}

/** A connected client. `close()` (or `await using`) stops the command. */
export interface ClientHandle extends AsyncDisposable {
  /** The mode it was connected in. */
  readonly mode: ClientMode;
  /** The v2 client (modes modern, auto, legacy); undefined for v1. */
  readonly client: Client | undefined;
  /** The v1 client (mode v1); undefined otherwise. */
  readonly v1: V1Client | undefined;
  /** The negotiated protocol version ("2026-07-28" when modern). */
  readonly era: string | undefined;
  /** Every message on the real connection, both ways, in order. */
  readonly wire: WireEntry[];
  /** The command's stderr so far. */
  stderr(): string;
  /** The pid of the command (the real connection's process, not the probe sibling). */
  readonly pid: number | null;
  /** With `listChanged`: the lists the SDK re-read after each list_changed, in order. */
  readonly listChanges: { kind: "tools" | "prompts" | "resources"; names: string[] }[];
  /** Server → client notifications so far (raw, `_meta` intact), in order. */
  notifications(): Msg[];
  /** Waits for a notification after index `after` (of {@linkcode notifications}). */
  waitForNotification(
    method: string,
    opts?: { after?: number; subscriptionId?: string | number; timeoutMs?: number },
  ): Promise<Msg>;
  /** Waits for a wire entry after index `after` (of {@linkcode wire}) that `pred` accepts. */
  waitForWire(
    pred: (e: WireEntry) => boolean,
    opts?: { after?: number; timeoutMs?: number },
  ): Promise<WireEntry>;
  /** Waits until `check()` is true (re-checked on every message, stderr chunk and list change). */
  waitUntil(check: () => boolean, what: string, timeoutMs?: number): Promise<void>;
  /** Opens a `subscriptions/listen` stream (modern only); resolves after the acknowledgment. */
  listen(filter: SubscriptionFilter): Promise<ListenHandle>;
  /** Calls a tool and returns its first text content (throws on `isError`). */
  callText(name: string, args?: Record<string, unknown>): Promise<string>;
  /** Lists the tool names. */
  toolNames(): Promise<string[]>;
  /** Closes the client (stdin EOF, then SIGTERM/SIGKILL by the SDK); idempotent. */
  close(): Promise<void>;
}

/** Patches a transport INSTANCE (not its class: the v2 client probes on a sibling only for the
 * exact base class) so every message both ways is recorded before the client sees it. */
export function tap(
  transport: { send: (m: never, o?: never) => Promise<void>; onmessage?: unknown },
  record: (e: WireEntry) => void,
): void {
  const send = transport.send.bind(transport);
  // deno-lint-ignore no-explicit-any
  (transport as any).send = (message: Msg, options?: unknown) => {
    record({ dir: "out", msg: structuredClone(message) });
    return send(message as never, options as never);
  };
  let handler: ((m: Msg, extra?: unknown) => void) | undefined;
  Object.defineProperty(transport, "onmessage", {
    configurable: true,
    get: () => handler && ((m: Msg, extra?: unknown) => handler!(m, extra)),
    set: (fn: ((m: Msg, extra?: unknown) => void) | undefined) => {
      handler = fn && ((m: Msg, extra?: unknown) => {
        record({ dir: "in", msg: structuredClone(m) });
        fn(m, extra);
      });
    },
  });
}

class Changes {
  #listeners = new Set<() => void>();
  notify(): void {
    for (const l of [...this.#listeners]) l();
  }
  waitFor<T>(check: () => T | undefined, ms: number, message: () => string): Promise<T> {
    const now = check();
    if (now !== undefined) return Promise.resolve(now);
    let listener = () => {};
    const found = new Promise<T>((resolve) => {
      listener = () => {
        const v = check();
        if (v !== undefined) resolve(v);
      };
      this.#listeners.add(listener);
    });
    return withTimeout(found, ms, message).finally(() => this.#listeners.delete(listener));
  }
}

const CLIENT_INFO = { name: "mcpmon-v2-e2e", version: "1.0.0" };

/**
 * Starts `opts.command` and connects a client in `opts.mode`. Rejects (after stopping the
 * command) when connecting fails, with the command's stderr in the message.
 */
export async function connectClient(opts: ConnectOptions): Promise<ClientHandle> {
  const timeoutMs = opts.timeoutMs ?? V2_TIMEOUT_MS;
  const [command, ...args] = opts.wireLog
    ? ["node", WIRE_TAP, opts.wireLog, "--", ...opts.command]
    : opts.command;
  const wire: WireEntry[] = [];
  const listChanges: ClientHandle["listChanges"] = [];
  const changes = new Changes();
  let stderr = "";
  const record = (e: WireEntry) => {
    wire.push(e);
    changes.notify();
  };
  const elicit = opts.elicit ??
    (() => ({ action: "accept", content: { confirm: true } }) as ElicitResult);
  const env = { ...(Deno.env.toObject()), ...opts.env };
  const params = { command, args, env, cwd: opts.cwd, stderr: "pipe" as const };

  let client: Client | undefined;
  let v1: V1Client | undefined;
  let transport: StdioClientTransport | V1StdioClientTransport;
  if (opts.mode === "v1") {
    transport = new V1StdioClientTransport(params);
    v1 = new V1Client(CLIENT_INFO, { capabilities: { elicitation: {} } });
    v1.setRequestHandler(ElicitRequestSchema, (req: Msg) => elicit(req.params) as never);
  } else {
    transport = new StdioClientTransport(params);
    const versionNegotiation = opts.mode === "modern"
      ? { mode: { pin: MODERN_VERSION } }
      : opts.mode === "auto"
      ? { mode: "auto" as const }
      : undefined;
    const changed = (kind: "tools" | "prompts" | "resources") => ({
      onChanged: (error: Error | null, items: { name: string }[] | null) => {
        if (error) stderr += `[listChanged ${kind}] ${error.message}\n`;
        listChanges.push({ kind, names: (items ?? []).map((i) => i.name) });
        changes.notify();
      },
    });
    client = new Client(CLIENT_INFO, {
      capabilities: { elicitation: { form: {} } },
      versionNegotiation,
      ...(opts.listChanged &&
        {
          listChanged: {
            tools: changed("tools"),
            prompts: changed("prompts"),
            resources: changed("resources"),
          },
        }),
    });
    client.setRequestHandler("elicitation/create", (req) => elicit(req.params as Msg));
  }
  transport.stderr?.on("data", (chunk: Uint8Array) => {
    stderr += new TextDecoder().decode(chunk);
    changes.notify();
  });
  tap(transport as never, record);

  let closed: Promise<void> | undefined;
  const close = () =>
    closed ??= (async () => {
      await (client ?? v1)!.close().catch(() => {});
      await transport.close().catch(() => {});
    })();
  try {
    const connecting = client
      ? client.connect(transport, { timeout: timeoutMs })
      : v1!.connect(transport, { timeout: timeoutMs });
    await withTimeout(connecting, timeoutMs + 1000, () => "connect timed out");
  } catch (error) {
    await close();
    const message = error instanceof Error ? error.message : String(error);
    const e = new Error(`connect (${opts.mode}) failed: ${message}\n--- stderr ---\n${stderr}`);
    (e as Error & { cause: unknown }).cause = error;
    throw e;
  }

  const notifications = () =>
    wire.filter((e) => e.dir === "in" && e.msg.method !== undefined && e.msg.id === undefined)
      .map((e) => e.msg);
  let listenChain: Promise<unknown> = Promise.resolve();

  const handle: ClientHandle = {
    mode: opts.mode,
    client,
    v1,
    get era() {
      if (client) return client.getNegotiatedProtocolVersion();
      const init = wire.find((e) => e.dir === "out" && e.msg.method === "initialize");
      const answer = init && wire.find((e) => e.dir === "in" && e.msg.id === init.msg.id);
      return answer?.msg.result?.protocolVersion;
    },
    wire,
    listChanges,
    stderr: () => stderr,
    get pid() {
      return transport.pid;
    },
    notifications,
    waitForNotification(method, o = {}) {
      const after = o.after ?? 0;
      return changes.waitFor(
        () =>
          notifications().slice(after).find((n) =>
            n.method === method &&
            (o.subscriptionId === undefined ||
              n.params?._meta?.[SUBSCRIPTION_ID_KEY] === o.subscriptionId)
          ),
        o.timeoutMs ?? timeoutMs,
        () =>
          `no ${method}${
            o.subscriptionId === undefined ? "" : ` for subscription ${o.subscriptionId}`
          } after #${after}; got: ${JSON.stringify(notifications().slice(after))}`,
      );
    },
    waitForWire(pred, o = {}) {
      const after = o.after ?? 0;
      return changes.waitFor(
        () => wire.slice(after).find(pred),
        o.timeoutMs ?? timeoutMs,
        () => `no matching wire entry after #${after}; wire: ${JSON.stringify(wire.slice(after))}`,
      );
    },
    async waitUntil(check, what, ms) {
      await changes.waitFor(
        () => check() || undefined,
        ms ?? timeoutMs,
        () => `timed out: ${what}`,
      );
    },
    listen(filter) {
      if (!client) throw new Error("listen needs a v2 client");
      const run = async (): Promise<ListenHandle> => {
        const mark = wire.length;
        const subscription = await withTimeout(
          client.listen(filter, { timeout: timeoutMs }),
          timeoutMs + 1000,
          () => "listen timed out",
        );
        const sent = wire.slice(mark).find((e) =>
          e.dir === "out" && e.msg.method === "subscriptions/listen"
        );
        if (!sent) throw new Error("listen: no subscriptions/listen on the wire");
        return {
          id: sent.msg.id,
          honoredFilter: subscription.honoredFilter,
          subscription,
          close: () => subscription.close(),
        };
      };
      const next = listenChain.then(run, run);
      listenChain = next.catch(() => {});
      return next;
    },
    async callText(name, args = {}) {
      const result = client
        ? await client.callTool({ name, arguments: args }, { timeout: timeoutMs })
        : await v1!.callTool({ name, arguments: args }, undefined, { timeout: timeoutMs });
      const content = result.content as { type: string; text?: string }[];
      const text = content.find((c) => c.type === "text")?.text ?? "";
      if (result.isError) throw new Error(`tool ${name} failed: ${text}`);
      return text;
    },
    async toolNames() {
      const result = client
        ? await client.listTools(undefined, { timeout: timeoutMs, cacheMode: "bypass" })
        : await v1!.listTools(undefined, { timeout: timeoutMs });
      return (result.tools as { name: string }[]).map((t) => t.name);
    },
    close,
    [Symbol.asyncDispose]: close,
  };
  return handle;
}

/**
 * A command with raw stdio: write exact JSON lines, wait for replies by id. For what the SDK
 * clients never send (an envelope-less first request, a bare `server/discover`).
 */
export class RawStdio implements AsyncDisposable {
  /** The child process. */
  readonly process: Deno.ChildProcess;
  /** Every message the command wrote to stdout, in order. */
  readonly messages: Msg[] = [];
  #stderr = "";
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #changes = new Changes();
  #done: Promise<unknown>;
  #timeoutMs: number;

  /** Starts `command` with piped stdio. */
  constructor(command: string[], opts: { timeoutMs?: number; env?: Record<string, string> } = {}) {
    this.#timeoutMs = opts.timeoutMs ?? V2_TIMEOUT_MS;
    const [cmd, ...args] = command;
    this.process = new Deno.Command(cmd, {
      args,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: opts.env,
    }).spawn();
    this.#writer = this.process.stdin.getWriter();
    const read = async (stream: ReadableStream<Uint8Array>, onText: (t: string) => void) => {
      for await (const text of stream.pipeThrough(new TextDecoderStream())) onText(text);
    };
    let buffer = "";
    this.#done = Promise.all([
      read(this.process.stdout, (text) => {
        buffer += text;
        let nl;
        while ((nl = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, nl).trim();
          buffer = buffer.slice(nl + 1);
          if (line) this.messages.push(JSON.parse(line));
        }
        this.#changes.notify();
      }),
      read(this.process.stderr, (text) => {
        this.#stderr += text;
      }),
    ]);
  }

  /** The command's stderr so far. */
  get stderr(): string {
    return this.#stderr;
  }

  /** Writes one message as a JSON line. */
  async send(msg: Msg): Promise<void> {
    await this.#writer.write(new TextEncoder().encode(JSON.stringify(msg) + "\n"));
  }

  /** Sends a request and waits for the response with its id. */
  async request(msg: Msg): Promise<Msg> {
    await this.send({ jsonrpc: "2.0", ...msg });
    return this.waitFor((m) => m.id === msg.id && m.method === undefined, `response to ${msg.id}`);
  }

  /** Waits for a message `pred` accepts. */
  waitFor(pred: (m: Msg) => boolean, what = "message"): Promise<Msg> {
    return this.#changes.waitFor(
      () => this.messages.find(pred),
      this.#timeoutMs,
      () => `no ${what}; got ${JSON.stringify(this.messages)}\nstderr: ${this.#stderr}`,
    );
  }

  /** Closes stdin and waits for the exit (SIGKILL after the timeout). */
  async close(): Promise<Deno.CommandStatus> {
    await this.#writer.close().catch(() => {});
    const status = await withTimeout(this.process.status, this.#timeoutMs, () => "no exit")
      .catch(() => {
        this.process.kill("SIGKILL");
        return this.process.status;
      });
    await this.#done.catch(() => {});
    return status;
  }

  /** {@linkcode close}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** The `_meta` envelope of a modern request. */
export function envelope(extra: Msg = {}): Msg {
  return {
    "io.modelcontextprotocol/protocolVersion": MODERN_VERSION,
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": CLIENT_INFO,
    ...extra,
  };
}
