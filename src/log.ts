/**
 * mcpmon's logger: prefixed lines on stderr (levels, optional time of day,
 * server name and pid), an optional log file with full date and time, and
 * the server's own stderr passed through.
 *
 * @module
 */
import type { LogLevel, LogOptions } from "./config.ts";

/** Where log output goes; a `Runtime` is one. */
export interface LogSink {
  /** Writes bytes to stderr, synchronously. */
  writeStderr(data: Uint8Array): void;
  /** Appends text to a file, creating it; needed only with a log file. */
  appendFile?(path: string, text: string): void;
}

/** Who a line is about. */
export interface LogContext {
  /** The server process's pid. */
  pid?: number;
  /** The server's name. */
  server?: string;
}

/** The severity of one line: a {@linkcode LogLevel}, or `"warn"` (shown from `"info"` up). */
export type Severity = LogLevel | "warn";

const RANK: Record<Severity, number> = { error: 0, warn: 1, info: 1, verbose: 2, debug: 3 };
const LABEL: Record<Severity, string> = {
  error: "error: ",
  warn: "warning: ",
  info: "",
  verbose: "",
  debug: "",
};

/** Longest partial server line held back for the log file before it is written anyway. */
const MAX_PARTIAL_LINE = 64 * 1024;

/**
 * Writes mcpmon's log lines, shaped like
 * `[mcpmon 16:08:54 my-server pid:53411] Restart #1 complete`, where the time
 * appears with `timestamps`, and the name and pid when given in the context.
 * Warnings read `[mcpmon] warning: …`, errors `[mcpmon] error: …`.
 *
 * Levels: `"error"` (quiet) shows errors only; `"info"` adds start, stop and
 * restart events and warnings; `"verbose"` adds file change details;
 * `"debug"` shows everything.
 *
 * With a log file, each line written is also appended to it, always with the
 * local date and time, and so is the server's stderr (one line per server
 * line, prefixed `[stderr …]`). If the file cannot be written, that is
 * reported once on stderr and the file is no longer written.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const written: string[] = [];
 * const log = new Logger(
 *   { writeStderr: (data) => written.push(new TextDecoder().decode(data)) },
 *   { level: "info", timestamps: false },
 * );
 * log.info("Restart #1 complete", { pid: 53411 });
 * log.verbose("File modified: tools.py"); // below the level: not written
 * assert.deepEqual(written, ["[mcpmon pid:53411] Restart #1 complete\n"]);
 * ```
 */
export class Logger {
  readonly #sink: LogSink;
  readonly #options: LogOptions;
  readonly #now: () => Date;
  readonly #encoder = new TextEncoder();
  #fileBroken = false;
  /**
   * Per server process: decoder and incomplete last line, for the log file;
   * only while a line is unfinished (so processes long gone leave nothing).
   */
  readonly #partial = new Map<string, { decoder: TextDecoder; text: string }>();
  /** Per named server: decoder, and whether its stderr is at the start of a line. */
  readonly #labelled = new Map<string, { decoder: TextDecoder; lineStart: boolean }>();

  /**
   * Creates a logger writing to `sink`.
   *
   * @param sink Where to write (normally the runtime).
   * @param options Level, timestamps and log file.
   * @param now The clock, replaceable in tests.
   */
  constructor(sink: LogSink, options: LogOptions, now: () => Date = () => new Date()) {
    this.#sink = sink;
    this.#options = options;
    this.#now = now;
  }

