/**
 * The direct I/O hooks between `src/runtime/node.ts`'s stream adapters and `src/jsonrpc.ts`:
 * `readLines` takes a Node stream's chunks straight from it, and `FrameWriter` writes straight
 * to it, without a web-stream read or write per chunk, with the same order, backpressure and
 * end-of-stream behaviour. (Under Deno here, on its `node:stream`; the npm build runs the same
 * code under Node and Bun in the e2e runs.)
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { PassThrough, Writable } from "node:stream";
import { FrameWriter, readLines } from "../src/jsonrpc.ts";
import {
  DIRECT_READ,
  DIRECT_SEND,
  DIRECT_WRITE,
  DIRECT_WRITEV,
  type DirectReadable,
  type DirectWritable,
  type Runtime,
} from "../src/runtime/mod.ts";
import { Tracer, tracingRuntime } from "../src/trace.ts";
import { readableFromNode, writableFromNode } from "../src/runtime/node.ts";

const encoder = new TextEncoder();
const REPO = dirname(dirname(fileURLToPath(import.meta.url)));
const toFileUrl = (path: string) => pathToFileURL(path);

Deno.test("readLines reads a Node stream through the direct hook, in order, pausing it while a line is being handled", async () => {
  const source = new PassThrough();
  const stream = readableFromNode(source) as ReadableStream<Uint8Array> & Record<symbol, unknown>;
  let direct = 0;
  const hook = stream[DIRECT_READ] as (onChunk: unknown) => unknown;
  stream[DIRECT_READ] = (onChunk: unknown) => (direct++, hook(onChunk));

  const seen: string[] = [];
  let pausedWhileWaiting = false;
  const done = readLines(stream, (line) => {
    seen.push(line);
    if (line !== "slow") return;
    return new Promise<void>((resolve) =>
      setTimeout(() => {
        pausedWhileWaiting = source.isPaused();
        resolve();
      }, 20)
    );
  });
  assert.ok(stream.locked, "the web stream is locked while read directly");
  source.write(encoder.encode("a\nslow\nb\n"));
  source.write("c\nlast without newline");
  source.end();
  await done;
  assert.equal(direct, 1);
  assert.deepEqual(seen, ["a", "slow", "b", "c", "last without newline"]);
  assert.ok(pausedWhileWaiting, "the Node stream was paused while onLine's promise was pending");
  assert.ok(!stream.locked, "the lock is released at the end");
});

Deno.test("readLines rejects with the Node stream's error when read directly", async () => {
  const source = new PassThrough();
  const done = readLines(readableFromNode(source), () => {});
  source.destroy(new Error("boom"));
  await assert.rejects(done, /boom/);
});

Deno.test("a stream already read the web way offers no direct read, and readLines still works on it", async () => {
  const source = new PassThrough();
  const stream = readableFromNode(source) as ReadableStream<Uint8Array> & Record<symbol, unknown>;
  const reader = stream.getReader();
  source.write("first\n");
  assert.equal(new TextDecoder().decode((await reader.read()).value), "first\n");
  reader.releaseLock();
  assert.equal((stream[DIRECT_READ] as (f: unknown) => unknown)(() => {}), undefined);
  const seen: string[] = [];
  const done = readLines(stream, (line) => void seen.push(line));
  source.end("second\n");
  await done;
  assert.deepEqual(seen, ["second"]);
});

Deno.test("FrameWriter writes to a Node stream through the callback hook (no promise per write): every message, in order, then ends it", async () => {
  const chunks: string[] = [];
  let ended = false;
  const sink = new Writable({
    write(chunk, _encoding, callback) {
      chunks.push(String(chunk));
      setTimeout(callback, 1); // a slow consumer: messages queue meanwhile
    },
    final(callback) {
      ended = true;
      callback();
    },
  });
  const stream = writableFromNode(sink) as WritableStream<Uint8Array> & Record<symbol, unknown>;
  let direct = 0;
  let promised = 0;
  const hook = stream[DIRECT_SEND] as (chunk: Uint8Array, done: () => void) => void;
  stream[DIRECT_SEND] = (chunk: Uint8Array, done: () => void) => (direct++, hook(chunk, done));
  const write = stream[DIRECT_WRITE] as (chunk: Uint8Array) => Promise<void>;
  stream[DIRECT_WRITE] = (chunk: Uint8Array) => (promised++, write(chunk));
  const writer = new FrameWriter(stream);
  for (let i = 0; i < 50; i++) {
    // Half of them as pieces (joined in FrameWriter's reused buffer): each must arrive intact.
    if (i % 2 === 0) writer.write({ jsonrpc: "2.0", method: "n", params: { i } });
    else writer.write([encoder.encode('{"jsonrpc":"2.0","method":"n","params":{"i":'), `${i}}}`]);
  }
  await writer.close();
  assert.ok(direct >= 1, "the callback hook carried the writes");
  assert.equal(promised, 0, "no write went the promise way");
  const lines = chunks.join("").split("\n");
  assert.equal(lines.pop(), "");
  assert.deepEqual(lines.map((l) => JSON.parse(l).params.i), [...Array(50).keys()]);
  assert.ok(ended, "close() ended the Node stream");
});

Deno.test("FrameWriter reports a Node stream that failed, through the direct hook, once", async () => {
  const sink = new Writable({
    write(_chunk, _encoding, callback) {
      callback(new Error("EPIPE"));
    },
  });
  const errors: unknown[] = [];
  const writer = new FrameWriter(writableFromNode(sink), (err) => errors.push(err));
  writer.write("one");
  await writer.flushed();
  writer.write("two");
  await writer.flushed();
  assert.equal(errors.length, 1);
  assert.match(String(errors[0]), /EPIPE/);
  assert.ok(writer.closed);
});

/** A tracer of pid 1 whose records (the lines it would append to its file) land in `records`. */
function recordingTracer(): { tracer: Tracer; records: string[] } {
  const records: string[] = [];
  const tracer = new Tracer(
    { appendFile: (_path, text) => void records.push(text) },
    { file: "/trace.jsonl", pid: 1 },
  );
  return { tracer, records };
}

