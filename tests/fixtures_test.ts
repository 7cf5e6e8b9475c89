/**
 * The fixture servers, driven directly (no mcpmon) by the MCP SDK client, and the e2e harness
 * (tests/e2e/_harness.ts) validated in its `direct` mode. If these fail, e2e failures mean nothing.
 */
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import {
  type ClientCapabilities,
  type CreateMessageRequest,
  CreateMessageRequestSchema,
  type Tool,
} from "@modelcontextprotocol/sdk/types.js";
import {
  callText,
  makeFixtureDir,
  processAlive,
  processTree,
  procInfo,
  SDK_SERVER,
  startMcpmon,
  waitUntil,
  WELL_BEHAVED,
  WRAPPER,
} from "./e2e/_harness.ts";

const BUILTIN_TOOLS = [
  "echo",
  "delay",
  "pid",
  "session",
  "sample",
  "roots",
  "log",
  "progress",
  "notify_list_changed",
  "big",
  "exit",
  "children",
];

/** A plain SDK client on a fixture process; dispose closes it and waits for the process to go. */
async function connectDirect(
  command: string,
  args: string[],
  capabilities: ClientCapabilities = {},
  setup: (client: Client) => void = () => {},
) {
  const transport = new StdioClientTransport({ command, args, stderr: "pipe" });
  const client = new Client({ name: "fixtures-test", version: "0.0.1" }, { capabilities });
  setup(client);
  await client.connect(transport);
  const pid = transport.pid!;
  return {
    client,
    pid,
    async [Symbol.asyncDispose]() {
      await client.close();
      await waitUntil(() => !processAlive(pid), 15_000, `fixture pid ${pid} still alive`);
    },
  };
}

