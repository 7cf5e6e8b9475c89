/**
 * Both protocol eras through mcpmon, with the v2 SDK's fixture server (dual-era and modern-only)
 * and real clients (v2 pinned modern, v2 auto, v1): what a client negotiates through mcpmon is what
 * it negotiates directly, and a modern session (its listens) survives reloads.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  connectClient,
  type ListenHandle,
  mcpmonCommand,
  MODERN_VERSION,
  type Msg,
  SUBSCRIPTION_ID_KEY,
  V2_SERVER,
  v2ServerCommand,
} from "./_v2.ts";
import {
  defaultLauncher,
  FIXTURES_DIR,
  serverKeys,
  TEST_CWD,
  TEST_STATE_HOME,
  writeGatewayConfig,
} from "./_harness.ts";
import { WELL_BEHAVED } from "../../testing/fixtures.ts";

/** A copy of the v2 fixture whose `v2_tools.mjs` a test may edit; removed by `cleanup`. */
async function editableV2Server(): Promise<{ dir: string; script: string; tools: string }> {
  await v2ServerCommand(); // installs the fixture's node_modules
  const dir = await Deno.makeTempDir({ prefix: "mcpmon-eras-" });
  await Deno.copyFile(V2_SERVER, join(dir, "v2_server.mjs"));
  await Deno.copyFile(join(FIXTURES_DIR, "v2_tools.mjs"), join(dir, "v2_tools.mjs"));
  await Deno.symlink(join(FIXTURES_DIR, "node_modules"), join(dir, "node_modules"));
  return { dir, script: join(dir, "v2_server.mjs"), tools: join(dir, "v2_tools.mjs") };
}

/** Writes a gateway config into `dir` and returns how to launch mcpmon over it. */
async function gatewayIn(dir: string, servers: Record<string, string[]>) {
  return {
    command: [...defaultLauncher(), "--config", await writeGatewayConfig(dir, servers)],
    env: { XDG_STATE_HOME: TEST_STATE_HOME },
    cwd: TEST_CWD,
  };
}

const tagOf = (n: Record<string, unknown>) =>
  ((n.params as Record<string, unknown> | undefined)?._meta as Record<string, unknown> | undefined)
    ?.[SUBSCRIPTION_ID_KEY];

Deno.test("a modern client negotiates 2026-07-28 through mcpmon, and its two listens survive a reload: each hears list_changed tagged with its own id, the edited tools are listed, MRTR still works", async () => {
  const server = await editableV2Server();
  try {
    const command = await v2ServerCommand({ script: server.script });
    await using h = await connectClient({
      mode: "modern",
      ...mcpmonCommand(command, ["--watch", server.tools, "--debounce", "50"]),
    });
    assert.equal(h.era, MODERN_VERSION);
    // The DiscoverResult is the server's own (relayed), with list changes advertised.
    const discovered = h.client!.getDiscoverResult() as unknown as Msg;
    assert.equal(discovered._meta["io.modelcontextprotocol/serverInfo"].name, "v2-fixture");
    assert.equal(discovered.capabilities.tools.listChanged, true);
    assert.ok((await h.toolNames()).includes("hello"));

    const tools: ListenHandle = await h.listen({ toolsListChanged: true });
    const resources: ListenHandle = await h.listen({ resourcesListChanged: true });
    const pid = await h.callText("pid");
    const before = h.notifications().length;

    await Deno.writeTextFile(
      server.tools,
      `export default [{ name: "goodbye", description: "Says goodbye.", text: "bye" }];\n`,
    );
    const toolsChanged = await h.waitForNotification("notifications/tools/list_changed", {
      after: before,
      subscriptionId: tools.id,
    });
    await h.waitForNotification("notifications/resources/list_changed", {
      after: before,
      subscriptionId: resources.id,
    });
    assert.equal(tagOf(toolsChanged), tools.id, "tagged with the client's own (string) id");
    const after = h.notifications().slice(before);
    assert.ok(after.every((n) => tagOf(n) !== undefined), "never untagged on a modern session");
    assert.ok(
      !after.some((n) => n.method === "notifications/subscriptions/acknowledged"),
      "the new process's acknowledgments of the re-opened listens are not passed on",
    );
    assert.ok(
      !after.some((n) =>
        n.method === "notifications/tools/list_changed" && tagOf(n) === resources.id
      ),
      "a listen hears only what it asked for",
    );
    assert.notEqual(await h.callText("pid"), pid, "a new process serves");
    const names = await h.toolNames();
    assert.ok(names.includes("goodbye") && !names.includes("hello"), names.join());
    assert.match(await h.callText("confirm", { action: "ship" }), /^confirmed ship/);

    // The listens are open on the new process: a server-side list_changed reaches the client.
    const mark = h.notifications().length;
    await h.callText("notify", { tools: true });
    await h.waitForNotification("notifications/tools/list_changed", {
      after: mark,
      subscriptionId: tools.id,
    });
    await tools.close();
    await resources.close();
  } finally {
    await Deno.remove(server.dir, { recursive: true });
  }
});

