/**
 * Inputs an adversarial run used to break mcpmon, kept as specs on every
 * runtime: prototype method names, deep JSON both ways, ids past 2^53,
 * batches, long template URIs. Each must get an answer (or pass through)
 * and leave the session serving.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { makeFixtureDir, WELL_BEHAVED } from "./_harness.ts";
import { type Msg, RAW_INIT_PARAMS, RawMcpmon } from "./_raw.ts";

const PROTO_NAMES = ["toString", "constructor", "valueOf", "hasOwnProperty", "isPrototypeOf"];

/** A gateway over one well_behaved server named `alpha`, as a raw client sees it. */
async function rawGateway(dir: string, extraServer = ""): Promise<RawMcpmon> {
  const config = join(dir, ".mcpmon.yaml");
  await Deno.writeTextFile(
    config,
    `servers:\n  alpha:\n    command: node\n    args: ${
      JSON.stringify([WELL_BEHAVED])
    }\n    watch: []\n${extraServer}`,
  );
  return new RawMcpmon(["--config", config], []);
}

async function alive(mon: RawMcpmon, tool = "pid"): Promise<void> {
  const r = await mon.call("tools/call", { name: tool, arguments: {} });
  assert.ok(r.result, `the session still serves: ${JSON.stringify(r)}`);
}

for (const mode of ["single", "gateway"] as const) {
  Deno.test(`${mode}: requests named like Object.prototype methods get an error and mcpmon keeps serving`, async () => {
    await using fx = await makeFixtureDir();
    await using mon = mode === "single"
      ? new RawMcpmon([], ["node", WELL_BEHAVED])
      : await rawGateway(fx.dir);
    await mon.initialize();
    for (const method of PROTO_NAMES) {
      const r = await mon.call(method);
      assert.equal(r.error?.code, -32601, `${method}: ${JSON.stringify(r)}`);
    }
    await alive(mon, mode === "single" ? "pid" : "alpha__pid");
  });

  Deno.test(`${mode}: a client message nested 10,000 levels gets an answer and the session goes on`, async () => {
    await using fx = await makeFixtureDir();
    await using mon = mode === "single"
      ? new RawMcpmon([], ["node", WELL_BEHAVED])
      : await rawGateway(fx.dir);
    await mon.initialize();
    const deep = "[".repeat(10_000) + "]".repeat(10_000);
    const name = mode === "single" ? "echo" : "alpha__echo";
    await mon.send(
      `{"jsonrpc":"2.0","id":"deep","method":"tools/call","params":{"name":"${name}","arguments":{"text":"x","deep":${deep}}}}`,
    );
    const r = await mon.waitFor((m) => m.id === "deep");
    assert.ok(r.result || r.error, "answered");
    await alive(mon, mode === "single" ? "pid" : "alpha__pid");
    assert.deepEqual(mon.junk, []);
  });

  Deno.test(`${mode}: an id past 2^53 comes back exactly as the client wrote it`, async () => {
    await using fx = await makeFixtureDir();
    await using mon = mode === "single"
      ? new RawMcpmon([], ["node", WELL_BEHAVED])
      : await rawGateway(fx.dir);
    await mon.initialize();
    const lines: string[] = [];
    const name = mode === "single" ? "echo" : "alpha__echo";
    await mon.send(
      `{"jsonrpc":"2.0","id":9007199254740993,"method":"tools/call","params":{"name":"${name}","arguments":{"text":"big"}}}`,
    );
    await mon.send('{"jsonrpc":"2.0","id":12345678901234567890,"method":"ping"}');
    await mon.waitFor((m) => m.id === 9007199254740992 && "result" in m);
    await mon.waitFor((m) => m.id === 12345678901234567000);
    lines.push(...mon.rawLines);
    assert.ok(
      lines.some((l) => l.includes('"id":9007199254740993')),
      `the client's own token: ${lines.filter((l) => l.includes("900719")).join("\n")}`,
    );
    assert.ok(lines.some((l) => l.includes('"id":12345678901234567890')));
  });

  Deno.test(`${mode}: batches are answered as one array under 2025-03-26, and refused under later versions`, async () => {
    await using fx = await makeFixtureDir();
    {
      await using mon = mode === "single"
        ? new RawMcpmon([], ["node", WELL_BEHAVED])
        : await rawGateway(fx.dir);
      await mon.call("initialize", { ...RAW_INIT_PARAMS, protocolVersion: "2025-03-26" });
      await mon.send({ jsonrpc: "2.0", method: "notifications/initialized" });
      const name = mode === "single" ? "echo" : "alpha__echo";
      await mon.send(JSON.stringify([
        { jsonrpc: "2.0", id: "b1", method: "ping" },
        { jsonrpc: "2.0", method: "notifications/roots/list_changed" },
        {
          jsonrpc: "2.0",
          id: "b2",
          method: "tools/call",
          params: { name, arguments: { text: "t" } },
        },
        { nonsense: true },
      ]));
      const batch = await mon.waitFor((m) => Array.isArray(m));
      const answers = batch as unknown as Msg[];
      assert.equal(answers.length, 3, JSON.stringify(answers));
      assert.deepEqual(answers.map((a) => a.id ?? null).sort(), ["b1", "b2", null].sort());
      assert.equal(answers.find((a) => a.id === "b2")?.result.content[0].text, "t");
      await mon.send("[]");
      const empty = await mon.waitFor((m) => m.error?.message?.includes("empty batch"));
      assert.equal(empty.error.code, -32600);
    }
    {
      await using mon = mode === "single"
        ? new RawMcpmon([], ["node", WELL_BEHAVED])
        : await rawGateway(fx.dir);
      await mon.initialize(); // 2025-06-18: no batches
      await mon.send(JSON.stringify([{ jsonrpc: "2.0", id: "x1", method: "ping" }]));
      const refused = await mon.waitFor((m) => m.error?.code === -32600);
      assert.equal(refused.id, null);
      assert.match(refused.error.message, /batches are not part of MCP "2025-06-18"/);
      assert.equal(mon.responses.get('"x1"'), undefined, "nothing of the batch was run");
      await alive(mon, mode === "single" ? "pid" : "alpha__pid");
    }
  });
}

