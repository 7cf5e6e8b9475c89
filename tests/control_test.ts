import assert from "node:assert/strict";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../src/cli.ts";
import {
  cleanCommand,
  type ControlOutput,
  formatDuration,
  restartCommand,
  statusCommand,
  type StatusJson,
} from "../src/control.ts";
import {
  instanceAlive,
  type InstanceInfo,
  listInstances,
  Registry,
  stateDir,
} from "../src/registry.ts";
import type { Runtime } from "../src/runtime/mod.ts";
import type { RestartOutcome } from "../src/backend.ts";
import { VERSION } from "../src/version.ts";

const REGISTRY_URL = new URL("../src/registry.ts", import.meta.url).href;

/** A temp XDG_STATE_HOME; the state dir is `<base>/mcpmon`. */
function tempState():
  & { base: string; dir: string; env: (name: string) => string | undefined }
  & Disposable {
  const base = mkdtempSync(join(tmpdir(), "mcpmon-control-"));
  const env = (name: string) => (name === "XDG_STATE_HOME" ? base : undefined);
  return {
    base,
    dir: join(base, "mcpmon"),
    env,
    [Symbol.dispose]: () => rmSync(base, { recursive: true, force: true }),
  };
}

function capture(): ControlOutput & { out: string; err: string } {
  const c = {
    out: "",
    err: "",
    stdout: (text: string) => void (c.out += text),
    stderr: (text: string) => void (c.err += text),
  };
  return c;
}

function info(pid: number, name = "my-server"): InstanceInfo {
  return { name, pid, command: ["python", "server.py"], cwd: "/srv/app", startedAt: Date.now() };
}

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

/** The pid of a process that has exited and been reaped. */
async function deadPid(): Promise<number> {
  const child = new Deno.Command("sleep", { args: ["60"], stdout: "null", stderr: "null" })
    .spawn();
  child.kill("SIGKILL");
  await child.status;
  return child.pid;
}

const OUTCOME_TIMINGS = { drainMs: 0, stopMs: 0, initializeMs: 0, replayMs: 0 };

Deno.test("stateDir is $XDG_STATE_HOME/mcpmon, created with mode 0700", () => {
  using state = tempState();
  assert.equal(stateDir(state.env), state.dir);
  assert.equal(mode(state.dir), 0o700);
  assert.equal(stateDir(state.env), state.dir, "an existing dir is fine");
});

Deno.test("stateDir tightens an existing looser dir to 0700", () => {
  using state = tempState();
  mkdirSync(state.dir, { mode: 0o755 });
  chmodSync(state.dir, 0o755);
  stateDir(state.env);
  assert.equal(mode(state.dir), 0o700);
});

Deno.test("stateDir is ~/.mcpmon without XDG_STATE_HOME, or when it is relative", () => {
  using state = tempState();
  const home = (xdg?: string) => (name: string) =>
    name === "HOME" ? state.base : name === "XDG_STATE_HOME" ? xdg : undefined;
  assert.equal(stateDir(home()), join(state.base, ".mcpmon"));
  assert.equal(stateDir(home("relative/state")), join(state.base, ".mcpmon"));
  assert.equal(stateDir(home("")), join(state.base, ".mcpmon"));
  assert.equal(mode(join(state.base, ".mcpmon")), 0o700);
});

Deno.test("Registry.open writes <pid>.json, mode 0600, with the instance's status", () => {
  using state = tempState();
  const dir = stateDir(state.env);
  const registry = Registry.open(dir, info(Deno.pid));
  try {
    assert.equal(registry.path, join(dir, `${Deno.pid}.json`));
    assert.equal(mode(registry.path), 0o600);
    const status = JSON.parse(readFileSync(registry.path, "utf8"));
    assert.equal(status.name, "my-server");
    assert.equal(status.pid, Deno.pid);
    assert.equal(status.state, "starting");
    assert.equal(status.restarts, 0);
    assert.deepEqual(status.command, ["python", "server.py"]);
    assert.equal(status.cwd, "/srv/app");
    assert.equal(status.version, VERSION);
    assert.equal(typeof status.startedAt, "number");
    assert.equal(typeof status.updatedAt, "number");
    assert.deepEqual(readdirSync(dir), [`${Deno.pid}.json`], "no temp file is left");
  } finally {
    registry.close();
  }
});

