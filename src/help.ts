/**
 * The help texts: the grouped `--help` of a run (usage, common options,
 * restart control, logging, gateway, client config) and one text per
 * command. Long explanations live in the README.
 *
 * @module
 */
import type { Subcommand } from "./cli.ts";
import {
  DEFAULT_DEBOUNCE_MS,
  DEFAULT_EXTENSIONS,
  DEFAULT_GRACE_MS,
  DEFAULT_INIT_TIMEOUT_MS,
  DEFAULT_MIN_RESTART_INTERVAL_MS,
} from "./config.ts";

/**
 * Default longest wait of `mcpmon restart` for an instance's answer, in ms (here, not in
 * `control.ts`, so that the help text does not load the control commands).
 */
export const RESTART_TIMEOUT_MS = 90_000;

/** A client `mcpmon setup` knows. */
export type SetupClient = "claude-code" | "claude-desktop" | "cursor" | "vscode";

/** The clients `mcpmon setup` knows (here, so that parsing the command line does not load setup). */
export const SETUP_CLIENTS: readonly SetupClient[] = [
  "claude-code",
  "claude-desktop",
  "cursor",
  "vscode",
];

/** The commands that have a help text of their own. */
export type HelpTopic = Exclude<Subcommand, "help" | "version">;

/** The synopsis of a run. */
export const SYNOPSIS = "mcpmon [options] -- <command> [args...]";

/** One synopsis line per command. */
export const SUB_SYNOPSIS: Readonly<Record<Subcommand, string>> = {
  restart: "mcpmon restart <name> [--reason TEXT] [--json]",
  status: "mcpmon status [--json]",
  clean: "mcpmon clean",
  wrap: "mcpmon wrap [--proxy] [--name NAME] [options] -- <command> [args...]",
  setup: "mcpmon setup <client> [--name N] [--print] [options] -- <command> [args...]",
  trace: "mcpmon trace <name> [--json] [--full]",
  help: "mcpmon help [command]",
  version: "mcpmon version",
};

function helpRows(rows: [flags: string, description: string][], width = 26): string {
  return rows.map(([flags, description]) => {
    const lines = description.split("\n");
    const first = `  ${flags.padEnd(width)}${lines[0]}`;
    return [first, ...lines.slice(1).map((l) => `${" ".repeat(width + 2)}${l}`)].join("\n");
  }).join("\n");
}

/**
 * The `--help` text: usage, then the options in groups (common, restart
 * control, logging, gateway), an MCP client entry with absolute paths, and
 * the exit codes. About 40 lines; the README explains the rest.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.ok(HELP.includes("--watch"));
 * ```
 */
