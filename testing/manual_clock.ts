/**
 * A clock for tests: time stands still until the test advances it, and the
 * timers due by then run in order. {@linkcode ManualClock.runUntil} lets
 * virtual time pass while the code under test waits on it.
 *
 * @module
 */
import type { Clock } from "../src/runtime/mod.ts";

/**
 * A {@linkcode Clock} in virtual time.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const clock = new ManualClock();
 * const fired: number[] = [];
 * clock.setTimeout(() => fired.push(clock.now()), 100);
 * clock.advance(99);
 * assert.deepEqual(fired, []);
 * clock.advance(1);
 * assert.deepEqual(fired, [100]);
 * ```
 */
export class ManualClock implements Clock {
  #now: number;
  #timers = new Map<number, { at: number; fn: () => void }>();
  #nextId = 1;

  /** Starts at `start` ms (default 0). */
  constructor(start = 0) {
    this.#now = start;
  }

  /** The virtual time. */
  now(): number {
    return this.#now;
  }

  /** Schedules `fn` at now + `ms`. */
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn });
    return id;
  }

  /** Cancels a timer. */
  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  /** How many timers are pending. */
  get pending(): number {
    return this.#timers.size;
  }

  /** When the next timer falls due; `undefined` when none is pending. */
  get nextDue(): number | undefined {
    let next: number | undefined;
    for (const { at } of this.#timers.values()) if (next === undefined || at < next) next = at;
    return next;
  }

  /**
   * Lets virtual time pass until `promise` settles, and settles as it does:
   * whenever everything else has run (a turn of the real event loop), time
   * jumps to the next pending timer, so timers fire in their order and as if
   * time had passed, at once. Rejects when `promise` is still pending after
   * `limitMs` of virtual time, or after `realMs` of real time (a bug fails
   * the spec in seconds instead of hanging it).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * const clock = new ManualClock();
   * const waited = new Promise<number>((resolve) => {
   *   clock.setTimeout(() => clock.setTimeout(() => resolve(clock.now()), 500), 1000);
   * });
   * assert.equal(await clock.runUntil(waited), 1500);
   * ```
   */
  async runUntil<T>(
    promise: Promise<T>,
    { limitMs = 10 * 60_000, realMs = 5000 }: { limitMs?: number; realMs?: number } = {},
  ): Promise<T> {
    let settled = false;
    const done = promise.then(
      () => void (settled = true),
      () => void (settled = true),
    );
    const deadline = this.#now + limitMs;
    const realDeadline = Date.now() + realMs;
    while (!settled) {
      // A turn of the real event loop: what the code under test does without a timer happens first.
      await new Promise((resolve) => setTimeout(resolve, 0));
      if (settled) break;
      const next = this.nextDue;
      if (next !== undefined && next <= deadline) {
        this.advance(next - this.#now);
      } else if (Date.now() > realDeadline || next !== undefined) {
        throw new Error(
          `still pending after ${this.#now - (deadline - limitMs)} ms of virtual time` +
            (next === undefined ? ` and ${realMs} ms of real time, with no timer pending` : ""),
        );
      }
    }
    await done;
    return await promise;
  }

  /**
   * Lets `ms` of virtual time pass as {@linkcode ManualClock.runUntil} does:
   * the timers due meanwhile fire in order, with turns of the real event loop
   * between them.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * const clock = new ManualClock();
   * let fired = false;
   * clock.setTimeout(() => void Promise.resolve().then(() => fired = true), 30);
   * await clock.tickAsync(50);
   * assert.equal(fired, true);
   * assert.equal(clock.now(), 50);
   * ```
   */
  async tickAsync(ms: number): Promise<void> {
    await this.runUntil(new Promise<void>((resolve) => this.setTimeout(resolve, ms)));
  }

  /** Moves time forward by `ms`, running each timer that falls due, in order. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.#timers) {
        if (entry[1].at <= end && (next === undefined || entry[1].at < next[1].at)) next = entry;
      }
      if (next === undefined) break;
      this.#timers.delete(next[0]);
      this.#now = next[1].at;
      next[1].fn();
    }
    this.#now = end;
  }
}
