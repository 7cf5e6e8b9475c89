/**
 * `scanMessage` and `spliceId` (src/jsonrpc.ts): the top level of a JSON-RPC message read from
 * its bytes without parsing it, exactly as `JSON.parse` + `classify` would read it, and its id
 * replaced in the bytes. Adversarial inputs by hand, then a property test against `JSON.parse`.
 */
import assert from "node:assert/strict";
import {
  ChunkScanner,
  classify,
  FrameWriter,
  LineSplitter,
  readByteLines,
  scanMessage,
  type ScannedMessage,
  spliceId,
} from "../src/jsonrpc.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const scan = (text: string) => scanMessage(enc.encode(text));
const joined = (pieces: readonly (Uint8Array | string)[]) =>
  pieces.map((p) => typeof p === "string" ? p : dec.decode(p)).join("");
const spliced = (text: string, id: string | number) => {
  const bytes = enc.encode(text);
  const s = scanMessage(bytes);
  assert.ok(s, `scans: ${text}`);
  return joined(spliceId(bytes, s, id));
};

Deno.test("scanMessage reads the top-level id, method, result/error and jsonrpc of a message", () => {
  assert.deepEqual(scan('{"jsonrpc":"2.0","id":7,"result":{"content":[]}}'), {
    id: 7,
    idStart: 22,
    idEnd: 23,
    method: undefined,
    hasResult: true,
    hasError: false,
    jsonrpc: true,
    paramsValid: true,
  });
  const request = scan('{"jsonrpc":"2.0","id":"a-1","method":"tools/call","params":{}}')!;
  assert.equal(request.id, "a-1");
  assert.equal(request.method, "tools/call");
  const error = scan('{"jsonrpc":"2.0","id":3,"error":{"code":-1,"message":"x"}}')!;
  assert.equal(error.hasError, true);
  assert.equal(error.hasResult, false);
  const note = scan('{"jsonrpc":"2.0","method":"notifications/progress"}')!;
  assert.equal(note.id, undefined);
  assert.equal(note.idStart, -1);
});

Deno.test("scanMessage ignores id, method and result keys nested in params or result", () => {
  const s = scan(
    '{"jsonrpc":"2.0","result":{"id":99,"method":"inner","result":1,"a":[{"id":5}]},"id":1}',
  )!;
  assert.equal(s.id, 1);
  assert.equal(s.method, undefined);
  const t = scan('{"params":{"id":"nested","x":{"id":{"id":1}}},"method":"m","jsonrpc":"2.0"}')!;
  assert.equal(t.id, undefined);
  assert.equal(t.method, "m");
});

Deno.test("scanMessage reads escaped strings and keys as JSON.parse does", () => {
  assert.equal(scan('{"jsonrpc":"2.0","id":"a\\"b\\\\","result":{}}')!.id, 'a"b\\');
  assert.equal(scan('{"jsonrpc":"2.0","id":"\\u00e9\\ud83d\\ude00","result":{}}')!.id, "é😀");
  // "\u0069d" is the key "id"; "i\"d" is not.
  assert.equal(scan('{"jsonrpc":"2.0","\\u0069d":4,"result":{}}')!.id, 4);
  assert.equal(scan('{"jsonrpc":"2.0","i\\"d":4,"result":{}}')!.id, undefined);
  assert.equal(scan('{"jsonrpc":"\\u0032.0","id":1,"result":{}}')!.jsonrpc, true);
  assert.equal(scan('{"jsonrpc":"2.00","id":1,"result":{}}')!.jsonrpc, false);
  assert.equal(scan('{"jsonrpc":2.0,"id":1,"result":{}}')!.jsonrpc, false);
  // A string value holding what looks like a key.
  const s = scan('{"jsonrpc":"2.0","result":{"t":"\\",\\"id\\":5,"},"id":6}')!;
  assert.equal(s.id, 6);
});

Deno.test("scanMessage takes any JSON whitespace, and no other", () => {
  const s = scan(' \t\r\n{ "jsonrpc" :\n"2.0" ,\t"id"\r: 12 , "result" : [ ] } \n')!;
  assert.equal(s.id, 12);
  assert.equal(s.hasResult, true);
  assert.equal(scan('\u00a0{"id":1}'), undefined); // a no-break space is not JSON whitespace
  assert.equal(scan('\ufeff{"id":1}'), undefined); // nor is a BOM (JSON.parse refuses it too)
});

Deno.test("scanMessage reads ids as values: numbers of every form, strings, and null for other values", () => {
  assert.equal(scan('{"id":-0.5e+3}')!.id, -500);
  assert.equal(scan('{"id":1E2}')!.id, 100);
  assert.equal(scan('{"id":1e400}')!.id, null); // Infinity is not an id
  assert.equal(scan('{"id":null}')!.id, null);
  assert.equal(scan('{"id":true}')!.id, null);
  assert.equal(scan('{"id":{"id":1}}')!.id, null);
  assert.equal(scan('{"id":[1]}')!.id, null);
  assert.equal(scan('{"method":7}')!.method, null);
});