Deno.test("Registry.update rewrites the file atomically, once for all updates in one turn", async () => {
  using state = tempState();
  const dir = stateDir(state.env);
  const registry = Registry.open(dir, info(Deno.pid));
  try {
    registry.update({ state: "ready", serverPid: 111 });
    registry.update({ restarts: 1, lastReason: "modify: a.py" });
    registry.update({ serverPid: 222 });
    const before = JSON.parse(readFileSync(registry.path, "utf8"));
    assert.equal(before.state, "starting", "written at the end of the turn, not at once");
    await Promise.resolve();
    const after = JSON.parse(readFileSync(registry.path, "utf8"));
    assert.equal(after.state, "ready");
    assert.equal(after.serverPid, 222);
    assert.equal(after.restarts, 1);
    assert.equal(after.lastReason, "modify: a.py");
    assert.equal(mode(registry.path), 0o600);
    assert.deepEqual(readdirSync(dir), [`${Deno.pid}.json`], "no temp file is left");
    registry.update({ lastReason: undefined });
    registry.flush();
    assert.ok(!("lastReason" in JSON.parse(readFileSync(registry.path, "utf8"))));
  } finally {
    registry.close();
  }
});

Deno.test("Registry coalesces: updates in one turn that fail to write report one error", async () => {
  using state = tempState();
  const dir = stateDir(state.env);
  const errors: unknown[] = [];
  const registry = Registry.open(dir, info(Deno.pid), (err) => errors.push(err));
  rmSync(dir, { recursive: true });
  registry.update({ state: "ready" });
  registry.update({ restarts: 1 });
  registry.update({ restarts: 2 });
  await Promise.resolve();
  assert.equal(errors.length, 1, "one write for three updates");
  assert.equal(registry.status.restarts, 2, "the instance keeps its state");
  registry.close();
});

Deno.test("Registry.open fails when the first write fails", () => {
  using state = tempState();
  assert.throws(() => Registry.open(join(state.base, "missing"), info(Deno.pid)));
});

Deno.test("Registry.updateFrom copies what status shows from a backend", async () => {
  using state = tempState();
  const registry = Registry.open(stateDir(state.env), info(Deno.pid));
  try {
    registry.updateFrom({
      state: "failed",
      pid: undefined,
      restarts: 3,
      lastReason: "SIGHUP",
      lastError: "server exited with code 1",
    });
    await Promise.resolve();
    const status = JSON.parse(readFileSync(registry.path, "utf8"));
    assert.equal(status.state, "failed");
    assert.equal(status.restarts, 3);
    assert.equal(status.lastReason, "SIGHUP");
    assert.equal(status.lastError, "server exited with code 1");
    assert.ok(!("serverPid" in status));
  } finally {
    registry.close();
  }
});

Deno.test("Registry.takeRequest reads and deletes the pending request", () => {
  using state = tempState();
  const dir = stateDir(state.env);
  const registry = Registry.open(dir, info(Deno.pid));
  try {
    assert.equal(registry.takeRequest(), undefined, "none: a bare signal");
    const file = join(dir, `${Deno.pid}.request.abc.json`);
    writeFileSync(file, JSON.stringify({ id: "abc", reason: "from a test" }));
    writeFileSync(join(dir, "99999999.request.other.json"), JSON.stringify({ id: "other" }));
    assert.deepEqual(registry.takeRequest(), { id: "abc", reason: "from a test" });
    assert.ok(!existsSync(file));
    assert.ok(existsSync(join(dir, "99999999.request.other.json")), "another pid's is left");
    assert.equal(registry.takeRequest(), undefined);
  } finally {
    registry.close();
  }
});

Deno.test("Registry.takeRequest folds several pending requests into one restart that answers all", async () => {
  using state = tempState();
  const dir = stateDir(state.env);
  const registry = Registry.open(dir, info(Deno.pid));
  try {
    const first = join(dir, `${Deno.pid}.request.first.json`);
    writeFileSync(first, JSON.stringify({ id: "first", reason: "one" }));
    const old = new Date(Date.now() - 10_000);
    Deno.utimeSync(first, old, old);
    writeFileSync(
      join(dir, `${Deno.pid}.request.second.json`),
      JSON.stringify({ id: "second", reason: "two" }),
    );
    const request = registry.takeRequest();
    assert.deepEqual(request, { id: "first", reason: "one; two" });
    const outcome: RestartOutcome = {
      ok: true,
      restart: 1,
      durationMs: 42.4,
      pid: 777,
      timings: OUTCOME_TIMINGS,
    };
    registry.recordRestart(outcome, request);
    await Promise.resolve();
    const { lastRestart } = JSON.parse(readFileSync(registry.path, "utf8"));
    assert.equal(lastRestart.requestId, "first");
    assert.deepEqual(lastRestart.requestIds, ["first", "second"]);
    assert.equal(lastRestart.ok, true);
    assert.equal(lastRestart.restart, 1);
    assert.equal(lastRestart.durationMs, 42);
    assert.equal(lastRestart.pid, 777);
    assert.equal(typeof lastRestart.at, "number");
  } finally {
    registry.close();
  }
});

