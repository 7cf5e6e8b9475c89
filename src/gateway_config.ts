/**
 * The gateway's configuration file (`mcpmon --config .mcpmon.yaml`): several
 * servers behind one entry.
 *
 * Two shapes are read, from YAML (1.2) or JSON:
 *
 * ```yaml
 * separator: __        # between a server's name and its tools' names (default __)
 * nameBudget: 64       # longest tool or prompt name as the model gets it, client prefix included
 * clientPrefix: mcp__gateway__  # what the client puts before each name (default mcp__<--name>__)
 * callThrough: false   # add mcpmon_list_tools and mcpmon_call_tool (default false)
 * defaults:            # any server key but command and args
 *   debounce: 200
 * servers:
 *   api:
 *     command: python
 *     args: ["-m", "api_server"]
 *     cwd: ./api                  # relative to the config file's directory
 *     env: { LOG_LEVEL: debug }
 *     watch: [src, ~/lib/shared]  # relative to cwd (else the config's directory)
 *     extensions: py,json         # or a list; "*" or "all" for every file
 *     ignore: ["*.generated.py"]  # added to the default ignores
 *     build: make gen
 *     disabled: false
 *     # also: debounce, grace, initTimeout, minInterval (ms); restartTool, clearPycache,
 *     # ignoreFiles (true/false), maxMessageSize (bytes)
 *   web:                          # a server on Streamable HTTP
 *     url: http://127.0.0.1:3000/mcp
 *     command: pnpm               # optional: mcpmon starts (and restarts) it
 *     args: [dev]
 *     headers: { Authorization: "Bearer ${DEV_TOKEN}" }  # never logged
 * ```
 *
 * and the `mcpServers` form of Claude Code's `.mcp.json` and Claude
 * Desktop's configuration (stdio servers only; mcpmon's own server keys are
 * accepted there too, and `separator`, `defaults`, `nameBudget`, `clientPrefix`,
 * `callThrough` beside it):
 *
 * ```json
 * { "mcpServers": { "api": { "command": "python", "args": ["-m", "api_server"] } } }
 * ```
 *
 * Loading is pure: the caller reads the file. Every problem is reported as
 * `<file>:<line>:<col>: <what is wrong>`.
 *
 * @module
 */
import { dirname, join, resolve } from "node:path";
import { editDistance } from "./command.ts";
import {
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  Parser,
  visit,
} from "yaml";
import { parseExtensionList, type ServerOptions, serverOptions } from "./config.ts";
import { DEFAULT_NAME_BUDGET, DEFAULT_SEPARATOR } from "./names.ts";
import { headerProblem, parseHttpUrl } from "./http_headers.ts";

export { DEFAULT_NAME_BUDGET, DEFAULT_SEPARATOR } from "./names.ts";
import {
  type ConfigBase,
  ConfigError,
  type ConfigIssue,
  type GatewayConfig,
} from "./gateway_model.ts";
export {
  canonicalServer,
  type ConfigBase,
  type ConfigDiff,
  ConfigError,
  type ConfigIssue,
  diffConfigs,
  type GatewayConfig,
} from "./gateway_model.ts";

/**
 * What a server name must look like.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.ok(SERVER_NAME_PATTERN.test("my-server_2"));
 * assert.ok(!SERVER_NAME_PATTERN.test("-dash-first"));
 * assert.ok(!SERVER_NAME_PATTERN.test("dotted.name"));
 * ```
 */
export const SERVER_NAME_PATTERN: RegExp = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;

/**
 * Parses and validates a gateway configuration file and resolves it into
 * {@linkcode ServerOptions}, one per enabled server, with the same defaults as
 * the command line. The format follows the extension (`.yaml`/`.yml`: YAML
 * 1.2, `.json`: JSON); for any other name, text starting with `{` is JSON and
 * anything else YAML.
 *
 * Paths: a server's `cwd` is relative to the config file's directory; `watch`
 * paths are relative to the server's `cwd`, else to the config file's
 * directory, which is also what is watched by default; `~` and `~/…` expand to
 * `HOME`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const text = `
 * defaults:
 *   debounce: 250
 * servers:
 *   api:
 *     command: python
 *     args: ["-m", "api_server"]
 *     watch: ./src/
 *     extensions: py,json
 *   old:
 *     command: node
 *     disabled: true
 * `;
 * const config = loadGatewayConfig("conf/.mcpmon.yaml", text, { cwd: "/proj", env: () => undefined });
 * assert.equal(config.path, "/proj/conf/.mcpmon.yaml");
 * assert.equal(config.separator, "__");
 * assert.deepEqual(config.disabled, ["old"]);
 * const [api] = config.servers;
 * assert.equal(api.name, "api");
 * assert.deepEqual(api.args, ["-m", "api_server"]);
 * assert.deepEqual(api.watch, ["/proj/conf/src"]);
 * assert.deepEqual(api.extensions, ["py", "json"]);
 * assert.equal(api.debounceMs, 250);
 * ```
 *
 * @param path The configuration file as the user named it (used in messages;
 *   resolved against `base.cwd`).
 * @param text Its contents.
 * @param base mcpmon's working directory and environment.
 * @returns The configuration.
 * @throws {ConfigError} Listing every problem with its line and column.
 */
