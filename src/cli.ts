/**
 * The command line: `mcpmon [options] -- <command> [args...]`, parsed into
 * server and log options; the commands `restart`, `status`, `clean` (see
 * `control.ts`, over the state dir of `registry.ts`), `trace` (`trace.ts`), `setup` (`setup.ts`), `wrap` (an
 * alias of the normal run), `help` and `version`; exit codes (0 ok, 1
 * runtime failure, 2 usage). The help texts are in `help.ts`, the default
 * server name (from the command) in `server_name.ts`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import {
  DEFAULT_DEBOUNCE_MS,
  DEFAULT_GRACE_MS,
  DEFAULT_INIT_TIMEOUT_MS,
  DEFAULT_MIN_RESTART_INTERVAL_MS,
  type LogLevel,
  type LogOptions,
  parseExtensionList,
  type ServerOptions,
  serverOptions,
} from "./config.ts";
import type { ControlOutput } from "./control.ts";
import type { SetupRequest } from "./setup.ts";
import {
  HELP,
  type HelpTopic,
  SETUP_CLIENTS,
  type SetupClient,
  SUB_SYNOPSIS,
  SUBCOMMAND_HELP,
  SYNOPSIS,
} from "./help.ts";
import { deriveName } from "./server_name.ts";
import { spawnEarly } from "./early_spawn.ts";
import type { FileQueries, Runtime } from "./runtime/mod.ts";
import { VERSION } from "./version.ts";
import { portableFiles } from "./runtime/files.ts";
import { expandHeaderVars, parseHeader, parseHttpUrl } from "./http_headers.ts";
import type { HttpListen } from "./run.ts";

/**
 * A problem with the command line; the CLI prints
 * {@linkcode usageErrorText} and exits with code 2.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.throws(() => parseCli(["--debounce", "soon", "--", "node", "x.js"], "/"), UsageError);
 * ```
 */
export class UsageError extends Error {
  /** The subcommand whose usage was wrong; absent for the normal run. */
  command?: Subcommand;

  /**
   * Creates a usage error.
   *
   * @param message One line naming the bad flag or value.
   * @param command The subcommand whose usage was wrong, if any.
   */
  constructor(message: string, command?: Subcommand) {
    super(message);
    this.name = "UsageError";
    if (command !== undefined) this.command = command;
  }
}

/** The words that, as the first argument, select a subcommand instead of running a server. */
export type Subcommand =
  | "restart"
  | "status"
  | "clean"
  | "wrap"
  | "setup"
  | "trace"
  | "help"
  | "version";

/** The subcommands, in the order the help lists them. */
export const SUBCOMMANDS: readonly Subcommand[] = [
  "restart",
  "status",
  "clean",
  "wrap",
  "setup",
  "trace",
  "help",
  "version",
];

/** What the command line asks for. */
export type CliCommand =
  | { kind: "help"; topic?: HelpTopic }
  | { kind: "version" }
  | { kind: "run"; server: ServerOptions; log: LogOptions; http?: HttpListen }
  | {
    kind: "gateway";
    config: string;
    name: string;
    log: LogOptions;
    callThrough?: boolean;
    http?: HttpListen;
  }
  | { kind: "restart"; name: string; reason?: string; json?: boolean }
  | { kind: "status"; json: boolean }
  | { kind: "clean" }
  | { kind: "trace"; name: string; json: boolean; full: boolean }
  | { kind: "setup"; request: SetupRequest };

/** One option as `node:util` `parseArgs` takes it. */
export interface CliOption {
  /** Whether the option takes a value. */
  type: "string" | "boolean";
  /** One-letter alias. */
  short?: string;
  /** Whether the option may be repeated (values are collected). */
  multiple?: boolean;
}

/**
 * Every option mcpmon accepts, keyed by long name; the parser is built from
 * this table, and the tests check that {@linkcode HELP} mentions each one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(OPTIONS.watch.short, "w");
 * assert.equal(OPTIONS.watch.type, "string");
 * ```
 */
