/**
 * Options for one supervised server and for the process as a whole, with
 * their defaults.
 *
 * @module
 */

import type { SpawnOptions } from "./runtime/mod.ts";

/** Log verbosity, from least to most. */
export type LogLevel = "error" | "info" | "verbose" | "debug";

/** How one backend server is run and watched. */
export interface ServerOptions {
  /** Name used in logs (and, later, status and gateway prefixes). */
  name: string;
  /**
   * Program to run. Empty only with {@linkcode ServerOptions.url}: a server
   * someone else runs, reached at the URL.
   */
  command: string;
  /**
   * The server speaks Streamable HTTP at this `http:`/`https:` URL (`--url`,
   * a gateway entry's `url:`): mcpmon runs `command` (if any) and connects
   * there instead of using the process's stdio (`src/http_backend.ts`).
   */
  url?: string;
  /**
   * Headers sent with every request to {@linkcode ServerOptions.url}
   * (`--header`, a gateway entry's `headers:`), `${VAR}` already expanded;
   * their values never appear in logs or errors.
   */
  headers?: Record<string, string>;
  /** Its arguments. */
  args: string[];
  /** Working directory of the server; mcpmon's own when absent. */
  cwd?: string;
  /** Extra environment variables for the server. */
  env?: Record<string, string>;
  /** Paths to watch (files or directories); empty means no watching. */
  watch: string[];
  /** File extensions (without dot) that trigger a restart; empty means every file. */
  extensions: string[];
  /** Globs of paths to ignore (a pattern without `/` matches any path segment). */
  ignore: string[];
  /** Whether the project's `.gitignore` and `.ignore` files apply too (default true). */
  ignoreFiles: boolean;
  /** Quiet period after the last change before restarting, in ms. */
  debounceMs: number;
  /** Time between SIGTERM and SIGKILL, and the longest wait for in-flight requests to drain, in ms. */
  graceMs: number;
  /** Longest wait for the server's `initialize` response, in ms. */
  initTimeoutMs: number;
  /** How a server that crashes mid-session is restarted on its own (default {@linkcode DEFAULT_CRASH_BACKOFF}). */
  crashBackoff: CrashBackoff;
  /** Shell command run before each start (the old server keeps serving meanwhile); absent or empty: no build. */
  build?: string;
  /** Offer the injected `restart_server` tool (default true; `--no-restart-tool` turns it off). */
  restartTool: boolean;
  /** Offer `mcpmon_list_tools` and `mcpmon_call_tool` (`--call-through`; default false). */
  callThrough: boolean;
  /** Remove the cached bytecode of changed `.py` files before each restart (default true). */
  clearPycache: boolean;
  /** Least time between two restarts, in ms (default {@linkcode DEFAULT_MIN_RESTART_INTERVAL_MS}). */
  minRestartIntervalMs: number;
  /** Longest message accepted from the server, in bytes (default {@linkcode DEFAULT_MAX_MESSAGE_BYTES}). */
  maxMessageBytes: number;
}

/**
 * Longest JSON-RPC message (one line) mcpmon accepts from the client or a
 * server, in bytes: 128 MiB, twice the 64 MB promised to pass intact. A longer
 * one is refused with an error instead of growing memory without bound.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(DEFAULT_MAX_MESSAGE_BYTES, 128 * 1024 * 1024);
 * ```
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 128 * 1024 * 1024;

/**
 * Default least time between two starts of a server, in ms.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(DEFAULT_MIN_RESTART_INTERVAL_MS, 300);
 * ```
 */
export const DEFAULT_MIN_RESTART_INTERVAL_MS = 300;

/** Automatic restarts after crashes: exponential backoff within a window. */
export interface CrashBackoff {
  /** Crashes older than this (ms) no longer count. */
  windowMs: number;
  /** More crashes than this within the window: stop restarting on our own. */
  maxCrashes: number;
  /** Wait (ms) before the first automatic restart; doubles with each further crash. */
  baseDelayMs: number;
  /** The longest wait (ms). */
  maxDelayMs: number;
}

/**
 * Default crash backoff: 250 ms doubling to 8 s; give up after more than 5 crashes in 60 s.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(DEFAULT_CRASH_BACKOFF.baseDelayMs, 250);
 * ```
 */
export const DEFAULT_CRASH_BACKOFF: CrashBackoff = {
  windowMs: 60_000,
  maxCrashes: 5,
  baseDelayMs: 250,
  maxDelayMs: 8_000,
};

/** Options that concern mcpmon itself. */
export interface LogOptions {
  /** Lowest level written. */
  level: LogLevel;
  /** Prefix lines with the time of day. */
  timestamps: boolean;
  /** Also append log lines to this file. */
  logFile?: string;
  /** Append every JSON-RPC message, both directions, to this file as JSON lines (`--trace`). */
  trace?: string;
}

/**
 * Default extensions: Python and JavaScript/TypeScript sources.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.ok(DEFAULT_EXTENSIONS.includes("py") && DEFAULT_EXTENSIONS.includes("ts"));
 * ```
 */
export const DEFAULT_EXTENSIONS: readonly string[] = [
  "py",
  "js",
  "mjs",
  "cjs",
  "ts",
  "mts",
  "cts",
  "jsx",
  "tsx",
];

