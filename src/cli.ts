/**
 * The command line: `mcpmon [options] -- <command> [args...]`, parsed into
 * server and log options; the subcommands `restart`, `status`, `clean` (see
 * `control.ts`) and `wrap` (an alias of the normal run); the help texts; exit
 * codes (0 ok, 1 runtime failure, 2 usage).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { basename, dirname, extname, resolve } from "node:path";
import {
  DEFAULT_DEBOUNCE_MS,
  DEFAULT_EXTENSIONS,
  DEFAULT_GRACE_MS,
  DEFAULT_IGNORE,
  DEFAULT_INIT_TIMEOUT_MS,
  DEFAULT_MIN_RESTART_INTERVAL_MS,
  type LogLevel,
  type LogOptions,
  parseExtensionList,
  type ServerOptions,
  serverOptions,
} from "./config.ts";
import {
  cleanCommand,
  type ControlOutput,
  RESTART_TIMEOUT_MS,
  restartCommand,
  stateDir,
  statusCommand,
} from "./control.ts";
import type { Runtime } from "./runtime/mod.ts";
import { VERSION } from "./version.ts";

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
export type Subcommand = "restart" | "status" | "clean" | "wrap";

/** The subcommands, in the order the help lists them. */
export const SUBCOMMANDS: readonly Subcommand[] = ["restart", "status", "clean", "wrap"];

/** What the command line asks for. */
export type CliCommand =
  | { kind: "help"; topic?: Subcommand }
  | { kind: "version" }
  | { kind: "run"; server: ServerOptions; log: LogOptions }
  | { kind: "gateway"; config: string; name: string; log: LogOptions }
  | { kind: "restart"; name: string; reason?: string; json?: boolean }
  | { kind: "status"; json: boolean }
  | { kind: "clean" };

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
  "keep-pycache": { type: "boolean" },
  name: { type: "string", short: "n" },
  quiet: { type: "boolean", short: "q" },
  verbose: { type: "boolean", short: "v" },
  debug: { type: "boolean" },
  timestamps: { type: "boolean", short: "t" },
  "log-file": { type: "string", short: "l" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean" },
} as const satisfies Record<string, CliOption>;

type OptionName = keyof typeof OPTIONS;

const SYNOPSIS = "mcpmon [options] -- <command> [args...]";

/** One synopsis line per subcommand. */
const SUB_SYNOPSIS: Record<Subcommand, string> = {
  restart: "mcpmon restart <name> [--reason TEXT] [--json]",
  status: "mcpmon status [--json]",
  clean: "mcpmon clean",
  wrap: "mcpmon wrap [--proxy] [--name NAME] [options] -- <command> [args...]",
};

function helpRows(rows: [flags: string, description: string][]): string {
  const width = 26;
  return rows.map(([flags, description]) => {
    const lines = description.split("\n");
    const first = `  ${flags.padEnd(width)}${lines[0]}`;
    return [first, ...lines.slice(1).map((l) => `${" ".repeat(width + 2)}${l}`)].join("\n");
  }).join("\n");
}

function wrapList(items: readonly string[], width: number): string {
  const lines: string[] = [];
  let line = "";
  for (const item of items) {
    const next = line === "" ? item : `${line}, ${item}`;
    if (next.length > width && line !== "") {
      lines.push(`${line},`);
      line = item;
    } else {
      line = next;
    }
  }
  if (line !== "") lines.push(line);
  return lines.join("\n");
}

/**
 * The full `--help` text: synopsis, every option with its default,
 * examples, an MCP client configuration example and the exit codes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.ok(HELP.includes("--watch"));
 * ```
 */
