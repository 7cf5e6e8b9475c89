/**
 * The gateway configuration as data: its shape ({@linkcode GatewayConfig}),
 * its error ({@linkcode ConfigError}) and how two of them differ
 * ({@linkcode diffConfigs}). The file parser, which needs the YAML library,
 * is `gateway_config.ts`; this module needs none, so `mod.ts` exports these
 * without loading YAML at every start of mcpmon.
 *
 * @module
 */
import type { ServerOptions } from "./config.ts";

/**
 * A loaded gateway configuration.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadGatewayConfig } from "./gateway_config.ts";
 * const config: GatewayConfig = loadGatewayConfig(
 *   "/etc/mcpmon.yaml",
 *   "separator: '-'\nservers:\n  a: {command: a}\n  b: {command: b, disabled: true}\n",
 *   { cwd: "/", env: () => undefined },
 * );
 * assert.deepEqual(config.servers.map((s) => s.name), ["a"]);
 * assert.deepEqual(config.disabled, ["b"]);
 * assert.equal(config.separator, "-");
 * assert.equal(config.path, "/etc/mcpmon.yaml");
 * ```
 */
export interface GatewayConfig {
  /** The enabled servers, in file order. */
  servers: ServerOptions[];
  /** Names of the servers marked `disabled: true`, in file order. */
  disabled: string[];
  /** Text between a server's name and its tools' and prompts' names. */
  separator: string;
  /**
   * Longest tool or prompt name as the model receives it, the client's prefix
   * ({@linkcode GatewayConfig.clientPrefix}) included; longer ones are shortened.
   */
  nameBudget: number;
  /**
   * What the client puts before each tool name (Claude Code: `mcp__<entry>__`);
   * undefined: the default, `mcp__<gateway name>__`. `""` for none.
   */
  clientPrefix?: string;
  /** Offer `mcpmon_list_tools` and `mcpmon_call_tool` (`callThrough: true`). */
  callThrough: boolean;
  /** Absolute path of the configuration file. */
  path: string;
  /**
   * What was skipped, as `file:line:col: message` (an SSE server, or one
   * that needs headers or OAuth: mcpmon runs stdio servers and Streamable HTTP
   * ones it reaches by `url` alone).
   */
  warnings: string[];
}

/**
 * Where the configuration is read from: the directory and environment of mcpmon.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadGatewayConfig } from "./gateway_config.ts";
 * const base: ConfigBase = { cwd: "/proj", env: (name) => (name === "HOME" ? "/home/me" : undefined) };
 * const config = loadGatewayConfig("gw.yaml", "servers: {a: {command: a, watch: ~/src}}", base);
 * assert.deepEqual(config.servers[0].watch, ["/home/me/src"]);
 * ```
 */
export interface ConfigBase {
  /** Directory a relative config path is resolved against. */
  cwd: string;
  /**
   * Environment lookup: `HOME` (else `USERPROFILE`) expands `~`; any variable
   * expands `${VAR}` and `${VAR:-default}` in `command`, `args`, `env` and
   * `cwd`.
   */
  env: (name: string) => string | undefined;
}

/**
 * One problem in a configuration file.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadGatewayConfig } from "./gateway_config.ts";
 * try {
 *   loadGatewayConfig("g.yaml", "servers:\n  a: {command: a, debounce: -1}\n", {
 *     cwd: "/",
 *     env: () => undefined,
 *   });
 *   assert.fail("expected an error");
 * } catch (err) {
 *   assert.ok(err instanceof ConfigError);
 *   const issue: ConfigIssue = err.issues[0];
 *   assert.deepEqual([issue.line, issue.col], [2, 29]);
 *   assert.match(issue.message, /debounce must be a non-negative integer/);
 * }
 * ```
 */
export interface ConfigIssue {
  /** Line, from 1. */
  line: number;
  /** Column, from 1. */
  col: number;
  /** What is wrong, without the position. */
  message: string;
}

/** At most this many problems are listed in a {@linkcode ConfigError}'s message. */
const MAX_LISTED = 10;

/**
 * An invalid configuration file. Its `message` has one line per problem
 * (at most ten), each `<file>:<line>:<col>: <what is wrong>`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadGatewayConfig } from "./gateway_config.ts";
 * const base = { cwd: "/proj", env: () => undefined };
 * assert.throws(
 *   () => loadGatewayConfig(".mcpmon.yaml", "servers:\n  api:\n    comand: x\n", base),
 *   (err: unknown) =>
 *     err instanceof ConfigError &&
 *     err.message ===
 *       ".mcpmon.yaml:3:5: unknown key servers.api.comand; did you mean `command`?",
 * );
 * ```
 */
