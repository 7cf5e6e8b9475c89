/**
 * Resuming a server's broken SSE stream with `Last-Event-ID` (`src/http_backend.ts`), the 2025-era
 * transport's "Resumability and Redelivery": an answer stream that ends or breaks before its
 * response while the server is still there is continued by a GET with the last event id (after
 * the server's `retry:` time), including the v1 SDK's own "polling" (`closeSSEStream` with an
 * event store); the GET stream reopens from its last event id; the 2026-07-28 era, which has no
 * resumption, never tries.
 */
import assert from "node:assert/strict";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { createMcpHandler, McpServer as McpServerV2 } from "@modelcontextprotocol/server";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { InMemoryEventStore } from "@modelcontextprotocol/sdk/examples/shared/inMemoryEventStore.js";
import type { RequestHandlerExtra } from "@modelcontextprotocol/sdk/shared/protocol.js";
import type { ServerNotification, ServerRequest } from "@modelcontextprotocol/sdk/types.js";
import { httpChild } from "../src/http_backend.ts";
import { ManualClock } from "../testing/manual_clock.ts";
import type { Runtime } from "../src/runtime/mod.ts";
import { connect, drive, initialize, type Json, serve } from "./_http_child.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

/** SSE text of events: `[id, message]` pairs (id undefined: no id line), then `retry` if given. */
function sseText(events: [string | undefined, unknown][], retry?: number): string {
  let text = retry === undefined ? "" : `retry: ${retry}\n\n`;
  for (const [id, message] of events) {
    text += `${id === undefined ? "" : `id: ${id}\n`}data: ${JSON.stringify(message)}\n\n`;
  }
  return text;
}

/** An SSE response of `text` that ends (or, with `open`, stays open). */
function sse(text: string, open = false): Response {
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(new TextEncoder().encode(text));
      if (!open) c.close();
    },
  });
  return new Response(body, {
    headers: { "content-type": "text/event-stream", "mcp-session-id": "s1" },
  });
}

const progress = (n: number) => ({
  jsonrpc: "2.0",
  method: "notifications/progress",
  params: { progressToken: "p", progress: n },
});

Deno.test(
  "2025 era: an answer stream that ends before its response is resumed by a GET with Last-Event-ID after the server's retry time, and the response arrives",
  opts,
  async () => {
    const gets: (string | null)[] = [];
    const server = serve(async (req) => {
      if (req.method === "GET") {
        gets.push(req.headers.get("last-event-id"));
        return sse(sseText([["e3", { jsonrpc: "2.0", id: 2, result: { done: true } }]]));
      }
      if (req.method === "DELETE") return new Response(null, { status: 200 });
      const msg = await req.json();
      if (msg.method === "initialize") {
        return Response.json({ jsonrpc: "2.0", id: 1, result: { protocolVersion: "2025-11-25" } }, {
          headers: { "mcp-session-id": "s1" },
        });
      }
      return sse(sseText([["e1", progress(1)], ["e2", progress(2)]], 30));
    });
    const child = connect(server.url);
    const io = drive(child);
    await io.send(initialize);
    await io.find((l) => l.id === 1, "the initialize answer");
    await io.send({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "slow" } });
    const answer = await io.find((l) => l.id === 2, "the answer");
    assert.deepEqual(answer.result, { done: true });
    assert.deepEqual(gets, ["e2"]);
    assert.equal(io.lines.filter((l) => l.method === "notifications/progress").length, 2);
    child.killGroup("SIGTERM");
    await child.exited;
    await server.close();
  },
);

Deno.test(
  "a resumption the server refuses (405): the request gets its one error, and the log says why",
  opts,
  async () => {
    let gets = 0;
    const server = serve(async (req) => {
      if (req.method === "GET") {
        gets++;
        return new Response(null, { status: 405 });
      }
      await req.json();
      return sse(sseText([["e1", progress(1)]], 10));
    });
    const child = connect(server.url);
    const io = drive(child);
    await io.send({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "slow" } });
    const answer = await io.find((l) => l.id === 2, "the answer");
    assert.match(
      (answer.error as { message: string }).message,
      /ended its answer to tools\/call without a response/,
    );
    assert.equal(gets, 1, "one try: the server said no");
    assert.match(io.stderr, /resuming the answer to tools\/call failed: HTTP 405/);
    child.killGroup("SIGTERM");
    await child.exited;
    await server.close();
  },
);