Deno.test("Registry.open drops request files a dead process with the same pid left", () => {
  using state = tempState();
  const dir = stateDir(state.env);
  writeFileSync(join(dir, `${Deno.pid}.request.stale.json`), JSON.stringify({ id: "stale" }));
  const registry = Registry.open(dir, info(Deno.pid));
  try {
    assert.equal(registry.takeRequest(), undefined);
  } finally {
    registry.close();
  }
});

Deno.test("Registry.close removes the instance's files and ignores later updates", async () => {
  using state = tempState();
  const dir = stateDir(state.env);
  const registry = Registry.open(dir, info(Deno.pid));
  registry.update({ state: "ready" });
  writeFileSync(join(dir, `${Deno.pid}.request.x.json`), "{}");
  registry.close();
  await Promise.resolve();
  registry.update({ restarts: 5 });
  registry.flush();
  await Promise.resolve();
  assert.deepEqual(readdirSync(dir), []);
});

Deno.test("instanceAlive: this process yes; a reaped child, pid 0 and negative pids no", async () => {
  assert.equal(instanceAlive(Deno.pid), true);
  assert.equal(instanceAlive(await deadPid()), false);
  assert.equal(instanceAlive(0), false);
  assert.equal(instanceAlive(-1), false);
  assert.equal(instanceAlive(1.5), false);
});

Deno.test({
  name: "a pid reused by another process is not taken for the instance (Linux)",
  ignore: !existsSync("/proc/self/stat"),
  fn() {
    assert.equal(instanceAlive(Deno.pid, "1"), false);
    using state = tempState();
    const dir = stateDir(state.env);
    const registry = Registry.open(dir, info(Deno.pid));
    try {
      assert.equal(listInstances(dir)[0].alive, true);
      const status = JSON.parse(readFileSync(registry.path, "utf8"));
      assert.equal(typeof status.procStart, "string");
      writeFileSync(registry.path, JSON.stringify({ ...status, procStart: "1" }));
      assert.equal(listInstances(dir)[0].alive, false);
    } finally {
      registry.close();
    }
  },
});

Deno.test("formatDuration: seconds, minutes, hours, days", () => {
  assert.equal(formatDuration(0), "0s");
  assert.equal(formatDuration(12_900), "12s");
  assert.equal(formatDuration(192_000), "3m12s");
  assert.equal(formatDuration(60_000), "1m00s");
  assert.equal(formatDuration(2 * 3600_000 + 5 * 60_000 + 9_000), "2h05m");
  assert.equal(formatDuration(3 * 86400_000 + 4 * 3600_000), "3d04h");
});

/** Registers a live instance (this process) and a dead one. */
async function liveAndDead(dir: string) {
  const live = Registry.open(dir, { ...info(Deno.pid, "alpha"), startedAt: Date.now() - 192_000 });
  live.update({
    state: "ready",
    serverPid: 4242,
    restarts: 2,
    lastReason: "modify: src/tools.py",
    lastError: "server exited with code 1\nTraceback (most recent call last):",
  });
  live.flush();
  const pid = await deadPid();
  const dead = Registry.open(dir, info(pid, "beta"));
  dead.update({ state: "ready", serverPid: 5151 });
  dead.flush();
  return { live, deadPid: pid };
}

