/**
 * One mechanism for pacing a server's starts: restarts spaced by a minimum
 * interval, and after failures an exponential backoff, on an injected clock.
 *
 * @module
 */
import {
  type CrashBackoff,
  DEFAULT_CRASH_BACKOFF,
  DEFAULT_MIN_RESTART_INTERVAL_MS,
} from "./config.ts";
import { type Clock, systemClock } from "./runtime/mod.ts";

/**
 * Paces starts: at least `minIntervalMs` between two restarts (the first
 * restart after launch is never held back), and after failures (crashes,
 * failed starts) within the window an exponential backoff counted from the
 * last failure, so a loop slows down while a person's fix, seconds later,
 * starts at once. Past `maxCrashes` failures in the window, a crashed server
 * is not restarted on its own ({@linkcode Throttle.givesUp}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * const clock = new ManualClock(1000);
 * const throttle = new Throttle({ minIntervalMs: 300 }, clock);
 * assert.equal(throttle.wait(), 0); // the first restart is never held back
 * throttle.restarted();
 * clock.advance(100);
 * assert.equal(throttle.wait(), 200);
 * throttle.failed();
 * assert.equal(throttle.backoff(), 250); // after one failure: the base delay
 * ```
 */
export class Throttle {
  readonly #minIntervalMs: number;
  readonly #backoff: CrashBackoff;
  readonly #clock: Clock;
  /** When recent failures happened (clock time). */
  #failures: number[] = [];
  #lastRestartAt: number | undefined;

  /** Options default to {@linkcode DEFAULT_MIN_RESTART_INTERVAL_MS} and {@linkcode DEFAULT_CRASH_BACKOFF}. */
  constructor(
    options: { minIntervalMs?: number; crashBackoff?: CrashBackoff } = {},
    clock: Clock = systemClock,
  ) {
    this.#minIntervalMs = options.minIntervalMs ?? DEFAULT_MIN_RESTART_INTERVAL_MS;
    this.#backoff = options.crashBackoff ?? DEFAULT_CRASH_BACKOFF;
    this.#clock = clock;
  }

  /** How long the next start must wait, in ms (0: now). */
  wait(): number {
    const now = this.#clock.now();
    let wait = this.#lastRestartAt === undefined
      ? 0
      : this.#minIntervalMs - (now - this.#lastRestartAt);
    const failures = this.#recent(now);
    if (failures.length > 0) wait = Math.max(wait, this.backoff() - (now - failures.at(-1)!));
    return Math.max(0, wait);
  }

  /** A restart (not the first start) begins now. */
  restarted(): void {
    this.#lastRestartAt = this.#clock.now();
  }

  /** A start failed, or the server crashed, now. */
  failed(): void {
    this.#failures.push(this.#clock.now());
  }

  /** Failures within the window. */
  get recentFailures(): number {
    return this.#recent(this.#clock.now()).length;
  }

  /** The backoff after the failures in the window: base × 2^(n−1), at most the maximum. */
  backoff(): number {
    const n = this.recentFailures;
    if (n === 0) return 0;
    return Math.min(this.#backoff.baseDelayMs * 2 ** (n - 1), this.#backoff.maxDelayMs);
  }

  /** Whether too many failures came within the window to restart a crashed server on its own. */
  givesUp(): boolean {
    return this.recentFailures > this.#backoff.maxCrashes;
  }

  /** The crash window and its limit, for messages. */
  get limits(): { windowMs: number; maxCrashes: number } {
    return { windowMs: this.#backoff.windowMs, maxCrashes: this.#backoff.maxCrashes };
  }

  #recent(now: number): number[] {
    this.#failures = this.#failures.filter((t) => now - t < this.#backoff.windowMs);
    return this.#failures;
  }
}
