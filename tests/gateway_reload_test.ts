/**
 * Config reload in gateway mode (`Gateway.applyConfig`, `Gateway.reload`): a real router over fake
 * servers, in virtual time; the servers' file watchers are recorded, not started.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Gateway, gatewayNaming } from "../src/gateway.ts";
import { type GatewayConfig, loadGatewayConfig } from "../src/gateway_config.ts";
import { Logger } from "../src/log.ts";
import { runGateway } from "../src/run.ts";
import { ManualClock } from "../testing/manual_clock.ts";
import {
  basicServer,
  type FakeChild,
  type FakeHarness,
  fakeRuntime,
  initializeClient,
  type Msg,
  startRouter,
} from "./_fake_runtime.ts";

const dir = Deno.makeTempDirSync({ prefix: "mcpmon-gateway-reload-" });
const PATH = join(dir, ".mcpmon.yaml");

/** A config from YAML text; every server watches the (existing) config directory by default. */
function config(text: string): GatewayConfig {
  return loadGatewayConfig(PATH, text, { cwd: dir, env: () => undefined });
}

const TWO = "servers:\n  a: {command: a}\n  b: {command: b}\n";

/** A gateway over `text`'s servers; `files` are what the config file holds at each reload. */
function start(text: string, files: string[] = []) {
  const clock = new ManualClock();
  const initial = config(text);
  const s = startRouter(
    { a: basicServer(["ta"]), b: basicServer(["tb"]), c: basicServer(["tc"]) },
    initial.servers,
    { gateway: gatewayNaming(initial, "gateway"), clock },
  );
  const watching = new Set<string>();
  const watchLog: string[] = [];
  const gateway = new Gateway(initial, {
    router: s.router,
    log: new Logger(s.h.runtime, { level: "debug", timestamps: false }),
    path: PATH,
    name: "gateway",
    load: () => config(files.shift()!),
    watch: (server) => {
      watching.add(server.name);
      watchLog.push(`watch ${server.name}`);
      return {
        close: () => {
          watching.delete(server.name);
          watchLog.push(`close ${server.name}`);
        },
      };
    },
  });
  gateway.watchAll();
  return { ...s, clock, gateway, watching, watchLog };
}

const byId = (id: unknown) => (m: Msg) => m.id === id && ("result" in m || "error" in m);
let nextId = 1;
async function toolNames(h: FakeHarness): Promise<string[]> {
  const id = `list${nextId++}`;
  h.clientSend({ jsonrpc: "2.0", id, method: "tools/list" });
  return (await h.clientWaitFor(byId(id))).result.tools.map((t: Msg) => t.name);
}

/** The processes spawned for `command`, in order. */
const processes = (h: FakeHarness, command: string): FakeChild[] =>
  h.children.filter((c) => c.options.command === command);

/** Waits until the client's tool list shows exactly the servers' tools `names`. */
async function waitForTools(h: FakeHarness, names: string[]): Promise<void> {
  const serverTools = (all: string[]) => all.filter((n) => n.includes("__")).sort();
  for (;;) {
    const seen = h.clientReceived.filter((m) => m.method === "notifications/tools/list_changed")
      .length;
    if (JSON.stringify(serverTools(await toolNames(h))) === JSON.stringify([...names].sort())) {
      return;
    }
    await h.clientWaitFor(() =>
      h.clientReceived.filter((m) => m.method === "notifications/tools/list_changed").length > seen
    );
  }
}

Deno.test("config reload: an added server is started and watched, the others are left alone", async () => {
  const g = start(TWO);
  await initializeClient(g.h);
  await waitForTools(g.h, ["a__ta", "b__tb"]);
  const diff = await g.gateway.applyConfig(config(TWO + "  c: {command: c}\n"));
  assert.deepEqual(diff, { added: ["c"], removed: [], changed: [], unchanged: ["a", "b"] });
  await waitForTools(g.h, ["a__ta", "b__tb", "c__tc"]);
  assert.equal(processes(g.h, "c").length, 1);
  assert.equal(g.h.children.length, 3, "a and b were not restarted");
  assert.deepEqual(g.watchLog, ["watch a", "watch b", "watch c"]);
  assert.deepEqual(g.gateway.config.servers.map((s) => s.name), ["a", "b", "c"]);
  assert.match(g.h.stderr(), /Config reloaded: \+c\n/);
  await g.close();
});

