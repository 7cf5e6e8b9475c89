/**
 * Restart tooling end to end: the injected restart_server tool, signals, the
 * build step.
 */
import assert from "node:assert/strict";
import { callText, makeFixtureDir, startMcpmon, waitUntil, WELL_BEHAVED } from "./_harness.ts";

const FAST = ["--debounce", "30", "--min-interval", "0"];

Deno.test("restart_server restarts the server and lists the tool it added", async () => {
  await using fx = await makeFixtureDir();
  await using mon = await startMcpmon({
    mcpmonArgs: ["--name", "tooling"],
    server: ["node", fx.serverPath],
  });
  const tools = (await mon.client.listTools()).tools.map((t: { name: string }) => t.name);
  assert.ok(tools.includes("restart_server"));
  const pid1 = await callText(mon.client, "pid");
  // An edit nobody watches (no --watch): only the tool brings it in.
  await fx.writeTools([{ name: "hello", text: "v2" }, { name: "added", text: "new" }]);
  const text = await callText(mon.client, "restart_server", { reason: "picked up an edit" });
  assert.match(text, /^Restarted "tooling" \(restart #1\) in \d+ ms; new pid \d+\./);
  assert.match(text, /Tools added: added/);
  assert.notEqual(await callText(mon.client, "pid"), pid1);
  assert.equal(await callText(mon.client, "added"), "new");
  await mon.waitForStderr(/restart_server called: picked up an edit/);
});

Deno.test("SIGHUP and SIGUSR2 to mcpmon restart the server", async () => {
  await using mon = await startMcpmon({
    mcpmonArgs: ["--min-interval", "0"],
    server: ["node", WELL_BEHAVED],
  });
  const pids = [await callText(mon.client, "pid")];
  for (const signal of ["SIGHUP", "SIGUSR2"] as const) {
    const mark = mon.notificationCount();
    Deno.kill(mon.pid!, signal);
    await mon.waitForNotification("notifications/tools/list_changed", { after: mark });
    pids.push(await callText(mon.client, "pid"));
  }
  assert.equal(new Set(pids).size, 3);
  await mon.waitForStderr(/Restart #2 complete/);
});

Deno.test("a failed build keeps the old server serving and tells the client", async () => {
  await using fx = await makeFixtureDir();
  const flag = `${fx.dir}/build-ok.txt`;
  await Deno.writeTextFile(flag, "yes");
  await using mon = await startMcpmon({
    mcpmonArgs: [
      "--watch",
      fx.dir,
      ...FAST,
      "--build",
      `test -f '${flag}' || { echo 'error TS2304: cannot find name' >&2; exit 2; }`,
    ],
    server: ["node", fx.serverPath],
  });
  const pid1 = await callText(mon.client, "pid");
  await Deno.remove(flag);
  const mark = mon.notificationCount();
  await fx.writeTools([{ name: "hello", text: "v2" }]);
  const message = await mon.waitForNotification("notifications/message", { after: mark });
  assert.equal((message.params as { level: string }).level, "error");
  assert.match(
    String((message.params as { data: string }).data),
    /exited with code 2[\s\S]*error TS2304/,
  );
  assert.equal(await callText(mon.client, "pid"), pid1, "the old server still serves");
  assert.equal(await callText(mon.client, "hello"), "hello v1");
  // restart_server reports the build failure too.
  const result = await mon.client.callTool({ name: "restart_server", arguments: {} });
  assert.equal(result.isError, true);
  assert.match((result.content as { text: string }[])[0].text, /build .* exited with code 2/);
  // Fixing the build brings the edit in.
  await Deno.writeTextFile(flag, "yes");
  const mark2 = mon.notificationCount();
  await fx.writeTools([{ name: "hello", text: "v3" }]);
  await mon.waitForNotification("notifications/tools/list_changed", { after: mark2 });
  assert.equal(await callText(mon.client, "hello"), "v3");
});

Deno.test("a change during a build triggers another build after it, then one restart", async () => {
  await using fx = await makeFixtureDir();
  const log = `${fx.dir}/builds.log`;
  await using mon = await startMcpmon({
    mcpmonArgs: ["--watch", fx.dir, ...FAST, "--build", `echo build >> '${log}'; sleep 0.6`],
    server: ["node", fx.serverPath],
  });
  const builds = async () =>
    (await Deno.readTextFile(log).catch(() => "")).trim().split("\n").filter(Boolean).length;
  assert.equal(await builds(), 1, "one build before the first start");
  await fx.writeTools([{ name: "hello", text: "v2" }]);
  await waitUntil(async () => await builds() === 2, 10_000, "second build started");
  const mark = mon.notificationCount();
  await fx.writeTools([{ name: "hello", text: "v3" }]); // during the second build
  await mon.waitForNotification("notifications/tools/list_changed", { after: mark });
  assert.equal(await builds(), 3, "the change during the build was built");
  assert.equal(await callText(mon.client, "hello"), "v3");
  assert.doesNotMatch(mon.stderrText(), /Restart #2/, "one restart for both changes");
});
