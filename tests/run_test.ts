import assert from "node:assert/strict";
import { join } from "node:path";
import { run, runGateway, terminalHint } from "../src/run.ts";
import { ManualClock } from "../testing/manual_clock.ts";
import { VERSION } from "../src/version.ts";
import { basicServer, fakeRuntime, fakeServer, initializeClient } from "./_fake_runtime.ts";

// A command that exists: run() checks it before serving.
const server = fakeServer("fake", { command: Deno.execPath(), graceMs: 100, initTimeoutMs: 1000 });

Deno.test("run() stops the server and exits 1 on an internal error", async () => {
  const h = fakeRuntime([basicServer()]);
  const done = run(h.runtime, server, { level: "info", timestamps: false });
  const child = await h.spawned(1);
  assert.equal(h.uncaught.length, 1, "run() registers an uncaught-error handler");
  h.uncaught[0](new Error("boom in mcpmon"));
  assert.equal(await h.exited(), 1);
  assert.equal(child.alive, false, "the server was stopped before exiting");
  assert.match(h.stderr(), /internal error: Error: boom in mcpmon/);
  h.clientClose();
  await done;
});

Deno.test("run() resolves 0 on client EOF after stopping the server", async () => {
  const h = fakeRuntime([basicServer()]);
  const done = run(h.runtime, server, { level: "info", timestamps: false });
  const child = await h.spawned(1);
  h.clientClose();
  assert.equal(await done, 0);
  assert.equal(child.alive, false);
  assert.deepEqual(h.exits, []);
});