export const OPTIONS = {
  config: { type: "string", short: "c" },
  watch: { type: "string", short: "w", multiple: true },
  ext: { type: "string", short: "e", multiple: true },
  ignore: { type: "string", multiple: true },
  debounce: { type: "string" },
  grace: { type: "string" },
  "init-timeout": { type: "string" },
  "min-interval": { type: "string" },
  build: { type: "string" },
  "no-restart-tool": { type: "boolean" },
  "call-through": { type: "boolean" },
  "keep-pycache": { type: "boolean" },
  "no-ignore-files": { type: "boolean" },
  "max-message": { type: "string" },
  http: { type: "string" },
  "http-token": { type: "string" },
  name: { type: "string", short: "n" },
  url: { type: "string" },
  header: { type: "string", multiple: true },
  quiet: { type: "boolean", short: "q" },
  verbose: { type: "boolean", short: "v" },
  debug: { type: "boolean" },
  timestamps: { type: "boolean", short: "t" },
  "log-file": { type: "string", short: "l" },
  trace: { type: "string" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "V" },
} as const satisfies Record<string, CliOption>;

type OptionName = keyof typeof OPTIONS;

/**
 * The text to print for a usage error: the message, the short usage, and a
 * pointer to `--help`. Ends with a newline.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const text = usageErrorText(new UsageError("unknown option: --fast"));
 * assert.ok(text.startsWith("mcpmon: unknown option: --fast\n\nUsage: "));
 * ```
 */
export function usageErrorText(err: UsageError): string {
  const synopsis = err.command ? SUB_SYNOPSIS[err.command] : SYNOPSIS;
  const help = err.command ? `mcpmon ${err.command} --help` : "mcpmon --help";
  return `mcpmon: ${err.message}\n\nUsage: ${synopsis}\nRun '${help}' for all options.\n`;
}

/**
 * Parses mcpmon's arguments (without the program name). A first argument of
 * `restart`, `status`, `clean` or `wrap` selects that subcommand (`mcpmon --
 * status` runs a program called status). Otherwise the server command
 * follows `--`, or else starts at the first argument that is not an option
 * or an option's value; everything after that belongs to the command.
 * Relative watch paths and the log file are resolved against `cwd`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const cli = parseCli(["-w", "src", "--ext", ".py,json", "--", "python", "-m", "srv"], "/app");
 * assert.equal(cli.kind, "run");
 * if (cli.kind === "run") {
 *   assert.deepEqual(cli.server.watch, ["/app/src"]);
 *   assert.deepEqual(cli.server.extensions, ["py", "json"]);
 *   assert.equal(cli.server.command, "python");
 *   assert.deepEqual(cli.server.args, ["-m", "srv"]);
 *   assert.equal(cli.server.name, "srv");
 * }
 * ```
 *
 * @param argv The arguments after the program name.
 * @param cwd The directory relative paths are resolved against.
 * @param files How to read the project's `package.json` for a server's default name (default:
 *   `node:fs`).
 * @returns What to do.
 * @throws {UsageError} With a one-line message naming the bad flag or value.
 */
export function parseCli(
  argv: readonly string[],
  cwd: string,
  files: FileQueries = portableFiles,
): CliCommand {
  const first = argv[0] as Subcommand;
  if (!SUBCOMMANDS.includes(first)) return parseRun(argv, cwd, files);
  try {
    return parseSubcommand(first, argv.slice(1), cwd, files);
  } catch (err) {
    if (err instanceof UsageError) err.command ??= first;
    throw err;
  }
}

