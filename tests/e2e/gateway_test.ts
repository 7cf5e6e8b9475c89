/**
 * Gateway mode end to end: `mcpmon --config <file>` over real fixture
 * servers, each in its own directory, watched and restarted on its own.
 */
import assert from "node:assert/strict";
import {
  callText,
  DEFAULT_TIMEOUT_MS,
  type FixtureDir,
  makeFixtureDir,
  MOD_PATH,
  processAlive,
  startMcpmon,
  TEST_STATE_HOME,
  waitUntil,
} from "./_harness.ts";

/** A YAML config over fixture dirs: `name: [dir, extra args…]`. */
function yaml(servers: Record<string, [FixtureDir, ...string[]]>, top = ""): string {
  const lines = [top, "servers:"];
  for (const [name, [fx, ...args]] of Object.entries(servers)) {
    lines.push(
      `  ${name}:`,
      "    command: node",
      `    args: ${JSON.stringify([fx.serverPath, `--name=${name}`, ...args])}`,
      `    watch: ${JSON.stringify(fx.dir)}`,
      "    debounce: 30",
      "    minInterval: 0",
    );
  }
  return lines.join("\n") + "\n";
}

async function toolNames(mon: Awaited<ReturnType<typeof startMcpmon>>): Promise<string[]> {
  return (await mon.client.listTools()).tools.map((t: { name: string }) => t.name);
}

/** Waits until the tool list satisfies `ok` (list_changed arrives as backends come up). */
async function waitForTools(
  mon: Awaited<ReturnType<typeof startMcpmon>>,
  ok: (names: string[]) => boolean,
): Promise<string[]> {
  let names: string[] = [];
  await waitUntil(
    async () => ok(names = await toolNames(mon)),
    DEFAULT_TIMEOUT_MS,
    "tools to appear",
  );
  return names;
}

Deno.test("tools are listed with server prefixes, calls are routed, and one backend restarts alone", async () => {
  await using a = await makeFixtureDir();
  await using b = await makeFixtureDir();
  await using cfg = await makeFixtureDir();
  const config = `${cfg.dir}/.mcpmon.yaml`;
  await Deno.writeTextFile(config, yaml({ alpha: [a], beta: [b] }));
  await using mon = await startMcpmon({ mcpmonArgs: ["--config", config], server: [] });
  assert.equal(mon.client.getServerVersion()?.name, "mcpmon");
  const names = await waitForTools(
    mon,
    (n) => n.includes("alpha__hello") && n.includes("beta__hello"),
  );
  assert.ok(names.includes("restart_server") && names.includes("server_status"));
  const pidA = await callText(mon.client, "alpha__pid");
  const pidB = await callText(mon.client, "beta__pid");
  assert.notEqual(pidA, pidB);

  const mark = mon.notificationCount();
  await a.writeTools([{ name: "hello", text: "alpha v2" }, { name: "extra", text: "x" }]);
  await mon.waitForNotification("notifications/tools/list_changed", { after: mark });
  await waitForTools(mon, (n) => n.includes("alpha__extra"));
  assert.equal(await callText(mon.client, "alpha__hello"), "alpha v2");
  assert.notEqual(await callText(mon.client, "alpha__pid"), pidA, "alpha restarted");
  assert.equal(await callText(mon.client, "beta__pid"), pidB, "beta's pid is unchanged");
});

