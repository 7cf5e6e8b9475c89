/**
 * What the specs of the Streamable HTTP child (`src/http_backend.ts`) share: a tiny local server
 * (`Deno.serve` on 127.0.0.1), a child connected to it with no process of its own, a driver that
 * writes lines to the child and collects the lines it puts on stdout, and a 2025 `initialize`.
 *
 * @module
 */
import { httpChild } from "../src/http_backend.ts";
import type { ChildProcess, Runtime, SpawnOptions } from "../src/runtime/mod.ts";

/** A JSON object, as the specs read and write messages. */
export type Json = Record<string, unknown>;

/** A server on 127.0.0.1 (`port` 0: any free one) answering with `handler`; its URL ends in /mcp. */
export function serve(
  handler: (req: Request) => Response | Promise<Response>,
  port = 0,
): { url: string; close(): Promise<void> } {
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port, signal: ac.signal, onListen() {} },
    handler,
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}/mcp`,
    async close() {
      ac.abort();
      await server.finished;
    },
  };
}

/** A JSON response. */
export function json(body: unknown, headers: Record<string, string> = {}, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/**
 * A child connected to `url` with no command (the runtime is only asked for its clock), with a
 * connect timeout of 5 s unless `http` says otherwise.
 */
export function connect(
  url: string,
  http: Partial<NonNullable<SpawnOptions["http"]>> = {},
  runtime: Runtime = {} as Runtime,
): ChildProcess {
  return httpChild(runtime, {
    command: "",
    args: [],
    http: { url, connectTimeoutMs: 5_000, ...http },
  });
}

/** Drives a child: write messages, read the lines it puts on stdout and what it writes on stderr. */
export function drive(child: ChildProcess) {
  const lines: Json[] = [];
  const waiters: (() => void)[] = [];
  let stderr = "";
  let ended = false;
  const wake = () => {
    for (const w of waiters.splice(0)) w();
  };
  void (async () => {
    let text = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      const parts = text.split("\n");
      text = parts.pop()!;
      for (const part of parts) lines.push(JSON.parse(part));
      wake();
    }
  })().catch(() => {}).finally(() => {
    ended = true;
    wake();
  });
  void (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) stderr += chunk;
  })().catch(() => {});
  const writer = child.stdin.getWriter();
  /** Waits (up to `ms`) until `check` holds, waking on each line and every 100 ms at the latest. */
  const until = async (check: () => boolean, what: () => string, ms: number) => {
    const deadline = Date.now() + ms;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(what());
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  };
  return {
    lines,
    get stderr(): string {
      return stderr;
    },
    get ended(): boolean {
      return ended;
    },
    send: (message: Json) => writer.write(new TextEncoder().encode(JSON.stringify(message) + "\n")),
    /** Resolves with the line at `index` (0-based), waiting up to 5 s. */
    async line(index: number): Promise<Json> {
      await until(
        () => lines.length > index || ended,
        () => `no line ${index}: ${JSON.stringify(lines)}`,
        5_000,
      );
      if (lines.length <= index) throw new Error(`stdout ended after ${lines.length} lines`);
      return lines[index];
    },
    /** The first line matching `match`, waiting up to 10 s. */
    async find(match: (line: Json) => boolean, what = "matching line"): Promise<Json> {
      let hit: Json | undefined;
      await until(
        () => (hit = lines.find(match)) !== undefined,
        () => `no ${what} in ${JSON.stringify(lines)}`,
        10_000,
      );
      return hit!;
    },
    /** Waits up to 10 s until `check` holds. */
    until(check: () => boolean, what: string): Promise<void> {
      return until(check, () => `timed out waiting for ${what}`, 10_000);
    },
  };
}

/** A 2025-11-25 `initialize` request, id 1. */
export const initialize = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: {
    protocolVersion: "2025-11-25",
    capabilities: {},
    clientInfo: { name: "t", version: "1" },
  },
};
