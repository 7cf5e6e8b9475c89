/**
 * The check of watch paths made before a server starts ({@linkcode missingWatchPaths}), apart from
 * the watcher itself (`watcher.ts`, with the ignore rules): mcpmon loads the watcher only once its
 * server is spawned and the client is being read.
 *
 * @module
 */
import { portableFiles } from "./runtime/files.ts";
import type { FileQueries } from "./runtime/mod.ts";

/**
 * The one rule for watch paths, in both modes: each must exist when a server
 * starts watching (a path removed later is waited for). Returns an error
 * naming each missing one (`labelled`: with its server's name, as the gateway
 * says it), or `undefined`. `files`: how to look (default: `node:fs`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const servers = [{ name: "api", watch: ["/no/such/dir"] }];
 * assert.equal(
 *   missingWatchPaths(servers, true),
 *   'server "api": the watch path /no/such/dir does not exist (fix --watch, or create it)',
 * );
 * assert.equal(missingWatchPaths([{ name: "api", watch: [] }], false), undefined);
 * ```
 */
export function missingWatchPaths(
  servers: readonly { name: string; watch: readonly string[] }[],
  labelled: boolean,
  files: FileQueries = portableFiles,
): string | undefined {
  const lines: string[] = [];
  for (const server of servers) {
    for (const path of server.watch) {
      if (files.kind(path) === undefined) {
        lines.push(
          `${labelled ? `server "${server.name}": ` : ""}` +
            `the watch path ${path} does not exist (fix --watch, or create it)`,
        );
      }
    }
  }
  return lines.length > 0 ? lines.join("\n") : undefined;
}