function parseSubcommand(
  sub: Subcommand,
  argv: readonly string[],
  cwd: string,
  files: FileQueries,
): CliCommand {
  if (sub === "wrap") {
    const cli = parseRun(argv, cwd, files, "wrap");
    return cli.kind === "help" ? { kind: "help", topic: "wrap" } : cli;
  }
  if (sub === "setup") return parseSetup(argv, cwd, files);
  if (sub === "help" || sub === "version") {
    const [topic, extra] = argv;
    if (sub === "version" || topic === undefined) {
      if (topic !== undefined) throw new UsageError(`unexpected argument: ${topic}`);
      return { kind: sub };
    }
    if (extra !== undefined) throw new UsageError(`unexpected argument: ${extra}`);
    if (topic === "help" || topic === "version" || !SUBCOMMANDS.includes(topic as Subcommand)) {
      throw new UsageError(`no help for "${topic}"; commands: ${HELP_TOPICS.join(", ")}`);
    }
    return { kind: "help", topic: topic as HelpTopic };
  }
  const { values, positionals } = parseFlags(argv, {
    help: "boolean",
    ...(sub === "clean" ? {} : { json: "boolean" as const }),
    ...(sub === "restart" ? { reason: "string" as const } : {}),
    ...(sub === "trace" ? { full: "boolean" as const } : {}),
  });
  if (values.help) return { kind: "help", topic: sub };
  const json = values.json === true;
  if (sub === "trace") {
    const [name, extra] = positionals;
    if (name === undefined || name === "") {
      throw new UsageError("missing server name (see 'mcpmon status')");
    }
    if (extra !== undefined) throw new UsageError(`unexpected argument: ${extra}`);
    return { kind: "trace", name, json, full: values.full === true };
  }
  if (sub === "restart") {
    const [name, extra] = positionals;
    if (name === undefined) throw new UsageError("missing server name (see 'mcpmon status')");
    if (name === "") throw new UsageError("empty server name");
    if (extra !== undefined) throw new UsageError(`unexpected argument: ${extra}`);
    const command: CliCommand = { kind: "restart", name };
    if (typeof values.reason === "string") command.reason = values.reason;
    if (json) command.json = true;
    return command;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument: ${positionals[0]}`);
  return sub === "status" ? { kind: "status", json } : { kind: "clean" };
}

/**
 * A subcommand's flags: long names (`--x`, `--x=v`, `--x v`) and `-h`;
 * everything else is positional, all of it after `--`. Split by `parseArgs`
 * (with `tokens`), checked here for the messages users see.
 */
function parseFlags(
  argv: readonly string[],
  spec: Record<string, "string" | "boolean">,
): { values: Record<string, string | boolean>; positionals: string[] } {
  const values: Record<string, string | boolean> = {};
  const positionals: string[] = [];
  const { tokens } = parseArgs({
    args: [...argv],
    options: Object.fromEntries(Object.entries(spec).map(([name, type]) => [name, { type }])),
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  for (const token of tokens) {
    if (token.kind === "option-terminator") {
      positionals.push(...argv.slice(token.index + 1));
      break;
    }
    if (token.kind === "positional") {
      positionals.push(token.value);
      continue;
    }
    if (token.rawName === "-h") {
      values.help = true;
      continue;
    }
    const type = token.rawName.startsWith("--") && Object.hasOwn(spec, token.name)
      ? spec[token.name]
      : undefined;
    if (type === undefined) throw new UsageError(`unknown option: ${token.rawName}`);
    if (type === "boolean") {
      if (token.inlineValue) throw new UsageError(`option ${token.rawName} takes no value`);
      values[token.name] = true;
    } else {
      if (!token.inlineValue) checkValue(token.value, token.rawName, token.name);
      if (token.value === "") throw new UsageError(`empty value for --${token.name}`);
      values[token.name] = token.value!;
    }
  }
  return { values, positionals };
}

/** The commands with a help text of their own. */
const HELP_TOPICS = SUBCOMMANDS.filter((s): s is HelpTopic => s !== "help" && s !== "version");

/** `setup`'s own flags (everything else before the command is one of mcpmon's options). */
const SETUP_OPTIONS = {
  name: { type: "string", short: "n" },
  print: { type: "boolean" },
  project: { type: "boolean" },
  wrap: { type: "string" },
  restore: { type: "string" },
  file: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const satisfies Record<string, CliOption>;

/**
 * `mcpmon setup <client> [setup flags] [mcpmon options] [--] <command...>`,
 * or with `--wrap <name>` / `--restore <name>` and no command. mcpmon's
 * options are checked as a plain run would check them.
 */
function parseSetup(argv: readonly string[], cwd: string, files: FileQueries): CliCommand {
  const [client, ...rest] = argv;
  if (client === "-h" || client === "--help") return { kind: "help", topic: "setup" };
  if (client === undefined || client.startsWith("-")) {
    throw new UsageError(`missing client: one of ${SETUP_CLIENTS.join(", ")}`);
  }
  if (!(SETUP_CLIENTS as readonly string[]).includes(client)) {
    throw new UsageError(`unknown client "${client}": one of ${SETUP_CLIENTS.join(", ")}`);
  }
  const flags: Record<string, string | boolean> = {};
  // parseArgs knows mcpmon's options and setup's own, so it finds where the command starts.
  const { tokens } = parseArgs({
    args: rest,
    options: { ...OPTIONS, ...SETUP_OPTIONS },
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  let commandAt = rest.length;
  let command: string[] = [];
  const own = new Set<number>(); // indices of setup's own flags and their values
  for (const token of tokens) {
    if (token.kind === "option-terminator") {
      commandAt = token.index;
      command = rest.slice(token.index + 1);
      break;
    }
    if (token.kind === "positional") {
      commandAt = token.index;
      command = rest.slice(token.index);
      break;
    }
    const type = Object.hasOwn(SETUP_OPTIONS, token.name) &&
        (token.rawName.startsWith("--") || token.rawName.length === 2)
      ? SETUP_OPTIONS[token.name as keyof typeof SETUP_OPTIONS].type
      : undefined;
    if (type === undefined) continue; // one of mcpmon's options: checked by parseRun below
    own.add(token.index);
    if (type === "boolean") {
      if (token.inlineValue) throw new UsageError(`option ${token.rawName} takes no value`);
      flags[token.name] = true;
    } else {
      if (!token.inlineValue) {
        checkValue(token.value, token.rawName, token.name);
        own.add(token.index + 1);
      }
      if (token.value === "") throw new UsageError(`empty value for --${token.name}`);
      flags[token.name] = token.value!;
    }
  }
  const mcpmonArgs = rest.slice(0, commandAt).filter((_, i) => !own.has(i));
  if (flags.help) return { kind: "help", topic: "setup" };
  const wrap = flags.wrap as string | undefined;
  const restore = flags.restore as string | undefined;
  if (wrap !== undefined && restore !== undefined) {
    throw new UsageError("--wrap and --restore cannot be combined");
  }
  if ((wrap !== undefined || restore !== undefined) && command.length > 0) {
    throw new UsageError(`--${wrap !== undefined ? "wrap" : "restore"} takes no command`);
  }
  if (restore !== undefined && mcpmonArgs.length > 0) {
    throw new UsageError(`--restore takes no mcpmon options (got ${mcpmonArgs[0]})`);
  }
  // mcpmon's options as a plain run would see them (usage errors included).
  const name = flags.name as string | undefined;
  const checked = parseRun(
    [...mcpmonArgs, "--", ...(command.length > 0 ? command : ["placeholder"])],
    cwd,
    files,
  );
  if (checked.kind !== "run") {
    throw new UsageError(
      `${mcpmonArgs.find((a) => a.startsWith("-")) ?? "this"} has no place in setup`,
    );
  }
  if (wrap === undefined && restore === undefined && command.length === 0) {
    throw new UsageError(`missing server command: ${SUB_SYNOPSIS.setup}`);
  }
  const request: SetupRequest = {
    client: client as SetupClient,
    name: name ?? wrap ?? restore ?? checked.server.name,
    print: flags.print === true,
    project: flags.project === true,
    mcpmonArgs,
    command,
    cwd,
  };
  if (flags.file !== undefined) request.file = resolve(cwd, flags.file as string);
  if (wrap !== undefined) request.wrap = wrap;
  if (restore !== undefined) request.restore = restore;
  return { kind: "setup", request };
}

/**
 * Parses the value of `--http`: `PORT`, `HOST:PORT` or `[IPv6]:PORT`; the
 * host defaults to `127.0.0.1`. Throws a one-line error for anything else.
 * (Here, not in `http_front.ts`, which is loaded only to serve HTTP.)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(parseListen("8080"), { hostname: "127.0.0.1", port: 8080 });
 * assert.deepEqual(parseListen("0.0.0.0:0"), { hostname: "0.0.0.0", port: 0 });
 * assert.deepEqual(parseListen("[::1]:3000"), { hostname: "::1", port: 3000 });
 * assert.throws(() => parseListen("localhost"));
 * ```
 */
export function parseListen(value: string): { hostname: string; port: number } {
  const match = /^(?:(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):)?(\d{1,5})$/.exec(value.trim());
  const port = match ? Number(match[2]) : NaN;
  if (!match || port > 65535) {
    throw new Error(
      `--http takes [host:]port (e.g. 8080, 127.0.0.1:8080, [::1]:8080, 0 for any free port), ` +
        `not "${value}"`,
    );
  }
  const host = match[1] ?? "127.0.0.1";
  return { hostname: host.startsWith("[") ? host.slice(1, -1) : host, port };
}

/** Flags `wrap` accepts for compatibility and ignores. */
const WRAP_IGNORED: ReadonlySet<string> = new Set(["--proxy"]);

function parseRun(
  argv: readonly string[],
  cwd: string,
  files: FileQueries,
  sub?: "wrap",
): CliCommand {
  const ignored = sub === "wrap" ? WRAP_IGNORED : new Set<string>();
  const { options: optionArgs, command } = splitCommand(argv, ignored);
  let values;
  try {
    ({ values } = parseArgs({
      args: optionArgs.filter((a) => !ignored.has(a)),
      options: OPTIONS,
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    // splitCommand reports the usual mistakes itself; this is a safety net.
    throw new UsageError(err instanceof Error ? err.message.split("\n")[0] : String(err));
  }
  if (values.help) return sub === "wrap" ? { kind: "help", topic: "wrap" } : { kind: "help" };
  if (values.version) return { kind: "version" };

  for (const [name, value] of Object.entries(values)) {
    if (name === "build") continue; // an empty build command means no build
    for (const v of Array.isArray(value) ? value : [value]) {
      if (v === "") throw new UsageError(`empty value for --${name}`);
    }
  }
  if (values.quiet && (values.verbose || values.debug)) {
    throw new UsageError(
      `--quiet cannot be combined with ${values.verbose ? "--verbose" : "--debug"}`,
    );
  }
  const level: LogLevel = values.quiet
    ? "error"
    : values.debug
    ? "debug"
    : values.verbose
    ? "verbose"
    : "info";
  const log: LogOptions = { level, timestamps: values.timestamps ?? false };
  if (values["log-file"] !== undefined) log.logFile = resolve(cwd, values["log-file"]);
  if (values.trace !== undefined) log.trace = resolve(cwd, values.trace);

  let http: HttpListen | undefined;
  if (values["http-token"] !== undefined && values.http === undefined) {
    throw new UsageError("--http-token goes with --http");
  }
  if (values.http !== undefined) {
    try {
      http = parseListen(values.http);
    } catch (err) {
      throw new UsageError(err instanceof Error ? err.message : String(err));
    }
    if (values["http-token"] !== undefined) http.token = values["http-token"];
  }

  if (values.config !== undefined) {
    if (command.length > 0) {
      throw new UsageError("--config runs the servers in the config file; give no server command");
    }
    const perServer = Object.keys(values).filter((k) => !GATEWAY_FLAGS.has(k));
    if (perServer.length > 0) {
      throw new UsageError(
        `--${perServer[0]} is set per server in the config file, not with --config`,
      );
    }
    return {
      kind: "gateway",
      config: resolve(cwd, values.config),
      name: values.name ?? "gateway",
      log,
      ...(values["call-through"] ? { callThrough: true } : {}),
      ...(http ? { http } : {}),
    };
  }

  let url: string | undefined;
  if (values.url !== undefined) {
    try {
      parseHttpUrl(values.url);
    } catch (err) {
      throw new UsageError(`--url: ${err instanceof Error ? err.message : err}`);
    }
    url = values.url;
  }
  let headers: Record<string, string> | undefined;
  if (values.header !== undefined) {
    if (url === undefined) throw new UsageError("--header goes with --url");
    headers = {};
    for (const text of values.header) {
      try {
        const [name, value] = parseHeader(text);
        headers[name] = value; // `${VAR}` is expanded when the server starts (main)
      } catch (err) {
        throw new UsageError(`--header: ${err instanceof Error ? err.message : err}`);
      }
    }
  }
  const [program, ...args] = command;
  if (program === "" || (program === undefined && url === undefined)) {
    throw new UsageError(`missing server command: ${sub ? SUB_SYNOPSIS[sub] : SYNOPSIS}`);
  }

  const server = serverOptions({
    name: values.name ??
      (program === undefined ? urlName(url!) : deriveName(program, args, cwd, files)),
    command: program ?? "",
    args,
    url,
    headers,
    // A server someone else runs is restarted by them: nothing to watch unless asked.
    watch: (values.watch ?? (program === undefined ? [] : ["."])).map((p) => resolve(cwd, p)),
    extensions: values.ext === undefined ? undefined : parseExtensions(values.ext),
    extraIgnore: values.ignore,
    debounceMs: parseMs(values.debounce, "--debounce", DEFAULT_DEBOUNCE_MS),
    graceMs: parseMs(values.grace, "--grace", DEFAULT_GRACE_MS),
    initTimeoutMs: parseMs(values["init-timeout"], "--init-timeout", DEFAULT_INIT_TIMEOUT_MS),
    restartTool: !values["no-restart-tool"],
    callThrough: values["call-through"] ? true : undefined,
    clearPycache: !values["keep-pycache"],
    ignoreFiles: !values["no-ignore-files"],
    maxMessageBytes: parseSize(values["max-message"], "--max-message"),
    minRestartIntervalMs: parseMs(
      values["min-interval"],
      "--min-interval",
      DEFAULT_MIN_RESTART_INTERVAL_MS,
    ),
    build: values.build,
  });
  return http ? { kind: "run", server, log, http } : { kind: "run", server, log };
}

/**
 * The default name of a server reached at `url` without a command: its host
 * and port (`127.0.0.1-3000`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(urlName("http://127.0.0.1:3000/mcp"), "127.0.0.1-3000");
 * assert.equal(urlName("https://api.example.com/mcp"), "api.example.com");
 * ```
 */
export function urlName(url: string): string {
  const { hostname, port } = new URL(url);
  return (port ? `${hostname}-${port}` : hostname).replace(/[^A-Za-z0-9._-]/g, "_");
}

/** Flags that go with --config (everything else is set per server in the file). */
const GATEWAY_FLAGS: ReadonlySet<string> = new Set([
  "config",
  "name",
  "call-through",
  "quiet",
  "verbose",
  "debug",
  "timestamps",
  "log-file",
  "trace",
  "http",
  "http-token",
]);

function optionOf(name: string): CliOption | undefined {
  return Object.hasOwn(OPTIONS, name) ? OPTIONS[name as OptionName] : undefined;
}

/**
 * Splits `argv` into mcpmon's options and the server command where
 * `parseArgs` (with `tokens`) finds the first positional or `--`, knowing
 * which options take a value; reports unknown options, values given to flags
 * and missing values.
 */
function splitCommand(
  argv: readonly string[],
  ignored: ReadonlySet<string>,
): { options: string[]; command: string[] } {
  const { tokens } = parseArgs({
    args: [...argv],
    options: OPTIONS,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  for (const token of tokens) {
    if (token.kind === "option-terminator") {
      return { options: argv.slice(0, token.index), command: argv.slice(token.index + 1) };
    }
    if (token.kind === "positional") {
      return { options: argv.slice(0, token.index), command: argv.slice(token.index) };
    }
    if (ignored.has(token.rawName)) continue;
    const option = optionOf(token.name);
    if (!option) throw new UsageError(`unknown option: ${token.rawName}`);
    if (option.type === "boolean" && token.inlineValue) {
      throw new UsageError(`option ${token.rawName} takes no value`);
    }
    if (option.type === "string" && !token.inlineValue) {
      checkValue(token.value, token.rawName, token.name);
    }
  }
  return { options: [...argv], command: [] };
}

/** A value that `parseArgs` took from the next argument: present, and not another option. */
function checkValue(value: string | undefined, flag: string, name: string): void {
  if (value === undefined || value === "--") throw new UsageError(`missing value for ${flag}`);
  if (value.startsWith("-") && value !== "-") {
    throw new UsageError(
      `missing value for ${flag} (got ${value}; write --${name}=${value} if that is the value)`,
    );
  }
}

function parseMs(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) {
    throw new UsageError(`${flag} must be a non-negative integer (milliseconds), got "${value}"`);
  }
  return n;
}

/** A size in bytes, with an optional K, M or G suffix (powers of 1024): `262144`, `256M`. */
function parseSize(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const match = /^(\d+)\s*([kmg])?(?:i?b)?$/i.exec(value.trim());
  const scale = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[match?.[2]?.toLowerCase() ?? ""] ?? 1;
  const n = match ? Number(match[1]) * scale : NaN;
  if (!Number.isSafeInteger(n) || n < 1024) {
    throw new UsageError(
      `${flag} must be a size of at least 1024 bytes (e.g. 256M), got "${value}"`,
    );
  }
  return n;
}

function parseExtensions(values: readonly string[]): string[] {
  const exts = parseExtensionList(values);
  if (exts === undefined) {
    throw new UsageError(`--ext needs at least one extension, got "${values}"`);
  }
  return exts;
}

/**
 * Runs the CLI on `runtime`: parses its arguments, prints help, the version
 * or a usage error, or runs the proxy. Resolves with the exit code: 0 ok,
 * 1 runtime failure, 2 usage error.
 *
 * @example
 * ```ts ignore
 * import { denoRuntime } from "./runtime/deno.ts";
 * denoRuntime.exit(await main(denoRuntime));
 * ```
 */
export async function main(runtime: Runtime): Promise<number> {
  const encoder = new TextEncoder();
  let cli: CliCommand;
  try {
    cli = parseCli(runtime.args, runtime.cwd(), runtime.files);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    runtime.writeStderr(encoder.encode(usageErrorText(err)));
    return 2;
  }
  switch (cli.kind) {
    case "help":
      await writeAll(
        runtime.stdout,
        encoder.encode(cli.topic ? SUBCOMMAND_HELP[cli.topic] : HELP),
      );
      return 0;
    case "version":
      await writeAll(runtime.stdout, encoder.encode(`mcpmon ${VERSION}\n`));
      return 0;
    // The proxy's modules are loaded only to run it (not for --help, --version or a subcommand).
    case "run":
      if (cli.server.headers) {
        try {
          for (const [name, value] of Object.entries(cli.server.headers)) {
            cli.server.headers[name] = expandHeaderVars(value, (v) => runtime.env(v));
          }
        } catch (err) {
          const message = `--header: ${err instanceof Error ? err.message : err}`;
          runtime.writeStderr(encoder.encode(usageErrorText(new UsageError(message))));
          return 2;
        }
      }
      {
        // The server starts now, while the proxy's modules load (its start-up overlaps theirs).
        const early = cli.http ? undefined : spawnEarly(runtime, cli.server);
        try {
          return await (await import("./run.ts")).run(
            early?.runtime ?? runtime,
            cli.server,
            cli.log,
            cli.http,
          );
        } finally {
          await early?.discard();
        }
      }
    case "gateway":
      return await (await import("./run.ts")).runGateway(runtime, cli.config, cli.name, cli.log, {
        callThrough: cli.callThrough,
        http: cli.http,
      });
    case "restart":
    case "status":
    case "clean":
    case "trace":
    case "setup":
      return await control(runtime, cli);
  }
}

/** Runs a control subcommand against the state directory. */
async function control(
  runtime: Runtime,
  cli: Extract<CliCommand, { kind: "restart" | "status" | "clean" | "trace" | "setup" }>,
): Promise<number> {
  const encoder = new TextEncoder();
  const stderr = (text: string) => runtime.writeStderr(encoder.encode(text));
  let written = Promise.resolve();
  const out: ControlOutput = {
    stdout: (text) => {
      written = written.then(() => writeAll(runtime.stdout, encoder.encode(text)));
    },
    stderr: (text) => stderr(`mcpmon: ${text}`),
  };
  let code: number;
  try {
    // Loaded only for a subcommand: the way to a running proxy does without them.
    const [{ cleanCommand, restartCommand, statusCommand }, { stateDir }, { setupCommand }, {
      traceCommand,
    }] = await Promise.all([
      import("./control.ts"),
      import("./registry.ts"),
      import("./setup.ts"),
      import("./trace_command.ts"),
    ]);
    const dir = stateDir((name) => runtime.env(name));
    code = cli.kind === "setup"
      ? setupCommand(cli.request, out, (name: string) => runtime.env(name))
      : cli.kind === "trace"
      ? await traceCommand(dir, cli.name, out, {
        json: cli.json,
        full: cli.full,
        pid: runtime.pid,
        onStop: (stop) => runtime.onSignal("SIGINT", stop),
      })
      : cli.kind === "restart"
      ? await restartCommand(dir, cli.name, cli.reason, out, { json: cli.json })
      : cli.kind === "status"
      ? await statusCommand(dir, cli.json, out)
      : await cleanCommand(dir, out);
  } catch (err) {
    stderr(`mcpmon: ${cli.kind} failed: ${err instanceof Error ? err.message : String(err)}\n`);
    code = 1;
  }
  await written;
  return code;
}

async function writeAll(stream: WritableStream<Uint8Array>, data: Uint8Array) {
  const writer = stream.getWriter();
  try {
    await writer.write(data);
  } finally {
    writer.releaseLock();
  }
}