Deno.test(
  "a stream without event ids, or in the 2026-07-28 era (no resumption there), is not resumed",
  opts,
  async () => {
    let gets = 0;
    const server = serve(async (req) => {
      if (req.method === "GET") {
        gets++;
        return new Response(null, { status: 405 });
      }
      const msg = await req.json();
      return sse(sseText([[msg.id === 3 ? "e1" : undefined, progress(1)]]));
    });
    const child = connect(server.url);
    const io = drive(child);
    await io.send({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "x" } });
    await io.find((l) => l.id === 2, "the first answer");
    await io.send({
      jsonrpc: "2.0",
      id: 3,
      method: "tools/call",
      params: {
        name: "x",
        _meta: {
          "io.modelcontextprotocol/protocolVersion": "2026-07-28",
          "io.modelcontextprotocol/clientInfo": { name: "t", version: "1" },
          "io.modelcontextprotocol/clientCapabilities": {},
        },
      },
    });
    const modern = await io.find((l) => l.id === 3, "the second answer");
    assert.match((modern.error as { message: string }).message, /without a response/);
    assert.equal(gets, 0);
    child.killGroup("SIGTERM");
    await child.exited;
    await server.close();
  },
);

Deno.test(
  "the GET stream, when it ends while the server is there, reopens from its last event id",
  opts,
  async () => {
    const gets: (string | null)[] = [];
    const server = serve(async (req) => {
      if (req.method === "GET") {
        gets.push(req.headers.get("last-event-id"));
        if (gets.length === 1) {
          return sse(
            sseText([["g1", { jsonrpc: "2.0", method: "notifications/tools/list_changed" }]], 20),
          );
        }
        return sse("", true);
      }
      if (req.method === "DELETE") return new Response(null, { status: 200 });
      const msg = await req.json();
      if (msg.id === undefined) return new Response(null, { status: 202 });
      return Response.json({ jsonrpc: "2.0", id: 1, result: { protocolVersion: "2025-11-25" } }, {
        headers: { "mcp-session-id": "s1" },
      });
    });
    const child = connect(server.url);
    const io = drive(child);
    await io.send(initialize);
    await io.find((l) => l.id === 1, "the initialize answer");
    await io.send({ jsonrpc: "2.0", method: "notifications/initialized" });
    await io.find((l) => l.method === "notifications/tools/list_changed", "the GET stream's event");
    const deadline = Date.now() + 10_000;
    while (gets.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(gets, [null, "g1"]);
    child.killGroup("SIGTERM");
    await child.exited;
    await server.close();
  },
);

Deno.test(
  "the v1 SDK's polling: a tool that closes its SSE stream (closeSSEStream, with an event store) still gets its notification and result to the client",
  opts,
  async () => {
    const mcp = new McpServer({ name: "resumable", version: "1.0.0" }, {
      capabilities: { logging: {} },
    });
    mcp.registerTool(
      "slow",
      { description: "Closes its stream, then answers." },
      async (extra: RequestHandlerExtra<ServerRequest, ServerNotification>) => {
        extra.closeSSEStream?.();
        await new Promise((resolve) => setTimeout(resolve, 150));
        await extra.sendNotification({
          method: "notifications/message",
          params: { level: "info", data: "still working" },
        });
        await new Promise((resolve) => setTimeout(resolve, 100));
        return { content: [{ type: "text", text: "slow done" }] };
      },
    );
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => crypto.randomUUID(),
      eventStore: new InMemoryEventStore(),
      retryInterval: 50,
    });
    await mcp.connect(transport);
    const server = serve((req) => transport.handleRequest(req));
    const child = connect(server.url);
    const io = drive(child);
    await io.send(initialize);
    await io.find((l) => l.id === 1, "the initialize answer");
    await io.send({ jsonrpc: "2.0", method: "notifications/initialized" });
    await io.send({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "slow" } });
    const answer = await io.find((l) => l.id === 2, "the answer");
    assert.equal(answer.error, undefined, JSON.stringify(answer));
    assert.equal(((answer.result as Json).content as { text: string }[])[0].text, "slow done");
    assert.ok(
      io.lines.some((l) => l.method === "notifications/message"),
      "the notification sent while the stream was closed arrives",
    );
    child.killGroup("SIGTERM");
    await child.exited;
    await mcp.close();
    await server.close();
  },
);

