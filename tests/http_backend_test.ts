/**
 * The Streamable HTTP child (`src/http_backend.ts`) against tiny local servers (`Deno.serve` on
 * 127.0.0.1, port 0): lines in, POSTs out, answers back as lines, in both protocol eras, and every
 * request answered exactly once whatever the server does.
 */
import assert from "node:assert/strict";
import { httpChild } from "../src/http_backend.ts";
import { denoRuntime } from "../src/runtime/deno.ts";
import { connect, drive, initialize, type Json, json, serve } from "./_http_child.ts";
import { freePort } from "../testing/ports.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

/** An SSE response of `events`; stays open when `open`, until the client closes it (`onClose`). */
function sse(events: unknown[], open = false, onClose?: () => void): Response {
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      for (const e of events) {
        c.enqueue(encoder.encode(`event: message\ndata: ${JSON.stringify(e)}\n\n`));
      }
      if (!open) c.close();
    },
    cancel: () => onClose?.(),
  });
  return new Response(body, { headers: { "content-type": "text/event-stream" } });
}

Deno.test(
  "each line is POSTed accepting JSON and SSE; a JSON answer becomes one line (pretty JSON folded into one)",
  opts,
  async () => {
    const seen: { accept: string | null; type: string | null; body: unknown }[] = [];
    const server = serve(async (req) => {
      seen.push({
        accept: req.headers.get("accept"),
        type: req.headers.get("content-type"),
        body: await req.json(),
      });
      return new Response(
        JSON.stringify({ jsonrpc: "2.0", id: 7, result: { ok: true } }, null, 2),
        {
          headers: { "content-type": "application/json" },
        },
      );
    });
    const child = connect(server.url);
    const io = drive(child);
    await io.send({ jsonrpc: "2.0", id: 7, method: "tools/list" });
    assert.deepEqual(await io.line(0), { jsonrpc: "2.0", id: 7, result: { ok: true } });
    assert.deepEqual(seen, [{
      accept: "application/json, text/event-stream",
      type: "application/json",
      body: { jsonrpc: "2.0", id: 7, method: "tools/list" },
    }]);
    child.killGroup("SIGTERM");
    await child.exited;
    await server.close();
  },
);

Deno.test(
  "an SSE answer: each data event becomes a line, notifications before the response included",
  opts,
  async () => {
    const server = serve(() =>
      sse([
        { jsonrpc: "2.0", method: "notifications/progress", params: { progress: 1 } },
        { jsonrpc: "2.0", id: "a", result: { done: 1 } },
      ])
    );
    const child = connect(server.url);
    const io = drive(child);
    await io.send({ jsonrpc: "2.0", id: "a", method: "tools/call", params: { name: "x" } });
    assert.equal((await io.line(0)).method, "notifications/progress");
    assert.deepEqual(await io.line(1), { jsonrpc: "2.0", id: "a", result: { done: 1 } });
    child.killGroup("SIGTERM");
    await child.exited;
    await server.close();
  },
);

Deno.test(
  "legacy era: the session id and protocol version of initialize go on later requests; the GET stream opens after notifications/initialized and its events become lines; stopping DELETEs the session",
  opts,
  async () => {
    const requests: {
      method: string;
      rpc?: string;
      session: string | null;
      version: string | null;
    }[] = [];
    const server = serve(async (req) => {
      const body = req.method === "POST" ? await req.json() : undefined;
      requests.push({
        method: req.method,
        rpc: body?.method,
        session: req.headers.get("mcp-session-id"),
        version: req.headers.get("mcp-protocol-version"),
      });
      if (req.method === "GET") {
        return sse([{ jsonrpc: "2.0", method: "notifications/tools/list_changed" }], true);
      }
      if (req.method === "DELETE") return new Response(null, { status: 200 });
      if (body.method === "initialize") {
        return json({ jsonrpc: "2.0", id: body.id, result: { protocolVersion: "2025-06-18" } }, {
          "mcp-session-id": "s1",
        });
      }
      if (body.id === undefined) return new Response(null, { status: 202 });
      return json({ jsonrpc: "2.0", id: body.id, result: {} });
    });
    const child = connect(server.url);
    const io = drive(child);
    await io.send(initialize);
    await io.line(0);
    await io.send({ jsonrpc: "2.0", method: "notifications/initialized" });
    assert.equal(
      (await io.line(1)).method,
      "notifications/tools/list_changed",
      "from the GET stream",
    );
    await io.send({ jsonrpc: "2.0", id: 2, method: "tools/list" });
    assert.deepEqual(await io.line(2), { jsonrpc: "2.0", id: 2, result: {} });
    child.killGroup("SIGTERM");
    assert.deepEqual(await child.exited, { code: 0, signal: null });
    assert.deepEqual(requests, [
      { method: "POST", rpc: "initialize", session: null, version: null },
      { method: "POST", rpc: "notifications/initialized", session: "s1", version: "2025-06-18" },
      { method: "GET", rpc: undefined, session: "s1", version: "2025-06-18" },
      { method: "POST", rpc: "tools/list", session: "s1", version: "2025-06-18" },
      { method: "DELETE", rpc: undefined, session: "s1", version: "2025-06-18" },
    ]);
    await server.close();
  },
);