export function loadGatewayConfig(path: string, text: string, base: ConfigBase): GatewayConfig {
  const problems: Problem[] = [];
  const report = (pos: number, message: string) => problems.push({ pos, message });
  const skipped: Problem[] = [];
  const warn = (pos: number, message: string) => skipped.push({ pos, message });
  const absolute = resolve(base.cwd, path);
  const root = isJson(path, text) ? parseJson(text, report) : parseYaml(text, report);
  let config: GatewayConfig | undefined;
  if (problems.length === 0) {
    const home = base.env("HOME") || base.env("USERPROFILE") || undefined;
    config = interpret(root, {
      report,
      warn,
      env: base.env,
      home,
      dir: dirname(absolute),
      path: absolute,
    });
  }
  if (problems.length > 0 || config === undefined) throw configError(path, text, problems);
  if (skipped.length > 0) {
    config.warnings = configError(path, text, skipped).issues
      .map((i) => `${path}:${i.line}:${i.col}: ${i.message}`);
  }
  return config;
}

// ---------------------------------------------------------------------------
// A small document tree with source offsets, built from YAML or JSON.

interface MapNode {
  kind: "map";
  pos: number;
  entries: Entry[];
}
interface Entry {
  key: string;
  keyPos: number;
  value: Node;
}
interface SeqNode {
  kind: "seq";
  pos: number;
  items: Node[];
}
interface ScalarNode {
  kind: "scalar";
  pos: number;
  value: unknown;
  /** The scalar as written. */
  source: string;
}
type Node = MapNode | SeqNode | ScalarNode;

interface Problem {
  pos: number;
  message: string;
}
type Report = (pos: number, message: string) => void;

