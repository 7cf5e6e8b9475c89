/**
 * The commands that control running mcpmon instances from another terminal,
 * through the state directory (`registry.ts`):
 *
 * - `mcpmon restart <name>` ({@linkcode restartCommand}) writes a request file
 *   `<dir>/<pid>.request.<id>.json`, sends the instance SIGUSR2 and waits for
 *   its status file to report `lastRestart.requestId === id`.
 * - `mcpmon status` ({@linkcode statusCommand}) lists the registered
 *   instances, live or dead.
 * - `mcpmon clean` ({@linkcode cleanCommand}) removes what dead instances
 *   left behind.
 *
 * @module
 */
import { join } from "node:path";
import process from "node:process";
import { RESTART_TIMEOUT_MS } from "./help.ts";
import {
  instanceAlive,
  type InstanceEntry,
  type InstanceStatus,
  leftovers,
  listInstances,
  readStatus,
  removeQuietly,
  requestPath,
  writeRequest,
} from "./registry.ts";

/** Where command output goes; the CLI passes stdout and stderr, tests capture it. */
export interface ControlOutput {
  /** Writes text (ending in a newline) to standard output. */
  stdout(text: string): void;
  /** Writes text (ending in a newline) to standard error. */
  stderr(text: string): void;
}

/** One element of `mcpmon status --json`. */
export type StatusJson = Partial<InstanceStatus> & {
  /** mcpmon's pid. */
  pid: number;
  /** Whether it is running; a dead one is removed by `mcpmon clean`. */
  alive: boolean;
  /** Time since mcpmon started, in ms; null for a dead instance. */
  uptimeMs: number | null;
};

/** Options of {@linkcode restartCommand}. */
export interface RestartCommandOptions {
  /** Print the outcomes as a JSON array instead of sentences. */
  json?: boolean;
  /** Longest wait for each instance's answer, in ms (default 90 000). */
  timeoutMs?: number;
  /** Time between two reads of an instance's status, in ms (default 50). */
  pollMs?: number;
}

export { RESTART_TIMEOUT_MS };

