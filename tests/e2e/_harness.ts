/**
 * Helpers for end-to-end tests: start the mcpmon CLI as a real process and drive it with the MCP
 * SDK `Client` over stdio, against the fixture servers in `fixtures/servers/`.
 *
 * - {@linkcode startMcpmon} launches `deno run <scoped permissions> mod.ts [mcpmonArgs] --
 *   <server…>` (or another launcher, or the server directly with `direct: true`), connects a
 *   client, records stderr and every notification, and answers sampling and roots requests.
 * - {@linkcode makeFixtureDir} copies the well_behaved fixture into a temp dir a test may edit.
 * - {@linkcode processAlive}, {@linkcode processTree} and {@linkcode waitUntil} check processes.
 *
 * Everything waits on events (a notification, a stderr line, a process exit) with generous
 * timeouts ({@linkcode DEFAULT_TIMEOUT_MS}); only process death, which is not an event for a
 * grandchild, is polled.
 *
 * The launcher can be chosen for a whole run with the env var `MCPMON_E2E_LAUNCHER` (words split
 * on spaces, e.g. `node npm/bin/mcpmon.js`), so the same e2e files run per runtime. By default
 * mcpmon runs on Deno with the narrowest permissions it needs ({@linkcode scopedDenoLauncher}),
 * as the README tells users to run it: `mod.ts`, or the Deno bundle with `MCPMON_E2E_DENO_ENTRY`.
 *
 * @example
 * ```ts ignore
 * await using fx = await makeFixtureDir();
 * await using mon = await startMcpmon({
 *   mcpmonArgs: ["--watch", fx.dir],
 *   server: ["node", fx.serverPath],
 * });
 * assert.equal(await callText(mon.client, "hello"), "hello v1");
 * const mark = mon.notificationCount();
 * await fx.writeTools([{ name: "hello", text: "hello v2" }]);
 * await mon.waitForNotification("notifications/tools/list_changed", { after: mark });
 * assert.equal(await callText(mon.client, "hello"), "hello v2");
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { RequestOptions } from "@modelcontextprotocol/sdk/shared/protocol.js";
import {
  type ClientCapabilities,
  type CreateMessageRequest,
  CreateMessageRequestSchema,
  type Implementation,
  isJSONRPCNotification,
  isJSONRPCRequest,
  type JSONRPCMessage,
  type JSONRPCNotification,
  type JSONRPCRequest,
  ListRootsRequestSchema,
  type Root,
} from "@modelcontextprotocol/sdk/types.js";

/** Default timeout for every wait in the harness: generous, the test machine is slow and noisy. */
export const DEFAULT_TIMEOUT_MS = 15_000;

/**
 * The working directory of mcpmon processes started by tests: empty, so the default watch is quiet.
 * It and {@linkcode TEST_STATE_HOME} are removed when the tests end.
 */
export const TEST_CWD: string = processTempDir("mcpmon-test-cwd-");

/** The state dir (`XDG_STATE_HOME`) mcpmon processes started by tests use unless told otherwise. */
export const TEST_STATE_HOME: string = processTempDir("mcpmon-test-state-");

export {
  type FixtureDir,
  FIXTURES_DIR,
  type FixtureTool,
  makeFixtureDir,
  MOD_PATH,
  REPO_ROOT,
  SDK_SERVER,
  WELL_BEHAVED,
  WRAPPER,
} from "../../testing/fixtures.ts";
import { MOD_PATH, processTempDir } from "../../testing/fixtures.ts";
import { processAlive } from "../../testing/processes.ts";

