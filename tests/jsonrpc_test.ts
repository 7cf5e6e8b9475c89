import assert from "node:assert/strict";
import {
  classify,
  errorResponse,
  FrameWriter,
  LineSplitter,
  parseLine,
  readLines,
  replaceId,
  resultResponse,
} from "../src/jsonrpc.ts";
import { DIRECT_SEND } from "../src/runtime/mod.ts";

const enc = new TextEncoder();

Deno.test("LineSplitter joins a multibyte character split across chunks", () => {
  const bytes = enc.encode('{"t":"é漢🙂"}\n');
  const s = new LineSplitter();
  const lines: string[] = [];
  // Split inside every multibyte sequence: one byte at a time.
  for (const b of bytes) lines.push(...s.push(new Uint8Array([b])));
  assert.deepEqual(lines, ['{"t":"é漢🙂"}']);
});

Deno.test("LineSplitter returns every line of a chunk and keeps the unfinished rest", () => {
  const s = new LineSplitter();
  assert.deepEqual(s.push(enc.encode("a\nb\r\nc")), ["a", "b"]);
  assert.equal(s.buffered, 1);
  assert.deepEqual(s.push(enc.encode("d\n")), ["cd"]);
  assert.deepEqual(s.flush(), []);
});

Deno.test("LineSplitter passes a multi-megabyte line intact", () => {
  const big = "x".repeat(5 * 1024 * 1024) + "漢";
  const bytes = enc.encode(big + "\n");
  const s = new LineSplitter();
  const lines: string[] = [];
  for (let i = 0; i < bytes.length; i += 65536) lines.push(...s.push(bytes.subarray(i, i + 65536)));
  assert.equal(lines.length, 1);
  assert.equal(lines[0], big);
});

Deno.test("LineSplitter.flush returns a last line without newline", () => {
  const s = new LineSplitter();
  s.push(enc.encode("tail"));
  assert.deepEqual(s.flush(), ["tail"]);
});

Deno.test("classify tells requests, notifications and responses apart", () => {
  assert.equal(classify({ jsonrpc: "2.0", id: 1, method: "ping" }).type, "request");
  assert.equal(classify({ jsonrpc: "2.0", id: "a", method: "ping" }).type, "request");
  assert.equal(classify({ jsonrpc: "2.0", method: "notifications/x" }).type, "notification");
  assert.equal(classify({ jsonrpc: "2.0", id: 1, result: {} }).type, "response");
  assert.equal(
    classify({ jsonrpc: "2.0", id: "1", error: { code: 1, message: "m" } }).type,
    "response",
  );
});

Deno.test("classify rejects what is not JSON-RPC, keeping a usable id", () => {
  assert.deepEqual(classify(42), {
    type: "invalid",
    id: null,
    reason: "a JSON-RPC message must be an object",
  });
  const noVersion = classify({ id: 3, method: "x" });
  assert.equal(noVersion.type, "invalid");
  assert.equal(noVersion.id, 3);
  assert.equal(classify({ jsonrpc: "2.0", id: 1, method: 5 }).type, "invalid");
  assert.equal(classify({ jsonrpc: "2.0", id: null, method: "x" }).type, "invalid");
  assert.equal(classify({ jsonrpc: "2.0", id: { a: 1 }, method: "x" }).type, "invalid");
  assert.equal(classify({ jsonrpc: "2.0", method: "x", params: 3 }).type, "invalid");
  assert.equal(classify({ jsonrpc: "2.0", id: 1 }).type, "invalid");
});

Deno.test("parseLine parses objects, unpacks batches and reports bad JSON", () => {
  assert.deepEqual(parseLine('{"a":1}'), { ok: true, values: [{ a: 1 }] });
  assert.deepEqual(parseLine("[1,2]"), { ok: true, values: [1, 2] });
  assert.equal(parseLine("[]").ok, false);
  assert.equal(parseLine("{nope").ok, false);
});

