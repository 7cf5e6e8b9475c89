/**
 * The Node runtime (`src/runtime/node.ts`, as built into the npm package),
 * run for real under Node and Bun by `tests/_node_runtime_probe.mjs`: process
 * groups, exit statuses, spawn errors, recursive watching, stdio with
 * backpressure, stderr, signals and uncaught errors.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { processAlive, procInfo, waitUntil } from "./e2e/_harness.ts";
import { JS_RUNTIMES, npmPackage, output, requireRuntime } from "./_npm_build.ts";

const PROBE = fileURLToPath(new URL("./_node_runtime_probe.mjs", import.meta.url));

async function probeArgs(scenario: string, ...args: string[]): Promise<string[]> {
  const { outDir } = await npmPackage();
  return [PROBE, join(outDir, "esm/src/runtime/node.js"), scenario, ...args];
}

/** Runs a scenario to completion and parses the JSON line it printed. */
async function probe<T>(runtime: string, scenario: string, ...args: string[]): Promise<T> {
  const out = await output(runtime, await probeArgs(scenario, ...args), {
    env: { PROBE_ENV: "probe-env" },
  });
  assert.equal(out.code, 0, `${runtime} ${scenario} failed:\n${out.stderr}`);
  return JSON.parse(out.stdout);
}