export const HELP: string = `mcpmon - hot reload for MCP servers

Runs an MCP server over stdio and restarts it when its files change; the
client stays connected and is told to refresh its tools, prompts and resources.

Usage:
  ${SYNOPSIS}
  mcpmon [options] <command> [args...]
  mcpmon --config <file> [log options]     (gateway: several servers)
  mcpmon restart|status|clean|wrap ...

Without '--', the first argument that is not an option starts the command.

Options:
${
  helpRows([
    [
      "-c, --config <file>",
      "Gateway mode: run the servers of a YAML config (or a\n" +
      ".mcp.json) behind one entry, names prefixed\n" +
      "<server>__<tool>; reloaded when the file changes",
    ],
    ["-w, --watch <path>", "File or directory to watch; repeatable\n(default: .)"],
    [
      "-e, --ext <list>",
      "Extensions that trigger a restart, comma-separated;\n" +
      "repeatable; '*' or 'all' for any file\n" +
      `(default: ${DEFAULT_EXTENSIONS.join(",")})`,
    ],
    [
      "    --ignore <glob>",
      "Also ignore paths matching glob (repeatable); a glob\n" +
      "without '/' matches any path segment, one with '/'\n" +
      "is relative to the watched path. Always ignored:\n" +
      wrapList(DEFAULT_IGNORE, 50),
    ],
    [
      "    --debounce <ms>",
      `Quiet time after the last change before restarting\n(default: ${DEFAULT_DEBOUNCE_MS})`,
    ],
    [
      "    --grace <ms>",
      "Longest wait for in-flight requests, and time from\n" +
      `SIGTERM to SIGKILL when stopping (default: ${DEFAULT_GRACE_MS})`,
    ],
    [
      "    --init-timeout <ms>",
      `Longest wait for the server to answer initialize\n(default: ${DEFAULT_INIT_TIMEOUT_MS})`,
    ],
    [
      "    --min-interval <ms>",
      "Least time between two restarts (the first after\n" +
      "launch is never held back); longer while restarts\n" +
      `keep failing (default: ${DEFAULT_MIN_RESTART_INTERVAL_MS})`,
    ],
    [
      "    --build <cmd>",
      "Shell command run before each restart while the old\n" +
      "server keeps serving; if it fails, the old server\n" +
      "stays and the client is told (default: none)",
    ],
    [
      "    --no-restart-tool",
      "Do not offer the client the restart_server tool",
    ],
    [
      "    --keep-pycache",
      "Keep __pycache__ directories (by default they are\n" +
      "removed under the watched paths before a restart)",
    ],
    [
      "-n, --name <name>",
      "Server name in logs, 'mcpmon status' and 'mcpmon\n" +
      "restart' (default: derived from the command)",
    ],
    ["-q, --quiet", "Only show errors"],
    ["-v, --verbose", "Also show file change details"],
    ["    --debug", "Show all debug output"],
    ["-t, --timestamps", "Include the time of day in log lines (default: off)"],
    ["-l, --log-file <file>", "Also append logs and the server's stderr to file"],
    ["-h, --help", "Show this help"],
    ["    --version", "Show mcpmon's version"],
  ])
}

Commands (from another terminal):
${
  helpRows([
    ["restart <name>", "Restart the server of a running mcpmon, by name"],
    ["status [--json]", "List running mcpmon instances"],
    ["clean", "Remove what dead instances left in the state dir"],
    [
      "wrap [--proxy] ...",
      "Same as a plain run (for configs written for\nclaude-code-mcp-reload's 'wrap')",
    ],
  ])
}
  Run 'mcpmon <command> --help' for details. A first argument of restart,
  status, clean or wrap is one of these commands; to run a program of that
  name, put '--' first: mcpmon -- status

Examples:
  mcpmon -- python server.py
  mcpmon --watch src/ --ext py,json -- python -m myserver
  mcpmon -t -l mcpmon.log -- node build/index.js
  mcpmon --build "npm run build" --watch src -- node dist/index.js
  mcpmon restart my-server --reason "schema changed"
  mcpmon --config .mcpmon.yaml

MCP config for Claude Code:
  claude mcp add my-server -- mcpmon --watch src -- python server.py

or in .mcp.json (Claude Code) / claude_desktop_config.json:
  {
    "mcpServers": {
      "my-server": {
        "command": "mcpmon",
        "args": ["--watch", "src", "--", "python", "server.py"]
      }
    }
  }

Signals: SIGHUP or SIGUSR2 to mcpmon restarts the server.

Exit codes: 0 ok, 1 runtime failure, 2 usage error.
`;

const STATE_DIR_NOTE = "Running instances register in $XDG_STATE_HOME/mcpmon, else ~/.mcpmon\n" +
  "(mode 0700; one file per instance, mode 0600).";

/**
 * The `--help` text of each subcommand.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.ok(SUBCOMMAND_HELP.restart.includes("--reason"));
 * ```
 */