function configError(file: string, text: string, problems: Problem[]): ConfigError {
  // yaml's lexer finds the line starts (of JSON text too) for its LineCounter.
  const lines = new LineCounter();
  for (const _ of new Parser(lines.addNewLine).parse(text)) { /* the counter fills as it lexes */ }
  const seen = new Set<string>();
  const issues: ConfigIssue[] = [];
  for (const p of [...problems].sort((a, b) => a.pos - b.pos)) {
    const { line, col } = lines.linePos(p.pos);
    const key = `${line}:${col}:${p.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    issues.push({ line, col, message: p.message });
  }
  if (issues.length === 0) issues.push({ line: 1, col: 1, message: "invalid configuration" });
  return new ConfigError(file, issues);
}

function isJson(path: string, text: string): boolean {
  const lower = path.toLowerCase();
  if (lower.endsWith(".yaml") || lower.endsWith(".yml")) return false;
  if (lower.endsWith(".json")) return true;
  return /^\uFEFF?\s*\{/.test(text);
}

// ---------------------------------------------------------------------------
// YAML

function parseYaml(text: string, report: Report): Node | undefined {
  const doc = parseDocument(text, {
    uniqueKeys: true,
    prettyErrors: false,
    keepSourceTokens: true,
    version: "1.2",
  });
  if (doc.errors.length > 0) {
    for (const error of doc.errors) {
      const pos = error.pos[0];
      if (error.code === "DUPLICATE_KEY") {
        const key = duplicateKeyAt(doc, pos);
        report(pos, `duplicate key${key === undefined ? "" : ` \`${key}\``}: keys must be unique`);
      } else {
        const hint = error.code === "BAD_ALIAS" ? ' (quote a value starting with *, e.g. "*")' : "";
        report(pos, `invalid YAML: ${error.message.split("\n")[0]}${hint}`);
      }
    }
    return undefined;
  }
  if (doc.contents === null) return undefined;
  return fromYaml(doc.contents, doc, text, 0, report, new Set());
}

function duplicateKeyAt(doc: Document, pos: number): string | undefined {
  let key: string | undefined;
  visit(doc, {
    Pair(_, pair) {
      if (isScalar(pair.key) && pair.key.range?.[0] === pos) {
        key = String(pair.key.value);
        return visit.BREAK;
      }
      return undefined;
    },
  });
  return key;
}

function fromYaml(
  node: unknown,
  doc: Document,
  text: string,
  fallback: number,
  report: Report,
  open: Set<unknown>,
): Node {
  const range = (node as { range?: [number, number, number] } | null)?.range;
  const pos = range && range[1] > range[0] ? range[0] : fallback;
  if (isAlias(node)) {
    const target = node.resolve(doc);
    if (target === undefined) {
      report(pos, `unknown alias *${node.source}`);
    } else if (open.has(target)) {
      report(pos, `alias *${node.source} refers to a collection containing itself`);
    } else {
      return fromYaml(target, doc, text, pos, report, open);
    }
    return { kind: "scalar", pos, value: null, source: "" };
  }
  if (isMap(node)) {
    open.add(node);
    const entries: Entry[] = [];
    for (const pair of node.items) {
      const k = pair.key;
      const kRange = (k as { range?: [number, number, number] } | null)?.range;
      const keyPos = kRange ? kRange[0] : pos;
      let key: string;
      if (k === null || k === undefined || (isScalar(k) && k.value === null)) {
        key = "";
      } else if (isScalar(k)) {
        key = typeof k.value === "string" ? k.value : text.slice(keyPos, kRange?.[1] ?? keyPos);
      } else {
        report(keyPos, "keys must be names, not a mapping, list or alias");
        continue;
      }
      entries.push({ key, keyPos, value: fromYaml(pair.value, doc, text, keyPos, report, open) });
    }
    open.delete(node);
    return { kind: "map", pos, entries };
  }
  if (isSeq(node)) {
    open.add(node);
    const items = node.items.map((item) => fromYaml(item, doc, text, pos, report, open));
    open.delete(node);
    return { kind: "seq", pos, items };
  }
  if (isScalar(node)) {
    const source = range ? text.slice(range[0], range[1]) : "";
    return { kind: "scalar", pos, value: node.value, source };
  }
  return { kind: "scalar", pos, value: null, source: "" };
}

// ---------------------------------------------------------------------------
// JSON, strict, with positions.

class JsonSyntaxError extends Error {
  constructor(readonly pos: number, message: string) {
    super(message);
  }
}

function parseJson(text: string, report: Report): Node | undefined {
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const ws = () => {
    while (i < text.length && " \t\n\r".includes(text[i])) i++;
  };
  const unexpected = (what = "a value"): never => {
    if (i >= text.length) throw new JsonSyntaxError(i, "invalid JSON: unexpected end of file");
    const c = text[i];
    const hint = c === "/" && (text[i + 1] === "/" || text[i + 1] === "*")
      ? " (comments are not allowed in JSON)"
      : c === "'"
      ? " (JSON strings use double quotes)"
      : "";
    throw new JsonSyntaxError(i, `invalid JSON: expected ${what}, found \`${c}\`${hint}`);
  };
  const string = (): ScalarNode => {
    const start = i;
    i++;
    for (;;) {
      if (i >= text.length) throw new JsonSyntaxError(start, "invalid JSON: unterminated string");
      const c = text.charCodeAt(i);
      if (c === 0x22) break;
      if (c < 0x20) throw new JsonSyntaxError(i, "invalid JSON: control character in a string");
      if (c === 0x5c) {
        const e = text[i + 1];
        if (e === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
            throw new JsonSyntaxError(i, "invalid JSON: bad \\u escape");
          }
          i += 6;
          continue;
        }
        if (e === undefined || !'"\\/bfnrt'.includes(e)) {
          throw new JsonSyntaxError(i, "invalid JSON: bad escape in a string");
        }
        i += 2;
        continue;
      }
      i++;
    }
    i++;
    const source = text.slice(start, i);
    return { kind: "scalar", pos: start, value: JSON.parse(source), source };
  };
  const value = (): Node => {
    ws();
    const start = i;
    const c = text[i];
    if (c === "{") {
      i++;
      const entries: Entry[] = [];
      const seen = new Set<string>();
      ws();
      if (text[i] === "}") {
        i++;
        return { kind: "map", pos: start, entries };
      }
      for (;;) {
        ws();
        if (text[i] !== '"') unexpected("a key (a double-quoted string)");
        const key = string();
        if (seen.has(key.value as string)) {
          report(key.pos, `duplicate key \`${key.value}\`: keys must be unique`);
        }
        seen.add(key.value as string);
        ws();
        if (text[i] !== ":") unexpected("`:` after the key");
        i++;
        entries.push({ key: key.value as string, keyPos: key.pos, value: value() });
        ws();
        if (text[i] === "}") {
          i++;
          return { kind: "map", pos: start, entries };
        }
        if (text[i] !== ",") unexpected("`,` or `}`");
        const comma = i;
        i++;
        ws();
        if (text[i] === "}") throw new JsonSyntaxError(comma, "invalid JSON: trailing comma");
      }
    }
    if (c === "[") {
      i++;
      const items: Node[] = [];
      ws();
      if (text[i] === "]") {
        i++;
        return { kind: "seq", pos: start, items };
      }
      for (;;) {
        items.push(value());
        ws();
        if (text[i] === "]") {
          i++;
          return { kind: "seq", pos: start, items };
        }
        if (text[i] !== ",") unexpected("`,` or `]`");
        const comma = i;
        i++;
        ws();
        if (text[i] === "]") throw new JsonSyntaxError(comma, "invalid JSON: trailing comma");
      }
    }
    if (c === '"') return string();
    const number = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
    number.lastIndex = i;
    const m = number.exec(text);
    if (m !== null && m[0] !== "-") {
      i += m[0].length;
      return { kind: "scalar", pos: start, value: Number(m[0]), source: m[0] };
    }
    for (const [word, v] of [["true", true], ["false", false], ["null", null]] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return { kind: "scalar", pos: start, value: v, source: word };
      }
    }
    return unexpected();
  };
  try {
    ws();
    if (i >= text.length) return undefined;
    const root = value();
    ws();
    if (i < text.length) unexpected("the end of the file");
    return root;
  } catch (err) {
    if (!(err instanceof JsonSyntaxError)) throw err;
    report(err.pos, err.message);
    return undefined;
  }
}

