import assert from "node:assert/strict";
import type { LogLevel, LogOptions } from "../src/config.ts";
import { Logger } from "../src/log.ts";

/** A sink that records stderr and the log file. */
function recorder(options: { failAppend?: boolean; noAppend?: boolean } = {}) {
  const stderr: string[] = [];
  const stderrBytes: Uint8Array[] = [];
  const files = new Map<string, string>();
  let appendCalls = 0;
  const sink = {
    writeStderr(data: Uint8Array) {
      stderrBytes.push(data);
      stderr.push(new TextDecoder().decode(data));
    },
    appendFile: options.noAppend ? undefined : (path: string, text: string) => {
      appendCalls++;
      if (options.failAppend) throw new Error("EACCES: permission denied");
      files.set(path, (files.get(path) ?? "") + text);
    },
  };
  return { sink, stderr, stderrBytes, files, appendCalls: () => appendCalls };
}

// 2025-03-07 16:08:54 local time.
const fixedNow = () => new Date(2025, 2, 7, 16, 8, 54);

function logger(options: Partial<LogOptions> = {}, rec = recorder()) {
  const log = new Logger(rec.sink, { level: "info", timestamps: false, ...options }, fixedNow);
  return { log, ...rec };
}

function writeAll(log: Logger) {
  log.error("e");
  log.warn("w");
  log.info("i");
  log.verbose("v");
  log.debug("d");
}

Deno.test("a line is prefixed [mcpmon] and ends with a newline", () => {
  const { log, stderr } = logger();
  log.info("Watching src/ for .py changes");
  assert.deepEqual(stderr, ["[mcpmon] Watching src/ for .py changes\n"]);
});

Deno.test("the pid and server name from the context go in the prefix", () => {
  const { log, stderr } = logger();
  log.info("Restart #1 complete", { pid: 53411 });
  log.info("Started", { server: "my-server", pid: 7 });
  log.info("Waiting", { server: "my-server" });
  log.info("pid zero is still shown", { pid: 0 });
  assert.deepEqual(stderr, [
    "[mcpmon pid:53411] Restart #1 complete\n",
    "[mcpmon my-server pid:7] Started\n",
    "[mcpmon my-server] Waiting\n",
    "[mcpmon pid:0] pid zero is still shown\n",
  ]);
});

Deno.test("with timestamps the local time of day follows mcpmon", () => {
  const { log, stderr } = logger({ timestamps: true });
  log.info("Restart #1 complete", { pid: 53411 });
  log.info("Started", { server: "my-server", pid: 53411 });
  log.info("Sent tools/list_changed notification");
  assert.deepEqual(stderr, [
    "[mcpmon 16:08:54 pid:53411] Restart #1 complete\n",
    "[mcpmon 16:08:54 my-server pid:53411] Started\n",
    "[mcpmon 16:08:54] Sent tools/list_changed notification\n",
  ]);
});

Deno.test("the time of day is zero-padded", () => {
  const rec = recorder();
  const log = new Logger(
    rec.sink,
    { level: "info", timestamps: true },
    () => new Date(2025, 0, 2, 3, 4, 5),
  );
  log.info("x");
  assert.deepEqual(rec.stderr, ["[mcpmon 03:04:05] x\n"]);
});

Deno.test("warnings and errors are labelled after the bracket", () => {
  const { log, stderr } = logger({ timestamps: true });
  log.warn("server stdout (not JSON-RPC, not forwarded): hi", { pid: 1 });
  log.error("server exited with code 1");
  assert.deepEqual(stderr, [
    "[mcpmon 16:08:54 pid:1] warning: server stdout (not JSON-RPC, not forwarded): hi\n",
    "[mcpmon 16:08:54] error: server exited with code 1\n",
  ]);
});

Deno.test("each level shows its own lines and those of the levels below", () => {
  const expected: Record<LogLevel, string[]> = {
    error: ["error: e"],
    info: ["error: e", "warning: w", "i"],
    verbose: ["error: e", "warning: w", "i", "v"],
    debug: ["error: e", "warning: w", "i", "v", "d"],
  };
  for (const [level, lines] of Object.entries(expected) as [LogLevel, string[]][]) {
    const { log, stderr } = logger({ level });
    writeAll(log);
    assert.deepEqual(stderr, lines.map((l) => `[mcpmon] ${l}\n`), `level ${level}`);
  }
});

Deno.test("enabled() tells whether a severity is shown", () => {
  const { log } = logger({ level: "verbose" });
  assert.deepEqual(
    (["error", "warn", "info", "verbose", "debug"] as const).map((s) => log.enabled(s)),
    [true, true, true, true, false],
  );
  const quiet = logger({ level: "error" }).log;
  assert.equal(quiet.enabled("warn"), false);
  assert.equal(quiet.enabled("error"), true);
});

Deno.test("server output passes through to stderr unchanged, at every level", () => {
  for (const level of ["error", "info", "debug"] as const) {
    const { log, stderrBytes } = logger({ level, timestamps: true });
    const chunk = new Uint8Array([0x54, 0x72, 0xff, 0x0a, 0x62]); // not even valid UTF-8
    log.serverOutput(chunk, { pid: 3 });
    assert.deepEqual(stderrBytes, [chunk], `level ${level}`);
  }
});

Deno.test("a named server's stderr lines carry its name, across chunks and servers", () => {
  const { log, stderrBytes } = logger({ level: "error", timestamps: false });
  const enc = new TextEncoder();
  log.serverOutput(enc.encode("Traceback (most recent call last):\n  File "), { server: "alpha" });
  log.serverOutput(enc.encode("boom\n"), { server: "beta", pid: 9 });
  log.serverOutput(enc.encode('"x.py"\nValueError\n'), { server: "alpha" });
  assert.equal(
    stderrBytes.map((b) => new TextDecoder().decode(b)).join(""),
    "[alpha] Traceback (most recent call last):\n[alpha]   File " +
      "[beta] boom\n" +
      '"x.py"\n[alpha] ValueError\n',
  );
});