Deno.test("status lists live instances in an aligned table, and dead ones as dead", async () => {
  using state = tempState();
  const dir = stateDir(state.env);
  const { live, deadPid } = await liveAndDead(dir);
  try {
    const out = capture();
    assert.equal(await statusCommand(dir, false, out), 0);
    const lines = out.out.trimEnd().split("\n");
    assert.equal(lines.length, 3, out.out);
    assert.match(
      lines[0],
      /^NAME +PID +SERVER PID +UPTIME +RESTARTS +STATE +LAST REASON +LAST ERROR$/,
    );
    const columns = (line: string) => line.split(/ {2,}/);
    assert.deepEqual(columns(lines[1]), [
      "alpha",
      String(Deno.pid),
      "4242",
      columns(lines[1])[3],
      "2",
      "ready",
      "modify: src/tools.py",
      "server exited with code 1",
    ]);
    assert.match(columns(lines[1])[3], /^3m1\ds$/);
    assert.equal(columns(lines[2])[0], "beta");
    assert.equal(columns(lines[2])[1], String(deadPid));
    assert.equal(columns(lines[2])[5], "dead (run mcpmon clean)");
    const starts = (header: string) => lines[0].indexOf(header);
    for (const line of lines.slice(1)) {
      assert.equal(line.indexOf(columns(line)[1]), starts("PID"), "columns are aligned");
    }
    assert.equal(out.err, "");
  } finally {
    live.close();
  }
});

Deno.test("status truncates a long last error to its first line", async () => {
  using state = tempState();
  const dir = stateDir(state.env);
  const live = Registry.open(dir, info(Deno.pid));
  try {
    live.update({ lastError: `${"x".repeat(200)}\nsecond line` });
    live.flush();
    const out = capture();
    await statusCommand(dir, false, out);
    assert.ok(out.out.includes(`${"x".repeat(59)}…`));
    assert.ok(!out.out.includes("second line"));
  } finally {
    live.close();
  }
});

Deno.test("status --json is an array of statuses with alive and uptimeMs", async () => {
  using state = tempState();
  const dir = stateDir(state.env);
  const { live, deadPid } = await liveAndDead(dir);
  try {
    const out = capture();
    assert.equal(await statusCommand(dir, true, out), 0);
    const list: StatusJson[] = JSON.parse(out.out);
    assert.equal(list.length, 2);
    const [alpha, beta] = list;
    assert.equal(alpha.name, "alpha");
    assert.equal(alpha.pid, Deno.pid);
    assert.equal(alpha.alive, true);
    assert.equal(alpha.serverPid, 4242);
    assert.equal(alpha.restarts, 2);
    assert.equal(alpha.state, "ready");
    assert.equal(alpha.lastReason, "modify: src/tools.py");
    assert.match(alpha.lastError ?? "", /^server exited with code 1\nTraceback/);
    assert.ok(alpha.uptimeMs !== null && alpha.uptimeMs >= 192_000);
    assert.deepEqual(alpha.command, ["python", "server.py"]);
    assert.equal(beta.name, "beta");
    assert.equal(beta.pid, deadPid);
    assert.equal(beta.alive, false);
    assert.equal(beta.uptimeMs, null);
  } finally {
    live.close();
  }
});

Deno.test("status with no instances says so (and --json prints [])", async () => {
  using state = tempState();
  const dir = stateDir(state.env);
  const out = capture();
  assert.equal(await statusCommand(dir, false, out), 0);
  assert.equal(out.out, "no mcpmon instances running\n");
  const json = capture();
  await statusCommand(join(dir, "missing"), true, json);
  assert.equal(json.out, "[]\n");
});

Deno.test("clean removes only dead instances' files, orphaned requests and temp files", async () => {
  using state = tempState();
  const dir = stateDir(state.env);
  const { live, deadPid: dead } = await liveAndDead(dir);
  try {
    const writer = await deadPid();
    writeFileSync(join(dir, `${dead}.request.abc.json`), "{}");
    writeFileSync(join(dir, `${Deno.pid}.request.keep.json`), "{}");
    writeFileSync(join(dir, `.${dead}.json.${writer}.0a1b2c3d.tmp`), "{");
    writeFileSync(join(dir, `.${Deno.pid}.json.${Deno.pid}.0a1b2c3d.tmp`), "{");
    writeFileSync(join(dir, "notes.txt"), "not ours");
    const out = capture();
    assert.equal(await cleanCommand(dir, out), 0);
    assert.deepEqual(readdirSync(dir).sort(), [
      `.${Deno.pid}.json.${Deno.pid}.0a1b2c3d.tmp`,
      `${Deno.pid}.json`,
      `${Deno.pid}.request.keep.json`,
      "notes.txt",
    ]);
    assert.match(
      out.out,
      new RegExp(`removed ${dead}\\.json \\(dead instance beta, pid ${dead}\\)`),
    );
    assert.match(out.out, new RegExp(`removed ${dead}\\.request\\.abc\\.json`));
    assert.match(out.out, new RegExp(`removed \\.${dead}\\.json\\.${writer}\\.0a1b2c3d\\.tmp`));
    assert.equal(out.out.trimEnd().split("\n").length, 3);
    const again = capture();
    await cleanCommand(dir, again);
    assert.equal(again.out, "nothing to clean\n");
  } finally {
    live.close();
  }
});

