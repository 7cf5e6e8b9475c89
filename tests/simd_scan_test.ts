/**
 * `simdSkipper` (src/simd_scan.ts): the WebAssembly SIMD search for the bytes that end or
 * interrupt a JSON string, against its contract byte by byte, across its 64 KiB windows, and
 * through `scanMessage` / `ChunkScanner`, which use it for long strings.
 */
import assert from "node:assert/strict";
import { simdSkipper } from "../src/simd_scan.ts";
import { ChunkScanner, scanMessage } from "../src/jsonrpc.ts";

const isSpecial = (c: number) => c < 0x20 || c === 0x22 || c === 0x5c;

/** The skipper's contract: no special byte skipped, and it stops at one or near the end. */
function checkSkip(b: Uint8Array, start: number, label: string): number {
  const skipper = simdSkipper()!;
  skipper.forget();
  const j = skipper.skip(b, start);
  assert.ok(j >= start && j <= b.length, `${label}: ${j} within [${start}, ${b.length}]`);
  for (let k = start; k < j; k++) assert.ok(!isSpecial(b[k]), `${label}: skipped byte ${k}`);
  assert.ok(j > b.length - 16 || isSpecial(b[j]), `${label}: stopped at ${j} for nothing`);
  return j;
}

Deno.test("on Deno, the SIMD skipper is there (WebAssembly SIMD)", () => {
  assert.ok(simdSkipper() !== undefined);
});

Deno.test("the SIMD skipper stops at exactly the first '\"', '\\\\' or byte below 0x20, every byte value at every place of its steps", () => {
  for (let value = 0; value < 256; value++) {
    for (let at = 0; at < 160; at++) {
      for (const start of [0, 1, 7, 16, 33]) {
        const b = new Uint8Array(170).fill(0x61);
        b[at] = value;
        const j = checkSkip(b, start, `0x${value.toString(16)} at ${at} from ${start}`);
        if (isSpecial(value) && at >= start && at <= b.length - 16) assert.equal(j, at);
      }
    }
  }
});

Deno.test("the SIMD skipper goes on across its 64 KiB windows, and reads the bytes again after forget()", () => {
  const WINDOW = 64 * 1024;
  for (const at of [WINDOW - 17, WINDOW - 16, WINDOW - 1, WINDOW, WINDOW + 5, 3 * WINDOW + 9]) {
    const b = new Uint8Array(4 * WINDOW + 100).fill(0xe9);
    b[at] = 0x5c;
    assert.equal(checkSkip(b, 3, `at ${at}`), at);
  }
  const none = new Uint8Array(3 * WINDOW + 20).fill(0x61);
  assert.ok(checkSkip(none, 0, "none") > none.length - 16);
  // The same object with other bytes: after forget() the skipper does not answer from its copy.
  const skipper = simdSkipper()!;
  const b = new Uint8Array(1000).fill(0x61);
  skipper.forget();
  assert.ok(skipper.skip(b, 0) > b.length - 16);
  b[500] = 0x22;
  skipper.forget();
  assert.equal(skipper.skip(b, 0), 500);
});

Deno.test("scanMessage and ChunkScanner read a long string's special bytes around the skipper's window borders", () => {
  const head = new TextEncoder().encode('{"jsonrpc":"2.0","id":9,"result":"');
  const tail = new TextEncoder().encode('"}');
  for (const at of [65_536 - 40, 65_536 - 3, 65_536 + 11, 140_000]) {
    for (const value of [0x22, 0x5c, 0x0a, 0x1f, 0x21, 0x5d, 0xe9]) {
      const body = new Uint8Array(200_000).fill(0x61); // "\\a" is no escape
      body[at] = value;
      const bytes = new Uint8Array(head.length + body.length + tail.length);
      bytes.set(head);
      bytes.set(body, head.length);
      bytes.set(tail, head.length + body.length);
      const label = `0x${value.toString(16)} at ${at}`;
      assert.equal(scanMessage(bytes) === undefined, isSpecial(value), label);
      const chunks = new ChunkScanner();
      for (let o = 0; o < bytes.length; o += 50_000) chunks.feed(bytes.subarray(o, o + 50_000));
      assert.equal(chunks.end() === undefined, isSpecial(value), `ChunkScanner: ${label}`);
      if (!isSpecial(value)) assert.equal(chunks.end()!.id, 9);
    }
  }
});

Deno.test("the scan compiles the SIMD module only once it met a long string (16 KiB of plain bytes), not for ordinary messages", async () => {
  // In a process of its own: the module is made once per process.
  const jsonrpc = new URL("../src/jsonrpc.ts", import.meta.url).href;
  const script = `
let made = 0;
const Module = WebAssembly.Module;
WebAssembly.Module = class extends Module { constructor(b) { super(b); made++; } };
const { scanMessage, ChunkScanner } = await import(${JSON.stringify(jsonrpc)});
const enc = new TextEncoder();
const message = (text) => enc.encode(JSON.stringify({ jsonrpc: "2.0", id: 1, result: { text } }));
for (const n of [20, 100, 1000, 10000, 16000]) {
  scanMessage(message("x".repeat(n)));
  const s = new ChunkScanner();
  s.feed(message("y".repeat(n)));
}
const before = made;
scanMessage(message("z".repeat(100000)));
console.log(before + " " + made);
`;
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-config", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  assert.equal(new TextDecoder().decode(stdout).trim(), "0 1");
});
