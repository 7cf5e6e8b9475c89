/**
 * The Runtime interface: everything mcpmon needs from the host runtime.
 *
 * The core (router, supervisor, watcher, CLI) is written against this interface
 * and web streams only. `src/runtime/deno.ts` implements it with `Deno.*`;
 * the npm build swaps in `src/runtime/node.ts` (Node and Bun). Tests can pass
 * a fake.
 *
 * @module
 */

/** How a child process ended. */
export interface ExitStatus {
  /** Exit code, or `null` when the process was ended by a signal. */
  code: number | null;
  /** Signal name (e.g. `"SIGTERM"`) when the process was ended by a signal. */
  signal: string | null;
}

/** Signals mcpmon sends to a child's process group. */
export type KillSignal = "SIGTERM" | "SIGKILL";

/** Signals mcpmon listens for. */
export type HostSignal = "SIGINT" | "SIGTERM" | "SIGHUP" | "SIGUSR2";

/** What to start. */
export interface SpawnOptions {
  /** The program to run (looked up on `PATH`). */
  command: string;
  /** Its arguments. */
  args: readonly string[];
  /** Working directory; the current one when absent. */
  cwd?: string;
  /** Variables added to (and overriding) mcpmon's own environment. */
  env?: Record<string, string>;
}

/** A child process running in its own process group, with piped stdio. */
export interface ChildProcess {
  /** The child's pid, which is also its process group id. */
  readonly pid: number;
  /** The child's stdin. */
  readonly stdin: WritableStream<Uint8Array>;
  /** The child's stdout. */
  readonly stdout: ReadableStream<Uint8Array>;
  /** The child's stderr. */
  readonly stderr: ReadableStream<Uint8Array>;
  /** Resolves once the child has exited. Never rejects. */
  readonly exited: Promise<ExitStatus>;
  /**
   * Sends `signal` to the child's whole process group. Does nothing (and does
   * not throw) when the group is already gone.
   */
  killGroup(signal: KillSignal): void;
}

/** One file system change. */
export interface FsEvent {
  /** What happened. */
  kind: "create" | "modify" | "remove" | "rename" | "other";
  /** Absolute paths involved. */
  paths: string[];
}

/** A recursive watch over some paths; new subdirectories are included. */
export interface FsWatch extends AsyncIterable<FsEvent> {
  /** Stops watching; the iteration ends. */
  close(): void;
}

/** The host runtime, as mcpmon sees it. */
export interface Runtime {
  /** Short name of the runtime: `"deno"`, `"node"` or `"bun"`. */
  readonly name: string;
  /** The command line after the program name. */
  readonly args: readonly string[];
  /** mcpmon's stdin (the client's messages). */
  readonly stdin: ReadableStream<Uint8Array>;
  /** mcpmon's stdout (the protocol: only JSON-RPC goes here). */
  readonly stdout: WritableStream<Uint8Array>;
  /** Writes to mcpmon's stderr (logs). Synchronous, so nothing is lost on exit. */
  writeStderr(data: Uint8Array): void;
  /** Starts a child in a new process group. Throws when it cannot be started. */
  spawn(options: SpawnOptions): ChildProcess;
  /** Watches `paths` recursively. Throws when a path does not exist. */
  watch(paths: readonly string[]): FsWatch;
  /**
   * Calls `handler` with any error nothing else caught (an uncaught exception
   * or unhandled rejection) instead of crashing, so mcpmon can stop its
   * servers before it exits.
   */
  onUncaughtError(handler: (error: unknown) => void): void;
  /** Calls `handler` on `signal`; returns a function that removes it. */
  onSignal(signal: HostSignal, handler: () => void): () => void;
  /** Reads an environment variable. */
  env(name: string): string | undefined;
  /** The current working directory. */
  cwd(): string;
  /** mcpmon's own pid. */
  readonly pid: number;
  /** Whether mcpmon's stdin is a terminal (a person typing, not an MCP client). */
  stdinIsTerminal(): boolean;
  /** Appends text to a file, creating it (for `--log-file`). Synchronous. */
  appendFile(path: string, text: string): void;
  /** Ends mcpmon with `code`. */
  exit(code: number): never;
}

/**
 * Sends `signal` to the process group led by `pid` with the runtime's `kill`
 * (which takes a negative pid for a group). If the group is gone but the
 * leader still runs (it left its group), the leader gets the signal; if both
 * are gone, nothing happens.
 *
 * @example
 * ```ts
 * const sent: number[] = [];
 * signalGroup((pid) => void sent.push(pid), 42, "SIGTERM", () => true);
 * // sent: [-42]
 * ```
 */
export function signalGroup(
  kill: (pid: number, signal: KillSignal) => void,
  pid: number,
  signal: KillSignal,
  leaderRunning: () => boolean,
): void {
  try {
    kill(-pid, signal);
  } catch {
    if (!leaderRunning()) return;
    try {
      kill(pid, signal);
    } catch { /* already gone */ }
  }
}