/**
 * Paths ignored unless the user says otherwise.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.ok(DEFAULT_IGNORE.includes("node_modules"));
 * ```
 */
export const DEFAULT_IGNORE: readonly string[] = [
  ".git",
  "node_modules",
  "__pycache__",
  ".venv",
  "venv",
  ".mypy_cache",
  ".pytest_cache",
  ".ruff_cache",
  ".tox",
  "*.pyc",
  "*.swp",
  "*~",
  ".#*",
  ".DS_Store",
  // Build outputs: a build that writes where mcpmon watches would restart forever.
  "dist",
  "build",
  "out",
  ".next",
  "target",
  "coverage",
  "*.tsbuildinfo",
];

/**
 * Default debounce in ms: short enough to feel instant, long enough to fold a burst.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(DEFAULT_DEBOUNCE_MS, 100);
 * ```
 */
export const DEFAULT_DEBOUNCE_MS = 100;
/**
 * Default SIGTERM→SIGKILL grace period in ms.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(DEFAULT_GRACE_MS, 2000);
 * ```
 */
export const DEFAULT_GRACE_MS = 2000;
/**
 * Default time a server has to answer `initialize`, in ms.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(DEFAULT_INIT_TIMEOUT_MS, 30_000);
 * ```
 */
export const DEFAULT_INIT_TIMEOUT_MS = 30_000;

/**
 * Parses extension lists as users write them: comma-separated, repeatable,
 * leading dots ignored, case-insensitive; `*` or `all` means every file
 * (returns `[]`). Returns `undefined` when no extension is named at all.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(parseExtensionList(["py,.JSON", "ts"]), ["py", "json", "ts"]);
 * assert.deepEqual(parseExtensionList(["*"]), []);
 * assert.equal(parseExtensionList([" , "]), undefined);
 * ```
 */
export function parseExtensionList(values: readonly string[]): string[] | undefined {
  const out = new Set<string>();
  for (const value of values) {
    for (const part of value.split(",")) {
      const ext = part.trim().replace(/^\.+/, "").toLowerCase();
      if (ext === "*" || ext === "all") return [];
      if (ext !== "") out.add(ext);
    }
  }
  return out.size === 0 ? undefined : [...out];
}

/** What a source of server options (the CLI, a config file) says; the rest gets its default. */
export type ServerFields =
  & Pick<ServerOptions, "name" | "command" | "watch">
  & Partial<Omit<ServerOptions, "name" | "command" | "watch" | "ignore">>
  & {
    /** Ignore globs added to {@linkcode DEFAULT_IGNORE}. */
    extraIgnore?: readonly string[];
  };

/**
 * Completes `fields` into {@linkcode ServerOptions}: absent fields take their
 * defaults, extra ignores are added to the default ones, and a blank build
 * command means no build. The one place the defaults are applied.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const server = serverOptions({ name: "api", command: "node", watch: ["/app"], debounceMs: 50 });
 * assert.equal(server.debounceMs, 50);
 * assert.equal(server.graceMs, DEFAULT_GRACE_MS);
 * ```
 */
export function serverOptions(fields: ServerFields): ServerOptions {
  const { extraIgnore, build, ...given } = fields;
  const stated = Object.fromEntries(
    Object.entries(given).filter(([, value]) => value !== undefined),
  ) as Partial<ServerOptions>;
  const server: ServerOptions = {
    name: fields.name,
    command: fields.command,
    watch: fields.watch,
    args: [],
    extensions: [...DEFAULT_EXTENSIONS],
    ignore: [...DEFAULT_IGNORE, ...(extraIgnore ?? [])],
    debounceMs: DEFAULT_DEBOUNCE_MS,
    graceMs: DEFAULT_GRACE_MS,
    initTimeoutMs: DEFAULT_INIT_TIMEOUT_MS,
    crashBackoff: DEFAULT_CRASH_BACKOFF,
    restartTool: true,
    callThrough: false,
    clearPycache: true,
    ignoreFiles: true,
    maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
    minRestartIntervalMs: DEFAULT_MIN_RESTART_INTERVAL_MS,
    ...stated,
  };
  if (build !== undefined && build.trim() !== "") server.build = build;
  return server;
}

/**
 * How `server`'s process is spawned: its command, arguments, directory and
 * environment, the watchdog's grace and, for a server reached at a URL, the
 * connection. The one place a server's {@linkcode SpawnOptions} are made:
 * every start of a backend, and the command line's start before the proxy's
 * modules load (`src/early_spawn.ts`), which is taken only when the two agree.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const server = serverOptions({ name: "api", command: "node", args: ["server.js"], watch: [] });
 * assert.deepEqual(spawnOptions(server), {
 *   command: "node",
 *   args: ["server.js"],
 *   cwd: undefined,
 *   env: undefined,
 *   watchdogGraceMs: DEFAULT_GRACE_MS,
 * });
 * ```
 */
export function spawnOptions(server: ServerOptions): SpawnOptions {
  const { command, args, cwd, env, url } = server;
  return {
    command,
    args,
    cwd,
    env,
    watchdogGraceMs: server.graceMs,
    ...(url !== undefined
      ? {
        http: {
          url,
          connectTimeoutMs: server.initTimeoutMs,
          maxMessageBytes: server.maxMessageBytes,
          headers: server.headers,
        },
      }
      : {}),
  };
}
