/**
 * Shutdown under attack: signals that race a restart, signals during exit, a
 * client that stopped reading. Nothing is left running, and mcpmon exits.
 */
import assert from "node:assert/strict";
import { makeFixtureDir, startMcpmon, waitUntil, withTimeout } from "./_harness.ts";
import { RawMcpmon, rssBytes } from "./_raw.ts";

/** Pids of live processes running the script `script` (its first argument). */
function processesMentioning(script: string): number[] {
  const found: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`);
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      if (/\) Z /.test(stat)) continue; // a zombie is gone, only not reaped yet
      if (cmdline.split("\0")[1] === script) found.push(Number(entry.name));
    } catch { /* exited meanwhile */ }
  }
  return found;
}

Deno.test("SIGTERM while a restart drains leaves no server running", async () => {
  await using fx = await makeFixtureDir();
  await using mon = await startMcpmon({
    mcpmonArgs: ["--watch", fx.dir, "--debounce", "30", "--grace", "1500", "--verbose"],
    server: ["node", fx.serverPath],
  });
  // A request in flight keeps the restart draining.
  const inFlight = mon.client.callTool({ name: "delay", arguments: { ms: 10_000 } }).catch(
    (e: Error) => e,
  );
  await waitUntil(() => processesMentioning(fx.serverPath).length === 1, 10_000, "server up");
  await fx.writeTools([{ name: "hello", text: "hello v2" }]);
  await mon.waitForStderr(/Waiting up to 1500 ms for 1 request/);
  Deno.kill(mon.pid!, "SIGTERM");
  const status = await mon.waitForExit();
  assert.equal(status.code, 0);
  await inFlight;
  const after = mon.stderrText().split(/Received SIGTERM/)[1] ?? "";
  assert.doesNotMatch(after, /Started: /, "no server is started once shutdown began");
  await waitUntil(
    () => processesMentioning(fx.serverPath).length === 0,
    5_000,
    "every server process is gone",
  );
});

Deno.test("restart signals during shutdown never end mcpmon by their default action", async () => {
  await using fx = await makeFixtureDir();
  for (let round = 0; round < 3; round++) {
    await using mon = await startMcpmon({ server: ["node", fx.serverPath, "--ignore-eof"] });
    Deno.kill(mon.pid!, "SIGTERM");
    for (let i = 0; i < 20; i++) {
      try {
        Deno.kill(mon.pid!, i % 2 === 0 ? "SIGUSR2" : "SIGHUP");
      } catch { /* already gone */ }
    }
    const status = await mon.waitForExit();
    assert.deepEqual(status, { code: 0, signal: null }, `round ${round}`);
  }
  await waitUntil(() => processesMentioning(fx.serverPath).length === 0, 5_000, "servers gone");
});

Deno.test("SIGTERM while the client has stopped reading still ends mcpmon", async () => {
  await using fx = await makeFixtureDir();
  const raw = new RawMcpmon(["--grace", "300"], ["node", fx.serverPath]);
  try {
    await raw.initialize();
    const before = rssBytes(raw.pid);
    raw.pauseReading();
    // More than the pipes hold, unread: mcpmon's stdout is full.
    for (let i = 0; i < 8; i++) {
      await raw.send({
        jsonrpc: "2.0",
        id: 100 + i,
        method: "tools/call",
        params: { name: "big", arguments: { bytes: 1 << 20 } },
      });
    }
    // The answers pile up in mcpmon (its stdout pipe is full): its memory grows.
    await waitUntil(() => rssBytes(raw.pid) - before > 4 << 20, 10_000, "answers buffered");
    Deno.kill(raw.pid, "SIGTERM");
    const status = await withTimeout(
      raw.process.status,
      12_000,
      () => "mcpmon did not exit after SIGTERM while its stdout was full",
    );
    assert.equal(status.signal, null);
  } finally {
    raw.resumeReading();
    await raw.close().catch(() => {});
  }
});

Deno.test("a server that ignores stdin's end and SIGTERM does not outlive mcpmon killed by SIGKILL", async () => {
  await using fx = await makeFixtureDir();
  await using mon = await startMcpmon({
    mcpmonArgs: ["--grace", "500"],
    server: ["node", fx.serverPath, "--ignore-eof", "--ignore-sigterm"],
  });
  await waitUntil(() => processesMentioning(fx.serverPath).length === 1, 10_000, "server up");
  Deno.kill(mon.pid!, "SIGKILL"); // as clients do: no chance to clean up
  await mon.waitForExit();
  await waitUntil(
    () => processesMentioning(fx.serverPath).length === 0,
    10_000,
    "the orphaned server is stopped by its watchdog",
  );
});