  /**
   * Whether lines of `severity` are written at the configured level.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * const log = new Logger({ writeStderr() {} }, { level: "error", timestamps: false });
   * assert.equal(log.enabled("error"), true);
   * assert.equal(log.enabled("warn"), false);
   * ```
   */
  enabled(severity: Severity): boolean {
    return RANK[severity] <= RANK[this.#options.level];
  }

  /**
   * Logs an error (shown at every level).
   *
   * @example
   * ```ts ignore
   * log.error("server exited with code 1", { pid: 53411 });
   * ```
   */
  error(message: string, context?: LogContext): void {
    this.#line("error", message, context);
  }

  /**
   * Logs a warning (shown from `"info"` up).
   *
   * @example
   * ```ts ignore
   * log.warn("server stdout (not JSON-RPC, not forwarded): hello", { pid: 53411 });
   * ```
   */
  warn(message: string, context?: LogContext): void {
    this.#line("warn", message, context);
  }

  /**
   * Logs a start, stop or restart event (shown from `"info"` up).
   *
   * @example
   * ```ts ignore
   * log.info("Restart #1 complete", { pid: 53411 });
   * ```
   */
  info(message: string, context?: LogContext): void {
    this.#line("info", message, context);
  }

  /**
   * Logs a detail such as a file change (shown from `"verbose"` up).
   *
   * @example
   * ```ts ignore
   * log.verbose("File modified: tools.py");
   * ```
   */
  verbose(message: string, context?: LogContext): void {
    this.#line("verbose", message, context);
  }

  /**
   * Logs debugging output (shown at `"debug"` only).
   *
   * @example
   * ```ts ignore
   * log.debug("client closed stdin");
   * ```
   */
  debug(message: string, context?: LogContext): void {
    this.#line("debug", message, context);
  }

  /** Server processes whose last stderr line is unfinished (held for the log file). */
  get unfinishedLines(): number {
    return this.#partial.size;
  }

  /**
   * Passes a chunk of the server's stderr through to stderr (at every
   * level), and appends it line by line, prefixed, to the log file. With a
   * server name in the context (gateway mode) each line starts with it,
   * `[alpha] Traceback …`, so it says whose it is; otherwise the bytes pass
   * unchanged.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * let out = "";
   * const log = new Logger(
   *   { writeStderr: (data) => void (out += new TextDecoder().decode(data)) },
   *   { level: "info", timestamps: false },
   * );
   * log.serverOutput(new TextEncoder().encode("Traceback ...\n  File"), { server: "alpha" });
   * log.serverOutput(new TextEncoder().encode(" x.py\n"), { server: "alpha" });
   * assert.equal(out, "[alpha] Traceback ...\n[alpha]   File x.py\n");
   * ```
   */
  serverOutput(data: Uint8Array, context?: LogContext): void {
    if (context?.server) this.#sink.writeStderr(this.#labelLines(data, context.server));
    else this.#sink.writeStderr(data);
    if (this.#options.logFile === undefined || this.#fileBroken) return;
    const key = `${context?.server ?? ""}\0${context?.pid ?? ""}`;
    let partial = this.#partial.get(key);
    if (!partial) {
      partial = { decoder: new TextDecoder(), text: "" };
      this.#partial.set(key, partial);
    }
    const text = partial.text + partial.decoder.decode(data, { stream: true });
    const lines = text.split("\n");
    partial.text = lines.pop() ?? "";
    if (partial.text.length > MAX_PARTIAL_LINE) {
      lines.push(partial.text);
      partial.text = "";
    }
    // Ended on a newline: nothing is held (not even half a character); forget the process.
    if (partial.text === "" && data[data.length - 1] === 0x0a) this.#partial.delete(key);
    if (lines.length === 0) return;
    const prefix = `[stderr ${this.#fileTime()}${describe(context)}] `;
    this.#appendFile(lines.map((line) => `${prefix}${line.replace(/\r$/, "")}\n`).join(""));
  }

  /** `data` with `[server] ` at the start of each of its lines (streamed: chunks may split lines). */
  #labelLines(data: Uint8Array, server: string): Uint8Array {
    let state = this.#labelled.get(server);
    if (!state) {
      state = { decoder: new TextDecoder(), lineStart: true };
      this.#labelled.set(server, state);
    }
    const text = state.decoder.decode(data, { stream: true });
    if (text === "") return data.subarray(0, 0);
    const label = `[${server}] `;
    const lines = text.split("\n");
    let out = "";
    for (let i = 0; i < lines.length; i++) {
      const last = i === lines.length - 1;
      if (last && lines[i] === "") break; // the chunk ended with a newline
      if (i > 0 || state.lineStart) out += label;
      out += last ? lines[i] : lines[i] + "\n";
    }
    state.lineStart = text.endsWith("\n");
    return this.#encoder.encode(out);
  }

  #line(severity: Severity, message: string, context: LogContext | undefined): void {
    if (!this.enabled(severity)) return;
    const time = this.#options.timestamps ? ` ${timeOfDay(this.#now())}` : "";
    const body = `${describe(context)}] ${LABEL[severity]}${message}\n`;
    this.#sink.writeStderr(this.#encoder.encode(`[mcpmon${time}${body}`));
    if (this.#options.logFile !== undefined) {
      this.#appendFile(`[mcpmon ${this.#fileTime()}${body}`);
    }
  }

  #fileTime(): string {
    const d = this.#now();
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${timeOfDay(d)}`;
  }

  #appendFile(text: string): void {
    const path = this.#options.logFile;
    if (path === undefined || this.#fileBroken) return;
    try {
      if (!this.#sink.appendFile) throw new Error("appending to files is not supported here");
      this.#sink.appendFile(path, text);
    } catch (err) {
      this.#fileBroken = true;
      this.#partial.clear();
      const reason = err instanceof Error ? err.message : String(err);
      this.#sink.writeStderr(
        this.#encoder.encode(
          `[mcpmon] error: cannot write log file ${path}: ${reason}; logging to stderr only\n`,
        ),
      );
    }
  }
}

function describe(context: LogContext | undefined): string {
  let out = "";
  if (context?.server) out += ` ${context.server}`;
  if (context?.pid !== undefined) out += ` pid:${context.pid}`;
  return out;
}

function timeOfDay(d: Date): string {
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function pad(n: number): string {
  return String(n).padStart(2, "0");
}
