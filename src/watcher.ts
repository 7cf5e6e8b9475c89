/**
 * Filtered, debounced file changes under the watched paths.
 *
 * The runtime only watches single directories ({@linkcode FsWatch}); this
 * module walks each watched tree, watches every directory that is not
 * ignored (so `node_modules`, build outputs, `.gitignore`d trees and Python
 * virtual environments cost nothing), follows directories as they are
 * created and removed, and turns the raw events into batches of relevant
 * changes.
 *
 * @module
 */
import { readdir } from "node:fs/promises";
import { statSync } from "node:fs";
import { basename, dirname, extname, join, sep } from "node:path";
import { IGNORE_FILES, IgnoreRules } from "./ignore_rules.ts";
export { missingWatchPaths } from "./watch_paths.ts";
import { type Clock, type FsWatch, systemClock } from "./runtime/mod.ts";

/** What to watch and which changes count. */
export interface WatchOptions {
  /** Absolute paths (directories or files) to watch; directories with everything below them. */
  paths: string[];
  /** Extensions (without dot, any case) that count; empty means every file. */
  extensions: string[];
  /** Ignore globs, matched relative to the watch root (see `matchesAnyGlob`). */
  ignore: string[];
  /** Quiet period after the last relevant event before reporting, in ms. */
  debounceMs: number;
  /** Whether the project's `.gitignore` and `.ignore` files apply (default true). */
  ignoreFiles?: boolean;
  /** Warn when more directories than this are watched (default {@linkcode LARGE_TREE_DIRECTORIES}). */
  warnAtDirectories?: number;
}

/** One changed path in a batch. */
export interface Change {
  /** The last kind of event seen for the path in this batch. */
  kind: "create" | "modify" | "remove" | "rename" | "other";
  /** Absolute path. */
  path: string;
}

/** What the watcher tells besides changes. */
export interface WatcherEvents {
  /** The first walk is done: how many directories are watched. */
  onReady?(summary: { directories: number }): void;
  /** Something the user should know (a watched directory vanished, a large tree). */
  onWarning?(message: string): void;
  /** Something worth a line at the info level (a vanished directory is back). */
  onInfo?(message: string): void;
}

/** How often a watch path that was removed is looked for, besides its parent's events, in ms. */
const MISSING_POLL_MS = 500;

/** Past this many watched directories, the watcher warns that the tree is large. */
export const LARGE_TREE_DIRECTORIES = 5000;