/**
 * A fake mcpmon instance: a child process that registers with Registry and, on
 * SIGUSR2, takes the request and records a restart. Modes: "ok" (restart
 * succeeds), "fail" (it fails with "boom"), "silent" (never answers), "exit"
 * (dies without cleaning up).
 */
class FakeInstance implements AsyncDisposable {
  readonly #child: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #lines: ReadableStreamDefaultReader<string>;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#stdin = child.stdin.getWriter();
    this.#lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  }

  /** Starts one in the state dir of `state` (the script is written to its temp base). */
  static async start(
    state: { base: string; dir: string },
    name: string,
    mode: "ok" | "fail" | "silent" | "exit",
  ): Promise<FakeInstance> {
    const script = join(state.base, "fake_instance.ts");
    if (!existsSync(script)) FakeInstance.#writeScript(script);
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", "--allow-write", script, state.dir, name, mode],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const instance = new FakeInstance(child);
    let text = "";
    while (!text.includes("ready\n")) {
      const { value, done } = await instance.#lines.read();
      if (done) throw new Error(`fake instance exited before it was ready: ${text}`);
      text += value;
    }
    return instance;
  }

  static #writeScript(path: string): void {
    writeFileSync(
      path,
      `import { Registry } from ${JSON.stringify(REGISTRY_URL)};
const [dir, name, mode] = Deno.args;
const registry = Registry.open(dir, {
  name, pid: Deno.pid, command: ["fake-server"], cwd: Deno.cwd(), startedAt: Date.now(),
});
const timings = { drainMs: 0, stopMs: 0, initializeMs: 0, replayMs: 0 };
let restarts = 0;
Deno.addSignalListener("SIGUSR2", () => {
  const request = registry.takeRequest();
  if (mode === "silent") return;
  if (mode === "exit") Deno.exit(3);
  const reason = request?.reason ?? "SIGUSR2";
  setTimeout(() => {
    if (mode === "fail") {
      registry.update({ state: "failed", lastReason: reason, lastError: "boom" });
      registry.recordRestart({ ok: false, restart: restarts + 1, durationMs: 5, error: "boom", timings }, request);
    } else {
      restarts++;
      registry.update({ state: "ready", restarts, lastReason: reason, serverPid: 4000 + restarts });
      registry.recordRestart({ ok: true, restart: restarts, durationMs: 12, pid: 4000 + restarts, timings }, request);
    }
  }, 20);
});
registry.update({ state: "ready", serverPid: 4000 });
registry.flush();
console.log("ready");
for await (const _ of Deno.stdin.readable) { /* until the test closes stdin */ }
registry.close();
Deno.exit(0);
`,
    );
  }

  get pid(): number {
    return this.#child.pid;
  }

  /** Waits for the process to exit (it exits by itself in "exit" mode). */
  get status(): Promise<Deno.CommandStatus> {
    return this.#child.status;
  }

  async [Symbol.asyncDispose]() {
    await this.#stdin.close().catch(() => {});
    await this.#lines.cancel().catch(() => {});
    await this.#child.status;
  }
}

Deno.test("restart: a request to a running instance is answered; exit 0", async () => {
  using state = tempState();
  const dir = stateDir(state.env);
  await using instance = await FakeInstance.start(state, "fake-a", "ok");
  const out = capture();
  assert.equal(await restartCommand(dir, "fake-a", "from a test", out), 0, out.err);
  assert.equal(out.out, "restarted fake-a (restart #1, 12 ms, pid 4001)\n");
  assert.equal(out.err, "");
  const status = JSON.parse(readFileSync(join(dir, `${instance.pid}.json`), "utf8"));
  assert.equal(status.lastReason, "from a test", "the instance got the reason");
  assert.equal(status.restarts, 1);
  assert.deepEqual(
    readdirSync(dir).filter((f) => f !== `${instance.pid}.json`),
    [],
    "the request was taken; no temp file is left",
  );

  const second = capture();
  assert.equal(await restartCommand(dir, "fake-a", undefined, second, { json: true }), 0);
  assert.deepEqual(JSON.parse(second.out), [
    { name: "fake-a", pid: instance.pid, ok: true, restart: 2, durationMs: 12, serverPid: 4002 },
  ]);
  const after = JSON.parse(readFileSync(join(dir, `${instance.pid}.json`), "utf8"));
  assert.equal(after.lastReason, "mcpmon restart", "the default reason");
});

