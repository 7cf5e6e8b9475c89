/**
 * `mcpmon --http`: the reloading stdio server served on Streamable HTTP, driven by the v1 SDK's
 * `StreamableHTTPClientTransport` (legacy sessions). Few and fast: the status codes and the modern
 * era's mechanics are specified in detail by `tests/http_front_test.ts`.
 */
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  ElicitRequestSchema,
  ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
import {
  Client as V2Client,
  StreamableHTTPClientTransport as V2Transport,
} from "@modelcontextprotocol/client";
import {
  DEFAULT_TIMEOUT_MS,
  defaultLauncher,
  makeFixtureDir,
  scopedDenoLauncher,
  serverKeys,
  TEST_CWD,
  TEST_STATE_HOME,
  waitUntil,
  withTimeout,
  writeGatewayConfig,
} from "./_harness.ts";
import { processAlive } from "../../testing/processes.ts";
import { join } from "node:path";
import { FIXTURES_DIR } from "./_harness.ts";
import {
  type Msg,
  SUBSCRIPTION_ID_KEY,
  tap,
  V2_SERVER,
  v2ServerCommand,
  type WireEntry,
} from "./_v2.ts";

/** The launcher, with network access on Deno (`--http` needs it). */
function launcher(): string[] {
  return Deno.env.get("MCPMON_E2E_LAUNCHER")?.trim()
    ? defaultLauncher()
    : scopedDenoLauncher(["--allow-net=127.0.0.1"]);
}

interface Served extends AsyncDisposable {
  url: URL;
  child: Deno.ChildProcess;
  stderr(): string;
  /** SIGTERM, then the exit status. */
  stop(): Promise<Deno.CommandStatus>;
}

/** Starts `mcpmon --http 127.0.0.1:0 [args] -- <server>` and waits for its "Serving on" line. */
async function serveHttp(args: string[], server: string[]): Promise<Served> {
  const [command, ...rest] = [
    ...launcher(),
    "--http",
    "127.0.0.1:0",
    ...args,
    ...(server.length > 0 ? ["--", ...server] : []),
  ];
  const child = new Deno.Command(command, {
    args: rest,
    cwd: TEST_CWD,
    env: { XDG_STATE_HOME: TEST_STATE_HOME },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let text = "";
  let wake = () => {};
  const reading = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) {
      text += decoder.decode(chunk, { stream: true });
      wake();
    }
  })();
  const status = child.status;
  let exited = false;
  status.then(() => {
    exited = true;
    wake();
  });
  const port = await withTimeout(
    (async () => {
      while (true) {
        const m = /Serving on http:\/\/127\.0\.0\.1:(\d+)\/mcp/.exec(text);
        if (m) return Number(m[1]);
        if (exited) throw new Error(`mcpmon exited:\n${text}`);
        await new Promise<void>((resolve) => wake = resolve);
      }
    })(),
    DEFAULT_TIMEOUT_MS,
    () => `no "Serving on" line:\n${text}`,
  );
  let stopping: Promise<Deno.CommandStatus> | undefined;
  const stop = () =>
    stopping ??= (async () => {
      if (!exited) child.kill("SIGTERM");
      const result = await withTimeout(status, DEFAULT_TIMEOUT_MS, () => `mcpmon did not exit`);
      await reading;
      return result;
    })();
  return {
    url: new URL(`http://127.0.0.1:${port}/mcp`),
    child,
    stderr: () => text,
    stop,
    async [Symbol.asyncDispose]() {
      await stop();
    },
  };
}

/**
 * An SDK client on Streamable HTTP that counts `tools/list_changed`: the v1 SDK's, or the v2
 * SDK's in its dual-era mode (it probes `server/discover` first, then falls back to `initialize`).
 */