Deno.test("the trace tap keeps the direct hooks of the client's and the servers' streams, and still traces through them", async () => {
  const stdinSource = new PassThrough();
  const stdoutChunks: string[] = [];
  const stdoutSink = new Writable({
    write(chunk, _encoding, callback) {
      stdoutChunks.push(String(chunk));
      callback();
    },
  });
  const child = {
    pid: 42,
    stdin: writableFromNode(new Writable({ write: (_c, _e, cb) => cb() })),
    stdout: readableFromNode(new PassThrough()),
    stderr: new ReadableStream<Uint8Array>(),
    exited: new Promise<never>(() => {}),
    killGroup: () => {},
  };
  const runtime = {
    stdin: readableFromNode(stdinSource),
    stdout: writableFromNode(stdoutSink),
    spawn: () => child,
  } as unknown as Runtime;
  const { tracer, records } = recordingTracer();
  const traced = tracingRuntime(runtime, tracer, () => "srv");
  const spawned = traced.spawn({ command: "x", args: [] });
  for (const stream of [traced.stdin, spawned.stdout]) {
    assert.equal(typeof (stream as DirectReadable)[DIRECT_READ], "function");
  }
  for (const stream of [traced.stdout, spawned.stdin]) {
    assert.equal(typeof (stream as DirectWritable)[DIRECT_WRITE], "function");
    assert.equal(typeof (stream as DirectWritable)[DIRECT_SEND], "function");
  }

  const lines: string[] = [];
  const reading = readLines(traced.stdin, (line) => void lines.push(line));
  assert.ok(traced.stdin.locked, "the tap is locked while read directly");
  stdinSource.end('{"jsonrpc":"2.0","id":1,"method":"ping"}\n');
  await reading;
  const writer = new FrameWriter(traced.stdout);
  writer.write('{"jsonrpc":"2.0","id":1,"result":{}}');
  await writer.close();
  tracer.close();
  assert.deepEqual(lines, ['{"jsonrpc":"2.0","id":1,"method":"ping"}']);
  assert.deepEqual(stdoutChunks, ['{"jsonrpc":"2.0","id":1,"result":{}}\n']);
  const dirs = records.join("").split("\n").filter(Boolean).map((l) => JSON.parse(l).dir);
  assert.deepEqual(dirs, ["client→mcpmon", "mcpmon→client"]);
});

