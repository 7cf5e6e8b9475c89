/**
 * `mcpmon --http`: the reloading stdio server served on Streamable HTTP, driven by the v1 SDK's
 * `StreamableHTTPClientTransport` (legacy sessions). Few and fast: the status codes and the modern
 * era's mechanics are specified in detail by `tests/http_front_test.ts`.
 */
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ToolListChangedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import {
  Client as V2Client,
  StreamableHTTPClientTransport as V2Transport,
} from "@modelcontextprotocol/client";
import {
  DEFAULT_TIMEOUT_MS,
  defaultLauncher,
  makeFixtureDir,
  scopedDenoLauncher,
  TEST_CWD,
  TEST_STATE_HOME,
  waitUntil,
  withTimeout,
} from "./_harness.ts";
import { processAlive } from "../../testing/processes.ts";

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
  const [command, ...rest] = [...launcher(), "--http", "127.0.0.1:0", ...args, "--", ...server];
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

Deno.test("--http: a port in use, a bad --http value and a non-loopback bind without a token are clear errors with exit code 2", async () => {
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
});
