import assert from "node:assert/strict";
import {
  type CliCommand,
  main,
  OPTIONS,
  parseCli,
  SUBCOMMANDS,
  UsageError,
  usageErrorText,
} from "../src/cli.ts";
import { HELP, SUBCOMMAND_HELP } from "../src/help.ts";
import { deriveName } from "../src/server_name.ts";
import {
  DEFAULT_CRASH_BACKOFF,
  DEFAULT_DEBOUNCE_MS,
  DEFAULT_EXTENSIONS,
  DEFAULT_GRACE_MS,
  DEFAULT_IGNORE,
  DEFAULT_INIT_TIMEOUT_MS,
  DEFAULT_MIN_RESTART_INTERVAL_MS,
  type LogOptions,
  type ServerOptions,
} from "../src/config.ts";
import type { Runtime } from "../src/runtime/mod.ts";

const CWD = "/home/me/proj";

function run(...argv: string[]): { server: ServerOptions; log: LogOptions } {
  const cli: CliCommand = parseCli(argv, CWD);
  assert.equal(cli.kind, "run");
  return cli as Extract<CliCommand, { kind: "run" }>;
}

function usageError(argv: string[], message: RegExp, command?: string): void {
  assert.throws(() => parseCli(argv, CWD), (err: unknown) => {
    assert.ok(err instanceof UsageError, `expected a UsageError, got ${err}`);
    assert.match(err.message, message);
    assert.ok(!err.message.includes("\n"), "the message is one line");
    assert.equal(err.command, command, "the usage error names its subcommand");
    return true;
  });
}

Deno.test("defaults: watch the cwd for source files, info level, no timestamps", () => {
  const { server, log } = run("--", "python", "server.py");
  assert.deepEqual(server, {
    name: "proj", // server.py is generic: the directory it is in
    command: "python",
    args: ["server.py"],
    watch: [CWD],
    extensions: [...DEFAULT_EXTENSIONS],
    ignore: [...DEFAULT_IGNORE],
    debounceMs: DEFAULT_DEBOUNCE_MS,
    graceMs: DEFAULT_GRACE_MS,
    initTimeoutMs: DEFAULT_INIT_TIMEOUT_MS,
    restartTool: true,
    clearPycache: true,
    ignoreFiles: true,
    maxMessageBytes: 128 * 1024 * 1024,
    crashBackoff: DEFAULT_CRASH_BACKOFF,
    callThrough: false,
    minRestartIntervalMs: DEFAULT_MIN_RESTART_INTERVAL_MS,
  });
  assert.deepEqual(log, { level: "info", timestamps: false });
});

Deno.test("the command follows --, and everything after it is the server's", () => {
  const { server } = run("-w", "src", "--", "python", "-m", "srv", "--verbose", "--", "-w");
  assert.equal(server.command, "python");
  assert.deepEqual(server.args, ["-m", "srv", "--verbose", "--", "-w"]);
  assert.deepEqual(server.watch, [`${CWD}/src`]);
});

Deno.test("without --, the first non-option argument starts the command", () => {
  const { server, log } = run("-w", "src", "python", "-m", "srv", "-v", "--", "x");
  assert.equal(server.command, "python");
  assert.deepEqual(server.args, ["-m", "srv", "-v", "--", "x"]);
  assert.deepEqual(server.watch, [`${CWD}/src`]);
  assert.equal(log.level, "info", "-v after the command belongs to the command");
});

Deno.test("option values are not mistaken for the command", () => {
  const { server } = run(
    "--ext",
    "py",
    "-n",
    "x",
    "--debounce",
    "5",
    "-l",
    "a.log",
    "node",
    "i.js",
  );
  assert.equal(server.command, "node");
  assert.deepEqual(server.args, ["i.js"]);
  const joined = run("-wsrc", "-qt", "-epy", "--name=n", "deno", "run", "m.ts");
  assert.equal(joined.server.command, "deno");
  assert.deepEqual(joined.server.watch, [`${CWD}/src`]);
  assert.deepEqual(joined.server.extensions, ["py"]);
  assert.equal(joined.server.name, "n");
  assert.equal(joined.log.level, "error");
  assert.equal(joined.log.timestamps, true);
  const cluster = run("-tw", "lib", "node", "i.js");
  assert.deepEqual(cluster.server.watch, [`${CWD}/lib`]);
  assert.equal(cluster.log.timestamps, true);
});

