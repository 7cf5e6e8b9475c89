/**
 * `mcpmon trace <name>`: follows running instances' messages live (see
 * `trace.ts` for how an instance writes them), and prints them for people.
 * Loaded only for that subcommand.
 *
 * @module
 */
import {
  closeSync,
  existsSync,
  openSync,
  readSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import process from "node:process";
import type { ControlOutput } from "./control.ts";
import { instanceAlive, listInstances } from "./registry.ts";
import { liveTracePath, type TraceRecord } from "./trace.ts";

/** Options of {@linkcode traceCommand}. */
export interface TraceCommandOptions {
  /** Print the JSON lines as written. */
  json: boolean;
  /** Print whole messages (default: the first 200 characters). */
  full: boolean;
  /** The follower's own pid (names its request file). */
  pid: number;
  /** Registers what stops following (Ctrl-C); returns a remover. */
  onStop(stop: () => void): () => void;
  /** How often the trace files are read, ms (default 100). */
  pollMs?: number;
}

/**
 * `mcpmon trace <name>`: asks every running instance named `name` to trace
 * live (a request file plus SIGUSR2) and prints their records as they come,
 * until stopped or until every instance has exited. Resolves with the exit
 * code: 0, or 2 when no running instance has that name.
 *
 * @example
 * ```ts ignore
 * await traceCommand(stateDir(Deno.env.get), "my-server", out, { json: false, full: false, pid: Deno.pid, onStop });
 * ```
 */
export async function traceCommand(
  dir: string,
  name: string,
  out: ControlOutput,
  options: TraceCommandOptions,
): Promise<number> {
  const running = listInstances(dir).filter((e) => e.alive && e.status?.name === name);
  if (running.length === 0) {
    const names = [
      ...new Set(listInstances(dir).filter((e) => e.alive).map((e) => e.status?.name)),
    ].filter(Boolean);
    out.stderr(
      `no running mcpmon named "${name}"${
        names.length > 0 ? ` (running: ${names.join(", ")})` : " (none is running)"
      }\n`,
    );
    return 2;
  }
  const requests: string[] = [];
  const followed = running.map((e) => {
    const request = join(dir, `${e.pid}.trace.${options.pid}.json`);
    writeFileSync(request, JSON.stringify({ follower: options.pid, since: Date.now() }), {
      mode: 0o600,
    });
    requests.push(request);
    const file = liveTracePath(dir, e.pid);
    return { pid: e.pid, file, offset: existsSync(file) ? statSync(file).size : 0, partial: "" };
  });
  for (const f of followed) {
    try {
      process.kill(f.pid, "SIGUSR2");
    } catch { /* exited meanwhile: noticed below */ }
  }
  out.stderr(
    `following ${name} (pid ${followed.map((f) => f.pid).join(", ")}); Ctrl-C stops\n`,
  );
  let stopped = false;
  let wake: (() => void) | undefined;
  const remove = options.onStop(() => {
    stopped = true;
    wake?.();
  });
  const decoder = new TextDecoder();
  try {
    while (!stopped) {
      for (const f of followed) {
        for (const line of readNew(f, decoder)) {
          out.stdout(options.json ? `${line}\n` : formatRecord(line, options.full));
        }
      }
      const alive = followed.filter((f) => instanceAlive(f.pid));
      if (alive.length === 0) {
        out.stderr(`${name} exited\n`);
        break;
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, options.pollMs ?? 100);
      });
    }
  } finally {
    remove();
    for (const request of requests) {
      try {
        unlinkSync(request);
      } catch { /* gone */ }
    }
  }
  return 0;
}

/** The complete lines appended to a follower's trace file since the last read. */
function readNew(
  f: { file: string; offset: number; partial: string },
  decoder: TextDecoder,
): string[] {
  let size: number;
  try {
    size = statSync(f.file).size;
  } catch {
    f.offset = 0; // not written yet, or removed: start afresh when it comes back
    f.partial = "";
    return [];
  }
  if (size < f.offset) {
    f.offset = 0;
    f.partial = "";
  }
  if (size === f.offset) return [];
  const buffer = new Uint8Array(size - f.offset);
  const fd = openSync(f.file, "r");
  try {
    let read = 0;
    while (read < buffer.length) {
      const n = readSync(fd, buffer, read, buffer.length - read, f.offset + read);
      if (n === 0) break;
      read += n;
    }
    f.offset += read;
    const lines = (f.partial + decoder.decode(buffer.subarray(0, read))).split("\n");
    f.partial = lines.pop() ?? "";
    return lines.filter((l) => l !== "");
  } finally {
    closeSync(fd);
  }
}

/**
 * One trace line for people: time of day, direction, server and pid,
 * method, id, size and the message (cut at 200 characters unless `full`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const line = JSON.stringify({
 *   time: "2026-01-01T10:00:00.000Z", dir: "client→mcpmon", method: "ping", id: 1, bytes: 40,
 *   message: { jsonrpc: "2.0", id: 1, method: "ping" },
 * });
 * assert.match(formatRecord(line, false), /client→mcpmon ping id=1 40 B/);
 * ```
 */
export function formatRecord(line: string, full: boolean): string {
  let r: TraceRecord;
  try {
    r = JSON.parse(line);
  } catch {
    return `${line}\n`;
  }
  const time = r.time.slice(11, 23);
  const who = r.server !== undefined ? ` ${r.server}${r.pid !== undefined ? `:${r.pid}` : ""}` : "";
  const what = [r.method, r.id !== undefined ? `id=${JSON.stringify(r.id)}` : undefined]
    .filter(Boolean).join(" ");
  const body = typeof r.message === "string" ? r.message : JSON.stringify(r.message);
  const shown = full || body.length <= 200 ? body : body.slice(0, 200) + "…";
  return `${time} ${r.dir}${who} ${what} ${r.bytes} B ${shown}\n`;
}