const MODERN_META = {
  "io.modelcontextprotocol/protocolVersion": "2026-07-28",
  "io.modelcontextprotocol/clientInfo": { name: "t", version: "1" },
  "io.modelcontextprotocol/clientCapabilities": {},
};
const SUB = "io.modelcontextprotocol/subscriptionId";
const listen = {
  jsonrpc: "2.0",
  id: 7,
  method: "subscriptions/listen",
  params: {
    _meta: MODERN_META,
    notifications: { toolsListChanged: true, promptsListChanged: true },
  },
};
const ack = {
  jsonrpc: "2.0",
  method: "notifications/subscriptions/acknowledged",
  params: { _meta: { [SUB]: 7 }, notifications: { toolsListChanged: true } },
};

Deno.test(
  "2026-07-28: a listen whose stream drops while the server is there is sent again; the new acknowledgment is swallowed and the client is told the lists it listens to may have changed",
  opts,
  async () => {
    const posts: Json[] = [];
    const server = serve(async (req) => {
      const msg = await req.json();
      posts.push(msg);
      // The first stream acknowledges and drops; the second stays open.
      return sse(sseText([[undefined, ack]]), posts.length > 1);
    });
    const child = connect(server.url);
    const io = drive(child);
    await io.send(listen);
    await io.find((l) => l.method === "notifications/tools/list_changed", "the list change");
    assert.deepEqual(posts.map((p) => p.method), ["subscriptions/listen", "subscriptions/listen"]);
    assert.deepEqual(posts[1], listen, "sent again as it was");
    assert.deepEqual(io.lines, [
      ack,
      {
        jsonrpc: "2.0",
        method: "notifications/tools/list_changed",
        params: { _meta: { [SUB]: 7 } },
      },
    ]);
    child.killGroup("SIGTERM");
    await child.exited;
    await server.close();
  },
);

Deno.test(
  "2026-07-28: a listen the server keeps dropping at once is given up after a few tries, with its one error",
  opts,
  async () => {
    let posts = 0;
    const server = serve(async (req) => {
      await req.json();
      posts++;
      return sse(sseText([[undefined, ack]]));
    });
    const child = connect(server.url);
    const io = drive(child);
    await io.send(listen);
    const answer = await io.find((l) => l.id === 7, "the listen's answer");
    assert.match((answer.error as { message: string }).message, /without a response/);
    assert.equal(posts, 6, "the listen, then five tries");
    assert.equal(io.lines.filter((l) => l.method === ack.method).length, 1);
    child.killGroup("SIGTERM");
    await child.exited;
    await server.close();
  },
);

Deno.test(
  "the GET stream of a server using the v1 SDK's example event store (which cannot resume it) is reopened afresh, so the server's later messages still arrive",
  opts,
  async () => {
    const mcp = new McpServer({ name: "store", version: "1.0.0" }, {
      capabilities: { tools: { listChanged: true } },
    });
    mcp.registerTool(
      "drop",
      { description: "Announces a change, drops the GET stream, announces another." },
      async (extra: RequestHandlerExtra<ServerRequest, ServerNotification>) => {
        await mcp.server.sendToolListChanged();
        await new Promise((resolve) => setTimeout(resolve, 50));
        extra.closeStandaloneSSEStream?.();
        await new Promise((resolve) => setTimeout(resolve, 500));
        await mcp.server.sendToolListChanged();
        return { content: [{ type: "text", text: "dropped" }] };
      },
    );
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => crypto.randomUUID(),
      eventStore: new InMemoryEventStore(),
      retryInterval: 50,
    });
    await mcp.connect(transport);
    const gets: (string | null)[] = [];
    const server = serve((req) => {
      if (req.method === "GET") gets.push(req.headers.get("last-event-id"));
      return transport.handleRequest(req);
    });
    const child = connect(server.url);
    const io = drive(child);
    await io.send(initialize);
    await io.find((l) => l.id === 1, "the initialize answer");
    await io.send({ jsonrpc: "2.0", method: "notifications/initialized" });
    const deadline = Date.now() + 10_000;
    while (gets.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await io.send({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "drop" } });
    await io.find((l) => l.id === 2, "the answer");
    const changes = () => io.lines.filter((l) => l.method === "notifications/tools/list_changed");
    while (changes().length < 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(changes().length, 2, "both announcements arrived");
    assert.deepEqual(gets, [null, null], "reopened without Last-Event-ID");
    child.killGroup("SIGTERM");
    await child.exited;
    await mcp.close();
    await server.close();
  },
);