Deno.test("-w/--watch is repeatable and resolved against the cwd", () => {
  const { server } = run(
    "-w",
    "src/",
    "--watch",
    "/abs/dir",
    "--watch=../shared",
    "-wconf",
    "--",
    "x",
  );
  assert.deepEqual(server.watch, [`${CWD}/src`, "/abs/dir", "/home/me/shared", `${CWD}/conf`]);
});

Deno.test("-e/--ext takes comma lists, is repeatable, and strips dots", () => {
  assert.deepEqual(run("-e", "py,json", "--", "x").server.extensions, ["py", "json"]);
  assert.deepEqual(
    run("--ext", ".py, .JSON", "-e", "toml", "--ext=py", "--", "x").server.extensions,
    ["py", "json", "toml"],
  );
});

Deno.test("-e '*' or 'all' means any file", () => {
  assert.deepEqual(run("-e", "*", "--", "x").server.extensions, []);
  assert.deepEqual(run("--ext", "py,all", "--", "x").server.extensions, []);
});

Deno.test("--ext without any extension is a usage error", () => {
  usageError(["-e", ",", "--", "x"], /--ext needs at least one extension/);
  usageError(["--ext", "", "--", "x"], /empty value for --ext/);
});

Deno.test("--ignore is repeatable and adds to the default ignores", () => {
  const { server } = run("--ignore", "dist/", "--ignore=*.log", "--", "x");
  assert.deepEqual(server.ignore, [...DEFAULT_IGNORE, "dist/", "*.log"]);
});

Deno.test("--debounce, --grace and --init-timeout take milliseconds", () => {
  const { server } = run("--debounce", "250", "--grace=0", "--init-timeout", "60000", "--", "x");
  assert.equal(server.debounceMs, 250);
  assert.equal(server.graceMs, 0);
  assert.equal(server.initTimeoutMs, 60000);
});

Deno.test("numbers must be non-negative integers", () => {
  for (const flag of ["--debounce", "--grace", "--init-timeout", "--min-interval"]) {
    for (const bad of ["-1", "1.5", "abc", "1e3", " 5", "0x10", "99999999999999999999"]) {
      usageError(
        [`${flag}=${bad}`, "--", "x"],
        new RegExp(`^${flag} must be a non-negative integer`),
      );
    }
  }
  usageError(
    ["--debounce", "soon", "--", "x"],
    /--debounce must be a non-negative integer.*"soon"/,
  );
});

Deno.test("--min-interval sets the least time between two starts", () => {
  assert.equal(run("--min-interval", "1500", "--", "x").server.minRestartIntervalMs, 1500);
  assert.equal(run("--min-interval=0", "--", "x").server.minRestartIntervalMs, 0);
});

Deno.test("--build sets the build command; an empty one means no build", () => {
  const { server } = run("--build", "npm run build", "--", "node", "dist/index.js");
  assert.equal(server.build, "npm run build");
  assert.equal(server.command, "node", "the build command's words are not the server command");
  assert.equal(run("--build=make -j4", "--", "x").server.build, "make -j4");
  assert.ok(!("build" in run("--build", "", "--", "x").server));
  assert.ok(!("build" in run("--build=", "--", "x").server));
  assert.ok(!("build" in run("--build", "  ", "--", "x").server));
  assert.ok(!("build" in run("--", "x").server));
  usageError(["--build"], /^missing value for --build$/);
});

Deno.test("--no-restart-tool and --keep-pycache turn the defaults off", () => {
  const off = run("--no-restart-tool", "--keep-pycache", "--", "x").server;
  assert.equal(off.restartTool, false);
  assert.equal(off.clearPycache, false);
  const on = run("--", "x").server;
  assert.equal(on.restartTool, true);
  assert.equal(on.clearPycache, true);
  usageError(["--no-restart-tool=1", "--", "x"], /^option --no-restart-tool takes no value$/);
  usageError(["--restart-tool", "--", "x"], /^unknown option: --restart-tool$/);
});

