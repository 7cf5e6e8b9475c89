// Runs one scenario against the built Node runtime (npm/esm/src/runtime/node.js)
// under Node or Bun, for tests/runtime_node_test.ts:
//
//   node _node_runtime_probe.mjs <path to node.js> <scenario> [args…]
//
// Each scenario prints one JSON line on stdout (unless it is about stdio), so
// the test can check what the runtime did from the outside.
import { mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";

const [modulePath, scenario, ...args] = process.argv.slice(2);
const { nodeRuntime: rt } = await import(pathToFileURL(modulePath).href);
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const print = (value) => process.stdout.write(JSON.stringify(value) + "\n");

async function readAll(stream) {
  let text = "";
  for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
  return text;
}

switch (scenario) {
  case "identity": {
    print({ name: rt.name, args: rt.args, pid: rt.pid, cwd: rt.cwd(), env: rt.env("PROBE_ENV") });
    break;
  }

  case "group": {
    // A server that starts a grandchild; the group dies as one.
    const child = rt.spawn({
      command: "sh",
      args: ["-c", "sleep 60 & echo $!; echo ready >&2; wait"],
      env: { PROBE_CHILD: "1" },
    });
    const reader = child.stdout.getReader();
    const grandchild = Number(decoder.decode((await reader.read()).value).trim());
    reader.releaseLock();
    print({ pid: child.pid, grandchild });
    // Wait until the test has looked at /proc and says go.
    await readAll(rt.stdin);
    child.killGroup("SIGTERM");
    const status = await child.exited;
    child.killGroup("SIGKILL"); // the group is gone: no throw
    child.killGroup("SIGTERM");
    print({ status });
    break;
  }

  case "exit-status": {
    const results = [];
    for (
      const script of ["exit 3", "kill -9 $$", 'test "$PROBE_VAR" = yes && pwd']
    ) {
      const child = rt.spawn({
        command: "sh",
        args: ["-c", script],
        cwd: args[0],
        env: { PROBE_VAR: "yes" },
      });
      const [out, status] = await Promise.all([readAll(child.stdout), child.exited]);
      results.push({ out: out.trim(), status });
    }
    print(results);
    break;
  }

  case "spawn-errors": {
    const messages = [];
    const notExecutable = join(args[0], "not-executable");
    writeFileSync(notExecutable, "#!/bin/sh\n", { mode: 0o644 });
    for (
      const options of [
        { command: "mcpmon-no-such-command", args: [] },
        { command: notExecutable, args: [] },
        { command: "sh", args: ["-c", "true"], cwd: "/mcpmon-no-such-dir" },
      ]
    ) {
      try {
        rt.spawn(options);
        messages.push(null);
      } catch (err) {
        messages.push(err.message);
      }
    }
    await sleep(50); // a stray 'error' event would crash the process here
    print(messages);
    break;
  }

  case "watch": {
    // The directory watch: direct entries only; atomic saves; a watched directory's own removal.
    const dir = args[0];
    const watch = rt.watch();
    watch.add(dir);
    const events = [];
    const consumed = (async () => {
      for await (const event of watch) events.push(event);
      events.push("end");
    })();
    const pause = () => sleep(150);
    const file = join(dir, "created.ts");
    writeFileSync(file, "1");
    await pause();
    writeFileSync(file, "2");
    await pause();
    for (let i = 0; i < 3; i++) {
      writeFileSync(join(dir, ".existing.py.tmp"), String(i));
      renameSync(join(dir, ".existing.py.tmp"), join(dir, "existing.py"));
      await pause();
    }
    mkdirSync(join(dir, "new", "deeper"), { recursive: true });
    await pause();
    writeFileSync(join(dir, "new", "deeper", "unseen.py"), "x");
    watch.add(join(dir, "new"));
    const size = watch.size;
    writeFileSync(join(dir, "new", "tool.py"), "x");
    await pause();
    rmSync(join(dir, "new"), { recursive: true });
    await pause();
    rmSync(file);
    await pause();
    watch.close();
    await consumed;
    print({ events, size, after: watch.size });
    break;
  }

  case "watch-missing": {
    try {
      rt.watch().add(args[0]);
      print({ threw: false });
    } catch (err) {
      print({ threw: true, code: err.code });
    }
    break;
  }

  case "relay": {
    // stdin → cat (a child) → stdout: all four stream adapters, with backpressure.
    const child = rt.spawn({ command: "cat", args: [] });
    await Promise.all([
      rt.stdin.pipeTo(child.stdin),
      child.stdout.pipeTo(rt.stdout),
    ]);
    await child.exited;
    break;
  }

  case "gathered": {
    // A gathered write (DIRECT_WRITEV): how it reaches a Node stream, then 24 lines of 1 MB,
    // each from 16 chunks and each of its own bytes, through stdout (a pipe), one after another.
    const { writableFromNode } = await import(pathToFileURL(modulePath).href);
    const { Writable } = await import("node:stream");
    const DIRECT_WRITEV = Symbol.for("mcpmon.directWritev");
    const calls = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        calls.push(["write", chunk.length]);
        done();
      },
      writev(chunks, done) {
        calls.push(["writev", chunks.length]);
        done();
      },
    });
    await writableFromNode(sink)[DIRECT_WRITEV]([new Uint8Array(3), new Uint8Array(5)]);
    process.stderr.write(JSON.stringify(calls) + "\n");
    const out = rt.stdout;
    for (let line = 0; line < 24; line++) {
      const chunks = [];
      for (let i = 0; i < 16; i++) chunks.push(new Uint8Array(65536).fill(0x41 + line));
      chunks[15][65535] = 0x0a;
      await out[DIRECT_WRITEV](chunks);
    }
    break;
  }

  case "stderr": {
    // Make fd 2 non-blocking (Node does so for a pipe once process.stderr is
    // touched), then write more than a pipe holds: EAGAIN must be retried.
    void process.stderr;
    const size = Number(args[0]);
    const line = encoder.encode("x".repeat(1023) + "\n");
    for (let sent = 0; sent < size; sent += line.length) rt.writeStderr(line);
    rt.writeStderr(encoder.encode("done\n"));
    rt.exit(0);
    break;
  }

  case "signals": {
    const seen = [];
    const off = rt.onSignal("SIGUSR2", () => seen.push("SIGUSR2"));
    rt.onSignal("SIGTERM", () => {
      print({ seen });
      rt.exit(42);
    });
    process.kill(process.pid, "SIGUSR2");
    await sleep(100);
    off();
    print({ ready: true });
    await sleep(60_000);
    break;
  }

  case "uncaught": {
    const errors = [];
    rt.onUncaughtError((error) => {
      errors.push(String(error?.message ?? error));
      if (errors.length === 2) {
        print(errors);
        rt.exit(5);
      }
    });
    setTimeout(() => {
      throw new Error("thrown in a timer");
    }, 0);
    Promise.reject(new Error("rejected, unhandled"));
    await sleep(60_000);
    break;
  }

  default:
    throw new Error(`unknown scenario ${scenario}`);
}
