/**
 * The port of a `--url` server whose command mcpmon runs (`checkPortFree` in
 * `src/http_backend.ts`, called by the backend before each start): taken before the first start is
 * a clear error and the command is not started; after a restart, mcpmon first waits for the old
 * process to exit and then for its port to be free before starting the new one.
 */
import assert from "node:assert/strict";
import { checkPortFree, portAccepts } from "../src/http_backend.ts";
import { type ServerOptions, serverOptions } from "../src/config.ts";
import { type FakeChild, initializeClient, type Msg, startRouter } from "./_fake_runtime.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

function holdPort(port = 0) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  return { port: (listener.addr as Deno.NetAddr).port, close: () => listener.close() };
}

/** A minimal 2025-era MCP server on Streamable HTTP at `port` (0: any); `name` is in its answers. */
function mcpServer(name: string, port = 0) {
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port, signal: ac.signal, onListen() {} },
    async (req) => {
      if (req.method !== "POST") return new Response(null, { status: 405 });
      const msg = await req.json();
      if (msg.id === undefined) return new Response(null, { status: 202 });
      const result = msg.method === "initialize"
        ? {
          protocolVersion: msg.params.protocolVersion,
          capabilities: { tools: {} },
          serverInfo: { name, version: "1" },
        }
        : msg.method === "tools/list"
        ? { tools: [{ name: "who", inputSchema: { type: "object" } }] }
        : { content: [{ type: "text", text: name }] };
      return Response.json({ jsonrpc: "2.0", id: msg.id, result });
    },
  );
  return {
    port: server.addr.port,
    async stop() {
      ac.abort();
      await server.finished;
    },
  };
}

const devServer = (port: number, overrides: Partial<ServerOptions> = {}): ServerOptions => ({
  ...serverOptions({ name: "dev", command: "dev", url: `http://127.0.0.1:${port}/mcp`, watch: [] }),
  graceMs: 500,
  initTimeoutMs: 5_000,
  minRestartIntervalMs: 0,
  ...overrides,
});

/** Calls the `who` tool: the name of the server that answered, or the error message. */
async function who(h: ReturnType<typeof startRouter>["h"], id: string): Promise<string> {
  h.clientSend({
    jsonrpc: "2.0",
    id,
    method: "tools/call",
    params: { name: "who", arguments: {} },
  });
  const answer = await h.clientWaitFor((m) => m.id === id && ("result" in m || "error" in m));
  return answer.error ? `error: ${answer.error.message}` : answer.result.content[0].text;
}

/** The fake process of the command: it serves nothing itself (the test's HTTP server does). */
const idle = (_child: FakeChild, _msg: Msg) => {};

Deno.test("portAccepts tells a listening port from a free one", opts, async () => {
  const held = holdPort();
  assert.equal(await portAccepts(new URL(`http://127.0.0.1:${held.port}/mcp`)), true);
  held.close();
  assert.equal(await portAccepts(new URL(`http://127.0.0.1:${held.port}/mcp`)), false);
});

Deno.test(
  "a port taken before the first start: an error naming the port, the likely old instance and the ways on; the command is not started",
  opts,
  async () => {
    const held = holdPort();
    const url = `http://127.0.0.1:${held.port}/mcp`;
    const { h, close } = startRouter({ dev: idle }, [devServer(held.port)]);
    await initializeClient(h);
    const message = await who(h, "w1");
    assert.match(
      message,
      new RegExp(
        `port ${held.port} \\(${
          url.replaceAll(".", "\\.")
        }\\) already accepts connections before mcpmon started \`dev\``,
      ),
    );
    assert.match(message, /most likely an earlier instance of the server is still running/);
    assert.match(message, new RegExp(`lsof -i :${held.port}`));
    assert.match(
      message,
      new RegExp(`leaving out the command \\(mcpmon --url ${url.replaceAll(".", "\\.")}\\)`),
    );
    assert.match(h.stderr(), /already accepts connections/);
    assert.equal(h.children.length, 0, "the command was not started");
    await close();
    held.close();
  },
);