Deno.test("scanMessage refuses malformed JSON, non-objects and duplicated top-level keys", () => {
  const bad = [
    "",
    "   ",
    "[]",
    '[{"id":1}]',
    '"id"',
    "42",
    "null",
    "{",
    '{"id":1',
    '{"id":1,}',
    '{"id":1 "x":2}',
    '{"id":01}',
    '{"id":1.}',
    '{"id":.5}',
    '{"id":-}',
    '{"id":1e}',
    '{"id":+1}',
    '{"id":0x10}',
    '{"id":"a}',
    '{"id":"a\\x"}',
    '{"id":"\\u12g4"}',
    '{"id":"tab\there"}',
    '{"id":1}}',
    '{"id":1} x',
    '{"id":1}{"id":2}',
    "{id:1}",
    "{'id':1}",
    '{"a":[1,2,]}',
    '{"a":[1 2]}',
    '{"a":{"b" 1}}',
    '{"a":{"b":1,}}',
    '{"a":tru}',
    '{"a":nul}',
    '{"a":falsey}',
    '{"a":NaN}',
    '{"a":[}',
    '{"a":]}',
    '{"a":{]}',
    '{"id":1,"id":2}',
    '{"method":"a","method":"b"}',
    '{"result":1,"result":2}',
    '{"jsonrpc":"2.0","\\u006aNOPE":1,"jsonrpc":"2.0"}',
  ];
  for (const text of bad) {
    assert.equal(scan(text), undefined, `refused: ${JSON.stringify(text)}`);
  }
  // Duplicates of keys it does not read are JSON.parse's business, not a reason to refuse.
  assert.equal(scan('{"id":1,"x":1,"x":2,"result":null}')!.id, 1);
});

Deno.test("scanMessage checks nesting of any depth without recursion", () => {
  const depth = 100_000;
  const deep = `{"jsonrpc":"2.0","id":1,"result":${"[".repeat(depth)}${"]".repeat(depth)}}`;
  assert.equal(scan(deep)!.id, 1);
  const unbalanced = `{"jsonrpc":"2.0","id":1,"result":${"[".repeat(depth)}${
    "]".repeat(depth - 1)
  }}`;
  assert.equal(scan(unbalanced), undefined);
  const objects = `{"id":2,"result":${'{"a":'.repeat(depth)}1${"}".repeat(depth)}}`;
  assert.equal(scan(objects)!.id, 2);
});

Deno.test("spliceId replaces only the top-level id, wherever it sits, keeping every other byte", () => {
  assert.equal(
    spliced('{"jsonrpc":"2.0","id":7,"result":{"id":7}}', "c-1"),
    '{"jsonrpc":"2.0","id":"c-1","result":{"id":7}}',
  );
  assert.equal(
    spliced('{"result":{"id":7},"jsonrpc":"2.0","id":7}', 42),
    '{"result":{"id":7},"jsonrpc":"2.0","id":42}',
  );
  assert.equal(
    spliced('{ "result" : { "text" : "é \\"id\\": 7" } , "id" : 7 , "jsonrpc" : "2.0" }', 'q"1'),
    '{ "result" : { "text" : "é \\"id\\": 7" } , "id" : "q\\"1" , "jsonrpc" : "2.0" }',
  );
  assert.equal(spliced('{"\\u0069d":"x","result":1}', 3), '{"\\u0069d":3,"result":1}');
  assert.throws(() => spliceId(enc.encode("{}"), scan("{}")!, 1), /no id/);
});

Deno.test("LineSplitter.pushBytes gives each line's bytes across chunks, without \\r, as copies of their own", () => {
  const s = new LineSplitter();
  const chunk = enc.encode('{"a":1}\r\n{"b"');
  const first = s.pushBytes(chunk);
  chunk.fill(0); // the producer reuses its buffer
  assert.deepEqual(first.map((l) => dec.decode(l)), ['{"a":1}']);
  assert.deepEqual(s.pushBytes(enc.encode(':"é"}\n\nlast')).map((l) => dec.decode(l)), [
    '{"b":"é"}',
    "",
  ]);
  assert.deepEqual(s.flushBytes().map((l) => dec.decode(l)), ["last"]);
});

Deno.test("LineSplitter.pushBytes reports a line over the limit, within a chunk or across chunks, and goes on", () => {
  const over: number[] = [];
  const s = new LineSplitter({ maxLineBytes: 8, onOversized: (bytes) => over.push(bytes) });
  assert.deepEqual(s.pushBytes(enc.encode("short\n0123456789\nok\n")).map((l) => dec.decode(l)), [
    "short",
    "ok",
  ]);
  assert.deepEqual(s.pushBytes(enc.encode("01234")), []);
  assert.deepEqual(s.pushBytes(enc.encode("56789")), []);
  assert.deepEqual(s.pushBytes(enc.encode("ab\nnext\n")).map((l) => dec.decode(l)), ["next"]);
  assert.deepEqual(over, [10, 12]);
});

