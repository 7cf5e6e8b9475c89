/**
 * What `/proc` says about processes: state, parent, group, and the tree under
 * a pid (Linux), shared by the e2e specs and the bench.
 *
 * @module
 */

/** What `/proc/<pid>/stat` says about a process. */
export interface ProcInfo {
  /** One-letter state (R, S, D, Z, T, …). */
  state: string;
  /** Parent pid. */
  ppid: number;
  /** Process group id. */
  pgid: number;
}

/** Reads `/proc/<pid>/stat`; null if there is no such process. */
export function procInfo(pid: number): ProcInfo | null {
  let stat: string;
  try {
    stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return null;
  }
  // "pid (comm) state ppid pgrp …": comm may contain spaces and parens, so cut at the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { state: fields[0] ?? "?", ppid: Number(fields[1]), pgid: Number(fields[2]) };
}

/** True while `pid` exists and is not a zombie (a zombie has exited; it only awaits reaping). */
export function processAlive(pid: number): boolean {
  const info = procInfo(pid);
  return info !== null && info.state !== "Z" && info.state !== "X";
}

/** `pid` and all its live descendants (from `/proc`), e.g. to check later that none survive. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const child = Number(entry.name);
    const info = procInfo(child);
    if (!info || info.state === "Z") continue;
    const list = children.get(info.ppid) ?? [];
    list.push(child);
    children.set(info.ppid, list);
  }
  const out: number[] = [];
  const stack = processAlive(pid) ? [pid] : [];
  while (stack.length > 0) {
    const next = stack.pop()!;
    out.push(next);
    stack.push(...(children.get(next) ?? []));
  }
  return out;
}