Deno.test(
  "modern era: Mcp-Method, Mcp-Name (Base64 when not plain ASCII) and MCP-Protocol-Version from _meta; a listen's events become lines; cancelling closes its stream instead of POSTing",
  opts,
  async () => {
    const meta = { "io.modelcontextprotocol/protocolVersion": "2026-07-28" };
    const headers: Record<string, string | null>[] = [];
    let listenClosed!: () => void;
    const closed = new Promise<void>((resolve) => listenClosed = resolve);
    const server = serve(async (req) => {
      const body = await req.json();
      headers.push({
        method: req.headers.get("mcp-method"),
        name: req.headers.get("mcp-name"),
        version: req.headers.get("mcp-protocol-version"),
      });
      if (body.method === "subscriptions/listen") {
        return sse(
          [{ jsonrpc: "2.0", method: "notifications/subscriptions/acknowledged" }],
          true,
          listenClosed,
        );
      }
      return json({ jsonrpc: "2.0", id: body.id, result: { name: body.params?.name } });
    });
    const child = connect(server.url);
    const io = drive(child);
    await io.send({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name: "get_weather", _meta: meta },
    });
    await io.line(0);
    await io.send({
      jsonrpc: "2.0",
      id: 2,
      method: "prompts/get",
      params: { name: "Hello, 世界", _meta: meta },
    });
    await io.line(1);
    await io.send({
      jsonrpc: "2.0",
      id: 9,
      method: "tasks/get",
      params: { taskId: "task-1", _meta: meta },
    });
    await io.line(2);
    await io.send({
      jsonrpc: "2.0",
      id: 3,
      method: "subscriptions/listen",
      params: { _meta: meta },
    });
    assert.equal((await io.line(3)).method, "notifications/subscriptions/acknowledged");
    await io.send({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 3 } });
    await closed;
    assert.deepEqual(headers, [
      { method: "tools/call", name: "get_weather", version: "2026-07-28" },
      { method: "prompts/get", name: "=?base64?SGVsbG8sIOS4lueVjA==?=", version: "2026-07-28" },
      { method: "tasks/get", name: "task-1", version: "2026-07-28" },
      { method: "subscriptions/listen", name: null, version: "2026-07-28" },
    ], "no POST of notifications/cancelled, no GET stream");
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(io.lines.length, 4, "the cancelled listen gets no error of mcpmon's");
    child.killGroup("SIGTERM");
    await child.exited;
    await server.close();
  },
);

Deno.test(
  "until the server has answered once, requests wait for its port: a server that listens later still gets them",
  opts,
  async () => {
    const port = freePort();
    const child = connect(`http://127.0.0.1:${port}/mcp`);
    const io = drive(child);
    await io.send(initialize);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const server = serve(
      async (req) => json({ jsonrpc: "2.0", id: (await req.json()).id, result: {} }),
      port,
    );
    assert.deepEqual(await io.line(0), { jsonrpc: "2.0", id: 1, result: {} });
    child.killGroup("SIGTERM");
    await child.exited;
    await server.close();
  },
);

Deno.test(
  "a port that never opens: the request is answered with an error naming the URL, within the connect timeout",
  opts,
  async () => {
    const url = `http://127.0.0.1:${freePort()}/mcp`;
    const child = connect(url, { connectTimeoutMs: 600 });
    const io = drive(child);
    const started = Date.now();
    await io.send(initialize);
    const answer = await io.line(0);
    assert.ok(Date.now() - started < 1_500);
    assert.equal(answer.id, 1);
    assert.match(
      (answer.error as Json).message as string,
      new RegExp(`^mcpmon: nothing accepted connections at ${url} within 600 ms`),
    );
    child.killGroup("SIGTERM");
    await child.exited;
  },
);