Deno.test("readByteLines reads a stream's lines as bytes; a line across reads as its chunks", async () => {
  const lines: string[] = [];
  const spanned: number[] = [];
  await readByteLines(
    new Blob(["a\n", "b", "c\nd"]).stream(),
    (l) => {
      if (l instanceof ChunkScanner) spanned.push(l.parts.length);
      lines.push(dec.decode(l instanceof ChunkScanner ? l.join() : l));
    },
  );
  assert.deepEqual(lines, ["a", "bc", "d"]);
  assert.deepEqual(spanned, [2]);
});

Deno.test("FrameWriter writes byte pieces and texts in order, joining small pieces and passing large ones as they are", async () => {
  const chunks: Uint8Array[] = [];
  const w = new FrameWriter(
    new WritableStream({
      write: (c) => void chunks.push(c),
    }),
  );
  const large = new Uint8Array(64 * 1024).fill(0x61);
  w.write("first");
  w.write([enc.encode('{"id":'), enc.encode("1"), enc.encode("}")]);
  w.write([enc.encode('{"t":"'), large, enc.encode('"}')]);
  w.write({ jsonrpc: "2.0", method: "m" });
  w.write([enc.encode('{"id":'), '"é😀"', enc.encode("}")]); // text pieces are UTF-8 too
  await w.flushed();
  const all = chunks.map((c) => dec.decode(c)).join("");
  assert.equal(
    all,
    `first\n{"id":1}\n{"t":"${
      "a".repeat(64 * 1024)
    }"}\n{"jsonrpc":"2.0","method":"m"}\n{"id":"é😀"}\n`,
  );
  assert.ok(chunks.includes(large), "the large piece is written without a copy");
});

// ── property test against JSON.parse ─────────────────────────────────────────

/** A small deterministic PRNG (mulberry32), so a failure can be replayed from its seed. */
function prng(seed: number) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TRICKY = [
  "id",
  "method",
  "result",
  "error",
  "jsonrpc",
  "2.0",
  '"id":1',
  "\\",
  '"',
  "\u0000",
  "\n",
  "é",
  "😀",
  "\u2028",
  "}",
  "{",
  "[",
  ",",
  ":",
  "",
];

function generate(rand: () => number) {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const ws = () => rand() < 0.7 ? "" : pick([" ", "\t", "\n", "\r\n", "  "]);
  const str = (): string => {
    let s = "";
    const n = Math.floor(rand() * 4);
    for (let i = 0; i < n; i++) s += pick(TRICKY);
    if (rand() < 0.8) return JSON.stringify(s);
    // Sometimes every code unit as a \u escape, as some encoders write them.
    let escaped = "";
    for (let i = 0; i < s.length; i++) {
      escaped += `\\u${s.charCodeAt(i).toString(16).padStart(4, "0")}`;
    }
    return `"${escaped}"`;
  };
  const num = () =>
    pick(["0", "-0", "7", "-12", "3.25", "1e3", "-2.5E-2", "123456789012345678901", "1e400"]);
  const value = (depth: number): string => {
    const r = rand();
    if (depth > 3 || r < 0.3) return pick([str(), num(), "true", "false", "null"]);
    if (r < 0.65) {
      const n = Math.floor(rand() * 4);
      const members = [];
      for (let i = 0; i < n; i++) {
        const key = rand() < 0.4 ? JSON.stringify(pick(["id", "method", "result"])) : str();
        members.push(`${ws()}${key}${ws()}:${ws()}${value(depth + 1)}${ws()}`);
      }
      return `{${members.join(",")}${n === 0 ? ws() : ""}}`;
    }
    const n = Math.floor(rand() * 4);
    const items = [];
    for (let i = 0; i < n; i++) items.push(`${ws()}${value(depth + 1)}${ws()}`);
    return `[${items.join(",")}${n === 0 ? ws() : ""}]`;
  };
  const members: string[] = [];
  const keys = ["jsonrpc", "id", "method", "result", "error", "params", "x"].filter(() =>
    rand() < 0.6
  );
  if (rand() < 0.1) keys.push(pick(["id", "method", "result", "error", "jsonrpc"])); // a duplicate
  for (const k of keys.sort(() => rand() - 0.5)) {
    const v = k === "jsonrpc"
      ? pick(['"2.0"', '"2.0"', '"\\u0032.0"', '"1.0"', "2"])
      : k === "id"
      ? pick([num(), str(), "null", "true", '{"id":1}'])
      : k === "method"
      ? pick([str(), '"tools/call"', "1"])
      : value(1);
    const key = rand() < 0.1 && k === "id" ? '"\\u0069d"' : JSON.stringify(k);
    members.push(`${ws()}${key}${ws()}:${ws()}${v}${ws()}`);
  }
  return `${ws()}{${members.join(",")}${members.length === 0 ? ws() : ""}}${ws()}`;
}

/** What JSON.parse says scanMessage must find; undefined when it must refuse. */
function expected(text: string): Omit<ScannedMessage, "idStart" | "idEnd"> | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined;
  const m = v as Record<string, unknown>;
  const id = !("id" in m)
    ? undefined
    : typeof m.id === "string" || (typeof m.id === "number" && Number.isFinite(m.id))
    ? m.id
    : null;
  return {
    id,
    method: !("method" in m) ? undefined : typeof m.method === "string" ? m.method : null,
    hasResult: "result" in m,
    hasError: "error" in m,
    jsonrpc: m.jsonrpc === "2.0",
    paramsValid: !("params" in m) || (typeof m.params === "object" && m.params !== null),
  };
}

