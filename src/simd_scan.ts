/**
 * Finds, 16 bytes at a time with WebAssembly SIMD, the first byte of a long
 * JSON string that ends or interrupts it (`"`, `\\`, or below 0x20): the hot
 * loop of scanning a large message (`src/jsonrpc.ts`), where most bytes are
 * inside one string. The bytes are copied into the module's memory a window
 * at a time (64 KiB, cache-warm: the chunk was just read) and searched there.
 *
 * The module is a few hundred bytes, assembled below from named opcodes, and
 * compiled when `src/jsonrpc.ts` first asks for it (once it met a long
 * string: the engine costs some RSS once made). Where WebAssembly or its SIMD
 * is missing, {@linkcode simdSkipper} returns `undefined` and the caller keeps
 * its word-at-a-time loop.
 *
 * @module
 */

/** Bytes copied into the module's memory and searched at a time. */
const WINDOW = 64 * 1024;

// ── the module, assembled ───────────────────────────────────────────────────
// (func $scan (param $p i32) (param $end i32) (result i32)
//   64 bytes a step while p + 64 <= end: stop at a step holding a special byte;
//   then 16 bytes a step while p + 16 <= end: return p + the special's place;
//   return p (fewer than 16 bytes are left, none of those before p special))
// special(v) = ((v xor 0x02) <u 0x21) | (v == 0x5c): bit 1 flipped, '"' (0x22) is 0x20, and
// the bytes below 0x20 stay below it; 0x20 and 0x21 become 0x22 and 0x23.

const I32 = 0x7f;
const V128 = 0x7b;
const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    const b = n & 0x7f;
    n >>>= 7;
    out.push(n === 0 ? b : b | 0x80);
  } while (n !== 0);
  return out;
};
const get = (i: number) => [0x20, i];
const set = (i: number) => [0x21, i];
const tee = (i: number) => [0x22, i];
/** `i32.const` of 0 ≤ v < 8192 (signed LEB128: a 7th bit set takes a second byte). */
const i32Const = (v: number) => v < 64 ? [0x41, v] : [0x41, (v & 0x7f) | 0x80, v >> 7];
const i32Add = [0x6a];
const i32GtU = [0x4b];
const i32Ctz = [0x68];
const simd = (op: number) => [0xfd, ...uleb(op)];
const v128Load = (offset: number) => [...simd(0x00), 0x00, ...uleb(offset)];
const v128Splat = (byte: number) => [...simd(0x0c), ...new Array(16).fill(byte)];
const i8x16Eq = simd(0x23);
const i8x16LtU = simd(0x26);
const v128Or = simd(0x50);
const v128Xor = simd(0x51);
const v128AnyTrue = simd(0x53);
const i8x16Bitmask = simd(0x64);
const BLOCK = [0x02, 0x40];
const LOOP = [0x03, 0x40];
const IF = [0x04, 0x40];
const END = [0x0b];
const brIf = (depth: number) => [0x0d, depth];
const br = (depth: number) => [0x0c, depth];
const RETURN = [0x0f];

/** Locals: the two parameters, then the three constant vectors and the vector at hand. */
const P = 0, LIMIT = 1, FLIP = 2, BELOW = 3, BACKSLASHES = 4, V = 5;

/** special(v) of the 16 bytes at p + offset, onto the stack. */
const special = (offset: number) => [
  ...get(P),
  ...v128Load(offset),
  ...tee(V),
  ...get(FLIP),
  ...v128Xor,
  ...get(BELOW),
  ...i8x16LtU,
  ...get(V),
  ...get(BACKSLASHES),
  ...i8x16Eq,
  ...v128Or,
];
/** Leaves the enclosing block when p + step passes the limit. */
const outOfBytes = (
  step: number,
) => [...get(P), ...i32Const(step), ...i32Add, ...get(LIMIT), ...i32GtU, ...brIf(1)];
const advance = (step: number) => [...get(P), ...i32Const(step), ...i32Add, ...set(P), ...br(0)];

