/**
 * Removes the stale Python bytecode of the source files that changed, before
 * the server restarts (as the claude-code-mcp-reload seed clears
 * `__pycache__`, but only where a change happened).
 *
 * Python checks a `.pyc` against its source's modification time in whole
 * seconds and its size, so an edit that keeps the size within the same second
 * runs the old bytecode. Removing the bytecode of each changed `.py` file is
 * enough: nothing else can be stale, and dependencies' caches (a virtualenv's
 * thousands of them) are never touched.
 *
 * @module
 */
import { basename, dirname, extname, join } from "node:path";
import type { ServerOptions } from "./config.ts";

/**
 * True when the server is watched for Python sources: its extensions include
 * `py` (or every file is watched).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(watchesPython({ extensions: ["py", "json"] }), true);
 * assert.equal(watchesPython({ extensions: ["ts"] }), false);
 * ```
 */
export function watchesPython(options: Pick<ServerOptions, "extensions">): boolean {
  return options.extensions.length === 0 || options.extensions.includes("py");
}

/**
 * Removes the bytecode Python cached for each `.py` file in `paths`
 * (`<dir>/__pycache__/<name>.<tag>.pyc`, optimized variants included) and
 * returns the files removed. Other paths are skipped. Errors (a directory
 * vanishing meanwhile, no permission) are skipped too: this is a courtesy,
 * never a failure.
 *
 * @example
 * ```ts ignore
 * const removed = await removeBytecode(["/app/server.py"]);
 * // ["/app/__pycache__/server.cpython-311.pyc"]
 * ```
 */
export async function removeBytecode(paths: readonly string[]): Promise<string[]> {
  const byCache = new Map<string, Set<string>>();
  for (const path of paths) {
    if (extname(path) !== ".py") continue;
    const cache = join(dirname(path), "__pycache__");
    const stems = byCache.get(cache) ?? new Set<string>();
    stems.add(basename(path, ".py"));
    byCache.set(cache, stems);
  }
  const removed: string[] = [];
  if (byCache.size === 0) return removed;
  // Loaded on the first change, not with mcpmon (node:fs costs Deno 10–20 ms to load).
  const { readdir, rm } = await import("node:fs/promises");
  await Promise.all([...byCache].map(async ([cache, stems]) => {
    let names: string[];
    try {
      names = await readdir(cache);
    } catch {
      return; // no cache there
    }
    await Promise.all(names.map(async (name) => {
      if (!stems.has(sourceStem(name) ?? "")) return;
      const file = join(cache, name);
      try {
        await rm(file, { force: true });
        removed.push(file);
      } catch { /* skipped */ }
    }));
  }));
  return removed;
}

/**
 * The module name a cached bytecode file belongs to: `<stem>.<tag>.pyc` or
 * `<stem>.<tag>.opt-N.pyc` (the tag, such as `cpython-311`, has no dot; the
 * stem may).
 */
function sourceStem(name: string): string | undefined {
  if (!name.endsWith(".pyc")) return undefined;
  const tagged = name.slice(0, -".pyc".length).replace(/\.opt-\d*$/, "");
  const dot = tagged.lastIndexOf(".");
  return dot > 0 ? tagged.slice(0, dot) : undefined;
}