/** Whether a top-level key scanMessage reads appears twice (then it may refuse). */
function duplicated(text: string): boolean {
  const counts = new Map<string, number>();
  // Count top-level keys with a tiny tokenizer over the valid text.
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      if (depth === 1 && expectKey) {
        const key = JSON.parse(text.slice(i, j + 1));
        counts.set(key, (counts.get(key) ?? 0) + 1);
        expectKey = false;
      }
      i = j;
    } else if (ch === "{" || ch === "[") {
      depth++;
      expectKey = depth === 1;
    } else if (ch === "}" || ch === "]") depth--;
    else if (ch === "," && depth === 1) expectKey = true;
  }
  return ["id", "method", "result", "error", "jsonrpc", "params"].some((k) =>
    (counts.get(k) ?? 0) > 1
  );
}

function check(input: string, label: string) {
  const bytes = enc.encode(input);
  // What the bytes say (a cut through a surrogate pair is U+FFFD in UTF-8).
  const text = dec.decode(bytes);
  const got = scanMessage(bytes);
  const want = expected(text);
  if (got === undefined) {
    assert.ok(want === undefined || duplicated(text), `${label}: refused valid ${text}`);
    return;
  }
  assert.ok(want !== undefined, `${label}: accepted what JSON.parse refuses: ${text}`);
  const { idStart, idEnd, ...fields } = got;
  assert.deepEqual(fields, want, `${label}: ${text}`);
  // classify agrees on the kind, and splicing the id gives the same message with the new id.
  const parsed = JSON.parse(text);
  const c = classify(parsed);
  if (got.id !== undefined) {
    const out = JSON.parse(
      joined(spliceId(bytes, { idStart, idEnd }, "new")),
    );
    assert.deepEqual(out, { ...parsed, id: "new" }, `${label}: splice of ${text}`);
  }
  if (c.type === "response") {
    assert.ok(got.jsonrpc && got.method === undefined && (got.hasResult || got.hasError));
  }
}

Deno.test("scanMessage agrees with JSON.parse on generated messages and on their corruptions", () => {
  const rand = prng(16);
  const cuts = ["", "}", "{", '"', "\\", ",", ":", "]", "x", "\u0001"];
  for (let n = 0; n < 4000; n++) {
    const text = generate(rand);
    check(text, `#${n}`);
    // Corrupt it: drop, insert or replace one character.
    const at = Math.floor(rand() * (text.length + 1));
    const bad = text.slice(0, at) + cuts[Math.floor(rand() * cuts.length)] +
      text.slice(at + (rand() < 0.5 ? 1 : 0));
    check(bad, `#${n} corrupted`);
    check(text.slice(0, at), `#${n} truncated`);
  }
});

Deno.test("scanMessage finds a quote, a backslash or a control byte anywhere in a long string, at any alignment", () => {
  const specials = [
    '"',
    "\\",
    "\\n",
    "\\u0041",
    "\u0001",
    "\u001f",
    "\t",
    " ",
    "é",
    "😀",
    "\u007f",
  ];
  for (let shift = 0; shift < 4; shift++) {
    for (const special of specials) {
      for (let at = 0; at < 80; at += 3) {
        const body = "a".repeat(at) + special + "b".repeat(90 - at);
        const text = `{"jsonrpc":"2.0","id":1,"result":"${body}"}`;
        // A view at a shifted offset of a larger buffer, as a line within a chunk is.
        const encoded = enc.encode(text);
        const buffer = new Uint8Array(encoded.length + shift);
        buffer.set(encoded, shift);
        const got = scanMessage(buffer.subarray(shift));
        let valid = true;
        try {
          JSON.parse(text);
        } catch {
          valid = false;
        }
        assert.equal(
          got !== undefined,
          valid,
          `${JSON.stringify(special)} at ${at}, shift ${shift}`,
        );
        if (got) assert.equal(got.id, 1);
      }
    }
  }
});

Deno.test("scanMessage and ChunkScanner stop a long string at exactly the bytes that end or interrupt it (below 0x20, '\"', '\\\\'), every byte value at every place of a 16-byte step", () => {
  // Raw bytes (not necessarily UTF-8: bytes inside strings are not checked), in a string long
  // enough to be skipped many bytes at a time, at every offset and alignment.
  const head = enc.encode('{"jsonrpc":"2.0","id":1,"result":"');
  const tail = enc.encode('"}');
  for (let value = 0; value < 256; value++) {
    const special = value < 0x20 || value === 0x22 || value === 0x5c;
    for (let shift = 0; shift < 4; shift++) {
      for (let at = 16; at < 56; at++) {
        const body = new Uint8Array(120).fill(0x61);
        body[at] = value;
        const bytes = new Uint8Array(shift + head.length + body.length + tail.length);
        bytes.set(head, shift);
        bytes.set(body, shift + head.length);
        bytes.set(tail, shift + head.length + body.length);
        const line = bytes.subarray(shift);
        const label = `byte 0x${value.toString(16)} at ${at}, shift ${shift}`;
        // A quote ends the string early (then "aaa…" is not JSON), a backslash starts an
        // escape ("\a" is none), a control byte is refused: all three refuse the message.
        assert.equal(scanMessage(line) === undefined, special, label);
        const chunks = new ChunkScanner();
        chunks.feed(line);
        assert.equal(chunks.end() === undefined, special, `ChunkScanner: ${label}`);
      }
    }
  }
});