Deno.test("editing the config adds, removes and restarts only the servers whose definition changed", async () => {
  await using a = await makeFixtureDir();
  await using b = await makeFixtureDir();
  await using c = await makeFixtureDir();
  await using cfg = await makeFixtureDir();
  const config = `${cfg.dir}/mcpmon.yaml`;
  await Deno.writeTextFile(config, yaml({ alpha: [a], beta: [b] }));
  await using mon = await startMcpmon({ mcpmonArgs: ["--config", config], server: [] });
  await waitForTools(mon, (n) => n.includes("alpha__hello") && n.includes("beta__hello"));
  const pidA = await callText(mon.client, "alpha__pid");
  const pidB = await callText(mon.client, "beta__pid");

  // beta modified (new arg), gamma added, alpha untouched (keys reordered only).
  const reordered = yaml({ alpha: [a] }).replace(
    / {4}command: node\n( {4}args: .*\n)/,
    "$1    command: node\n",
  );
  await Deno.writeTextFile(
    config,
    reordered + yaml({ beta: [b, "--list-changed"], gamma: [c] }).replace("\nservers:\n", ""),
  );
  await mon.waitForStderr(/Config reloaded: \+gamma ~beta/);
  await waitForTools(mon, (n) => n.includes("gamma__hello"));
  assert.equal(await callText(mon.client, "alpha__pid"), pidA, "alpha untouched");
  assert.notEqual(
    await callText(mon.client, "beta__pid"),
    pidB,
    "beta restarted with its new definition",
  );

  // alpha removed: its tools go, its process stops.
  await Deno.writeTextFile(config, yaml({ beta: [b, "--list-changed"], gamma: [c] }));
  await mon.waitForStderr(/Config reloaded: -alpha/);
  await waitForTools(mon, (n) => !n.includes("alpha__hello"));
  await waitUntil(() => !processAlive(Number(pidA)), 5000, "alpha's server stops");

  // An invalid edit keeps the running set and says where the problem is, in the log and to the
  // client (a notifications/message at error level).
  const mark = mon.notificationCount();
  await Deno.writeTextFile(config, yaml({ gamma: [c] }).replace("command: node", "comand: node"));
  await mon.waitForStderr(/mcpmon\.yaml:\d+:\d+: unknown key servers\.gamma\.comand/);
  await mon.waitForStderr(/Keeping the servers that are running/);
  const told = await mon.waitForNotification("notifications/message", { after: mark });
  assert.equal(told.params?.level, "error");
  assert.match(String(told.params?.data), /unknown key servers\.gamma\.comand/);
  assert.match(await callText(mon.client, "gamma__pid"), /^\d+$/);
  assert.match(await callText(mon.client, "beta__pid"), /^\d+$/);
});

Deno.test("a broken backend is isolated; its error names it, and status shows it", async () => {
  await using a = await makeFixtureDir();
  await using b = await makeFixtureDir();
  await using cfg = await makeFixtureDir();
  const config = `${cfg.dir}/.mcpmon.yaml`;
  await Deno.writeTextFile(config, yaml({ good: [a], bad: [b, "--crash-at-start"] }));
  await using mon = await startMcpmon({ mcpmonArgs: ["--config", config], server: [] });
  await waitForTools(mon, (n) => n.includes("good__hello"));
  assert.equal(await callText(mon.client, "good__hello"), "hello v1");
  let status = "";
  await waitUntil(async () =>
    /^bad: failed/m.test(status = await callText(mon.client, "server_status"))
  );
  assert.match(status, /^good: ready, pid \d+/m);
  assert.match(status, /^bad: failed/m);
  assert.match(status, /boom: simulated crash at start/);
  const restart = await mon.client.callTool({
    name: "restart_server",
    arguments: { server: "bad" },
  });
  assert.equal(restart.isError, true);
  assert.match(
    (restart.content as { text: string }[])[0].text,
    /Restart of "bad" failed: .*exited with code 1/s,
  );
});

Deno.test("long names are shortened within the budget, and a sampling request reaches the client", async () => {
  await using a = await makeFixtureDir();
  await using cfg = await makeFixtureDir();
  const config = `${cfg.dir}/.mcpmon.yaml`;
  await a.writeTools([{ name: "a_tool_with_a_rather_long_descriptive_name", text: "long one" }]);
  await Deno.writeTextFile(
    config,
    yaml({ "an-extremely-verbose-server-name": [a] }, 'nameBudget: 40\nclientPrefix: ""'),
  );
  await using mon = await startMcpmon({
    mcpmonArgs: ["--config", config],
    server: [],
    onSample: (prompt) => `sampled ${prompt}`,
  });
  const names = await waitForTools(mon, (n) => n.length > 3);
  const long = names.find((n) => n.startsWith("an-extre__a_tool_with_a_rather"))!;
  assert.ok(long, names.join(", "));
  assert.equal(long.length, 40);
  assert.match(long, /_[0-9a-z]{7}$/);
  assert.equal(await callText(mon.client, long), "long one");
  const sampleTool = names.find((n) => n.endsWith("__sample"))!;
  assert.equal(await callText(mon.client, sampleTool, { prompt: "hi" }), "sampled hi");
});

