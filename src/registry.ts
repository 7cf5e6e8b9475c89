/**
 * The state directory: where running mcpmon instances register, so that
 * `mcpmon restart`, `status`, `clean` and `trace` (`control.ts`, `trace.ts`)
 * can find them from another terminal; no TCP port.
 *
 * Each running mcpmon registers as `<dir>/<pid>.json` (mode 0600, written
 * atomically: a temp file in the same directory, then a rename), holding its
 * {@linkcode InstanceStatus}. The directory is `$XDG_STATE_HOME/mcpmon` or
 * `~/.mcpmon`, mode 0700 (see {@linkcode stateDir}). A restart request for
 * an instance is a file `<dir>/<pid>.request.<id>.json`.
 *
 * The instance side is {@linkcode Registry}: `run()` opens it once its signal
 * handlers are in place, updates it on every state change, takes the pending
 * request on SIGUSR2/SIGHUP and records the outcome, and closes it on exit.
 * The reading side is {@linkcode listInstances}, {@linkcode readStatus} and
 * {@linkcode leftovers}.
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
import type { LiveTrace } from "./trace.ts";
import { VERSION } from "./version.ts";

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

/**
 * Removes the file at `path`, quietly; whether it was removed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(removeQuietly("/no/such/file"), false);
 * ```
 */
export function removeQuietly(path: string): boolean {
  try {
    unlinkSync(path);
    return true;
  } catch {
    return false;
  }
}

/** `<pid>.trace.<follower pid>.json`: a follower's request (see `trace.ts`). */
const FOLLOWER_FILE = /^(\d+)\.trace\.(\d+)\.json$/;

/**
 * The state directory `dir` as a {@linkcode Tracer}'s live tracing needs it: the live followers of
 * an instance (request files of followers that are gone are removed), and removing its live file.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(liveTrace("/no/such/dir").followers(42), []);
 * ```
 */
export function liveTrace(dir: string): LiveTrace {
  return {
    dir,
    followers(pid) {
      let files: string[];
      try {
        files = readdirSync(dir);
      } catch {
        return [];
      }
      const followers: number[] = [];
      for (const file of files) {
        const m = FOLLOWER_FILE.exec(file);
        if (!m || Number(m[1]) !== pid) continue;
        const follower = Number(m[2]);
        if (instanceAlive(follower)) followers.push(follower);
        else removeQuietly(join(dir, file));
      }
      return followers;
    },
    remove: (path) => void removeQuietly(path),
  };
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

/**
 * The status in an instance file; `undefined` when it is missing, not a
 * regular file of this user, or not a valid status.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(readStatus("/no/such/dir/1.json"), undefined);
 * ```
 */
export function readStatus(path: string): InstanceStatus | undefined {
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
 * Where a restart request `id` for the instance `pid` goes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(requestPath("/state", 42, "abc"), "/state/42.request.abc.json");
 * ```
 */
export function requestPath(dir: string, pid: number, id: string): string {
  return join(dir, `${pid}.request.${id}.json`);
}

/**
 * Writes a restart request to `path` (from {@linkcode requestPath}),
 * atomically; {@linkcode Registry.takeRequest} reads it on the instance's side.
 *
 * @example
 * ```ts ignore
 * writeRequest(requestPath(dir, pid, id), { id, reason: "schema changed" });
 * ```
 */
export function writeRequest(path: string, request: RestartRequest): void {
  writeAtomic(path, JSON.stringify(request) + "\n");
}

/**
 * What `mcpmon clean` removes from `dir`: the status files of dead
 * instances, request files no live instance will take, and temp files whose
 * writer is gone; each with why, in that order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(leftovers("/no/such/dir"), []);
 * ```
 */
export function leftovers(dir: string): { file: string; what: string }[] {
  const found: { file: string; what: string }[] = [];
  const live = new Set<number>();
  for (const entry of listInstances(dir)) {
    if (entry.alive) {
      live.add(entry.pid);
      continue;
    }
    const who = entry.status ? `${entry.status.name}, pid ${entry.pid}` : `pid ${entry.pid}`;
    found.push({ file: basename(entry.path), what: `dead instance ${who}` });
  }
  for (const file of readDir(dir)) {
    const request = REQUEST_FILE.exec(file);
    if (request && !live.has(Number(request[1]))) {
      found.push({ file, what: `request for a dead instance, pid ${request[1]}` });
      continue;
    }
    const temp = TEMP_FILE.exec(file);
    if (temp && !instanceAlive(Number(temp[1]))) {
      found.push({ file, what: `temp file of a dead writer, pid ${temp[1]}` });
    }
  }
  return found;
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