// ── ChunkScanner: the same reading over a line that came in chunks ──────────

/** ChunkScanner over `bytes` cut at `cuts` (ascending offsets). */
function scanChunks(bytes: Uint8Array, cuts: number[]): ChunkScanner {
  const s = new ChunkScanner();
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    if (cut > from) s.feed(bytes.slice(from, cut));
    from = Math.max(from, cut);
  }
  return s;
}

/** ChunkScanner agrees with scanMessage, or leaves the decision to it (fallback) where it may. */
function agrees(bytes: Uint8Array, cuts: number[], label: string) {
  const whole = scanMessage(bytes);
  const chunks = scanChunks(bytes, cuts);
  const got = chunks.end();
  if (got === undefined) {
    // It may decline only what scanMessage refuses, or a message with escapes (a key may be one).
    assert.ok(
      whole === undefined || bytes.includes(0x5c),
      `${label}: declined what scanMessage reads: ${dec.decode(bytes)} cut at ${cuts}`,
    );
    assert.deepEqual(chunks.join(), bytes, `${label}: join`);
    return;
  }
  assert.deepEqual(got, whole, `${label}: ${dec.decode(bytes)} cut at ${cuts}`);
  if (got.id !== undefined) {
    // Compared as bytes: a piece may end inside a UTF-8 sequence.
    const asBytes = (pieces: readonly (Uint8Array | string)[]) =>
      new Uint8Array(
        pieces.flatMap((p) => [...(typeof p === "string" ? enc.encode(p) : p)]),
      );
    assert.deepEqual(
      asBytes(spliceId(chunks.parts, got, "new")),
      asBytes(spliceId(bytes, whole!, "new")),
      `${label}: splice over chunks`,
    );
  }
}

Deno.test("ChunkScanner reads a message cut anywhere (in a key, the id, an escape, a number, a literal) as scanMessage does", () => {
  const texts = [
    '{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"hi"}]}}',
    '{"result":{"id":99,"method":"inner","a":[{"id":5}],"s":"q\\"x"},"jsonrpc":"2.0","id":"a\\"b"}',
    '{ "id" : -12.5e+3 , "method":"m\\u00e9" ,"params":[true,false,null,{}, [] ,0,-0.0E-1]}',
    '{"jsonrpc":"2.0","id":123456789012345678901,"error":{"code":-32000,"message":"x"}}',
    '{"id":{"id":1},"jsonrpc":"2.1","result":null}',
    '{"id":null,"method":7,"result":[],"error":{}}',
    '{"jsonrpc":"2\\u002e0","id":"\\ud83d\\ude00","result":"é漢🙂"}',
    "{}",
    ' \t{"id":1}\r ',
    '{"\\u0069d":1,"result":1}',
    '{"id":1,"id":2}',
    '{"id":1,"x":1,"x":2}',
  ];
  for (const text of texts) {
    const bytes = enc.encode(text);
    agrees(bytes, [], `whole ${text}`);
    for (let at = 0; at <= bytes.length; at++) agrees(bytes, [at], `one cut ${text}`);
    agrees(bytes, [...bytes.keys()], `a byte per chunk ${text}`);
  }
});

Deno.test("ChunkScanner declines malformed JSON cut anywhere, so scanMessage (and the parser) decide as before", () => {
  const bad = [
    "",
    "[]",
    '{"id":1',
    '{"id":1,}',
    '{"id":01}',
    '{"id":1.}',
    '{"id":-}',
    '{"id":1e}',
    '{"id":1e+}',
    '{"id":"a\\x"}',
    '{"id":"\\u12g4"}',
    '{"id":"tab\there"}',
    '{"id":1}}',
    '{"id":1} x',
    '{"a":[1,2,]}',
    '{"a":{"b" 1}}',
    '{"a":tru}',
    '{"a":nulL}',
    '{"a":]}',
    '{"a":{]}',
    '\ufeff{"id":1}',
  ];
  for (const text of bad) {
    const bytes = enc.encode(text);
    assert.equal(scanMessage(bytes), undefined, text);
    for (let at = 0; at <= bytes.length; at++) {
      assert.equal(scanChunks(bytes, [at]).end(), undefined, `${text} cut at ${at}`);
    }
  }
});