Deno.test("on Deno, the client's stdin and stdout carry the direct hooks, and lines pass through them intact", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mcpmon-direct-" });
  try {
    const script = join(dir, "echo.ts");
    const src = (path: string) => JSON.stringify(toFileUrl(join(REPO, path)).href);
    await Deno.writeTextFile(
      script,
      `import { denoRuntime } from ${src("src/runtime/deno.ts")};
import { FrameWriter, readLines } from ${src("src/jsonrpc.ts")};
import { DIRECT_READ, DIRECT_SEND, DIRECT_WRITE, DIRECT_WRITEV } from ${src("src/runtime/mod.ts")};
const hooks = typeof denoRuntime.stdin[DIRECT_READ] + " " + typeof denoRuntime.stdout[DIRECT_WRITE] +
  " " + typeof denoRuntime.stdout[DIRECT_SEND] + " " + typeof denoRuntime.stdout[DIRECT_WRITEV];
const out = new FrameWriter(denoRuntime.stdout);
out.write(hooks);
await readLines(denoRuntime.stdin, (line) => out.write(line));
await out.close();
`,
    );
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-config", "--allow-read", script],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const big = "é".repeat(150_000); // several reads' worth
    const input = `one\n${big}\nthree`;
    const writer = child.stdin.getWriter();
    await writer.write(encoder.encode(input));
    await writer.close();
    const { stdout, code } = await child.output();
    assert.equal(code, 0);
    assert.equal(
      new TextDecoder().decode(stdout),
      `function function function function\n${input}\n`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * A Node stream that records the size of each write (1 for `write`, the chunk
 * count for `writev`) in `calls` and the text written in `seen`.
 */
function recordingSink(): { sink: Writable; calls: number[]; seen: string[] } {
  const calls: number[] = [];
  const seen: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      calls.push(1);
      seen.push(String(chunk));
      done();
    },
    writev(chunks, done) {
      calls.push(chunks.length);
      for (const { chunk } of chunks) seen.push(String(chunk));
      done();
    },
  });
  return { sink, calls, seen };
}

Deno.test("writableFromNode's gathered write hands a Node stream all its chunks as one writev", async () => {
  const { sink, calls, seen } = recordingSink();
  const stream = writableFromNode(sink) as DirectWritable;
  const enc = new TextEncoder();
  await stream[DIRECT_WRITEV]!([enc.encode("a"), enc.encode("b"), enc.encode("c\n")]);
  assert.deepEqual(calls, [3]);
  assert.equal(seen.join(""), "abc\n");
  sink.destroy(new Error("gone"));
  await assert.rejects(stream[DIRECT_WRITEV]!([enc.encode("x"), enc.encode("y")]));
});

Deno.test("writableFromNode paced (Bun's default) hands a gathered write's chunks to the stream one at a time, uncopied, the next once the one before was taken", async () => {
  const writes: Uint8Array[] = [];
  const pending: (() => void)[] = [];
  let fail = false;
  const sink = new Writable({
    write(chunk, _encoding, done) {
      if (fail) return done(new Error("gone"));
      writes.push(chunk);
      pending.push(() => done());
    },
    writev(chunks, done) {
      for (const { chunk } of chunks) writes.push(chunk);
      pending.push(() => done());
    },
  });
  const stream = writableFromNode(sink, { paced: true }) as DirectWritable;
  const enc = new TextEncoder();
  const chunks = [enc.encode("ab"), enc.encode("cde"), enc.encode("f\n")];
  let settled = false;
  const written = stream[DIRECT_WRITEV]!(chunks).then(() => settled = true);
  for (let i = 0; i < chunks.length; i++) {
    await new Promise((resolve) => setTimeout(resolve, 0));
    // Only this chunk was handed over: the stream holds its bytes and no more.
    assert.equal(writes.length, i + 1);
    assert.equal(sink.writableLength, chunks[i].length);
    assert.equal(writes[i].buffer, chunks[i].buffer, "the chunk itself, not a copy");
    assert.equal(writes[i].byteOffset, chunks[i].byteOffset);
    assert.equal(settled, false);
    pending.shift()!();
  }
  await written;
  assert.equal(writes.map((w) => new TextDecoder().decode(w)).join(""), "abcdef\n");
  // A failed write rejects, and so does the next one.
  fail = true;
  await assert.rejects(stream[DIRECT_WRITEV]!([enc.encode("x"), enc.encode("y")]), /gone/);
  await assert.rejects(stream[DIRECT_WRITEV]!([enc.encode("x"), enc.encode("y")]));
});