/**
 * Turns the events of a directory watch into batches of relevant changes:
 * paths with a watched extension that no ignore rule matches, reported once
 * things have been quiet for `debounceMs` (a trailing debounce), one entry per
 * path. A file named as a watch path always counts, whatever its extension.
 *
 * - Every directory under a watched directory is watched on its own, except
 *   ignored ones, which are never entered. A directory created later is
 *   walked when it appears, and the files already in it count as created
 *   (a `git checkout` writes them faster than a watch can be armed).
 * - A watched file is watched through its directory, so an editor's atomic
 *   save (write a temporary file, rename it over the original) is seen
 *   every time.
 * - A watched path that is removed is waited for: its nearest existing
 *   parent is watched until it comes back, then it is walked again and
 *   counts as changed. `onWarning` says so while it is gone.
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
  readonly #watch: () => FsWatch;
  readonly #options: WatchOptions;
  readonly #onChanges: (changes: Change[]) => void;
  readonly #onError: (err: unknown) => void;
  readonly #events: WatcherEvents;
  readonly #clock: Clock;
  readonly #extensions: ReadonlySet<string>;
  #rules!: IgnoreRules;
  #fsWatch: FsWatch | undefined;
  #timer: unknown;
  #pending = new Map<string, Change["kind"]>();
  #closed = false;
  /** Watched directories that belong to a watched tree. */
  #tree = new Set<string>();
  /** Watched directories that only stand in for a watched file or a missing watch path. */
  #anchors = new Set<string>();
  /** Watch paths that are files. */
  #fileRoots = new Set<string>();
  /** Watch paths that are directories. */
  #dirRoots = new Set<string>();
  /** Directory watch paths that do not exist now. */
  #missing = new Set<string>();
  /** Looks for missing watch paths now and then, in case their creation was missed. */
  #missingPoll: unknown;

  /**
   * Creates a watcher; nothing is watched until {@linkcode Watcher.start}.
   *
   * @param watch Starts a directory watch (normally `runtime.watch`).
   * @param options What to watch and which changes count.
   * @param onChanges Called with each batch of changes.
   * @param onError Called when the watch fails while running (or `onChanges` throws).
   * @param events Progress and warnings; `clock` for the debounce (virtual time in tests).
   */
  constructor(
    watch: () => FsWatch,
    options: WatchOptions,
    onChanges: (changes: Change[]) => void,
    onError: (err: unknown) => void = () => {},
    events: WatcherEvents & { clock?: Clock } = {},
  ) {
    this.#watch = watch;
    this.#options = options;
    this.#onChanges = onChanges;
    this.#onError = onError;
    this.#events = events;
    this.#clock = events.clock ?? systemClock;
    this.#extensions = new Set(options.extensions.map((e) => e.replace(/^\.+/, "").toLowerCase()));
  }

  /** How many directories are watched now. */
  get directories(): number {
    return this.#fsWatch?.size ?? 0;
  }

  /**
   * Starts watching and walks the watched directories in the background
   * (`onReady` tells when the walk is done). Throws when a watch path does
   * not exist or cannot be watched, or when already started or closed.
   *
   * @example
   * ```ts ignore
   * watcher.start();
   * ```
   */
  start(): void {
    if (this.#closed) throw new Error("Watcher is closed");
    if (this.#fsWatch) throw new Error("Watcher is already started");
    for (const path of this.#options.paths) {
      if (statSync(path).isDirectory()) this.#dirRoots.add(path);
      else this.#fileRoots.add(path);
    }
    this.#rules = new IgnoreRules(this.#options.paths, this.#options.ignore, {
      ignoreFiles: this.#options.ignoreFiles,
    });
    const fsWatch = this.#watch();
    this.#fsWatch = fsWatch;
    try {
      for (const root of this.#dirRoots) fsWatch.add(root);
      this.#rearm();
    } catch (err) {
      this.close();
      throw err;
    }
    this.#consume(fsWatch);
    Promise.all([...this.#dirRoots].map((root) => this.#walk(root, false)))
      .then(() => {
        if (this.#closed) return;
        const directories = this.directories;
        if (directories > (this.#options.warnAtDirectories ?? LARGE_TREE_DIRECTORIES)) {
          this.#events.onWarning?.(
            `watching ${directories} directories under ${this.#options.paths.join(", ")}; ` +
              "name the source directories with --watch, or add --ignore patterns",
          );
        }
        this.#events.onReady?.({ directories });
      });
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
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    if (this.#missingPoll !== undefined) this.#clock.clearTimeout(this.#missingPoll);
    this.#timer = undefined;
    this.#missingPoll = undefined;
    this.#pending.clear();
    this.#fsWatch?.close();
  }

  async #consume(fsWatch: FsWatch): Promise<void> {
    try {
      for await (const event of fsWatch) {
        if (this.#closed) break;
        for (const path of event.paths) this.#event(path, event.kind);
      }
    } catch (err) {
      if (!this.#closed) this.#onError(err);
    }
  }

  #event(path: string, kind: Change["kind"]): void {
    const watch = this.#fsWatch!;
    const parent = dirname(path);
    if (this.#tree.has(path) && (kind === "remove" || !exists(path))) {
      this.#forgetTree(path);
      if (this.#dirRoots.has(path)) this.#lost(path);
      this.#add(path, "remove");
      return;
    }
    if (this.#anchors.has(path) && kind === "remove") {
      this.#anchors.delete(path);
      watch.remove(path);
      this.#rearm();
      return;
    }
    if (this.#anchors.has(parent) || this.#anchors.has(path)) this.#rearm();
    if (this.#fileRoots.has(path)) {
      this.#add(path, kind);
      return;
    }
    if (!this.#tree.has(parent)) return;
    if (IGNORE_FILES.includes(basename(path))) {
      this.#rules.load(parent);
      return;
    }
    if (kind !== "remove" && !this.#tree.has(path) && isDirectory(path)) {
      if (!this.#rules.ignores(path, true)) this.#walk(path, true);
      return;
    }
    if (this.#relevant(path)) this.#add(path, kind);
  }

  /**
   * Watches `dir` and every directory below it that is not ignored; with
   * `report`, the files found count as created (they appeared with a new
   * directory, or with a watch path that came back).
   */
  async #walk(dir: string, report: boolean): Promise<void> {
    const queue = [dir];
    while (queue.length > 0 && !this.#closed) {
      const current = queue.shift()!;
      if (this.#tree.has(current)) continue;
      try {
        this.#fsWatch!.add(current);
      } catch (err) {
        if (!exists(current)) continue; // gone meanwhile
        this.#onError(watchFailure(current, err));
        return;
      }
      this.#tree.add(current);
      let entries;
      try {
        entries = await readdir(current, { withFileTypes: true });
      } catch {
        continue; // removed meanwhile; its removal is reported by its parent
      }
      if (this.#closed) return;
      this.#rules.load(current, new Set(entries.map((e) => e.name)));
      for (const entry of entries) {
        const path = join(current, entry.name);
        if (entry.isDirectory()) {
          if (!this.#rules.ignores(path, true)) queue.push(path);
        } else if (report && (entry.isFile() || entry.isSymbolicLink()) && this.#relevant(path)) {
          this.#add(path, "create");
        }
      }
    }
  }

  /** Stops watching `dir` and every watched directory below it. */
  #forgetTree(dir: string) {
    const prefix = dir.endsWith(sep) ? dir : dir + sep;
    for (const watched of [...this.#tree]) {
      if (watched === dir || watched.startsWith(prefix)) {
        this.#tree.delete(watched);
        this.#fsWatch!.remove(watched);
      }
    }
  }

  /** A directory watch path was removed: wait for it through its parent. */
  #lost(root: string) {
    this.#missing.add(root);
    this.#events.onWarning?.(
      `watched directory ${root} was removed; changes are not seen until it is back`,
    );
    this.#rearm();
  }

  /**
   * Watches, for each watched file and each missing watch path, its nearest
   * existing parent directory; walks a missing path that is back.
   */
  #rearm() {
    if (this.#closed) return;
    const watch = this.#fsWatch!;
    this.#found();
    const wanted = new Set<string>();
    for (const path of [...this.#fileRoots, ...this.#missing]) {
      let dir = dirname(path);
      while (!isDirectory(dir) && dirname(dir) !== dir) dir = dirname(dir);
      wanted.add(dir);
    }
    for (const dir of this.#anchors) {
      if (!wanted.has(dir)) {
        this.#anchors.delete(dir);
        if (!this.#tree.has(dir)) watch.remove(dir);
      }
    }
    for (const dir of wanted) {
      if (this.#anchors.has(dir)) continue;
      try {
        watch.add(dir);
        this.#anchors.add(dir);
      } catch (err) {
        if (exists(dir)) throw watchFailure(dir, err);
      }
    }
    // A path created before its parent's watch was armed sends no event: look once more, and
    // now and then while anything is missing.
    this.#found();
    if (this.#missing.size > 0) {
      this.#missingPoll ??= this.#clock.setTimeout(() => {
        this.#missingPoll = undefined;
        this.#rearm();
      }, MISSING_POLL_MS);
    }
  }

  /** Walks each missing watch path that exists again. */
  #found() {
    for (const root of [...this.#missing]) {
      if (isDirectory(root)) {
        this.#missing.delete(root);
        this.#events.onInfo?.(`watched directory ${root} is back`);
        this.#walk(root, true);
      }
    }
  }

  #add(path: string, kind: Change["kind"]): void {
    const previous = this.#pending.get(path);
    if (kind !== "other" || previous === undefined) this.#pending.set(path, kind);
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = this.#clock.setTimeout(() => this.#flush(), this.#options.debounceMs);
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
    if (this.#fileRoots.has(path)) return true;
    if (this.#extensions.size > 0) {
      const ext = extname(path).slice(1).toLowerCase();
      if (!this.#extensions.has(ext)) return false;
    }
    return !this.#rules.ignores(path, false);
  }
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** A watch that could not be added, with what to do about the usual cause. */
function watchFailure(dir: string, err: unknown): Error {
  const code = (err as { code?: string }).code;
  const message = err instanceof Error ? err.message : String(err);
  if (code === "ENOSPC" || /no space left|watch limit/i.test(message)) {
    return new Error(
      `cannot watch ${dir}: the system's limit of file watches is reached ` +
        "(fs.inotify.max_user_watches); narrow --watch, add --ignore patterns, or raise the limit",
    );
  }
  return new Error(`cannot watch ${dir}: ${message}`);
}