Deno.test("-n/--name sets the server name", () => {
  assert.equal(run("-n", "weather", "--", "python", "server.py").server.name, "weather");
  assert.equal(run("--name", "w2", "--", "python", "server.py").server.name, "w2");
});

Deno.test("log levels: -q errors only, -v verbose, --debug everything", () => {
  assert.equal(run("-q", "--", "x").log.level, "error");
  assert.equal(run("--quiet", "--", "x").log.level, "error");
  assert.equal(run("-v", "--", "x").log.level, "verbose");
  assert.equal(run("--verbose", "--", "x").log.level, "verbose");
  assert.equal(run("--debug", "--", "x").log.level, "debug");
  assert.equal(run("-v", "--debug", "--", "x").log.level, "debug");
});

Deno.test("--quiet with --verbose or --debug is a usage error", () => {
  usageError(["-q", "-v", "--", "x"], /--quiet cannot be combined with --verbose/);
  usageError(["--debug", "--quiet", "--", "x"], /--quiet cannot be combined with --debug/);
});

Deno.test("-t/--timestamps and -l/--log-file", () => {
  assert.equal(run("-t", "--", "x").log.timestamps, true);
  assert.equal(run("--timestamps", "--", "x").log.timestamps, true);
  assert.equal(run("-l", "mcpmon.log", "--", "x").log.logFile, `${CWD}/mcpmon.log`);
  assert.equal(run("--log-file", "/var/log/m.log", "--", "x").log.logFile, "/var/log/m.log");
  assert.equal(run("--", "x").log.logFile, undefined);
});

Deno.test("--help is grouped: usage, common options, restart control, logging, gateway, in under 50 lines", () => {
  const headings = ["Usage:", "Common options:", "Restart control:", "Logging", "Gateway:"];
  let at = -1;
  for (const heading of headings) {
    const i = HELP.indexOf(`\n${heading}`);
    assert.ok(i > at, `${heading} comes next`);
    at = i;
  }
  assert.ok(HELP.split("\n").length < 50, `${HELP.split("\n").length} lines`);
  assert.match(HELP, /replaces the defaults/, "--ext replaces the default extensions");
});

Deno.test("the client config in --help uses absolute paths only", () => {
  const example = HELP.slice(HELP.indexOf('"my-server"'));
  const paths = [...example.matchAll(/"(\/[^"]*|[^"/-][^"]*\/[^"]*)"/g)].map((m) => m[1]);
  assert.ok(paths.length >= 2, "it shows paths");
  for (const path of paths) assert.ok(path.startsWith("/"), `absolute: ${path}`);
});

Deno.test("mcpmon help [command] and mcpmon version are commands; -V prints the version", () => {
  assert.deepEqual(parseCli(["help"], CWD), { kind: "help" });
  assert.deepEqual(parseCli(["help", "restart"], CWD), { kind: "help", topic: "restart" });
  assert.deepEqual(parseCli(["help", "setup"], CWD), { kind: "help", topic: "setup" });
  assert.deepEqual(parseCli(["version"], CWD), { kind: "version" });
  assert.deepEqual(parseCli(["-V"], CWD), { kind: "version" });
  usageError(["help", "nope"], /^no help for "nope"; commands: restart, status/, "help");
  usageError(["version", "x"], /^unexpected argument: x$/, "version");
  assert.equal(run("--", "help").server.command, "help", "after --, help is a program");
  assert.equal(run("--", "version").server.command, "version");
});

Deno.test("--trace <file> is resolved against the cwd, and allowed with --config", () => {
  assert.equal(run("--trace", "t.jsonl", "--", "x").log.trace, `${CWD}/t.jsonl`);
  const gateway = parseCli(["--config", "g.yaml", "--trace", "/tmp/t.jsonl"], CWD);
  assert.equal(gateway.kind === "gateway" && gateway.log.trace, "/tmp/t.jsonl");
});