Deno.test("config reload: a removed server is stopped and unwatched, and its tools go", async () => {
  const g = start(TWO);
  await initializeClient(g.h);
  await waitForTools(g.h, ["a__ta", "b__tb"]);
  const [b] = processes(g.h, "b");
  await g.gateway.applyConfig(config("servers:\n  a: {command: a}\n"));
  assert.equal(b.alive, false);
  assert.equal(b.signals[0], "SIGTERM", "stopped as mcpmon stops a server");
  assert.equal(processes(g.h, "a")[0].alive, true);
  assert.deepEqual([...g.watching], ["a"]);
  await waitForTools(g.h, ["a__ta"]);
  assert.match(g.h.stderr(), /Config reloaded: -b\n/);
  await g.close();
});

Deno.test("config reload: a changed server alone is restarted with its new definition, and watched anew", async () => {
  const g = start(TWO);
  await initializeClient(g.h);
  await waitForTools(g.h, ["a__ta", "b__tb"]);
  const [a] = processes(g.h, "a");
  const [oldB] = processes(g.h, "b");
  const diff = await g.gateway.applyConfig(
    config("servers:\n  a: {command: a}\n  b: {command: b, args: [--new]}\n"),
  );
  assert.deepEqual(diff, { added: [], removed: [], changed: ["b"], unchanged: ["a"] });
  const newB = await g.h.spawned(3);
  assert.deepEqual(newB.options.args, ["--new"]);
  assert.equal(oldB.alive, false);
  assert.equal(a.alive, true);
  assert.deepEqual(a.signals, [], "the unchanged server was not touched");
  assert.deepEqual(g.watchLog, ["watch a", "watch b", "close b", "watch b"]);
  g.h.clientSend({
    jsonrpc: "2.0",
    id: "call",
    method: "tools/call",
    params: { name: "b__tb", arguments: {} },
  });
  assert.equal((await g.h.clientWaitFor(byId("call"))).result.content[0].text, `tb@${newB.pid}`);
  assert.match(g.h.stderr(), /Config reloaded: ~b\n/);
  await g.close();
});

Deno.test("config reload: an unchanged config touches no server and no watcher", async () => {
  const g = start(TWO, [TWO]);
  await initializeClient(g.h);
  await waitForTools(g.h, ["a__ta", "b__tb"]);
  await g.gateway.reload();
  assert.equal(g.h.children.length, 2);
  assert.ok(g.h.children.every((c) => c.alive && c.signals.length === 0));
  assert.deepEqual(g.watchLog, ["watch a", "watch b"]);
  assert.match(g.h.stderr(), /Config reloaded: no server changed\n/);
  await g.close();
});

Deno.test("config reload: an invalid file keeps the running servers and config, with the error in the log and to the client", async () => {
  const g = start(TWO, [
    "servers:\n  a: {command: a, debounce: soon}\n",
    TWO + "  c: {command: c}\n",
  ]);
  await initializeClient(g.h);
  await waitForTools(g.h, ["a__ta", "b__tb"]);
  const before = g.gateway.config;
  await g.gateway.reload();
  const told = await g.h.clientWaitFor((m) =>
    m.method === "notifications/message" && m.params.level === "error"
  );
  assert.match(told.params.data, /^invalid config:\n.*\.mcpmon\.yaml:2:\d+: .*debounce/);
  assert.match(told.params.data, /Keeping the servers that are running\.$/);
  assert.match(g.h.stderr(), /invalid config:\n.*debounce[^]*Keeping the servers that are running/);
  assert.equal(g.gateway.config, before);
  assert.equal(g.h.children.length, 2);
  assert.ok(g.h.children.every((c) => c.alive && c.signals.length === 0));
  assert.deepEqual(g.watchLog, ["watch a", "watch b"]);
  // The next good edit is compared with the config that kept running: only c is new.
  await g.gateway.reload();
  assert.match(g.h.stderr(), /Config reloaded: \+c\n/);
  await g.close();
});

