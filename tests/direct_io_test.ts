/**
 * The direct I/O hooks between `src/runtime/node.ts`'s stream adapters and `src/jsonrpc.ts`:
 * `readLines` takes a Node stream's chunks straight from it, and `FrameWriter` writes straight
 * to it, without a web-stream read or write per chunk, with the same order, backpressure and
 * end-of-stream behaviour. (Under Deno here, on its `node:stream`; the npm build runs the same
 * code under Node and Bun in the e2e runs.)
 */
import assert from "node:assert/strict";
import { PassThrough, Writable } from "node:stream";
import { FrameWriter, readLines } from "../src/jsonrpc.ts";
import { DIRECT_READ, DIRECT_WRITE } from "../src/runtime/mod.ts";
import { readableFromNode, writableFromNode } from "../src/runtime/node.ts";

const encoder = new TextEncoder();

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

Deno.test("FrameWriter writes to a Node stream through the direct hook: every message, in order, then ends it", async () => {
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
  const hook = stream[DIRECT_WRITE] as (chunk: Uint8Array) => Promise<void>;
  stream[DIRECT_WRITE] = (chunk: Uint8Array) => (direct++, hook(chunk));
  const writer = new FrameWriter(stream);
  for (let i = 0; i < 50; i++) writer.write({ jsonrpc: "2.0", method: "n", params: { i } });
  await writer.close();
  assert.ok(direct >= 1, "the direct hook carried the writes");
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