Deno.test("errorResponse and resultResponse build JSON-RPC responses", () => {
  assert.deepEqual(errorResponse(null, -32700, "Parse error"), {
    jsonrpc: "2.0",
    id: null,
    error: { code: -32700, message: "Parse error" },
  });
  assert.deepEqual(errorResponse("x", 1, "m", { d: 1 }).error, {
    code: 1,
    message: "m",
    data: { d: 1 },
  });
  assert.deepEqual(resultResponse(1, { ok: true }), {
    jsonrpc: "2.0",
    id: 1,
    result: { ok: true },
  });
});

Deno.test("FrameWriter writes newline-delimited messages in order", async () => {
  const chunks: Uint8Array[] = [];
  const w = new FrameWriter(new WritableStream({ write: (c) => void chunks.push(c) }));
  for (let i = 0; i < 100; i++) w.write({ jsonrpc: "2.0", method: "m", params: { i } });
  w.write('{"raw":true}');
  await w.flushed();
  const text = new TextDecoder().decode(
    chunks.reduce((a, b) => {
      const out = new Uint8Array(a.length + b.length);
      out.set(a);
      out.set(b, a.length);
      return out;
    }, new Uint8Array()),
  );
  const lines = text.split("\n");
  assert.equal(lines.pop(), "");
  assert.equal(lines.length, 101);
  assert.equal(JSON.parse(lines[42]).params.i, 42);
  assert.equal(lines[100], '{"raw":true}');
  assert.ok(chunks.length < 101, "writes made while one is in flight are coalesced");
});

Deno.test("FrameWriter asks the caller to wait past its high-water mark, then releases it", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  let written = 0;
  const w = new FrameWriter(
    new WritableStream({
      async write(c) {
        await gate;
        written += c.length;
      },
    }),
    undefined,
    100,
  );
  w.write("x".repeat(10));
  assert.equal(w.ready(), undefined, "under the mark, nothing to wait for");
  w.write("y".repeat(200));
  const wait = w.ready();
  assert.ok(wait instanceof Promise, "over the mark, ready() returns a promise");
  assert.ok(w.buffered > 100);
  release();
  await wait;
  await w.flushed();
  assert.equal(written, 11 + 201);
});

Deno.test("FrameWriter reports a broken stream once and drops later writes", async () => {
  const errors: unknown[] = [];
  const w = new FrameWriter(
    new WritableStream({
      write() {
        throw new Error("EPIPE");
      },
    }),
    (e) => errors.push(e),
  );
  w.write("a");
  await w.flushed();
  assert.equal(w.closed, true);
  w.write("b");
  assert.equal(w.buffered, 0, "nothing is queued after the stream broke");
  await w.flushed();
  assert.equal(errors.length, 1);
});

/** A stream with the DIRECT_SEND hook whose writes are taken when `take()` says (or at once). */
function sendStream(atOnce: boolean) {
  const sent: string[] = [];
  const pending: ((error?: unknown) => void)[] = [];
  let promised = 0;
  const stream = new WritableStream<Uint8Array>({ write: () => void promised++ });
  Object.assign(stream, {
    [DIRECT_SEND]: (chunk: Uint8Array, done: (error?: unknown) => void) => {
      sent.push(new TextDecoder().decode(chunk));
      if (atOnce) done();
      else pending.push(done);
    },
  });
  return { stream, sent, pending, promised: () => promised };
}

Deno.test("FrameWriter writes through the DIRECT_SEND hook: one write at a time, the rest coalesced until its done()", async () => {
  const { stream, sent, pending, promised } = sendStream(false);
  const w = new FrameWriter(stream);
  w.write('{"a":1}');
  assert.deepEqual(sent, ['{"a":1}\n'], "the first message goes out at once");
  w.write('{"b":2}');
  w.write([enc.encode('{"c":'), "3", enc.encode("}")]);
  assert.equal(sent.length, 1, "nothing more while the first write is in flight");
  let flushed = false;
  const f = w.flushed().then(() => flushed = true);
  pending.shift()!();
  assert.deepEqual(sent.slice(1), ['{"b":2}\n{"c":3}\n'], "then what queued, as one write");
  await Promise.resolve();
  assert.equal(flushed, false, "flushed() waits for the last write to be taken");
  pending.shift()!(null); // null counts as no error
  await f;
  assert.equal(promised(), 0, "no write went through the web stream");
});

