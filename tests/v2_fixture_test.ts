/**
 * The v2-SDK fixture server (`fixtures/servers/v2_server.mjs`), run DIRECTLY (no mcpmon), against
 * real SDK clients in every era: what the v2 SDK does on the wire, so the mcpmon tests built on
 * these fixtures and on `tests/e2e/_v2.ts` start from facts. Client mode × server mode:
 * modern (v2 pinned to 2026-07-28) / auto (v2 dual-era) / v1 (2025 `initialize`) × dual-era /
 * modern-only.
 *
 * @module
 */
import { strict as assert } from "node:assert";
import { join } from "node:path";
import {
  type ClientHandle,
  connectClient,
  envelope,
  type Msg,
  RawStdio,
  SUBSCRIPTION_ID_KEY,
  V2_SERVER,
  v2ServerCommand,
} from "./e2e/_v2.ts";
import { FIXTURES_DIR } from "./e2e/_harness.ts";

const MODERN = "2026-07-28";
const LEGACY = "2025-11-25";

/** Tool names every instance of the fixture serves (plus `hello` from v2_tools.mjs). */
const BUILT_IN = ["pid", "echo", "era", "confirm", "notify", "add_tool", "shutdown"];

/** Asserts the tool list: v2_tools.mjs's `hello` and the built-ins. */
async function assertTools(h: ClientHandle): Promise<void> {
  assert.deepEqual((await h.toolNames()).sort(), ["hello", ...BUILT_IN].sort());
  assert.equal(await h.callText("hello"), "hello v1");
}

/** Opens two listens (tools; resources + counter updates) and checks each gets only its own. */
async function assertTwoListens(h: ClientHandle): Promise<void> {
  const tools = await h.listen({ toolsListChanged: true });
  const resources = await h.listen({
    resourcesListChanged: true,
    resourceSubscriptions: ["fixture://counter"],
  });
  assert.notEqual(tools.id, resources.id);
  assert.deepEqual(tools.honoredFilter, { toolsListChanged: true });
  const ack = h.notifications().filter((n) =>
    n.method === "notifications/subscriptions/acknowledged"
  ).map((n) => n.params._meta[SUBSCRIPTION_ID_KEY]);
  assert.deepEqual(ack, [tools.id, resources.id], "one acknowledgment per listen, tagged");

  const mark = h.notifications().length;
  assert.equal(
    await h.callText("notify", { tools: true, resources: true, updated: "fixture://counter" }),
    "sent",
  );
  await h.waitForNotification("notifications/tools/list_changed", {
    after: mark,
    subscriptionId: tools.id,
  });
  await h.waitForNotification("notifications/resources/updated", {
    after: mark,
    subscriptionId: resources.id,
  });
  const got = h.notifications().slice(mark).map((n) =>
    `${n.method} ${n.params?._meta?.[SUBSCRIPTION_ID_KEY]}`
  );
  assert.deepEqual(got, [
    `notifications/tools/list_changed ${tools.id}`,
    `notifications/resources/list_changed ${resources.id}`,
    `notifications/resources/updated ${resources.id}`,
  ]);

  // A cancelled listen hears nothing more; the other one still does.
  await tools.close();
  const cancel = h.wire.find((e) =>
    e.dir === "out" && e.msg.method === "notifications/cancelled" &&
    e.msg.params.requestId === tools.id
  );
  assert.ok(cancel, "closing a listen sends notifications/cancelled with the listen id");
  const mark2 = h.notifications().length;
  await h.callText("notify", { tools: true, resources: true });
  await h.waitForNotification("notifications/resources/list_changed", {
    after: mark2,
    subscriptionId: resources.id,
  });
  assert.equal(
    h.notifications().slice(mark2).filter((n) => n.method === "notifications/tools/list_changed")
      .length,
    0,
    "no tools/list_changed after its listen was cancelled",
  );
}

