/**
 * Filtered, debounced file changes from the runtime's recursive watch.
 *
 * @module
 */
import { basename, extname, relative, sep } from "node:path";
import { ignoreMatcher } from "./glob.ts";
import type { FsWatch } from "./runtime/mod.ts";

/** What to watch and which changes count. */
export interface WatchOptions {
  /** Absolute paths (directories or files) to watch recursively. */
  paths: string[];
  /** Extensions (without dot, any case) that count; empty means every file. */
  extensions: string[];
  /** Ignore globs, matched relative to the watch root (see `matchesAnyGlob`). */
  ignore: string[];
  /** Quiet period after the last relevant event before reporting, in ms. */
  debounceMs: number;
}

/** One changed path in a batch. */
export interface Change {
  /** The last kind of event seen for the path in this batch. */
  kind: "create" | "modify" | "remove" | "rename" | "other";
  /** Absolute path. */
  path: string;
}

/**
 * Turns the raw events of a recursive watch into batches of relevant
 * changes: paths with a watched extension that no ignore pattern matches,
 * reported once things have been quiet for `debounceMs` (a trailing
 * debounce), one entry per path.
 *
 * Events of kind `"other"` (such as the access event that follows a write)
 * count, but never replace a more specific kind already seen for the same
 * path in the batch.
 *
 * @example
 * ```ts ignore
 * import { denoRuntime } from "./runtime/deno.ts";
 * const watcher = new Watcher(
 *   denoRuntime.watch,
 *   { paths: ["/srv/app/src"], extensions: ["py"], ignore: ["__pycache__"], debounceMs: 100 },
 *   (changes) => console.error(`${changes.length} file(s) changed`),
 *   (err) => console.error("watch failed:", err),
 * );
 * watcher.start();
 * // later
 * watcher.close();
 * ```
 */
export class Watcher {
  readonly #watch: (paths: readonly string[]) => FsWatch;
  readonly #options: WatchOptions;
  readonly #onChanges: (changes: Change[]) => void;
  readonly #onError: (err: unknown) => void;
  readonly #extensions: ReadonlySet<string>;
  readonly #ignored: (relPath: string) => boolean;
  #fsWatch: FsWatch | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #pending = new Map<string, Change["kind"]>();
  #closed = false;

  /**
   * Creates a watcher; nothing is watched until {@linkcode Watcher.start}.
   *
   * @param watch Starts a recursive watch (normally `runtime.watch`).
   * @param options What to watch and which changes count.
   * @param onChanges Called with each batch of changes.
   * @param onError Called when the watch fails while running (or `onChanges` throws).
   */
  constructor(
    watch: (paths: readonly string[]) => FsWatch,
    options: WatchOptions,
    onChanges: (changes: Change[]) => void,
    onError: (err: unknown) => void = () => {},
  ) {
    this.#watch = watch;
    this.#options = options;
    this.#onChanges = onChanges;
    this.#onError = onError;
    this.#extensions = new Set(options.extensions.map((e) => e.replace(/^\.+/, "").toLowerCase()));
    this.#ignored = ignoreMatcher(options.ignore);
  }

  /**
   * Starts watching. Throws what the watch function throws (for example when
   * a path does not exist), or when already started or closed.
   *
   * @example
   * ```ts ignore
   * watcher.start();
   * ```
   */
  start(): void {
    if (this.#closed) throw new Error("Watcher is closed");
    if (this.#fsWatch) throw new Error("Watcher is already started");
    const fsWatch = this.#watch(this.#options.paths);
    this.#fsWatch = fsWatch;
    this.#consume(fsWatch);
  }

  /**
   * Stops the underlying watch and drops any batch not yet reported. Safe to
   * call more than once.
   *
   * @example
   * ```ts ignore
   * watcher.close();
   * ```
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#pending.clear();
    this.#fsWatch?.close();
  }

  async #consume(fsWatch: FsWatch): Promise<void> {
    try {
      for await (const event of fsWatch) {
        if (this.#closed) break;
        for (const path of event.paths) this.#add(path, event.kind);
      }
    } catch (err) {
      if (!this.#closed) this.#onError(err);
    }
  }

  #add(path: string, kind: Change["kind"]): void {
    if (!this.#relevant(path)) return;
    const previous = this.#pending.get(path);
    if (kind !== "other" || previous === undefined) this.#pending.set(path, kind);
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#flush(), this.#options.debounceMs);
  }

  #flush(): void {
    this.#timer = undefined;
    const changes = [...this.#pending].map(([path, kind]) => ({ kind, path }));
    this.#pending.clear();
    if (changes.length === 0 || this.#closed) return;
    try {
      this.#onChanges(changes);
    } catch (err) {
      this.#onError(err);
    }
  }

  #relevant(path: string): boolean {
    if (this.#extensions.size > 0) {
      const ext = extname(path).slice(1).toLowerCase();
      if (!this.#extensions.has(ext)) return false;
    }
    return !this.#ignored(this.#relativeToRoot(path));
  }

  /** `path` relative to the (deepest) watch root containing it, `/`-separated. */
  #relativeToRoot(path: string): string {
    let best: string | undefined;
    for (const root of this.#options.paths) {
      const inside = path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
      if (inside && (best === undefined || root.length > best.length)) best = root;
    }
    // A watched file is its own root; a path outside every root (which a
    // watch should not report) is matched on all its segments.
    const rel = best === undefined
      ? path.replace(/^[/\\]+/, "")
      : path === best
      ? basename(path)
      : relative(best, path);
    return sep === "/" ? rel : rel.split(sep).join("/");
  }
}