Deno.test("FrameWriter goes on at once when DIRECT_SEND's done() comes before it returns", async () => {
  const { stream, sent } = sendStream(true);
  const w = new FrameWriter(stream);
  for (let i = 0; i < 3; i++) w.write(`{"i":${i}}`);
  assert.deepEqual(sent, ['{"i":0}\n', '{"i":1}\n', '{"i":2}\n']);
  await w.flushed();
});

Deno.test("FrameWriter reports a DIRECT_SEND failure once, drops later writes and releases a waiting flush", async () => {
  const { stream, sent, pending } = sendStream(false);
  const errors: unknown[] = [];
  const w = new FrameWriter(stream, (e) => errors.push(e));
  w.write("a");
  w.write("b");
  const f = w.flushed();
  pending.shift()!(new Error("EPIPE"));
  await f;
  w.write("c");
  assert.deepEqual(sent, ["a\n"]);
  assert.equal(w.closed, true);
  assert.equal(errors.length, 1);
});

Deno.test("FrameWriter treats a DIRECT_SEND that throws as a failed write: reported once, later writes dropped, flushed() resolves", async () => {
  const stream = new WritableStream<Uint8Array>();
  let calls = 0;
  Object.assign(stream, {
    [DIRECT_SEND]: () => {
      calls++;
      throw new Error("EBADF");
    },
  });
  const errors: unknown[] = [];
  const w = new FrameWriter(stream, (e) => errors.push(e));
  w.write([enc.encode('{"id":'), "1", enc.encode("}")]);
  w.write("two");
  await w.flushed();
  assert.equal(calls, 1);
  assert.equal(w.closed, true);
  assert.equal(errors.length, 1);
  assert.match(String(errors[0]), /EBADF/);
});

Deno.test("FrameWriter joins small byte messages into views of one shared buffer, not a buffer each", async () => {
  const chunks: Uint8Array[] = [];
  const w = new FrameWriter(new WritableStream({ write: (c) => void chunks.push(c) }));
  for (let i = 0; i < 3; i++) {
    w.write([enc.encode('{"id":'), String(i), enc.encode("}")]);
    await w.flushed();
  }
  assert.equal(chunks.length, 3);
  assert.deepEqual(chunks.map((c) => new TextDecoder().decode(c)), [
    '{"id":0}\n',
    '{"id":1}\n',
    '{"id":2}\n',
  ]);
  assert.ok(chunks.every((c) => c.buffer === chunks[0].buffer), "one buffer under all three");
});

Deno.test("FrameWriter reuses the bytes of a DIRECT_SEND chunk once the stream took it, never while it is in flight", () => {
  const kept: Uint8Array[] = [];
  const texts: string[] = [];
  const pending: ((error?: unknown) => void)[] = [];
  const stream = new WritableStream<Uint8Array>();
  Object.assign(stream, {
    [DIRECT_SEND]: (chunk: Uint8Array, done: (error?: unknown) => void) => {
      kept.push(chunk);
      texts.push(new TextDecoder().decode(chunk));
      pending.push(done);
    },
  });
  const w = new FrameWriter(stream);
  const piece = (i: number) => [enc.encode('{"id":'), String(i), enc.encode("}")];
  w.write(piece(1));
  w.write(piece(2)); // queued while 1 is in flight: not written anywhere yet
  w.write(piece(3));
  assert.equal(new TextDecoder().decode(kept[0]), '{"id":1}\n', "1 untouched while in flight");
  pending.shift()!(); // 1 taken: 2 and 3 go out together, in the bytes 1 was in
  assert.equal(kept[1].buffer, kept[0].buffer);
  assert.equal(kept[1].byteOffset, kept[0].byteOffset);
  pending.shift()!();
  w.write(piece(4));
  assert.deepEqual(texts, ['{"id":1}\n', '{"id":2}\n{"id":3}\n', '{"id":4}\n']);
  assert.equal(kept[2].byteOffset, kept[0].byteOffset, "4 reuses them too");
});