Deno.test("writableFromNode paced: a stream that takes each write at once (Bun calls back before write returns) gets a gathered write of 100,000 chunks in a loop, not a stack overflow", async () => {
  let taken = 0;
  let depth = 0;
  let deepest = 0;
  // Only what writableFromNode uses of a Writable; its write calls back before returning.
  const sink = {
    destroyed: false,
    writableEnded: false,
    on: () => sink,
    write(chunk: Uint8Array, done: (err?: Error | null) => void) {
      deepest = Math.max(deepest, ++depth);
      taken += chunk.length;
      done(null);
      depth--;
      return true;
    },
  };
  const stream = writableFromNode(sink as unknown as Writable, { paced: true }) as DirectWritable;
  const chunk = new Uint8Array(1);
  await stream[DIRECT_WRITEV]!(Array.from({ length: 100_000 }, () => chunk));
  assert.equal(taken, 100_000);
  assert.equal(deepest, 1);
});

Deno.test("on Deno, a child's stdout and stdin carry the direct hooks: lines of any size pass through them in order, and the pipes close at the end", async () => {
  const { denoRuntime } = await import("../src/runtime/deno.ts");
  const { readByteLines, ChunkScanner } = await import("../src/jsonrpc.ts");
  /** Open file descriptors of this process (Linux), to see the pipes closed at the end. */
  const fds = () => {
    try {
      return [...Deno.readDirSync("/proc/self/fd")].length;
    } catch {
      return undefined; // no /proc: not checked
    }
  };
  const fdsBefore = fds();
  const child = denoRuntime.spawn({ command: "cat", args: [] });
  const stdout = child.stdout as DirectReadable;
  const stdin = child.stdin as DirectWritable;
  assert.equal(typeof stdout[DIRECT_READ], "function");
  assert.equal(typeof stdin[DIRECT_WRITE], "function");
  assert.equal(typeof stdin[DIRECT_SEND], "function");
  assert.equal(typeof stdin[DIRECT_WRITEV], "function");
  let reads = 0;
  let writes = 0;
  const read = stdout[DIRECT_READ]!;
  stdout[DIRECT_READ] = (onChunk) => read((chunk) => (reads++, onChunk(chunk)));
  const write = stdin[DIRECT_WRITE]!;
  stdin[DIRECT_WRITE] = (chunk) => (writes++, write(chunk));
  const send = stdin[DIRECT_SEND]!;
  stdin[DIRECT_SEND] = (chunk, done) => (writes++, send(chunk, done));

  const big = '{"s":"' + "é漢🙂a".repeat(100_000) + '"}'; // 1 MB: many reads, handed over
  const sent = ['{"id":1}', big, '{"id":2}', "", big.slice(0, 70_000), '{"id":3}'];
  const got: string[] = [];
  let heldWhilePending = -1;
  const reading = readByteLines(child.stdout, (line) => {
    got.push(new TextDecoder().decode(line instanceof ChunkScanner ? line.join() : line));
    if (got.length !== 1) return;
    // The first line is being handled: nothing more is read meanwhile.
    return new Promise<void>((resolve) =>
      setTimeout(() => {
        heldWhilePending = got.length;
        resolve();
      }, 50)
    );
  });
  const writer = new FrameWriter(child.stdin);
  for (const line of sent) writer.write(line);
  await writer.close();
  await reading;
  await child.stderr.cancel();
  assert.equal((await child.exited).code, 0);
  assert.deepEqual(got, sent);
  assert.equal(heldWhilePending, 1);
  assert.ok(reads > 1 && writes >= 1, `reads ${reads}, writes ${writes}`);
  assert.equal(fds(), fdsBefore, "every pipe of the child is closed");
});

