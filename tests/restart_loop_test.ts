import assert from "node:assert/strict";
import { RestartLoopGuard } from "../src/restart_loop.ts";
import { ManualClock } from "../testing/manual_clock.ts";

const change = (path: string) => ({ kind: "modify", path });

/** One restart cycle: the batch is filtered, a restart runs for `ms`, and settles. */
function cycle(guard: RestartLoopGuard, clock: ManualClock, paths: string[], ms = 150) {
  const verdict = guard.filter(paths.map(change));
  if (verdict.changes.length > 0) {
    guard.started();
    clock.advance(ms);
    guard.settled();
  }
  return verdict;
}

Deno.test("a path written right after each restart is taken for a loop and left out", () => {
  const clock = new ManualClock(10_000);
  const guard = new RestartLoopGuard({}, clock);
  const verdicts = [];
  for (let i = 0; i < 6; i++) {
    verdicts.push(cycle(guard, clock, ["/app/state.json"]));
    clock.advance(40); // the server writes its file 40 ms after it is ready
  }
  assert.deepEqual(verdicts.map((v) => v.changes.length), [1, 1, 1, 0, 0, 0]);
  assert.deepEqual(verdicts[3].looping, ["/app/state.json"]);
  assert.equal(verdicts[4].looping, undefined, "reported once");
  assert.deepEqual(guard.muted, ["/app/state.json"]);
});

Deno.test("changes during a running restart (its build) count toward a loop", () => {
  const clock = new ManualClock();
  const guard = new RestartLoopGuard({ repeats: 2 }, clock);
  guard.started(); // a build that runs long and writes dist/ twice
  assert.equal(guard.filter([change("/app/dist/a.js")]).changes.length, 1);
  clock.advance(5000);
  assert.deepEqual(guard.filter([change("/app/dist/a.js")]).looping, ["/app/dist/a.js"]);
});

Deno.test("a person saving the same file at a normal pace is never taken for a loop", () => {
  const clock = new ManualClock();
  const guard = new RestartLoopGuard({}, clock);
  for (let i = 0; i < 20; i++) {
    assert.equal(cycle(guard, clock, ["/app/server.py"]).changes.length, 1, `save #${i + 1}`);
    clock.advance(1200); // the next save, a second or more after the reload
  }
});

Deno.test("other paths still count while a looping path is left out", () => {
  const clock = new ManualClock();
  const guard = new RestartLoopGuard({ repeats: 2 }, clock);
  cycle(guard, clock, ["/app/cache.json"]);
  cycle(guard, clock, ["/app/cache.json"]);
  assert.deepEqual(cycle(guard, clock, ["/app/cache.json"]).looping, ["/app/cache.json"]);
  const mixed = guard.filter([change("/app/cache.json"), change("/app/server.py")]);
  assert.deepEqual(mixed.changes.map((c) => c.path), ["/app/server.py"]);
});

Deno.test("a looping path changed at a quiet time counts again", () => {
  const clock = new ManualClock();
  const guard = new RestartLoopGuard({ repeats: 2 }, clock);
  cycle(guard, clock, ["/app/cache.json"]);
  cycle(guard, clock, ["/app/cache.json"]);
  cycle(guard, clock, ["/app/cache.json"]);
  assert.deepEqual(guard.muted, ["/app/cache.json"]);
  clock.advance(10_000);
  assert.equal(guard.filter([change("/app/cache.json")]).changes.length, 1);
  assert.deepEqual(guard.muted, []);
});

Deno.test("track() counts a restart as running until its promise settles", async () => {
  const clock = new ManualClock();
  const guard = new RestartLoopGuard({ repeats: 2 }, clock);
  const done = Promise.withResolvers<void>();
  const tracked = guard.track(done.promise);
  clock.advance(60_000);
  guard.filter([change("/a")]);
  assert.deepEqual(guard.filter([change("/a")]).looping, ["/a"], "still running: suspect");
  done.resolve();
  await tracked;
});
