/**
 * Control of running mcpmon instances from another terminal, through files in
 * a per-user state directory; no TCP port.
 *
 * Each running mcpmon registers as `<dir>/<pid>.json` (mode 0600, written
 * atomically: a temp file in the same directory, then a rename), holding its
 * {@linkcode InstanceStatus}. The directory is `$XDG_STATE_HOME/mcpmon` or
 * `~/.mcpmon`, mode 0700 (see {@linkcode stateDir}).
 *
 * - `mcpmon restart <name>` ({@linkcode restartCommand}) writes a request file
 *   `<dir>/<pid>.request.<id>.json`, sends the instance SIGUSR2 and waits for
 *   its status file to report `lastRestart.requestId === id`.
 * - `mcpmon status` ({@linkcode statusCommand}) lists the registered
 *   instances, live or dead.
 * - `mcpmon clean` ({@linkcode cleanCommand}) removes what dead instances
 *   left behind.
 *
 * The instance side is {@linkcode Registry}: `run()` opens it once its signal
 * handlers are in place, updates it on every state change, takes the pending
 * request on SIGUSR2/SIGHUP and records the outcome, and closes it on exit.
 *
 * Only `node:fs`, `node:path`, `node:os` and `node:process` are used, so this
 * runs unchanged on Deno, Node and Bun.
 *
 * @module
 */
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { homedir } from "node:os";
import { basename, dirname, isAbsolute, join } from "node:path";
import process from "node:process";
import type { BackendState, RestartOutcome } from "./backend.ts";
import { VERSION } from "./version.ts";

/** Where command output goes; the CLI passes stdout and stderr, tests capture it. */
export interface ControlOutput {
  /** Writes text (ending in a newline) to standard output. */
  stdout(text: string): void;
  /** Writes text (ending in a newline) to standard error. */
  stderr(text: string): void;
}

/** How the last restart requested through the state directory (or a signal) went. */
export interface LastRestart {
  /** The id of the request it answered; absent for a bare signal. */
  requestId?: string;
  /** Ids of further requests folded into the same restart. */
  requestIds?: string[];
  /** True when a new server is serving. */
  ok: boolean;
  /** The restart's number (1 for the first restart after the initial start). */
  restart: number;
  /** Time from the request to ready (or failure), in ms. */
  durationMs: number;
  /** The new server's pid, when one started. */
  pid?: number;
  /** Why it failed. */
  error?: string;
  /** When it finished (ms since the epoch). */
  at: number;
}

/** One server behind a gateway, as `mcpmon status` shows it. */
export interface BackendStatus {
  /** The server's name in the gateway's config. */
  name: string;
  /** Its state. */
  state: BackendState;
  /** Its process's pid, while one runs. */
  serverPid?: number;
  /** Its completed restarts. */
  restarts: number;
  /** Why it last restarted. */
  lastReason?: string;
  /** Why it last failed. */
  lastError?: string;
}

/** What a running mcpmon publishes in `<dir>/<pid>.json`. */
export interface InstanceStatus {
  /** The server's name (`--name`, or derived from the command). */
  name: string;
  /** mcpmon's own pid. */
  pid: number;
  /** The server's pid, while one runs. */
  serverPid?: number;
  /** The backend's state. */
  state: BackendState;
  /** When mcpmon started (ms since the epoch). */
  startedAt: number;
  /** Completed restarts (the initial start is not one). */
  restarts: number;
  /** Why the server last restarted. */
  lastReason?: string;
  /** Why it last failed. */
  lastError?: string;
  /** The server command and its arguments. */
  command: string[];
  /** The server's working directory. */
  cwd: string;
  /** mcpmon's version. */
  version: string;
  /** When this file was last written (ms since the epoch). */
  updatedAt: number;
  /** The last restart asked for by `mcpmon restart` or a signal. */
  lastRestart?: LastRestart;
  /**
   * The process's start time from `/proc/<pid>/stat` (Linux), so a pid reused
   * by another process is not taken for this instance.
   */
  procStart?: string;
  /** A gateway's servers, one entry each (`mcpmon restart <gateway>/<server>`). */
  backends?: BackendStatus[];
}

/** What {@linkcode Registry.open} needs to know about the instance. */
export interface InstanceInfo {
  /** The server's name. */
  name: string;
  /** mcpmon's own pid. */
  pid: number;
  /** The server command and its arguments. */
  command: string[];
  /** The server's working directory. */
  cwd: string;
  /** When mcpmon started (ms since the epoch). */
  startedAt: number;
}