Deno.test(
  "v2 SDK, 2026-07-28: a listen stream cut by something in between (after its acknowledgment) is re-sent; the client keeps one listen and hears the server's later list change",
  opts,
  async () => {
    const handler = createMcpHandler(() => {
      const server = new McpServerV2({ name: "v2-listen", version: "1.0.0" }, {
        capabilities: { tools: { listChanged: true } },
      });
      server.registerTool("hello", { description: "Says hello." }, () => ({
        content: [{ type: "text", text: "hello!" }],
      }));
      return server;
    }, { keepAliveMs: 0 });
    let listens = 0;
    const server = serve(async (req) => {
      const body = await req.clone().json().catch(() => undefined);
      const response = await handler.fetch(req);
      if (body?.method !== "subscriptions/listen" || ++listens > 1 || !response.body) {
        return response;
      }
      // An intermediary cuts the first listen's stream after its first event (the ack).
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      while (!text.includes("\n\n")) {
        const { value, done } = await reader.read();
        if (done) break;
        text += value;
      }
      void reader.cancel();
      return new Response(text.slice(0, text.indexOf("\n\n") + 2), {
        headers: { "content-type": "text/event-stream" },
      });
    });
    const child = connect(server.url);
    const io = drive(child);
    await io.send({
      jsonrpc: "2.0",
      id: "listen:0",
      method: "subscriptions/listen",
      params: { notifications: { toolsListChanged: true }, _meta: MODERN_META },
    });
    await io.find((l) => l.method === "notifications/tools/list_changed", "the list change");
    assert.equal(listens, 2, "sent again");
    handler.notify.toolsChanged();
    const deadline = Date.now() + 10_000;
    const changes = () => io.lines.filter((l) => l.method === "notifications/tools/list_changed");
    while (changes().length < 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(changes().length, 2, "the server's own change arrives on the new stream");
    for (const change of changes()) {
      assert.equal(((change.params as Json)._meta as Json)[SUB], "listen:0");
    }
    assert.equal(io.lines.filter((l) => l.method === ack.method).length, 1, "one ack");
    assert.equal(io.lines.filter((l) => l.id === "listen:0").length, 0, "the listen goes on");
    await io.send({
      jsonrpc: "2.0",
      method: "notifications/cancelled",
      params: { requestId: "listen:0", _meta: MODERN_META },
    });
    child.killGroup("SIGTERM");
    await child.exited;
    await handler.close();
    await server.close();
  },
);

Deno.test(
  "a GET stream that breaks is reopened at once (no wait on the clock), so a server that went away is noticed before the next request finds out",
  opts,
  async () => {
    let gets = 0;
    const server = serve(async (req) => {
      if (req.method === "GET") {
        gets++;
        const body = new ReadableStream<Uint8Array>({
          start(c) {
            c.enqueue(new TextEncoder().encode(": hello\n\n"));
            // The first stream breaks mid-way; the second stays open.
            if (gets === 1) setTimeout(() => c.error(new Error("cut")), 50);
          },
        });
        return new Response(body, { headers: { "content-type": "text/event-stream" } });
      }
      if (req.method === "DELETE") return new Response(null, { status: 200 });
      const msg = await req.json();
      if (msg.id === undefined) return new Response(null, { status: 202 });
      return Response.json({ jsonrpc: "2.0", id: 1, result: { protocolVersion: "2025-11-25" } }, {
        headers: { "mcp-session-id": "s1" },
      });
    });
    // Time stands still: only a reopen that waits for nothing happens.
    const child = httpChild({ clock: new ManualClock() } as unknown as Runtime, {
      command: "",
      args: [],
      http: { url: server.url, connectTimeoutMs: 5_000 },
    });
    const io = drive(child);
    await io.send(initialize);
    await io.find((l) => l.id === 1, "the initialize answer");
    await io.send({ jsonrpc: "2.0", method: "notifications/initialized" });
    const deadline = Date.now() + 10_000;
    while (gets < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(gets, 2, "reopened at once");
    child.killGroup("SIGTERM");
    await child.exited;
    await server.close();
  },
);