async function connect(url: URL, name: string, sdk: "v1" | "v2" = "v1") {
  let changed = 0;
  let wake = () => {};
  const heard = () => {
    changed++;
    wake();
  };
  let client: Client | V2Client;
  let transport: StreamableHTTPClientTransport | V2Transport;
  if (sdk === "v1") {
    transport = new StreamableHTTPClientTransport(url);
    client = new Client({ name, version: "1.0.0" });
    client.setNotificationHandler(ToolListChangedNotificationSchema, heard);
    await client.connect(transport, { timeout: DEFAULT_TIMEOUT_MS });
  } else {
    transport = new V2Transport(url);
    client = new V2Client({ name, version: "1.0.0" }, {
      versionNegotiation: { mode: "auto" },
      listChanged: { tools: { onChanged: heard } },
    } as never);
    await client.connect(transport, { timeout: DEFAULT_TIMEOUT_MS });
  }
  return {
    client: client as Client,
    transport,
    changes: () => changed,
    waitForChange: (after: number) =>
      withTimeout(
        (async () => {
          while (changed <= after) await new Promise<void>((resolve) => wake = resolve);
        })(),
        DEFAULT_TIMEOUT_MS,
        () => `${name} heard no tools/list_changed`,
      ),
    async call(tool: string, args: Record<string, unknown> = {}): Promise<string> {
      const result = await (client as Client).callTool({ name: tool, arguments: args }, undefined, {
        timeout: DEFAULT_TIMEOUT_MS,
      });
      return (result.content as { type: string; text: string }[])[0].text;
    },
  };
}

const post = (url: URL, headers: Record<string, string>, body: unknown) =>
  fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...headers,
    },
    body: JSON.stringify(body),
  });

Deno.test("--http: two SDK clients (v1, and v2 in its dual-era mode) keep their own sessions across an edit, both hear list_changed and see the new tool; DELETE ends a session (404 after), a foreign Origin gets 403, SIGTERM leaves nothing running", async () => {
  await using fx = await makeFixtureDir();
  await using mon = await serveHttp(["--watch", fx.dir, "--debounce", "50"], [
    "node",
    fx.serverPath,
  ]);
  const a = await connect(mon.url, "client-a");
  const b = await connect(mon.url, "client-b", "v2");
  try {
    const sessionA = a.transport.sessionId;
    const sessionB = b.transport.sessionId;
    assert.ok(sessionA && sessionB && sessionA !== sessionB, "each client has its own session");
    const pidsBefore = [Number(await a.call("pid")), Number(await b.call("pid"))];
    assert.notEqual(pidsBefore[0], pidsBefore[1], "each session runs its own server process");

    const marks = [a.changes(), b.changes()];
    await fx.writeTools([{ name: "hello", text: "hello v2" }]);
    await Promise.all([a.waitForChange(marks[0]), b.waitForChange(marks[1])]);
    for (const [c, name] of [[a, "client-a"], [b, "client-b"]] as const) {
      const { tools } = await c.client.listTools();
      assert.ok(
        tools.some((t: { name: string }) => t.name === "hello"),
        `${name} lists the new tool`,
      );
      assert.equal(await c.call("hello"), "hello v2");
      const session = JSON.parse(await c.call("session"));
      assert.equal(session.clientInfo.name, name, "the new process got this session's initialize");
    }
    assert.equal(a.transport.sessionId, sessionA, "the session id survives the restart");
    const pidsAfter = [Number(await a.call("pid")), Number(await b.call("pid"))];
    assert.ok(pidsAfter.every((p, i) => p !== pidsBefore[i]), "both servers were restarted");
    for (const pid of pidsBefore) assert.equal(processAlive(pid), false, `old server ${pid} gone`);

    const foreign = await post(mon.url, {
      origin: "http://evil.example",
      "mcp-session-id": sessionB,
    }, {
      jsonrpc: "2.0",
      id: 1,
      method: "ping",
    });
    assert.equal(foreign.status, 403);
    await foreign.body?.cancel();

    await a.transport.terminateSession();
    await waitUntil(
      () => !processAlive(pidsAfter[0]),
      DEFAULT_TIMEOUT_MS,
      "DELETE stops its server",
    );
    const ended = await post(mon.url, { "mcp-session-id": sessionA }, {
      jsonrpc: "2.0",
      id: 2,
      method: "ping",
    });
    assert.equal(ended.status, 404, "a DELETE'd session is not found");
    await ended.body?.cancel();
    const unknown = await post(mon.url, { "mcp-session-id": "no-such-session" }, {
      jsonrpc: "2.0",
      id: 3,
      method: "ping",
    });
    assert.equal(unknown.status, 404);
    await unknown.body?.cancel();
    assert.equal(await b.call("echo", { text: "still here" }), "still here");
  } finally {
    await a.client.close().catch(() => {});
    await b.client.close().catch(() => {});
  }
  const status = await mon.stop();
  assert.equal(status.code, 0, mon.stderr());
  const pids = [...mon.stderr().matchAll(/\[mcpmon pid:(\d+)\] Started/g)].map((m) => Number(m[1]));
  assert.ok(pids.length >= 4, `two sessions, two processes each: ${pids}`);
  for (const pid of pids) {
    await waitUntil(() => !processAlive(pid), DEFAULT_TIMEOUT_MS, `server ${pid} left running`);
  }
});