/** A raw MCP server whose tools/list schema is nested `depth` levels. */
async function deepSchemaServer(dir: string, depth: number): Promise<string> {
  const path = join(dir, "deep_server.mjs");
  await Deno.writeTextFile(
    path,
    `import readline from "node:readline";
const deep = ${JSON.stringify('{"type":"object","properties":{"x":')}.repeat(1) +
  '{"anyOf":['.repeat(${depth}) + '{"type":"string"}' + ']}'.repeat(${depth}) + "}}";
const send = (m) => process.stdout.write(JSON.stringify(m) + "\\n");
readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const m = JSON.parse(line);
  if (m.id === undefined || m.method === undefined) return;
  if (m.method === "initialize") {
    return send({ jsonrpc: "2.0", id: m.id, result: { protocolVersion: m.params.protocolVersion,
      capabilities: { tools: {} }, serverInfo: { name: "deep", version: "1" } } });
  }
  if (m.method === "tools/list") {
    return process.stdout.write('{"jsonrpc":"2.0","id":' + JSON.stringify(m.id) +
      ',"result":{"tools":[{"name":"deep","inputSchema":' + deep + '},{"name":"ok","inputSchema":{"type":"object"}}]}}\\n');
  }
  if (m.method === "tools/call") {
    return send({ jsonrpc: "2.0", id: m.id, result: { content: [{ type: "text", text: "called " + m.params.name }] } });
  }
  send({ jsonrpc: "2.0", id: m.id, result: {} });
});
process.stdin.on("end", () => process.exit(0));
`,
  );
  return path;
}

for (const mode of ["single", "gateway"] as const) {
  Deno.test(`${mode}: a tools/list schema nested 6,000 levels does not hang the session`, async () => {
    await using fx = await makeFixtureDir();
    const server = await deepSchemaServer(fx.dir, 6000);
    let mon: RawMcpmon;
    if (mode === "single") mon = new RawMcpmon([], ["node", server]);
    else {
      const config = join(fx.dir, ".mcpmon.yaml");
      await Deno.writeTextFile(
        config,
        `servers:\n  deep:\n    command: node\n    args: ${
          JSON.stringify([server])
        }\n    watch: []\n`,
      );
      mon = new RawMcpmon(["--config", config], []);
    }
    await using _ = mon;
    await mon.initialize();
    const list = await mon.call("tools/list", undefined, 20_000);
    assert.ok(list.result || list.error, "answered");
    const name = mode === "single" ? "ok" : "deep__ok";
    const r = await mon.call("tools/call", { name, arguments: {} }, 20_000);
    assert.equal(r.result?.content?.[0]?.text, "called ok", JSON.stringify(r));
    const restart = await mon.call("tools/call", {
      name: "restart_server",
      arguments: mode === "single" ? {} : { server: "deep" },
    }, 20_000);
    assert.ok(restart.result, JSON.stringify(restart));
  });
}