Deno.test(
  "a port let go within the grace period at first start (the server of an mcpmon the client just replaced, on its way out): the command starts once it is free",
  opts,
  async () => {
    const held = holdPort();
    const { h, close } = startRouter({ dev: idle }, [devServer(held.port)]);
    const events: string[] = [];
    setTimeout(() => {
      held.close();
      events.push("port freed");
    }, 200);
    void h.spawned(1).then(() => events.push("command started"));
    await initializeClient(h);
    await h.spawned(1);
    assert.deepEqual(events, ["port freed", "command started"]);
    await close();
  },
);

Deno.test(
  "MCPMON_NO_PORT_CHECK=1 skips the check: mcpmon starts the command and talks to what holds the port",
  opts,
  async () => {
    const other = mcpServer("already-there");
    try {
      const { h, close } = startRouter({ dev: idle }, [devServer(other.port)], {
        env: { MCPMON_NO_PORT_CHECK: "1" },
      });
      await initializeClient(h);
      assert.equal(await who(h, "w1"), "already-there");
      assert.equal(h.children.length, 1);
      await close();
    } finally {
      await other.stop();
    }
  },
);

Deno.test(
  "a restart waits for the old process to exit, then for its port to be free, before starting the new one",
  opts,
  async () => {
    const free = holdPort();
    free.close();
    const port = free.port;
    const { h, router, close } = startRouter({ dev: idle }, [devServer(port)]);
    // The first process "serves" once it is started (the test plays its server).
    const first = h.spawned(1).then(() => mcpServer("one", port));
    await initializeClient(h);
    assert.equal(await who(h, "w1"), "one");
    const old = await first;

    // The old process ignores SIGTERM for a while; its port stays taken 200 ms past its exit
    // (a child of it letting go), and only then does the new server come up.
    const oldChild = h.children[0];
    oldChild.ignoreSigterm = true;
    const events: string[] = [];
    void oldChild.exited.then(() => {
      events.push("old exited");
      setTimeout(() => void old.stop().then(() => events.push("port freed")), 200);
    });
    setTimeout(() => oldChild.exit({ code: 0, signal: null }), 150);
    let second: ReturnType<typeof mcpServer> | undefined;
    void h.spawned(2, 10_000).then(() => {
      events.push("new started");
      second = mcpServer("two", port);
    });
    const outcome = await router.restart("test");
    assert.equal(outcome.ok, true, outcome.error);
    assert.deepEqual(events, ["old exited", "port freed", "new started"]);
    await close();
    await second?.stop();
  },
);

Deno.test(
  "a port still taken after a restart's wait: the restart fails with an error saying a leftover process holds it",
  opts,
  async () => {
    const free = holdPort();
    free.close();
    const port = free.port;
    const { h, router, close } = startRouter({ dev: idle }, [devServer(port, { graceMs: 300 })]);
    const first = h.spawned(1).then(() => mcpServer("one", port));
    await initializeClient(h);
    assert.equal(await who(h, "w1"), "one");
    const leftover = await first; // outlives the process mcpmon stops
    const outcome = await router.restart("test");
    assert.equal(outcome.ok, false);
    assert.match(
      outcome.error ?? "",
      new RegExp(
        `port ${port} .* is still in use 300 ms after the previous server exited: a process it started outlived it`,
      ),
    );
    assert.equal(h.children.length, 1, "no new process was started");
    await close();
    await leftover.stop();
  },
);

Deno.test(
  "checkPortFree: free at once, or freed within the wait, is no problem",
  opts,
  async () => {
    const held = holdPort();
    const url = `http://127.0.0.1:${held.port}/mcp`;
    setTimeout(() => held.close(), 100);
    assert.equal(await checkPortFree(url, "dev", 5_000, true), undefined);
    assert.equal(await checkPortFree(url, "dev", 0, true), undefined);
    // Not on this machine: not checked (a tunnel to the command's port accepts whatever runs here).
    assert.equal(await checkPortFree("https://dev.example.invalid/mcp", "dev", 0, true), undefined);
  },
);