// ---------------------------------------------------------------------------
// Interpretation

/** Top-level keys. */
const TOP_KEYS = [
  "servers",
  "mcpServers",
  "defaults",
  "separator",
  "nameBudget",
  "clientPrefix",
  "callThrough",
] as const;

/** Server keys, in the order the "known keys" hint lists them. */
const SERVER_KEYS = [
  "command",
  "args",
  "env",
  "cwd",
  "watch",
  "extensions",
  "ignore",
  "build",
  "disabled",
  "debounce",
  "grace",
  "initTimeout",
  "minInterval",
  "restartTool",
  "clearPycache",
  "ignoreFiles",
  "maxMessageSize",
  "type",
  "url",
  "headers",
] as const;
type ServerKey = typeof SERVER_KEYS[number];

/** Keys `defaults` may set. */
const DEFAULT_KEYS: readonly ServerKey[] = SERVER_KEYS.filter((k) =>
  k !== "command" && k !== "args" && k !== "url" && k !== "headers"
);

/**
 * Keys MCP clients use for remote servers that mcpmon cannot honour (it runs
 * no OAuth flow, and reaches HTTP servers by `url`): such an entry is skipped
 * with a warning.
 */
const REMOTE_KEYS = new Set(["serverUrl", "httpUrl", "oauth"]);

/** `type` values of a server on Streamable HTTP (Claude Code writes `http`). */
const HTTP_TYPES: ReadonlySet<string> = new Set(["http", "streamable-http", "streamableHttp"]);

/** Common names for known keys (compared lower-case, without `-` and `_`). */
const ALIASES: Record<string, string> = {
  cmd: "command",
  exec: "command",
  program: "command",
  argv: "args",
  arguments: "args",
  environment: "env",
  environ: "env",
  dir: "cwd",
  directory: "cwd",
  workdir: "cwd",
  workingdirectory: "cwd",
  ext: "extensions",
  exts: "extensions",
  exclude: "ignore",
  ignores: "ignore",
  paths: "watch",
  watchpaths: "watch",
  enabled: "disabled",
  debouncems: "debounce",
  gracems: "grace",
  graceperiod: "grace",
  timeout: "initTimeout",
  inittimeoutms: "initTimeout",
  mininterval: "minInterval",
  minrestartinterval: "minInterval",
  minrestartintervalms: "minInterval",
  norestarttool: "restartTool",
  keeppycache: "clearPycache",
  maxmessagebytes: "maxMessageSize",
  sep: "separator",
  prefixseparator: "separator",
  budget: "nameBudget",
  maxnamelength: "nameBudget",
};

interface Fields {
  command?: string;
  args?: string[];
  env?: Record<string, string>;
  cwd?: string;
  watch?: string[];
  extensions?: string[];
  ignore?: string[];
  build?: string;
  disabled?: boolean;
  debounce?: number;
  grace?: number;
  initTimeout?: number;
  minInterval?: number;
  restartTool?: boolean;
  clearPycache?: boolean;
  ignoreFiles?: boolean;
  maxMessageSize?: number;
  type?: string;
  url?: string;
  headers?: Record<string, string>;
}

interface Context {
  report: Report;
  /** Reports what is skipped without rejecting the file. */
  warn: Report;
  /** Environment lookup for `${VAR}`. */
  env: (name: string) => string | undefined;
  home: string | undefined;
  /** Directory of the configuration file. */
  dir: string;
  /** Absolute path of the configuration file. */
  path: string;
}

