/**
 * `mcpmon setup <client>`: writes (or prints) an MCP client's config entry
 * that runs a server through mcpmon, with absolute paths; wraps an existing
 * entry (`--wrap`) and undoes that (`--restore`). The file as it was is kept
 * in `<file>.mcpmon-backup` before each write.
 *
 * Each client's shape:
 *
 * | client           | file                                                | key          | entry                                  |
 * | ---------------- | --------------------------------------------------- | ------------ | -------------------------------------- |
 * | `claude-code`    | `.mcp.json` in the project                          | `mcpServers` | `{"type": "stdio", command, args}`     |
 * | `claude-desktop` | `claude_desktop_config.json` (per platform)         | `mcpServers` | `{command, args}`                      |
 * | `cursor`         | `~/.cursor/mcp.json`, or `.cursor/mcp.json` project | `mcpServers` | `{command, args}`                      |
 * | `vscode`         | `.vscode/mcp.json` in the workspace                 | `servers`    | `{"type": "stdio", command, args}`     |
 *
 * @module
 */
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from "node:fs";
import { homedir } from "node:os";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import process from "node:process";
import type { ControlOutput } from "./control.ts";

import { SETUP_CLIENTS, type SetupClient } from "./help.ts";

export { SETUP_CLIENTS, type SetupClient };

/** What `mcpmon setup` was asked to do. */
export interface SetupRequest {
  /** The client whose config is written. */
  client: SetupClient;
  /** The entry's name. */
  name: string;
  /** Print the entry instead of writing the file. */
  print: boolean;
  /** Cursor: the project's `.cursor/mcp.json` instead of `~/.cursor/mcp.json`. */
  project: boolean;
  /** mcpmon's options for the entry (before `--`), as given. */
  mcpmonArgs: string[];
  /** The server command and its arguments (empty with `wrap`/`restore`). */
  command: string[];
  /** The directory relative paths are resolved against. */
  cwd: string;
  /** The config file to write instead of the client's usual one. */
  file?: string;
  /** Run this existing entry through mcpmon. */
  wrap?: string;
  /** Undo `wrap` on this entry. */
  restore?: string;
}

/** An entry in a client's config. */
export type Entry = Record<string, unknown> & { command?: unknown; args?: unknown };

/** Where to find things on this machine. */
export interface SetupEnvironment {
  /** Environment variables. */
  env(name: string): string | undefined;
  /** The platform (default: this one). */
  platform?: string;
}

/**
 * The config file of `client`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const env = (name: string) => name === "HOME" ? "/home/me" : undefined;
 * assert.equal(configFile("vscode", "/home/me/proj", false, { env }), "/home/me/proj/.vscode/mcp.json");
 * assert.equal(configFile("cursor", "/home/me/proj", false, { env }), "/home/me/.cursor/mcp.json");
 * assert.equal(
 *   configFile("claude-desktop", "/", false, { env, platform: "darwin" }),
 *   "/home/me/Library/Application Support/Claude/claude_desktop_config.json",
 * );
 * ```
 */
export function configFile(
  client: SetupClient,
  cwd: string,
  project: boolean,
  where: SetupEnvironment,
): string {
  const home = () => where.env("HOME") || where.env("USERPROFILE") || homedir();
  switch (client) {
    case "claude-code":
      return join(cwd, ".mcp.json");
    case "vscode":
      return join(cwd, ".vscode", "mcp.json");
    case "cursor":
      return project ? join(cwd, ".cursor", "mcp.json") : join(home(), ".cursor", "mcp.json");
    case "claude-desktop": {
      const platform = where.platform ?? process.platform;
      const file = "claude_desktop_config.json";
      if (platform === "darwin") {
        return join(home(), "Library", "Application Support", "Claude", file);
      }
      if (platform === "win32") {
        return join(where.env("APPDATA") ?? join(home(), "AppData", "Roaming"), "Claude", file);
      }
      const config = where.env("XDG_CONFIG_HOME");
      return join(config && isAbsolute(config) ? config : join(home(), ".config"), "Claude", file);
    }
  }
}

/**
 * The key under which `client` keeps its servers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(serversKey("vscode"), "servers");
 * assert.equal(serversKey("cursor"), "mcpServers");
 * ```
 */
export function serversKey(client: SetupClient): "servers" | "mcpServers" {
  return client === "vscode" ? "servers" : "mcpServers";
}

/** Options of mcpmon whose value is a path (made absolute in an entry). */
const PATH_OPTIONS = new Set(["-w", "--watch", "-l", "--log-file", "--trace"]);