const body = [
  ...[1, 4, V128], // four v128 locals
  ...v128Splat(0x02),
  ...set(FLIP),
  ...v128Splat(0x21),
  ...set(BELOW),
  ...v128Splat(0x5c),
  ...set(BACKSLASHES),
  ...BLOCK,
  ...LOOP,
  ...outOfBytes(64),
  ...special(0),
  ...special(16),
  ...v128Or,
  ...special(32),
  ...v128Or,
  ...special(48),
  ...v128Or,
  ...v128AnyTrue,
  ...brIf(1),
  ...advance(64),
  ...END,
  ...END,
  ...BLOCK,
  ...LOOP,
  ...outOfBytes(16),
  ...special(0),
  ...tee(V),
  ...v128AnyTrue,
  ...IF,
  ...get(P),
  ...get(V),
  ...i8x16Bitmask,
  ...i32Ctz,
  ...i32Add,
  ...RETURN,
  ...END,
  ...advance(16),
  ...END,
  ...END,
  ...get(P),
  ...END,
];
const section = (id: number, content: number[]) => [id, ...uleb(content.length), ...content];
const name = (text: string) => [text.length, ...[...text].map((ch) => ch.charCodeAt(0))];

/** The module: one function `scan`, one memory `mem` of two 64 KiB pages. */
const MODULE = new Uint8Array([
  ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // "\0asm", version 1
  ...section(1, [1, 0x60, 2, I32, I32, 1, I32]), // type 0: (i32, i32) -> i32
  ...section(3, [1, 0]), // function 0 has type 0
  ...section(5, [1, 0x00, 2]), // memory: 2 pages, no maximum
  ...section(7, [2, ...name("scan"), 0x00, 0, ...name("mem"), 0x02, 0]), // exports
  ...section(10, [1, ...uleb(body.length), ...body]), // code
]);

// ── the skipper ─────────────────────────────────────────────────────────────

/**
 * A function that, given bytes `b` and an index `i` inside a JSON string,
 * returns an index `j >= i` such that no byte of `b[i, j)` is `"`, `\\` or
 * below 0x20, and either `b[j]` is one, or fewer than 16 bytes are left
 * (`j > b.length - 16`), where the caller reads on byte by byte. `forget()`
 * drops the window it keeps between calls: call it before `b`'s object may
 * hold other bytes (at the start of each scan). `undefined` where this
 * runtime has no WebAssembly SIMD.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { simdSkipper } from "./simd_scan.ts";
 * const skipper = simdSkipper();
 * if (skipper) {
 *   const b = new TextEncoder().encode("a".repeat(40) + '"' + "b".repeat(40));
 *   assert.equal(skipper.skip(b, 3), 40);
 * }
 * ```
 */
export function simdSkipper(): Skipper | undefined {
  if (cached !== undefined) return cached ?? undefined;
  cached = null;
  try {
    if (typeof WebAssembly !== "object" || !WebAssembly.validate(MODULE)) return undefined;
    const instance = new WebAssembly.Instance(new WebAssembly.Module(MODULE));
    const scan = instance.exports.scan as (p: number, end: number) => number;
    const memory = new Uint8Array((instance.exports.mem as WebAssembly.Memory).buffer, 0, WINDOW);
    /** The bytes now in `memory`: `source[from, to)`. */
    let source: Uint8Array | undefined;
    let from = 0;
    let to = 0;
    const skip = (b: Uint8Array, i: number): number => {
      const n = b.length;
      for (;;) {
        if (n - i < 16) return i;
        if (b !== source || i < from || i + 16 > to) {
          source = b;
          from = i;
          to = n - i > WINDOW ? i + WINDOW : n;
          memory.set(b.subarray(from, to));
        }
        const j = from + scan(i - from, to - from);
        const c = b[j];
        // Found (a special byte: none before it is), or fewer than 16 left of the window.
        if (to === n || c === 0x22 || c === 0x5c || c < 0x20) return j;
        i = j; // the next window starts there
      }
    };
    cached = { skip, forget: () => void (source = undefined) };
  } catch {
    cached = null;
  }
  return cached ?? undefined;
}

/** What {@linkcode simdSkipper} returns. */
export interface Skipper {
  /** See {@linkcode simdSkipper}. */
  skip(b: Uint8Array, i: number): number;
  /** Drops the kept window (the next call copies afresh). */
  forget(): void;
}

/** The skipper once made (`null`: none on this runtime). */
let cached: Skipper | null | undefined;