/** A restart request taken by {@linkcode Registry.takeRequest}. */
export interface RestartRequest {
  /** Echo it as `lastRestart.requestId` once the restart is over. */
  id: string;
  /** Why, as the requester said; absent: use the signal's name. */
  reason?: string;
  /** Gateway: the one server to restart; absent: all of them. */
  server?: string;
}

/** One instance file in the state directory, as a client sees it. */
export interface InstanceEntry {
  /** The pid in the file name. */
  pid: number;
  /** The file's path. */
  path: string;
  /** Its content; absent when it cannot be read or parsed. */
  status?: InstanceStatus;
  /** Whether that mcpmon process is still running. */
  alive: boolean;
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

/** Default longest wait of `mcpmon restart` for an instance's answer, in ms. */
export const RESTART_TIMEOUT_MS = 90_000;

const INSTANCE_FILE = /^(\d+)\.json$/;
const REQUEST_FILE = /^(\d+)\.request(?:\.[A-Za-z0-9-]+)?\.json$/;
const TEMP_FILE = /^\..+\.(\d+)\.[A-Za-z0-9-]+\.tmp$/;

/**
 * The state directory: `$XDG_STATE_HOME/mcpmon` when that variable holds an
 * absolute path, else `~/.mcpmon` (`$HOME`, or the account's home directory).
 * Creates it with mode 0700, or tightens an existing one to 0700.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mkdtempSync, rmSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * const base = mkdtempSync(join(tmpdir(), "mcpmon-doc-"));
 * const env = (name: string) => (name === "XDG_STATE_HOME" ? base : undefined);
 * assert.equal(stateDir(env), join(base, "mcpmon"));
 * rmSync(base, { recursive: true });
 * ```
 *
 * @param env Reads an environment variable.
 * @returns The directory's absolute path.
 * @throws When it cannot be created, or belongs to another user.
 */
export function stateDir(env: (name: string) => string | undefined): string {
  const xdg = env("XDG_STATE_HOME");
  const dir = xdg && isAbsolute(xdg)
    ? join(xdg, "mcpmon")
    : join(env("HOME") || homedir(), ".mcpmon");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // lstat: a symlink is refused, never followed (its target is not ours to chmod).
  const stat = lstatSync(dir);
  if (stat.isSymbolicLink()) {
    throw new Error(`${dir} is a symbolic link; refusing it as mcpmon's state dir`);
  }
  if (!stat.isDirectory()) throw new Error(`${dir} is not a directory`);
  const uid = process.getuid?.();
  if (uid !== undefined && stat.uid !== uid) {
    throw new Error(`${dir} belongs to another user (uid ${stat.uid})`);
  }
  if ((stat.mode & 0o777) !== 0o700) chmodSync(dir, 0o700);
  return dir;
}

/**
 * Writes `text` to `path` atomically, mode 0600: a temp file in the same
 * directory (named after the target and the writer's pid), then a rename.
 */
function writeAtomic(path: string, text: string): void {
  const tmp = join(
    dirname(path),
    `.${basename(path)}.${process.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`,
  );
  try {
    writeFileSync(tmp, text, { mode: 0o600, flag: "wx" });
    renameSync(tmp, path);
  } catch (err) {
    removeQuietly(tmp);
    throw err;
  }
}

function removeQuietly(path: string): boolean {
  try {
    unlinkSync(path);
    return true;
  } catch {
    return false;
  }
}

function errorCode(err: unknown): string | undefined {
  return (err as { code?: string } | null)?.code;
}

/** `/proc/<pid>/stat`'s state letter and start time, or undefined off Linux or for no such process. */
function procStat(pid: number): { state: string; start: string } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid …": comm may hold spaces and parens; cut at the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { state: fields[0] ?? "?", start: fields[19] ?? "" };
}

/**
 * Whether `pid` is a running process (signal 0 succeeds, or fails with
 * EPERM), not a zombie, and, when `procStart` is given and `/proc` is there,
 * the same process that registered.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import process from "node:process";
 * assert.equal(instanceAlive(process.pid), true);
 * assert.equal(instanceAlive(0), false);
 * ```
 */
