/**
 * Removes stale Python bytecode (`__pycache__` directories) under the watched
 * paths before a restart, as the claude-code-mcp-reload seed does.
 *
 * @module
 */
import { readdir, rm, stat } from "node:fs/promises";
import { join, relative } from "node:path";
import type { ServerOptions } from "./config.ts";
import { ignoreMatcher } from "./glob.ts";

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
 * Removes every `__pycache__` directory under `roots`, without descending into
 * ignored directories (`node_modules`, `.venv`, `.git`, …) or following
 * symlinks. Returns the directories removed. Errors (a directory vanishing
 * meanwhile, no permission) are skipped: this is a courtesy, never a failure.
 *
 * @example
 * ```ts ignore
 * const removed = await removePycache(["/app/src"], [".venv", "node_modules"]);
 * ```
 */
export async function removePycache(
  roots: readonly string[],
  ignore: readonly string[],
): Promise<string[]> {
  const ignored = ignoreMatcher(ignore.filter((p) => p !== "__pycache__"));
  const removed: string[] = [];
  const walk = async (root: string, dir: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    await Promise.all(entries.map(async (entry) => {
      if (!entry.isDirectory()) return;
      const path = join(dir, entry.name);
      if (entry.name === "__pycache__") {
        try {
          await rm(path, { recursive: true, force: true });
          removed.push(path);
        } catch { /* skipped */ }
        return;
      }
      if (ignored(relative(root, path))) return;
      await walk(root, path);
    }));
  };
  for (const root of roots) {
    try {
      if ((await stat(root)).isDirectory()) await walk(root, root);
    } catch { /* a watched file, or gone */ }
  }
  return removed;
}
