/**
 * {@linkcode FileQueries} over `node:fs`, for Node and Bun, and the default of those who are given
 * none (tests, embedders): it loads `node:fs` on its first question, through the `process`
 * global's `getBuiltinModule` (Node >= 20.16, Bun, Deno), not with this module. Deno's own answers
 * are in `deno.ts`.
 *
 * @module
 */
import type * as NodeFs from "node:fs";
import type { FileQueries } from "./mod.ts";

/** The part of `node:fs` {@linkcode nodeFileQueries} uses. */
export type NodeFsQueries = Pick<
  typeof NodeFs,
  "accessSync" | "constants" | "readdirSync" | "readFileSync" | "statSync"
>;

/**
 * The answers of `node:fs`, as `fs()` gives it (called at each question, so that it can load the
 * module on the first).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as fs from "node:fs";
 * assert.equal(nodeFileQueries(() => fs).kind("/"), "directory");
 * ```
 */
export function nodeFileQueries(fs: () => NodeFsQueries): FileQueries {
  return {
    kind(path) {
      const { statSync } = fs();
      try {
        const stat = statSync(path);
        return stat.isFile() ? "file" : stat.isDirectory() ? "directory" : "other";
      } catch {
        return undefined;
      }
    },
    executable(path) {
      const { accessSync, constants } = fs();
      try {
        accessSync(path, constants.X_OK);
        return true;
      } catch {
        return false;
      }
    },
    readDir: (path) => fs().readdirSync(path),
    readText: (path) => fs().readFileSync(path, "utf8"),
  };
}

let loaded: NodeFsQueries | undefined;

/**
 * `node:fs`'s answers, `node:fs` loaded on the first question.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(portableFiles.kind("/no/such/file"), undefined);
 * ```
 */
export const portableFiles: FileQueries = nodeFileQueries(() => loaded ??= loadFs());

function loadFs(): NodeFsQueries {
  const process = (globalThis as { process?: { getBuiltinModule?(id: string): unknown } }).process;
  const fs = process?.getBuiltinModule?.("node:fs") as NodeFsQueries | undefined;
  if (fs === undefined) {
    throw new Error(
      "mcpmon: this runtime has no process.getBuiltinModule (Node < 20.16?): pass FileQueries",
    );
  }
  return fs;
}
