/**
 * Everyday traps, end to end: a mistyped server command, and following an
 * instance's traffic live with `mcpmon trace` from another process.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import {
  callText,
  defaultLauncher,
  startMcpmon,
  TEST_CWD,
  waitUntil,
  WELL_BEHAVED,
  withTimeout,
} from "./_harness.ts";

Deno.test("a mistyped command exits 1 at once, naming the command and the client's config", async () => {
  const [command, ...launcherArgs] = defaultLauncher();
  const output = await withTimeout(
    new Deno.Command(command, {
      args: [...launcherArgs, "pyhton-mcpmon-e2e", "server.py"],
      cwd: TEST_CWD,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output(),
    20_000,
    () => "mcpmon did not exit",
  );
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 1, stderr);
  assert.match(stderr, /cannot start the server `pyhton-mcpmon-e2e server\.py`/);
  assert.match(stderr, /"pyhton-mcpmon-e2e" was not found on PATH/);
  assert.match(stderr, /MCP client's config/);
  assert.equal(output.stdout.length, 0, "nothing on the protocol channel");
});

Deno.test("mcpmon trace <name> follows a running instance's messages live, without restarting it", async () => {
  const home = await Deno.makeTempDir({ prefix: "mcpmon-e2e-trace-" });
  const dir = join(home, "mcpmon");
  try {
    await using mon = await startMcpmon({
      mcpmonArgs: ["--name", "e2e-trace", "--watch", TEST_CWD],
      server: ["node", WELL_BEHAVED],
      env: { XDG_STATE_HOME: home },
    });
    await waitUntil(() => existsSync(join(dir, `${mon.pid}.json`)), 15_000, "registration");
    const serverPid = await callText(mon.client, "pid");

    const [command, ...launcherArgs] = defaultLauncher();
    const follower = new Deno.Command(command, {
      args: [...launcherArgs, "trace", "e2e-trace", "--json"],
      env: { XDG_STATE_HOME: home },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const lines: string[] = [];
    let stderr = "";
    const pumpOut = (async () => {
      let partial = "";
      for await (const chunk of follower.stdout.pipeThrough(new TextDecoderStream())) {
        const parts = (partial + chunk).split("\n");
        partial = parts.pop() ?? "";
        lines.push(...parts);
      }
    })();
    const pumpErr = (async () => {
      for await (const chunk of follower.stderr.pipeThrough(new TextDecoderStream())) {
        stderr += chunk;
      }
    })();
    try {
      await mon.waitForStderr(/Tracing messages for mcpmon trace/);
      await waitUntil(() => /following e2e-trace/.test(stderr), 15_000, `follower: ${stderr}`);
      assert.equal(await callText(mon.client, "echo", { text: "traced!" }), "traced!");
      const dirs = () =>
        lines.map((l) => JSON.parse(l)).filter((r) => JSON.stringify(r.message).includes("traced!"))
          .map((r) => r.dir);
      await waitUntil(
        () => dirs().length === 4,
        15_000,
        "four records of the call",
      );
      assert.deepEqual(dirs(), [
        "client→mcpmon",
        "mcpmon→server",
        "server→mcpmon",
        "mcpmon→client",
      ]);
      const record = JSON.parse(
        lines.find((l) => l.includes('"mcpmon→server"') && l.includes("traced!"))!,
      );
      assert.equal(record.method, "tools/call");
      assert.equal(record.server, "e2e-trace");
      assert.equal(String(record.pid), serverPid);
      assert.ok(record.bytes > 0);
      assert.equal(await callText(mon.client, "pid"), serverPid, "following did not restart it");
    } finally {
      follower.kill("SIGINT");
      const status = await follower.status;
      await pumpOut;
      await pumpErr;
      assert.equal(status.code, 0, stderr);
    }
    const left = readdirSync(dir).filter((f) => f.includes(".trace."));
    assert.ok(left.every((f) => f.endsWith(".jsonl")), `request file removed: ${left}`);
    // The instance notices at its next message (at most once a second) and removes its file.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await callText(mon.client, "pid");
    await waitUntil(
      () => readdirSync(dir).every((f) => !f.includes(".trace.")),
      15_000,
      "the live trace file to be removed",
    );
  } finally {
    await Deno.remove(home, { recursive: true }).catch(() => {});
  }
});
