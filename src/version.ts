/**
 * mcpmon's version (kept equal to `deno.json`'s by a test).
 *
 * @module
 */

/**
 * The version of this mcpmon.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.match(VERSION, /^\d+\.\d+\.\d+/);
 * ```
 */
export const VERSION = "0.1.0";
