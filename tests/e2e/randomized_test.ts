/**
 * Randomized interleavings of requests, file changes and crashes, checked
 * against the two invariants that matter most: every request gets exactly
 * one response, and no process outlives mcpmon.
 *
 * Seeds: `MCPMON_FUZZ_SEEDS` (a count, default 5) starting at
 * `MCPMON_FUZZ_FIRST_SEED` (default 1); a failure names its seed.
 */
import assert from "node:assert/strict";
import { makeFixtureDir, processAlive, processTree, waitUntil } from "./_harness.ts";
import { RawMcpmon } from "./_raw.ts";

/** mulberry32: a small seeded PRNG, so a failing seed replays. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const seeds = Number(Deno.env.get("MCPMON_FUZZ_SEEDS") ?? 5);
const firstSeed = Number(Deno.env.get("MCPMON_FUZZ_FIRST_SEED") ?? 1);

for (let seed = firstSeed; seed < firstSeed + seeds; seed++) {
  Deno.test(`seed ${seed}: every request gets exactly one response and no process outlives mcpmon`, async () => {
    const random = prng(seed);
    await using fx = await makeFixtureDir();
    await using raw = new RawMcpmon(["--watch", fx.dir, "--debounce", "20", "--grace", "300"], [
      "node",
      fx.serverPath,
    ]);
    await raw.initialize();

    const expected = new Map<string, string | null>(); // id → echo text expected on success (null: any result)
    const seen = new Set<number>();
    const snapshot = () => processTree(raw.pid).forEach((p) => seen.add(p));
    let version = 1;
    for (let op = 0; op < 40; op++) {
      const r = random();
      if (r < 0.55) {
        const text = `s${seed}-op${op}-${"é漢".repeat(Math.floor(random() * 4))}`;
        const id = await raw.request("tools/call", { name: "echo", arguments: { text } });
        expected.set(JSON.stringify(id), text);
      } else if (r < 0.7) {
        const id = await raw.request("tools/call", {
          name: "delay",
          arguments: { ms: Math.floor(random() * 400) },
        });
        expected.set(JSON.stringify(id), null);
      } else if (r < 0.8) {
        await fx.writeTools([{ name: "hello", text: `v${++version}` }]);
      } else if (r < 0.87) {
        const id = await raw.request("tools/call", { name: "exit", arguments: { code: 1 } });
        expected.set(JSON.stringify(id), null);
      } else {
        const id = await raw.request(random() < 0.5 ? "ping" : "tools/list");
        expected.set(JSON.stringify(id), null);
      }
      snapshot();
      if (random() < 0.5) {
        await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 60)));
      }
    }

    const context = () => `seed ${seed}; stderr tail:\n${raw.stderr().slice(-2000)}`;
    await waitUntil(
      () => [...expected.keys()].every((id) => raw.responses.has(id)),
      30_000,
      `all answered (${context()})`,
    );
    // A duplicate would arrive right behind the first answer: give it a moment.
    await raw.call("ping");
    for (const [id, text] of expected) {
      const responses = raw.responses.get(id)!;
      assert.equal(
        responses.length,
        1,
        `request ${id} got ${responses.length} responses (${context()})`,
      );
      const [response] = responses;
      if (text !== null && "result" in response) {
        assert.equal(response.result.content[0].text, text);
      }
      if ("error" in response) assert.equal(typeof response.error.message, "string");
    }
    assert.deepEqual(raw.junk, []);
    snapshot();
    seen.delete(raw.pid);
    assert.equal((await raw.close()).code, 0);
    await waitUntil(
      () => [...seen].every((p) => !processAlive(p)),
      5000,
      `no process outlives mcpmon (${context()})`,
    );
  });
}
