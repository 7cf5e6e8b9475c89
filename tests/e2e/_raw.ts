/**
 * A raw JSON-RPC client for e2e tests that must see every byte: count
 * responses per id (exactly one each), send invalid input, or stop reading
 * (backpressure). The SDK client hides all three.
 *
 * @module
 */
import { LineSplitter } from "../../src/jsonrpc.ts";
import {
  DEFAULT_TIMEOUT_MS,
  defaultLauncher,
  TEST_CWD,
  TEST_STATE_HOME,
  withTimeout,
} from "./_harness.ts";

// deno-lint-ignore no-explicit-any
export type Msg = Record<string, any>;

/** The `initialize` params the raw client sends. */
export const RAW_INIT_PARAMS = {
  protocolVersion: "2025-06-18",
  capabilities: { sampling: {} },
  clientInfo: { name: "raw-e2e", version: "1.0.0" },
};

/** mcpmon started as a process, with raw access to its stdio. */
export class RawMcpmon implements AsyncDisposable {
  readonly process: Deno.ChildProcess;
  /** Every message mcpmon wrote to stdout, in order. */
  readonly messages: Msg[] = [];
  /** Responses by id (JSON of the id, so 1 and "1" differ). */
  readonly responses = new Map<string, Msg[]>();
  /** Lines on stdout that were not JSON (must stay empty). */
  readonly junk: string[] = [];
  /** Every line mcpmon wrote to stdout, as written (ids past 2^53 intact). */
  readonly rawLines: string[] = [];
  #stderr = "";
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #waiters: { pred: (m: Msg) => boolean; resolve: (m: Msg) => void }[] = [];
  #nextId = 1;
  #reading: Promise<void>;
  #stderrDone: Promise<void>;
  #gate: Promise<void> | undefined;
  #openGate: () => void = () => {};

  /** Starts `[launcher…, ...mcpmonArgs, "--", ...server]`. */
  constructor(mcpmonArgs: string[], server: string[], opts: { env?: Record<string, string> } = {}) {
    const [command, ...args] = defaultLauncher();
    this.process = new Deno.Command(command, {
      args: [...args, ...mcpmonArgs, "--", ...server],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: { XDG_STATE_HOME: TEST_STATE_HOME, ...opts.env },
      cwd: TEST_CWD, // empty: the default `--watch .` sees no edit made elsewhere
    }).spawn();
    this.#writer = this.process.stdin.getWriter();
    this.#reading = this.#read();
    const stderr = this.process.stderr;
    this.#stderrDone = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of stderr) this.#stderr += decoder.decode(chunk, { stream: true });
    })();
  }

  /** mcpmon's pid. */
  get pid(): number {
    return this.process.pid;
  }

  /** What mcpmon wrote to stderr so far. */
  stderr(): string {
    return this.#stderr;
  }

  /** Stops reading mcpmon's stdout (a client that does not keep up); the pipe fills. */
  pauseReading(): void {
    this.#gate ??= new Promise((resolve) => this.#openGate = resolve);
  }

  /** Reads mcpmon's stdout again. */
  resumeReading(): void {
    this.#gate = undefined;
    this.#openGate();
  }

  /** Writes a message (object) or a raw line. Resolves when the pipe took it. */
  async send(message: Msg | string): Promise<void> {
    const text = typeof message === "string" ? message : JSON.stringify(message);
    await this.#writer.write(new TextEncoder().encode(text + "\n"));
  }

  /** Sends a request with a fresh numeric id (or `id`) and returns the id. */
  async request(method: string, params?: unknown, id?: string | number): Promise<string | number> {
    const rid = id ?? this.#nextId++;
    await this.send(
      params === undefined
        ? { jsonrpc: "2.0", id: rid, method }
        : { jsonrpc: "2.0", id: rid, method, params },
    );
    return rid;
  }

  /** Sends a request and waits for its response. */
  async call(method: string, params?: unknown, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Msg> {
    const id = await this.request(method, params);
    return await this.waitFor(
      (m) => m.id === id && ("result" in m || "error" in m),
      timeoutMs,
      `response to ${method}`,
    );
  }

  /** Initializes the session (initialize + notifications/initialized). */
  async initialize(): Promise<Msg> {
    const response = await this.call("initialize", RAW_INIT_PARAMS);
    await this.send({ jsonrpc: "2.0", method: "notifications/initialized" });
    return response;
  }

  /** Resolves with the first message (past or future) matching `pred`. */
  waitFor(
    pred: (m: Msg) => boolean,
    timeoutMs = DEFAULT_TIMEOUT_MS,
    what = "a message",
  ): Promise<Msg> {
    const seen = this.messages.find(pred);
    if (seen) return Promise.resolve(seen);
    const promise = new Promise<Msg>((resolve) => this.#waiters.push({ pred, resolve }));
    return withTimeout(
      promise,
      timeoutMs,
      () => `timed out waiting for ${what}; stderr:\n${this.#stderr.slice(-3000)}`,
    );
  }

  /** Ends mcpmon's stdin (the client disconnects). */
  async closeStdin(): Promise<void> {
    await this.#writer.close().catch(() => {});
  }

  /** Closes stdin and waits for mcpmon to exit; returns its status. */
  async close(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Deno.CommandStatus> {
    await this.closeStdin();
    this.resumeReading();
    const status = await withTimeout(this.process.status, timeoutMs, () => "mcpmon did not exit")
      .catch((err) => {
        this.process.kill("SIGKILL");
        throw err;
      });
    await this.#reading;
    await this.#stderrDone;
    return status;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await this.close();
    } catch { /* already reported by the test, or already closed */ }
  }

  async #read() {
    const splitter = new LineSplitter();
    const handle = (line: string) => {
      if (line === "") return;
      this.rawLines.push(line);
      let msg: Msg;
      try {
        msg = JSON.parse(line);
      } catch {
        this.junk.push(line);
        return;
      }
      this.messages.push(msg);
      if ("id" in msg && ("result" in msg || "error" in msg)) {
        const key = JSON.stringify(msg.id);
        const list = this.responses.get(key) ?? [];
        list.push(msg);
        this.responses.set(key, list);
      }
      this.#waiters = this.#waiters.filter((w) => {
        if (!w.pred(msg)) return true;
        w.resolve(msg);
        return false;
      });
    };
    for await (const chunk of this.process.stdout) {
      for (const line of splitter.push(chunk)) handle(line);
      if (this.#gate) await this.#gate;
    }
    for (const line of splitter.flush()) handle(line);
  }
}

/** mcpmon's resident memory in bytes (from /proc), or 0 when it is gone. */
export function rssBytes(pid: number): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return kb * 1024;
  } catch {
    return 0;
  }
}
