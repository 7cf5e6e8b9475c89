/**
 * Detects restart loops caused by mcpmon's own restarts: a server that writes
 * into its watched directory when it starts, or a build whose output lands
 * where mcpmon watches. Either restarts forever with no edit.
 *
 * @module
 */
import { type Clock, systemClock } from "./runtime/mod.ts";

/** How a {@linkcode RestartLoopGuard} decides. */
export interface LoopGuardOptions {
  /**
   * A change that comes while a restart (or its build) runs, or within this
   * many ms after it finished, may have been caused by it. Default 500: a
   * server's writes at start arrive well within it, a person's next save
   * rarely does.
   */
  windowMs: number;
  /** How many such restarts in a row, caused by the same paths, make a loop. Default 3. */
  repeats: number;
}

/** What {@linkcode RestartLoopGuard.filter} decided about a batch. */
export interface LoopVerdict<T extends { path: string }> {
  /** The changes to act on (those of the looping paths are left out). */
  changes: T[];
  /** The paths found looping just now (to be reported once). */
  looping?: string[];
}

/**
 * Watches the batches of changes that trigger restarts. When the same paths
 * change right after each of the last `repeats` restarts (or during their
 * builds), with nothing else changing, they are taken as written by the
 * server or the build, and left out of later batches: the loop stops, and the
 * caller reports the paths once. A looping path counts again when it changes
 * at a quiet time (a person saving it), which also heals a false alarm.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * const clock = new ManualClock();
 * const guard = new RestartLoopGuard({}, clock);
 * const batch = [{ path: "/app/state.json" }];
 * for (let i = 0; i < 3; i++) {
 *   assert.equal(guard.filter(batch).changes.length, 1);
 *   guard.started();
 *   clock.advance(100);
 *   guard.settled();
 * }
 * assert.deepEqual(guard.filter(batch), { changes: [], looping: ["/app/state.json"] });
 * ```
 */
export class RestartLoopGuard {
  readonly #options: LoopGuardOptions;
  readonly #clock: Clock;
  #running = 0;
  #settledAt = -Infinity;
  #lastKey = "";
  #streak = 0;
  #muted = new Set<string>();

  /** Options default as documented in {@linkcode LoopGuardOptions}. */
  constructor(options: Partial<LoopGuardOptions> = {}, clock: Clock = systemClock) {
    this.#options = { windowMs: 500, repeats: 3, ...options };
    this.#clock = clock;
  }

  /** The paths left out of batches now. */
  get muted(): string[] {
    return [...this.#muted];
  }

  /** A restart this guard's batches asked for has begun. */
  started(): void {
    this.#running++;
  }

  /** That restart is over (its server serves, or it failed). */
  settled(): void {
    this.#running = Math.max(0, this.#running - 1);
    this.#settledAt = this.#clock.now();
  }

  /** Runs `restart`, counting it as started until its promise settles. */
  track<T>(restart: Promise<T>): Promise<T> {
    this.started();
    return restart.finally(() => this.settled());
  }

  /** Decides which changes of a batch to act on; see the class doc. */
  filter<T extends { path: string }>(changes: T[]): LoopVerdict<T> {
    const suspect = this.#running > 0 ||
      this.#clock.now() - this.#settledAt < this.#options.windowMs;
    if (!suspect) {
      for (const change of changes) this.#muted.delete(change.path);
      this.#streak = 0;
      this.#lastKey = "";
      return { changes };
    }
    const acted = changes.filter((c) => !this.#muted.has(c.path));
    if (acted.length === 0) return { changes: acted };
    const paths = [...new Set(acted.map((c) => c.path))].sort();
    const key = paths.join("\n");
    this.#streak = key === this.#lastKey ? this.#streak + 1 : 1;
    this.#lastKey = key;
    if (this.#streak < this.#options.repeats) return { changes: acted };
    for (const path of paths) this.#muted.add(path);
    this.#streak = 0;
    this.#lastKey = "";
    return { changes: [], looping: paths };
  }
}