/** The MRTR round trip on a modern connection: input_required, then a retry with a new id. */
async function assertMrtr(h: ClientHandle): Promise<void> {
  const mark = h.wire.length;
  const text = await h.callText("confirm", { action: "deploy" });
  assert.match(text, /^confirmed deploy \(state confirm:deploy:\d+\)$/);
  const calls = h.wire.slice(mark).filter((e) => e.msg.method === "tools/call");
  assert.equal(calls.length, 2, "the call and its retry");
  const [first, retry] = calls.map((e) => e.msg);
  assert.notEqual(first.id, retry.id, "the retry has a new id");
  const answer = h.wire.find((e) => e.dir === "in" && e.msg.id === first.id)!.msg;
  assert.equal(answer.result.resultType, "input_required");
  assert.equal(answer.result.inputRequests.confirm.method, "elicitation/create");
  assert.equal(retry.params.requestState, answer.result.requestState, "requestState echoed");
  assert.deepEqual(retry.params.inputResponses, {
    confirm: { action: "accept", content: { confirm: true } },
  });
  assert.equal(
    h.wire.filter((e) =>
      e.dir === "in" && e.msg.method !== undefined &&
      e.msg.id !== undefined
    ).length,
    0,
    "no server→client request in the modern era",
  );
}

/** Every client request on a modern connection carries the `_meta` envelope. */
function assertEnvelopes(h: ClientHandle): void {
  for (const e of h.wire) {
    if (e.dir !== "out" || e.msg.id === undefined) continue;
    assert.equal(
      e.msg.params?._meta?.["io.modelcontextprotocol/protocolVersion"],
      MODERN,
      `envelope on ${JSON.stringify(e.msg).slice(0, 120)}`,
    );
  }
}

/** Reads a wire_tap log: one array of entries per tap (process), in start order. */
async function readTaps(file: string): Promise<Msg[][]> {
  const entries = (await Deno.readTextFile(file)).trim().split("\n").map((l) => JSON.parse(l));
  const byTap = new Map<number, Msg[]>();
  for (const e of entries) {
    if (!byTap.has(e.tap)) byTap.set(e.tap, []);
    byTap.get(e.tap)!.push(e);
  }
  return [...byTap.values()];
}

