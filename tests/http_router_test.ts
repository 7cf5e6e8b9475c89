/**
 * Servers at a URL behind the router (fake runtime for the stdio side, tiny real HTTP servers on
 * 127.0.0.1 for the HTTP side): a gateway mixing a `url:` server with a stdio one, and a server
 * someone else replaces, reconnected with the client's session replayed.
 */
import assert from "node:assert/strict";
import { type ServerOptions, serverOptions } from "../src/config.ts";
import { basicServer, initializeClient, type Msg, startRouter } from "./_fake_runtime.ts";
import { freePort } from "../testing/ports.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

/**
 * A minimal MCP server on Streamable HTTP (2025 era, with a session and a GET stream):
 * `tools/call` answers `<name>:<tool>`. `seen` lists the methods it was sent.
 */
function mcpServer(name: string, tools: string[], port = 0) {
  const seen: string[] = [];
  const streams = new Set<ReadableStreamDefaultController<Uint8Array>>();
  const ac = new AbortController();
  const json = (body: unknown, headers: Record<string, string> = {}) =>
    new Response(JSON.stringify(body), {
      headers: { "content-type": "application/json", ...headers },
    });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port, signal: ac.signal, onListen() {} },
    async (req) => {
      if (req.method === "GET") {
        const body = new ReadableStream<Uint8Array>({
          start: (c) => void streams.add(c),
          cancel() {},
        });
        return new Response(body, { headers: { "content-type": "text/event-stream" } });
      }
      if (req.method === "DELETE") return new Response(null, { status: 200 });
      const msg = await req.json();
      seen.push(msg.method ?? "response");
      if (msg.id === undefined) return new Response(null, { status: 202 });
      switch (msg.method) {
        case "initialize":
          return json({
            jsonrpc: "2.0",
            id: msg.id,
            result: {
              protocolVersion: msg.params.protocolVersion,
              capabilities: { tools: {} },
              serverInfo: { name, version: "1" },
            },
          }, { "mcp-session-id": `${name}-session` });
        case "tools/list":
          return json({
            jsonrpc: "2.0",
            id: msg.id,
            result: { tools: tools.map((t) => ({ name: t, inputSchema: { type: "object" } })) },
          });
        case "tools/call":
          return json({
            jsonrpc: "2.0",
            id: msg.id,
            result: { content: [{ type: "text", text: `${name}:${msg.params.name}` }] },
          });
      }
      return json({ jsonrpc: "2.0", id: msg.id, error: { code: -32601, message: "nope" } });
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}/mcp`,
    seen,
    /** Goes away: its event streams end, then it stops listening. */
    async stop() {
      for (const c of streams) {
        try {
          c.close();
        } catch { /* the client closed it */ }
      }
      ac.abort();
      await server.finished;
    },
  };
}

const urlServer = (name: string, url: string, overrides: Partial<ServerOptions> = {}) => ({
  ...serverOptions({ name, command: "", url, watch: [] }),
  graceMs: 200,
  initTimeoutMs: 5_000,
  minRestartIntervalMs: 0,
  ...overrides,
});

let nextId = 1;
async function call(
  h: ReturnType<typeof startRouter>["h"],
  method: string,
  params?: unknown,
): Promise<Msg> {
  const id = `q${nextId++}`;
  h.clientSend({ jsonrpc: "2.0", id, method, params });
  return await h.clientWaitFor((m) => m.id === id && ("result" in m || "error" in m));
}

async function waitFor(check: () => boolean, what: string) {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

Deno.test(
  "a gateway serves a url: server (no command) next to a stdio one: tools merged, calls routed to each",
  opts,
  async () => {
    const web = mcpServer("web", ["fetch"]);
    const local = serverOptions({ name: "local", command: "local", watch: [] });
    const { h, close } = startRouter(
      { local: basicServer(["run"]) },
      [{ ...local, graceMs: 200, initTimeoutMs: 5_000 }, urlServer("web", web.url)],
      { gateway: { separator: "__", nameBudget: 64, callThrough: false } },
    );
    await initializeClient(h);
    const list = await call(h, "tools/list");
    const names = (list.result.tools as { name: string }[]).map((t) => t.name);
    assert.ok(names.includes("local__run") && names.includes("web__fetch"), names.join(","));
    const fetched = await call(h, "tools/call", { name: "web__fetch", arguments: {} });
    assert.equal(fetched.result.content[0].text, "web:fetch");
    const ran = await call(h, "tools/call", { name: "local__run", arguments: {} });
    assert.equal(ran.error, undefined, JSON.stringify(ran));
    await close();
    assert.equal(h.children.length, 1, "only the stdio server was spawned");
    await web.stop();
  },
);

Deno.test(
  "a server at a URL without a command that is replaced: requests made while it is away wait, and the new one gets the client's session replayed before them",
  opts,
  async () => {
    const first = mcpServer("one", ["hello"]);
    const port = Number(new URL(first.url).port);
    const { h, close } = startRouter([], [urlServer("web", first.url)]);
    await initializeClient(h);
    assert.equal(
      (await call(h, "tools/call", { name: "hello" })).result.content[0].text,
      "one:hello",
    );

    await first.stop();
    await waitFor(
      () => /lost the connection/.test(h.stderr()),
      "the loss is noticed",
    );
    const answer = call(h, "tools/call", { name: "hello" });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const second = mcpServer("two", ["hello"], port);
    assert.equal((await answer).result.content[0].text, "two:hello");
    assert.deepEqual(second.seen.slice(0, 2), ["initialize", "notifications/initialized"]);
    assert.ok(second.seen.includes("tools/call"));
    await close();
    await second.stop();
    assert.ok(freePort() > 0);
  },
);