Deno.test("--http: a port in use (single server or gateway, which then starts no server), a bad --http value and a non-loopback bind without a token are clear errors with exit code 2", async () => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const run = async (value: string) => {
    const [command, ...args] = [...launcher(), "--http", value, "--", "node", "-e", "0"];
    const out = await new Deno.Command(command, {
      args,
      cwd: TEST_CWD,
      env: { XDG_STATE_HOME: TEST_STATE_HOME, MCPMON_HTTP_TOKEN: "" },
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
    return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
  };
  const inUse = await run(`127.0.0.1:${taken.addr.port}`);
  assert.equal(inUse.code, 2, inUse.stderr);
  assert.match(inUse.stderr, /port is in use/);
  const bad = await run("localhost");
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /--http takes \[host:\]port/);
  const open = await run("0.0.0.0:0");
  assert.equal(open.code, 2, open.stderr);
  assert.match(open.stderr, /without a token/);

  // The gateway too, and it starts no server when it cannot serve them.
  await using fx = await makeFixtureDir();
  const config = join(fx.dir, ".mcpmon.yaml");
  await Deno.writeTextFile(
    config,
    `servers:\n  a:\n    command: node\n    args: ${JSON.stringify([fx.serverPath])}\n`,
  );
  const [command, ...args] = [
    ...launcher(),
    "--http",
    `127.0.0.1:${taken.addr.port}`,
    "--config",
    config,
  ];
  const out = await new Deno.Command(command, {
    args,
    cwd: TEST_CWD,
    env: { XDG_STATE_HOME: TEST_STATE_HOME },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 2, stderr);
  assert.match(stderr, /port is in use/);
  assert.doesNotMatch(stderr, /Started/, "no server started");
});

/** A copy of the v2 fixture (dual-era) whose `v2_tools.mjs` a test may edit. */
async function editableV2Server(): Promise<
  AsyncDisposable & { dir: string; script: string; tools: string }
> {
  await v2ServerCommand(); // installs the fixture's node_modules
  const dir = await Deno.makeTempDir({ prefix: "mcpmon-http-v2-" });
  await Deno.copyFile(V2_SERVER, join(dir, "v2_server.mjs"));
  await Deno.copyFile(join(FIXTURES_DIR, "v2_tools.mjs"), join(dir, "v2_tools.mjs"));
  await Deno.symlink(join(FIXTURES_DIR, "node_modules"), join(dir, "node_modules"));
  return {
    dir,
    script: join(dir, "v2_server.mjs"),
    tools: join(dir, "v2_tools.mjs"),
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** A v2 SDK client pinned to 2026-07-28 on Streamable HTTP, its wire recorded. */
async function connectModern(url: URL) {
  const wire: WireEntry[] = [];
  let wake = () => {};
  const transport = new V2Transport(url);
  tap(transport as never, (e) => {
    wire.push(e);
    wake();
  });
  const client = new V2Client({ name: "client-modern", version: "1.0.0" }, {
    versionNegotiation: { mode: { pin: "2026-07-28" } },
  } as never);
  await client.connect(transport, { timeout: DEFAULT_TIMEOUT_MS });
  const notifications = () =>
    wire.filter((e) => e.dir === "in" && e.msg.method !== undefined && e.msg.id === undefined)
      .map((e) => e.msg);
  return {
    client,
    wire,
    notifications,
    waitForNotification: (method: string, after: number, subscriptionId: unknown) =>
      withTimeout(
        (async () => {
          while (true) {
            const found = notifications().slice(after).find((n: Msg) =>
              n.method === method && n.params?._meta?.[SUBSCRIPTION_ID_KEY] === subscriptionId
            );
            if (found) return found;
            await new Promise<void>((resolve) => wake = resolve);
          }
        })(),
        DEFAULT_TIMEOUT_MS,
        () => `no ${method} tagged ${subscriptionId}: ${JSON.stringify(notifications())}`,
      ),
    async call(tool: string): Promise<string> {
      const result = await client.callTool({ name: tool, arguments: {} }, {
        timeout: DEFAULT_TIMEOUT_MS,
      });
      return (result.content as { type: string; text: string }[])[0].text;
    },
  };
}

Deno.test("--http (2026-07-28): a v2 client pinned to 2026-07-28 and a v1 client at once over the dual-era v2 fixture, across an edit: calls keep working, the modern listen stream survives the restart and hears list_changed tagged with its id, the 2025 session keeps its Mcp-Session-Id", async () => {
  await using server = await editableV2Server();
  await using mon = await serveHttp(
    ["--watch", server.tools, "--debounce", "50"],
    await v2ServerCommand({ script: server.script }),
  );
  const modern = await connectModern(mon.url);
  const legacy = await connect(mon.url, "client-v1");
  try {
    assert.equal(modern.client.getNegotiatedProtocolVersion(), "2026-07-28");
    const sessionId = legacy.transport.sessionId;
    assert.ok(sessionId, "the v1 client has a 2025 session");
    const mark = modern.wire.length;
    const subscription = await modern.client.listen({ toolsListChanged: true }, {
      timeout: DEFAULT_TIMEOUT_MS,
    });
    let ended: string | undefined;
    subscription.closed.then((why) => ended = why);
    const listenId = modern.wire.slice(mark).find((e) =>
      e.dir === "out" && e.msg.method === "subscriptions/listen"
    )!.msg.id;
    assert.equal(await modern.call("hello"), "hello v1");
    assert.equal(await legacy.call("hello"), "hello v1");
    const pids = [await modern.call("pid"), await legacy.call("pid")];

    const before = modern.notifications().length;
    const changes = legacy.changes();
    await Deno.writeTextFile(
      server.tools,
      `export default [{ name: "goodbye", description: "Says goodbye.", text: "bye" }];\n`,
    );
    await modern.waitForNotification("notifications/tools/list_changed", before, listenId);
    await legacy.waitForChange(changes);
    assert.equal(await modern.call("goodbye"), "bye");
    assert.equal(await legacy.call("goodbye"), "bye");
    assert.notEqual(await modern.call("pid"), pids[0], "the modern requests' server restarted");
    assert.notEqual(await legacy.call("pid"), pids[1], "the session's server restarted");
    assert.equal(ended, undefined, "the listen stream is still open after the restart");
    assert.equal(legacy.transport.sessionId, sessionId, "the 2025 session keeps its id");
    await subscription.close();
  } finally {
    await modern.client.close().catch(() => {});
    await legacy.client.close().catch(() => {});
  }
  assert.equal((await mon.stop()).code, 0, mon.stderr());
});

Deno.test("--http --config: the gateway on HTTP, one process per server shared by a v1 client (2025 session) and a v2 client pinned to 2026-07-28; the 2025 session's resource subscription is heard and its multi round-trip call answered; one backend reloads alone, both clients hear list_changed and see its new tool", async () => {
  await using fx = await makeFixtureDir();
  await using v2 = await editableV2Server();
  await using cfg = await makeFixtureDir();
  const config = await writeGatewayConfig(cfg.dir, {
    old: [
      ...serverKeys("node", [fx.serverPath]),
      `watch: ${JSON.stringify(fx.dir)}`,
      "debounce: 30",
      "minInterval: 0",
    ],
    new: [
      ...serverKeys("node", [v2.script]),
      `watch: ${JSON.stringify(v2.tools)}`,
      "debounce: 30",
      "minInterval: 0",
    ],
  });
  await using mon = await serveHttp(["--config", config], []);
  const legacy = await connect(mon.url, "client-v1");
  const modern = await connectModern(mon.url);
  try {
    assert.equal(modern.client.getNegotiatedProtocolVersion(), "2026-07-28");
    const names = async () =>
      (await legacy.client.listTools()).tools.map((t: { name: string }) => t.name);
    await waitUntil(
      async () => (await names()).includes("new__hello") && (await names()).includes("old__hello"),
      DEFAULT_TIMEOUT_MS,
      "both servers' tools listed",
    );
    const mark = modern.wire.length;
    await modern.client.listen({ toolsListChanged: true }, { timeout: DEFAULT_TIMEOUT_MS });
    const listenId = modern.wire.slice(mark).find((e) =>
      e.dir === "out" && e.msg.method === "subscriptions/listen"
    )!.msg.id;
    const oldPid = await legacy.call("old__pid");
    const newPid = await modern.call("new__pid");
    assert.equal(await modern.call("old__pid"), oldPid, "both clients share the one old process");
    assert.equal(await legacy.call("new__pid"), newPid, "and the one new process");

    // A 2025 session's resource subscription: held on its listen, an update reaches its stream.
    const updates: string[] = [];
    legacy.client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n: Msg) => {
      updates.push(n.params.uri);
    });
    await legacy.client.subscribeResource({ uri: "fixture://counter" });
    await legacy.call("new__notify", { updated: "fixture://counter" });
    await waitUntil(
      () =>
        updates.includes("fixture://counter"),
      DEFAULT_TIMEOUT_MS,
      "the 2025 session hears the update of the resource it subscribed to",
    );
    await legacy.client.unsubscribeResource({ uri: "fixture://counter" });

    // A multi round-trip tool of the shared (2026-07-28) server, called by a 2025 session: its
    // input_required comes to the client as an elicitation/create request; the retry completes it.
    const asker = new Client({ name: "asker", version: "1.0.0" }, {
      capabilities: { elicitation: {} },
    });
    asker.setRequestHandler(ElicitRequestSchema, () => ({
      action: "accept",
      content: { confirm: true },
    }));
    await asker.connect(new StreamableHTTPClientTransport(mon.url), {
      timeout: DEFAULT_TIMEOUT_MS,
    });
    try {
      const confirmed = await asker.callTool(
        { name: "new__confirm", arguments: { action: "ship" } },
        undefined,
        { timeout: DEFAULT_TIMEOUT_MS },
      );
      assert.match((confirmed.content as { text: string }[])[0].text, /^confirmed ship/);
    } finally {
      await asker.close();
    }

    const before = modern.notifications().length;
    const changes = legacy.changes();
    await Deno.writeTextFile(
      v2.tools,
      `export default [{ name: "goodbye", description: "Says goodbye.", text: "bye" }];\n`,
    );
    await modern.waitForNotification("notifications/tools/list_changed", before, listenId);
    await legacy.waitForChange(changes);
    await waitUntil(
      async () => (await names()).includes("new__goodbye"),
      DEFAULT_TIMEOUT_MS,
      "the new tool listed",
    );
    assert.equal(await legacy.call("new__goodbye"), "bye");
    assert.equal(await modern.call("new__goodbye"), "bye");
    assert.notEqual(await modern.call("new__pid"), newPid, "the edited server restarted");
    assert.equal(await legacy.call("old__pid"), oldPid, "the other one did not");
  } finally {
    await modern.client.close().catch(() => {});
    await legacy.client.close().catch(() => {});
  }
  assert.equal((await mon.stop()).code, 0, mon.stderr());
  const pids = [...mon.stderr().matchAll(/pid:(\d+)\] Started/g)].map((m) => Number(m[1]));
  assert.equal(pids.length, 3, `one process per server, one restart: ${pids}\n${mon.stderr()}`);
  for (const pid of pids) {
    await waitUntil(() => !processAlive(pid), DEFAULT_TIMEOUT_MS, `server ${pid} left running`);
  }
});