Deno.test("auto client × dual-era server", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "mcpmon-v2-wire-" });
  const wireLog = join(dir, "wire.jsonl");
  try {
    await using h = await connectClient({
      mode: "auto",
      command: await v2ServerCommand(),
      wireLog,
    });
    await t.step("negotiates 2026-07-28 and lists the tools", async () => {
      assert.equal(h.era, MODERN);
      await assertTools(h);
    });
    await t.step(
      "two concurrent listens each get list_changed tagged with their own (string) id; a cancelled one hears nothing more",
      async () => {
        await assertTwoListens(h);
        const listen = h.wire.find((e) => e.msg.method === "subscriptions/listen")!.msg;
        assert.equal(typeof listen.id, "string");
      },
    );
    await t.step(
      "MRTR round trip: input_required, then a retry with a new id, inputResponses and the same requestState",
      async () => {
        await assertMrtr(h);
      },
    );
    await t.step("every request on the real connection carries the _meta envelope", () => {
      assertEnvelopes(h);
    });
    await h.close();

    await t.step(
      "server/discover goes to a throwaway sibling process; the real connection starts with an ordinary request carrying _meta (no discover, no initialize)",
      async () => {
        const [probe, real, ...more] = await readTaps(wireLog);
        assert.equal(more.length, 0, "exactly two processes");
        const probeIn = probe.filter((e) => e.dir === "c2s").map((e) => e.line);
        assert.equal(probeIn.length, 1, "the sibling gets only the probe");
        assert.equal(probeIn[0].method, "server/discover");
        assert.equal(probeIn[0].id, "server-discover-probe-1");
        assert.equal(probeIn[0].params._meta["io.modelcontextprotocol/protocolVersion"], MODERN);
        const probeOut = probe.find((e) => e.dir === "s2c")!.line;
        assert.deepEqual(probeOut.result.supportedVersions, [MODERN]);
        assert.ok(probe.some((e) => e.event === "stdin-eof"), "the sibling is reaped (stdin EOF)");

        const realIn = real.filter((e) => e.dir === "c2s").map((e) => e.line);
        assert.ok(!realIn.some((m) => m.method === "server/discover"), "no probe on the real one");
        assert.ok(!realIn.some((m) => m.method === "initialize"), "no initialize either");
        assert.equal(realIn[0].method, "tools/list");
        assert.equal(realIn[0].params._meta["io.modelcontextprotocol/protocolVersion"], MODERN);
        assert.ok(realIn[0].params._meta["io.modelcontextprotocol/clientCapabilities"]);
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("modern client × dual-era server: 2026-07-28, tools listed, MRTR round trip, a listen gets list_changed tagged with its id", async () => {
  await using h = await connectClient({ mode: "modern", command: await v2ServerCommand() });
  assert.equal(h.era, MODERN);
  await assertTools(h);
  await assertMrtr(h);
  const listen = await h.listen({ toolsListChanged: true });
  const mark = h.notifications().length;
  await h.callText("add_tool", { name: "extra", text: "x" });
  const n = await h.waitForNotification("notifications/tools/list_changed", {
    after: mark,
    subscriptionId: listen.id,
  });
  assert.deepEqual(n.params, { _meta: { [SUBSCRIPTION_ID_KEY]: listen.id } });
  assert.ok((await h.toolNames()).includes("extra"));
});

Deno.test("modern client × modern-only server: 2026-07-28, MRTR, two listens, and a server-side close answers each open listen with the graceful result", async () => {
  await using h = await connectClient({
    mode: "modern",
    command: await v2ServerCommand({ modernOnly: true }),
  });
  assert.equal(h.era, MODERN);
  await assertTools(h);
  await assertMrtr(h);
  await assertTwoListens(h); // leaves the resources listen open
  const open = h.wire.filter((e) => e.msg.method === "subscriptions/listen").at(-1)!.msg.id;
  assert.equal(await h.callText("shutdown"), "closing");
  const closing = await h.waitForWire((e) => e.dir === "in" && e.msg.id === open);
  assert.deepEqual(closing.msg.result, {
    resultType: "complete",
    _meta: {
      [SUBSCRIPTION_ID_KEY]: open,
      "io.modelcontextprotocol/serverInfo": { name: "v2-fixture", version: "2.0.0" },
    },
  });
  assertEnvelopes(h);
});

Deno.test("auto client × modern-only server: stays modern (2026-07-28), tools listed, MRTR", async () => {
  await using h = await connectClient({
    mode: "auto",
    command: await v2ServerCommand({ modernOnly: true }),
  });
  assert.equal(h.era, MODERN);
  await assertTools(h);
  await assertMrtr(h);
});

Deno.test("v1 client × dual-era server: legacy initialize (2025-11-25), the MRTR tool becomes an elicitation/create request, resources/subscribe gets plain updates", async () => {
  await using h = await connectClient({ mode: "v1", command: await v2ServerCommand() });
  assert.equal(h.era, LEGACY);
  assert.equal(h.wire[0].msg.method, "initialize");
  await assertTools(h);
  assert.equal(await h.callText("era"), `legacy ${LEGACY}`);
  assert.match(await h.callText("confirm", { action: "deploy" }), /^confirmed deploy/);
  const elicit = h.wire.find((e) => e.dir === "in" && e.msg.method === "elicitation/create");
  assert.ok(elicit, "a server→client elicitation/create request (the SDK's legacy shim)");
  await h.v1!.subscribeResource({ uri: "fixture://counter" });
  const mark = h.notifications().length;
  await h.callText("notify", { tools: true, updated: "fixture://counter" });
  const updated = await h.waitForNotification("notifications/resources/updated", { after: mark });
  assert.deepEqual(updated.params, { uri: "fixture://counter" }, "no _meta subscription id");
  const changed = await h.waitForNotification("notifications/tools/list_changed", { after: mark });
  assert.equal(changed.params, undefined);
  assert.ok(!h.wire.some((e) => e.dir === "in" && e.msg.result?.resultType !== undefined));
});

Deno.test("legacy clients × modern-only server: initialize is rejected with -32022 'Unsupported protocol version: 2025-11-25' naming the supported versions", async () => {
  const command = await v2ServerCommand({ modernOnly: true });
  const [v1, v2] = await Promise.allSettled([
    connectClient({ mode: "v1", command }),
    connectClient({ mode: "legacy", command }),
  ]);
  assert.equal(v1.status, "rejected");
  assert.match(
    (v1 as PromiseRejectedResult).reason.message,
    /connect \(v1\) failed: MCP error -32022: Unsupported protocol version: 2025-11-25/,
  );
  assert.equal(v2.status, "rejected");
  assert.match(
    (v2 as PromiseRejectedResult).reason.message,
    /connect \(legacy\) failed: Unsupported protocol version: 2025-11-25/,
  );

  await using raw = new RawStdio(command);
  const answer = await raw.request({
    id: 1,
    method: "initialize",
    params: {
      protocolVersion: LEGACY,
      capabilities: {},
      clientInfo: { name: "raw", version: "1" },
    },
  });
  assert.deepEqual(answer.error, {
    code: -32022,
    message: "Unsupported protocol version: 2025-11-25",
    data: { supported: [MODERN], requested: LEGACY },
  });
  // The connection stays open for a modern opening.
  const tools = await raw.request({ id: 2, method: "tools/list", params: { _meta: envelope() } });
  assert.ok(tools.result.tools.length > 0);
});

Deno.test("dual-era server: answers server/discover with supportedVersions, capabilities, serverInfo in _meta, resultType, ttlMs and cacheScope", async () => {
  await using raw = new RawStdio(await v2ServerCommand());
  const answer = await raw.request({
    id: "d1",
    method: "server/discover",
    params: { _meta: envelope() },
  });
  assert.deepEqual(answer.result, {
    supportedVersions: [MODERN],
    capabilities: {
      tools: { listChanged: true },
      prompts: { listChanged: true },
      resources: { subscribe: true, listChanged: true },
    },
    resultType: "complete",
    ttlMs: 0,
    cacheScope: "private",
    _meta: { "io.modelcontextprotocol/serverInfo": { name: "v2-fixture", version: "2.0.0" } },
  });
  const list = await raw.request({ id: 2, method: "tools/list", params: { _meta: envelope() } });
  assert.equal(list.result.resultType, "complete");
  assert.equal(list.result.ttlMs, 0);
  assert.equal(list.result.cacheScope, "private");
});

Deno.test("dual-era server: an envelope-less first request pins the process to legacy, so a later subscriptions/listen and server/discover get -32601", async () => {
  await using raw = new RawStdio(await v2ServerCommand());
  const list = await raw.request({ id: 1, method: "tools/list", params: {} });
  assert.ok(list.result.tools.length > 0, "served without initialize");
  assert.equal(list.result.resultType, undefined);
  const listen = await raw.request({
    id: 2,
    method: "subscriptions/listen",
    params: { _meta: envelope(), notifications: { toolsListChanged: true } },
  });
  assert.deepEqual(listen.error, { code: -32601, message: "Method not found" });
  const discover = await raw.request({
    id: 3,
    method: "server/discover",
    params: { _meta: envelope() },
  });
  assert.deepEqual(discover.error, { code: -32601, message: "Method not found" });
});

Deno.test("modern-only server: a modern request without the _meta envelope is answered -32022, a bad envelope -32602", async () => {
  await using raw = new RawStdio(await v2ServerCommand({ modernOnly: true }));
  const bare = await raw.request({ id: 1, method: "tools/list", params: {} });
  assert.equal(bare.error.code, -32022);
  const bad = await raw.request({
    id: 2,
    method: "tools/list",
    params: { _meta: { "io.modelcontextprotocol/protocolVersion": MODERN } },
  });
  assert.equal(bad.error.code, -32602, JSON.stringify(bad));
  const unknown = await raw.request({
    id: 3,
    method: "tools/list",
    params: { _meta: envelope({ "io.modelcontextprotocol/protocolVersion": "2099-01-01" }) },
  });
  assert.deepEqual(unknown.error.data, { supported: [MODERN], requested: "2099-01-01" });
});

Deno.test("an edit to v2_tools.mjs plus a restart changes the tool list, and a requestState minted by the old process is refused by the new one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mcpmon-v2-fixture-" });
  try {
    await v2ServerCommand(); // installs node_modules
    await Deno.copyFile(V2_SERVER, join(dir, "v2_server.mjs"));
    await Deno.copyFile(join(FIXTURES_DIR, "v2_tools.mjs"), join(dir, "v2_tools.mjs"));
    await Deno.symlink(join(FIXTURES_DIR, "node_modules"), join(dir, "node_modules"));
    const command = await v2ServerCommand({ script: join(dir, "v2_server.mjs") });
    const tools = async (raw: RawStdio, id: number) =>
      (await raw.request({ id, method: "tools/list", params: { _meta: envelope() } })).result
        .tools.map((t: { name: string }) => t.name);
    const confirm = (id: number, extra: Msg = {}) => ({
      id,
      method: "tools/call",
      params: {
        _meta: envelope({
          "io.modelcontextprotocol/clientCapabilities": { elicitation: { form: {} } },
        }),
        name: "confirm",
        arguments: { action: "edit" },
        ...extra,
      },
    });

    let state: string;
    {
      await using first = new RawStdio(command);
      assert.ok((await tools(first, 1)).includes("hello"));
      const asked = await first.request(confirm(2));
      assert.equal(asked.result.resultType, "input_required");
      state = asked.result.requestState;
    }
    await Deno.writeTextFile(
      join(dir, "v2_tools.mjs"),
      `export default [{ name: "goodbye", description: "Says goodbye.", text: "bye" }];\n`,
    );
    await using second = new RawStdio(command);
    const names = await tools(second, 1);
    assert.ok(names.includes("goodbye") && !names.includes("hello"), names.join());
    const retried = await second.request(
      confirm(3, {
        requestState: state,
        inputResponses: { confirm: { action: "accept", content: { confirm: true } } },
      }),
    );
    assert.equal(retried.result.isError, true);
    assert.match(retried.result.content[0].text, /^stale requestState from pid \d+$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("auto client with listChanged handlers × dual-era server: the real connection opens with the auto-opened subscriptions/listen, and a list_changed on it makes the client re-read the list", async () => {
  await using h = await connectClient({
    mode: "auto",
    command: await v2ServerCommand(),
    listChanged: true,
  });
  assert.equal(h.era, MODERN);
  const first = h.wire[0].msg;
  assert.equal(first.method, "subscriptions/listen");
  assert.deepEqual(first.params.notifications, {
    toolsListChanged: true,
    promptsListChanged: true,
    resourcesListChanged: true,
  });
  assert.equal(h.client!.autoOpenedSubscription !== undefined, true);
  await h.callText("add_tool", { name: "extra", text: "x" });
  await h.waitForNotification("notifications/tools/list_changed", { subscriptionId: first.id });
  const relisted = await h.waitForWire((e) => e.dir === "out" && e.msg.method === "tools/list");
  assert.equal(relisted.msg.params._meta["io.modelcontextprotocol/protocolVersion"], MODERN);
  await h.waitUntil(
    () => h.listChanges.some((c) => c.kind === "tools" && c.names.includes("extra")),
    "the client's onChanged with the new tool",
  );
});