/** mcpmon's options with path values made absolute against `cwd`. */
function absoluteOptions(args: readonly string[], cwd: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const eq = a.indexOf("=");
    if (a.startsWith("--") && eq !== -1 && PATH_OPTIONS.has(a.slice(0, eq))) {
      out.push(`${a.slice(0, eq)}=${resolve(cwd, a.slice(eq + 1))}`);
    } else if (PATH_OPTIONS.has(a) && i + 1 < args.length) {
      out.push(a, resolve(cwd, args[++i]));
    } else out.push(a);
  }
  return out;
}

function watches(args: readonly string[]): boolean {
  return args.some((a) => a === "-w" || a === "--watch" || a.startsWith("--watch="));
}

/**
 * The entry that runs `command` through mcpmon for `client`: relative paths
 * (the command when it is a path, arguments naming existing files, mcpmon's
 * path options) made absolute, and `--watch <cwd>` added when no watch path
 * is given, since clients start servers elsewhere (Claude Desktop in `/`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(newEntry("claude-desktop", [], ["python", "-u", "/srv/app/server.py"], "/srv/app"), {
 *   command: "mcpmon",
 *   args: ["--watch", "/srv/app", "--", "python", "-u", "/srv/app/server.py"],
 * });
 * ```
 */
export function newEntry(
  client: SetupClient,
  mcpmonArgs: readonly string[],
  command: readonly string[],
  cwd: string,
): Entry {
  const [program, ...args] = command;
  const server = [
    program.includes("/") ? resolve(cwd, program) : program,
    ...args.map((a) =>
      !a.startsWith("-") && !isAbsolute(a) && existsSync(resolve(cwd, a)) ? resolve(cwd, a) : a
    ),
  ];
  const options = absoluteOptions(mcpmonArgs, cwd);
  if (!watches(options)) options.push("--watch", cwd);
  return shaped(client, { command: "mcpmon", args: [...options, "--", ...server] });
}

function shaped(client: SetupClient, entry: Entry): Entry {
  return client === "vscode" || client === "claude-code" ? { type: "stdio", ...entry } : entry;
}

/** Whether an entry already runs through mcpmon. */
function isWrapped(entry: Entry): boolean {
  return typeof entry.command === "string" &&
    /^mcpmon(\.(cmd|exe))?$/.test(basename(entry.command)) &&
    Array.isArray(entry.args) && entry.args.includes("--");
}

/**
 * An existing entry run through mcpmon: its command and arguments go after
 * `mcpmon [options] --`; everything else (env, cwd, type) stays. Without a
 * watch option, mcpmon watches the entry's `cwd`, else the directory of its
 * first argument that is an existing absolute path, else `fallbackDir`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const wrapped = wrapEntry({ command: "node", args: ["/"], env: { A: "1" } }, [], "/proj");
 * assert.deepEqual(wrapped, {
 *   command: "mcpmon",
 *   args: ["--watch", "/", "--", "node", "/"],
 *   env: { A: "1" },
 * });
 * ```
 */
export function wrapEntry(entry: Entry, mcpmonArgs: readonly string[], fallbackDir: string): Entry {
  if (typeof entry.command !== "string" || entry.command === "") {
    throw new SetupError(
      typeof entry.url === "string"
        ? "it is an HTTP server (url); mcpmon runs stdio servers"
        : "it has no command",
    );
  }
  if (isWrapped(entry)) throw new SetupError("it already runs through mcpmon");
  const args = Array.isArray(entry.args) ? entry.args.map(String) : [];
  const cwd = typeof entry.cwd === "string" ? resolve(fallbackDir, entry.cwd) : undefined;
  const options = absoluteOptions(mcpmonArgs, cwd ?? fallbackDir);
  if (!watches(options)) {
    const script = args.find((a) => isAbsolute(a) && existsSync(a));
    const dir = cwd ?? (script !== undefined ? dirname(script) : fallbackDir);
    options.push("--watch", dir);
  }
  return { ...entry, command: "mcpmon", args: [...options, "--", entry.command, ...args] };
}

/**
 * Undoes {@linkcode wrapEntry}: the entry runs what follows mcpmon's `--`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(
 *   restoreEntry({ command: "mcpmon", args: ["--watch", "/p", "--", "node", "/p/i.js"], env: {} }),
 *   { command: "node", args: ["/p/i.js"], env: {} },
 * );
 * ```
 */
export function restoreEntry(entry: Entry): Entry {
  if (!isWrapped(entry)) throw new SetupError("it does not run through mcpmon");
  const args = (entry.args as unknown[]).map(String);
  const i = args.indexOf("--");
  if (i === args.length - 1) throw new SetupError("it has no command after mcpmon's --");
  return { ...entry, command: args[i + 1], args: args.slice(i + 2) };
}