/** Options of {@linkcode startMcpmon}. */
export interface StartOptions {
  /** mcpmon's own flags (before `--`), e.g. `["--watch", dir, "--debounce", "50"]`. */
  mcpmonArgs?: string[];
  /** The server command and its args (after `--`), e.g. `["node", serverPath]`. */
  server: string[];
  /** Working directory of the launched process. */
  cwd?: string;
  /** Extra env vars, on top of this process's whole env. */
  env?: Record<string, string>;
  /** Client capabilities; default `{sampling: {}, roots: {listChanged: true}}`. */
  clientCapabilities?: ClientCapabilities;
  /** Client info; default `{name: "mcpmon-e2e", version: "1.0.0"}`. */
  clientInfo?: Implementation;
  /**
   * Replaces the {@linkcode defaultLauncher} prefix (env `MCPMON_E2E_LAUNCHER` split on spaces,
   * else {@linkcode scopedDenoLauncher}).
   */
  launcher?: string[];
  /** Launch `server` directly, without mcpmon (harness self-tests, benchmarks). */
  direct?: boolean;
  /** Answer to `roots/list` (when the client has the roots capability). */
  roots?: Root[];
  /** Answer to `sampling/createMessage` (when it has sampling); default `sampled: <prompt>`. */
  onSample?: (prompt: string) => string | Promise<string>;
  /** Connect (initialize) before returning; default true. With false, call `connect()`. */
  connect?: boolean;
  /** Timeout of the initialize request; default {@linkcode DEFAULT_TIMEOUT_MS}. */
  connectTimeoutMs?: number;
}

/** How the launched process ended. */
export interface ExitStatus {
  /** Exit code, or null if killed by a signal. */
  code: number | null;
  /** The signal that killed it, or null. */
  signal: string | null;
}

/** A notification the client received, with `index`: its position in `notifications`. */
export type ReceivedNotification = JSONRPCNotification & { index: number };

/** A running mcpmon (or direct server) with a client connected to it. */
export interface McpmonHandle extends AsyncDisposable {
  /** The SDK client. */
  client: Client;
  /** Its stdio transport. */
  transport: StdioClientTransport;
  /** Pid of the launched process (mcpmon, or the server with `direct`); null before start. */
  readonly pid: number | null;
  /** Initializes the client (only needed with `connect: false`). */
  connect(): Promise<void>;
  /** Everything the process wrote to stderr so far. */
  stderrText(): string;
  /** Resolves with the first match of `re` in stderr at or after char offset `from`. */
  waitForStderr(re: RegExp, timeoutMs?: number, from?: number): Promise<RegExpMatchArray>;
  /** Every notification received, in order (tapped before the SDK dispatches them). */
  notifications: ReceivedNotification[];
  /** `notifications.length`: take it before an action, pass it as `after`. */
  notificationCount(): number;
  /**
   * Resolves with the first notification named `method` whose index is >= `after` (default 0).
   */
  waitForNotification(
    method: string,
    opts?: { after?: number; timeoutMs?: number },
  ): Promise<ReceivedNotification>;
  /** Every server→client request received (sampling, roots, ping, …). */
  serverRequests: JSONRPCRequest[];
  /** Ends the process's stdin (as a client disconnecting), without closing the client. */
  endStdin(): void;
  /** Resolves when the process has exited. */
  waitForExit(timeoutMs?: number): Promise<ExitStatus>;
  /** The exit status once exited, else null. */
  exitStatus(): ExitStatus | null;
  /** Closes the client (stdin EOF, then SIGTERM/SIGKILL by the SDK) and waits for the exit. */
  close(timeoutMs?: number): Promise<void>;
}

/** Rejects after `ms` with `message()`; the timer is always cleared (test sanitizers). */
export async function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  message: () => string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message())), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waiters that re-check a condition each time something changes. */
class Changes {
  #listeners = new Set<() => void>();