Deno.test("ChunkScanner agrees with scanMessage on generated messages and their corruptions, cut at random", () => {
  const rand = prng(61);
  const cutsOf = (length: number) => {
    const cuts: number[] = [];
    for (let k = 0; k < 1 + Math.floor(rand() * 6); k++) cuts.push(Math.floor(rand() * length));
    return cuts.sort((a, b) => a - b);
  };
  for (let n = 0; n < 3000; n++) {
    const text = generate(rand);
    const at = Math.floor(rand() * (text.length + 1));
    const bad = text.slice(0, at) + ["}", '"', "\\", ",", "x"][n % 5] + text.slice(at + 1);
    for (const input of [text, bad, text.slice(0, at)]) {
      const bytes = enc.encode(input);
      agrees(bytes, cutsOf(bytes.length), `#${n}`);
    }
  }
});

Deno.test("ChunkScanner reads a 4 MB string in 64 KiB chunks, and the id after it", () => {
  const big = "é漢🙂a".repeat(400_000);
  const text = `{"result":{"content":[{"type":"text","text":"${big}"}]},"jsonrpc":"2.0","id":42}`;
  const bytes = enc.encode(text);
  const cuts: number[] = [];
  for (let at = 65536; at < bytes.length; at += 65536) cuts.push(at);
  const s = scanChunks(bytes, cuts);
  assert.deepEqual(s.end(), scanMessage(bytes));
  assert.equal(s.end()!.id, 42);
  assert.equal(s.parts.length, cuts.length + 1);
  // A quote or a control byte right at a chunk's edge is still seen.
  for (const edge of ['"', "\u0001"]) {
    const broken = enc.encode(text.replace("a", edge));
    assert.equal(scanChunks(broken, cuts).end(), undefined);
  }
});

Deno.test("LineSplitter.pushLines gives a line that spanned chunks as its scanned chunks, unjoined, without \\r", () => {
  const s = new LineSplitter();
  assert.deepEqual(s.pushLines(enc.encode('{"id":1}\n{"jsonrpc":"2.0","re')), [
    enc.encode('{"id":1}'),
  ]);
  assert.deepEqual(s.pushLines(enc.encode('sult":"x",')), []);
  const lines = s.pushLines(enc.encode('"id":"a"}\r\nnext\n'));
  assert.equal(lines.length, 2);
  const spanned = lines[0] as ChunkScanner;
  assert.ok(spanned instanceof ChunkScanner);
  assert.equal(spanned.parts.length, 3);
  assert.equal(spanned.end()!.id, "a");
  assert.equal(dec.decode(spanned.join()), '{"jsonrpc":"2.0","result":"x","id":"a"}');
  assert.deepEqual(lines[1], enc.encode("next"));
  // A \r at the end of the held chunk, then the newline alone.
  s.pushLines(enc.encode("{}"));
  s.pushLines(enc.encode("\r"));
  const [last] = s.pushLines(enc.encode("\n"));
  assert.equal(dec.decode((last as ChunkScanner).join()), "{}");
  // Over the limit across chunks: reported, as pushBytes does.
  const over: number[] = [];
  const limited = new LineSplitter({ maxLineBytes: 8, onOversized: (n) => void over.push(n) });
  limited.pushLines(enc.encode("01234"));
  assert.deepEqual(limited.pushLines(enc.encode("5678\nok\n")), [enc.encode("ok")]);
  assert.deepEqual(over, [9]);
});

Deno.test("LineSplitter finds the last newline of a long chunk at any position, with or without a held line", () => {
  for (let shift = 0; shift < 4; shift++) {
    for (let at = 0; at < 160; at++) {
      const text = "a".repeat(at) + "\n" + "b".repeat(159 - at);
      const encoded = enc.encode(text);
      const buffer = new Uint8Array(encoded.length + shift);
      buffer.set(encoded, shift);
      const chunk = buffer.subarray(shift);
      const fresh = new LineSplitter();
      assert.deepEqual(fresh.pushBytes(chunk).map((l) => dec.decode(l)), ["a".repeat(at)]);
      assert.equal(fresh.buffered, 159 - at);
      // The same chunk ending a held line (the pushLines path).
      const held = new LineSplitter();
      held.pushLines(enc.encode('{"x":"'));
      const [line] = held.pushLines(chunk);
      assert.equal(dec.decode((line as ChunkScanner).join()), '{"x":"' + "a".repeat(at));
      assert.equal(held.buffered, 159 - at);
    }
    const none = new Uint8Array(200 + shift).fill(0x61).subarray(shift);
    const s = new LineSplitter();
    s.pushLines(enc.encode("x"));
    assert.deepEqual(s.pushLines(none), []);
    assert.equal(s.buffered, 201);
  }
});

Deno.test("FrameWriter gathers a message of many large pieces: one writev where the stream has it, else one copy", async () => {
  const { DIRECT_WRITEV } = await import("../src/runtime/mod.ts");
  const parts = Array.from({ length: 6 }, (_, k) => new Uint8Array(20_000).fill(0x61 + k));
  const want = parts.map((p) => dec.decode(p)).join("") + "\n";
  // A stream without the hook: one write of the joined bytes.
  const plain: Uint8Array[] = [];
  const w = new FrameWriter(new WritableStream({ write: (c) => void plain.push(c) }));
  w.write(parts);
  await w.flushed();
  assert.equal(plain.length, 1);
  assert.equal(dec.decode(plain[0]), want);
  // With the gathered-write hook: the pieces as they are, in one call.
  const gathered: (readonly Uint8Array[])[] = [];
  const stream = new WritableStream<Uint8Array>({ write: () => {} });
  Object.assign(stream, {
    [DIRECT_WRITEV]: (chunks: readonly Uint8Array[]) => {
      gathered.push(chunks);
      return Promise.resolve();
    },
  });
  const v = new FrameWriter(stream);
  v.write(parts);
  await v.flushed();
  assert.equal(gathered.length, 1);
  assert.ok(parts.every((p) => gathered[0].includes(p)), "no copy");
  assert.equal(gathered[0].map((c) => dec.decode(c)).join(""), want);
});

