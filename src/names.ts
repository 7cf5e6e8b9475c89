/**
 * Gateway naming: tools and prompts of several servers exposed as
 * `<server><separator><name>`, shortened deterministically past a length
 * budget, with collisions reported and resolved; routing by lookup table,
 * never by splitting names.
 *
 * @module
 */

/** Default separator: Claude's and OpenAI's APIs only accept `^[a-zA-Z0-9_-]{1,64}$` in tool names. */
export const DEFAULT_SEPARATOR = "__";
/** Default longest name as the model receives it (the model APIs accept 64 characters). */
export const DEFAULT_NAME_BUDGET = 64;
/** The least room {@linkcode exposedBudget} leaves for an exposed name, however long the prefix. */
export const MIN_EXPOSED_BUDGET = 16;

/**
 * What a client puts before the gateway's tool names by default: Claude Code
 * exposes tool `t` of its MCP entry `gateway` as `mcp__gateway__t`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(defaultClientPrefix("gateway"), "mcp__gateway__");
 * ```
 */
export function defaultClientPrefix(gatewayName: string): string {
  return `mcp__${gatewayName}__`;
}

/**
 * The longest name the gateway may expose so that the client's prefix plus
 * the name fit `nameBudget`: `nameBudget - clientPrefix.length`, but never
 * less than {@linkcode MIN_EXPOSED_BUDGET} (nor more than `nameBudget`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(exposedBudget(64, "mcp__gateway__"), 50);
 * assert.equal(exposedBudget(64, ""), 64);
 * assert.equal(exposedBudget(64, "x".repeat(60)), 16);
 * ```
 */
export function exposedBudget(nameBudget: number, clientPrefix: string): number {
  const room = nameBudget - clientPrefix.length;
  return room >= MIN_EXPOSED_BUDGET ? room : Math.min(nameBudget, MIN_EXPOSED_BUDGET);
}

/**
 * A short, stable hash (FNV-1a, 32 bit, base 36, 7 characters).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(shortHash("a"), shortHash("a"));
 * assert.equal(shortHash("a").length, 7);
 * ```
 */
export function shortHash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(36).padStart(7, "0").slice(-7);
}

/**
 * The name a server's tool or prompt is exposed under. Past `budget`
 * characters it is shortened, the server part first (down to 8 characters:
 * the tool's own name means more to a model), and ends in `_` plus a hash of
 * server and name, so it is the same across restarts and distinct for
 * distinct inputs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(exposedName("api", "search", "__", 64), "api__search");
 * const long = exposedName("api", "x".repeat(100), "__", 64);
 * assert.equal(long.length, 64);
 * assert.equal(long, exposedName("api", "x".repeat(100), "__", 64));
 * ```
 */
export function exposedName(
  server: string,
  name: string,
  separator: string,
  budget: number,
): string {
  const full = `${server}${separator}${name}`;
  if (full.length <= budget) return full;
  return withHash(server, name, separator, budget, `${server}\u0000${name}`);
}

/** `<server><sep><name>` cut to fit `budget`, ending in `_<hash of key>`: the server part goes first. */
function withHash(
  server: string,
  name: string,
  separator: string,
  budget: number,
  key: string,
): string {
  const suffix = `_${shortHash(key)}`;
  const room = budget - suffix.length;
  let head = `${server}${separator}${name}`;
  if (head.length > room) {
    const serverRoom = Math.max(Math.min(server.length, 8), room - separator.length - name.length);
    const shortServer = server.slice(0, serverRoom);
    const nameRoom = Math.max(0, room - shortServer.length - separator.length);
    head = `${shortServer}${separator}${name.slice(0, nameRoom)}`;
  }
  return (head + suffix).slice(-budget);
}

/** Where an exposed name leads. */
export interface Owner {
  /** The server's name. */
  server: string;
  /** The name on that server. */
  name: string;
}

/**
 * Assigns exposed names to the items of several servers and routes them
 * back. Built anew whenever a list changes; `warn` hears of each collision
 * once per table.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const table = new NameTable("__", 64);
 * const exposed = table.add("api", "search");
 * assert.equal(exposed, "api__search");
 * assert.deepEqual(table.route("api__search"), { server: "api", name: "search" });
 * ```
 */
export class NameTable {
  readonly #routes = new Map<string, Owner>();
  readonly #separator: string;
  readonly #budget: number;
  readonly #warn: (message: string) => void;

  /** A table for one kind of name (tools, or prompts). */
  constructor(separator: string, budget: number, warn: (message: string) => void = () => {}) {
    this.#separator = separator;
    this.#budget = budget;
    this.#warn = warn;
  }

  /**
   * Names `name` of `server`; returns the exposed name. On a collision the
   * first owner keeps the name and this one gets a hashed variant; both are named.
   */
  add(server: string, name: string): string {
    const exposed = exposedName(server, name, this.#separator, this.#budget);
    const taken = this.#routes.get(exposed);
    if (!taken) {
      this.#routes.set(exposed, { server, name });
      return exposed;
    }
    const alternative = withHash(
      server,
      name,
      this.#separator,
      this.#budget,
      `${server}\u0000${name}\u0000dup`,
    );
    this.#warn(
      `name collision: "${exposed}" is both ${taken.server}'s "${taken.name}" and ${server}'s "${name}"; ` +
        `the second is exposed as "${alternative}"`,
    );
    this.#routes.set(alternative, { server, name });
    return alternative;
  }

  /** The owner of an exposed name. */
  route(exposed: string): Owner | undefined {
    return this.#routes.get(exposed);
  }
}