/** Runs a fixture with raw stdin bytes and returns its stdout, stderr and exit code. */
async function runRaw(args: string[], stdin: string, env: Record<string, string> = {}) {
  const child = new Deno.Command("node", {
    args: [WELL_BEHAVED, ...args],
    env,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(stdin));
  await writer.close();
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

const INIT = JSON.stringify({
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: {
    protocolVersion: "2025-06-18",
    capabilities: {},
    clientInfo: { name: "raw", version: "1" },
  },
});

// ---------------------------------------------------------------------------------------------
// well_behaved.mjs through the SDK client

Deno.test("well_behaved under node lists the built-in tools and the tools of tools.mjs", async () => {
  await using fx = await connectDirect("node", [WELL_BEHAVED]);
  const { tools } = await fx.client.listTools();
  const names = tools.map((t: Tool) => t.name);
  assert.deepEqual(names, [...BUILTIN_TOOLS, "hello"]);
  for (const tool of tools) assert.equal(tool.inputSchema.type, "object");
  assert.equal(await callText(fx.client, "hello"), "hello v1");
  assert.equal(await callText(fx.client, "echo", { text: "héllo 🙂" }), "héllo 🙂");
  assert.equal(await callText(fx.client, "pid"), String(fx.pid));
});

Deno.test("well_behaved advertises no listChanged unless --list-changed", async () => {
  {
    await using fx = await connectDirect("node", [WELL_BEHAVED]);
    const caps = fx.client.getServerCapabilities();
    assert.deepEqual(caps, {
      tools: {},
      prompts: {},
      resources: { subscribe: true },
      logging: {},
    });
    assert.deepEqual(fx.client.getServerVersion(), { name: "well-behaved", version: "1.0.0" });
  }
  {
    await using fx = await connectDirect("node", [WELL_BEHAVED, "--list-changed"]);
    const caps = fx.client.getServerCapabilities();
    assert.equal(caps?.tools?.listChanged, true);
    assert.equal(caps?.prompts?.listChanged, true);
    assert.equal(caps?.resources?.listChanged, true);
  }
});

Deno.test("well_behaved runs unchanged under deno run -A", async () => {
  await using fx = await connectDirect(Deno.execPath(), ["run", "-A", WELL_BEHAVED]);
  assert.equal(await callText(fx.client, "pid"), String(fx.pid));
  assert.equal(await callText(fx.client, "hello"), "hello v1");
});

Deno.test("session reports the client's info, capabilities and that it sent initialized", async () => {
  await using fx = await connectDirect("node", [WELL_BEHAVED], { roots: { listChanged: true } });
  await fx.client.setLoggingLevel("warning");
  await fx.client.subscribeResource({ uri: "fixture://pid" });
  await fx.client.subscribeResource({ uri: "fixture://other" });
  await fx.client.unsubscribeResource({ uri: "fixture://other" });
  const session = JSON.parse(await callText(fx.client, "session"));
  assert.deepEqual(session.clientInfo, { name: "fixtures-test", version: "0.0.1" });
  assert.deepEqual(session.clientCapabilities, { roots: { listChanged: true } });
  assert.equal(typeof session.protocolVersion, "string");
  assert.equal(session.initializeCount, 1);
  assert.equal(session.initialized, true);
  assert.equal(session.logLevel, "warning");
  assert.deepEqual(session.subscriptions, ["fixture://pid"]);
  assert.deepEqual(session.cancelled, []);
  assert.equal(session.pid, fx.pid);
});

Deno.test("sample round-trips sampling/createMessage through the client", async () => {
  const seen: CreateMessageRequest[] = [];
  await using fx = await connectDirect("node", [WELL_BEHAVED], { sampling: {} }, (client) => {
    client.setRequestHandler(CreateMessageRequestSchema, (request: CreateMessageRequest) => {
      seen.push(request);
      const content = request.params.messages[0]?.content;
      const text = content && !Array.isArray(content) && content.type === "text"
        ? content.text
        : "";
      return {
        model: "test",
        role: "assistant",
        content: { type: "text", text: `answer to ${text}` },
      };
    });
  });
  assert.equal(await callText(fx.client, "sample", { prompt: "2+2?" }), "answer to 2+2?");
  assert.equal(await callText(fx.client, "sample", { prompt: "again" }), "answer to again");
  assert.equal(seen.length, 2);
  assert.equal(seen[0]?.params.maxTokens, 100);
});

Deno.test("sample reports the client's error as 'error: <message>'", async () => {
  // No sampling capability, so the SDK client answers -32601.
  await using fx = await connectDirect("node", [WELL_BEHAVED]);
  assert.match(await callText(fx.client, "sample", { prompt: "x" }), /^error: .*not found/i);
});

Deno.test("--crash-at-start makes connect fail with the exit before initialize", async () => {
  const transport = new StdioClientTransport({
    command: "node",
    args: [WELL_BEHAVED, "--crash-at-start"],
    stderr: "pipe",
  });
  let stderr = "";
  transport.stderr?.on("data", (chunk: Uint8Array) => stderr += new TextDecoder().decode(chunk));
  const client = new Client({ name: "fixtures-test", version: "0.0.1" });
  await assert.rejects(client.connect(transport), /closed/i);
  await client.close();
  await waitUntil(() => stderr.includes("boom: simulated crash at start"), 15_000, "stderr");
});

Deno.test("sdk_server (written with McpServer) adds numbers and reports its pid", async () => {
  await using fx = await connectDirect(Deno.execPath(), ["run", "-A", SDK_SERVER]);
  const { tools } = await fx.client.listTools();
  assert.deepEqual(tools.map((t: Tool) => t.name).sort(), ["add", "pid"]);
  assert.equal(await callText(fx.client, "add", { a: 2, b: 40 }), "42");
  assert.equal(await callText(fx.client, "pid"), String(fx.pid));
});

Deno.test("well_behaved carries multi-megabyte lines of multibyte text intact both ways", async () => {
  await using fx = await connectDirect("node", [WELL_BEHAVED]);
  // 3 MB of 1-4 byte characters: pipe chunks (64 KiB) split lines and characters.
  const text = "é漢🙂a".repeat(300_000) + "z";
  assert.equal(await callText(fx.client, "echo", { text }), text);
  for (const bytes of [0, 7, 10, 1_000_003]) {
    const big = await callText(fx.client, "big", { bytes });
    assert.equal(new TextEncoder().encode(big).length, bytes);
    assert.equal(big, "é漢🙂a".repeat(Math.floor(bytes / 10)) + "a".repeat(bytes % 10));
  }
});

Deno.test("--page-size paginates tools/list with an opaque cursor", async () => {
  await using fx = await connectDirect("node", [WELL_BEHAVED, "--page-size=5"]);
  const names: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await fx.client.listTools(cursor ? { cursor } : {});
    assert.ok(page.tools.length <= 5);
    names.push(...page.tools.map((t: Tool) => t.name));
    cursor = page.nextCursor;
    pages++;
  } while (cursor);
  assert.equal(pages, 3);
  assert.deepEqual(names, [...BUILTIN_TOOLS, "hello"]);
});

Deno.test("prompts, resources, completion and ping answer as documented", async () => {
  await using fx = await connectDirect("node", [WELL_BEHAVED]);
  const { prompts } = await fx.client.listPrompts();
  assert.deepEqual(prompts.map((p: { name: string }) => p.name), ["greet"]);
  const prompt = await fx.client.getPrompt({ name: "greet", arguments: { name: "Ada" } });
  assert.deepEqual(prompt.messages[0]?.content, { type: "text", text: "Hello, Ada!" });
  const { resources } = await fx.client.listResources();
  assert.deepEqual(resources.map((r: { uri: string }) => r.uri), ["fixture://pid"]);
  const read = await fx.client.readResource({ uri: "fixture://pid" });
  assert.equal((read.contents[0] as { text: string }).text, String(fx.pid));
  assert.deepEqual((await fx.client.listResourceTemplates()).resourceTemplates, []);
  const completion = await fx.client.complete({
    ref: { type: "ref/prompt", name: "greet" },
    argument: { name: "name", value: "A" },
  });
  assert.deepEqual(completion.completion, { values: [], total: 0, hasMore: false });
  assert.deepEqual(await fx.client.ping(), {});
  await assert.rejects(fx.client.request({ method: "nope/nope" }, CreateMessageRequestSchema), {
    code: -32601,
  });
});

// ---------------------------------------------------------------------------------------------
// Raw stdio: flags that concern bytes on the pipes

Deno.test("--noisy prints junk lines to stdout besides the JSON-RPC messages", async () => {
  const { code, stdout, stderr } = await runRaw(["--noisy"], INIT + "\n");
  assert.equal(code, 0);
  const lines = stdout.trimEnd().split("\n");
  assert.equal(lines[0], "Server starting...");
  assert.equal(JSON.parse(lines[1]!).id, 1);
  assert.equal(lines[2], "debug: handled initialize");
  assert.notEqual(stderr, "");
});

Deno.test("a well-behaved run prints only JSON-RPC lines to stdout and exits 0 on EOF", async () => {
  const ping = JSON.stringify({ jsonrpc: "2.0", id: "p", method: "ping" });
  const unknown = JSON.stringify({ jsonrpc: "2.0", id: 9, method: "nope" });
  const note = JSON.stringify({ jsonrpc: "2.0", method: "notifications/whatever" });
  const { code, stdout } = await runRaw([], [INIT, note, ping, unknown].join("\r\n") + "\n");
  assert.equal(code, 0);
  const messages = stdout.trimEnd().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(messages.map((m) => m.id), [1, "p", 9]);
  assert.deepEqual(messages[1].result, {});
  assert.equal(messages[2].error.code, -32601);
});

Deno.test("FIXTURE_FLAGS passes flags through the environment (crash-at-start=7)", async () => {
  const { code, stdout, stderr } = await runRaw([], INIT + "\n", {
    FIXTURE_FLAGS: "--stderr-lines=2  --crash-at-start=7",
  });
  assert.equal(code, 7);
  assert.equal(stdout, "");
  assert.match(stderr, /boom: simulated crash at start/);
});

Deno.test("--stderr-lines=N writes N numbered lines to stderr at start", async () => {
  const { stderr } = await runRaw(["--stderr-lines=3"], "");
  assert.deepEqual(stderr.trimEnd().split("\n"), [
    "stderr line 1",
    "stderr line 2",
    "stderr line 3",
  ]);
});

// ---------------------------------------------------------------------------------------------
// The harness, in direct mode (no mcpmon)

Deno.test("harness: direct mode connects, records stderr and closes leaving nothing", async () => {
  const mon = await startMcpmon({
    server: ["node", WELL_BEHAVED, "--stderr-lines=3"],
    direct: true,
  });
  const pid = mon.pid!;
  assert.equal(await callText(mon.client, "pid"), String(pid));
  await mon.waitForStderr(/stderr line 3/);
  const from = mon.stderrText().indexOf("stderr line 2");
  const match = await mon.waitForStderr(/stderr line (\d)/, 15_000, from);
  assert.equal(match[1], "2");
  await mon.close();
  assert.deepEqual(mon.exitStatus(), { code: 0, signal: null });
  assert.equal(processAlive(pid), false);
});

Deno.test("harness: every notification is recorded, even those the SDK handles itself", async () => {
  await using mon = await startMcpmon({ server: ["node", WELL_BEHAVED], direct: true });
  assert.equal(mon.notificationCount(), 0);
  await callText(mon.client, "log", { level: "error", data: { x: 1 } });
  const log = await mon.waitForNotification("notifications/message");
  assert.deepEqual(log.params, { level: "error", logger: "fixture", data: { x: 1 } });

  const mark = mon.notificationCount();
  assert.equal(await callText(mon.client, "notify_list_changed"), "sent");
  const changed = await mon.waitForNotification("notifications/tools/list_changed", {
    after: mark,
  });
  assert.equal(changed.index, mark);

  // Progress with a token the SDK does not know: it reports them to onerror, the tap records them.
  mon.client.onerror = () => {};
  const result = await mon.client.callTool({
    name: "progress",
    arguments: { steps: 3 },
    _meta: { progressToken: "tok" },
  });
  assert.deepEqual(result.content, [{ type: "text", text: "done" }]);
  assert.deepEqual(
    mon.notifications.filter((n) => n.method === "notifications/progress").map((n) => n.params),
    [1, 2, 3].map((progress) => ({ progressToken: "tok", progress, total: 3 })),
  );
  await assert.rejects(
    mon.waitForNotification("notifications/message", {
      after: mon.notificationCount(),
      timeoutMs: 50,
    }),
    /no notifications\/message/,
  );
});

Deno.test("progress with intervalMs reaches the SDK's onprogress callback", async () => {
  await using mon = await startMcpmon({ server: ["node", WELL_BEHAVED], direct: true });
  const progress: number[] = [];
  const done = await callText(mon.client, "progress", { steps: 3, intervalMs: 20 }, {
    onprogress: (p: { progress: number }) => progress.push(p.progress),
  });
  assert.equal(done, "done");
  assert.deepEqual(progress, [1, 2, 3]);
});

Deno.test("harness: answers sampling and roots/list by default", async () => {
  await using mon = await startMcpmon({
    server: ["node", WELL_BEHAVED],
    direct: true,
    roots: [{ uri: "file:///tmp/r", name: "r" }],
  });
  assert.equal(await callText(mon.client, "sample", { prompt: "hi" }), "sampled: hi");
  assert.deepEqual(JSON.parse(await callText(mon.client, "roots")), {
    roots: [{ uri: "file:///tmp/r", name: "r" }],
  });
  assert.deepEqual(mon.serverRequests.map((r) => [r.id, r.method]), [
    ["s1", "sampling/createMessage"],
    ["s2", "roots/list"],
  ]);
});

Deno.test("harness: a failed connect throws with the stderr tail and leaves nothing", async () => {
  const error = await startMcpmon({
    server: ["node", WELL_BEHAVED, "--crash-on-init"],
    direct: true,
  }).then(() => null, (err: Error) => err);
  assert.ok(error);
  assert.match(error.message, /simulated crash on initialize/);
});

Deno.test("delay is never answered once cancelled, and the cancel is recorded", async () => {
  await using mon = await startMcpmon({ server: ["node", WELL_BEHAVED], direct: true });
  const errors: Error[] = [];
  mon.client.onerror = (err: Error) => errors.push(err);
  const abort = new AbortController();
  const cancelled = mon.client.callTool({ name: "delay", arguments: { ms: 200 } }, undefined, {
    signal: abort.signal,
  });
  abort.abort("test");
  await assert.rejects(cancelled);
  // A later, longer delay answering proves the cancelled one's timer has passed.
  assert.equal(await callText(mon.client, "delay", { ms: 400, text: "later" }), "later");
  const session = JSON.parse(await callText(mon.client, "session"));
  assert.equal(session.cancelled.length, 1);
  assert.deepEqual(errors, []);
});

Deno.test("exit {code} and --crash-on-tool / --crash-after end the process with their codes", async () => {
  {
    await using mon = await startMcpmon({ server: ["node", WELL_BEHAVED], direct: true });
    await assert.rejects(callText(mon.client, "exit", { code: 5 }));
    assert.deepEqual(await mon.waitForExit(), { code: 5, signal: null });
  }
  {
    await using mon = await startMcpmon({
      server: ["node", WELL_BEHAVED, "--crash-on-tool=echo"],
      direct: true,
    });
    assert.equal(await callText(mon.client, "pid"), String(mon.pid));
    await assert.rejects(callText(mon.client, "echo", { text: "x" }));
    assert.deepEqual(await mon.waitForExit(), { code: 1, signal: null });
    await mon.waitForStderr(/crashing on echo/);
  }
  {
    await using mon = await startMcpmon({
      server: ["node", WELL_BEHAVED, "--crash-after=2"],
      direct: true,
    });
    await callText(mon.client, "pid");
    await callText(mon.client, "pid");
    await assert.rejects(callText(mon.client, "pid"));
    assert.deepEqual(await mon.waitForExit(), { code: 1, signal: null });
  }
});

Deno.test("--ignore-sigterm --ignore-eof survives SIGTERM and EOF; SIGKILL ends it", async () => {
  await using mon = await startMcpmon({
    server: ["node", WELL_BEHAVED, "--ignore-sigterm", "--ignore-eof"],
    direct: true,
  });
  Deno.kill(mon.pid!, "SIGTERM");
  await mon.waitForStderr(/ignoring SIGTERM/);
  assert.deepEqual(await mon.client.ping(), {});
  mon.endStdin();
  // Still alive after EOF (no event says "did not exit", so give it a moment to prove it).
  await assert.rejects(mon.waitForExit(300), /did not exit/);
  Deno.kill(mon.pid!, "SIGKILL");
  assert.deepEqual(await mon.waitForExit(), { code: null, signal: "SIGKILL" });
});

Deno.test("--never-answer leaves that method unanswered; --init-delay delays initialize", async () => {
  const started = performance.now();
  await using mon = await startMcpmon({
    server: ["node", WELL_BEHAVED, "--never-answer=tools/list", "--init-delay=300"],
    direct: true,
  });
  assert.ok(performance.now() - started >= 300);
  await assert.rejects(mon.client.listTools(undefined, { timeout: 300 }), /timed out/i);
  assert.deepEqual(await mon.client.ping(), {});
});

Deno.test("--fork starts a grandchild that outlives the server unless its group is killed", async () => {
  let grandchild = 0;
  {
    await using mon = await startMcpmon({ server: ["node", WELL_BEHAVED, "--fork"], direct: true });
    const children: number[] = JSON.parse(await callText(mon.client, "children"));
    assert.equal(children.length, 1);
    grandchild = children[0]!;
    assert.equal(procInfo(grandchild)?.ppid, mon.pid);
    assert.deepEqual(processTree(mon.pid!).sort(), [mon.pid!, grandchild].sort());
  }
  try {
    assert.equal(processAlive(grandchild), true);
  } finally {
    Deno.kill(grandchild, "SIGKILL");
    await waitUntil(() => !processAlive(grandchild), 15_000, "grandchild still alive");
  }
});

Deno.test("wrapper.sh runs the server as a grandchild that exits with it", async () => {
  const mon = await startMcpmon({ server: ["sh", WRAPPER], direct: true });
  const shPid = mon.pid!;
  const serverPid = Number(await callText(mon.client, "pid"));
  assert.notEqual(serverPid, shPid);
  assert.equal(procInfo(serverPid)?.ppid, shPid);
  await mon.close();
  await waitUntil(() => !processAlive(serverPid), 15_000, "server still alive");
});

Deno.test("makeFixtureDir copies the fixture; writeTools changes what a new server offers", async () => {
  let dir = "";
  {
    await using fx = await makeFixtureDir();
    dir = fx.dir;
    {
      await using mon = await startMcpmon({ server: ["node", fx.serverPath], direct: true });
      assert.equal(await callText(mon.client, "hello"), "hello v1");
    }
    await fx.writeTools([{ name: "hello", text: "hello v2" }, { name: "bye", text: "bye" }]);
    await using mon = await startMcpmon({ server: ["node", fx.serverPath], direct: true });
    assert.equal(await callText(mon.client, "hello"), "hello v2");
    assert.equal(await callText(mon.client, "bye"), "bye");
  }
  await assert.rejects(Deno.stat(dir), Deno.errors.NotFound);
});

Deno.test("the test helpers leave no temp dir behind: the fake runtimes' state dirs and the e2e harness's cwd and state dir go when the tests end", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "mcpmon-helpers-tmp-" });
  const spec = `${tmp}/helpers_test.ts`;
  const repo = new URL("..", import.meta.url).href;
  try {
    await Deno.writeTextFile(
      spec,
      `import { fakeRuntime, basicServer } from "${repo}tests/_fake_runtime.ts";
       import { TEST_CWD, TEST_STATE_HOME } from "${repo}tests/e2e/_harness.ts";
       Deno.test("helpers", () => {
         for (let i = 0; i < 3; i++) fakeRuntime([basicServer()]);
         Deno.statSync(TEST_CWD);
         Deno.statSync(TEST_STATE_HOME);
       });`,
    );
    // The spec's temp dirs go to its own TMPDIR (nothing else writes there), which must end empty.
    const made = `${tmp}/tmpdir`;
    await Deno.mkdir(made);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["test", "-A", "--config", new URL("../deno.json", import.meta.url).pathname, spec],
      env: { TMPDIR: made },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.ok(out.success, text);
    assert.match(text, /1 passed/);
    assert.deepEqual(await Array.fromAsync(Deno.readDir(made), (e) => e.name), []);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
