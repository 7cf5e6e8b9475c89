/**
 * Whether a server command can start, checked before serving: a mistyped
 * program name (`mcpmon pyhton server.py`) is a startup error naming the
 * command, not a session of errors that no save can fix. Asks the runtime's
 * {@linkcode FileQueries} (default: `node:fs`'s), so it runs the same on
 * Deno, Node and Bun.
 *
 * @module
 */
import { isAbsolute, join, resolve } from "node:path";
import { portableFiles } from "./runtime/files.ts";
import type { FileQueries } from "./runtime/mod.ts";

/** Where to look for a command. */
export interface LookupOptions {
  /** The directory a relative command path is resolved against (the server's cwd). */
  cwd: string;
  /** The `PATH` the server gets. */
  path: string | undefined;
  /** Windows' `PATHEXT`; ignored elsewhere. */
  pathExt?: string | undefined;
  /** The platform, as Node spells it (default: this one). */
  platform?: string;
  /** How files are looked at (default: `node:fs`). */
  files?: FileQueries;
}

/** The outcome of {@linkcode findCommand}. */
export type CommandLookup =
  | { ok: true; path: string }
  | { ok: false; reason: string };

/**
 * Finds the program `command` would run: a path (with a `/`) is resolved
 * against `cwd`, a bare name is looked up on `PATH`. Fails, with a reason
 * for people, when there is no such file, it is a directory or it is not
 * executable; a bare name that is not found gets the closest program names
 * on `PATH` as suggestions.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const found = findCommand("sh", { cwd: "/", path: "/usr/bin:/bin" });
 * assert.equal(found.ok, true);
 * const typo = findCommand("pyhton-not-there", { cwd: "/", path: "/usr/bin:/bin" });
 * assert.equal(typo.ok, false);
 * ```
 *
 * @param command The program, as written in the config or on the command line.
 * @param options The server's cwd and `PATH`.
 * @returns The program's path, or why it cannot start.
 */
export function findCommand(command: string, options: LookupOptions): CommandLookup {
  const windows = (options.platform ?? thisPlatform()) === "win32";
  const files = options.files ?? portableFiles;
  const exts = windows
    ? ["", ...(options.pathExt ?? ".COM;.EXE;.BAT;.CMD").split(";").filter(Boolean)]
    : [""];
  const isPath = command.includes("/") || (windows && command.includes("\\"));
  if (isPath) {
    const full = isAbsolute(command) ? command : resolve(options.cwd, command);
    let notExecutable: string | undefined;
    for (const ext of exts) {
      const state = fileState(files, full + ext, windows);
      if (state === "ok") return { ok: true, path: full + ext };
      if (state === "directory") return { ok: false, reason: `${full} is a directory` };
      if (state === "not-executable") notExecutable ??= full + ext;
    }
    return notExecutable !== undefined
      ? { ok: false, reason: `${notExecutable} is not executable (chmod +x?)` }
      : { ok: false, reason: `${full}: no such file` };
  }
  const dirs = (options.path ?? "").split(windows ? ";" : ":").filter((d) => d !== "");
  let notExecutable: string | undefined;
  for (const dir of dirs) {
    for (const ext of exts) {
      const candidate = join(resolve(options.cwd, dir), command + ext);
      const state = fileState(files, candidate, windows);
      if (state === "ok") return { ok: true, path: candidate };
      if (state === "not-executable") notExecutable ??= candidate;
    }
  }
  if (notExecutable !== undefined) {
    return { ok: false, reason: `${notExecutable} is not executable (chmod +x?)` };
  }
  const suggestions = similarPrograms(files, command, dirs.map((d) => resolve(options.cwd, d)));
  const hint = suggestions.length > 0
    ? ` (did you mean ${suggestions.map((s) => `"${s}"`).join(" or ")}?)`
    : "";
  return { ok: false, reason: `"${command}" was not found on PATH${hint}` };
}

function fileState(
  files: FileQueries,
  path: string,
  windows: boolean,
): "ok" | "missing" | "directory" | "not-executable" {
  const kind = files.kind(path);
  if (kind === undefined) return "missing";
  if (kind === "directory") return "directory";
  if (windows) return "ok";
  return files.executable(path) ? "ok" : "not-executable";
}

/** The platform mcpmon runs on, as Node spells it (`process.platform`). */
function thisPlatform(): string | undefined {
  return (globalThis as { process?: { platform?: string } }).process?.platform;
}

/** Program names on `dirs` at most two edits away from `name`, closest first (at most 3). */
function similarPrograms(files: FileQueries, name: string, dirs: readonly string[]): string[] {
  if (name.length < 3) return [];
  const found = new Map<string, number>();
  for (const dir of dirs) {
    let entries: string[];
    try {
      entries = files.readDir(dir);
    } catch {
      continue;
    }
    for (const entry of entries) {
      if (Math.abs(entry.length - name.length) > 2 || found.has(entry)) continue;
      const d = editDistance(name, entry);
      if (d <= 2) found.set(entry, d);
    }
  }
  return [...found].sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0]))
    .slice(0, 3).map(([entry]) => entry);
}

/**
 * Edits (insert, delete, substitute, swap two neighbours) between `a` and `b`:
 * `pyhton` is one from `python`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(editDistance("pyhton", "python"), 1);
 * assert.equal(editDistance("pyhton", "python3"), 2);
 * ```
 */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}
