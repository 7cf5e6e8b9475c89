/**
 * The Streamable HTTP child (`src/http_backend.ts`) against the v2 SDK's own HTTP entry
 * (`createMcpHandler` of `@modelcontextprotocol/server` 2.4.0, served in-process by `Deno.serve`):
 * the real server checks the 2026-07-28 request headers against the body, serves listens, and
 * falls back to stateless 2025 serving (no session, GET answered 405).
 */
import assert from "node:assert/strict";
import { createMcpHandler, McpServer } from "@modelcontextprotocol/server";
import { z } from "zod";
import { connect, drive, initialize, type Json } from "./_http_child.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

const ENV = {
  "io.modelcontextprotocol/protocolVersion": "2026-07-28",
  "io.modelcontextprotocol/clientInfo": { name: "mcpmon-spec", version: "1.0.0" },
  "io.modelcontextprotocol/clientCapabilities": {},
};

function startV2() {
  const handler = createMcpHandler(() => {
    const server = new McpServer({ name: "v2-http", version: "1.0.0" }, {
      capabilities: { tools: { listChanged: true } },
    });
    server.registerTool(
      "sql",
      {
        description: "Runs a query in a region (sent as the Mcp-Param-Region header too).",
        inputSchema: z.object({
          region: z.string().meta({ "x-mcp-header": "Region" }),
          query: z.string(),
        }),
      },
      ({ region }: { region: string }) => ({
        content: [{ type: "text", text: `ran in ${region}` }],
      }),
    );
    for (const name of ["hello", "天气"]) {
      server.registerTool(
        name,
        { description: `Says ${name}.` },
        () => ({ content: [{ type: "text", text: `${name}!` }] }),
      );
    }
    return server;
  }, { keepAliveMs: 0 });
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    (req) => handler.fetch(req),
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}/mcp`,
    handler,
    async close() {
      await handler.close();
      ac.abort();
      await server.finished;
    },
  };
}

const textOf = (line: Json) =>
  ((line.result as Json).content as { text: string }[] | undefined)?.[0]?.text;

Deno.test(
  "v2 SDK, 2026-07-28: the server accepts mcpmon's headers (a non-ASCII tool name in Base64), and a listen's stream carries list_changed",
  opts,
  async () => {
    const v2 = startV2();
    const child = connect(v2.url);
    const io = drive(child);
    await io.send({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name: "hello", arguments: {}, _meta: ENV },
    });
    assert.equal(textOf(await io.find((l) => l.id === 1)), "hello!");
    await io.send({
      jsonrpc: "2.0",
      id: 2,
      method: "tools/call",
      params: { name: "天气", arguments: {}, _meta: ENV },
    });
    const second = await io.find((l) => l.id === 2);
    assert.equal(second.error, undefined, JSON.stringify(second));
    assert.equal(textOf(second), "天气!");

    await io.send({
      jsonrpc: "2.0",
      id: "listen:0",
      method: "subscriptions/listen",
      params: { notifications: { toolsListChanged: true }, _meta: ENV },
    });
    await io.find((l) => l.method === "notifications/subscriptions/acknowledged");
    v2.handler.notify.toolsChanged();
    await io.find((l) => l.method === "notifications/tools/list_changed");
    await io.send({
      jsonrpc: "2.0",
      method: "notifications/cancelled",
      params: { requestId: "listen:0", _meta: ENV },
    });
    child.killGroup("SIGTERM");
    await child.exited;
    await v2.close();
  },
);

Deno.test(
  "v2 SDK, 2025 era: the stateless fallback serves initialize and later requests with no session, and its 405 to GET leaves the connection up",
  opts,
  async () => {
    const v2 = startV2();
    const child = connect(v2.url);
    const io = drive(child);
    await io.send(initialize);
    const init = await io.find((l) => l.id === 1);
    assert.equal((init.result as Json).protocolVersion, "2025-11-25");
    await io.send({ jsonrpc: "2.0", method: "notifications/initialized" });
    await io.send({ jsonrpc: "2.0", id: 2, method: "tools/list" });
    const list = await io.find((l) => l.id === 2);
    assert.deepEqual(
      ((list.result as Json).tools as { name: string }[]).map((t) => t.name),
      ["sql", "hello", "天气"],
    );
    await io.send({
      jsonrpc: "2.0",
      id: 3,
      method: "tools/call",
      params: { name: "hello", arguments: {} },
    });
    assert.equal(textOf(await io.find((l) => l.id === 3)), "hello!");
    let exited = false;
    child.exited.then(() => exited = true);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(exited, false, "the GET's 405 is no lost connection");
    child.killGroup("SIGTERM");
    await child.exited;
    await v2.close();
  },
);

Deno.test(
  "v2 SDK, 2026-07-28: a tool's x-mcp-header arguments, learnt from tools/list, go out as Mcp-Param-* headers (Base64 when not plain ASCII); before any tools/list the server's -32020 is the answer",
  opts,
  async () => {
    const v2 = startV2();
    const child = connect(v2.url);
    const io = drive(child);
    const sql = (id: number, region: string) =>
      io.send({
        jsonrpc: "2.0",
        id,
        method: "tools/call",
        params: { name: "sql", arguments: { region, query: "select 1" }, _meta: ENV },
      });
    await sql(1, "eu-west");
    const early = await io.find((l) => l.id === 1);
    assert.equal((early.error as Json)?.code, -32020, JSON.stringify(early));
    assert.match(String((early.error as Json).message), /Mcp-Param-Region header is absent/);

    await io.send({ jsonrpc: "2.0", id: 2, method: "tools/list", params: { _meta: ENV } });
    await io.find((l) => l.id === 2);
    await sql(3, "eu-west");
    assert.equal(textOf(await io.find((l) => l.id === 3)), "ran in eu-west");
    await sql(4, "région 北");
    const encoded = await io.find((l) => l.id === 4);
    assert.equal(textOf(encoded), "ran in région 北", JSON.stringify(encoded));
    child.killGroup("SIGTERM");
    await child.exited;
    await v2.close();
  },
);