Deno.test("through mcpmon each client gets the era it gets directly: auto × modern-only is modern, v1 × dual-era is 2025, v1 × modern-only is refused with the server's -32022", async () => {
  const modernOnly = await v2ServerCommand({ modernOnly: true });
  {
    await using h = await connectClient({ mode: "auto", ...mcpmonCommand(modernOnly) });
    assert.equal(h.era, MODERN_VERSION);
    assert.ok((await h.toolNames()).includes("hello"));
    assert.equal(await h.callText("era"), `modern ${MODERN_VERSION}`);
  }
  {
    await using h = await connectClient({ mode: "v1", ...mcpmonCommand(await v2ServerCommand()) });
    assert.equal(h.era, "2025-11-25");
    assert.match(await h.callText("era"), /^legacy/);
  }
  await assert.rejects(
    connectClient({ mode: "v1", ...mcpmonCommand(modernOnly) }),
    /-32022|Unsupported protocol version/,
  );
});

Deno.test("the gateway serves both eras over backends of both eras: a modern client (listen tagged on reload) and a v1 client see the same merged tools", async () => {
  const server = await editableV2Server();
  const dir = await Deno.makeTempDir({ prefix: "mcpmon-eras-gw-" });
  try {
    const [node, script] = await v2ServerCommand({ script: server.script });
    const gateway = await gatewayIn(dir, {
      dual: [
        ...serverKeys(node, [script, "--name=dual"]),
        `watch: ${JSON.stringify(server.tools)}`,
        "debounce: 30",
        "minInterval: 0",
      ],
      modern: serverKeys(node, [V2_SERVER, "--modern-only", "--name=modern"]),
      legacy: serverKeys(node, [WELL_BEHAVED, "--name=legacy"]),
    });
    const expected = ["dual__hello", "modern__hello", "legacy__echo"];
    {
      await using h = await connectClient({ mode: "modern", ...gateway });
      assert.equal(h.era, MODERN_VERSION);
      const names = await h.toolNames();
      for (const name of expected) assert.ok(names.includes(name), `${name} in ${names}`);
      assert.equal(await h.callText("modern__era"), `modern ${MODERN_VERSION}`);
      assert.equal(await h.callText("legacy__echo", { text: "hi" }), "hi");
      const listen = await h.listen({ toolsListChanged: true });
      const before = h.notifications().length;
      await Deno.writeTextFile(
        server.tools,
        `export default [{ name: "goodbye", description: "Says goodbye.", text: "bye" }];\n`,
      );
      await h.waitForNotification("notifications/tools/list_changed", {
        after: before,
        subscriptionId: listen.id,
      });
      assert.ok((await h.toolNames()).includes("dual__goodbye"));
      await listen.close();
    }
    {
      await using h = await connectClient({ mode: "v1", ...gateway });
      assert.equal(h.era, "2025-11-25");
      const names = await h.toolNames();
      for (const name of ["dual__goodbye", "modern__hello", "legacy__echo"]) {
        assert.ok(names.includes(name), `${name} in ${names}`);
      }
      assert.equal(await h.callText("modern__era"), `modern ${MODERN_VERSION}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(server.dir, { recursive: true });
  }
});

Deno.test("resource subscriptions through the gateway across eras: a modern client's listen and a v1 client's subscribe both hear a modern-only backend's updates, also after its restart", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mcpmon-eras-sub-" });
  try {
    const [node] = await v2ServerCommand();
    const gateway = await gatewayIn(dir, {
      modern: [
        ...serverKeys(node, [V2_SERVER, "--modern-only", "--name=modern"]),
        "minInterval: 0",
      ],
      legacy: serverKeys(node, [WELL_BEHAVED, "--name=legacy"]),
    });
    const uri = "fixture://counter";
    {
      await using h = await connectClient({ mode: "modern", ...gateway });
      const listen = await h.listen({ resourceSubscriptions: [uri, "nowhere://x"] });
      assert.deepEqual(listen.honoredFilter.resourceSubscriptions, [uri]);
      for (const round of ["before", "after"]) {
        if (round === "after") {
          assert.match(await h.callText("restart_server", { server: "modern" }), /restart/i);
        }
        const mark = h.notifications().length;
        await h.callText("modern__notify", { updated: uri });
        const updated = await h.waitForNotification("notifications/resources/updated", {
          after: mark,
          subscriptionId: listen.id,
        });
        assert.equal((updated.params as Msg).uri, uri, round);
      }
      await listen.close();
    }
    {
      await using h = await connectClient({ mode: "v1", ...gateway });
      await h.v1!.subscribeResource({ uri });
      const mark = h.notifications().length;
      await h.callText("modern__notify", { updated: uri });
      const updated = await h.waitForNotification("notifications/resources/updated", {
        after: mark,
      });
      assert.deepEqual(updated.params, { uri }, "untagged, as a 2025 client expects");
      await h.v1!.unsubscribeResource({ uri });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a v1 client of the gateway answers a modern-only backend's multi round-trip tool: its input_required becomes an elicitation/create request, the retry carries the answer", async () => {
  const [node] = await v2ServerCommand();
  const dir = await Deno.makeTempDir({ prefix: "mcpmon-eras-mrtr-" });
  try {
    const gateway = await gatewayIn(dir, {
      modern: serverKeys(node, [V2_SERVER, "--modern-only", "--name=modern"]),
    });
    await using h = await connectClient({ mode: "v1", ...gateway });
    assert.match(await h.callText("modern__confirm", { action: "ship" }), /^confirmed ship/);
    const asked = h.wire.filter((e) => e.dir === "in" && e.msg.method === "elicitation/create");
    assert.equal(asked.length, 1, "one elicitation, as a 2025 server would send it");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a modern client of the gateway answers a 2025 server's elicitation: mcpmon turns it into input_required, the SDK's retry brings the answer back to the server's request", async () => {
  await v2ServerCommand(); // installs the fixtures' node_modules (the client)
  const dir = await Deno.makeTempDir({ prefix: "mcpmon-eras-park-" });
  try {
    const gateway = await gatewayIn(dir, {
      old: serverKeys("node", [join(FIXTURES_DIR, "eliciting.mjs")]),
    });
    await using h = await connectClient({ mode: "modern", ...gateway });
    assert.equal(h.era, MODERN_VERSION);
    const answer = JSON.parse(await h.callText("old__ask"));
    assert.deepEqual(answer, { action: "accept", content: { confirm: true } });
    const calls = h.wire.filter((e) => e.dir === "out" && e.msg.method === "tools/call");
    assert.equal(calls.length, 2, "the call, then its retry with the input");
    assert.equal(typeof calls[1].msg.params.requestState, "string");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
