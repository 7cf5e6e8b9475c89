import assert from "node:assert/strict";
import { run, runGateway } from "../src/run.ts";
import { basicServer, fakeRuntime, fakeServer } from "./_fake_runtime.ts";

const server = fakeServer("fake", { command: "fake-server", graceMs: 100, initTimeoutMs: 1000 });

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
  const missing = fakeServer("fake", { watch: ["/mcpmon-no-such-dir/src"] });
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