function interpret(root: Node | undefined, ctx: Context): GatewayConfig | undefined {
  const { report } = ctx;
  if (root === undefined || (root.kind === "scalar" && root.value === null)) {
    report(root?.pos ?? 0, "the configuration is empty; expected a `servers:` mapping");
    return undefined;
  }
  if (root.kind !== "map") {
    report(
      root.pos,
      `the configuration must be a mapping with \`servers:\`, got ${describe(root)}`,
    );
    return undefined;
  }
  const top = new Map<string, Entry>();
  for (const entry of root.entries) {
    if ((TOP_KEYS as readonly string[]).includes(entry.key)) top.set(entry.key, entry);
    else if (REMOTE_KEYS.has(entry.key) || (SERVER_KEYS as readonly string[]).includes(entry.key)) {
      report(
        entry.keyPos,
        `unknown top-level key \`${entry.key}\`; server keys go under \`servers: NAME:\``,
      );
    } else unknownKey(entry, "", TOP_KEYS, report);
  }

  let separator = DEFAULT_SEPARATOR;
  const sep = top.get("separator");
  if (sep !== undefined) {
    const v = sep.value;
    if (v.kind !== "scalar" || typeof v.value !== "string") {
      report(v.pos, `separator must be a string, got ${describe(v)}`);
    } else if (v.value === "" || /\s/.test(v.value)) {
      report(v.pos, "separator must be non-empty, without spaces");
    } else separator = v.value;
  }

  let nameBudget = DEFAULT_NAME_BUDGET;
  const budget = top.get("nameBudget");
  if (budget !== undefined) {
    const v = budget.value;
    if (v.kind !== "scalar" || !Number.isSafeInteger(v.value) || (v.value as number) < 1) {
      report(v.pos, `nameBudget must be a positive integer, got ${describe(v)}`);
    } else nameBudget = v.value as number;
  }

  let clientPrefix: string | undefined;
  const prefix = top.get("clientPrefix");
  if (prefix !== undefined) {
    const v = prefix.value;
    if (v.kind !== "scalar" || (typeof v.value !== "string" && v.value !== null)) {
      report(v.pos, `clientPrefix must be a string (empty for none), got ${describe(v)}`);
    } else clientPrefix = v.value ?? "";
  }

  let callThrough = false;
  const through = top.get("callThrough");
  if (through !== undefined) {
    const v = through.value;
    if (v.kind !== "scalar" || typeof v.value !== "boolean") {
      report(v.pos, `callThrough must be true or false, got ${describe(v)}`);
    } else callThrough = v.value;
  }

  let defaults: Fields = {};
  const defaultsEntry = top.get("defaults");
  if (defaultsEntry !== undefined) {
    const v = defaultsEntry.value;
    if (v.kind !== "map") report(v.pos, `defaults must be a mapping, got ${describe(v)}`);
    else defaults = readFields(v, "defaults", DEFAULT_KEYS, ctx).fields;
  }

  const servers = top.get("servers");
  const mcpServers = top.get("mcpServers");
  if (servers !== undefined && mcpServers !== undefined) {
    const later = servers.keyPos > mcpServers.keyPos ? servers : mcpServers;
    report(later.keyPos, "use either `servers` or `mcpServers`, not both");
    return undefined;
  }
  const serversEntry = servers ?? mcpServers;
  if (serversEntry === undefined) {
    report(root.pos, "missing `servers`: a mapping of server names to servers");
    return undefined;
  }
  const section = serversEntry.key;
  const list = serversEntry.value;
  if (list.kind !== "map") {
    report(
      list.pos,
      `${section} must be a mapping of server names to servers, got ${describe(list)}`,
    );
    return undefined;
  }

  const config: GatewayConfig = {
    servers: [],
    disabled: [],
    separator,
    nameBudget,
    callThrough,
    path: ctx.path,
    warnings: [],
  };
  if (clientPrefix !== undefined) config.clientPrefix = clientPrefix;
  const names = new Map<string, Entry>();
  for (const entry of list.entries) {
    const name = entry.key;
    const where = `${section}.${name}`;
    checkName(entry, separator, names, ctx);
    const v = entry.value;
    if (v.kind !== "map") {
      report(v.pos, `${where} must be a mapping with at least \`command\`, got ${describe(v)}`);
      continue;
    }
    const { fields, remote, commandTypo, http } = readFields(v, where, SERVER_KEYS, ctx);
    if (remote) continue;
    const hasKey = (key: string) => v.entries.some((e) => e.key === key);
    if (http && !hasKey("url")) {
      report(entry.keyPos, `${where} has type "http" but no url`);
      continue;
    }
    if (fields.command === undefined && fields.url === undefined) {
      // An invalid command or url, or a misspelt key, was reported already.
      if (!commandTypo && !hasKey("command") && !hasKey("url")) {
        report(entry.keyPos, `${where} has no command (or url, for a server on HTTP)`);
      }
      continue;
    }
    if (fields.headers !== undefined && fields.url === undefined) {
      const at = v.entries.find((e) => e.key === "headers")!;
      report(at.keyPos, `${where}.headers: headers go with a url (a server on HTTP)`);
      continue;
    }
    const merged: Fields = { ...defaults, ...fields };
    if (merged.disabled) config.disabled.push(name);
    else config.servers.push(toServerOptions(name, merged, ctx));
  }
  return config;
}