/** "12s", "3m12s", "2h05m", "3d04h". */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const pad = (n: number) => String(n).padStart(2, "0");
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${pad(Math.floor(s / 60) % 60)}m`;
  return `${Math.floor(s / 86400)}d${pad(Math.floor(s / 3600) % 24)}h`;
}

function oneLine(text: string | undefined, max: number): string {
  if (!text) return "";
  const first = text.split("\n").find((l) => l.trim() !== "")?.trim() ?? "";
  return first.length > max ? first.slice(0, max - 1) + "…" : first;
}

function runningNames(dir: string): string[] {
  const names = listInstances(dir).flatMap((e) => e.alive && e.status ? [e.status.name] : []);
  return [...new Set(names)].sort();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The outcome of one instance's restart, as `mcpmon restart --json` prints it. */
export interface RestartResult {
  /** The server's name. */
  name: string;
  /** The mcpmon instance's pid. */
  pid: number;
  /** True when a new server is serving. */
  ok: boolean;
  /** The restart's number, when the instance answered. */
  restart?: number;
  /** How long it took, in ms, when the instance answered. */
  durationMs?: number;
  /** The new server's pid. */
  serverPid?: number;
  /** Why it failed. */
  error?: string;
}

async function restartOne(
  dir: string,
  entry: InstanceEntry & { status: InstanceStatus },
  reason: string | undefined,
  timeoutMs: number,
  pollMs: number,
  server?: string,
): Promise<RestartResult> {
  const name = server === undefined ? entry.status.name : `${entry.status.name}/${server}`;
  const pid = entry.pid;
  const id = crypto.randomUUID();
  const request = requestPath(dir, pid, id);
  const result = (fields: Omit<RestartResult, "name" | "pid">): RestartResult => ({
    name,
    pid,
    ...fields,
  });
  try {
    writeRequest(request, { id, reason, server });
  } catch (err) {
    return result({ ok: false, error: `cannot write ${request}: ${messageOf(err)}` });
  }
  try {
    process.kill(pid, "SIGUSR2");
  } catch (err) {
    removeQuietly(request);
    return result({ ok: false, error: `cannot signal mcpmon (pid ${pid}): ${messageOf(err)}` });
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = readStatus(entry.path);
    const last = status?.lastRestart;
    if (last && (last.requestId === id || last.requestIds?.includes(id))) {
      const fields: Omit<RestartResult, "name" | "pid"> = {
        ok: last.ok,
        restart: last.restart,
        durationMs: last.durationMs,
      };
      const serverPid = last.pid ?? (last.ok ? status?.serverPid : undefined);
      if (serverPid !== undefined) fields.serverPid = serverPid;
      if (!last.ok) fields.error = last.error ?? "unknown error";
      return result(fields);
    }
    if (status === undefined || !instanceAlive(pid, entry.status.procStart)) {
      removeQuietly(request);
      return result({ ok: false, error: `mcpmon (pid ${pid}) stopped before restarting` });
    }
    if (Date.now() >= deadline) {
      removeQuietly(request);
      return result({
        ok: false,
        error: `no answer from mcpmon (pid ${pid}) within ${formatDuration(timeoutMs)}`,
      });
    }
    await sleep(pollMs);
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * `mcpmon restart <name>`: asks every running mcpmon named `name` to restart
 * its server (a request file, then SIGUSR2), waits for each answer and prints
 * the outcomes. Resolves with the exit code: 0 when all restarted, 1 when one
 * failed or did not answer, 2 when none is running under that name (the
 * running names are listed). `<gateway>/<server>` restarts one server of a
 * running gateway (2 when it has none of that name; its servers are listed).
 *
 * @example
 * ```ts ignore
 * const out = { stdout: (t: string) => console.log(t.trimEnd()), stderr: (t: string) => console.error(t.trimEnd()) };
 * Deno.exit(await restartCommand(stateDir(Deno.env.get), "my-server", "schema changed", out));
 * ```
 *
 * @param dir The state directory.
 * @param name The server name, as `mcpmon status` shows it.
 * @param reason Why; shown in the instance's log and status (default "mcpmon restart").
 * @param out Where to print.
 * @param options Output format and waits.
 */
export async function restartCommand(
  dir: string,
  name: string,
  reason: string | undefined,
  out: ControlOutput,
  options: RestartCommandOptions = {},
): Promise<number> {
  const live = listInstances(dir).filter((e): e is InstanceEntry & { status: InstanceStatus } =>
    e.alive && e.status !== undefined
  );
  let matches = live.filter((e) => e.status.name === name);
  // `<gateway>/<server>`: one server of a gateway.
  let server: string | undefined;
  const slash = name.lastIndexOf("/");
  if (matches.length === 0 && slash > 0 && slash < name.length - 1) {
    const gateways = live.filter((e) => e.status.name === name.slice(0, slash));
    server = name.slice(slash + 1);
    matches = gateways.filter((e) => e.status.backends?.some((b) => b.name === server));
    if (gateways.length > 0 && matches.length === 0) {
      const servers = [
        ...new Set(gateways.flatMap((e) => e.status.backends ?? []).map((b) => b.name)),
      ];
      out.stderr(
        `${name.slice(0, slash)} has no server named ${server}; its servers: ${
          servers.length > 0 ? servers.join(", ") : "none"
        }\n`,
      );
      return 2;
    }
  }
  if (matches.length === 0) {
    const running = runningNames(dir);
    out.stderr(
      `no running mcpmon named ${name}; running: ${
        running.length > 0 ? running.join(", ") : "none"
      }\n`,
    );
    return 2;
  }
  const results = await Promise.all(
    matches.map((entry) =>
      restartOne(
        dir,
        entry,
        reason ?? "mcpmon restart",
        options.timeoutMs ?? RESTART_TIMEOUT_MS,
        options.pollMs ?? 50,
        server,
      )
    ),
  );
  if (options.json) {
    out.stdout(JSON.stringify(results, null, 2) + "\n");
  } else {
    for (const r of results) {
      const who = matches.length > 1 ? `${r.name} [mcpmon pid ${r.pid}]` : r.name;
      if (r.ok) {
        const details = [`restart #${r.restart}`, `${r.durationMs} ms`];
        if (r.serverPid !== undefined) details.push(`pid ${r.serverPid}`);
        out.stdout(`restarted ${who} (${details.join(", ")})\n`);
      } else {
        out.stderr(`restart of ${who} failed: ${r.error}\n`);
      }
    }
  }
  return results.every((r) => r.ok) ? 0 : 1;
}

