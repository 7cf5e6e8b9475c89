/**
 * mcpmon's version (kept equal to `deno.json`'s by a test).
 *
 * @module
 */

/** The version of this mcpmon. */
export const VERSION = "0.1.0";