function checkName(entry: Entry, separator: string, names: Map<string, Entry>, ctx: Context) {
  const name = entry.key;
  if (!SERVER_NAME_PATTERN.test(name)) {
    ctx.report(
      entry.keyPos,
      `server name ${JSON.stringify(name)} is not allowed: use letters, digits, \`_\` and \`-\`, ` +
        "starting with a letter or digit",
    );
  } else if (name.includes(separator)) {
    ctx.report(
      entry.keyPos,
      `server name ${JSON.stringify(name)} contains the separator ${JSON.stringify(separator)}; ` +
        "rename the server or set `separator`",
    );
  }
  const folded = name.toLowerCase();
  const first = names.get(folded);
  if (first !== undefined) {
    if (first.key !== name) {
      ctx.report(
        entry.keyPos,
        `server name ${JSON.stringify(name)} differs only in case from ${
          JSON.stringify(first.key)
        }; names must be unique ignoring case`,
      );
    } // an exact duplicate was reported by the parser
  } else names.set(folded, entry);
}

function toServerOptions(name: string, f: Fields, ctx: Context): ServerOptions {
  const cwd = f.cwd === undefined ? undefined : resolve(ctx.dir, f.cwd);
  const watchBase = cwd ?? ctx.dir;
  return serverOptions({
    name,
    command: f.command ?? "",
    args: f.args,
    url: f.url,
    headers: f.headers,
    env: f.env ?? {},
    cwd,
    // A server on HTTP that someone else runs is restarted by them: nothing to watch unless asked.
    watch: (f.watch ?? (f.command === undefined ? [] : ["."])).map((p) => resolve(watchBase, p)),
    extensions: f.extensions,
    extraIgnore: f.ignore,
    debounceMs: f.debounce,
    graceMs: f.grace,
    initTimeoutMs: f.initTimeout,
    restartTool: f.restartTool,
    clearPycache: f.clearPycache,
    ignoreFiles: f.ignoreFiles,
    maxMessageBytes: f.maxMessageSize,
    minRestartIntervalMs: f.minInterval,
    build: f.build,
  });
}

/**
 * Reads the keys of one server (or of `defaults`). `remote` is true when the
 * server is one mcpmon cannot run (an SSE one, or one that needs headers or
 * OAuth; already reported); `http` when its `type` says Streamable HTTP.
 */
function readFields(
  map: MapNode,
  where: string,
  allowed: readonly ServerKey[],
  ctx: Context,
): { fields: Fields; remote: boolean; commandTypo: boolean; http: boolean } {
  const fields: Fields = {};
  const { report } = ctx;
  let remote = false;
  let http = false;
  let commandTypo = false;
  const typeEntry = map.entries.find((e) => e.key === "type");
  if (typeEntry !== undefined) {
    const v = typeEntry.value;
    if (v.kind !== "scalar" || typeof v.value !== "string") {
      report(v.pos, `${where}.type must be "stdio" or "http", got ${describe(v)}`);
    } else if (HTTP_TYPES.has(v.value)) {
      http = true;
    } else if (v.value !== "stdio") {
      ctx.warn(
        v.pos,
        `${where}.type is ${
          JSON.stringify(v.value)
        }: skipped (mcpmon runs stdio servers and Streamable HTTP ones, type "http")`,
      );
      remote = true;
    } else {
      const url = map.entries.find((e) => e.key === "url");
      if (url) report(url.keyPos, `${where}.url: a stdio server has no url (use type "http")`);
    }
  }
  for (const entry of map.entries) {
    const { key } = entry;
    const path = `${where}.${key}`;
    if (key === "type") continue;
    if (REMOTE_KEYS.has(key)) {
      if (!remote) {
        ctx.warn(
          entry.keyPos,
          `${path}: \`${key}\` is not supported: skipped (mcpmon reaches HTTP servers by ` +
            "`url`, without OAuth; pass a token with `headers`)",
        );
      }
      remote = true;
      continue;
    }
    if (!(allowed as readonly string[]).includes(key)) {
      if ((SERVER_KEYS as readonly string[]).includes(key)) {
        report(entry.keyPos, `${path}: \`${key}\` cannot have a default; set it per server`);
      } else if (unknownKey(entry, `${where}.`, allowed, report) === "command") {
        commandTypo = true;
      }
      continue;
    }
    const value = readField(key as ServerKey, entry.value, path, ctx);
    if (value !== undefined) (fields as Record<string, unknown>)[key] = value;
  }
  return { fields, remote, commandTypo, http };
}