Deno.test("LineSplitter.pushOneAsBytes: a chunk that ends one line gives its bytes, one that ends several gives text", () => {
  const s = new LineSplitter();
  assert.deepEqual(s.pushOneAsBytes(enc.encode('{"a":1}\r\n')), [enc.encode('{"a":1}')]);
  assert.deepEqual(s.pushOneAsBytes(enc.encode('{"b":"é"}\n{"c":2}\n{"d"')), [
    '{"b":"é"}',
    '{"c":2}',
  ]);
  assert.deepEqual(s.pushOneAsBytes(enc.encode(":3}\n")), [enc.encode('{"d":3}')]);
  assert.deepEqual(s.pushOneAsBytes(enc.encode("tail")), []);
  assert.deepEqual(s.flush(), ["tail"]);
});

Deno.test("ChunkScanner.feedLine stops at the first newline wherever it falls, keeping the bytes before it without \\r", () => {
  const cases: [string, string][] = [
    // [chunks joined by "|", what the line is]
    ['{"id":1}\n{"id":2}', '{"id":1}'], // after the object
    ['{"id":1,|"a":[1, 2\n]}', '{"id":1,"a":[1, 2'], // between values
    ['{"id":|1\n', '{"id":1'], // ends a number
    ['{"s":"ab|c\nd"}', '{"s":"abc'], // inside a string: malformed, but the line ends there
    ['{"s":"a\\|\nb', '{"s":"a\\'], // after a backslash
    ['{"s":"\\u0|0\n', '{"s":"\\u00'], // inside \\uXXXX
    ['{"a":tr|\nue}', '{"a":tr'], // inside a literal
    ['{"a":x|yz\n{}', '{"a":xyz'], // after a byte that failed, in a later chunk
    ['{"a":x yz\n{}', '{"a":x yz'], // after a byte that failed, in the same chunk
    ['{"id":1}\r|\n', '{"id":1}'], // \r at the end of the chunk before
    ['{"id":1}|\r\n', '{"id":1}'], // \r just before it
    ['{"s":"\r|\n', '{"s":"'], // \r inside a string
  ];
  for (const [text, want] of cases) {
    const chunks = text.split("|").map((c) => enc.encode(c));
    const s = new ChunkScanner();
    let nl = -1;
    let k = 0;
    for (; k < chunks.length && nl === -1; k++) nl = s.feedLine(chunks[k]);
    assert.equal(nl, dec.decode(chunks[k - 1]).indexOf("\n"), text);
    assert.equal(dec.decode(s.join()), want, text);
    assert.equal(s.length, enc.encode(want).length, text);
    // What it says of the line is what scanMessage says of its bytes (or it leaves it to it).
    const scanned = s.end();
    if (scanned !== undefined) assert.deepEqual(scanned, scanMessage(enc.encode(want)), text);
    else assert.equal(scanMessage(enc.encode(want)), undefined, text);
  }
  // No newline: all of the chunk is read and kept.
  const s = new ChunkScanner();
  assert.equal(s.feedLine(enc.encode('{"s":"abc')), -1);
  assert.equal(s.feedLine(enc.encode('def"}')), -1);
  assert.equal(s.end()?.id, undefined);
  assert.equal(dec.decode(s.join()), '{"s":"abcdef"}');
});

Deno.test("LineSplitter.pushLines finds a held line's end in the pass that scans it (no other search of its chunks)", () => {
  /** The lengths of the arrays searched for a newline. */
  let searches: number[] = [];
  class Counted extends Uint8Array {
    override indexOf(value: number, from?: number): number {
      searches.push(this.length);
      return super.indexOf(value, from);
    }
    override lastIndexOf(value: number, from?: number): number {
      searches.push(this.length);
      return from === undefined ? super.lastIndexOf(value) : super.lastIndexOf(value, from);
    }
  }
  const counted = (text: string) => {
    const bytes = enc.encode(text);
    const out = new Counted(bytes.length);
    out.set(bytes);
    return out;
  };
  const s = new LineSplitter();
  assert.deepEqual(s.pushLines(enc.encode('{"jsonrpc":"2.0","result":{"text":"')), []);
  searches = [];
  for (let k = 0; k < 10; k++) assert.deepEqual(s.pushLines(counted("x".repeat(1000))), []);
  const [line, next] = s.pushLines(counted('"},"id":5}\n{"id":6}\n'));
  // Only what follows the held line's end is searched (for the lines after it).
  assert.deepEqual(
    searches.filter((length) => length > '{"id":6}\n'.length),
    [],
    "the chunks of the held line were searched apart from the scan",
  );
  assert.ok(line instanceof ChunkScanner);
  assert.equal(line.end()!.id, 5);
  assert.equal(line.parts.length, 12);
  assert.equal(dec.decode(next as Uint8Array), '{"id":6}');
});