export class ConfigError extends Error {
  /** The configuration file, as given to {@linkcode loadGatewayConfig}. */
  readonly file: string;
  /** Every problem found, in file order. */
  readonly issues: readonly ConfigIssue[];

  /**
   * Creates a configuration error.
   *
   * @param file The configuration file, as the user named it.
   * @param issues The problems, at least one.
   */
  constructor(file: string, issues: readonly ConfigIssue[]) {
    const lines = issues.slice(0, MAX_LISTED).map((i) =>
      `${file}:${i.line}:${i.col}: ${i.message}`
    );
    if (issues.length > MAX_LISTED) {
      const next = issues[MAX_LISTED];
      lines.push(
        `${file}:${next.line}:${next.col}: and ${issues.length - MAX_LISTED} more problems`,
      );
    }
    super(lines.join("\n"));
    this.name = "ConfigError";
    this.file = file;
    this.issues = issues;
  }
}

/**
 * A canonical JSON text of a server definition: object keys sorted, arrays
 * in order, no environment the same as an empty one, a blank build the same
 * as none. Two definitions are
 * the same exactly when their canonical texts are equal, whatever the order
 * of keys in the file.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadGatewayConfig } from "./gateway_config.ts";
 * const base = { cwd: "/proj", env: () => undefined };
 * const a = loadGatewayConfig("a.yaml", "servers:\n  s: {command: x, env: {A: '1', B: '2'}}", base);
 * const b = loadGatewayConfig("a.yaml", "servers:\n  s: {env: {B: '2', A: '1'}, command: x}", base);
 * assert.equal(canonicalServer(a.servers[0]), canonicalServer(b.servers[0]));
 * ```
 *
 * @param server A server definition.
 * @returns Its canonical JSON text.
 */
export function canonicalServer(server: ServerOptions): string {
  const normalized: ServerOptions = {
    ...server,
    env: server.env ?? {},
    build: server.build?.trim() ? server.build : undefined,
  };
  return JSON.stringify(sortKeys(normalized));
}

/**
 * How two configurations differ, by server name; each list in file order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadGatewayConfig } from "./gateway_config.ts";
 * const base = { cwd: "/", env: () => undefined };
 * const old = loadGatewayConfig("g.yaml", "servers: {a: {command: a}}", base);
 * const next = loadGatewayConfig("g.yaml", "servers: {a: {command: a, disabled: true}}", base);
 * const diff: ConfigDiff = diffConfigs(old, next);
 * assert.deepEqual(diff.removed, ["a"]);
 * ```
 */
export interface ConfigDiff {
  /** Servers only in the new configuration (including ones no longer disabled). */
  added: string[];
  /** Servers only in the old configuration (including ones now disabled). */
  removed: string[];
  /** Servers in both whose definition changed (all of them when `separator` or `nameBudget` did). */
  changed: string[];
  /** Servers in both with the same definition. */
  unchanged: string[];
}

/**
 * Compares two configurations by server name, with
 * {@linkcode canonicalServer}: what a config reload must start, stop,
 * restart, or leave alone. Only enabled servers count. A change of
 * `separator` or `nameBudget` renames every tool, so it marks every server
 * present in both as changed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadGatewayConfig } from "./gateway_config.ts";
 * const base = { cwd: "/proj", env: () => undefined };
 * const old = loadGatewayConfig("g.yaml", "servers: {a: {command: x}, b: {command: y}}", base);
 * const next = loadGatewayConfig("g.yaml", "servers: {b: {command: z}, c: {command: w}}", base);
 * assert.deepEqual(diffConfigs(old, next), {
 *   added: ["c"],
 *   removed: ["a"],
 *   changed: ["b"],
 *   unchanged: [],
 * });
 * ```
 *
 * @param old The configuration running now.
 * @param next The configuration to switch to.
 * @returns The names added, removed, changed and unchanged.
 */
export function diffConfigs(old: GatewayConfig, next: GatewayConfig): ConfigDiff {
  const before = new Map(old.servers.map((s) => [s.name, s]));
  const after = new Set(next.servers.map((s) => s.name));
  const renamesAll = old.separator !== next.separator || old.nameBudget !== next.nameBudget ||
    old.clientPrefix !== next.clientPrefix;
  const diff: ConfigDiff = { added: [], removed: [], changed: [], unchanged: [] };
  for (const server of next.servers) {
    const previous = before.get(server.name);
    if (previous === undefined) diff.added.push(server.name);
    else if (renamesAll || canonicalServer(previous) !== canonicalServer(server)) {
      diff.changed.push(server.name);
    } else diff.unchanged.push(server.name);
  }
  diff.removed = old.servers.filter((s) => !after.has(s.name)).map((s) => s.name);
  return diff;
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}