export const SUBCOMMAND_HELP: Readonly<Record<Subcommand, string>> = {
  restart: `mcpmon restart - restart a running server from another terminal

Usage:
  ${SUB_SYNOPSIS.restart}

Asks each running mcpmon whose server is named <name> (see 'mcpmon status')
to restart its server now, as a file change would: the client stays
connected. Waits until the new server is ready or the restart failed, and
prints the outcome, e.g. "restarted my-server (restart #3, 84 ms, pid 1234)".

Options:
${
    helpRows([
      [
        "    --reason <text>",
        "Why; shown in the instance's log and status\n(default: mcpmon restart)",
      ],
      ["    --json", "Print the outcomes as a JSON array"],
      ["-h, --help", "Show this help"],
    ])
  }

${STATE_DIR_NOTE}
The request is a file there plus SIGUSR2 to the instance; a bare SIGHUP or
SIGUSR2 to an mcpmon process restarts its server too.

Exit codes: 0 restarted; 1 a restart failed or got no answer within ${RESTART_TIMEOUT_MS / 1000} s;
2 usage error, or no running mcpmon of that name (the running names are listed).
`,
  status: `mcpmon status - list running mcpmon instances

Usage:
  ${SUB_SYNOPSIS.status}

Shows, for each mcpmon: the server's name, mcpmon's pid, the server's pid,
uptime, restarts, state, the last restart's reason and the last error.
Instances whose process is gone show as "dead (run mcpmon clean)".

Options:
${
    helpRows([
      ["    --json", "Print a JSON array instead of a table\n(dead instances have alive: false)"],
      ["-h, --help", "Show this help"],
    ])
  }

${STATE_DIR_NOTE}

Exit codes: 0 ok, 1 the state dir cannot be read, 2 usage error.
`,
  clean: `mcpmon clean - forget instances that died

Usage:
  ${SUB_SYNOPSIS.clean}

Removes the files of mcpmon instances that are no longer running (an mcpmon
removes its own when it exits, unless it is killed with SIGKILL), and
requests no instance will take. Prints what it removed.

Options:
${helpRows([["-h, --help", "Show this help"]])}

${STATE_DIR_NOTE}

Exit codes: 0 ok, 1 the state dir cannot be read, 2 usage error.
`,
  wrap: `mcpmon wrap - run a server (compatibility alias)

Usage:
  ${SUB_SYNOPSIS.wrap}

The same as 'mcpmon [options] -- <command> [args...]', so MCP configs
written for claude-code-mcp-reload ('mcp-hot-reload wrap --proxy --name
my-server -- python server.py') work by changing the command to mcpmon.
--proxy is accepted and ignored: mcpmon always proxies. Every option of
'mcpmon --help' works here too.

Example:
  mcpmon wrap --proxy --name my-server -- python server.py
`,
};

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
 * @returns What to do.
 * @throws {UsageError} With a one-line message naming the bad flag or value.
 */
export function parseCli(argv: readonly string[], cwd: string): CliCommand {
  const first = argv[0] as Subcommand;
  if (!SUBCOMMANDS.includes(first)) return parseRun(argv, cwd);
  try {
    return parseSubcommand(first, argv.slice(1), cwd);
  } catch (err) {
    if (err instanceof UsageError) err.command ??= first;
    throw err;
  }
}

function parseSubcommand(sub: Subcommand, argv: readonly string[], cwd: string): CliCommand {
  if (sub === "wrap") {
    const cli = parseRun(argv, cwd, "wrap");
    return cli.kind === "help" ? { kind: "help", topic: "wrap" } : cli;
  }
  const { values, positionals } = parseFlags(argv, {
    help: "boolean",
    ...(sub === "clean" ? {} : { json: "boolean" as const }),
    ...(sub === "restart" ? { reason: "string" as const } : {}),
  });
  if (values.help) return { kind: "help", topic: sub };
  const json = values.json === true;
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
 * everything else is positional, all of it after `--`.
 */
function parseFlags(
  argv: readonly string[],
  spec: Record<string, "string" | "boolean">,
): { values: Record<string, string | boolean>; positionals: string[] } {
  const values: Record<string, string | boolean> = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i];
    if (token === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (token === "-h") {
      values.help = true;
    } else if (token.startsWith("--")) {
      const eq = token.indexOf("=");
      const name = token.slice(2, eq === -1 ? undefined : eq);
      const type = Object.hasOwn(spec, name) ? spec[name] : undefined;
      if (type === undefined) throw new UsageError(`unknown option: --${name}`);
      if (type === "boolean") {
        if (eq !== -1) throw new UsageError(`option --${name} takes no value`);
        values[name] = true;
      } else {
        if (eq === -1) i = valueIndex(argv, i, token, name);
        const value = eq === -1 ? argv[i] : token.slice(eq + 1);
        if (value === "") throw new UsageError(`empty value for --${name}`);
        values[name] = value;
      }
    } else if (token.startsWith("-") && token.length > 1) {
      throw new UsageError(`unknown option: ${token}`);
    } else {
      positionals.push(token);
    }
  }
  return { values, positionals };
}

/** Flags `wrap` accepts for compatibility and ignores. */
const WRAP_IGNORED: ReadonlySet<string> = new Set(["--proxy"]);

