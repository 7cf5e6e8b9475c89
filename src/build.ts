/**
 * The build step: a shell command run before a server starts, while the
 * running server keeps serving.
 *
 * @module
 */
import { describeExit, StderrTail } from "./generation.ts";
import type { Logger } from "./log.ts";
import type { ChildProcess, Runtime } from "./runtime/mod.ts";

/** What a build came to: success, or the error with the end of its output. */
export type BuildResult = { ok: true } | { ok: false; error: string };

/** What {@linkcode runBuild} runs and where it reports. */
export interface BuildOptions {
  /** The shell command (run with `sh -c`). */
  command: string;
  /** Its working directory. */
  cwd?: string;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Why it runs (for the log). */
  reason: string;
  /** Log context (server name). */
  context: { server?: string };
  /** Called with the build's process once it runs (so a stop can kill it). */
  onStart?: (child: ChildProcess) => void;
}

/**
 * Runs the build command in its own process group, its output going to the
 * log as the server's stderr does. Resolves once it has exited (whatever it
 * left in its group is killed); on failure the error carries the exit status,
 * the time taken and its last 30 output lines.
 *
 * @example
 * ```ts ignore
 * const result = await runBuild(runtime, log, { command: "npx tsc", reason: "file change", context: {} });
 * if (!result.ok) console.error(result.error);
 * ```
 */
export async function runBuild(
  runtime: Runtime,
  log: Logger,
  options: BuildOptions,
): Promise<BuildResult> {
  const { command, context } = options;
  log.info(`Building (${options.reason}): ${command}`, context);
  const t0 = performance.now();
  let child: ChildProcess;
  try {
    child = runtime.spawn({
      command: "sh",
      args: ["-c", command],
      cwd: options.cwd,
      env: options.env,
    });
  } catch (err) {
    return {
      ok: false,
      error: `build could not start: ${err instanceof Error ? err.message : err}`,
    };
  }
  options.onStart?.(child);
  child.stdin.close().catch(() => {});
  const tail = new StderrTail(30);
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    try {
      for await (const chunk of stream) {
        tail.push(chunk);
        log.serverOutput(chunk, { ...context, pid: child.pid });
      }
    } catch { /* the build is gone */ }
  };
  const [status] = await Promise.all([child.exited, pump(child.stdout), pump(child.stderr)]);
  child.killGroup("SIGKILL"); // whatever the build left behind
  const ms = Math.round(performance.now() - t0);
  if (status.code === 0) {
    log.info(`Build succeeded (${ms} ms)`, context);
    return { ok: true };
  }
  const lines = tail.lines();
  const output = lines.length > 0
    ? `\nLast output lines:\n${lines.map((l) => `  ${l}`).join("\n")}`
    : "";
  return {
    ok: false,
    error: `build \`${command}\` ${describeExit(status)} after ${ms} ms${output}`,
  };
}