Deno.test("the trace tap keeps the gathered-write hook: a long message's pieces go out as one writev, and are traced", async () => {
  const { sink, calls, seen } = recordingSink();
  const runtime = {
    stdin: readableFromNode(new PassThrough()),
    stdout: writableFromNode(sink),
    spawn: () => {
      throw new Error("not here");
    },
  } as unknown as Runtime;
  const { tracer, records } = recordingTracer();
  const traced = tracingRuntime(runtime, tracer, () => "srv");
  assert.equal(typeof (traced.stdout as DirectWritable)[DIRECT_WRITEV], "function");
  const pieces = ['{"jsonrpc":"2.0","id":1,"result":{"text":"', "a".repeat(20_000)];
  for (let k = 0; k < 5; k++) pieces.push("b".repeat(20_000));
  pieces.push('"}}');
  const writer = new FrameWriter(traced.stdout);
  writer.write(pieces.map((p) => encoder.encode(p)));
  await writer.close();
  tracer.close();
  assert.equal(seen.join(""), pieces.join("") + "\n");
  assert.ok(calls.some((n) => n > 1), `one writev of the pieces, not a joined copy: ${calls}`);
  const traces = records.join("").split("\n").filter(Boolean).map((l) => JSON.parse(l));
  assert.deepEqual(traces.map((t) => t.dir), ["mcpmon→client"]);
});

Deno.test("sendByOps (Deno's callback write on core ops): a short write goes on from where it stopped, and done comes once, after the last byte", async () => {
  const { sendByOps } = await import("../src/runtime/deno.ts");
  const written: number[] = [];
  const calls: number[] = [];
  const ops = {
    write(rid: number, buffer: Uint8Array): Promise<number> {
      calls.push(rid);
      const n = Math.min(3, buffer.length); // a pipe that takes 3 bytes at a time
      written.push(...buffer.subarray(0, n));
      return Promise.resolve(n);
    },
  };
  const send = sendByOps(ops, 7, "test");
  const chunk = encoder.encode("0123456789");
  const done: unknown[] = [];
  await new Promise<void>((resolve) => send(chunk, (err) => (done.push(err), resolve())));
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(done, [undefined]);
  assert.equal(new TextDecoder().decode(new Uint8Array(written)), "0123456789");
  assert.deepEqual(calls, [7, 7, 7, 7]);
});

Deno.test("sendByOps reports a write that took no bytes, or failed, to done as an error, once", async () => {
  const { sendByOps } = await import("../src/runtime/deno.ts");
  const outcome = (write: () => Promise<number>) =>
    new Promise<unknown[]>((resolve) => {
      const done: unknown[] = [];
      sendByOps({ write }, 3, "the peer")(encoder.encode("abc"), (err) => done.push(err));
      setTimeout(() => resolve(done), 10);
    });
  const none = await outcome(() => Promise.resolve(0));
  assert.equal(none.length, 1);
  assert.match(String(none[0]), /the peer took no bytes/);
  const broken = new Error("Broken pipe");
  assert.deepEqual(await outcome(() => Promise.reject(broken)), [broken]);
  const nothing = await outcome(() => Promise.reject(undefined));
  assert.equal(nothing.length, 1);
  assert.ok(nothing[0] instanceof Error);
});

