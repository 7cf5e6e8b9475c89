/**
 * Smoke test of `scripts/bench.ts`: it runs end to end with tiny counts, prints a well-formed JSON
 * report on stdout, and leaves no process behind. No timing is asserted: timing goals belong to the
 * bench itself, never to a test (the test machine is slow and noisy).
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { processAlive, waitUntil } from "./e2e/_harness.ts";
import { type BenchReport, type Figure, renderTable, type SideResult } from "../scripts/bench.ts";

const BENCH = fileURLToPath(new URL("../scripts/bench.ts", import.meta.url));

async function runBench(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", BENCH, ...args],
    stdin: "null",
    signal: AbortSignal.timeout(120_000),
  }).output();
  const decoder = new TextDecoder();
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
  };
}

function assertSide(side: SideResult | undefined, what: string, middle: boolean) {
  assert.ok(side, `${what} measured`);
  for (const key of ["p50Us", "p99Us", "callsPerSec"] as const) {
    const f: Figure = side[key];
    assert.equal(f.rounds.length, 1, `${what}.${key}: one round`);
    assert.ok(Number.isFinite(f.median) && f.median > 0, `${what}.${key} is a positive number`);
    assert.ok(f.min <= f.median && f.median <= f.max, `${what}.${key}: min ≤ median ≤ max`);
  }
  assert.ok(side.p50Us.median <= side.p99Us.median, `${what}: p50 ≤ p99`);
  assert.ok(side.serverCpuUsPerCall > 0, `${what}: the server's CPU time was measured`);
  if (middle) assert.ok(side.cpuUsPerCall > 0, `${what}: the proxy's CPU time was measured`);
  else assert.equal(side.cpuUsPerCall, 0, `${what}: no proxy process`);
}

Deno.test("the bench runs with tiny counts, prints a well-formed JSON report (connect, large-message and SDK rows included) and stops every process it started", async () => {
  const { code, stdout, stderr } = await runBench([
    "--json",
    "--launcher",
    "deno",
    "--calls",
    "20",
    "--pipelined",
    "50",
    "--rounds",
    "1",
    "--warmup",
    "5",
    "--reloads",
    "1",
    "--debounce",
    "10",
    "--reload-gap",
    "350",
    "--gateway",
    "2",
    "--connect-runs",
    "1",
    "--large-mb",
    "1",
    "--large-calls",
    "1",
    "--sdk-calls",
    "5",
  ]);
  assert.equal(code, 0, `bench failed:\n${stderr}`);
  const report: BenchReport = JSON.parse(stdout); // stdout is the report and nothing else

  assert.ok(report.machine.cpus >= 1);
  assert.equal(typeof report.machine.model, "string");
  assert.ok(!Number.isNaN(Date.parse(report.machine.date)));
  assert.equal(report.options.calls, 20);
  assert.equal(report.results.length, 1);
  const r = report.results[0];
  assert.equal(r.name, "deno");
  assertSide(r.direct, "direct", false);
  assertSide(r.relay, "relay", true);
  assertSide(r.mcpmon, "mcpmon", true);
  for (const ratio of [r.p50Ratio, r.p99Ratio, r.throughputRatio]) {
    assert.ok(Number.isFinite(ratio) && ratio > 0);
  }
  assert.ok(r.rss.idleMb > 0 && r.rss.loadMb > 0 && r.rss.peakMb >= r.rss.loadMb);

  assert.equal(r.reload.length, 1);
  const [reload] = r.reload;
  assert.equal(reload.debounceMs, 10);
  assert.equal(reload.samples.length, 1);
  for (const [key, value] of Object.entries(reload.median)) {
    assert.ok(Number.isFinite(value) && value >= 0, `reload ${key} = ${value}`);
  }
  assert.ok(reload.median.writeToFirstCallMs >= reload.median.writeToListChangedMs);

  // Connect rows: every side measured once, in ms.
  const c = r.connect!;
  assert.equal(c.runs, 1);
  for (
    const key of [
      "bareRuntimeMs",
      "versionMs",
      "readyMs",
      "readySelfMs",
      "directMs",
      "relayMs",
      "mcpmonMs",
    ] as const
  ) {
    assert.ok(Number.isFinite(c[key]) && c[key]! > 0, `connect.${key} = ${c[key]}`);
  }
  assert.equal(c.addedMs, c.mcpmonMs - c.directMs);
  // Ready: the bench sees mcpmon's ready line after mcpmon's own clock says it wrote it (a
  // runtime's clock starts once its process does), and compares it with the bare runtime.
  assert.ok(c.readySelfMs < c.readyMs, `ready ${c.readyMs}, self ${c.readySelfMs}`);
  assert.equal(c.readyOverBareMs, c.readyMs - c.bareRuntimeMs!);
  // The large message: a 1 MB result through every side; CPU of the relay and mcpmon.
  const large = r.large!;
  assert.equal(large.bytes, 1024 * 1024);
  assert.deepEqual(Object.keys(large.ms).sort(), ["direct", "mcpmon", "relay"]);
  assert.deepEqual(Object.keys(large.cpuMs).sort(), ["mcpmon", "relay"]);
  for (const v of [...Object.values(large.ms), ...Object.values(large.cpuMs)]) {
    assert.ok(Number.isFinite(v) && v > 0);
  }
  // Per round too (one round of one call here: the same figure).
  assert.deepEqual(large.cpuMsRounds, { relay: [large.cpuMs.relay], mcpmon: [large.cpuMs.mcpmon] });
  // The SDK row: p50 µs per side, and each round's (one round here).
  assert.deepEqual(Object.keys(r.sdkP50Us!).sort(), ["direct", "mcpmon", "relay"]);
  for (const v of Object.values(r.sdkP50Us!)) assert.ok(Number.isFinite(v) && v > 0);
  assert.deepEqual(Object.keys(r.sdkRoundsUs!).sort(), ["direct", "mcpmon", "relay"]);
  for (const [key, rounds] of Object.entries(r.sdkRoundsUs!)) {
    assert.deepEqual(rounds, [r.sdkP50Us![key]], `${key}: the one round's p50 is the median`);
  }

  assert.equal(r.gateway.status, "ok", `gateway: ${r.gateway.reason}`);
  assert.equal(r.gateway.backends, 2);
  assert.ok(r.gateway.startToAllToolsMs! > 0);
  assertSide(r.gateway.side, "gateway", true);

  // The bench started direct server, relay, mcpmon, gateway (and saw their servers): all gone.
  assert.ok(report.pids.length >= 4 + 2 + 2, `pids: ${report.pids}`);
  await waitUntil(
    () => report.pids.every((pid) => !processAlive(pid)),
    10_000,
    `processes left: ${report.pids.filter(processAlive)}`,
  );

  const table = renderTable(report);
  assert.match(table, /`tools\/call` p50 latency \(µs\)/);
  assert.match(table, /reload \(`--debounce 10`\): write → list_changed/);
  assert.match(table, /gateway, 2 backends: start → all tools listed/);
  assert.match(table, /connect: spawn → `initialize` answered/);
  assert.match(table, /start-up: spawn → mcpmon ready to read the client/);
  assert.match(table, /1 MB result: time per call/);
  assert.match(table, /MCP SDK client: sequential `tools\/call` p50/);
  assert.doesNotMatch(table, /per round/, "one round: no spread");
  // With several rounds, the SDK and large-message rows show mcpmon ÷ relay per round (paired),
  // min–max, in the summary and in the launcher's own table.
  r.sdkRoundsUs = { direct: [90, 95, 99], relay: [200, 250, 100], mcpmon: [220, 250, 130] };
  large.cpuMsRounds = { relay: [10, 8], mcpmon: [12, 6] };
  const spread = renderTable(report);
  assert.match(spread, /relay \(1\.00–1\.30 per round\)/);
  assert.equal(spread.match(/\(1\.00–1\.30 per round\)/g)?.length, 2);
  assert.equal(spread.match(/\(÷ relay 0\.75–1\.20 per round\)/g)?.length, 2);
});

Deno.test("the bench rejects a bad option with exit code 2 and the usage", async () => {
  const { code, stdout, stderr } = await runBench(["--rounds", "zero"]);
  assert.equal(code, 2);
  assert.equal(stdout, "");
  assert.match(stderr, /--rounds must be an integer/);
  assert.match(stderr, /Usage: deno task bench/);
});
