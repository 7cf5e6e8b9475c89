/**
 * The default name of a server, derived from its command (`python -m
 * weather.server` → `weather`, `npm run start` → the project's name): what
 * the logs, `mcpmon status` and `mcpmon restart <name>` call it when `--name`
 * is not given.
 *
 * @module
 */
import { basename, dirname, extname, join, resolve } from "node:path";
import { DEFAULT_EXTENSIONS } from "./config.ts";
import { portableFiles } from "./runtime/files.ts";
import type { FileQueries } from "./runtime/mod.ts";

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
/**
 * Commands that run the project in their directory (a script of its
 * package.json, a container, a task), whose own name says nothing about
 * which server it is: by the first argument that is not a flag, or any.
 */
const PROJECT_LAUNCHERS: ReadonlyMap<string, (first: string | undefined) => boolean> = new Map<
  string,
  (first: string | undefined) => boolean
>([
  [
    "npm",
    (a) => a === undefined || ["run", "run-script", "rum", "start", "test", "restart"].includes(a),
  ],
  ["pnpm", (a) => a !== "dlx" && a !== "exec"],
  ["yarn", (a) => a !== "dlx"],
  ["bun", (a) => a === "run" || a === "start"],
  ["docker", (a) => a === "run" || a === "compose" || a === "start"],
  ["podman", (a) => a === "run" || a === "compose" || a === "start"],
  ["deno", (a) => a === "task"],
  ["make", () => true],
  ["just", () => true],
]);
/** Options of those launchers that name the project's directory. */
const PROJECT_DIR_FLAGS = new Set(["--prefix", "-C", "--dir", "--cwd", "--project-directory"]);

/**
 * The project a launcher runs: its directory (from `--prefix`/`-C`/`--dir`/
 * `--cwd` or the cwd), and the first argument that is not a flag.
 */
function launchedProject(args: readonly string[], cwd: string): { dir: string; first?: string } {
  let dir = cwd;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const eq = arg.indexOf("=");
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    if (PROJECT_DIR_FLAGS.has(flag)) {
      const value = eq === -1 ? args[++i] : arg.slice(eq + 1);
      if (value !== undefined) dir = resolve(cwd, value);
      continue;
    }
    if (!arg.startsWith("-")) return { dir, first: arg };
  }
  return { dir };
}

/** A project's name: its package.json's (without the scope), else its directory's. */
function projectName(dir: string, files: FileQueries): string | undefined {
  try {
    const name = JSON.parse(files.readText(join(dir, "package.json"))).name;
    if (typeof name === "string" && name !== "") return packageName(name);
  } catch { /* no package.json, or not JSON */ }
  let d = dir;
  while (GENERIC_DIRS.has(basename(d)) && dirname(d) !== d) d = dirname(d);
  return basename(d) || undefined;
}

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
 * The default server name for a command: for a launcher that runs the
 * project in its directory (`npm run start`, `pnpm dev`, `yarn start`,
 * `bun run dev`, `docker run …`, `docker compose run …`, `deno task`,
 * `make`), the project's name (package.json's, else the directory's); the
 * module of `python -m module`;
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
 * assert.equal(deriveName("docker", ["run", "-i", "--rm", "mcp/time"], "/home/me/clock"), "clock");
 * ```
 *
 * @param command The server program.
 * @param args Its arguments.
 * @param cwd The directory relative paths are resolved against.
 * @param files How to read a `package.json` (default: `node:fs`).
 * @returns A short name; never empty.
 */
export function deriveName(
  command: string,
  args: readonly string[],
  cwd: string,
  files: FileQueries = portableFiles,
): string {
  const program = basename(command).replace(/\.(exe|cmd|bat)$/i, "");

  const launches = PROJECT_LAUNCHERS.get(program);
  if (launches !== undefined) {
    const project = launchedProject(args, cwd);
    const source = program === "bun" && project.first === "run"
      ? args[args.indexOf("run") + 1]
      : undefined;
    const runsFile = source !== undefined && SOURCE_EXTENSIONS.has(extname(source).slice(1));
    if (launches(project.first) && !runsFile) {
      const name = projectName(project.dir, files);
      if (name !== undefined) return name;
    }
  }

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
      return deriveName(arg, args.slice(i + 1), cwd, files);
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