/** A DIRECT_SEND over a fake pipe: records each write, calls done later (or at once). */
function fakeSend(options: { atOnce?: boolean; failAt?: number } = {}) {
  const writes: Uint8Array[] = [];
  const copies: string[] = [];
  const pending: (() => void)[] = [];
  const send = (chunk: Uint8Array, done: (error?: unknown) => void) => {
    writes.push(chunk);
    copies.push(new TextDecoder().decode(chunk));
    const settle = () => done(writes.length === options.failAt ? new Error("EPIPE") : undefined);
    if (options.atOnce) settle();
    else pending.push(settle);
  };
  /** Lets the writes in flight, and those they start, be taken. */
  const drain = async () => {
    for (let k = 0; k < 1000; k++) {
      while (pending.length > 0) pending.shift()!();
      await new Promise((r) => setTimeout(r, 0));
      if (pending.length === 0) return;
    }
  };
  return { send, writes, copies, pending, drain };
}

Deno.test("Deno's gathered write on stdout copies the chunks into one buffer it keeps, written at most GATHER_BYTES at a time, in order, and reused once taken", async () => {
  const { sendGathered, GATHER_BYTES } = await import("../src/runtime/deno.ts");
  const f = fakeSend();
  const writev = sendGathered(f.send);
  // A 2.5 MiB line as 64 KiB chunks, and a small piece that spans the cut between two writes.
  const chunks: Uint8Array[] = [];
  let line = "";
  for (let k = 0; k < 40; k++) {
    const text = String.fromCharCode(97 + (k % 26)).repeat(64 * 1024 - (k === 15 ? 1 : 0));
    chunks.push(encoder.encode(text));
    line += text;
  }
  chunks.push(new Uint8Array(0), encoder.encode("é\n"));
  line += "é\n";
  const first = writev(chunks);
  await f.drain();
  await first;
  assert.equal(f.copies.join(""), line);
  assert.deepEqual(f.writes.map((w) => w.length), [
    GATHER_BYTES,
    GATHER_BYTES,
    encoder.encode(line).length - 2 * GATHER_BYTES,
  ]);
  assert.ok(f.writes.every((w) => w.buffer === f.writes[0].buffer), "one buffer for all pieces");
  // Later gathered writes reuse it; one while it is in flight copies into a buffer of its own.
  const second = writev([encoder.encode("ab"), encoder.encode("c\n")]);
  const third = writev([encoder.encode("de"), encoder.encode("f\n")]);
  await f.drain();
  await Promise.all([second, third]);
  assert.deepEqual(f.copies.slice(3), ["abc\n", "def\n"]);
  assert.equal(f.writes[3].buffer, f.writes[0].buffer, "the kept buffer is reused");
  assert.notEqual(f.writes[4].buffer, f.writes[0].buffer, "not while its write is in flight");
  // Nothing to write: no write at all.
  await writev([new Uint8Array(0)]);
  assert.equal(f.writes.length, 5);
});

Deno.test("Deno's gathered write on stdout rejects with the write's error, sends nothing after it, and frees its buffer", async () => {
  const { sendGathered, GATHER_BYTES } = await import("../src/runtime/deno.ts");
  const f = fakeSend({ atOnce: true, failAt: 1 });
  const writev = sendGathered(f.send);
  const big = new Uint8Array(GATHER_BYTES + 10).fill(97);
  await assert.rejects(writev([big, encoder.encode("\n")]), /EPIPE/);
  assert.equal(f.writes.length, 1);
  await writev([encoder.encode("x\n")]);
  assert.equal(f.writes[1].buffer, f.writes[0].buffer, "the buffer is free again");
  const throwing = sendGathered(() => {
    throw new Error("bad resource");
  });
  await assert.rejects(throwing([encoder.encode("y\n")]), /bad resource/);
});

Deno.test("Deno's gathered write on a child's stdin sends the chunks one after the other, as they are, and stops at an error", async () => {
  const { sendEach } = await import("../src/runtime/mod.ts");
  const f = fakeSend();
  const chunks = ["ab", "cd", "ef\n"].map((t) => encoder.encode(t));
  const writing = sendEach(f.send)(chunks);
  await f.drain();
  await writing;
  assert.deepEqual(f.writes, chunks, "the chunks themselves, not copies");
  const failing = fakeSend({ atOnce: true, failAt: 2 });
  await assert.rejects(sendEach(failing.send)(chunks), /EPIPE/);
  assert.equal(failing.writes.length, 2);
});
