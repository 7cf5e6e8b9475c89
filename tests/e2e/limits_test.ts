/**
 * Inputs past what mcpmon accepts, and connections that break while a server
 * runs on: each costs one error, never the session.
 */
import assert from "node:assert/strict";
import { callText, makeFixtureDir, startMcpmon } from "./_harness.ts";
import { RawMcpmon } from "./_raw.ts";

Deno.test("a client message over --max-message gets -32600 with its own id, and the session goes on", async () => {
  await using fx = await makeFixtureDir();
  const raw = new RawMcpmon(["--max-message", "4096"], ["node", fx.serverPath]);
  try {
    await raw.initialize();
    await raw.request("tools/call", {
      name: "echo",
      arguments: { text: "x".repeat(100_000) },
    }, "too-big");
    const error = await raw.waitFor((m) => m.id === "too-big", undefined, "the refusal");
    assert.equal(error.error.code, -32600);
    assert.match(error.error.message, /over mcpmon's limit of 4096 bytes/);
    const ok = await raw.call("tools/call", { name: "echo", arguments: { text: "still here" } });
    assert.equal(ok.result.content[0].text, "still here");
    assert.deepEqual(raw.junk, []);
  } finally {
    await raw.close();
  }
});

Deno.test("a server that closes its stdout but keeps running: the request gets an error saying so, and the server restarts", async () => {
  await using fx = await makeFixtureDir();
  await using mon = await startMcpmon({
    server: ["node", fx.serverPath, "--close-stdout-on-tool=vanish"],
  });
  const pid1 = await callText(mon.client, "pid");
  const err = await mon.client.callTool({ name: "vanish", arguments: {} }).then(
    () => null,
    (e: Error) => e,
  );
  assert.match(String(err?.message), /closed its stdout/);
  const mark = mon.notificationCount();
  await mon.waitForNotification("notifications/tools/list_changed", { after: mark });
  const pid2 = await callText(mon.client, "pid");
  assert.notEqual(pid2, pid1, "a new server serves");
  assert.throws(() => Deno.kill(Number(pid1), "SIGCONT"), "the broken one is gone");
});
