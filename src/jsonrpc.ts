/**
 * Newline-delimited JSON-RPC 2.0: framing, message classification and error
 * builders.
 *
 * Framing works on bytes: a line is only decoded once its newline has
 * arrived, so multibyte characters split across reads and multi-megabyte
 * messages come out intact, and chunks are joined once per line (no quadratic
 * copying).
 *
 * @module
 */
import {
  DIRECT_READ,
  DIRECT_WRITE,
  type DirectReadable,
  type DirectWritable,
} from "./runtime/mod.ts";

/** A JSON-RPC id. mcpmon returns ids exactly as received (string or number). */
export type JsonRpcId = string | number;

/** The error object of a JSON-RPC error response. */
export interface JsonRpcErrorObject {
  /** Error code. */
  code: number;
  /** One-line description. */
  message: string;
  /** Extra detail. */
  data?: unknown;
}

/** Any JSON-RPC message as an object (fields not validated beyond classification). */
export interface JsonRpcMessage {
  /** Always `"2.0"`. */
  jsonrpc: "2.0";
  /** Present on requests and responses. */
  id?: JsonRpcId | null;
  /** Present on requests and notifications. */
  method?: string;
  /** Request or notification parameters. */
  params?: Record<string, unknown> | unknown[];
  /** Success result of a response. */
  result?: unknown;
  /** Error of a response. */
  error?: JsonRpcErrorObject;
}

/** A classified message, or why it is not one. */
export type Classified =
  | { type: "request"; id: JsonRpcId; method: string; message: JsonRpcMessage }
  | { type: "notification"; method: string; message: JsonRpcMessage }
  | { type: "response"; id: JsonRpcId; message: JsonRpcMessage }
  | { type: "invalid"; id: JsonRpcId | null; reason: string };

/** Standard and mcpmon-specific error codes. */
export const ErrorCode = {
  /** Invalid JSON. */
  ParseError: -32700,
  /** Valid JSON that is not a JSON-RPC message. */
  InvalidRequest: -32600,
  /** Method not found. */
  MethodNotFound: -32601,
  /** Invalid params. */
  InvalidParams: -32602,
  /** Internal error. */
  InternalError: -32603,
  /** The server is gone: it exited, crashed or was restarted before answering. */
  ServerUnavailable: -32000,
  /** The server did not answer in time (e.g. `initialize`). */
  RequestTimeout: -32001,
  /** MCP: the server does not support the protocol version the request names. */
  UnsupportedProtocolVersion: -32022,
} as const;

/** How many of an oversized line's first bytes {@linkcode LineSplitter} keeps for its report. */
export const OVERSIZED_HEAD_BYTES = 1024;

const NEWLINE = 0x0a;
const CR = 0x0d;

/**
 * Splits a byte stream into lines at `\n` (a trailing `\r` is removed).
 *
 * @example
 * ```ts
 * import { LineSplitter } from "./jsonrpc.ts";
 * const s = new LineSplitter();
 * const enc = new TextEncoder();
 * s.push(enc.encode('{"a":1}\n{"b"')); // ['{"a":1}']
 * s.push(enc.encode(":2}\n")); // ['{"b":2}']
 * ```
 */
export class LineSplitter {
  #parts: Uint8Array[] = [];
  #partsLength = 0;
  #decoder = new TextDecoder();
  readonly #max: number;
  readonly #onOversized: (bytes: number, head: string) => void;
  /** While discarding an oversized line: its bytes so far and its first bytes. */
  #skipping: { bytes: number; head: string } | undefined;

  /**
   * With `maxLineBytes`, a line longer than that is never assembled: its
   * bytes are dropped up to the next newline, then `onOversized` gets its
   * length and its first {@linkcode OVERSIZED_HEAD_BYTES} bytes as text (to
   * find its id), and splitting goes on with the next line.
   */
  constructor(
    options: {
      maxLineBytes?: number;
      onOversized?: (bytes: number, head: string) => void;
    } = {},
  ) {
    this.#max = options.maxLineBytes ?? Infinity;
    this.#onOversized = options.onOversized ?? (() => {});
  }

