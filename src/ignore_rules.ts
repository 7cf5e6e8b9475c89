/**
 * Which paths under the watched roots do not count: mcpmon's ignore globs
 * (defaults plus `--ignore`), the project's own `.gitignore` and `.ignore`
 * files (as watchexec does), and Python virtual environments.
 *
 * @module
 */
import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, join, relative, sep } from "node:path";
import ignore, { type Ignore } from "ignore";
import { ignoreMatcher } from "./glob.ts";

/** The ignore files read in each directory, in order (later ones win). */
export const IGNORE_FILES: readonly string[] = [".gitignore", ".ignore"];

/**
 * Whether `dir` is a Python virtual environment (it holds a `pyvenv.cfg`,
 * whatever it is called) or a `site-packages` directory: code that belongs
 * to dependencies, never watched.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(isPythonEnvironment("/app/lib/python3.11/site-packages"), true);
 * assert.equal(isPythonEnvironment("/no/such/dir"), false);
 * ```
 */
export function isPythonEnvironment(dir: string): boolean {
  const name = basename(dir);
  return name === "site-packages" || name === "dist-packages" ||
    existsSync(join(dir, "pyvenv.cfg"));
}

/**
 * The ignore rules of a set of watch roots. Globs are matched relative to the
 * deepest root holding a path (see `ignoreMatcher` in `glob.ts`); ignore files
 * relative to their own directory, with git's precedence (a deeper file and
 * a later line win; `!pattern` re-includes). With `ignoreFiles`, the ignore
 * files of the directories above a root, up to the enclosing git work tree
 * (and its `.git/info/exclude`), apply too.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const rules = new IgnoreRules(["/app"], ["node_modules", "*.pyc"], { ignoreFiles: false });
 * assert.equal(rules.ignores("/app/node_modules", true), true);
 * assert.equal(rules.ignores("/app/src/main.py", false), false);
 * ```
 */
export class IgnoreRules {
  readonly #roots: readonly string[];
  readonly #globs: (relPath: string) => boolean;
  readonly #ignoreFiles: boolean;
  /** Directory → the rules of its ignore files (absent: none there). */
  readonly #scopes = new Map<string, Ignore>();

  /**
   * @param roots Absolute watch roots (directories or files).
   * @param globs mcpmon's ignore globs.
   * @param options `ignoreFiles`: read `.gitignore`/`.ignore` files (default true).
   */
  constructor(
    roots: readonly string[],
    globs: readonly string[],
    options: { ignoreFiles?: boolean } = {},
  ) {
    this.#roots = roots;
    this.#globs = ignoreMatcher(globs);
    this.#ignoreFiles = options.ignoreFiles ?? true;
    if (this.#ignoreFiles) { for (const root of roots) this.#loadAncestors(root); }
  }

  /**
   * Reads (again) the ignore files of `dir`; call it for each directory
   * walked and when one of its ignore files changes. `entries`, the names in
   * `dir` when the caller has listed it, saves looking for absent files.
   */
  load(dir: string, entries?: ReadonlySet<string>): void {
    if (!this.#ignoreFiles) return;
    const rules = ignore({ allowRelativePaths: true });
    let found = false;
    for (const name of IGNORE_FILES) {
      if (entries !== undefined && !entries.has(name)) continue;
      const text = readText(join(dir, name));
      if (text !== undefined) {
        rules.add(text);
        found = true;
      }
    }
    const exclude = entries === undefined || entries.has(".git")
      ? readText(join(dir, ".git", "info", "exclude"))
      : undefined;
    if (exclude !== undefined) {
      rules.add(exclude);
      found = true;
    }
    if (found) this.#scopes.set(dir, rules);
    else this.#scopes.delete(dir);
  }

  /**
   * Whether `path` (absolute) is ignored; `isDir` says whether it is a
   * directory (`dir/` patterns match directories only).
   */
  ignores(path: string, isDir: boolean): boolean {
    const root = this.#rootOf(path);
    if (root !== undefined && path !== root) {
      const rel = toSlashes(relative(root, path));
      if (this.#globs(rel)) return true;
    } else if (root === undefined && this.#globs(basename(path))) return true;
    if (isDir && isPythonEnvironment(path)) return true;
    if (this.#scopes.size === 0) return false;
    // From the outermost directory with rules to the innermost: the last opinion wins.
    let ignored = false;
    const chain: string[] = [];
    for (let dir = dirname(path);; dir = dirname(dir)) {
      if (this.#scopes.has(dir)) chain.push(dir);
      if (dirname(dir) === dir) break;
    }
    for (let i = chain.length - 1; i >= 0; i--) {
      const rel = toSlashes(relative(chain[i], path)) + (isDir ? "/" : "");
      const verdict = this.#scopes.get(chain[i])!.test(rel);
      if (verdict.ignored) ignored = true;
      else if (verdict.unignored) ignored = false;
    }
    return ignored;
  }

  /** The deepest root that is `path` or holds it. */
  #rootOf(path: string): string | undefined {
    let best: string | undefined;
    for (const root of this.#roots) {
      const inside = path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
      if (inside && (best === undefined || root.length > best.length)) best = root;
    }
    return best;
  }

  /** Loads the ignore files from the enclosing git work tree down to `root`'s parent. */
  #loadAncestors(root: string) {
    const chain: string[] = [];
    for (let dir = dirname(root);; dir = dirname(dir)) {
      chain.push(dir);
      if (existsSync(join(dir, ".git")) || dirname(dir) === dir) break;
    }
    // No git work tree above: only the root's own ignore files count.
    if (!existsSync(join(chain.at(-1)!, ".git"))) return;
    for (const dir of chain) this.load(dir);
  }
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

function toSlashes(path: string): string {
  return sep === "/" ? path : path.split(sep).join("/");
}