Deno.test("the log file gets every shown line with the full local date and time", () => {
  const { log, stderr, files } = logger({ level: "verbose", logFile: "/tmp/mcpmon.log" });
  log.info("Restart #1 complete", { server: "my-server", pid: 53411 });
  log.warn("slow");
  log.verbose("File modified: tools.py");
  log.debug("not shown");
  assert.equal(
    files.get("/tmp/mcpmon.log"),
    "[mcpmon 2025-03-07 16:08:54 my-server pid:53411] Restart #1 complete\n" +
      "[mcpmon 2025-03-07 16:08:54] warning: slow\n" +
      "[mcpmon 2025-03-07 16:08:54] File modified: tools.py\n",
  );
  assert.equal(stderr.length, 3, "stderr still gets the lines, without a date");
  assert.equal(stderr[0], "[mcpmon my-server pid:53411] Restart #1 complete\n");
});

Deno.test("the log file gets the server's stderr line by line, prefixed", () => {
  const { log, files } = logger({ logFile: "/l" });
  const enc = new TextEncoder();
  log.serverOutput(enc.encode("Traceback (most recent call last):\n  File "), { pid: 9 });
  log.serverOutput(enc.encode('"x.py"\r\nSyntaxError\n'), { pid: 9 });
  assert.equal(
    files.get("/l"),
    "[stderr 2025-03-07 16:08:54 pid:9] Traceback (most recent call last):\n" +
      '[stderr 2025-03-07 16:08:54 pid:9]   File "x.py"\n' +
      "[stderr 2025-03-07 16:08:54 pid:9] SyntaxError\n",
  );
});

Deno.test("server lines split across chunks are kept apart per process", () => {
  const { log, files } = logger({ logFile: "/l" });
  const enc = new TextEncoder();
  log.serverOutput(enc.encode("old gen"), { pid: 1 });
  log.serverOutput(enc.encode("new gen\n"), { pid: 2 });
  log.serverOutput(enc.encode(" done\n"), { pid: 1 });
  // A multi-byte character split between chunks is decoded whole.
  const euro = enc.encode("€\n");
  log.serverOutput(euro.subarray(0, 1), { pid: 3 });
  log.serverOutput(euro.subarray(1), { pid: 3 });
  assert.equal(
    files.get("/l"),
    "[stderr 2025-03-07 16:08:54 pid:2] new gen\n" +
      "[stderr 2025-03-07 16:08:54 pid:1] old gen done\n" +
      "[stderr 2025-03-07 16:08:54 pid:3] €\n",
  );
});

Deno.test("without a log file nothing is appended", () => {
  const { log, appendCalls } = logger({ level: "debug" });
  writeAll(log);
  log.serverOutput(new TextEncoder().encode("x\n"));
  assert.equal(appendCalls(), 0);
});

Deno.test("a log file that cannot be written is reported once and then left alone", () => {
  const rec = recorder({ failAppend: true });
  const { log, stderr, appendCalls } = logger({ logFile: "/ro/mcpmon.log" }, rec);
  log.info("one");
  log.info("two");
  log.serverOutput(new TextEncoder().encode("server line\n"));
  assert.equal(appendCalls(), 1);
  assert.deepEqual(stderr, [
    "[mcpmon] one\n",
    "[mcpmon] error: cannot write log file /ro/mcpmon.log: EACCES: permission denied; logging to stderr only\n",
    "[mcpmon] two\n",
    "server line\n",
  ]);
});

Deno.test("a sink without appendFile reports the log file as unwritable once", () => {
  const rec = recorder({ noAppend: true });
  const { log, stderr } = logger({ logFile: "/l" }, rec);
  log.info("one");
  log.info("two");
  assert.equal(stderr.length, 3);
  assert.match(stderr[1], /^\[mcpmon\] error: cannot write log file \/l: /);
});

Deno.test({
  name: "a real log file is appended to",
  permissions: { read: true, write: true },
  fn() {
    const dir = Deno.makeTempDirSync({ prefix: "mcpmon_log_" });
    try {
      const path = `${dir}/mcpmon.log`;
      const log = new Logger(
        {
          writeStderr() {},
          appendFile: (p, text) => Deno.writeTextFileSync(p, text, { append: true, create: true }),
        },
        { level: "info", timestamps: false, logFile: path },
        fixedNow,
      );
      log.info("first");
      log.error("second", { pid: 2 });
      assert.equal(
        Deno.readTextFileSync(path),
        "[mcpmon 2025-03-07 16:08:54] first\n[mcpmon 2025-03-07 16:08:54 pid:2] error: second\n",
      );
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test("the log file's per-process line state is dropped once a line ends (no growth per restart)", () => {
  const { log, files } = logger({ logFile: "/l" });
  const enc = new TextEncoder();
  for (let pid = 1; pid <= 1000; pid++) log.serverOutput(enc.encode(`gen ${pid}\n`), { pid });
  log.serverOutput(enc.encode("half"), { pid: 7 });
  log.serverOutput(enc.encode(" line\n"), { pid: 7 });
  assert.ok(files.get("/l")!.endsWith("[stderr 2025-03-07 16:08:54 pid:7] half line\n"));
  assert.equal(log.unfinishedLines, 0);
  log.serverOutput(enc.encode("unfinished"), { pid: 8 });
  assert.equal(log.unfinishedLines, 1);
});