Deno.test("FrameWriter.writeSpliced writes a line with its id replaced, straight into one chunk when nothing is in flight", async () => {
  const line = enc.encode('{"jsonrpc":"2.0","id":7,"result":{"id":"inner"}}');
  const at = { idStart: 22, idEnd: 23 };
  assert.equal(new TextDecoder().decode(line.subarray(at.idStart, at.idEnd)), "7");
  const { stream, sent, pending } = sendStream(false);
  const w = new FrameWriter(stream);
  w.writeSpliced(line, at, 'a"é'); // idle: one chunk at once (non-ASCII id: the general way)
  w.writeSpliced(line, at, 123456789); // in flight: queued as pieces
  w.writeSpliced(line, at, "x");
  pending.shift()!();
  pending.shift()!();
  w.writeSpliced(line, at, -5); // idle again: straight out, a longer id
  pending.shift()!();
  const long = enc.encode('{"jsonrpc":"2.0","id":123456,"result":{}}');
  w.writeSpliced(long, { idStart: 22, idEnd: 28 }, 9); // a shorter one
  pending.shift()!();
  w.writeSpliced(long, { idStart: 22, idEnd: 28 }, 654321); // as long
  assert.deepEqual(sent, [
    '{"jsonrpc":"2.0","id":"a\\"é","result":{"id":"inner"}}\n',
    '{"jsonrpc":"2.0","id":123456789,"result":{"id":"inner"}}\n' +
    '{"jsonrpc":"2.0","id":"x","result":{"id":"inner"}}\n',
    '{"jsonrpc":"2.0","id":-5,"result":{"id":"inner"}}\n',
    '{"jsonrpc":"2.0","id":9,"result":{}}\n',
    '{"jsonrpc":"2.0","id":654321,"result":{}}\n',
  ]);
  // On a plain web stream too.
  const chunks: Uint8Array[] = [];
  const plain = new FrameWriter(new WritableStream({ write: (c) => void chunks.push(c) }));
  plain.writeSpliced(line, at, "p");
  await plain.flushed();
  assert.equal(
    new TextDecoder().decode(chunks[0]),
    '{"jsonrpc":"2.0","id":"p","result":{"id":"inner"}}\n',
  );
});

Deno.test("readLines awaits a slow consumer and delivers the last unterminated line", async () => {
  const seen: string[] = [];
  await readLines(new Blob(["one\ntwo\nthree"]).stream(), async (line) => {
    await new Promise((r) => setTimeout(r, 1));
    seen.push(line);
  });
  assert.deepEqual(seen, ["one", "two", "three"]);
});

Deno.test("replaceId splices a new id where encoders put it: first after jsonrpc, or last", () => {
  assert.equal(
    replaceId('{"jsonrpc":"2.0","id":7,"result":{"id":7}}', 7, "c-1"),
    '{"jsonrpc":"2.0","id":"c-1","result":{"id":7}}',
  );
  assert.equal(
    replaceId('{"result":{"id":7},"jsonrpc":"2.0","id":7}', 7, 12),
    '{"result":{"id":7},"jsonrpc":"2.0","id":12}',
  );
  assert.equal(
    replaceId('{"method":"ping","jsonrpc":"2.0","id":"a\\"b"}', 'a"b', 3),
    '{"method":"ping","jsonrpc":"2.0","id":3}',
  );
});

Deno.test("replaceId gives up (undefined) wherever the id is not where it looks", () => {
  // Elsewhere, spaced, written differently, or only a nested look-alike at the end.
  assert.equal(replaceId('{"id":7,"jsonrpc":"2.0","result":{}}', 7, 1), undefined);
  assert.equal(replaceId('{"jsonrpc": "2.0", "id": 7, "result": {}}', 7, 1), undefined);
  assert.equal(replaceId('{"result":{},"jsonrpc":"2.0","id":7.0}', 7, 1), undefined);
  assert.equal(replaceId('{"id":8,"jsonrpc":"2.0","result":{"a":1,"id":7}}', 7, 1), undefined);
  assert.equal(replaceId('{"jsonrpc":"2.0","id":70,"result":{}}', 7, 1), undefined);
});