Deno.test("restart: every instance of that name restarts", async () => {
  using state = tempState();
  const dir = stateDir(state.env);
  await using one = await FakeInstance.start(state, "twin", "ok");
  await using two = await FakeInstance.start(state, "twin", "ok");
  await using other = await FakeInstance.start(state, "other", "silent");
  const out = capture();
  assert.equal(await restartCommand(dir, "twin", undefined, out), 0, out.err);
  const lines = out.out.trimEnd().split("\n").sort();
  assert.deepEqual(
    lines,
    [
      `restarted twin [mcpmon pid ${one.pid}] (restart #1, 12 ms, pid 4001)`,
      `restarted twin [mcpmon pid ${two.pid}] (restart #1, 12 ms, pid 4001)`,
    ].sort(),
  );
  assert.equal(
    JSON.parse(readFileSync(join(dir, `${other.pid}.json`), "utf8")).restarts,
    0,
    "another name is left alone",
  );
});

Deno.test("restart: a failed restart prints the error; exit 1", async () => {
  using state = tempState();
  const dir = stateDir(state.env);
  await using _instance = await FakeInstance.start(state, "fake-b", "fail");
  const out = capture();
  assert.equal(await restartCommand(dir, "fake-b", undefined, out), 1);
  assert.equal(out.err, "restart of fake-b failed: boom\n");
  assert.equal(out.out, "");
});

Deno.test("restart: no answer in time is a failure, and the request is withdrawn; exit 1", async () => {
  using state = tempState();
  const dir = stateDir(state.env);
  await using instance = await FakeInstance.start(state, "fake-c", "silent");
  const out = capture();
  const code = await restartCommand(dir, "fake-c", undefined, out, { timeoutMs: 300 });
  assert.equal(code, 1);
  assert.match(
    out.err,
    new RegExp(`^restart of fake-c failed: no answer from mcpmon \\(pid ${instance.pid}\\)`),
  );
  assert.deepEqual(readdirSync(dir), [`${instance.pid}.json`]);
});

Deno.test("restart: an instance that dies instead of answering is a failure; exit 1", async () => {
  using state = tempState();
  const dir = stateDir(state.env);
  await using instance = await FakeInstance.start(state, "fake-d", "exit");
  const out = capture();
  const code = await restartCommand(dir, "fake-d", undefined, out);
  assert.equal(code, 1);
  assert.equal((await instance.status).code, 3);
  assert.equal(
    out.err,
    `restart of fake-d failed: mcpmon (pid ${instance.pid}) stopped before restarting\n`,
  );
});

Deno.test("restart: an unknown name lists the running names; exit 2", async () => {
  using state = tempState();
  const dir = stateDir(state.env);
  const none = capture();
  assert.equal(await restartCommand(dir, "ghost", undefined, none), 2);
  assert.equal(none.err, "no running mcpmon named ghost; running: none\n");

  const { live } = await liveAndDead(dir); // alpha (this process), beta (dead)
  await using _gamma = await FakeInstance.start(state, "gamma", "silent");
  try {
    const out = capture();
    assert.equal(await restartCommand(dir, "beta", undefined, out), 2, "a dead one does not count");
    assert.equal(out.err, "no running mcpmon named beta; running: alpha, gamma\n");
  } finally {
    live.close();
  }
});