function readField(key: ServerKey, v: Node, path: string, ctx: Context): unknown {
  const { report } = ctx;
  switch (key) {
    case "command": {
      const s = expandVars(string(v, path, report), v.pos, ctx);
      if (s === "") report(v.pos, `${path} must not be empty`);
      return s || undefined;
    }
    case "args":
      return stringList(v, path, report, false)?.map((a, i) =>
        expandVars(a, v.kind === "seq" ? v.items[i].pos : v.pos, ctx)!
      );
    case "env": {
      const env = envMap(v, path, report);
      if (env === undefined || v.kind !== "map") return env;
      for (const entry of v.entries) {
        if (Object.hasOwn(env, entry.key)) {
          env[entry.key] = expandVars(env[entry.key], entry.value.pos, ctx)!;
        }
      }
      return env;
    }
    case "cwd": {
      const s = expandVars(string(v, path, report), v.pos, ctx);
      if (s === "") report(v.pos, `${path} must not be empty (leave it out for the default)`);
      return s ? expandHome(s, v.pos, ctx) : undefined;
    }
    case "watch": {
      const list = stringList(v, path, report, true);
      return list?.map((p, i) => {
        const node = v.kind === "seq" ? v.items[i] : v;
        if (p === "") report(node.pos, `${path}: a path must not be empty`);
        return expandHome(p, node.pos, ctx);
      });
    }
    case "extensions":
      return extensions(v, path, report);
    case "ignore": {
      const list = stringList(v, path, report, true);
      list?.forEach((p, i) => {
        if (p === "") report(v.kind === "seq" ? v.items[i].pos : v.pos, `${path}: empty pattern`);
      });
      return list;
    }
    case "build":
      return string(v, path, report);
    case "disabled":
    case "restartTool":
    case "clearPycache":
    case "ignoreFiles":
      if (v.kind === "scalar" && typeof v.value === "boolean") return v.value;
      report(v.pos, `${path} must be true or false, got ${describe(v)}`);
      return undefined;
    case "debounce":
    case "grace":
    case "initTimeout":
    case "minInterval":
      if (v.kind === "scalar" && Number.isSafeInteger(v.value) && (v.value as number) >= 0) {
        return v.value;
      }
      report(v.pos, `${path} must be a non-negative integer (milliseconds), got ${describe(v)}`);
      return undefined;
    case "maxMessageSize":
      if (v.kind === "scalar" && Number.isSafeInteger(v.value) && (v.value as number) >= 1024) {
        return v.value;
      }
      report(v.pos, `${path} must be an integer of at least 1024 (bytes), got ${describe(v)}`);
      return undefined;
    case "url": {
      const s = expandVars(string(v, path, report), v.pos, ctx);
      if (s === undefined) return undefined;
      try {
        parseHttpUrl(s);
      } catch (err) {
        report(v.pos, `${path}: ${err instanceof Error ? err.message : err}`);
        return undefined;
      }
      return s;
    }
    case "headers": {
      if (v.kind !== "map") {
        report(v.pos, `${path} must be a mapping of header names to strings, got ${describe(v)}`);
        return undefined;
      }
      const headers: Record<string, string> = {};
      let ok = true;
      for (const entry of v.entries) {
        const value = entry.value;
        if (value.kind !== "scalar" || typeof value.value !== "string") {
          // Its value is not shown: it may be a secret.
          report(
            value.pos,
            `${path}.${entry.key} must be a string (quote it${
              value.kind === "scalar" && value.value === null ? '; write "" for empty' : ""
            })`,
          );
          ok = false;
          continue;
        }
        const expanded = expandVars(value.value, value.pos, ctx)!;
        const problem = headerProblem(entry.key, expanded);
        if (problem !== undefined) {
          // The problem names the header, never its value (a secret).
          report(entry.keyPos, `${path}: ${problem}`);
          ok = false;
        }
        headers[entry.key] = expanded.trim();
      }
      return ok ? headers : undefined;
    }
    case "type":
      return undefined; // handled by readFields
  }
}

function string(v: Node, path: string, report: Report): string | undefined {
  if (v.kind === "scalar" && typeof v.value === "string") return v.value;
  report(v.pos, `${path} must be a string, got ${describe(v)}${quoteHint(v)}`);
  return undefined;
}

/** A list of strings, or with `single`, one string standing for a list of one. */
function stringList(
  v: Node,
  path: string,
  report: Report,
  single: boolean,
): string[] | undefined {
  if (single && v.kind === "scalar" && typeof v.value === "string") return [v.value];
  const expected = single ? "a string or a list of strings" : "a list of strings";
  if (v.kind !== "seq") {
    report(v.pos, `${path} must be ${expected}, got ${describe(v)}${nullHint(v)}`);
    return undefined;
  }
  const out: string[] = [];
  let ok = true;
  v.items.forEach((item, i) => {
    if (item.kind === "scalar" && typeof item.value === "string") out.push(item.value);
    else {
      ok = false;
      report(item.pos, `${path}[${i}] must be a string, got ${describe(item)}${quoteHint(item)}`);
    }
  });
  return ok ? out : undefined;
}