Deno.test("mcpmon trace <name> [--json] [--full]", () => {
  assert.deepEqual(parseCli(["trace", "my-server"], CWD), {
    kind: "trace",
    name: "my-server",
    json: false,
    full: false,
  });
  assert.deepEqual(parseCli(["trace", "--json", "s", "--full"], CWD), {
    kind: "trace",
    name: "s",
    json: true,
    full: true,
  });
  usageError(["trace"], /^missing server name/, "trace");
  usageError(["trace", "a", "b"], /^unexpected argument: b$/, "trace");
});

Deno.test("mcpmon setup <client> [--name N] [--print] [mcpmon options] -- <command...>", () => {
  const cli = parseCli(
    ["setup", "claude-code", "--print", "-w", "src", "--name", "srv", "--", "python", "server.py"],
    CWD,
  );
  assert.deepEqual(cli, {
    kind: "setup",
    request: {
      client: "claude-code",
      name: "srv",
      print: true,
      project: false,
      mcpmonArgs: ["-w", "src"],
      command: ["python", "server.py"],
      cwd: CWD,
    },
  });
  const derived = parseCli(["setup", "vscode", "node", "dist/index.js"], CWD);
  assert.equal(
    derived.kind === "setup" && derived.request.name,
    "proj",
    "name derived as for a run",
  );
  const wrap = parseCli(
    ["setup", "cursor", "--project", "--wrap", "weather", "--debounce", "50"],
    CWD,
  );
  assert.equal(wrap.kind === "setup" && wrap.request.wrap, "weather");
  assert.deepEqual(wrap.kind === "setup" && wrap.request.mcpmonArgs, ["--debounce", "50"]);
  const restore = parseCli(["setup", "claude-desktop", "--restore", "weather"], CWD);
  assert.equal(restore.kind === "setup" && restore.request.restore, "weather");
  assert.deepEqual(parseCli(["setup", "--help"], CWD), { kind: "help", topic: "setup" });
  usageError(
    ["setup"],
    /^missing client: one of claude-code, claude-desktop, cursor, vscode$/,
    "setup",
  );
  usageError(["setup", "zed", "--", "x"], /^unknown client "zed"/, "setup");
  usageError(["setup", "vscode"], /^missing server command/, "setup");
  usageError(["setup", "vscode", "--wrap", "a", "--", "x"], /^--wrap takes no command$/, "setup");
  usageError(["setup", "vscode", "--debounce", "soon", "--", "x"], /--debounce must be/, "setup");
  usageError(["setup", "vscode", "--restore", "a", "--wrap", "b"], /cannot be combined/, "setup");
});

Deno.test("-h/--help and --version need no command", () => {
  assert.deepEqual(parseCli(["-h"], CWD), { kind: "help" });
  assert.deepEqual(parseCli(["--help"], CWD), { kind: "help" });
  assert.deepEqual(parseCli(["--version"], CWD), { kind: "version" });
  assert.deepEqual(parseCli(["-w", "src", "--help", "--", "python", "x.py"], CWD), {
    kind: "help",
  });
});

Deno.test("--help after the command belongs to the command", () => {
  assert.deepEqual(run("--", "python", "x.py", "--help").server.args, ["x.py", "--help"]);
  assert.deepEqual(run("python", "x.py", "--help").server.args, ["x.py", "--help"]);
});

Deno.test("a missing command is a usage error", () => {
  const message = /^missing server command: mcpmon \[options\] -- <command> \[args\.\.\.\]$/;
  usageError([], message);
  usageError(["-w", "src"], message);
  usageError(["-w", "src", "--"], message);
  usageError(["--", ""], message);
});

Deno.test("unknown options are usage errors naming the option", () => {
  usageError(["--fast", "--", "x"], /^unknown option: --fast$/);
  usageError(["--fast=1", "--", "x"], /^unknown option: --fast$/);
  usageError(["-x", "--", "x"], /^unknown option: -x$/);
  usageError(["-qx", "--", "x"], /^unknown option: -x$/);
});