Deno.test(
  "HTTP errors are answers: the server's JSON-RPC error (with the status), else the status and the body's start",
  opts,
  async () => {
    const server = serve(async (req) => {
      const body = await req.json();
      if (body.id === 1) {
        return json(
          { jsonrpc: "2.0", id: null, error: { code: -32602, message: "bad params" } },
          {},
          400,
        );
      }
      return new Response("boom", { status: 500 });
    });
    const child = connect(server.url);
    const io = drive(child);
    await io.send({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "x" } });
    assert.deepEqual(await io.line(0), {
      jsonrpc: "2.0",
      id: 1,
      error: { code: -32602, message: "bad params (HTTP 400 Bad Request)" },
    });
    await io.send({ jsonrpc: "2.0", id: 2, method: "tools/list" });
    const second = await io.line(1);
    assert.equal(second.id, 2);
    assert.match(
      (second.error as Json).message as string,
      /the server answered tools\/list with HTTP 500 Internal Server Error: boom/,
    );
    child.killGroup("SIGTERM");
    await child.exited;
    await server.close();
  },
);

Deno.test(
  "a stream that ends without the response, a response over the size limit, or one that is not JSON-RPC's content type, is answered with an error",
  opts,
  async () => {
    const server = serve(async (req) => {
      const body = await req.json();
      if (body.id === 1) return sse([{ jsonrpc: "2.0", method: "notifications/progress" }]);
      if (body.id === 2) return json({ jsonrpc: "2.0", id: 2, result: { big: "x".repeat(2000) } });
      return new Response("<html>", { headers: { "content-type": "text/html" } });
    });
    const child = connect(server.url, { maxMessageBytes: 1000 });
    const io = drive(child);
    await io.send({ jsonrpc: "2.0", id: 1, method: "tools/call" });
    await io.line(1);
    await io.send({ jsonrpc: "2.0", id: 2, method: "tools/list" });
    await io.line(2);
    await io.send({ jsonrpc: "2.0", id: 3, method: "ping" });
    await io.line(3);
    const errors = io.lines.filter((l) => l.error).map((l) => [l.id, (l.error as Json).message]);
    assert.equal(errors.length, 3);
    assert.match(String(errors[0][1]), /ended its answer to tools\/call without a response/);
    assert.match(String(errors[1][1]), /over the limit of 1000 bytes/);
    assert.match(String(errors[2][1]), /Content-Type "text\/html"/);
    assert.deepEqual(errors.map(([id]) => id), [1, 2, 3]);
    child.killGroup("SIGTERM");
    await child.exited;
    await server.close();
  },
);

Deno.test(
  "without a command, losing the server ends the connection like a crash: a 404 on the session, or a refused connection, exits with the reason",
  opts,
  async () => {
    let forget = false;
    const server = serve(async (req) => {
      if (req.method !== "POST") return new Response(null, { status: 405 });
      const body = await req.json();
      if (forget) {
        return json({ jsonrpc: "2.0", id: null, error: { code: -32000, message: "?" } }, {}, 404);
      }
      return json({ jsonrpc: "2.0", id: body.id, result: {} }, { "mcp-session-id": "s1" });
    });
    const child = connect(server.url);
    const io = drive(child);
    await io.send(initialize);
    await io.line(0);
    forget = true;
    await io.send({ jsonrpc: "2.0", id: 2, method: "tools/list" });
    const status = await child.exited;
    assert.match(
      status.reason ?? "",
      /lost the connection: the server no longer knows session s1 \(HTTP 404\)/,
    );
    assert.equal(io.lines.length, 1, "the request is left to the generation to answer");
    await server.close();

    const again = serve(async (req) =>
      json({ jsonrpc: "2.0", id: (await req.json()).id, result: {} })
    );
    const second = connect(again.url);
    const io2 = drive(second);
    await io2.send(initialize);
    await io2.line(0);
    await again.close();
    await io2.send({ jsonrpc: "2.0", id: 2, method: "tools/list" });
    assert.match(
      (await second.exited).reason ?? "",
      /lost the connection: POST tools\/list to .* failed/,
    );
  },
);