/** A reason `mcpmon setup` cannot do what it was asked (exit 1). */
export class SetupError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "SetupError";
  }
}

/**
 * Runs `mcpmon setup`: prints or writes the entry. Resolves with the exit
 * code: 0 done, 1 the file cannot be read, parsed or written, or the entry
 * to wrap or restore is missing or not of the right kind.
 *
 * @example
 * ```ts ignore
 * setupCommand(request, out, (name) => Deno.env.get(name));
 * ```
 */
export function setupCommand(
  request: SetupRequest,
  out: ControlOutput,
  env: (name: string) => string | undefined,
): number {
  const file = request.file ?? configFile(request.client, request.cwd, request.project, { env });
  const key = serversKey(request.client);
  let doc: Record<string, unknown> = {};
  let existed = false;
  try {
    const text = readFileSync(file, "utf8");
    existed = true;
    if (text.trim() !== "") doc = JSON.parse(text);
    if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
      throw new SyntaxError("not a JSON object");
    }
  } catch (err) {
    if ((err as { code?: string }).code !== "ENOENT") {
      out.stderr(
        `cannot read ${file}: ${err instanceof Error ? err.message : err}` +
          (err instanceof SyntaxError
            ? " (comments are not supported; fix or edit it by hand)"
            : "") +
          "\n",
      );
      return 1;
    }
  }
  const servers = (doc[key] ?? {}) as Record<string, Entry>;
  if (typeof servers !== "object" || Array.isArray(servers)) {
    out.stderr(`${file}: "${key}" is not an object\n`);
    return 1;
  }
  const name = request.name;
  let entry: Entry;
  let did: string;
  try {
    if (request.wrap !== undefined || request.restore !== undefined) {
      const existing = Object.hasOwn(servers, name) ? servers[name] : undefined;
      if (existing === undefined) {
        const names = Object.keys(servers);
        throw new SetupError(
          `no entry "${name}" in ${file}` +
            (names.length > 0
              ? ` (entries: ${names.join(", ")})`
              : existed
              ? ""
              : " (no such file)"),
        );
      }
      const fallback =
        request.client === "claude-desktop" || (request.client === "cursor" && !request.project)
          ? request.cwd
          : projectDir(request.client, file);
      entry = request.wrap !== undefined
        ? wrapEntry(existing, withName(request.mcpmonArgs, name), fallback)
        : restoreEntry(existing);
      did = request.wrap !== undefined
        ? "now runs through mcpmon"
        : "runs its server directly again";
    } else {
      const args = withName(request.mcpmonArgs, name);
      entry = newEntry(request.client, args, request.command, request.cwd);
      did = Object.hasOwn(servers, name) ? "replaced" : "added";
    }
  } catch (err) {
    if (!(err instanceof SetupError)) throw err;
    const what = request.wrap !== undefined ? "wrap" : "restore";
    out.stderr(`cannot ${what} "${name}": ${err.message}\n`);
    return 1;
  }
  if (request.print) {
    out.stdout(JSON.stringify({ [key]: { [name]: entry } }, null, 2) + "\n");
    return 0;
  }
  const next = { ...doc, [key]: { ...servers, [name]: entry } };
  const backup = `${file}.mcpmon-backup`;
  try {
    mkdirSync(dirname(file), { recursive: true });
    if (existed) copyFileSync(file, backup);
    const tmp = `${file}.mcpmon-${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(next, null, 2) + "\n");
    renameSync(tmp, file);
  } catch (err) {
    out.stderr(`cannot write ${file}: ${err instanceof Error ? err.message : err}\n`);
    return 1;
  }
  out.stdout(
    `"${name}" ${did} in ${file}${existed ? ` (the file as it was: ${backup})` : ""}\n` +
      `${RELOAD_HINT[request.client]}\n`,
  );
  return 0;
}

/** mcpmon's options with `--name <entry name>` first, unless they name it already. */
function withName(args: readonly string[], name: string): string[] {
  const named = args.some((a) => a === "-n" || a === "--name" || a.startsWith("--name="));
  return named ? [...args] : ["--name", name, ...args];
}

/** The directory a project-level config belongs to. */
function projectDir(client: SetupClient, file: string): string {
  return client === "claude-code" ? dirname(file) : dirname(dirname(file));
}

const RELOAD_HINT: Record<SetupClient, string> = {
  "claude-code": "Claude Code reads it when it starts in this directory (approve the server once).",
  "claude-desktop": "Restart Claude Desktop to load it.",
  cursor: "Cursor picks it up in Settings > MCP (toggle the server if it does not).",
  vscode: "VS Code shows it in the MCP servers list (Start it there).",
};