/** Starts a scenario with piped stdio. */
async function start(runtime: string, scenario: string, ...args: string[]) {
  return new Deno.Command(runtime, {
    args: await probeArgs(scenario, ...args),
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Reads the first line of a stream (and keeps the rest of the stream's text in `rest()`). */
function lines(stream: ReadableStream<Uint8Array>) {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  return {
    async next(): Promise<string> {
      while (!buffered.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended; got: ${buffered}`);
        buffered += value;
      }
      const i = buffered.indexOf("\n");
      const line = buffered.slice(0, i);
      buffered = buffered.slice(i + 1);
      return line;
    },
    async rest(): Promise<string> {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return buffered;
        buffered += value;
      }
    },
  };
}

for (const runtime of JS_RUNTIMES) {
  Deno.test(`${runtime}: name, args, pid, cwd and env`, async () => {
    await requireRuntime(runtime);
    const { outDir } = await npmPackage();
    const out = await output(
      runtime,
      [PROBE, join(outDir, "esm/src/runtime/node.js"), "identity", "--", "a b"],
      { cwd: outDir, env: { PROBE_ENV: "value" } },
    );
    assert.equal(out.code, 0, out.stderr);
    const seen = JSON.parse(out.stdout);
    assert.equal(seen.name, runtime);
    // args: what follows the script (here the probe's own arguments come first).
    assert.deepEqual(seen.args.slice(-2), ["--", "a b"]);
    assert.equal(seen.cwd, outDir);
    assert.equal(seen.env, "value");
    assert.equal(typeof seen.pid, "number");
  });

  Deno.test(`${runtime}: a child runs in its own process group, and killGroup stops its grandchildren too`, async () => {
    await requireRuntime(runtime);
    const child = await start(runtime, "group");
    const out = lines(child.stdout);
    const { pid, grandchild } = JSON.parse(await out.next());
    try {
      const server = procInfo(pid);
      assert.equal(server?.pgid, pid, "the child leads a new process group");
      assert.notEqual(server?.pgid, procInfo(child.pid)?.pgid);
      assert.equal(procInfo(grandchild)?.pgid, pid, "the grandchild is in the child's group");
      await child.stdin.close(); // go: killGroup("SIGTERM")
      const { status } = JSON.parse(await out.next());
      assert.deepEqual(status, { code: null, signal: "SIGTERM" });
      await waitUntil(() => !processAlive(grandchild), 5000, "the grandchild is gone");
      assert.equal((await child.status).code, 0, "killGroup on a gone group does not throw");
    } finally {
      for (const p of [pid, grandchild]) {
        try {
          Deno.kill(p, "SIGKILL");
        } catch { /* gone, as it should be */ }
      }
      await out.rest().catch(() => {});
      await child.stderr.cancel();
      await child.status;
    }
  });

  Deno.test(`${runtime}: exit codes and signals are reported; env and cwd reach the child`, async () => {
    await requireRuntime(runtime);
    const cwd = await Deno.makeTempDir({ prefix: "mcpmon-probe-cwd-" });
    try {
      const results = await probe<{ out: string; status: unknown }[]>(runtime, "exit-status", cwd);
      assert.deepEqual(results, [
        { out: "", status: { code: 3, signal: null } },
        { out: "", status: { code: null, signal: "SIGKILL" } },
        { out: await Deno.realPath(cwd), status: { code: 0, signal: null } },
      ]);
    } finally {
      await Deno.remove(cwd);
    }
  });

  Deno.test(`${runtime}: spawn throws at once, with the reason, when the command cannot start`, async () => {
    await requireRuntime(runtime);
    const dir = await Deno.makeTempDir({ prefix: "mcpmon-probe-spawn-" });
    try {
      const messages = await probe<string[]>(runtime, "spawn-errors", dir);
      assert.match(messages[0], /ENOENT: mcpmon-no-such-command: command not found on PATH/);
      assert.match(messages[1], /EACCES: .*\/not-executable: permission denied/);
      assert.match(messages[2], /ENOENT: working directory \/mcpmon-no-such-dir does not exist/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  Deno.test(`${runtime}: a directory watch sees its entries, every atomic save, and its own removal`, async () => {
    await requireRuntime(runtime);
    const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "mcpmon-probe-watch-" }));
    try {
      await Deno.writeTextFile(join(dir, "existing.py"), "x");
      const { events, size, after } = await probe<{
        events: ({ kind: string; paths: string[] } | string)[];
        size: number;
        after: number;
      }>(runtime, "watch", dir);
      assert.equal(events.at(-1), "end", "close() ends the iteration");
      assert.equal(size, 2);
      assert.equal(after, 0);
      const seen = events.slice(0, -1) as { kind: string; paths: string[] }[];
      const kinds = (path: string) =>
        seen.filter((e) => e.paths.includes(join(dir, path))).map((e) => e.kind);
      for (const e of seen) {
        for (const path of e.paths) assert.ok(path.startsWith(dir + "/"), path);
      }
      assert.equal(kinds("created.ts")[0], "create");
      assert.ok(kinds("created.ts").includes("modify"));
      assert.equal(kinds("created.ts").at(-1), "remove");
      assert.equal(
        kinds("existing.py").filter((k) => k === "create").length,
        3,
        "each atomic save is seen",
      );
      assert.ok(kinds("new").includes("create"), "a new subdirectory is an entry");
      assert.deepEqual(kinds("new/deeper/unseen.py"), [], "the watch is not recursive");
      assert.ok(kinds("new/tool.py").length > 0, "an added directory is watched");
      assert.ok(kinds("new").includes("remove"), "a watched directory's removal is seen");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  Deno.test(`${runtime}: watching a path that does not exist throws ENOENT`, async () => {
    await requireRuntime(runtime);
    assert.deepEqual(await probe(runtime, "watch-missing", "/mcpmon-no-such-dir/x"), {
      threw: true,
      code: "ENOENT",
    });
  });

  Deno.test(`${runtime}: 32 MB pass intact through stdin, a child's stdin and stdout, and stdout`, async () => {
    await requireRuntime(runtime);
    const relay = await start(runtime, "relay");
    const size = 32 * 1024 * 1024;
    const data = new Uint8Array(size);
    for (let i = 0; i < size; i += 4096) data[i] = (i / 4096) % 251;
    const writing = (async () => {
      const writer = relay.stdin.getWriter();
      for (let i = 0; i < size; i += 1 << 20) await writer.write(data.subarray(i, i + (1 << 20)));
      await writer.close();
    })();
    const received = new Uint8Array(await new Response(relay.stdout).arrayBuffer());
    await writing;
    const stderr = await new Response(relay.stderr).text();
    assert.equal((await relay.status).code, 0, stderr);
    assert.equal(received.length, size);
    assert.ok(received.every((b, i) => b === data[i]), "the bytes arrive unchanged");
  });

  Deno.test(`${runtime}: a gathered write goes out chunk by chunk on Bun, as one writev on Node, and lines written one after another through stdout arrive intact`, async () => {
    await requireRuntime(runtime);
    const child = await start(runtime, "gathered");
    child.stdin.close();
    const [bytes, stderr, status] = await Promise.all([
      new Response(child.stdout).arrayBuffer(),
      new Response(child.stderr).text(),
      child.status,
    ]);
    assert.equal(status.code, 0, stderr);
    assert.deepEqual(
      JSON.parse(stderr),
      runtime === "bun" ? [["write", 3], ["write", 5]] : [["writev", 2]],
    );
    const received = new Uint8Array(bytes);
    assert.equal(received.length, 24 << 20);
    for (let line = 0; line < 24; line++) {
      const part = received.subarray(line << 20, (line + 1) << 20);
      assert.ok(
        part.subarray(0, part.length - 1).every((b) => b === 0x41 + line) &&
          part[part.length - 1] === 0x0a,
        `line ${line} arrives unchanged`,
      );
    }
  });

  Deno.test(`${runtime}: a reader that stops makes the writer wait (backpressure) instead of buffering`, async () => {
    await requireRuntime(runtime);
    const relay = await start(runtime, "relay");
    const chunk = new Uint8Array(1 << 20);
    const writer = relay.stdin.getWriter();
    let written = 0;
    // Nobody reads the relay's stdout: the pipes (and the relay) fill, then writes stall.
    const stalled = await (async () => {
      for (let i = 0; i < 512; i++) {
        const wrote = await Promise.race([
          writer.write(chunk).then(() => true),
          new Promise<false>((resolve) => setTimeout(() => resolve(false), 2000)),
        ]);
        if (!wrote) return true;
        written += chunk.length;
      }
      return false;
    })();
    try {
      assert.ok(stalled, `the relay took all ${written} bytes without anyone reading`);
      assert.ok(written < 64 << 20, `the relay buffered ${written} bytes`);
    } finally {
      try {
        relay.kill("SIGKILL");
      } catch { /* gone */ }
      await relay.status;
      await relay.stdout.cancel();
      await relay.stderr.cancel();
      await writer.abort().catch(() => {});
    }
  });

  Deno.test(`${runtime}: writeStderr delivers everything even when stderr is a full non-blocking pipe`, async () => {
    await requireRuntime(runtime);
    const size = 4 * 1024 * 1024;
    const child = await start(runtime, "stderr", String(size));
    await child.stdin.close();
    // Read nothing for a while: the pipe (64 KiB) fills and writes hit EAGAIN.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const [stderr, status] = await Promise.all([new Response(child.stderr).text(), child.status]);
    await child.stdout.cancel();
    assert.equal(status.code, 0);
    assert.equal(stderr.length, size + "done\n".length);
    assert.ok(stderr.endsWith("x\ndone\n"));
  });

  Deno.test(`${runtime}: signal handlers run until removed; exit() sets the exit code`, async () => {
    await requireRuntime(runtime);
    const child = await start(runtime, "signals");
    await child.stdin.close();
    const out = lines(child.stdout);
    assert.deepEqual(JSON.parse(await out.next()), { ready: true });
    Deno.kill(child.pid, "SIGTERM");
    assert.deepEqual(JSON.parse(await out.next()), { seen: ["SIGUSR2"] });
    assert.equal((await child.status).code, 42);
    await out.rest();
    await child.stderr.cancel();
  });

  Deno.test(`${runtime}: onUncaughtError receives uncaught exceptions and unhandled rejections`, async () => {
    await requireRuntime(runtime);
    const child = await start(runtime, "uncaught");
    await child.stdin.close();
    const [stdout, stderr, status] = await Promise.all([
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
      child.status,
    ]);
    assert.equal(status.code, 5, stderr);
    assert.deepEqual(JSON.parse(stdout).sort(), ["rejected, unhandled", "thrown in a timer"]);
  });
}