Deno.test("main() runs the control subcommands against $XDG_STATE_HOME/mcpmon", async () => {
  using state = tempState();
  const runtime = (args: string[], env = state.env) => {
    let stdout = "";
    let stderr = "";
    const r = {
      name: "test",
      args,
      stdout: new WritableStream<Uint8Array>({
        write: (chunk) => void (stdout += new TextDecoder().decode(chunk)),
      }),
      writeStderr: (data: Uint8Array) => void (stderr += new TextDecoder().decode(data)),
      env,
      cwd: () => "/",
    } as unknown as Runtime;
    return { r, out: () => stdout, err: () => stderr };
  };
  const status = runtime(["status", "--json"]);
  assert.equal(await main(status.r), 0);
  assert.equal(status.out(), "[]\n");
  assert.equal(mode(state.dir), 0o700, "the state dir was created");

  const restart = runtime(["restart", "nope"]);
  assert.equal(await main(restart.r), 2);
  assert.equal(restart.err(), "mcpmon: no running mcpmon named nope; running: none\n");

  const clean = runtime(["clean"]);
  assert.equal(await main(clean.r), 0);
  assert.equal(clean.out(), "nothing to clean\n");

  const help = runtime(["restart", "--help"]);
  assert.equal(await main(help.r), 0);
  assert.match(help.out(), /^mcpmon restart - /);

  const usage = runtime(["status", "extra"]);
  assert.equal(await main(usage.r), 2);
  assert.match(usage.err(), /^mcpmon: unexpected argument: extra\n\nUsage: mcpmon status/);

  writeFileSync(join(state.base, "file"), "");
  const broken = runtime(
    ["status"],
    (name) => name === "XDG_STATE_HOME" ? join(state.base, "file") : undefined,
  );
  assert.equal(await main(broken.r), 1);
  assert.match(broken.err(), /^mcpmon: status failed: /);
});

Deno.test("a forged status file naming another process never gets it signalled", async () => {
  using state = tempState();
  const dir = stateDir(state.env);
  const victim = new Deno.Command("sleep", { args: ["30"], stdout: "null", stderr: "null" })
    .spawn();
  try {
    writeFileSync(
      join(dir, `${victim.pid}.json`),
      JSON.stringify({ name: "forged", pid: victim.pid, state: "ready" }),
      { mode: 0o600 },
    );
    const out = capture();
    assert.equal(await restartCommand(dir, "forged", undefined, out, { timeoutMs: 500 }), 2);
    assert.match(out.err, /no running mcpmon named forged/);
    const status = await Promise.race([
      victim.status,
      new Promise<"alive">((r) => setTimeout(() => r("alive"), 200)),
    ]);
    assert.equal(status, "alive", "the other process was not signalled");
  } finally {
    victim.kill("SIGKILL");
    await victim.status;
  }
});

Deno.test("a FIFO in the state dir is never opened: status, clean and restart do not hang", async () => {
  using state = tempState();
  const dir = stateDir(state.env);
  const mkfifo = (name: string) =>
    new Deno.Command("mkfifo", { args: [join(dir, name)] }).outputSync();
  mkfifo(`${Deno.pid}.json`);
  mkfifo(`${Deno.pid}.request.x.json`);
  const registry = Registry.open(dir, info(Deno.pid + 1_000_000, "other"));
  assert.equal(registry.takeRequest(), undefined);
  const out = capture();
  assert.equal(await statusCommand(dir, true, out), 0);
  assert.equal(await cleanCommand(dir, capture()), 0);
  assert.equal(await restartCommand(dir, "x", undefined, capture(), { timeoutMs: 200 }), 2);
  registry.close();
});

Deno.test("a symlinked state dir is refused, and its target is not chmodded", () => {
  using state = tempState();
  const target = join(state.base, "elsewhere");
  mkdirSync(target, { mode: 0o755 });
  chmodSync(target, 0o755);
  Deno.symlinkSync(target, join(state.base, "mcpmon"));
  assert.throws(() => stateDir(state.env), /symbolic link/);
  assert.equal(mode(target), 0o755);
});

Deno.test("status over 20,000 stale entries takes linear time (no per-entry rescans)", async () => {
  using state = tempState();
  const dir = stateDir(state.env);
  const dead = await deadPid();
  for (let i = 0; i < 20_000; i++) {
    writeFileSync(
      join(dir, `${dead + 1_000_000 + i}.json`),
      JSON.stringify({ name: `s${i % 97}`, pid: dead + 1_000_000 + i }),
    );
  }
  const t0 = performance.now();
  const out = capture();
  assert.equal(await statusCommand(dir, false, out), 0);
  const ms = performance.now() - t0;
  assert.equal(out.out.trimEnd().split("\n").length, 20_001);
  assert.ok(ms < 20_000, `status took ${ms} ms`);
});