/** Reads SSE events (id and data) from a fetch response. */
function events(response: Response) {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  return {
    async next(): Promise<{ id?: string; data: string } | undefined> {
      while (true) {
        const end = buffer.indexOf("\n\n");
        if (end !== -1) {
          const lines = buffer.slice(0, end).split("\n");
          buffer = buffer.slice(end + 2);
          const id = lines.find((l) => l.startsWith("id: "))?.slice(4);
          const data = lines.filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim());
          if (id !== undefined || data.length > 0) return { id, data: data.join("\n") };
          continue;
        }
        const { done, value } = await withTimeout(
          reader.read(),
          DEFAULT_TIMEOUT_MS,
          () => `no SSE event; so far: ${buffer}`,
        );
        if (done) return undefined;
        buffer += value;
      }
    },
    cancel: () => reader.cancel(),
  };
}

Deno.test("--http (resumption): a 2025-11-25 POST stream cut after its first progress is resumed by GET with Last-Event-ID: the progress it missed and the answer, under the same event ids", async () => {
  await using fx = await makeFixtureDir();
  await using mon = await serveHttp(["--watch", fx.dir], ["node", fx.serverPath]);
  const a = await connect(mon.url, "client-a");
  try {
    const session = a.transport.sessionId!;
    const headers = { "mcp-session-id": session, "mcp-protocol-version": "2025-11-25" };
    const cut = new AbortController();
    const response = await fetch(mon.url, {
      method: "POST",
      signal: cut.signal,
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        ...headers,
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: "slow-1",
        method: "tools/call",
        params: {
          name: "progress",
          arguments: { steps: 3, intervalMs: 300 },
          _meta: { progressToken: "t" },
        },
      }),
    });
    assert.equal(response.headers.get("content-type"), "text/event-stream");
    const stream = events(response);
    const priming = await stream.next();
    assert.equal(priming?.data, "", "a priming event first");
    const first = await stream.next();
    assert.equal(JSON.parse(first!.data).params.progress, 1);
    cut.abort(); // the connection breaks
    await stream.cancel().catch(() => {});
    const resumed = await fetch(mon.url, {
      headers: { accept: "text/event-stream", ...headers, "last-event-id": first!.id! },
    });
    assert.equal(resumed.status, 200);
    const rest = events(resumed);
    const seen: string[] = [];
    for (let event = await rest.next(); event; event = await rest.next()) {
      const message = JSON.parse(event.data);
      seen.push(message.method ?? `answer ${message.id}`);
      assert.ok(event.id, "every event has an id");
    }
    assert.deepEqual(seen, [
      "notifications/progress",
      "notifications/progress",
      "answer slow-1",
    ], "the progress missed and the answer, then the stream ends");
    const again = await fetch(mon.url, {
      headers: { accept: "text/event-stream", ...headers, "last-event-id": "99:1" },
    });
    assert.equal(again.status, 400, "an id naming no stream");
    await again.body?.cancel();
  } finally {
    await a.client.close().catch(() => {});
  }
  assert.equal((await mon.stop()).code, 0, mon.stderr());
});

