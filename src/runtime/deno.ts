/**
 * The Deno implementation of {@linkcode Runtime}.
 *
 * Children are started with `detached: true`, which puts each in a new session
 * and process group (pgid = pid), so `Deno.kill(-pid, signal)` reaches the
 * server and everything it started.
 *
 * @module
 */
import type {
  ChildProcess,
  ExitStatus,
  FsEvent,
  FsWatch,
  HostSignal,
  KillSignal,
  Runtime,
  SpawnOptions,
} from "./mod.ts";
import { signalGroup } from "./mod.ts";

function spawn(options: SpawnOptions): ChildProcess {
  const child = new Deno.Command(options.command, {
    args: [...options.args],
    cwd: options.cwd,
    env: options.env,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    detached: true,
  }).spawn();
  const pid = child.pid;
  let done = false;
  const exited: Promise<ExitStatus> = child.status.then(
    (s) => {
      done = true;
      return { code: s.signal ? null : s.code, signal: s.signal ?? null };
    },
    () => {
      done = true;
      return { code: null, signal: null };
    },
  );
  return {
    pid,
    stdin: child.stdin,
    stdout: child.stdout,
    stderr: child.stderr,
    exited,
    killGroup(signal: KillSignal) {
      signalGroup((target, sig) => Deno.kill(target, sig), pid, signal, () => !done);
    },
  };
}

function watch(paths: readonly string[]): FsWatch {
  const watcher = Deno.watchFs([...paths], { recursive: true });
  return {
    close: () => {
      try {
        watcher.close();
      } catch { /* already closed */ }
    },
    async *[Symbol.asyncIterator](): AsyncIterator<FsEvent> {
      for await (const event of watcher) {
        const kind = event.kind === "create" || event.kind === "modify" ||
            event.kind === "remove" || event.kind === "rename"
          ? event.kind
          : "other";
        yield { kind, paths: event.paths };
      }
    },
  };
}

/** The runtime for `deno run`. */
export const denoRuntime: Runtime = {
  name: "deno",
  args: Deno.args,
  get stdin() {
    return Deno.stdin.readable;
  },
  get stdout() {
    return Deno.stdout.writable;
  },
  writeStderr(data: Uint8Array) {
    let offset = 0;
    while (offset < data.length) {
      try {
        offset += Deno.stderr.writeSync(data.subarray(offset));
      } catch (err) {
        if (err instanceof Deno.errors.Interrupted) continue;
        return; // stderr closed: nowhere left to report to
      }
    }
  },
  spawn,
  watch,
  onUncaughtError(handler: (error: unknown) => void) {
    globalThis.addEventListener("error", (event) => {
      event.preventDefault();
      handler(event.error);
    });
    globalThis.addEventListener("unhandledrejection", (event) => {
      event.preventDefault();
      handler(event.reason);
    });
  },
  onSignal(signal: HostSignal, handler: () => void) {
    Deno.addSignalListener(signal, handler);
    return () => {
      try {
        Deno.removeSignalListener(signal, handler);
      } catch { /* not registered */ }
    };
  },
  env: (name: string) => Deno.env.get(name),
  cwd: () => Deno.cwd(),
  pid: Deno.pid,
  stdinIsTerminal: () => Deno.stdin.isTerminal(),
  appendFile(path: string, text: string) {
    Deno.writeTextFileSync(path, text, { append: true, create: true });
  },
  exit: (code: number): never => Deno.exit(code),
};