function parseRun(argv: readonly string[], cwd: string, sub?: "wrap"): CliCommand {
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
  if (values.help) return { kind: "help" };
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
    };
  }

  const [program, ...args] = command;
  if (program === undefined || program === "") {
    throw new UsageError(`missing server command: ${sub ? SUB_SYNOPSIS[sub] : SYNOPSIS}`);
  }

  const server = serverOptions({
    name: values.name ?? deriveName(program, args, cwd),
    command: program,
    args,
    watch: (values.watch ?? ["."]).map((p) => resolve(cwd, p)),
    extensions: values.ext === undefined ? undefined : parseExtensions(values.ext),
    extraIgnore: values.ignore,
    debounceMs: parseMs(values.debounce, "--debounce", DEFAULT_DEBOUNCE_MS),
    graceMs: parseMs(values.grace, "--grace", DEFAULT_GRACE_MS),
    initTimeoutMs: parseMs(values["init-timeout"], "--init-timeout", DEFAULT_INIT_TIMEOUT_MS),
    restartTool: !values["no-restart-tool"],
    clearPycache: !values["keep-pycache"],
    minRestartIntervalMs: parseMs(
      values["min-interval"],
      "--min-interval",
      DEFAULT_MIN_RESTART_INTERVAL_MS,
    ),
    build: values.build,
  });
  return { kind: "run", server, log };
}

/** Flags that go with --config (everything else is set per server in the file). */
const GATEWAY_FLAGS: ReadonlySet<string> = new Set([
  "config",
  "name",
  "quiet",
  "verbose",
  "debug",
  "timestamps",
  "log-file",
]);

const SHORT_NAMES: ReadonlyMap<string, OptionName> = new Map(
  (Object.entries(OPTIONS) as [OptionName, CliOption][])
    .filter(([, o]) => o.short !== undefined)
    .map(([name, o]) => [o.short as string, name]),
);

function optionOf(name: string): CliOption | undefined {
  return Object.hasOwn(OPTIONS, name) ? OPTIONS[name as OptionName] : undefined;
}

/**
 * Splits `argv` into mcpmon's options and the server command, knowing which
 * options take a value; reports unknown options and missing values.
 */
function splitCommand(
  argv: readonly string[],
  ignored: ReadonlySet<string>,
): { options: string[]; command: string[] } {
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i];
    if (token === "--") return { options: argv.slice(0, i), command: argv.slice(i + 1) };
    if (ignored.has(token)) continue;
    if (token.startsWith("--")) {
      const eq = token.indexOf("=");
      const name = token.slice(2, eq === -1 ? undefined : eq);
      const option = optionOf(name);
      if (!option) throw new UsageError(`unknown option: --${name}`);
      if (option.type === "boolean" && eq !== -1) {
        throw new UsageError(`option --${name} takes no value`);
      }
      if (option.type === "string" && eq === -1) i = valueIndex(argv, i, token, name);
    } else if (token.startsWith("-") && token.length > 1) {
      for (let j = 1; j < token.length; j++) {
        const name = SHORT_NAMES.get(token[j]);
        if (name === undefined) throw new UsageError(`unknown option: -${token[j]}`);
        if (OPTIONS[name].type === "string") {
          // The rest of the token is the value (`-wsrc`), or else the next argument.
          if (j === token.length - 1) i = valueIndex(argv, i, `-${token[j]}`, name);
          break;
        }
      }
    } else {
      return { options: argv.slice(0, i), command: argv.slice(i) };
    }
  }
  return { options: [...argv], command: [] };
}

/** The index of the value of the option at `i`, which must exist. */
function valueIndex(argv: readonly string[], i: number, flag: string, name: string): number {
  const value = argv[i + 1];
  if (value === undefined || value === "--") throw new UsageError(`missing value for ${flag}`);
  if (value.startsWith("-") && value !== "-") {
    throw new UsageError(
      `missing value for ${flag} (got ${value}; write --${name}=${value} if that is the value)`,
    );
  }
  return i + 1;
}