Deno.test("--http --config: a 2025 server's elicitation reaches HTTP clients of both eras: a 2026-07-28 client as input_required, a 2025 session as an elicitation/create request", async () => {
  await using cfg = await makeFixtureDir();
  const config = await writeGatewayConfig(cfg.dir, {
    old: serverKeys("node", [join(FIXTURES_DIR, "eliciting.mjs")]),
  });
  await using mon = await serveHttp(["--config", config], []);
  const modern = new V2Client({ name: "modern", version: "1.0.0" }, {
    versionNegotiation: { mode: { pin: "2026-07-28" } },
    capabilities: { elicitation: { form: {} } },
  } as never);
  modern.setRequestHandler("elicitation/create", () => ({
    action: "accept",
    content: { confirm: true },
  }));
  const legacy = new Client({ name: "legacy", version: "1.0.0" }, {
    capabilities: { elicitation: {} },
  });
  legacy.setRequestHandler(ElicitRequestSchema, () => ({
    action: "decline",
  }));
  await modern.connect(new V2Transport(mon.url), { timeout: DEFAULT_TIMEOUT_MS });
  await legacy.connect(new StreamableHTTPClientTransport(mon.url), { timeout: DEFAULT_TIMEOUT_MS });
  try {
    const text = (result: unknown) => (result as { content: { text: string }[] }).content[0].text;
    assert.deepEqual(
      JSON.parse(text(
        await modern.callTool({ name: "old__ask", arguments: {} }, {
          timeout: DEFAULT_TIMEOUT_MS,
        }),
      )),
      { action: "accept", content: { confirm: true } },
    );
    assert.deepEqual(
      JSON.parse(text(
        await legacy.callTool({ name: "old__ask", arguments: {} }, undefined, {
          timeout: DEFAULT_TIMEOUT_MS,
        }),
      )),
      { action: "decline" },
    );
  } finally {
    await modern.close().catch(() => {});
    await legacy.close().catch(() => {});
  }
  assert.equal((await mon.stop()).code, 0, mon.stderr());
});