  /** Adds a chunk and returns the complete lines it finished (possibly none). */
  push(chunk: Uint8Array): string[] {
    if (this.#skipping) {
      const end = chunk.indexOf(NEWLINE);
      if (end === -1) {
        this.#skipping.bytes += chunk.length;
        return [];
      }
      const { bytes, head } = this.#skipping;
      this.#skipping = undefined;
      this.#onOversized(bytes + end, head);
      return this.push(chunk.subarray(end + 1));
    }
    const last = chunk.lastIndexOf(NEWLINE);
    if (last === -1) {
      if (this.#partsLength + chunk.length > this.#max) {
        const start = this.#parts.length > 0 ? this.#parts[0] : chunk;
        this.#skipping = {
          bytes: this.#partsLength + chunk.length,
          head: this.#decoder.decode(start.subarray(0, OVERSIZED_HEAD_BYTES)),
        };
        this.#parts = [];
        this.#partsLength = 0;
        return [];
      }
      if (chunk.length > 0) {
        // Copy: the producer may reuse its buffer after this call.
        this.#parts.push(chunk.slice());
        this.#partsLength += chunk.length;
      }
      return [];
    }
    let bytes = chunk.subarray(0, last);
    if (this.#parts.length > 0) {
      this.#parts.push(bytes);
      bytes = concat(this.#parts, this.#partsLength + bytes.length);
      this.#parts = [];
      this.#partsLength = 0;
    }
    // One decode for every complete line of the chunk: a newline byte never
    // occurs inside a multibyte UTF-8 sequence, so splitting the text is safe.
    let lines = this.#decoder.decode(bytes).split("\n");
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      if (line.charCodeAt(line.length - 1) === CR) lines[i] = line.slice(0, -1);
    }
    if (bytes.length > this.#max) {
      // A chunk that holds a whole oversized line (a line is at least as many bytes as characters).
      lines = lines.filter((line) => {
        if (line.length <= this.#max) return true;
        const size = new TextEncoder().encode(line).length;
        if (size <= this.#max) return true;
        this.#onOversized(size, line.slice(0, OVERSIZED_HEAD_BYTES));
        return false;
      });
    }
    if (last + 1 < chunk.length) {
      const rest = chunk.slice(last + 1);
      this.#parts.push(rest);
      this.#partsLength += rest.length;
    }
    return lines;
  }

  /** Returns what is left after the stream ended without a final newline. */
  flush(): string[] {
    if (this.#parts.length === 0) return [];
    const bytes = concat(this.#parts, this.#partsLength);
    this.#parts = [];
    this.#partsLength = 0;
    return [this.#decode(bytes)];
  }

  /** Bytes held for an unfinished line. */
  get buffered(): number {
    return this.#partsLength;
  }

  #decode(bytes: Uint8Array): string {
    const end = bytes.length > 0 && bytes[bytes.length - 1] === CR
      ? bytes.length - 1
      : bytes.length;
    return this.#decoder.decode(bytes.subarray(0, end));
  }
}

function concat(parts: Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

function isId(value: unknown): value is JsonRpcId {
  return typeof value === "string" || (typeof value === "number" && Number.isFinite(value));
}

/**
 * Classifies a parsed JSON value as a JSON-RPC request, notification or
 * response, or says why it is none of them.
 *
 * @example
 * ```ts
 * import { classify } from "./jsonrpc.ts";
 * classify({ jsonrpc: "2.0", id: 1, method: "ping" }).type; // "request"
 * classify({ jsonrpc: "2.0", method: "notifications/initialized" }).type; // "notification"
 * classify({ hello: "world" }).type; // "invalid"
 * ```
 */
export function classify(value: unknown): Classified {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { type: "invalid", id: null, reason: "a JSON-RPC message must be an object" };
  }
  const m = value as Record<string, unknown>;
  const rawId = m.id;
  const id = isId(rawId) ? rawId : null;
  if (m.jsonrpc !== "2.0") {
    return { type: "invalid", id, reason: 'missing "jsonrpc": "2.0"' };
  }
  const message = m as unknown as JsonRpcMessage;
  if (typeof m.method === "string") {
    if (m.params !== undefined && (typeof m.params !== "object" || m.params === null)) {
      return { type: "invalid", id, reason: '"params" must be an object or an array' };
    }
    if (!("id" in m)) return { type: "notification", method: m.method, message };
    if (id === null) {
      return { type: "invalid", id: null, reason: '"id" must be a string or a number' };
    }
    return { type: "request", id, method: m.method, message };
  }
  if ("method" in m) return { type: "invalid", id, reason: '"method" must be a string' };
  if ("result" in m || "error" in m) {
    if (id === null) {
      // A response to something unparseable carries id null; it cannot be routed.
      return { type: "invalid", id: null, reason: "a response without a usable id" };
    }
    return { type: "response", id, message };
  }
  return { type: "invalid", id, reason: 'neither "method" nor "result"/"error"' };
}

/**
 * Returns `line` (one JSON-RPC message, already parsed and known valid) with
 * its `id` replaced, without serializing the message again, when the id is
 * where common encoders put it: right after `"jsonrpc":"2.0"` at the start
 * (Python SDK, plain `JSON.stringify` of `{jsonrpc, id, …}`) or as the last
 * member (TypeScript SDK). Otherwise `undefined`: serialize the object.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(replaceId('{"jsonrpc":"2.0","id":7,"result":{}}', 7, "a"), '{"jsonrpc":"2.0","id":"a","result":{}}');
 * assert.equal(replaceId('{"result":{},"jsonrpc":"2.0","id":7}', 7, 1), '{"result":{},"jsonrpc":"2.0","id":1}');
 * assert.equal(replaceId('{"id":7,"jsonrpc":"2.0","result":{}}', 7, 1), undefined);
 * ```
 */
export function replaceId(line: string, id: JsonRpcId, newId: JsonRpcId): string | undefined {
  const token = JSON.stringify(id);
  const head = `{"jsonrpc":"2.0","id":${token}`;
  if (line.startsWith(head) && line.charCodeAt(head.length) === COMMA) {
    return `{"jsonrpc":"2.0","id":${JSON.stringify(newId)}${line.slice(head.length)}`;
  }
  const tail = `,"id":${token}}`;
  if (line.endsWith(tail)) {
    return `${line.slice(0, line.length - tail.length)},"id":${JSON.stringify(newId)}}`;
  }
  return undefined;
}

const COMMA = 0x2c;

/** The result of {@linkcode parseLine}. */
export type ParsedLine =
  | { ok: true; values: unknown[] }
  | { ok: false; error: string };

/**
 * Parses one line of JSON. A JSON array (a JSON-RPC batch, allowed by older
 * MCP revisions) yields its elements; anything else yields one value.
 *
 * @example
 * ```ts
 * import { parseLine } from "./jsonrpc.ts";
 * parseLine('{"jsonrpc":"2.0","method":"x"}'); // { ok: true, values: [ … ] }
 * parseLine("not json").ok; // false
 * ```
 */
export function parseLine(line: string): ParsedLine {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
  if (Array.isArray(value)) {
    return value.length > 0 ? { ok: true, values: value } : { ok: false, error: "empty batch" };
  }
  return { ok: true, values: [value] };
}

/**
 * Builds an error response.
 *
 * @example
 * ```ts
 * import { errorResponse, ErrorCode } from "./jsonrpc.ts";
 * errorResponse(7, ErrorCode.MethodNotFound, "no such method");
 * // { jsonrpc: "2.0", id: 7, error: { code: -32601, message: "no such method" } }
 * ```
 */
export function errorResponse(
  id: JsonRpcId | null,
  code: number,
  message: string,
  data?: unknown,
): JsonRpcMessage {
  const error: JsonRpcErrorObject = data === undefined
    ? { code, message }
    : { code, message, data };
  return { jsonrpc: "2.0", id, error };
}

/**
 * Builds a success response.
 *
 * @example
 * ```ts
 * import { resultResponse } from "./jsonrpc.ts";
 * resultResponse("a", {}); // { jsonrpc: "2.0", id: "a", result: {} }
 * ```
 */
export function resultResponse(id: JsonRpcId, result: unknown): JsonRpcMessage {
  return { jsonrpc: "2.0", id, result };
}

/** Default amount (UTF-16 code units; bytes for ASCII) a {@linkcode FrameWriter} buffers before asking writers to wait. */
export const DEFAULT_HIGH_WATER_MARK = 1 << 20;

/**
 * Writes newline-delimited messages to a byte stream. Messages written while
 * an earlier write is in flight are coalesced into one chunk (one encode, one
 * write). When more than `highWaterMark` characters are waiting (UTF-16 code
 * units: bytes for ASCII, a lower bound otherwise), {@linkcode FrameWriter.ready} returns a
 * promise that resolves once they drain, so the producer can stop reading its
 * source (backpressure); otherwise it returns `undefined` (no allocation on
 * the fast path).
 *
 * @example
 * ```ts
 * import { FrameWriter } from "./jsonrpc.ts";
 * const chunks: Uint8Array[] = [];
 * const w = new FrameWriter(new WritableStream({ write: (c) => void chunks.push(c) }));
 * w.write('{"jsonrpc":"2.0","method":"x"}');
 * await w.ready();
 * await w.flushed();
 * ```
 */
export class FrameWriter {
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #write: (chunk: Uint8Array) => Promise<void>;
  #encoder = new TextEncoder();
  /** Texts waiting to be written, without their newlines. */
  #queue: string[] = [];
  /** Their length in UTF-16 code units plus newlines (bytes for ASCII; a lower bound otherwise). */
  #queued = 0;
  #flushing: Promise<void> | null = null;
  #drained: (() => void)[] = [];
  #closed = false;
  #highWaterMark: number;
  #onError: (err: unknown) => void;

  /**
   * @param stream where the bytes go
   * @param onError called once if a write fails (the peer went away); later writes are dropped
   */
  constructor(
    stream: WritableStream<Uint8Array>,
    onError: (err: unknown) => void = () => {},
    highWaterMark = DEFAULT_HIGH_WATER_MARK,
  ) {
    this.#writer = stream.getWriter();
    // Holding the writer, this is the stream's only writer: it may write past the web layer.
    this.#write = (stream as DirectWritable)[DIRECT_WRITE] ??
      ((chunk) => this.#writer.write(chunk));
    this.#onError = onError;
    this.#highWaterMark = highWaterMark;
  }

  /** True once a write failed or {@linkcode FrameWriter.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Characters (UTF-16 code units) waiting to be written. */
  get buffered(): number {
    return this.#queued;
  }

  /** Writes one message (an object, or its JSON text) followed by a newline. */
  write(message: JsonRpcMessage | string): void {
    if (this.#closed) return;
    const text = typeof message === "string" ? message : JSON.stringify(message);
    this.#queue.push(text);
    this.#queued += text.length + 1;
    if (this.#flushing === null) this.#flushing = this.#flush();
  }

  /**
   * `undefined` while fewer than `highWaterMark` characters wait; otherwise a
   * promise that resolves once they have drained below it (or the stream broke).
   */
  ready(): Promise<void> | undefined {
    if (this.#queued <= this.#highWaterMark) return undefined;
    return new Promise((resolve) => this.#drained.push(resolve));
  }

  /** Resolves when everything written so far has been handed to the stream. */
  async flushed(): Promise<void> {
    while (this.#flushing) await this.#flushing;
  }

  /** Flushes, then closes the stream. Later writes are dropped. */
  async close(): Promise<void> {
    await this.flushed();
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#writer.close();
    } catch { /* already closed by the peer */ }
  }

  async #flush(): Promise<void> {
    try {
      while (this.#queue.length > 0 && !this.#closed) {
        // One encode (and one write) for every message queued meanwhile.
        const texts = this.#queue;
        this.#queue = [];
        this.#queued = 0;
        const chunk = this.#encoder.encode(
          texts.length === 1 ? texts[0] + "\n" : texts.join("\n") + "\n",
        );
        await this.#write(chunk);
        this.#release();
      }
    } catch (err) {
      this.#closed = true;
      this.#queue = [];
      this.#queued = 0;
      this.#release();
      this.#onError(err);
    } finally {
      this.#flushing = null;
    }
  }

  #release() {
    if (this.#queued <= this.#highWaterMark && this.#drained.length > 0) {
      const waiting = this.#drained;
      this.#drained = [];
      for (const resolve of waiting) resolve();
    }
  }
}

/**
 * Finds the top-level `id` of a JSON-RPC message from the start of its text
 * only (the rest may be too large to keep): scans object keys at depth one,
 * skipping nested values and strings. `null` when the id is not within
 * `head`, or is not a string or a number.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(peekId('{"jsonrpc":"2.0","id":"a\\"b","method":"x","params":{"text":"'), 'a"b');
 * assert.equal(peekId('{"jsonrpc":"2.0","params":{"id":7,"data":"'), null);
 * assert.equal(peekId('{"id": 42, "method": "tools/call"'), 42);
 * ```
 */
export function peekId(head: string): JsonRpcId | null {
  let depth = 0;
  let i = 0;
  let expectKey = false;
  while (i < head.length) {
    const ch = head[i];
    if (ch === '"') {
      const end = stringEnd(head, i);
      if (end === -1) return null;
      if (depth === 1 && expectKey) {
        const key = JSON.parse(head.slice(i, end + 1));
        let j = end + 1;
        while (j < head.length && /\s/.test(head[j])) j++;
        if (head[j] !== ":") return null;
        j++;
        while (j < head.length && /\s/.test(head[j])) j++;
        if (key === "id") {
          if (head[j] === '"') {
            const close = stringEnd(head, j);
            return close === -1 ? null : JSON.parse(head.slice(j, close + 1));
          }
          const number = /^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?=[\s,}])/.exec(head.slice(j));
          return number ? Number(number[0]) : null;
        }
        expectKey = false;
        i = j;
        continue;
      }
      i = end + 1;
      continue;
    }
    if (ch === "{" || ch === "[") {
      depth++;
      expectKey = depth === 1 && ch === "{";
    } else if (ch === "}" || ch === "]") depth--;
    else if (ch === "," && depth === 1) expectKey = true;
    i++;
  }
  return null;
}

/** Index of the quote that closes the string opening at `start`, or -1 when it is cut off. */
function stringEnd(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    if (text[i] === "\\") i++;
    else if (text[i] === '"') return i;
  }
  return -1;
}

/**
 * Reads `stream` line by line, calling `onLine` for each; awaits `onLine`
 * when it returns a promise (backpressure). Resolves at end of stream.
 * `options` are the {@linkcode LineSplitter}'s: a limit on the line length
 * and what to do with a longer line.
 *
 * @example
 * ```ts
 * import { readLines } from "./jsonrpc.ts";
 * const body = new Blob(["a\nb\n"]).stream();
 * const lines: string[] = [];
 * await readLines(body, (l) => void lines.push(l)); // lines: ["a", "b"]
 * ```
 */
export async function readLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void | Promise<void>,
  options: ConstructorParameters<typeof LineSplitter>[0] = {},
): Promise<void> {
  const splitter = new LineSplitter(options);
  // A stream over a Node stream (`src/runtime/node.ts`) can hand its chunks over directly: no
  // web-stream read (and its promises) per chunk.
  const direct = (stream as DirectReadable)[DIRECT_READ]?.((chunk) => {
    const lines = splitter.push(chunk);
    for (let i = 0; i < lines.length; i++) {
      const wait = onLine(lines[i]);
      if (wait) return wait.then(() => deliverFrom(lines, i + 1, onLine));
    }
    return undefined;
  });
  if (direct) {
    await direct;
    await deliverFrom(splitter.flush(), 0, onLine);
    return;
  }
  // A byte stream (Deno's stdin and child pipes) is read into one buffer, reused
  // for every read: the default reader allocates a fresh 64 KiB buffer per read,
  // however few bytes arrived (one message is often ~100 bytes).
  let byob: ReadableStreamBYOBReader | undefined;
  try {
    byob = stream.getReader({ mode: "byob" });
  } catch { /* not a byte stream: read the chunks it makes */ }
  const reader = byob ?? stream.getReader();
  let buffer = new ArrayBuffer(READ_BUFFER_SIZE);
  try {
    for (;;) {
      let value: Uint8Array | undefined;
      if (byob) {
        const result = await byob.read(new Uint8Array(buffer));
        if (result.done || !result.value) break;
        value = result.value;
        buffer = value.buffer as ArrayBuffer;
      } else {
        const result = await (reader as ReadableStreamDefaultReader<Uint8Array>).read();
        if (result.done) break;
        value = result.value;
      }
      for (const line of splitter.push(value)) {
        const wait = onLine(line);
        if (wait) await wait;
      }
    }
    for (const line of splitter.flush()) {
      const wait = onLine(line);
      if (wait) await wait;
    }
  } finally {
    reader.releaseLock();
  }
}

/** Bytes {@linkcode readLines} reads at most at once from a byte stream. */
const READ_BUFFER_SIZE = 64 * 1024;

/** Calls `onLine` for `lines[from…]` in order, awaiting each promise it returns. */
async function deliverFrom(
  lines: readonly string[],
  from: number,
  onLine: (line: string) => void | Promise<void>,
): Promise<void> {
  for (let i = from; i < lines.length; i++) {
    const wait = onLine(lines[i]);
    if (wait) await wait;
  }
}