export function instanceAlive(pid: number, procStart?: string): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if (errorCode(err) !== "EPERM") return false;
  }
  const stat = procStat(pid);
  if (stat === undefined) return true;
  if (stat.state === "Z" || stat.state === "X") return false;
  return procStart === undefined || procStart === stat.start;
}

/**
 * Whether `pid` is the mcpmon that wrote a status file recording
 * `procStart`, so a status file naming another process (forged, or a pid
 * reused) never gets that process signalled. Where `/proc` can be read
 * (Linux): the recorded start time must match; a file without one (an
 * instance that could not read `/proc`, e.g. Deno without `--allow-all`)
 * must name a process whose command line mentions mcpmon. Elsewhere:
 * whether the process runs (signal 0).
 */
function isInstance(pid: number, procStart: string | undefined): boolean {
  if (!instanceAlive(pid, procStart)) return false;
  if (procStart !== undefined) return true;
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch {
    return true; // no /proc here, or not readable: the portable check is all there is
  }
  return cmdline.includes("mcpmon");
}

function parseStatus(text: string): InstanceStatus | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const s = value as Partial<InstanceStatus>;
  if (typeof s.name !== "string" || !Number.isSafeInteger(s.pid)) return undefined;
  return {
    ...s,
    name: s.name,
    pid: s.pid as number,
    state: s.state ?? "starting",
    startedAt: typeof s.startedAt === "number" ? s.startedAt : 0,
    restarts: typeof s.restarts === "number" ? s.restarts : 0,
    command: Array.isArray(s.command) ? s.command : [],
    cwd: typeof s.cwd === "string" ? s.cwd : "",
    version: typeof s.version === "string" ? s.version : "",
    updatedAt: typeof s.updatedAt === "number" ? s.updatedAt : 0,
  };
}

/**
 * Whether `path` is a regular file (not a symlink, FIFO, socket or device,
 * which could hang a read or lead elsewhere) owned by this user; its stats if so.
 */
function ownRegularFile(path: string): { mtimeMs: number } | undefined {
  let stat;
  try {
    stat = lstatSync(path);
  } catch {
    return undefined;
  }
  if (!stat.isFile()) return undefined;
  const uid = currentUid();
  return uid === undefined || stat.uid === uid ? stat : undefined;
}

/** This process's uid; undefined where there is none (Windows) or it may not be read. */
function currentUid(): number | undefined {
  try {
    return process.getuid?.();
  } catch {
    return undefined;
  }
}

function readStatus(path: string): InstanceStatus | undefined {
  if (!ownRegularFile(path)) return undefined;
  try {
    return parseStatus(readFileSync(path, "utf8"));
  } catch {
    return undefined;
  }
}

/**
 * The instance files in `dir`, by name then pid, each with its status and
 * whether it is alive. A missing directory has none.
 *
 * @example
 * ```ts ignore
 * for (const entry of listInstances(stateDir(Deno.env.get))) console.log(entry.status?.name);
 * ```
 */
export function listInstances(dir: string): InstanceEntry[] {
  const entries: InstanceEntry[] = [];
  for (const file of readDir(dir)) {
    const m = INSTANCE_FILE.exec(file);
    if (!m) continue;
    const pid = Number(m[1]);
    const path = join(dir, file);
    const status = readStatus(path);
    const valid = status !== undefined && status.pid === pid;
    entries.push({
      pid,
      path,
      status: valid ? status : undefined,
      alive: valid ? isInstance(pid, status.procStart) : instanceAlive(pid),
    });
  }
  // A plain comparison: localeCompare is slow enough to matter for 100k stale entries.
  return entries.sort((a, b) => {
    const x = a.status?.name ?? "", y = b.status?.name ?? "";
    return x < y ? -1 : x > y ? 1 : a.pid - b.pid;
  });
}

function readDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (err) {
    if (errorCode(err) === "ENOENT") return [];
    throw err;
  }
}

/**
 * The instance side: registers this mcpmon in the state directory, keeps its
 * status current, hands over restart requests, and removes its files on
 * {@linkcode Registry.close}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mkdtempSync, readFileSync, rmSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * import process from "node:process";
 * const dir = mkdtempSync(join(tmpdir(), "mcpmon-doc-"));
 * const registry = Registry.open(dir, {
 *   name: "my-server",
 *   pid: process.pid,
 *   command: ["python", "server.py"],
 *   cwd: "/srv",
 *   startedAt: Date.now(),
 * });
 * registry.update({ state: "ready", serverPid: 4321 });
 * registry.flush();
 * const status = JSON.parse(readFileSync(registry.path, "utf8"));
 * assert.equal(status.serverPid, 4321);
 * registry.close();
 * rmSync(dir, { recursive: true });
 * ```
 */
