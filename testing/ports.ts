/**
 * Ports on this machine for the specs: one nothing listens on right now.
 *
 * @module
 */

/**
 * A port on 127.0.0.1 that nothing listens on right now (the system picks
 * it; it may be taken again before it is used, as with any such probe).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const port = freePort();
 * assert.ok(port > 0 && port < 65536);
 * ```
 */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}
