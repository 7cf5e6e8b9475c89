/**
 * Control from another terminal, end to end: a running mcpmon registers in
 * the state dir; `mcpmon restart`, `mcpmon status` and `mcpmon clean`, run as
 * separate processes, see it and act on it.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import {
  callText,
  defaultLauncher,
  makeFixtureDir,
  processAlive,
  startMcpmon,
  waitUntil,
  WELL_BEHAVED,
} from "./_harness.ts";

/** A temp XDG_STATE_HOME, removed on dispose. */
async function tempStateHome(): Promise<{ home: string; dir: string } & AsyncDisposable> {
  const home = await Deno.makeTempDir({ prefix: "mcpmon-e2e-state-" });
  return {
    home,
    dir: join(home, "mcpmon"),
    [Symbol.asyncDispose]: () => Deno.remove(home, { recursive: true }).catch(() => {}),
  };
}

/** Runs `mcpmon <args>` (same launcher as the instance) to completion. */
async function mcpmonCli(
  args: string[],
  stateHome: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const [command, ...launcherArgs] = defaultLauncher();
  const output = await new Deno.Command(command, {
    args: [...launcherArgs, ...args],
    env: { XDG_STATE_HOME: stateHome },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** Waits until mcpmon `pid` has registered in `dir`. */
async function registered(dir: string, pid: number): Promise<void> {
  await waitUntil(
    () => existsSync(join(dir, `${pid}.json`)),
    15_000,
    `mcpmon (pid ${pid}) to register in ${dir}: ${
      existsSync(dir) ? readdirSync(dir).join(", ") : "(no dir)"
    }`,
  );
}

Deno.test("mcpmon restart <name> from a second process restarts the server; status shows it", async () => {
  await using state = await tempStateHome();
  await using fx = await makeFixtureDir();
  await using mon = await startMcpmon({
    mcpmonArgs: ["--name", "e2e-x", "--watch", fx.dir],
    server: ["node", fx.serverPath],
    env: { XDG_STATE_HOME: state.home },
  });
  await registered(state.dir, mon.pid!);
  const pid1 = await callText(mon.client, "pid");

  const mark = mon.notificationCount();
  const restart = await mcpmonCli(["restart", "e2e-x", "--reason", "from test"], state.home);
  assert.equal(restart.code, 0, `restart failed: ${restart.stderr}`);
  const m = restart.stdout.match(/^restarted e2e-x \(restart #1, \d+ ms, pid (\d+)\)\n$/);
  assert.ok(m, `unexpected output: ${restart.stdout}`);
  await mon.waitForNotification("notifications/tools/list_changed", { after: mark });
  const pid2 = await callText(mon.client, "pid");
  assert.notEqual(pid2, pid1);
  assert.equal(pid2, m[1], "the printed pid is the new server's");
  assert.equal(processAlive(Number(pid1)), false, "the old server is gone");
  await mon.waitForStderr(/from test/);

  const status = await mcpmonCli(["status", "--json"], state.home);
  assert.equal(status.code, 0, status.stderr);
  const list = JSON.parse(status.stdout);
  assert.equal(list.length, 1);
  const [entry] = list;
  assert.equal(entry.name, "e2e-x");
  assert.equal(entry.pid, mon.pid);
  assert.equal(entry.alive, true);
  assert.equal(entry.serverPid, Number(pid2));
  assert.equal(entry.restarts, 1);
  assert.equal(entry.state, "ready");
  assert.match(entry.lastReason, /from test/);
  assert.equal(entry.lastRestart.ok, true);

  const table = await mcpmonCli(["status"], state.home);
  assert.equal(table.code, 0);
  assert.match(table.stdout, new RegExp(`^e2e-x +${mon.pid} +${pid2} +\\S+ +1 +ready +`, "m"));
});

Deno.test("mcpmon restart with an unknown name lists the running names; exit 2", async () => {
  await using state = await tempStateHome();
  await using fx = await makeFixtureDir();
  await using mon = await startMcpmon({
    mcpmonArgs: ["--name", "e2e-y", "--watch", fx.dir],
    server: ["node", fx.serverPath],
    env: { XDG_STATE_HOME: state.home },
  });
  await registered(state.dir, mon.pid!);
  const result = await mcpmonCli(["restart", "nope"], state.home);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /no running mcpmon named nope; running: e2e-y\n/);
  assert.equal(result.stdout, "");
});

Deno.test("an mcpmon that exits removes its entry; status and clean then find nothing", async () => {
  await using state = await tempStateHome();
  await using fx = await makeFixtureDir();
  const mon = await startMcpmon({
    mcpmonArgs: ["--name", "e2e-z", "--watch", fx.dir],
    server: ["node", fx.serverPath],
    env: { XDG_STATE_HOME: state.home },
  });
  try {
    await registered(state.dir, mon.pid!);
  } finally {
    await mon.close();
  }
  assert.deepEqual(readdirSync(state.dir), [], "nothing is left behind");
  const status = await mcpmonCli(["status", "--json"], state.home);
  assert.deepEqual(JSON.parse(status.stdout), []);
  const clean = await mcpmonCli(["clean"], state.home);
  assert.equal(clean.code, 0);
  assert.equal(clean.stdout, "nothing to clean\n");
});

Deno.test("mcpmon status shows a crashed server's last error, from another process", async () => {
  await using state = await tempStateHome();
  await using mon = await startMcpmon({
    mcpmonArgs: ["--name", "e2e-crashy", "--min-interval", "0"],
    server: ["node", WELL_BEHAVED, "--crash-on-tool=echo"],
    env: { XDG_STATE_HOME: state.home },
  });
  await registered(state.dir, mon.pid!);
  await mon.client.callTool({ name: "echo", arguments: { text: "x" } }).catch(() => {});
  let entry: { name: string; lastError?: string; state: string } | undefined;
  await waitUntil(
    async () => {
      const status = await mcpmonCli(["status", "--json"], state.home);
      entry = (JSON.parse(status.stdout) as { name: string; lastError?: string; state: string }[])
        .find((e) => e.name === "e2e-crashy");
      return entry?.lastError !== undefined;
    },
    15_000,
    "status to show the crash",
  );
  assert.match(entry!.lastError!, /exited with code 1/);
  assert.match(entry!.lastError!, /crashing on echo/);
  // It recovers on its own; the last error stays in the status.
  await waitUntil(
    async () => {
      const status = await mcpmonCli(["status", "--json"], state.home);
      entry = (JSON.parse(status.stdout) as typeof entry[]).find((e) => e?.name === "e2e-crashy");
      return entry?.state === "ready";
    },
    15_000,
    "recovery",
  );
  assert.match(entry!.lastError!, /crashing on echo/);
});

Deno.test("a gateway: restart <gateway>/<server> restarts one backend, the whole gateway counts from #1, status has a row per backend, stderr lines carry their backend's name", async () => {
  await using state = await tempStateHome();
  await using a = await makeFixtureDir();
  await using b = await makeFixtureDir();
  await using cfg = await makeFixtureDir();
  const config = join(cfg.dir, ".mcpmon.yaml");
  const server = (name: string, fx: { serverPath: string }) =>
    `  ${name}:\n    command: node\n    args: ${
      JSON.stringify([fx.serverPath, "--stderr-lines=1"])
    }\n    watch: []\n`;
  await Deno.writeTextFile(config, `servers:\n${server("alpha", a)}${server("beta", b)}`);
  await using mon = await startMcpmon({
    mcpmonArgs: ["--config", config, "--name", "gw-e2e"],
    server: [],
    env: { XDG_STATE_HOME: state.home },
  });
  await registered(state.dir, mon.pid!);
  await mon.waitForStderr(/\[alpha\] stderr line 1/);
  await mon.waitForStderr(/\[beta\] stderr line 1/);
  const alpha1 = await callText(mon.client, "alpha__pid");
  const beta1 = await callText(mon.client, "beta__pid");

  const one = await mcpmonCli(["restart", "gw-e2e/alpha", "--reason", "one"], state.home);
  assert.equal(one.code, 0, one.stderr);
  const m = one.stdout.match(/^restarted gw-e2e\/alpha \(restart #1, \d+ ms, pid (\d+)\)\n$/);
  assert.ok(m, one.stdout);
  await waitUntil(async () => (await callText(mon.client, "alpha__pid")) === m[1]);
  assert.notEqual(m[1], alpha1);
  assert.equal(await callText(mon.client, "beta__pid"), beta1, "beta is left alone");

  const unknown = await mcpmonCli(["restart", "gw-e2e/gamma"], state.home);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /gw-e2e has no server named gamma; its servers: alpha, beta/);

  const all = await mcpmonCli(["restart", "gw-e2e"], state.home);
  assert.equal(all.code, 0, all.stderr);
  assert.match(all.stdout, /^restarted gw-e2e \(restart #1, \d+ ms/, "the first gateway restart");

  const status = await mcpmonCli(["status"], state.home);
  assert.match(status.stdout, /^gw-e2e\/alpha +\d+ +\d+ +- +2 +ready +mcpmon restart/m);
  assert.match(status.stdout, /^gw-e2e\/beta +\d+ +\d+ +- +1 +ready/m);
  const json = JSON.parse((await mcpmonCli(["status", "--json"], state.home)).stdout);
  const gw = json.find((s: { name: string }) => s.name === "gw-e2e");
  assert.deepEqual(
    gw.backends.map((x: { name: string; state: string; restarts: number }) => [
      x.name,
      x.state,
      x.restarts,
    ]),
    [["alpha", "ready", 2], ["beta", "ready", 1]],
  );
});