Deno.test("a watch path that does not exist is an error naming it, in both modes", async () => {
  const h = fakeRuntime([basicServer()]);
  const missing = fakeServer("fake", {
    command: Deno.execPath(),
    watch: ["/mcpmon-no-such-dir/src"],
  });
  assert.equal(await run(h.runtime, missing, { level: "info", timestamps: false }), 2);
  assert.match(h.stderr(), /the watch path \/mcpmon-no-such-dir\/src does not exist/);
  assert.equal(h.children.length, 0, "no server was started");

  const dir = await Deno.makeTempDir();
  try {
    const config = `${dir}/.mcpmon.yaml`;
    await Deno.writeTextFile(
      config,
      "servers:\n  alpha:\n    command: node\n    watch: /mcpmon-no-such-dir/alpha\n",
    );
    const g = fakeRuntime([basicServer()]);
    assert.equal(
      await runGateway(g.runtime, config, "gateway", { level: "info", timestamps: false }),
      2,
    );
    assert.match(
      g.stderr(),
      /server "alpha": the watch path \/mcpmon-no-such-dir\/alpha does not exist/,
    );
    assert.equal(g.children.length, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a command that is not on PATH is a startup error naming it and the client's config", async () => {
  const h = fakeRuntime([basicServer()]);
  const code = await run(
    h.runtime,
    fakeServer("typo", {
      command: "pyhton-mcpmon-test",
      args: ["server.py"],
      env: { PATH: "/usr/bin:/bin" },
    }),
    { level: "info", timestamps: false },
  );
  assert.equal(code, 1);
  assert.equal(h.children.length, 0, "nothing was started");
  assert.match(h.stderr(), /cannot start the server `pyhton-mcpmon-test server.py`/);
  assert.match(h.stderr(), /"pyhton-mcpmon-test" was not found on PATH/);
  assert.match(h.stderr(), /MCP client's config/);
});

Deno.test("a command path that is not executable is a startup error; with --build it is left to the build", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const file = `${dir}/server.sh`;
    Deno.writeTextFileSync(file, "echo hi\n");
    const h = fakeRuntime([basicServer()]);
    const code = await run(h.runtime, fakeServer("plain", { command: file }), {
      level: "info",
      timestamps: false,
    });
    assert.equal(code, 1);
    assert.match(h.stderr(), /server\.sh is not executable/);

    const built = fakeRuntime([basicServer()]);
    const done = run(
      built.runtime,
      fakeServer("built", { command: `${dir}/out/server`, build: "make" }),
      {
        level: "info",
        timestamps: false,
      },
    );
    await built.spawned(1);
    built.clientClose();
    assert.equal(await done, 0);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("the startup log begins with mcpmon's version and the runtime", async () => {
  const h = fakeRuntime([basicServer()]);
  const done = run(h.runtime, server, { level: "info", timestamps: false });
  await h.spawned(1);
  h.clientClose();
  await done;
  const first = h.stderr().split("\n")[0];
  assert.match(
    first,
    new RegExp(`^\\[mcpmon\\] mcpmon ${VERSION.replaceAll(".", "\\.")} on fake `),
  );
  assert.match(first, /pid 1$/);
});

Deno.test("in a terminal, mcpmon says it waits for an MCP client and shows the Inspector command", async () => {
  const h = fakeRuntime([basicServer()]);
  h.runtime.stdinIsTerminal = () => true;
  (h.runtime as { args: readonly string[] }).args = [
    "--watch",
    "src",
    "--",
    "python",
    "my server.py",
  ];
  const done = run(h.runtime, server, { level: "info", timestamps: false });
  await h.spawned(1);
  h.clientClose();
  await done;
  assert.match(h.stderr(), /waits for an MCP client/);
  assert.ok(
    h.stderr().includes(
      "npx @modelcontextprotocol/inspector --cli --method tools/list -- mcpmon --watch src -- python 'my server.py'",
    ),
    h.stderr(),
  );

  const piped = fakeRuntime([basicServer()]);
  const done2 = run(piped.runtime, server, { level: "info", timestamps: false });
  await piped.spawned(1);
  piped.clientClose();
  await done2;
  assert.doesNotMatch(piped.stderr(), /waits for an MCP client/, "not said to an MCP client");
});

Deno.test("terminalHint quotes arguments for the shell", () => {
  assert.match(terminalHint(["--", "node", "it's.js"]), /-- mcpmon -- node 'it'\\''s\.js'/);
});

Deno.test("--config naming a directory is an error naming its full path", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "mcpmon-config-dir-" });
  try {
    const h = fakeRuntime([basicServer()]);
    const code = await runGateway(h.runtime, dir, "gateway", { level: "info", timestamps: false });
    assert.equal(code, 2);
    assert.ok(h.stderr().includes(`${dir} is a directory`), h.stderr());
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("the gateway logs each skipped SSE entry of an .mcp.json and serves the rest", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "mcpmon-mcp-json-" });
  try {
    const path = `${dir}/.mcp.json`;
    Deno.writeTextFileSync(
      path,
      JSON.stringify({
        mcpServers: {
          remote: { type: "sse", url: "https://example.com/sse" },
          local: { command: Deno.execPath(), args: [] },
        },
      }),
    );
    const h = fakeRuntime([basicServer()]);
    const done = runGateway(h.runtime, path, "gateway", { level: "info", timestamps: false });
    await h.spawned(1);
    h.clientClose();
    assert.equal(await done, 0);
    assert.match(
      h.stderr(),
      /warning: .*\.mcp\.json:1:\d+: mcpServers\.remote\.type is "sse": skipped/,
    );
    assert.match(h.stderr(), /Gateway over local /);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("run(): a change in a watched directory restarts the server once the debounce has passed on the runtime's clock", async () => {
  const dir = Deno.realPathSync(Deno.makeTempDirSync({ prefix: "mcpmon-run-watch-" }));
  try {
    const file = join(dir, "tools.py");
    Deno.writeTextFileSync(file, "x = 1\n");
    const clock = new ManualClock();
    const h = fakeRuntime([basicServer()], { clock });
    const watched = { ...server, watch: [dir], debounceMs: 50, clearPycache: false };
    const done = run(h.runtime, watched, { level: "info", timestamps: false });
    await h.spawned(1);
    await initializeClient(h);
    // The watcher walks the directory (real file system reads) before it reports changes.
    for (let i = 0; i < 5000 && !/Watching /.test(h.stderr()); i++) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    assert.ok(h.watchedDirs().includes(dir));
    h.fsEvent("modify", file);
    await clock.tickAsync(49);
    assert.equal(h.children.length, 1, "not before the debounce");
    await clock.tickAsync(1);
    assert.equal(h.children.length, 2, "restarted");
    assert.match(h.stderr(), /modify: .*tools\.py/);
    h.clientClose();
    assert.equal(await clock.runUntil(done), 0);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