  notify(): void {
    for (const listener of [...this.#listeners]) listener();
  }

  /** Resolves with the first non-undefined `check()`, re-checked on every `notify()`. */
  waitFor<T>(check: () => T | undefined, timeoutMs: number, message: () => string): Promise<T> {
    const now = check();
    if (now !== undefined) return Promise.resolve(now);
    let listener = () => {};
    const found = new Promise<T>((resolve) => {
      listener = () => {
        const value = check();
        if (value !== undefined) resolve(value);
      };
      this.#listeners.add(listener);
    });
    return withTimeout(found, timeoutMs, message).finally(() => this.#listeners.delete(listener));
  }
}

function tail(text: string, lines = 30): string {
  return text.split("\n").slice(-lines).join("\n");
}

/**
 * The `deno run` permissions mcpmon needs, as the README's "Permissions" section gives them,
 * except `--allow-write`, which is limited to the state dir (see {@linkcode scopedDenoLauncher}).
 */
export const DENO_PERMISSIONS: readonly string[] = [
  "--allow-run",
  "--allow-read",
  "--allow-env",
  "--allow-sys=uid,homedir",
];

/** `text` quoted for a POSIX shell. */
function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/**
 * mcpmon on Deno ({@linkcode denoEntry}) with the narrowest permissions:
 * {@linkcode DENO_PERMISSIONS}, and writes only to the state dir of the environment it is started
 * in (`$XDG_STATE_HOME/mcpmon` when that is an absolute path, else `$HOME/.mcpmon`, as mcpmon works
 * it out) and to the `--log-file`, if given. No network unless `extraPermissions` allow it (e.g.
 * `--allow-net=127.0.0.1` for `--http`). A POSIX sh script works the dirs out from the environment
 * the process really gets, then `exec`s `deno run` (the pid stays the same). Deno and the entry are written into the script,
 * not passed as its arguments: Deno's `node:child_process` (which the SDK's transport uses) turns
 * an argument that is the Deno executable followed by a script into `deno run -A … script`.
 *
 * @example
 * ```ts ignore
 * await using mon = await startMcpmon({
 *   launcher: scopedDenoLauncher(),
 *   server: ["node", WELL_BEHAVED],
 * });
 * ```
 */
export function scopedDenoLauncher(extraPermissions: readonly string[] = []): string[] {
  const script = `case \${XDG_STATE_HOME:-} in
  /*) write="$XDG_STATE_HOME/mcpmon" ;;
  *) write="$HOME/.mcpmon" ;;
esac
prev=
for arg in "$@"; do
  [ "$arg" = -- ] && break
  case $prev in -l | --log-file) write="$write,$arg" ;; esac
  case $arg in --log-file=*) write="$write,\${arg#--log-file=}" ;; esac
  prev=$arg
done
exec ${shellQuote(Deno.execPath())} run ${
    [...DENO_PERMISSIONS, ...extraPermissions].join(" ")
  } "--allow-write=$write" ${shellQuote(denoEntry())} "$@"`;
  return ["sh", "-c", script, "mcpmon"];
}

/**
 * What {@linkcode scopedDenoLauncher} runs: env `MCPMON_E2E_DENO_ENTRY` (`deno task test` sets
 * it to the Deno bundle, `dist/deno/mcpmon.js`, which it builds first), else `mod.ts`.
 */
export function denoEntry(): string {
  return Deno.env.get("MCPMON_E2E_DENO_ENTRY")?.trim() || MOD_PATH;
}

/**
 * The command that starts mcpmon in e2e tests: env `MCPMON_E2E_LAUNCHER` (split on spaces), else
 * {@linkcode scopedDenoLauncher}.
 */
export function defaultLauncher(): string[] {
  const env = Deno.env.get("MCPMON_E2E_LAUNCHER")?.trim();
  if (env) return env.split(/\s+/);
  return scopedDenoLauncher();
}

interface NodeChild {
  stdin?: { end(): void } | null;
  exitCode: number | null;
  signalCode: string | null;
  once(event: "exit", cb: (code: number | null, signal: string | null) => void): void;
}

/**
 * Starts mcpmon (`<launcher> [mcpmonArgs] -- <server…>`) and connects an SDK client.
 *
 * If the connection fails, the process is stopped and the error rethrown with stderr's tail.
 *
 * @example
 * ```ts ignore
 * await using mon = await startMcpmon({ server: ["node", WELL_BEHAVED] });
 * console.log(await callText(mon.client, "echo", { text: "hi" }));
 * ```
 */
export async function startMcpmon(opts: StartOptions): Promise<McpmonHandle> {
  const argv = opts.direct
    ? [...opts.server]
    : [...(opts.launcher ?? defaultLauncher()), ...(opts.mcpmonArgs ?? []), "--", ...opts.server];
  const [command, ...args] = argv;
  if (!command) throw new Error("startMcpmon: empty command");
  const transport = new StdioClientTransport({
    command,
    args,
    stderr: "pipe",
    // An empty dir by default, so mcpmon's default `--watch .` sees no edit made elsewhere.
    cwd: opts.cwd ?? (opts.direct ? undefined : TEST_CWD),
    // A private state dir, so tests never register in the real ~/.mcpmon.
    env: { ...Deno.env.toObject(), XDG_STATE_HOME: TEST_STATE_HOME, ...opts.env },
    maxBufferSize: 256 * 1024 * 1024,
  });
  const describe = `${opts.direct ? "server" : "mcpmon"} (${argv.join(" ")})`;

  const changes = new Changes();
  let stderr = "";
  const decoder = new TextDecoder();
  transport.stderr?.on("data", (chunk: Uint8Array) => {
    stderr += decoder.decode(chunk, { stream: true });
    changes.notify();
  });

  const notifications: ReceivedNotification[] = [];
  const serverRequests: JSONRPCRequest[] = [];
  // Tap: Protocol.connect() chains to an onmessage set before it, so this sees every message,
  // including the notifications the SDK handles itself (progress, cancelled).
  transport.onmessage = (message: JSONRPCMessage) => {
    if (isJSONRPCNotification(message)) {
      notifications.push({ ...message, index: notifications.length });
      changes.notify();
    } else if (isJSONRPCRequest(message)) {
      serverRequests.push(message);
    }
  };

  let status: ExitStatus | null = null;
  let child: NodeChild | undefined;
  let pid: number | null = null;
  const startTransport = transport.start.bind(transport);
  transport.start = async () => {
    await startTransport();
    // The SDK keeps the ChildProcess private; the harness needs its exit status and stdin.
    child = (transport as unknown as { _process?: NodeChild })._process;
    pid = transport.pid;
    child?.once("exit", (code, signal) => {
      status = { code, signal };
      changes.notify();
    });
  };

  const capabilities = opts.clientCapabilities ?? { sampling: {}, roots: { listChanged: true } };
  const client = new Client(opts.clientInfo ?? { name: "mcpmon-e2e", version: "1.0.0" }, {
    capabilities,
  });
  if (capabilities.sampling) {
    const onSample = opts.onSample ?? ((prompt: string) => `sampled: ${prompt}`);
    client.setRequestHandler(CreateMessageRequestSchema, async (request: CreateMessageRequest) => {
      const content = request.params.messages.at(-1)?.content;
      const prompt = content && !Array.isArray(content) && content.type === "text"
        ? content.text
        : "";
      return {
        model: "mcpmon-e2e",
        role: "assistant",
        content: { type: "text", text: await onSample(prompt) },
      };
    });
  }
  if (capabilities.roots) {
    const roots = opts.roots ?? [{ uri: "file:///mcpmon-e2e-root", name: "e2e-root" }];
    client.setRequestHandler(ListRootsRequestSchema, () => ({ roots }));
  }

  const waitForExit = (timeoutMs = DEFAULT_TIMEOUT_MS): Promise<ExitStatus> => {
    if (!child) {
      return Promise.reject(new Error(`${describe} was never started`));
    }
    return changes.waitFor(
      () => status ?? undefined,
      timeoutMs,
      () => `${describe} (pid ${pid}) did not exit within ${timeoutMs} ms`,
    );
  };

  let closing: Promise<void> | undefined;
  const close = (timeoutMs = DEFAULT_TIMEOUT_MS): Promise<void> => {
    closing ??= (async () => {
      await client.close().catch(() => {});
      if (!child) return;
      await waitForExit(timeoutMs);
      // The exit event comes from the runtime; /proc agrees once the process is reaped.
      const exitedPid = pid;
      if (exitedPid !== null) {
        await waitUntil(() => !processAlive(exitedPid), timeoutMs, `${describe} still alive`);
      }
    })();
    return closing;
  };

  let connected = false;
  const connect = async (): Promise<void> => {
    if (connected) return;
    connected = true;
    try {
      await client.connect(transport, { timeout: opts.connectTimeoutMs ?? DEFAULT_TIMEOUT_MS });
    } catch (err) {
      await close().catch(() => {});
      const message = err instanceof Error ? err.message : String(err);
      throw new Error(
        `connecting to ${describe} failed: ${message}\n--- stderr ---\n${tail(stderr)}`,
        {
          cause: err,
        },
      );
    }
  };

  const handle: McpmonHandle = {
    client,
    transport,
    get pid() {
      return pid;
    },
    connect,
    stderrText: () => stderr,
    waitForStderr(re, timeoutMs = DEFAULT_TIMEOUT_MS, from = 0) {
      const once = new RegExp(re.source, re.flags.replace("g", ""));
      return changes.waitFor(
        () => stderr.slice(from).match(once) ?? undefined,
        timeoutMs,
        () => `no stderr match for ${re} within ${timeoutMs} ms; stderr tail:\n${tail(stderr)}`,
      );
    },
    notifications,
    notificationCount: () => notifications.length,
    waitForNotification(method, { after = 0, timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
      return changes.waitFor(
        () => notifications.slice(after).find((n) => n.method === method),
        timeoutMs,
        () =>
          `no ${method} (after #${after}) within ${timeoutMs} ms; received: ${
            JSON.stringify(notifications.map((n) => n.method))
          }; stderr tail:\n${tail(stderr)}`,
      );
    },
    serverRequests,
    endStdin() {
      child?.stdin?.end();
    },
    waitForExit,
    exitStatus: () => status,
    close,
    [Symbol.asyncDispose]: () => close(),
  };

  if (opts.connect ?? true) await connect();
  return handle;
}

/**
 * Calls a tool and returns its first text content (throws if there is none).
 *
 * @example
 * ```ts ignore
 * assert.equal(await callText(client, "echo", { text: "hi" }), "hi");
 * ```
 */
export async function callText(
  client: Client,
  name: string,
  args: Record<string, unknown> = {},
  options?: RequestOptions,
): Promise<string> {
  const result = await client.callTool({ name, arguments: args }, undefined, options);
  const content = result.content as { type: string; text?: string }[] | undefined;
  const first = content?.find((c) => c.type === "text");
  if (first?.text === undefined) {
    throw new Error(`tool ${name} returned no text content: ${JSON.stringify(result)}`);
  }
  return first.text;
}

export { processAlive, processTree, type ProcInfo, procInfo } from "../../testing/processes.ts";

/**
 * Writes a gateway config `.mcpmon.yaml` into `dir`: each server's YAML keys, one per line
 * (`watch: []` unless given; {@linkcode serverKeys} makes `command` and `args`). Returns its path.
 */
export async function writeGatewayConfig(
  dir: string,
  servers: Record<string, string[]>,
): Promise<string> {
  const config = join(dir, ".mcpmon.yaml");
  const lines = Object.entries(servers).flatMap(([name, keys]) => [
    `  ${name}:`,
    ...[...keys, ...(keys.some((k) => k.startsWith("watch:")) ? [] : ["watch: []"])].map((k) =>
      `    ${k}`
    ),
  ]);
  await Deno.writeTextFile(config, ["servers:", ...lines, ""].join("\n"));
  return config;
}

/** A server's command and args, as gateway config keys. */
export const serverKeys = (command: string, args: string[]): string[] => [
  `command: ${command}`,
  `args: ${JSON.stringify(args)}`,
];

/**
 * Polls `predicate` every 25 ms until it is true; rejects with `message` after `timeoutMs`.
 * For states that are not events (a grandchild's death); prefer the event waits otherwise.
 */
export async function waitUntil(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs = DEFAULT_TIMEOUT_MS,
  message = "condition",
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${message}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