export const HELP: string =
  `mcpmon - hot reload for MCP servers: restarts your server when its files
change; the MCP client stays connected (MCP 2025 and 2026-07-28 alike).

Usage:
  ${SYNOPSIS}
  mcpmon --config <file>              a gateway: several servers, one entry
  mcpmon setup <client> -- <command>  add it to Claude Code/Desktop, Cursor...
  mcpmon restart|status|trace|clean   from another terminal
  mcpmon help [command] | version

Common options:
${
    helpRows([
      ["-w, --watch <path>", "File or directory to watch; repeatable (default: .)"],
      [
        "-e, --ext <list>",
        `Extensions to watch; replaces the defaults, which are\n${
          DEFAULT_EXTENSIONS.join(",")
        } ('*': any file)`,
      ],
      ["    --ignore <glob>", "Also ignore paths matching glob; repeatable"],
      ["    --no-ignore-files", "Do not apply the project's .gitignore and .ignore"],
      ["    --build <cmd>", "Shell command run before each restart"],
      ["-n, --name <name>", "Name for logs, status, restart (default: from command)"],
      ["    --url <url>", "HTTP server at url, command optional; --header <K: v>"],
      ["    --http <host:port>", "Serve on HTTP at /mcp (also --http-token <t>; README)"],
    ], 24)
  }

Restart control:
${
    helpRows([
      ["    --debounce <ms>", `Quiet time after a change (default: ${DEFAULT_DEBOUNCE_MS})`],
      [
        "    --min-interval <ms>",
        `Least time between restarts (default: ${DEFAULT_MIN_RESTART_INTERVAL_MS})`,
      ],
      ["    --grace <ms>", `To finish requests; SIGTERM to SIGKILL (default: ${DEFAULT_GRACE_MS})`],
      [
        "    --init-timeout <ms>",
        `To answer initialize/discover (default: ${DEFAULT_INIT_TIMEOUT_MS})`,
      ],
      ["    --no-restart-tool", "Do not offer the client the restart_server tool"],
      ["    --keep-pycache", "Keep the cached bytecode of changed .py files"],
      ["    --max-message <n>", "Longest JSON-RPC message, e.g. 256M (default: 128M)"],
    ], 24)
  }

Logging (on stderr):
${
    helpRows([
      ["-q, --quiet", "Only errors"],
      ["-v, --verbose", "Also file changes and restart timings"],
      ["    --debug", "Everything"],
      ["-t, --timestamps", "Time of day on each line"],
      ["-l, --log-file <file>", "Also append logs and the server's stderr to file"],
      ["    --trace <file>", "Append every JSON-RPC message to file (JSON lines)"],
    ], 24)
  }

Gateway:
${
    helpRows([
      ["-c, --config <file>", "Run the servers of a YAML or .mcp.json (--http too)"],
      [
        "    --call-through",
        "Add mcpmon_call_tool, for clients that never refresh",
      ],
    ], 24)
  }

In a client's config, use absolute paths (Claude Desktop starts servers in /):
  "my-server": { "command": "mcpmon", "args": ["--watch", "/home/me/proj/src",
                 "--", "python", "/home/me/proj/server.py"] }

Exit codes: 0 ok, 1 runtime failure, 2 usage error. SIGHUP/SIGUSR2 restart.
-h, --help; -V, --version; mcpmon -- status runs a program named status. README.
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
export const SUBCOMMAND_HELP: Readonly<Record<HelpTopic, string>> = {
  restart: `mcpmon restart - restart a running server from another terminal

Usage:
  ${SUB_SYNOPSIS.restart}

Asks each running mcpmon whose server is named <name> (see 'mcpmon status')
to restart its server now, as a file change would: the client stays
connected. Waits until the new server is ready or the restart failed, and
prints the outcome, e.g. "restarted my-server (restart #3, 84 ms, pid 1234)".
For a gateway, <gateway>/<server> restarts that one server behind it.

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
A gateway has a row per server behind it, named <gateway>/<server>
(in --json, its "backends").
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
  setup: `mcpmon setup - put a server under mcpmon in an MCP client's config

Usage:
  ${SUB_SYNOPSIS.setup}
  mcpmon setup <client> --wrap <name> [--print] [--project] [mcpmon options]
  mcpmon setup <client> --restore <name> [--print] [--project]

Writes the entry for <client> with absolute paths (clients start servers
in another directory: Claude Desktop in /), keeping the file as it was in
<file>.mcpmon-backup. Options before '--' are mcpmon's, as in a plain run.

Clients and files:
  claude-code     .mcp.json here ("mcpServers")
  claude-desktop  claude_desktop_config.json ("mcpServers"; per platform)
  cursor          ~/.cursor/mcp.json, or .cursor/mcp.json with --project
  vscode          .vscode/mcp.json here ("servers", "type": "stdio")

Options:
${
    helpRows([
      ["-n, --name <name>", "Entry name (default: derived from the command)"],
      ["    --print", "Print the entry instead of writing the file"],
      ["    --project", "Cursor: the project's .cursor/mcp.json"],
      ["    --wrap <name>", "Run an existing entry through mcpmon"],
      ["    --restore <name>", "Undo --wrap: the entry runs its server directly"],
      ["    --file <path>", "Write this config file instead"],
      ["-h, --help", "Show this help"],
    ])
  }

Example:
  mcpmon setup claude-code --watch src -- python server.py
`,
  trace: `mcpmon trace - follow a running instance's messages live

Usage:
  ${SUB_SYNOPSIS.trace}

Asks each running mcpmon named <name> to write every JSON-RPC message it
passes (both directions) to the state dir while you watch, and prints them:
time, direction, server and pid, method, id, size. Ctrl-C stops; the
instance stops tracing at its next message. An instance nobody traces
writes nothing. To record from the start, run the instance with --trace.

Options:
${
    helpRows([
      ["    --json", "Print the JSON lines as written (for jq)"],
      ["    --full", "Print whole messages, not the first 200 characters"],
      ["-h, --help", "Show this help"],
    ])
  }

${STATE_DIR_NOTE}
`,
};