/**
 * `mcpmon status`: lists the registered instances as an aligned table (name,
 * mcpmon pid, server pid, uptime, restarts, state, last reason, first line of
 * the last error), or with `json` as an array of {@linkcode StatusJson}.
 * Instances whose process is gone show as "dead (run mcpmon clean)" /
 * `alive: false`. A gateway is followed by a row per server behind it,
 * `<gateway>/<server>` (in JSON: its `backends`). Resolves with 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mkdtempSync, rmSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * const dir = mkdtempSync(join(tmpdir(), "mcpmon-doc-"));
 * let printed = "";
 * const out = { stdout: (t: string) => void (printed += t), stderr: () => {} };
 * assert.equal(await statusCommand(dir, true, out), 0);
 * assert.deepEqual(JSON.parse(printed), []);
 * rmSync(dir, { recursive: true });
 * ```
 */
export function statusCommand(dir: string, json: boolean, out: ControlOutput): Promise<number> {
  const entries = listInstances(dir);
  const now = Date.now();
  if (json) {
    const list: StatusJson[] = entries.map((e) => ({
      ...e.status,
      pid: e.pid,
      alive: e.alive,
      uptimeMs: e.alive && e.status ? Math.max(0, now - e.status.startedAt) : null,
    }));
    out.stdout(JSON.stringify(list, null, 2) + "\n");
    return Promise.resolve(0);
  }
  if (entries.length === 0) {
    out.stdout("no mcpmon instances running\n");
    return Promise.resolve(0);
  }
  const rows = [[
    "NAME",
    "PID",
    "SERVER PID",
    "UPTIME",
    "RESTARTS",
    "STATE",
    "LAST REASON",
    "LAST ERROR",
  ]];
  for (const { pid, status, alive } of entries) {
    rows.push([
      status?.name ?? "?",
      String(pid),
      alive && status?.serverPid !== undefined ? String(status.serverPid) : "-",
      alive && status ? formatDuration(now - status.startedAt) : "-",
      String(status?.restarts ?? "-"),
      !alive ? "dead (run mcpmon clean)" : status ? status.state : "unreadable status file",
      oneLine(status?.lastReason, 40) || "-",
      oneLine(status?.lastError, 60) || "-",
    ]);
    // A gateway: a row per server behind it.
    for (const b of alive ? status?.backends ?? [] : []) {
      rows.push([
        `${status!.name}/${b.name}`,
        String(pid),
        b.serverPid !== undefined ? String(b.serverPid) : "-",
        "-",
        String(b.restarts),
        b.state,
        oneLine(b.lastReason, 40) || "-",
        oneLine(b.lastError, 60) || "-",
      ]);
    }
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const row of rows) {
    out.stdout(
      row.map((cell, i) => i === row.length - 1 ? cell : cell.padEnd(widths[i])).join("  ") + "\n",
    );
  }
  return Promise.resolve(0);
}

/**
 * `mcpmon clean`: removes the status files of dead instances, request files
 * no live instance will take, and temp files whose writer is gone; prints
 * each removal. Resolves with 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mkdtempSync, rmSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * const dir = mkdtempSync(join(tmpdir(), "mcpmon-doc-"));
 * let printed = "";
 * const out = { stdout: (t: string) => void (printed += t), stderr: () => {} };
 * assert.equal(await cleanCommand(dir, out), 0);
 * assert.equal(printed, "nothing to clean\n");
 * rmSync(dir, { recursive: true });
 * ```
 */
export function cleanCommand(dir: string, out: ControlOutput): Promise<number> {
  let removed = 0;
  for (const { file, what } of leftovers(dir)) {
    if (removeQuietly(join(dir, file))) {
      out.stdout(`removed ${file} (${what})\n`);
      removed++;
    }
  }
  if (removed === 0) out.stdout("nothing to clean\n");
  return Promise.resolve(0);
}