export class Registry {
  /** The state directory. */
  readonly dir: string;
  /** This instance's status file, `<dir>/<pid>.json`. */
  readonly path: string;
  #status: InstanceStatus;
  #scheduled = false;
  #closed = false;
  #folded = new Map<string, string[]>();
  readonly #onError: (err: unknown) => void;

  private constructor(dir: string, status: InstanceStatus, onError: (err: unknown) => void) {
    this.dir = dir;
    this.path = join(dir, `${status.pid}.json`);
    this.#status = status;
    this.#onError = onError;
  }

  /**
   * Registers an instance: writes `<dir>/<pid>.json` at once and drops any
   * request files a dead process with the same pid left behind.
   *
   * @param dir The state directory (see {@linkcode stateDir}).
   * @param info Who this instance is.
   * @param onError Told when a later write fails (the instance keeps running).
   * @throws When the first write fails.
   */
  static open(
    dir: string,
    info: InstanceInfo,
    onError: (err: unknown) => void = () => {},
  ): Registry {
    const status: InstanceStatus = {
      name: info.name,
      pid: info.pid,
      state: "starting",
      startedAt: info.startedAt,
      restarts: 0,
      command: [...info.command],
      cwd: info.cwd,
      version: VERSION,
      updatedAt: Date.now(),
    };
    const procStart = procStat(info.pid)?.start;
    if (procStart) status.procStart = procStart;
    const registry = new Registry(dir, status, onError);
    for (const file of registry.#requestFiles()) removeQuietly(join(dir, file));
    registry.#write();
    return registry;
  }

  /** The status as last updated (a copy). */
  get status(): InstanceStatus {
    return structuredClone(this.#status);
  }

  /**
   * Merges `patch` into the status. The file is rewritten once per turn of
   * the event loop however many updates came in it (call
   * {@linkcode Registry.flush} to write at once). A `lastRestart` answering a
   * request that had others folded into it lists their ids in `requestIds`.
   */
  update(patch: Partial<InstanceStatus>): void {
    if (this.#closed) return;
    const next = { ...this.#status, ...patch, updatedAt: Date.now() };
    const requestId = patch.lastRestart?.requestId;
    if (requestId !== undefined && this.#folded.has(requestId)) {
      next.lastRestart = { ...patch.lastRestart!, requestIds: this.#folded.get(requestId) };
      this.#folded.delete(requestId);
    }
    this.#status = next;
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      if (this.#scheduled) this.flush();
    });
  }

  /**
   * Copies what `mcpmon status` shows from a backend: state, server pid,
   * restarts, last reason and last error.
   *
   * @example
   * ```ts ignore
   * registry.updateFrom(router.backend);
   * ```
   */
  updateFrom(
    backend: {
      state: BackendState;
      pid: number | undefined;
      restarts: number;
      lastReason: string | undefined;
      lastError: string | undefined;
    },
  ): void {
    this.update({
      state: backend.state,
      serverPid: backend.pid,
      restarts: backend.restarts,
      lastReason: backend.lastReason,
      lastError: backend.lastError,
    });
  }

  /**
   * Records how a restart asked for by a signal went, answering `request`
   * (from {@linkcode Registry.takeRequest}) when there was one.
   *
   * @example
   * ```ts ignore
   * const request = registry.takeRequest();
   * const outcome = await router.restart(request?.reason ?? "SIGUSR2");
   * registry.recordRestart(outcome, request);
   * ```
   */
  recordRestart(outcome: RestartOutcome, request?: RestartRequest): void {
    const lastRestart: LastRestart = {
      ok: outcome.ok,
      restart: outcome.restart,
      durationMs: Math.round(outcome.durationMs),
      at: Date.now(),
    };
    if (request) lastRestart.requestId = request.id;
    if (outcome.pid !== undefined) lastRestart.pid = outcome.pid;
    if (outcome.error !== undefined) lastRestart.error = outcome.error;
    this.update({ lastRestart });
  }

  /** Writes the status file now (atomically); a failure goes to `onError`. */
  flush(): void {
    this.#scheduled = false;
    if (this.#closed) return;
    try {
      this.#write();
    } catch (err) {
      this.#onError(err);
    }
  }

  #write(): void {
    writeAtomic(this.path, JSON.stringify(this.#status, null, 2) + "\n");
  }

  /**
   * Takes the pending restart request: reads and deletes the request files
   * for this pid. Several pending requests are folded into one (the first
   * one's id; the reasons joined), and the others' ids are listed with it in
   * the `lastRestart` that answers it. Undefined when there is none (a bare
   * `kill -USR2`).
   */
  takeRequest(): RestartRequest | undefined {
    const taken: { id: string; reason?: string; server?: string; mtime: number }[] = [];
    for (const file of this.#requestFiles()) {
      const path = join(this.dir, file);
      let text: string;
      let mtime: number;
      const stat = ownRegularFile(path);
      if (!stat) continue; // not a file this user wrote (a FIFO would hang the read)
      try {
        mtime = stat.mtimeMs;
        text = readFileSync(path, "utf8");
      } catch {
        continue;
      }
      removeQuietly(path);
      let value: { id?: unknown; reason?: unknown; server?: unknown } = {};
      try {
        value = JSON.parse(text) ?? {};
      } catch { /* a bare request */ }
      const id = typeof value.id === "string" ? value.id : file;
      const reason = typeof value.reason === "string" && value.reason !== ""
        ? value.reason
        : undefined;
      const server = typeof value.server === "string" && value.server !== ""
        ? value.server
        : undefined;
      taken.push({ id, reason, server, mtime });
    }
    if (taken.length === 0) return undefined;
    taken.sort((a, b) => a.mtime - b.mtime);
    const reasons = [...new Set(taken.flatMap((t) => t.reason === undefined ? [] : [t.reason]))];
    const request: RestartRequest = { id: taken[0].id };
    if (reasons.length > 0) request.reason = reasons.join("; ");
    // Requests for different servers (or one for all) fold into a restart of every server.
    const server = taken[0].server;
    if (server !== undefined && taken.every((t) => t.server === server)) request.server = server;
    if (taken.length > 1) this.#folded.set(request.id, taken.map((t) => t.id));
    return request;
  }

  /** Removes this instance's status and request files; later updates are ignored. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#scheduled = false;
    removeQuietly(this.path);
    for (const file of this.#requestFiles()) removeQuietly(join(this.dir, file));
  }

  #requestFiles(): string[] {
    const pid = String(this.#status.pid);
    let files: string[];
    try {
      files = readdirSync(this.dir);
    } catch {
      return [];
    }
    return files.filter((f) => REQUEST_FILE.exec(f)?.[1] === pid);
  }
}

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
  const requestPath = join(dir, `${pid}.request.${id}.json`);
  const result = (fields: Omit<RestartResult, "name" | "pid">): RestartResult => ({
    name,
    pid,
    ...fields,
  });
  try {
    writeAtomic(requestPath, JSON.stringify({ id, reason, server }) + "\n");
  } catch (err) {
    return result({ ok: false, error: `cannot write ${requestPath}: ${messageOf(err)}` });
  }
  try {
    process.kill(pid, "SIGUSR2");
  } catch (err) {
    removeQuietly(requestPath);
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
      removeQuietly(requestPath);
      return result({ ok: false, error: `mcpmon (pid ${pid}) stopped before restarting` });
    }
    if (Date.now() >= deadline) {
      removeQuietly(requestPath);
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
  const live = new Set<number>();
  let removed = 0;
  const remove = (file: string, what: string) => {
    if (removeQuietly(join(dir, file))) {
      out.stdout(`removed ${file} (${what})\n`);
      removed++;
    }
  };
  for (const entry of listInstances(dir)) {
    if (entry.alive) {
      live.add(entry.pid);
      continue;
    }
    const who = entry.status ? `${entry.status.name}, pid ${entry.pid}` : `pid ${entry.pid}`;
    remove(basename(entry.path), `dead instance ${who}`);
  }
  for (const file of readDir(dir)) {
    const request = REQUEST_FILE.exec(file);
    if (request && !live.has(Number(request[1]))) {
      remove(file, `request for a dead instance, pid ${request[1]}`);
      continue;
    }
    const temp = TEMP_FILE.exec(file);
    if (temp && !instanceAlive(Number(temp[1]))) {
      remove(file, `temp file of a dead writer, pid ${temp[1]}`);
    }
  }
  if (removed === 0) out.stdout("nothing to clean\n");
  return Promise.resolve(0);
}