Deno.test("an invalid config at start exits 2 naming file, line and column", async () => {
  await using cfg = await makeFixtureDir();
  const config = `${cfg.dir}/.mcpmon.yaml`;
  await Deno.writeTextFile(
    config,
    "servers:\n  api:\n    command: node\n    args: node server.js\n",
  );
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD_PATH, "--config", config],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { XDG_STATE_HOME: TEST_STATE_HOME },
  }).output();
  assert.equal(out.code, 2);
  assert.match(
    new TextDecoder().decode(out.stderr),
    /\.mcpmon\.yaml:4:11: servers\.api\.args must be a list/,
  );
  assert.equal(out.stdout.length, 0);
});

Deno.test("a Claude Code .mcp.json works as a gateway config", async () => {
  await using a = await makeFixtureDir();
  await using cfg = await makeFixtureDir();
  const config = `${cfg.dir}/.mcp.json`;
  await Deno.writeTextFile(
    config,
    JSON.stringify(
      { mcpServers: { docs: { command: "node", args: [a.serverPath], watch: a.dir } } },
      null,
      2,
    ),
  );
  await using mon = await startMcpmon({ mcpmonArgs: ["--config", config], server: [] });
  await waitForTools(mon, (n) => n.includes("docs__hello"));
  assert.equal(await callText(mon.client, "docs__echo", { text: "json ok" }), "json ok");
});

Deno.test("by default names leave room for the client's prefix mcp__<--name>__ within 64 characters", async () => {
  await using a = await makeFixtureDir();
  await using cfg = await makeFixtureDir();
  const config = `${cfg.dir}/.mcpmon.yaml`;
  const tool = "t".repeat(58); // 61 characters in the gateway, 75 as Claude Code sends it
  await a.writeTools([{ name: tool, text: "fits" }]);
  await Deno.writeTextFile(config, yaml({ fm: [a] }));
  await using mon = await startMcpmon({
    mcpmonArgs: ["--config", config, "--name", "tools"],
    server: [],
  });
  const names = await waitForTools(mon, (n) => n.some((x) => x.startsWith("fm__t")));
  const exposed = names.find((n) => n.startsWith("fm__t"))!;
  assert.ok(
    ("mcp__tools__" + exposed).length <= 64,
    `mcp__tools__${exposed} is ${("mcp__tools__" + exposed).length} characters`,
  );
  assert.equal(exposed.length, 64 - "mcp__tools__".length);
  assert.equal(await callText(mon.client, exposed), "fits");
  for (const n of names) assert.ok(("mcp__tools__" + n).length <= 64, n);
});

Deno.test("complete at connect: the first tools/list already holds a slow backend, and a call to it waits", async () => {
  await using a = await makeFixtureDir();
  await using b = await makeFixtureDir();
  await using cfg = await makeFixtureDir();
  const config = `${cfg.dir}/.mcpmon.yaml`;
  await Deno.writeTextFile(config, yaml({ quick: [a], slow: [b, "--init-delay=800"] }));
  {
    await using mon = await startMcpmon({ mcpmonArgs: ["--config", config], server: [] });
    const first = await toolNames(mon); // once, as LangChain's getTools() does
    assert.ok(first.includes("quick__hello") && first.includes("slow__hello"), first.join(", "));
    const prompts = (await mon.client.listPrompts()).prompts.map((p: { name: string }) => p.name);
    assert.ok(prompts.includes("slow__greet"), prompts.join(", "));
  }
  {
    await using mon = await startMcpmon({ mcpmonArgs: ["--config", config], server: [] });
    // Straight after connect, before any list: the call waits for the slow backend.
    assert.equal(await callText(mon.client, "slow__hello"), "hello v1");
  }
});