Deno.test("--config selects gateway mode with log flags and a name, resolved against cwd", () => {
  assert.deepEqual(parseCli(["--config", "cfg/.mcpmon.yaml", "-t", "-v"], CWD), {
    kind: "gateway",
    config: `${CWD}/cfg/.mcpmon.yaml`,
    name: "gateway",
    log: { level: "verbose", timestamps: true },
  });
  const named = parseCli(["-c", "/etc/m.yaml", "--name", "tools"], CWD);
  assert.equal(named.kind === "gateway" && named.name, "tools");
});

Deno.test("--config with a server command or a per-server flag is a usage error", () => {
  usageError(["--config", "a.yaml", "--", "node", "x.js"], /give no server command/);
  usageError(
    ["--config", "a.yaml", "--watch", "src"],
    /^--watch is set per server in the config file/,
  );
  usageError(["--config", "a.yaml", "--debounce", "5"], /^--debounce is set per server/);
});

Deno.test("a missing or dash-looking option value is a usage error", () => {
  usageError(["-w"], /^missing value for -w$/);
  usageError(["--watch", "--", "x"], /^missing value for --watch$/);
  usageError(["--ext", "-q", "--", "x"], /^missing value for --ext \(got -q; write --ext=-q/);
  usageError(["-qn"], /^missing value for -n$/);
});

Deno.test("a value given to a flag that takes none is a usage error", () => {
  usageError(["--quiet=yes", "--", "x"], /^option --quiet takes no value$/);
});

Deno.test("empty values are usage errors", () => {
  usageError(["--name=", "--", "x"], /^empty value for --name$/);
  usageError(["-w", "", "--", "x"], /^empty value for --watch$/);
});

Deno.test("the default name comes from the command", () => {
  const cases: [string[], string][] = [
    [["python", "-m", "my_server"], "my_server"],
    [["python3.12", "-u", "-m", "weather.server"], "weather"],
    [["python", "src/server.py"], "proj"],
    [["python", "tools.py"], "tools"],
    [["node", "dist/index.js"], "proj"],
    [["node", "packages/github/build/index.js"], "github"],
    [["node", "--import", "tsx", "./src/weather/main.ts"], "weather"],
    [["deno", "run", "-A", "main.ts"], "proj"],
    [["deno", "run", "-A", "/opt/srv/notes/mod.ts"], "notes"],
    [["bun", "src/app.tsx"], "proj"],
    [["bun", "run", "lib/search.ts"], "search"],
    [["uv", "run", "weather-mcp"], "weather-mcp"],
    [["uv", "run", "--with", "httpx", "python", "-m", "fetcher"], "fetcher"],
    [["uvx", "mcp-server-fetch"], "mcp-server-fetch"],
    [["npx", "-y", "@modelcontextprotocol/server-filesystem", "/tmp"], "server-filesystem"],
    [["npx", "some-mcp@1.2.3"], "some-mcp"],
    [["pnpm", "dlx", "tsx", "server/index.ts"], "server"],
    [["sage-mcp"], "sage-mcp"],
    [["/usr/local/bin/crucible-mcp", "--stdio"], "crucible-mcp"],
    [["./server.py"], "proj"],
    [["python", "/srv/__main__.py"], "srv"],
    [["node", "/index.js"], "index"],
  ];
  for (const [[command, ...args], name] of cases) {
    assert.equal(deriveName(command, args, CWD), name, [command, ...args].join(" "));
    assert.equal(run("--", command, ...args).server.name, name);
  }
});

Deno.test("HELP mentions every option in the parser's table", () => {
  for (const [name, option] of Object.entries(OPTIONS)) {
    const short = "short" in option ? `-${option.short}, ` : "";
    const value = option.type === "string" ? " <" : "";
    assert.ok(HELP.includes(`${short}--${name}${value}`), `HELP should list ${short}--${name}`);
  }
});

Deno.test("mcpmon restart <name> [--reason TEXT] [--json]", () => {
  assert.deepEqual(parseCli(["restart", "my-server"], CWD), { kind: "restart", name: "my-server" });
  assert.deepEqual(parseCli(["restart", "my-server", "--reason", "schema changed"], CWD), {
    kind: "restart",
    name: "my-server",
    reason: "schema changed",
  });
  assert.deepEqual(parseCli(["restart", "--reason=x y", "--json", "s"], CWD), {
    kind: "restart",
    name: "s",
    reason: "x y",
    json: true,
  });
  assert.deepEqual(parseCli(["restart", "--", "-odd-name"], CWD), {
    kind: "restart",
    name: "-odd-name",
  });
});

Deno.test("mcpmon restart: usage errors name the restart subcommand", () => {
  usageError(["restart"], /^missing server name/, "restart");
  usageError(["restart", "a", "b"], /^unexpected argument: b$/, "restart");
  usageError(["restart", "a", "--reason"], /^missing value for --reason$/, "restart");
  usageError(["restart", "a", "--reason="], /^empty value for --reason$/, "restart");
  usageError(["restart", "a", "--reason", "-x"], /write --reason=-x/, "restart");
  usageError(["restart", "a", "--fast"], /^unknown option: --fast$/, "restart");
  usageError(["restart", "a", "-v"], /^unknown option: -v$/, "restart");
  usageError(["restart", "a", "--json=yes"], /^option --json takes no value$/, "restart");
  usageError(["restart", ""], /^empty server name$/, "restart");
});

Deno.test("mcpmon status [--json] and mcpmon clean", () => {
  assert.deepEqual(parseCli(["status"], CWD), { kind: "status", json: false });
  assert.deepEqual(parseCli(["status", "--json"], CWD), { kind: "status", json: true });
  assert.deepEqual(parseCli(["clean"], CWD), { kind: "clean" });
  usageError(["status", "x"], /^unexpected argument: x$/, "status");
  usageError(["status", "--reason", "x"], /^unknown option: --reason$/, "status");
  usageError(["clean", "--json"], /^unknown option: --json$/, "clean");
  usageError(["clean", "now"], /^unexpected argument: now$/, "clean");
});

Deno.test("each subcommand has its own --help", () => {
  for (const sub of SUBCOMMANDS.filter((s) => s !== "help" && s !== "version")) {
    assert.deepEqual(parseCli([sub, "--help"], CWD), { kind: "help", topic: sub });
    assert.deepEqual(parseCli([sub, "-h"], CWD), { kind: "help", topic: sub });
    const text = SUBCOMMAND_HELP[sub];
    assert.ok(text.includes(`mcpmon ${sub}`), `${sub} help shows its synopsis`);
    for (const line of text.split("\n")) assert.ok(line.length <= 80, `line too long: ${line}`);
  }
  assert.deepEqual(parseCli(["restart", "x", "--help"], CWD), { kind: "help", topic: "restart" });
  assert.ok(SUBCOMMAND_HELP.restart.includes("--reason <text>"));
  assert.ok(SUBCOMMAND_HELP.restart.includes("--json"));
  assert.ok(SUBCOMMAND_HELP.status.includes("--json"));
  assert.ok(SUBCOMMAND_HELP.wrap.includes("--proxy"));
});

Deno.test("a subcommand word after options, or after --, is the server command", () => {
  assert.deepEqual(run("--", "status").server.command, "status");
  assert.deepEqual(run("--", "restart", "x").server.args, ["x"]);
  assert.deepEqual(run("-w", "src", "clean").server.command, "clean");
});

Deno.test("mcpmon wrap [--proxy] --name NAME -- cmd is the normal run", () => {
  const seedStyle = parseCli(
    ["wrap", "--proxy", "--name", "my-server", "--", "python", "/path/to/my/server.py"],
    CWD,
  );
  const plain = parseCli(["--name", "my-server", "--", "python", "/path/to/my/server.py"], CWD);
  assert.deepEqual(seedStyle, plain);
  assert.equal(seedStyle.kind, "run");
  assert.deepEqual(
    parseCli(["wrap", "-w", "src", "--proxy", "--build", "make", "node", "i.js"], CWD),
    parseCli(["-w", "src", "--build", "make", "node", "i.js"], CWD),
    "--proxy anywhere among the options; other options work",
  );
  assert.deepEqual(
    run("wrap", "--name", "n", "--", "python", "s.py", "--proxy").server.args,
    ["s.py", "--proxy"],
    "--proxy after the command belongs to the command",
  );
  assert.deepEqual(parseCli(["wrap", "--version"], CWD), { kind: "version" });
  usageError(["wrap", "--proxy"], /^missing server command: mcpmon wrap/, "wrap");
  usageError(["wrap", "--fast", "--", "x"], /^unknown option: --fast$/, "wrap");
  usageError(["--proxy", "--", "x"], /^unknown option: --proxy$/);
});

Deno.test("usageErrorText of a subcommand shows that subcommand's usage", () => {
  assert.equal(
    usageErrorText(new UsageError("missing server name", "restart")),
    "mcpmon: missing server name\n\n" +
      "Usage: mcpmon restart <name> [--reason TEXT] [--json]\n" +
      "Run 'mcpmon restart --help' for all options.\n",
  );
});

Deno.test("HELP lists the subcommands and how to run a program of the same name", () => {
  const usage = HELP.slice(HELP.indexOf("Usage:"), HELP.indexOf("Common options:"));
  for (const sub of SUBCOMMANDS.filter((s) => s !== "wrap")) {
    assert.match(usage, new RegExp(`\\b${sub}\\b`));
  }
  assert.ok(HELP.includes("mcpmon -- status"));
  assert.ok(HELP.includes("SIGHUP/SIGUSR2"));
});

Deno.test("HELP shows the synopsis, defaults, examples, MCP config and exit codes", () => {
  for (
    const text of [
      "mcpmon [options] -- <command> [args...]",
      `(default: ${DEFAULT_DEBOUNCE_MS})`,
      `(default: ${DEFAULT_GRACE_MS})`,
      `(default: ${DEFAULT_INIT_TIMEOUT_MS})`,
      `(default: ${DEFAULT_MIN_RESTART_INTERVAL_MS})`,
      `${DEFAULT_EXTENSIONS.join(",")} ('*': any file)`,
      "(default: .)",
      "0 ok, 1 runtime failure, 2 usage",
    ]
  ) assert.ok(HELP.includes(text), `HELP should include ${text}`);
  for (const line of HELP.split("\n")) assert.ok(line.length <= 80, `line too long: ${line}`);
});

Deno.test("usageErrorText gives the message, the short usage and a pointer to --help", () => {
  assert.equal(
    usageErrorText(new UsageError("unknown option: --fast")),
    "mcpmon: unknown option: --fast\n\n" +
      "Usage: mcpmon [options] -- <command> [args...]\n" +
      "Run 'mcpmon --help' for all options.\n",
  );
});

Deno.test("VERSION matches deno.json's version", async () => {
  const { VERSION } = await import("../src/version.ts");
  const denoJson = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  assert.equal(VERSION, denoJson.version);
});

Deno.test("--no-ignore-files and --max-message set the server's options; a bad size is a usage error", () => {
  const server = run("--no-ignore-files", "--max-message", "256M", "--", "x").server;
  assert.equal(server.ignoreFiles, false);
  assert.equal(server.maxMessageBytes, 256 * 1024 * 1024);
  assert.equal(run("--max-message", "2048", "--", "x").server.maxMessageBytes, 2048);
  assert.throws(() => run("--max-message", "12", "--", "x"), /at least 1024 bytes/);
  assert.throws(() => run("--max-message", "lots", "--", "x"), /--max-message must be a size/);
});

Deno.test("--call-through turns on the call-through tools, in single-server and gateway mode", () => {
  const { server } = run("--call-through", "--", "python", "server.py");
  assert.equal(server.callThrough, true);
  const gateway = parseCli(["--config", "gw.yaml", "--call-through"], CWD);
  assert.equal(gateway.kind === "gateway" && gateway.callThrough, true);
});

Deno.test("--url <url> names a server on Streamable HTTP: with a command mcpmon starts it; without one it only connects, named by host and port, watching nothing unless told", () => {
  const withCommand = run("--url", "http://127.0.0.1:3000/mcp", "--", "node", "server.js");
  assert.equal(withCommand.server.url, "http://127.0.0.1:3000/mcp");
  assert.equal(withCommand.server.command, "node");
  assert.deepEqual(withCommand.server.watch, [CWD]);
  for (
    const argv of [["--url", "http://127.0.0.1:3000/mcp"], [
      "--url=http://127.0.0.1:3000/mcp",
      "--",
    ]]
  ) {
    const { server } = run(...argv);
    assert.equal(server.command, "");
    assert.deepEqual(server.args, []);
    assert.equal(server.name, "127.0.0.1-3000");
    assert.deepEqual(server.watch, []);
  }
  assert.deepEqual(run("--url", "https://x.test/mcp", "-w", "src").server.watch, [`${CWD}/src`]);
});

Deno.test("--header 'Name: value' (repeatable) is sent to the --url server; ${VAR} is kept for main to expand when the server starts", () => {
  const { server } = run(
    "--url",
    "http://127.0.0.1:3000/mcp",
    "--header",
    "Authorization: Bearer ${DEV_TOKEN}",
    "--header=X-Team:dev",
    "--",
    "node",
    "server.js",
  );
  assert.deepEqual(server.headers, { Authorization: "Bearer ${DEV_TOKEN}", "X-Team": "dev" });
  assert.equal(run("--url", "http://127.0.0.1:3000/mcp").server.headers, undefined);
});

Deno.test("--header without --url, without a colon, naming a header mcpmon sets itself, or with --config is a usage error", () => {
  usageError(["--header", "X-Key: 1", "--", "node", "s.js"], /^--header goes with --url$/);
  usageError(
    ["--url", "http://127.0.0.1:1/mcp", "--header", "Authorization Bearer x"],
    /^--header: "Authorization …" is not a header: expected "Name: value"/,
  );
  usageError(
    ["--url", "http://127.0.0.1:1/mcp", "--header", "Mcp-Session-Id: x"],
    /^--header: Mcp-Session-Id cannot be set: mcpmon sets it itself$/,
  );
  usageError(
    ["--config", "g.yaml", "--header", "X-Key: 1"],
    /^--header is set per server in the config file/,
  );
});

Deno.test("--url refuses what is not an http(s) URL, and belongs in the config file with --config", () => {
  usageError(
    ["--url", "ftp://127.0.0.1/mcp"],
    /^--url: "ftp:\/\/127\.0\.0\.1\/mcp" is not an http:\/\/ or https:\/\/ URL/,
  );
  usageError(
    ["--url", "localhost:3000"],
    /^--url: "localhost:3000" is not an http:\/\/ or https:\/\//,
  );
  usageError(["--url", "nope", "--", "x"], /^--url: not a URL: "nope"/);
  usageError(["--url", "http://u:p@127.0.0.1/mcp"], /credentials/);
  usageError(
    ["--config", "g.yaml", "--url", "http://127.0.0.1:1/mcp"],
    /^--url is set per server in the config file/,
  );
  usageError([], /^missing server command/);
});

Deno.test("main(): a --header ${VAR} that is not set is a usage error naming it (exit 2), before anything starts", async () => {
  let stderr = "";
  const runtime = {
    name: "test",
    args: [
      "--url",
      "http://127.0.0.1:1/mcp",
      "--header",
      "Authorization: Bearer ${MCPMON_SPEC_NO_SUCH_TOKEN}",
    ],
    stdout: new WritableStream<Uint8Array>(),
    writeStderr: (data: Uint8Array) => void (stderr += new TextDecoder().decode(data)),
    env: () => undefined,
    cwd: () => "/",
  } as unknown as Runtime;
  assert.equal(await main(runtime), 2);
  assert.match(
    stderr,
    /^mcpmon: --header: \$\{MCPMON_SPEC_NO_SUCH_TOKEN\}: MCPMON_SPEC_NO_SUCH_TOKEN is not set/,
  );
});