Deno.test(
  "with a command: it runs in its own group; its stdout and stderr are its log; signals reach it; its exit ends stdout",
  opts,
  async () => {
    const child = httpChild(denoRuntime, {
      command: "sh",
      args: ["-c", "echo to-stdout; echo to-stderr >&2; exec sleep 30"],
      http: { url: `http://127.0.0.1:${freePort()}/mcp`, connectTimeoutMs: 5_000 },
    });
    const io = drive(child);
    assert.ok(child.pid > 0);
    await io.until(
      () => io.stderr.includes("to-stdout") && io.stderr.includes("to-stderr"),
      "the command's stdout and stderr in its log",
    );
    assert.match(io.stderr, /to-stdout/);
    assert.match(io.stderr, /to-stderr/);
    child.killGroup("SIGTERM");
    assert.deepEqual(await child.exited, { code: null, signal: "SIGTERM" });
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.ok(io.ended, "stdout ends with the process");
  },
);

Deno.test(
  "a message whose header value HTTP cannot carry is answered with an error, and the connection stays up",
  opts,
  async () => {
    const server = serve(async (req) =>
      json({ jsonrpc: "2.0", id: (await req.json()).id, result: {} })
    );
    const child = connect(server.url);
    const io = drive(child);
    const meta = { "io.modelcontextprotocol/protocolVersion": "版本" };
    await io.send({ jsonrpc: "2.0", id: 1, method: "tools/list", params: { _meta: meta } });
    const answer = await io.line(0);
    assert.match(String((answer.error as Json).message), /tools\/list cannot be sent over HTTP/);
    await io.send({ jsonrpc: "2.0", id: 2, method: "ping" });
    assert.deepEqual(await io.line(1), { jsonrpc: "2.0", id: 2, result: {} });
    child.killGroup("SIGTERM");
    await child.exited;
    await server.close();
  },
);

Deno.test(
  "legacy era: a cancelled request's notification is POSTed, then its stream is closed, with no error of mcpmon's",
  opts,
  async () => {
    const posted: string[] = [];
    let closedStream!: () => void;
    const closed = new Promise<void>((resolve) => closedStream = resolve);
    const server = serve(async (req) => {
      const body = await req.json();
      posted.push(body.method);
      if (body.method === "initialize") return json({ jsonrpc: "2.0", id: body.id, result: {} });
      if (body.id === undefined) return new Response(null, { status: 202 });
      return sse([{ jsonrpc: "2.0", method: "notifications/progress" }], true, closedStream);
    });
    const child = connect(server.url);
    const io = drive(child);
    await io.send(initialize);
    await io.line(0);
    await io.send({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "slow" } });
    await io.line(1);
    await io.send({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 2 } });
    await closed;
    assert.deepEqual(posted, ["initialize", "tools/call", "notifications/cancelled"]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(io.lines.length, 2, "no answer of mcpmon's to a cancelled request");
    child.killGroup("SIGTERM");
    await child.exited;
    await server.close();
  },
);

Deno.test(
  "with a command that runs on after its server went away, stdout fails with the cause (the generation then stops it like a crash)",
  opts,
  async () => {
    const server = serve(async (req) =>
      json({ jsonrpc: "2.0", id: (await req.json()).id, result: {} })
    );
    const child = httpChild(denoRuntime, {
      command: "sh",
      args: ["-c", "exec sleep 30"],
      http: { url: server.url, connectTimeoutMs: 5_000 },
    });
    const reader = child.stdout.getReader();
    const writer = child.stdin.getWriter();
    const send = (m: Json) => writer.write(new TextEncoder().encode(JSON.stringify(m) + "\n"));
    await send(initialize);
    assert.ok((await reader.read()).value, "the initialize answer");
    await server.close();
    await send({ jsonrpc: "2.0", id: 2, method: "tools/list" });
    const failure = await reader.read().then(() => undefined, (err: Error) => err);
    assert.equal(failure?.name, "ConnectionLost");
    assert.match(
      failure?.message ?? "",
      /POST tools\/list to http:\/\/127\.0\.0\.1:\d+\/mcp failed/,
    );
    child.killGroup("SIGKILL");
    assert.equal((await child.exited).signal, "SIGKILL");
  },
);