Deno.test("config reload: a watch path that does not exist refuses the new config and keeps the old one", async () => {
  const g = start(TWO);
  await initializeClient(g.h);
  const before = g.gateway.config;
  const missing = join(dir, "no-such-dir");
  const diff = await g.gateway.applyConfig(
    config(`servers:\n  a: {command: a, watch: [${missing}]}\n  b: {command: b}\n`),
  );
  assert.equal(diff, undefined);
  assert.equal(g.gateway.config, before);
  assert.match(
    g.h.stderr(),
    new RegExp(`invalid config:\nserver "a": the watch path ${missing} does not exist`),
  );
  assert.equal(g.h.children.length, 2);
  assert.ok(g.h.children.every((c) => c.alive && c.signals.length === 0));
  await g.close();
});

Deno.test("config reload: a new separator renames every tool, restarting the servers under their new names", async () => {
  const g = start(TWO, ["separator: '-'\n" + TWO]);
  await initializeClient(g.h);
  await waitForTools(g.h, ["a__ta", "b__tb"]);
  await g.gateway.reload();
  assert.equal(g.gateway.naming().separator, "-");
  assert.equal(g.h.children.length, 4, "both servers were restarted");
  const names = await toolNames(g.h);
  assert.ok(names.includes("a-ta") && names.includes("b-tb"), names.join(" "));
  assert.ok(!names.includes("a__ta"));
  assert.match(g.h.stderr(), /Config reloaded: ~a ~b\n/);
  await g.close();
});

Deno.test("config reload: reloads run one after the other, each against the config the last one left", async () => {
  const g = start(TWO, [TWO + "  c: {command: c}\n", "servers:\n  c: {command: c}\n"]);
  await initializeClient(g.h);
  await Promise.all([g.gateway.reload(), g.gateway.reload()]);
  assert.deepEqual(g.gateway.config.servers.map((s) => s.name), ["c"]);
  assert.match(g.h.stderr(), /Config reloaded: \+c\n[^]*Config reloaded: -a -b\n/);
  assert.deepEqual([...g.watching], ["c"]);
  await g.close();
});

globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

Deno.test("runGateway: an edit of the config file, once its debounce has passed, starts the server it adds", async () => {
  const configDir = Deno.makeTempDirSync({ prefix: "mcpmon-gateway-reload-run-" });
  try {
    const path = join(configDir, ".mcpmon.yaml");
    Deno.writeTextFileSync(path, "servers:\n  a: {command: a, watch: []}\n");
    const clock = new ManualClock();
    const h = fakeRuntime({ a: basicServer(["ta"]), b: basicServer(["tb"]) }, { clock });
    const done = runGateway(h.runtime, path, "gateway", { level: "info", timestamps: false });
    await h.spawned(1);
    await initializeClient(h);
    assert.ok(h.watchedDirs().includes(configDir), "the config file is watched");
    Deno.writeTextFileSync(
      path,
      "servers:\n  a: {command: a, watch: []}\n  b: {command: b, watch: []}\n",
    );
    h.fsEvent("modify", path);
    await clock.tickAsync(99);
    assert.equal(h.children.length, 1, "not before the debounce");
    await clock.tickAsync(1); // the debounce runs on the runtime's clock
    assert.equal(h.children.length, 2, "the added server started");
    assert.equal(h.children[1].options.command, "b");
    assert.match(h.stderr(), /Config reloaded: \+b\n/);
    h.clientClose();
    assert.equal(await clock.runUntil(done), 0);
    assert.ok(h.children.every((c) => !c.alive));
  } finally {
    Deno.removeSync(configDir, { recursive: true });
  }
});