function envMap(v: Node, path: string, report: Report): Record<string, string> | undefined {
  if (v.kind !== "map") {
    report(v.pos, `${path} must be a mapping of names to strings, got ${describe(v)}`);
    return undefined;
  }
  const out: Record<string, string> = {};
  let ok = true;
  for (const entry of v.entries) {
    const p = `${path}.${entry.key}`;
    const value = entry.value;
    if (entry.key === "" || entry.key.includes("=") || entry.key.includes("\0")) {
      report(entry.keyPos, `${path}: ${JSON.stringify(entry.key)} is not a variable name`);
      ok = false;
    } else if (value.kind === "scalar" && typeof value.value === "string") {
      out[entry.key] = value.value;
    } else {
      ok = false;
      if (value.kind === "scalar" && value.value === null) {
        report(value.pos, `${p} has no value; write "" for an empty string`);
      } else report(value.pos, `${p} must be a string, got ${describe(value)}${quoteHint(value)}`);
    }
  }
  return ok ? out : undefined;
}

function extensions(v: Node, path: string, report: Report): string[] | undefined {
  const parts = v.kind === "scalar" && typeof v.value === "string"
    ? [v.value]
    : stringList(v, path, report, true);
  if (parts === undefined) return undefined;
  const exts = parseExtensionList(parts);
  if (exts === undefined) {
    report(v.pos, `${path} needs at least one extension ("*" for every file)`);
  }
  return exts;
}

/**
 * Expands `${VAR}` and `${VAR:-default}` as Claude Code does in `.mcp.json`:
 * the default when VAR is unset or empty; an unset VAR without a default is
 * an error naming it.
 */
function expandVars(text: string | undefined, pos: number, ctx: Context): string | undefined {
  if (text === undefined || !text.includes("${")) return text;
  return text.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g,
    (whole, name: string, fallback: string | undefined) => {
      const value = ctx.env(name);
      if (value !== undefined && (value !== "" || fallback === undefined)) return value;
      if (fallback !== undefined) return fallback;
      ctx.report(pos, `${whole}: ${name} is not set (write \${${name}:-default} for a default)`);
      return whole;
    },
  );
}

function expandHome(path: string, pos: number, ctx: Context): string {
  if (!path.startsWith("~")) return path;
  if (path !== "~" && !path.startsWith("~/") && !path.startsWith("~\\")) {
    ctx.report(pos, `cannot expand ${path.split(/[/\\]/)[0]}: only ~ and ~/ are supported`);
    return path;
  }
  if (ctx.home === undefined) {
    ctx.report(pos, "cannot expand ~: HOME is not set");
    return path;
  }
  return join(ctx.home, path.slice(2));
}

function describe(v: Node): string {
  if (v.kind === "map") return "a mapping";
  if (v.kind === "seq") return "a list";
  const x = v.value;
  if (x === null || x === undefined) return "nothing (null)";
  if (typeof x === "string") return `the string ${JSON.stringify(x)}`;
  if (typeof x === "number" || typeof x === "bigint") return `the number ${v.source || x}`;
  if (typeof x === "boolean") return `the boolean ${v.source || x}`;
  return `a ${typeof x === "object" ? (x.constructor?.name ?? "value") : typeof x}`;
}

function quoteHint(v: Node): string {
  if (v.kind === "scalar" && (typeof v.value === "number" || typeof v.value === "boolean")) {
    return `; quote it: "${v.source || String(v.value)}"`;
  }
  return nullHint(v);
}

function nullHint(v: Node): string {
  return v.kind === "scalar" && v.value === null && v.source === "~"
    ? ` (a lone ~ is null in YAML; quote it: "~")`
    : "";
}

/** Reports an unknown key; returns the key suggested instead, if any. */
function unknownKey(
  entry: Entry,
  prefix: string,
  known: readonly string[],
  report: Report,
): string | undefined {
  const suggestion = closest(entry.key, known);
  report(
    entry.keyPos,
    `unknown key ${prefix}${entry.key}` +
      (suggestion === undefined
        ? ` (known keys: ${known.join(", ")})`
        : `; did you mean \`${suggestion}\`?`),
  );
  return suggestion;
}

/** The known key `key` was most likely meant to be, if any is close. */
function closest(key: string, known: readonly string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[-_\s]/g, "");
  const k = norm(key);
  const alias = ALIASES[k];
  if (alias !== undefined && known.includes(alias)) return alias;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = editDistance(k, norm(candidate));
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  if (best !== undefined && bestDistance <= Math.max(1, Math.floor(k.length / 3))) return best;
  const prefixed = known.filter((c) => k.length >= 3 && norm(c).startsWith(k));
  return prefixed.length === 1 ? prefixed[0] : undefined;
}