function parseMs(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) {
    throw new UsageError(`${flag} must be a non-negative integer (milliseconds), got "${value}"`);
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

/** Extensions of files that a server command may be run from. */
const SOURCE_EXTENSIONS = new Set([
  ...DEFAULT_EXTENSIONS,
  "pyw",
  "rb",
  "php",
  "pl",
  "lua",
  "go",
  "sh",
  "jar",
]);
/** File basenames that say nothing about which server it is. */
const GENERIC_FILES = new Set(["index", "main", "server", "__main__", "__init__", "app", "mod"]);
/** Directories that say nothing about which server it is. */
const GENERIC_DIRS = new Set(["src", "dist", "build", "lib", "out", "bin"]);
/** Commands that run the package or command named by their first argument. */
const RUNNERS: ReadonlyMap<string, readonly string[]> = new Map([
  ["npx", []],
  ["bunx", []],
  ["pnpx", []],
  ["uvx", []],
  ["uv", ["run", "tool"]],
  ["bun", ["x", "run"]],
  ["pnpm", ["dlx", "exec"]],
  ["yarn", ["dlx"]],
  ["npm", ["exec"]],
  ["poetry", ["run"]],
  ["pipenv", ["run"]],
  ["pdm", ["run"]],
  ["hatch", ["run"]],
  ["pipx", ["run"]],
]);
/** Options of those runners that take a separate value. */
const RUNNER_VALUE_FLAGS = new Set([
  "-p",
  "--package",
  "--with",
  "--with-requirements",
  "--python",
  "--project",
  "--directory",
  "--env-file",
  "--extra",
  "--group",
  "--from",
  "--spec",
]);

/**
 * The default server name for a command: the module of `python -m module`;
 * the package or command a runner such as `npx`, `uvx` or `uv run` starts;
 * the first source file's name, or its directory's when the file name is
 * generic (`index`, `main`, `server`, …), skipping generic directories
 * (`src`, `dist`, …); else the command's basename.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(deriveName("python", ["-m", "my_server"], "/"), "my_server");
 * assert.equal(deriveName("node", ["dist/index.js"], "/home/me/weather"), "weather");
 * assert.equal(deriveName("npx", ["-y", "@acme/files-mcp@1.2.0"], "/"), "files-mcp");
 * ```
 *
 * @param command The server program.
 * @param args Its arguments.
 * @param cwd The directory relative paths are resolved against.
 * @returns A short name; never empty.
 */
export function deriveName(command: string, args: readonly string[], cwd: string): string {
  const program = basename(command).replace(/\.(exe|cmd|bat)$/i, "");

  const subcommands = RUNNERS.get(program);
  if (subcommands !== undefined) {
    let i = 0;
    if (subcommands.length > 0) {
      if (!subcommands.includes(args[0] ?? "")) return fallbackName(command, args, cwd, program);
      i = 1;
    }
    for (; i < args.length; i++) {
      const arg = args[i];
      if (arg === "--") continue;
      if (arg.startsWith("-")) {
        if (RUNNER_VALUE_FLAGS.has(arg)) i++;
        continue;
      }
      return deriveName(arg, args.slice(i + 1), cwd);
    }
    return program;
  }

  if (/^(python[\d.]*|pypy[\d.]*|py)$/.test(program)) {
    const m = args.indexOf("-m");
    if (m !== -1 && args[m + 1] !== undefined) {
      const parts = args[m + 1].split(".");
      return parts.findLast((p) => !GENERIC_FILES.has(p)) ?? parts[parts.length - 1];
    }
  }
  return fallbackName(command, args, cwd, program);
}

function fallbackName(command: string, args: readonly string[], cwd: string, program: string) {
  const source = [command, ...args].find((a) =>
    !a.startsWith("-") && SOURCE_EXTENSIONS.has(extname(a).slice(1).toLowerCase())
  );
  if (source === undefined) return packageName(program) || command;
  const stem = basename(source, extname(source));
  if (!GENERIC_FILES.has(stem)) return stem;
  let dir = dirname(resolve(cwd, source));
  while (GENERIC_DIRS.has(basename(dir)) && dirname(dir) !== dir) dir = dirname(dir);
  return basename(dir) || stem;
}

/** `@scope/name@1.2.3` → `name`; `pkg==1.0` → `pkg`; `./bin/tool` → `tool`. */
function packageName(spec: string): string {
  const unscoped = spec.startsWith("@") ? spec.slice(spec.indexOf("/") + 1) : spec;
  return basename(unscoped.replace(/(@|==|>=|<=|~=|\[).*$/, ""));
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
    cli = parseCli(runtime.args, runtime.cwd());
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
      return await (await import("./run.ts")).run(runtime, cli.server, cli.log);
    case "gateway":
      return await (await import("./run.ts")).runGateway(runtime, cli.config, cli.name, cli.log);
    case "restart":
    case "status":
    case "clean":
      return await control(runtime, cli);
  }
}

/** Runs a control subcommand against the state directory. */
async function control(
  runtime: Runtime,
  cli: Extract<CliCommand, { kind: "restart" | "status" | "clean" }>,
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
    const dir = stateDir((name) => runtime.env(name));
    code = cli.kind === "restart"
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
