/**
 * The server's start before the proxy's modules load (`src/early_spawn.ts`), and the command line
 * that uses it (`main` in `src/cli.ts`).
 */
import assert from "node:assert/strict";
import { spawnOptions } from "../src/config.ts";
import { spawnEarly } from "../src/early_spawn.ts";
import { main } from "../src/cli.ts";
import type { Runtime, SpawnOptions } from "../src/runtime/mod.ts";
import { basicServer, fakeRuntime, fakeServer, INIT_PARAMS } from "./_fake_runtime.ts";

Deno.test("spawnEarly: the server starts at once, and the proxy's first start with the same options takes that process; later starts spawn their own", () => {
  const h = fakeRuntime([basicServer()]);
  const server = fakeServer("fake", { args: ["server.js"], env: { A: "1" }, cwd: "/srv" });
  const early = spawnEarly(h.runtime, server)!;
  assert.equal(h.children.length, 1, "spawned before anything asked for it");
  assert.deepEqual(h.children[0].options, spawnOptions(server));
  // The proxy builds its own options object (the same values).
  const first = early.runtime.spawn(spawnOptions({ ...server, args: [...server.args] }));
  assert.equal(first, h.children[0]);
  assert.equal(h.children.length, 1);
  const second = early.runtime.spawn(spawnOptions(server));
  assert.equal(h.children.length, 2);
  assert.equal(second, h.children[1]);
  assert.equal(h.children[0].alive, true, "the taken process is the proxy's to stop");
});

Deno.test("spawnEarly: a first start that asks for another process stops the early one and spawns what it asked for", async () => {
  const server = fakeServer("fake", { args: ["a.js"] });
  for (
    const other of [
      { ...spawnOptions(server), args: ["b.js"] },
      { ...spawnOptions(server), env: { A: "1" } },
      { ...spawnOptions(server), cwd: "/elsewhere" },
      { ...spawnOptions(server), watchdogGraceMs: 1 },
    ] satisfies SpawnOptions[]
  ) {
    const h2 = fakeRuntime([basicServer()]);
    const e2 = spawnEarly(h2.runtime, server)!;
    const child = e2.runtime.spawn(other);
    assert.equal(h2.children.length, 2, JSON.stringify(other));
    assert.equal(child, h2.children[1]);
    assert.deepEqual(h2.children[0].signals, ["SIGTERM"]);
    assert.equal(h2.children[0].alive, false);
    await e2.discard(); // nothing left to stop
    assert.deepEqual(h2.children[0].signals, ["SIGTERM"]);
  }
});

Deno.test("spawnEarly: discard stops a process nobody took (SIGTERM, SIGKILL after the grace period) and resolves once it has exited; a taken one is left alone", async () => {
  const h = fakeRuntime([basicServer()]);
  const server = fakeServer("fake", { graceMs: 20 });
  const early = spawnEarly(h.runtime, server)!;
  h.children[0].ignoreSigterm = true;
  await early.discard();
  assert.deepEqual(h.children[0].signals, ["SIGTERM", "SIGKILL"]);
  assert.equal(h.children[0].alive, false);

  const taken = spawnEarly(h.runtime, server)!;
  taken.runtime.spawn(spawnOptions(server));
  await taken.discard();
  assert.deepEqual(h.children[1].signals, []);
  assert.equal(h.children[1].alive, true);
});

Deno.test("spawnEarly: nothing starts early for a server with a build step or a URL, and a spawn that throws is left to the proxy to report", () => {
  const h = fakeRuntime([basicServer()]);
  assert.equal(spawnEarly(h.runtime, fakeServer("fake", { build: "npm run build" })), undefined);
  assert.equal(
    spawnEarly(h.runtime, fakeServer("fake", { url: "http://127.0.0.1:1/mcp" })),
    undefined,
  );
  assert.equal(
    spawnEarly(h.runtime, fakeServer("", { url: "http://127.0.0.1:1/mcp" })),
    undefined,
  );
  assert.equal(h.children.length, 0);
  const throwing = Object.create(h.runtime, {
    spawn: {
      value: () => {
        throw new Error("ENOENT");
      },
    },
  }) as Runtime;
  assert.equal(spawnEarly(throwing, fakeServer()), undefined);
});

/** A fake runtime whose command line is `args`, recording spawns and log lines in `order`. */
function cliRuntime(args: string[]) {
  const h = fakeRuntime([basicServer()]);
  const order: string[] = [];
  const runtime: Runtime = Object.create(h.runtime, {
    args: { value: args },
    cwd: { value: () => Deno.cwd() },
    spawn: {
      value: (options: SpawnOptions) => (order.push("spawn"), h.runtime.spawn(options)),
    },
    writeStderr: {
      value: (data: Uint8Array) => {
        order.push(`stderr: ${new TextDecoder().decode(data).trim()}`);
        h.runtime.writeStderr(data);
      },
    },
  });
  return { h, order, runtime };
}

Deno.test("main(): the server is spawned before the proxy starts (its first log line), and that one process serves the client", async () => {
  const { h, order, runtime } = cliRuntime(["--", Deno.execPath(), "server.js"]);
  const done = main(runtime);
  h.clientSend({ jsonrpc: "2.0", id: 1, method: "initialize", params: INIT_PARAMS });
  const answer = await h.clientWaitFor((m) => m.id === 1);
  assert.equal(answer.result.serverInfo.name, "fake");
  h.clientClose();
  assert.equal(await done, 0);
  assert.equal(order[0], "spawn");
  assert.match(order[1], /^stderr: .*mcpmon v?\d/);
  assert.equal(h.children.length, 1, "one server process");
  assert.deepEqual(h.children[0].options.args, ["server.js"]);
  assert.equal(h.children[0].alive, false, "stopped when the client left");
});

Deno.test("main(): when the proxy does not start after all (a watch path that does not exist, exit 2), the early server is stopped", async () => {
  const { h, order, runtime } = cliRuntime([
    "--watch",
    "/no/such/dir/for/mcpmon",
    "--",
    Deno.execPath(),
  ]);
  assert.equal(await main(runtime), 2);
  assert.equal(order[0], "spawn");
  assert.equal(h.children.length, 1);
  assert.equal(h.children[0].alive, false);
  assert.match(h.stderr(), /no\/such\/dir/);
});