Deno.test("LineSplitter.pushLines drops the \\r of a \\r\\n cut between chunks, with an empty chunk between them too", () => {
  for (const cuts of [[5], [5, 5], [5, 5, 5], [2, 5, 5]]) {
    const bytes = enc.encode('{"a"\r\n{"b":1}\n');
    const splitter = new LineSplitter();
    // The line is held (no newline yet), then goes on in the chunks that follow.
    const lines: string[] = [];
    let from = 0;
    for (const cut of [...cuts, bytes.length]) {
      for (const l of splitter.pushLines(bytes.slice(from, cut))) {
        lines.push(dec.decode(l instanceof ChunkScanner ? l.join() : l));
      }
      from = cut;
    }
    assert.deepEqual(lines, ['{"a"', '{"b":1}'], `cut at ${cuts}`);
  }
  // The same when the held line spans several chunks before the \r.
  const splitter = new LineSplitter();
  const lines: string[] = [];
  for (const chunk of ['{"s":', '"x"}\r', "", '\n{"id":2}\n']) {
    for (const l of splitter.pushLines(enc.encode(chunk))) {
      lines.push(dec.decode(l instanceof ChunkScanner ? l.join() : l));
    }
  }
  assert.deepEqual(lines, ['{"s":"x"}', '{"id":2}']);
});

Deno.test("LineSplitter.pushLines splits any stream as pushBytes does, cut at random (\\r, bad JSON, a newline in a string)", () => {
  const rand = prng(17);
  for (let n = 0; n < 400; n++) {
    const lines: string[] = [];
    for (let k = 0; k < 1 + Math.floor(rand() * 4); k++) {
      const text = generate(rand);
      const r = rand();
      lines.push(
        r < 0.15 ? text + "\r" : r < 0.3
          ? text.slice(0, Math.floor(rand() * text.length)) // cut short: malformed
          : r < 0.4
          ? '{"s":"a\nb"}' // a newline inside a string ends the line there
          : text,
      );
    }
    const bytes = enc.encode(lines.join("\n") + (rand() < 0.5 ? "\n" : ""));
    const cuts: number[] = [];
    for (let k = 0; k < 1 + Math.floor(rand() * 8); k++) {
      cuts.push(Math.floor(rand() * bytes.length));
    }
    cuts.sort((a, b) => a - b);
    const want = new LineSplitter();
    const got = new LineSplitter();
    const a: string[] = [];
    const b: string[] = [];
    let from = 0;
    for (const cut of [...cuts, bytes.length]) {
      const chunk = bytes.slice(from, cut);
      from = Math.max(from, cut);
      a.push(...want.pushBytes(chunk).map((l) => dec.decode(l)));
      for (const l of got.pushLines(chunk.slice())) {
        if (l instanceof ChunkScanner) {
          const joinedBytes = l.join();
          const scanned = l.end();
          if (scanned !== undefined) assert.deepEqual(scanned, scanMessage(joinedBytes));
          b.push(dec.decode(joinedBytes));
        } else b.push(dec.decode(l));
      }
    }
    a.push(...want.flushBytes().map((l) => dec.decode(l)));
    b.push(...got.flushBytes().map((l) => dec.decode(l)));
    assert.deepEqual(b, a, `#${n}: ${JSON.stringify(dec.decode(bytes))} cut at ${cuts}`);
  }
});

Deno.test("ChunkScanner reads escapes anywhere in long strings, at any alignment and chunk cut, as scanMessage does", () => {
  const rand = prng(29);
  const escapes = ['\\"', "\\\\", "\\/", "\\n", "\\t", "\\u00e9", "\\ud83d\\ude00"];
  const bad = ["\\x", "\\u12g4", "\u0001", "\n", '"'];
  for (let n = 0; n < 1500; n++) {
    let text = "";
    const length = 20 + Math.floor(rand() * 300);
    while (text.length < length) {
      const r = rand();
      text += r < 0.3
        ? escapes[Math.floor(rand() * escapes.length)]
        : r < 0.5
        ? "é漢🙂"
        : "abcdefgh";
    }
    if (n % 4 === 0) {
      const at = Math.floor(rand() * text.length);
      text = text.slice(0, at) + bad[Math.floor(rand() * bad.length)] + text.slice(at);
    }
    const pad = " ".repeat(n % 4); // moves the string against word boundaries
    const bytes = enc.encode(`{${pad}"result":{"text":"${text}"},"id":${n},"jsonrpc":"2.0"}`);
    const cuts: number[] = [];
    for (let k = 0; k < Math.floor(rand() * 5); k++) cuts.push(Math.floor(rand() * bytes.length));
    agrees(bytes, cuts.sort((a, b) => a - b), `#${n}`);
  }
});
