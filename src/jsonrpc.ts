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
  DIRECT_SEND,
  DIRECT_WRITE,
  DIRECT_WRITEV,
  type DirectReadable,
  type DirectWritable,
} from "./runtime/mod.ts";
import { simdSkipper, type Skipper } from "./simd_scan.ts";

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

/**
 * A map key for a JSON-RPC id that tells 1 and "1" apart.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.notEqual(idKey(1), idKey("1"));
 * ```
 */
export function idKey(id: JsonRpcId | null): string {
  return `${typeof id}:${id}`;
}

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
  /** The scanner of the held line ({@linkcode LineSplitter.pushLines}), once it has read on. */
  #line: ChunkScanner | undefined;

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
    const bytes = this.#complete(chunk);
    if (bytes === undefined) return [];
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
    return lines;
  }

  /**
   * Like {@linkcode LineSplitter.push}, but returns each line as its bytes,
   * undecoded (without its newline or a trailing `\r`). With `owned`, the
   * producer never writes to `chunk`'s bytes again (a fresh buffer per read,
   * as Node's streams make): lines and what is kept of the chunk are views
   * of it. Otherwise they are copies, so the caller may keep them while the
   * producer reuses its buffer.
   */
  pushBytes(chunk: Uint8Array, owned = false): Uint8Array[] {
    const one = this.#whole(chunk, owned);
    if (one !== undefined) return [one];
    const bytes = this.#complete(chunk, owned);
    if (bytes === undefined) return [];
    // A line that spanned chunks was joined into a buffer of its own.
    owned ||= bytes.buffer !== chunk.buffer;
    const lines: Uint8Array[] = [];
    let start = 0;
    for (;;) {
      const nl = bytes.indexOf(NEWLINE, start);
      const end = nl === -1 ? bytes.length : nl;
      const stop = end > start && bytes[end - 1] === CR ? end - 1 : end;
      if (stop - start > this.#max) {
        this.#onOversized(
          stop - start,
          this.#decoder.decode(bytes.subarray(start, start + OVERSIZED_HEAD_BYTES)),
        );
      } else {
        lines.push(owned ? bytes.subarray(start, stop) : bytes.slice(start, stop));
      }
      if (nl === -1) return lines;
      start = nl + 1;
    }
  }

  /**
   * Like {@linkcode LineSplitter.push} when a chunk completes several lines
   * (they come as text: one decode for all of them), like
   * {@linkcode LineSplitter.pushBytes} when it completes one (it comes as its
   * bytes, undecoded).
   */
  pushOneAsBytes(chunk: Uint8Array, owned = false): (Uint8Array | string)[] {
    const one = this.#whole(chunk, owned);
    if (one !== undefined) return [one];
    const last = chunk.lastIndexOf(NEWLINE);
    if (this.#skipping !== undefined || last === -1 || chunk.indexOf(NEWLINE) !== last) {
      return this.push(chunk);
    }
    return this.pushBytes(chunk, owned);
  }

  /**
   * Like {@linkcode LineSplitter.pushBytes}, but a line that spanned chunks
   * is not joined: it comes as a {@linkcode ChunkScanner} that has read its
   * chunks (`parts`; `end()` for what {@linkcode scanMessage} would say,
   * `join()` for its bytes). A line over the limit is reported as before.
   */
  pushLines(chunk: Uint8Array, owned = false): (Uint8Array | ChunkScanner)[] {
    if (this.#skipping !== undefined || this.#parts.length === 0) {
      return this.pushBytes(chunk, owned);
    }
    if (this.#partsLength + chunk.length > this.#max) {
      const nl = chunk.indexOf(NEWLINE);
      // No end yet, or a line that may be over the limit: as pushBytes does.
      if (nl === -1 || this.#partsLength + nl > this.#max) return this.pushBytes(chunk, owned);
    }
    // The held line goes on: its scanner reads the chunk and finds where the line ends (one pass).
    let line = this.#line;
    if (line === undefined) {
      line = this.#line = new ChunkScanner();
      for (const part of this.#parts) line.feedLine(part); // no newline in them
    }
    const kept = owned ? chunk : chunk.slice();
    const nl = line.feedLine(kept);
    if (nl === -1) {
      if (kept.length > 0) {
        this.#parts.push(kept);
        this.#partsLength += kept.length;
      }
      return [];
    }
    this.#parts = [];
    this.#partsLength = 0;
    this.#line = undefined;
    const lines: (Uint8Array | ChunkScanner)[] = this.pushBytes(kept.subarray(nl + 1), true);
    lines.unshift(line);
    return lines;
  }

  /**
   * The common case in one pass: an owned chunk that is exactly one line (its
   * only newline is its last byte, nothing held before it, within the limit)
   * is that line, as a view; `undefined` for anything else.
   */
  #whole(chunk: Uint8Array, owned: boolean): Uint8Array | undefined {
    const n = chunk.length;
    if (
      !owned || n === 0 || chunk[n - 1] !== NEWLINE || this.#parts.length !== 0 ||
      this.#skipping !== undefined || chunk.indexOf(NEWLINE) !== n - 1
    ) return undefined;
    const stop = n > 1 && chunk[n - 2] === CR ? n - 2 : n - 1;
    return stop > this.#max ? undefined : chunk.subarray(0, stop);
  }

  /**
   * Takes a chunk: keeps what follows its last newline for the next one, and
   * returns the complete lines it finished as one run of bytes (the lines and
   * the newlines between them, not the last one), or `undefined` when none.
   */
  #complete(chunk: Uint8Array, owned = false): Uint8Array | undefined {
    this.#line = undefined; // the held line, if any, is joined or dropped here
    if (this.#skipping) {
      const end = chunk.indexOf(NEWLINE);
      if (end === -1) {
        this.#skipping.bytes += chunk.length;
        return undefined;
      }
      const { bytes, head } = this.#skipping;
      this.#skipping = undefined;
      this.#onOversized(bytes + end, head);
      return this.#complete(chunk.subarray(end + 1), owned);
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
        return undefined;
      }
      if (chunk.length > 0) {
        // Copy unless owned: the producer may reuse its buffer after this call.
        this.#parts.push(owned ? chunk : chunk.slice());
        this.#partsLength += chunk.length;
      }
      return undefined;
    }
    let bytes = chunk.subarray(0, last);
    if (this.#parts.length > 0) {
      this.#parts.push(bytes);
      bytes = concat(this.#parts, this.#partsLength + bytes.length);
      this.#parts = [];
      this.#partsLength = 0;
    }
    if (last + 1 < chunk.length) {
      const rest = owned ? chunk.subarray(last + 1) : chunk.slice(last + 1);
      this.#parts.push(rest);
      this.#partsLength += rest.length;
    }
    return bytes;
  }

  /** Returns what is left after the stream ended without a final newline. */
  flush(): string[] {
    this.#line = undefined;
    if (this.#parts.length === 0) return [];
    const bytes = concat(this.#parts, this.#partsLength);
    this.#parts = [];
    this.#partsLength = 0;
    return [this.#decode(bytes)];
  }

  /** Like {@linkcode LineSplitter.flush}, as bytes (see {@linkcode LineSplitter.pushBytes}). */
  flushBytes(): Uint8Array[] {
    this.#line = undefined;
    if (this.#parts.length === 0) return [];
    const bytes = concat(this.#parts, this.#partsLength);
    this.#parts = [];
    this.#partsLength = 0;
    return [bytes[bytes.length - 1] === CR ? bytes.subarray(0, bytes.length - 1) : bytes];
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
  const token = idText(id);
  const head = `{"jsonrpc":"2.0","id":${token}`;
  if (line.startsWith(head) && line.charCodeAt(head.length) === COMMA) {
    return `{"jsonrpc":"2.0","id":${idText(newId)}${line.slice(head.length)}`;
  }
  const tail = `,"id":${token}}`;
  if (line.endsWith(tail)) {
    return `${line.slice(0, line.length - tail.length)},"id":${idText(newId)}}`;
  }
  return undefined;
}

/** An id's JSON text: `JSON.stringify(id)`, without the call into the serializer for an integer. */
function idText(id: JsonRpcId): string {
  return typeof id === "number" && Number.isSafeInteger(id) ? String(id) : JSON.stringify(id);
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

/** Whether every character of `text` is ASCII (one UTF-8 byte each). */
function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** Byte pieces at least this long are written by {@linkcode FrameWriter} as they are, not joined. */
const JOIN_LIMIT = 16 * 1024;

/** At most this many chunks {@linkcode FrameWriter} writes one by one where it cannot gather them. */
const SEPARATE_WRITES_MAX = 3;

/** Default amount (UTF-16 code units; bytes for ASCII) a {@linkcode FrameWriter} buffers before asking writers to wait. */
export const DEFAULT_HIGH_WATER_MARK = 1 << 20;

/**
 * Size of the slabs {@linkcode FrameWriter} joins small pieces into: each
 * joined chunk is a view of the current slab (no buffer of its own per write).
 * Where a chunk was cut from it, a slab is written to again only once a
 * {@linkcode DIRECT_SEND} stream said it took that chunk, with nothing else in
 * flight; on any other stream, never.
 */
const SLAB_SIZE = 64 * 1024;

/**
 * Writes newline-delimited messages to a byte stream. The first message is
 * written at once; messages written while that write is in flight are
 * coalesced into one chunk (one encode, one write) once it is taken. When more
 * than `highWaterMark` characters are waiting (UTF-16 code units: bytes for
 * ASCII, a lower bound otherwise), {@linkcode FrameWriter.ready} returns a
 * promise that resolves once they drain, so the producer can stop reading its
 * source (backpressure); otherwise it returns `undefined` (no allocation on
 * the fast path). On a stream with the {@linkcode DIRECT_SEND} hook (Node's
 * and Bun's pipes) a write costs no promise: the stream's callback says when
 * it was taken.
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
  #writev: ((chunks: readonly Uint8Array[]) => Promise<void>) | undefined;
  #send: ((chunk: Uint8Array, done: (error?: unknown) => void) => void) | undefined;
  #encoder = new TextEncoder();
  /** Messages waiting to be written (texts, or byte pieces), without their newlines. */
  #queue: (string | MessagePieces)[] = [];
  /** Some of `#queue` is bytes. */
  #hasBytes = false;
  /** Their length in UTF-16 code units plus newlines (bytes for ASCII; a lower bound otherwise). */
  #queued = 0;
  /** A write was handed to the stream and not yet taken. */
  #busy = false;
  /** Inside a `#send` call: its `done` may come before it returns. */
  #sending = false;
  /** `done` came while `#sending`: the loop in `#pump` goes on. */
  #sentAtOnce = false;
  /** `#send`'s callback, made once. */
  #afterSend: (error?: unknown) => void;
  /** The settling of a promised write, made once. */
  #onTaken = () => this.#taken();
  #onFailed = (err: unknown) => this.#fail(err);
  /** Waiting for everything written so far to be taken ({@linkcode FrameWriter.flushed}). */
  #flushWaiters: (() => void)[] = [];
  #drained: (() => void)[] = [];
  #closed = false;
  #highWaterMark: number;
  #onError: (err: unknown) => void;
  /** Where small pieces are joined (see {@linkcode SLAB_SIZE}), and how much of it is used. */
  #slab: Uint8Array | undefined;
  #slabUsed = 0;

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
    this.#writev = (stream as DirectWritable)[DIRECT_WRITEV];
    this.#send = (stream as DirectWritable)[DIRECT_SEND];
    this.#onError = onError;
    this.#highWaterMark = highWaterMark;
    this.#afterSend = (error) => {
      if (error !== undefined && error !== null) return this.#fail(error);
      // The stream is done with the chunk, and it was the only write in flight: the slab's
      // bytes are free again (the next message reuses the same, cache-warm, bytes).
      this.#slabUsed = 0;
      if (this.#sending) this.#sentAtOnce = true;
      else this.#taken();
    };
  }

  /** True once a write failed or {@linkcode FrameWriter.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Characters (UTF-16 code units) waiting to be written. */
  get buffered(): number {
    return this.#queued;
  }

  /**
   * Writes one message followed by a newline: an object, its JSON text, or
   * its pieces to write one after the other (as {@linkcode spliceId} makes
   * them; bytes must not change until written).
   */
  write(message: JsonRpcMessage | string | MessagePieces): void {
    if (this.#closed) return;
    if (Array.isArray(message)) {
      const pieces = message as MessagePieces;
      if (!this.#busy && this.#send !== undefined) {
        // Nothing in flight (the usual case for one request at a time): straight out, no queue.
        const chunk = this.#joinSmall(pieces);
        if (chunk !== undefined) {
          this.#busy = true;
          if (this.#sendNow(chunk)) this.#busy = false; // taken at once: nothing queued meanwhile
          return;
        }
      }
      this.#queue.push(pieces);
      for (let i = 0; i < pieces.length; i++) this.#queued += pieces[i].length;
      this.#queued += 1;
      this.#hasBytes = true;
    } else {
      const text = typeof message === "string" ? message : JSON.stringify(message);
      this.#queue.push(text);
      this.#queued += text.length + 1;
    }
    if (!this.#busy) this.#pump();
  }

  /**
   * Writes `bytes` (one message, without its newline) with the value at
   * `scanned`'s place replaced by `newId`: what `write(spliceId(bytes, scanned,
   * newId))` writes, copied straight into one chunk when nothing is in flight
   * (no pieces made). The bytes must not change until written.
   */
  writeSpliced(
    bytes: Uint8Array,
    scanned: Pick<ScannedMessage, "idStart" | "idEnd">,
    newId: JsonRpcId,
  ): void {
    if (this.#closed) return;
    const { idStart, idEnd } = scanned;
    if (this.#busy || this.#send === undefined || idStart < 0) {
      this.write(spliceId(bytes, scanned, newId));
      return;
    }
    const id = idText(newId);
    const length = bytes.length - (idEnd - idStart) + id.length + 1;
    if (length >= JOIN_LIMIT || id.length > 256 || !isAscii(id)) {
      this.write(spliceId(bytes, scanned, newId));
      return;
    }
    // The whole line in one copy, its tail moved to fit the new id, the id written in: no view
    // made but the chunk itself.
    const n = bytes.length;
    const room = length > n ? length : n;
    let at = this.#reserve(room);
    let slab = this.#slab!;
    if (at < 0) {
      slab = new Uint8Array(room);
      at = 0;
    }
    slab.set(bytes, at);
    const tail = at + idStart + id.length;
    if (tail !== at + idEnd) slab.copyWithin(tail, at + idEnd, at + n);
    for (let k = 0; k < id.length; k++) slab[at + idStart + k] = id.charCodeAt(k);
    slab[at + length - 1] = NEWLINE;
    const out = slab.subarray(at, at + length);
    this.#busy = true;
    if (this.#sendNow(out)) this.#busy = false; // taken at once: nothing queued meanwhile
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
  flushed(): Promise<void> {
    if (!this.#busy) return Promise.resolve();
    return new Promise((resolve) => this.#flushWaiters.push(resolve));
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

  /** Writes what is queued, as one chunk where it can; runs again each time a write is taken. */
  #pump(): void {
    while (this.#queue.length > 0 && !this.#closed) {
      // One encode (and one write) for every message queued meanwhile.
      const messages = this.#queue;
      this.#queue = [];
      this.#queued = 0;
      this.#busy = true;
      let chunks: Uint8Array[];
      if (this.#hasBytes) {
        this.#hasBytes = false;
        const one = messages.length === 1 ? this.#joinSmall(messages[0]) : undefined;
        chunks = one !== undefined ? [one] : this.#chunks(messages);
      } else {
        const texts = messages as string[];
        chunks = [
          this.#encoder.encode(texts.length === 1 ? texts[0] + "\n" : texts.join("\n") + "\n"),
        ];
      }
      if (chunks.length === 1 && this.#send !== undefined) {
        if (!this.#sendNow(chunks[0])) return; // #taken runs when the stream has it
        this.#release();
        continue;
      }
      (chunks.length === 1 ? this.#write(chunks[0]) : this.#writeChunks(chunks))
        .then(this.#onTaken, this.#onFailed);
      return;
    }
    this.#busy = false;
    this.#release();
    if (this.#flushWaiters.length > 0) {
      const waiting = this.#flushWaiters;
      this.#flushWaiters = [];
      for (const resolve of waiting) resolve();
    }
  }

  /** Hands `chunk` to `#send`; true when it was taken before the call returned. */
  #sendNow(chunk: Uint8Array): boolean {
    this.#sending = true;
    this.#sentAtOnce = false;
    try {
      this.#send!(chunk, this.#afterSend);
    } catch (err) {
      // A stream that throws instead of calling back failed like any other write.
      this.#sending = false;
      this.#fail(err);
      return false;
    }
    this.#sending = false;
    return this.#sentAtOnce;
  }

  /** The write in flight was taken: release writers waiting on it, write what queued meanwhile. */
  #taken(): void {
    if (this.#closed && !this.#busy) return;
    this.#release();
    this.#pump();
  }

  /** Writes several chunks in order: one gathered write, one joined copy, or one by one. */
  async #writeChunks(chunks: Uint8Array[]): Promise<void> {
    if (this.#writev) await this.#writev(chunks);
    else if (chunks.length > SEPARATE_WRITES_MAX) {
      // Without a gathered write (a plain web stream): a long line's many chunks are copied
      // into one buffer, which costs less than a write and a wake-up of the reader per chunk.
      await this.#write(concat(chunks, chunks.reduce((n, c) => n + c.length, 0)));
    } else for (const chunk of chunks) await this.#write(chunk);
  }

  /** A write failed: report it once, drop what waits, release everyone waiting. */
  #fail(err: unknown): void {
    const first = !this.#closed || this.#busy;
    this.#closed = true;
    this.#queue = [];
    this.#queued = 0;
    this.#busy = false;
    this.#release();
    const waiting = this.#flushWaiters;
    this.#flushWaiters = [];
    for (const resolve of waiting) resolve();
    if (first) this.#onError(err);
  }

  /** `length` bytes to join small pieces into: a view of the current slab, or a buffer of its own. */
  #joinBuffer(length: number): Uint8Array {
    const at = this.#reserve(length);
    return at < 0 ? new Uint8Array(length) : this.#slab!.subarray(at, at + length);
  }

  /** Takes `length` bytes of the current slab (a new one when it is full): their offset; -1 when too many. */
  #reserve(length: number): number {
    if (length > SLAB_SIZE >> 2) return -1;
    if (this.#slab === undefined || this.#slabUsed + length > SLAB_SIZE) {
      this.#slab = new Uint8Array(SLAB_SIZE);
      this.#slabUsed = 0;
    }
    const at = this.#slabUsed;
    this.#slabUsed += length;
    return at;
  }

  /**
   * One small message of pieces (the usual one: a line with its id swapped)
   * and its newline, copied into the slab in one pass; `undefined` when a piece
   * is large or non-ASCII text ({@linkcode FrameWriter}'s `#chunks` decides).
   */
  #joinSmall(message: string | MessagePieces): Uint8Array | undefined {
    if (typeof message === "string") return undefined;
    let length = 1;
    for (let i = 0; i < message.length; i++) {
      const piece = message[i];
      if (typeof piece === "string" && (piece.length > 256 || !isAscii(piece))) return undefined;
      length += piece.length;
    }
    if (length >= JOIN_LIMIT) return undefined;
    const out = this.#joinBuffer(length);
    let o = 0;
    for (let i = 0; i < message.length; i++) o = copyPiece(out, o, message[i]);
    out[o] = NEWLINE;
    return out;
  }

  /**
   * The bytes of `messages`, each followed by a newline, as few chunks as
   * copying little allows: small pieces are joined into one buffer, a large
   * one is written as it is.
   */
  #chunks(messages: (string | MessagePieces)[]): Uint8Array[] {
    const chunks: Uint8Array[] = [];
    /** Small pieces waiting to be joined: bytes, or ASCII text. */
    let run: (Uint8Array | string)[] = [];
    let runLength = 0;
    const join = () => {
      if (run.length === 0) return;
      const out = this.#joinBuffer(runLength);
      let o = 0;
      for (const piece of run) o = copyPiece(out, o, piece);
      chunks.push(out);
      run = [];
      runLength = 0;
    };
    const add = (piece: Uint8Array | string) => {
      if (typeof piece === "string" && (piece.length > 256 || !isAscii(piece))) {
        piece = this.#encoder.encode(piece); // short ASCII text is copied in by hand
      }
      if (piece.length >= JOIN_LIMIT && typeof piece !== "string") {
        join();
        chunks.push(piece);
        return;
      }
      run.push(piece);
      runLength += piece.length;
    };
    for (const message of messages) {
      if (typeof message === "string") add(message);
      else for (const piece of message) if (piece.length > 0) add(piece);
      add("\n");
    }
    join();
    return chunks;
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
export function readLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void | Promise<void>,
  options: ConstructorParameters<typeof LineSplitter>[0] = {},
): Promise<void> {
  const splitter = new LineSplitter(options);
  return readSplit(stream, (chunk) => splitter.push(chunk), () => splitter.flush(), onLine);
}

/**
 * {@linkcode readLines} for a client: a read that completes one line gives
 * it as its bytes (a request sent alone, forwarded without decoding when it
 * can be), a read that completes several gives them as text, one decode for
 * all (pipelined messages; see {@linkcode LineSplitter.pushOneAsBytes}).
 *
 * @example
 * ```ts
 * import { readClientLines } from "./jsonrpc.ts";
 * const lines: unknown[] = [];
 * await readClientLines(new Blob(["a\nb\n"]).stream(), (l) => void lines.push(l)); // ["a", "b"]
 * ```
 */
export function readClientLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: Uint8Array | string) => void | Promise<void>,
  options: ConstructorParameters<typeof LineSplitter>[0] = {},
): Promise<void> {
  const splitter = new LineSplitter(options);
  return readSplit<Uint8Array | string>(
    stream,
    (chunk, owned) => splitter.pushOneAsBytes(chunk, owned),
    () => splitter.flush(),
    onLine,
  );
}

/**
 * {@linkcode readLines} with each line as its bytes, undecoded: for a message
 * that may be forwarded as it came. A line that spanned reads comes as a
 * {@linkcode ChunkScanner} over its chunks, not joined (see
 * {@linkcode LineSplitter.pushLines}); the last line, without a newline, as bytes.
 *
 * @example
 * ```ts
 * import { readByteLines } from "./jsonrpc.ts";
 * const body = new Blob(["a\nb\n"]).stream();
 * const lines: unknown[] = [];
 * await readByteLines(body, (l) => void lines.push(l)); // two lines of one byte each
 * ```
 */
export function readByteLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: Uint8Array | ChunkScanner) => void | Promise<void>,
  options: ConstructorParameters<typeof LineSplitter>[0] = {},
): Promise<void> {
  const splitter = new LineSplitter(options);
  return readSplit<Uint8Array | ChunkScanner>(
    stream,
    (chunk, owned) => splitter.pushLines(chunk, owned),
    () => splitter.flushBytes(),
    onLine,
    () => splitter.buffered > 0,
  );
}

async function readSplit<T>(
  stream: ReadableStream<Uint8Array>,
  /** `owned`: the chunk's buffer is not reused by the stream (every way but a BYOB read). */
  split: (chunk: Uint8Array, owned: boolean) => T[],
  flush: () => T[],
  onLine: (line: T) => void | Promise<void>,
  /** True while `split` holds part of a line: the next chunk is likely kept, not copied. */
  spanning?: () => boolean,
): Promise<void> {
  // A stream over a Node stream (`src/runtime/node.ts`) can hand its chunks over directly: no
  // web-stream read (and its promises) per chunk.
  const direct = (stream as DirectReadable)[DIRECT_READ]?.((chunk) => {
    const lines = split(chunk, true);
    for (let i = 0; i < lines.length; i++) {
      const wait = onLine(lines[i]);
      if (wait) return wait.then(() => deliverFrom(lines, i + 1, onLine));
    }
    return undefined;
  });
  if (direct) {
    await direct;
    await deliverFrom(flush(), 0, onLine);
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
      let owned = true;
      if (byob) {
        const result = await byob.read(new Uint8Array(buffer));
        if (result.done || !result.value) break;
        value = result.value;
        if (spanning?.()) {
          // A long line goes on: hand this buffer over (its bytes are kept, not copied).
          buffer = new ArrayBuffer(READ_BUFFER_SIZE);
        } else {
          buffer = value.buffer as ArrayBuffer;
          owned = false;
        }
      } else {
        const result = await (reader as ReadableStreamDefaultReader<Uint8Array>).read();
        if (result.done) break;
        value = result.value;
      }
      for (const line of split(value, owned)) {
        const wait = onLine(line);
        if (wait) await wait;
      }
    }
    for (const line of flush()) {
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
async function deliverFrom<T>(
  lines: readonly T[],
  from: number,
  onLine: (line: T) => void | Promise<void>,
): Promise<void> {
  for (let i = from; i < lines.length; i++) {
    const wait = onLine(lines[i]);
    if (wait) await wait;
  }
}

// ── reading a message's top level without parsing it ────────────────────────

/**
 * What {@linkcode scanMessage} found at the top level of a JSON-RPC message's
 * bytes, without building the message.
 */
export interface ScannedMessage {
  /**
   * The top-level `id`: its value when it is a string or a finite number,
   * `null` when it is there with another value, `undefined` when absent.
   */
  id: JsonRpcId | null | undefined;
  /** Byte offset where the `id`'s value starts (-1 when there is no `id`). */
  idStart: number;
  /** Byte offset just past the `id`'s value (-1 when there is no `id`). */
  idEnd: number;
  /**
   * The top-level `method`: its value when a string, `null` when it is there
   * with another value, `undefined` when absent.
   */
  method: string | null | undefined;
  /** A top-level `result` member is present (whatever its value). */
  hasResult: boolean;
  /** A top-level `error` member is present (whatever its value). */
  hasError: boolean;
  /** The top-level `jsonrpc` member is the string `"2.0"`. */
  jsonrpc: boolean;
  /** There is no top-level `params`, or its value is an object or an array. */
  paramsValid: boolean;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COLON = 0x3a;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

/** The top-level keys {@linkcode scanMessage} reads, as their bytes. */
const KEY_ID = [0x69, 0x64]; // id
const KEY_METHOD = [0x6d, 0x65, 0x74, 0x68, 0x6f, 0x64]; // method
const KEY_RESULT = [0x72, 0x65, 0x73, 0x75, 0x6c, 0x74]; // result
const KEY_ERROR = [0x65, 0x72, 0x72, 0x6f, 0x72]; // error
const KEY_JSONRPC = [0x6a, 0x73, 0x6f, 0x6e, 0x72, 0x70, 0x63]; // jsonrpc
const KEY_PARAMS = [0x70, 0x61, 0x72, 0x61, 0x6d, 0x73]; // params
/** `"2.0"` as written by every encoder. */
const VERSION_TOKEN = [QUOTE, 0x32, DOT, ZERO, QUOTE];

const scanDecoder = new TextDecoder();

/**
 * Reads the top level of one JSON-RPC message from its UTF-8 bytes without
 * building it: the `id` (its value and where its token sits, for
 * {@linkcode spliceId}), the `method`, whether `result` and `error` are
 * there, and whether `jsonrpc` is `"2.0"`. The whole text is checked against
 * the JSON grammar in the same pass (strings, escapes, numbers, literals,
 * nesting of any depth), so nested `"id"` keys, escaped quotes and odd
 * whitespace are read as `JSON.parse` would.
 *
 * Returns `undefined` when the bytes are not one JSON object (malformed,
 * an array, a scalar, a leading BOM), or when one of the keys it reads comes
 * twice: the caller then parses the text, which decides as before. Bytes
 * inside strings are not checked as UTF-8 (a message forwarded as its own
 * bytes keeps them as they are).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { scanMessage } from "./jsonrpc.ts";
 * const bytes = new TextEncoder().encode('{"jsonrpc":"2.0","id":7,"result":{"id":"inner"}}');
 * const s = scanMessage(bytes)!;
 * assert.equal(s.id, 7);
 * assert.equal(s.method, undefined);
 * assert.equal(s.hasResult, true);
 * assert.equal(scanMessage(new TextEncoder().encode('{"id":7,')), undefined);
 * ```
 */
export function scanMessage(bytes: Uint8Array): ScannedMessage | undefined {
  skipper?.forget();
  const b = bytes;
  const n = b.length;
  const out: ScannedMessage = {
    id: undefined,
    idStart: -1,
    idEnd: -1,
    method: undefined,
    hasResult: false,
    hasError: false,
    jsonrpc: false,
    paramsValid: true,
  };
  let seen = 0; // bit per key read: id 1, method 2, result 4, error 8, jsonrpc 16, params 32
  let i = skipSpace(b, 0);
  if (b[i] !== OPEN_BRACE) return undefined;
  i = skipSpace(b, i + 1);
  if (b[i] === CLOSE_BRACE) i++;
  else {
    for (;;) {
      if (b[i] !== QUOTE) return undefined;
      const keyStart = i;
      const keyEnd = jsonStringEnd(b, i);
      if (keyEnd < 0) return undefined;
      i = skipSpace(b, keyEnd);
      if (b[i] !== COLON) return undefined;
      const valueStart = skipSpace(b, i + 1);
      // A string or a number (most top-level values: the id, the version, the method) directly.
      const first = b[valueStart];
      const valueEnd = first === QUOTE
        ? jsonStringEnd(b, valueStart)
        : (first >= ZERO && first <= NINE) || first === MINUS
        ? numberEnd(b, valueStart)
        : valueEndAt(b, valueStart);
      if (valueEnd < 0) return undefined;
      const key = keyBit(b, keyStart, keyEnd);
      if (key !== 0) {
        if (seen & key) return undefined; // a duplicate: JSON.parse decides which one counts
        seen |= key;
        if (key === 1) {
          out.idStart = valueStart;
          out.idEnd = valueEnd;
          if (first === QUOTE) out.id = stringValue(b, valueStart, valueEnd);
          else if (first === MINUS || (first >= ZERO && first <= NINE)) {
            const value = numberValue(b, valueStart, valueEnd);
            out.id = Number.isFinite(value) ? value : null;
          } else out.id = null;
        } else if (key === 2) {
          out.method = first === QUOTE ? stringValue(b, valueStart, valueEnd) : null;
        } else if (key === 4) out.hasResult = true;
        else if (key === 8) out.hasError = true;
        else if (key === 32) out.paramsValid = first === OPEN_BRACE || first === OPEN_BRACKET;
        else {
          out.jsonrpc = first === QUOTE &&
            (sameBytes(b, valueStart, valueEnd, VERSION_TOKEN) ||
              stringValue(b, valueStart, valueEnd) === "2.0");
        }
      }
      i = skipSpace(b, valueEnd);
      if (b[i] === COMMA) {
        i = skipSpace(b, i + 1);
        continue;
      }
      if (b[i] !== CLOSE_BRACE) return undefined;
      i++;
      break;
    }
  }
  return skipSpace(b, i) === n ? out : undefined;
}

/**
 * The message of {@linkcode scanMessage}'s `bytes` with its top-level `id`
 * replaced by `newId`, as pieces to write one after the other (no copy of
 * the rest): the bytes before the id, the new id's JSON text, the bytes after it.
 * `bytes` may be the chunks of a line ({@linkcode ChunkScanner}'s `parts`, with
 * its offsets): then the pieces are those chunks, cut around the id.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { scanMessage, spliceId } from "./jsonrpc.ts";
 * const bytes = new TextEncoder().encode('{"jsonrpc":"2.0","id":7,"result":{}}');
 * const pieces = spliceId(bytes, scanMessage(bytes)!, "a");
 * const text = pieces.map((p) => typeof p === "string" ? p : new TextDecoder().decode(p)).join("");
 * assert.equal(text, '{"jsonrpc":"2.0","id":"a","result":{}}');
 * ```
 */
export function spliceId(
  bytes: Uint8Array | readonly Uint8Array[],
  scanned: Pick<ScannedMessage, "idStart" | "idEnd">,
  newId: JsonRpcId,
): MessagePieces {
  const { idStart, idEnd } = scanned;
  if (idStart < 0) throw new Error("spliceId: the message has no id");
  if (!Array.isArray(bytes)) {
    const b = bytes as Uint8Array;
    return [b.subarray(0, idStart), idText(newId), b.subarray(idEnd)];
  }
  // The chunks of a line (ChunkScanner.parts), offsets counted over all of them.
  const pieces: (Uint8Array | string)[] = [];
  let offset = 0;
  for (const part of bytes as readonly Uint8Array[]) {
    const end = offset + part.length;
    if (idStart > offset) pieces.push(part.subarray(0, Math.min(part.length, idStart - offset)));
    if (idStart >= offset && idStart < end) pieces.push(idText(newId));
    if (idEnd < end) pieces.push(part.subarray(Math.max(0, idEnd - offset)));
    offset = end;
  }
  return pieces;
}

/**
 * One message as pieces to write one after the other: bytes, or text (written
 * as UTF-8). {@linkcode FrameWriter.write} takes them.
 */
export type MessagePieces = readonly (Uint8Array | string)[];

function skipSpace(b: Uint8Array, i: number): number {
  for (;;) {
    const c = b[i];
    if (c === 0x20 || c === NEWLINE || c === CR || c === 0x09) i++;
    else return i;
  }
}

/** Which of the read keys the key token `b[start, end)` (quotes included) names: its bit, or 0. */
function keyBit(b: Uint8Array, start: number, end: number): number {
  // A key with escapes ("\u0069d" is "id") is decoded; the others are compared as bytes.
  for (let k = start + 1; k < end - 1; k++) {
    if (b[k] === BACKSLASH) return keyBitOf(stringValue(b, start, end));
  }
  // By length first: most keys are compared with one candidate at most.
  switch (end - start - 2) {
    case 2:
      return sameBytes(b, start + 1, end - 1, KEY_ID) ? 1 : 0;
    case 5:
      return sameBytes(b, start + 1, end - 1, KEY_ERROR) ? 8 : 0;
    case 6:
      if (sameBytes(b, start + 1, end - 1, KEY_METHOD)) return 2;
      if (sameBytes(b, start + 1, end - 1, KEY_RESULT)) return 4;
      return sameBytes(b, start + 1, end - 1, KEY_PARAMS) ? 32 : 0;
    case 7:
      return sameBytes(b, start + 1, end - 1, KEY_JSONRPC) ? 16 : 0;
    default:
      return 0;
  }
}

/** The value of the (valid) JSON number token `b[start, end)`; integers of up to 15 digits by hand. */
function numberValue(b: Uint8Array, start: number, end: number): number {
  const negative = b[start] === MINUS;
  let i = negative ? start + 1 : start;
  if (end - i <= 15) {
    let value = 0;
    for (; i < end; i++) {
      const c = b[i];
      if (c < ZERO || c > NINE) break;
      value = value * 10 + (c - ZERO);
    }
    if (i === end) return negative ? -value : value;
  }
  return Number(scanDecoder.decode(b.subarray(start, end)));
}

function keyBitOf(key: string): number {
  switch (key) {
    case "id":
      return 1;
    case "method":
      return 2;
    case "result":
      return 4;
    case "error":
      return 8;
    case "jsonrpc":
      return 16;
    case "params":
      return 32;
    default:
      return 0;
  }
}

function sameBytes(
  b: Uint8Array,
  start: number,
  end: number,
  expected: readonly number[],
): boolean {
  if (end - start !== expected.length) return false;
  for (let k = 0; k < expected.length; k++) if (b[start + k] !== expected[k]) return false;
  return true;
}

/** `"tools/call"`, the method most requests name, as its token's bytes. */
const TOOLS_CALL_TOKEN = [...'"tools/call"'].map((ch) => ch.charCodeAt(0));

/** The value of the (valid) JSON string token `b[start, end)`. */
function stringValue(b: Uint8Array, start: number, end: number): string {
  if (sameBytes(b, start, end, TOOLS_CALL_TOKEN)) return "tools/call"; // no decoder call
  const token = b.subarray(start, end);
  return token.includes(BACKSLASH)
    ? JSON.parse(scanDecoder.decode(token))
    : scanDecoder.decode(token.subarray(1, token.length - 1));
}

/** End (exclusive) of the JSON string whose opening quote is at `i`, or -1 when it is not one. */
function jsonStringEnd(b: Uint8Array, i: number): number {
  const n = b.length;
  i++;
  for (;;) {
    let c = 0;
    // Byte by byte first: most strings of a message (its keys, its method) are short.
    const stop = i + SHORT_STRING < n ? i + SHORT_STRING : n;
    while (i < stop) {
      c = b[i];
      if (c === QUOTE || c === BACKSLASH || c < 0x20) break;
      i++;
    }
    if (i === stop) {
      // The hot loop of a large message: most of its bytes are inside strings.
      if (n - i >= WORD_SKIP_MIN) i = skipPlain(b, i);
      while (i < n) {
        c = b[i];
        if (c === QUOTE || c === BACKSLASH || c < 0x20) break;
        i++;
      }
    }
    if (i >= n || c < 0x20) return -1;
    if (c === QUOTE) return i + 1;
    const e = b[i + 1];
    if (
      e === QUOTE || e === BACKSLASH || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e ||
      e === 0x72 || e === 0x74
    ) {
      i += 2;
    } else if (e === 0x75) {
      if (!isHex(b[i + 2]) || !isHex(b[i + 3]) || !isHex(b[i + 4]) || !isHex(b[i + 5])) return -1;
      i += 6;
    } else return -1;
  }
}

/**
 * Copies a piece of a message (bytes, or ASCII text) into `out` at `o`;
 * returns where the next piece goes. Short ones byte by byte (cheaper than
 * `set` for a few bytes).
 */
function copyPiece(out: Uint8Array, o: number, piece: Uint8Array | string): number {
  if (typeof piece === "string") {
    for (let k = 0; k < piece.length; k++) out[o++] = piece.charCodeAt(k);
  } else if (piece.length < 64) {
    for (let k = 0; k < piece.length; k++) out[o++] = piece[k];
  } else {
    out.set(piece, o);
    o += piece.length;
  }
  return o;
}

/** Strings at least this long are skipped four bytes at a time ({@linkcode skipPlainWords}). */
const WORD_SKIP_MIN = 64;

/** Bytes of a string read one by one before {@linkcode jsonStringEnd} tries word skipping. */
const SHORT_STRING = 16;

/** Bytes of a string {@linkcode ChunkScanner} reads one by one before it skips words. */
const PLAIN_BYTES_FIRST = 16;

/** The SIMD skipper ({@linkcode simdSkipper}) once {@linkcode skipPlain} made it. */
let skipper: Skipper | undefined;

/**
 * A run of plain string bytes at least this long, skipped by the word loop,
 * makes {@linkcode skipPlain} switch to WebAssembly SIMD: only a process that
 * sees such a string (a large message) compiles the module, whose engine costs
 * RSS (measured once made: Deno +2.5–3 MB, Bun +3, the binary +4, Node +0.2).
 */
const SIMD_AFTER_BYTES = 16 * 1024;

/**
 * From `i` inside a JSON string, skips bytes that are not `"`, `\\` or below
 * 0x20 in long runs; returns where the byte-wise scan should go on (at such a
 * byte, or a few bytes before it or the end). {@linkcode skipPlainWords} until
 * it skips a run of {@linkcode SIMD_AFTER_BYTES}; from then on WebAssembly
 * SIMD, 16 bytes at a time ({@linkcode simdSkipper}), where the runtime has
 * it. (Per 4 MB string, copy into the module's memory included: Deno 1.0–1.7
 * → 0.26–0.7 ms, Bun 0.86 → 0.23–0.43 ms.)
 */
let skipPlain = (b: Uint8Array, i: number): number => {
  const j = skipPlainWords(b, i);
  if (j - i >= SIMD_AFTER_BYTES) {
    skipper = simdSkipper();
    skipPlain = skipper?.skip ?? skipPlainWords;
  }
  return j;
};

/** The last buffer {@linkcode skipPlainWords} read as words, and its word view (one per buffer, not per string). */
let wordsBuffer: ArrayBufferLike | undefined;
let words: Int32Array<ArrayBufferLike> = new Int32Array(0);

/**
 * From `i`, skips whole aligned 32-bit words holding no `"`, no `\\` and no
 * byte below 0x20 (the bytes that end or interrupt a JSON string), four words
 * (16 bytes) per step with one test; returns where the byte-wise scan should
 * go on. (Per 4 MB string, against one word per step with three tests per
 * word: Bun 1.24 → 0.86 ms, Deno 1.16 → 0.97 ms at best, V8 being noisier.)
 */
function skipPlainWords(b: Uint8Array, i: number): number {
  const offset = b.byteOffset;
  const first = (i + offset + 3) & ~3; // the first aligned word at or after i (buffer offsets)
  const end = (b.length + offset) >> 2; // past the last whole word
  if (end <= first >> 2) return i;
  // Check the bytes before it one by one.
  for (; i + offset < first; i++) {
    const c = b[i];
    if (c === QUOTE || c === BACKSLASH || c < 0x20) return i;
  }
  const buffer = b.buffer;
  if (buffer !== wordsBuffer || words.length < end) {
    wordsBuffer = buffer;
    words = new Int32Array(buffer, 0, buffer.byteLength >> 2);
  }
  let w = first >> 2;
  // Four words (16 bytes) per step; the word that stopped it is found one word at a time below.
  for (const stop = end - 3; w < stop; w += 4) {
    const x = words[w], y = words[w + 1], z = words[w + 2], u = words[w + 3];
    if (
      (((((x ^ 0x02020202) - 0x21212121) | ((x ^ 0x5c5c5c5c) - 0x01010101)) & ~x) |
        ((((y ^ 0x02020202) - 0x21212121) | ((y ^ 0x5c5c5c5c) - 0x01010101)) & ~y) |
        ((((z ^ 0x02020202) - 0x21212121) | ((z ^ 0x5c5c5c5c) - 0x01010101)) & ~z) |
        ((((u ^ 0x02020202) - 0x21212121) | ((u ^ 0x5c5c5c5c) - 0x01010101)) & ~u)) &
      0x80808080
    ) break;
  }
  for (; w < end; w++) {
    const x = words[w];
    // Per byte: below 0x21 after flipping bit 1 (below 0x20, or '"'), or zero after the xor
    // ('\\'), with the byte's sign bit clear (the xors keep it): the classic has-less-than and
    // has-zero word tests, exact as whole-word tests (the bitwise operators wrap the subtractions
    // to 32 bits).
    if (
      ((((x ^ 0x02020202) - 0x21212121) | ((x ^ 0x5c5c5c5c) - 0x01010101)) & ~x & 0x80808080) !== 0
    ) break;
  }
  return (w << 2) - offset;
}

function isHex(c: number | undefined): boolean {
  return c !== undefined &&
    ((c >= ZERO && c <= NINE) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46));
}

/** End (exclusive) of the JSON number starting at `i`, or -1 when it is not one. */
function numberEnd(b: Uint8Array, i: number): number {
  if (b[i] === MINUS) i++;
  if (b[i] === ZERO) i++;
  else if (b[i] >= 0x31 && b[i] <= NINE) {
    while (b[i] >= ZERO && b[i] <= NINE) i++;
  } else return -1;
  if (b[i] === DOT) {
    i++;
    if (!(b[i] >= ZERO && b[i] <= NINE)) return -1;
    while (b[i] >= ZERO && b[i] <= NINE) i++;
  }
  if (b[i] === 0x65 || b[i] === 0x45) {
    i++;
    if (b[i] === PLUS || b[i] === MINUS) i++;
    if (!(b[i] >= ZERO && b[i] <= NINE)) return -1;
    while (b[i] >= ZERO && b[i] <= NINE) i++;
  }
  return i;
}

const LITERAL_TRUE = [0x74, 0x72, 0x75, 0x65];
const LITERAL_FALSE = [0x66, 0x61, 0x6c, 0x73, 0x65];
const LITERAL_NULL = [0x6e, 0x75, 0x6c, 0x6c];

/** End (exclusive) of the one scalar value (not an object or array) at `i`, or -1. */
function scalarEnd(b: Uint8Array, i: number): number {
  const c = b[i];
  if (c === QUOTE) return jsonStringEnd(b, i);
  if (c === MINUS || (c >= ZERO && c <= NINE)) return numberEnd(b, i);
  const literal = c === 0x74
    ? LITERAL_TRUE
    : c === 0x66
    ? LITERAL_FALSE
    : c === 0x6e
    ? LITERAL_NULL
    : undefined;
  if (literal === undefined || !sameBytes(b, i, i + literal.length, literal)) return -1;
  return i + literal.length;
}

/**
 * {@linkcode valueEndAt}'s stack of open containers, shared by every call (it
 * calls nothing that could call it again): no array per value scanned.
 */
const OPEN: boolean[] = [];

/**
 * End (exclusive) of the JSON value starting at `i` (nested to any depth, with
 * an explicit stack, no recursion), or -1 when it is not one.
 */
function valueEndAt(b: Uint8Array, i: number): number {
  const end = valueEnd(b, i);
  if (OPEN.length > 1024) OPEN.length = 0; // a deeply nested message's stack is not kept
  return end;
}

function valueEnd(b: Uint8Array, i: number): number {
  /** Open containers, innermost last (`OPEN[0, depth)`): true for an object, false for an array. */
  const open = OPEN;
  let depth = 0;
  for (;;) {
    // A value starts at i.
    const c = b[i];
    if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      const object = c === OPEN_BRACE;
      i = skipSpace(b, i + 1);
      if (b[i] === (object ? CLOSE_BRACE : CLOSE_BRACKET)) i++;
      else {
        open[depth++] = object;
        if (object) {
          i = memberValueStart(b, i);
          if (i < 0) return -1;
        }
        continue;
      }
    } else {
      i = c === QUOTE ? jsonStringEnd(b, i) : scalarEnd(b, i);
      if (i < 0) return -1;
    }
    // A value ended at i: close what it closes, or go on after a comma.
    for (;;) {
      if (depth === 0) return i;
      i = skipSpace(b, i);
      const object = open[depth - 1];
      const d = b[i];
      if (d === COMMA) {
        i = skipSpace(b, i + 1);
        if (object) {
          i = memberValueStart(b, i);
          if (i < 0) return -1;
        }
        break;
      }
      if (d !== (object ? CLOSE_BRACE : CLOSE_BRACKET)) return -1;
      depth--;
      i++;
    }
  }
}

/** From a member's key at `i` (`"key" : `), where its value starts; -1 when malformed. */
function memberValueStart(b: Uint8Array, i: number): number {
  if (b[i] !== QUOTE) return -1;
  i = jsonStringEnd(b, i);
  if (i < 0) return -1;
  i = skipSpace(b, i);
  if (b[i] !== COLON) return -1;
  return skipSpace(b, i + 1);
}

// ── the same, over a line that came in several chunks ───────────────────────

/** {@linkcode ChunkScanner} modes: what the next byte may be. */
const S_START = 0; // before the top-level `{`
const S_VALUE = 1; // a value
const S_OBJECT_FIRST = 2; // a key or `}` (just after `{`)
const S_KEY = 3; // a key (after `,` in an object)
const S_COLON = 4;
const S_AFTER = 5; // `,` or the close of the open container (a value ended)
const S_STRING = 6;
const S_ESCAPE = 7; // after `\` in a string
const S_HEX = 8; // in `\uXXXX`; `#aux` hex digits left
const S_NUMBER = 9; // `#aux` is where in the number grammar (N_…)
const S_LITERAL = 10; // in true/false/null; `#aux` bytes matched
const S_ARRAY_FIRST = 11; // a value or `]` (just after `[`)
const S_DONE = 12; // the top-level object closed: only whitespace may follow
const S_FAILED = 13;

// Number grammar states: after `-`; after a leading 0; in the integer digits; after `.`; in the
// fraction; after `e`; after the exponent's sign; in the exponent's digits.
const N_SIGN = 0, N_ZERO = 1, N_INT = 2, N_DOT = 3, N_FRACTION = 4, N_E = 5, N_E_SIGN = 6;
const N_EXPONENT = 7;

/** Raw key tokens longer than this cannot name a key {@linkcode ChunkScanner} reads (`\uXXXX` each). */
const KEY_TOKEN_MAX = 48;

/**
 * {@linkcode scanMessage} over a line that arrived in chunks, without joining
 * them: {@linkcode ChunkScanner.feed} takes the chunks in order (they must not
 * change afterwards) and {@linkcode ChunkScanner.end} reads the result, its
 * offsets counted over all the chunks together. It checks the same grammar in
 * one pass, picking up inside a string, an escape, a number or a literal
 * where the last chunk stopped.
 *
 * `end()` returns `undefined` when it cannot decide as `scanMessage` would
 * (malformed JSON, a duplicated key, a top-level key written with escapes):
 * the caller then joins the chunks and calls `scanMessage`, which decides as
 * before. A result it does return is the one `scanMessage` gives for the
 * joined bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ChunkScanner } from "./jsonrpc.ts";
 * const enc = new TextEncoder();
 * const s = new ChunkScanner();
 * s.feed(enc.encode('{"jsonrpc":"2.0","result":{"text":"a very long te'));
 * s.feed(enc.encode('xt"},"i'));
 * s.feed(enc.encode('d":42}'));
 * const r = s.end()!;
 * assert.equal(r.id, 42);
 * assert.equal(r.idStart, 59);
 * assert.equal(r.hasResult, true);
 * ```
 */
export class ChunkScanner {
  /** The chunks so far, and their total length. */
  readonly parts: Uint8Array[] = [];
  length = 0;
  #mode = S_START;
  #aux = 0;
  #literal: readonly number[] = LITERAL_TRUE;
  /** Open containers: true for an object. */
  #open: boolean[] = [];
  /** The string being read is a key. */
  #inKey = false;
  /** Where the current top-level key or member value starts (global offsets). */
  #keyStart = -1;
  #valueStart = -1;
  #valueFirst = 0;
  /** The bit ({@linkcode keyBit}) of the top-level member whose value is being read; 0: another. */
  #member = 0;
  #seen = 0;
  #undecided = false;
  readonly #out: ScannedMessage = {
    id: undefined,
    idStart: -1,
    idEnd: -1,
    method: undefined,
    hasResult: false,
    hasError: false,
    jsonrpc: false,
    paramsValid: true,
  };

  /** Reads one more chunk of the line (kept, not copied: it must not change). */
  feed(b: Uint8Array): void {
    this.#read(b, false);
  }

  /**
   * Reads `b` up to its first newline, in the same pass as the scan (a
   * newline can only end the line: inside a string it is not JSON), and
   * returns its index, or -1 when `b` has none (all of it was read). Only
   * the bytes before the newline are kept, without a `\r` just before it
   * (in `b`, or at the end of the chunk before). `b` must not change.
   */
  feedLine(b: Uint8Array): number {
    const nl = this.#read(b, true);
    if (nl >= 0) {
      // Keep what precedes the newline, less a \r (scanned as whitespace, or where it failed).
      const parts = this.parts;
      this.length -= b.length - nl;
      if (nl > 0) parts[parts.length - 1] = b.subarray(0, nl);
      else parts.pop();
      const last = parts[parts.length - 1];
      if (last !== undefined && last[last.length - 1] === CR) {
        this.length--;
        if (last.length > 1) parts[parts.length - 1] = last.subarray(0, last.length - 1);
        else parts.pop();
      }
    }
    return nl;
  }

  /** Scans `b`; with `line`, stops at its first newline and returns its index (else -1). */
  #read(b: Uint8Array, line: boolean): number {
    skipper?.forget();
    // An empty chunk is not a part: the \r a line's last part ends with stays the last byte held.
    if (b.length > 0) this.parts.push(b);
    const base = this.length;
    this.length += b.length;
    const n = b.length;
    let i = 0;
    let mode = this.#mode;
    let newline = -1;
    scan: while (i < n && mode !== S_FAILED) {
      const c = b[i];
      switch (mode) {
        case S_STRING: {
          // The hot loop of a large message: most of its bytes are inside strings.
          let d = 0;
          for (;;) {
            // A few bytes one by one first (keys and short values end there), then four at a time.
            const stop = i + PLAIN_BYTES_FIRST < n ? i + PLAIN_BYTES_FIRST : n;
            d = b[i];
            while (i < stop && d !== QUOTE && d !== BACKSLASH && d >= 0x20) d = b[++i];
            if (i === stop && n - i >= WORD_SKIP_MIN) {
              i = skipPlain(b, i);
              d = b[i];
            }
            while (i < n && d !== QUOTE && d !== BACKSLASH && d >= 0x20) d = b[++i];
            if (i + 1 >= n || d !== BACKSLASH) break;
            // A two-byte escape is read here, in the string's loop; `\u` and a bad one are not.
            const e = b[i + 1];
            if (
              e !== QUOTE && e !== BACKSLASH && e !== 0x2f && e !== 0x62 && e !== 0x66 &&
              e !== 0x6e && e !== 0x72 && e !== 0x74
            ) break;
            i += 2;
          }
          if (i >= n) break;
          if (d === QUOTE) {
            i++;
            if (this.#inKey) {
              this.#inKey = false;
              mode = S_COLON;
              if (this.#keyStart >= 0) {
                const bit = this.#topKey(this.#keyStart, base + i);
                this.#keyStart = -1;
                if (bit < 0 || (this.#seen & bit)) {
                  this.#undecided = true; // escapes or a duplicate: scanMessage decides
                  mode = S_FAILED;
                }
                this.#seen |= bit;
                this.#member = bit;
              }
            } else mode = this.#valueEnded(base + i);
          } else if (d === BACKSLASH) {
            i++;
            mode = S_ESCAPE;
          } else {
            mode = S_FAILED;
            if (line && d === NEWLINE) newline = i; // the line ended inside a string
          }
          break;
        }
        case S_ESCAPE:
          if (
            c === QUOTE || c === BACKSLASH || c === 0x2f || c === 0x62 || c === 0x66 ||
            c === 0x6e || c === 0x72 || c === 0x74
          ) mode = S_STRING;
          else if (c === 0x75) {
            mode = S_HEX;
            this.#aux = 4;
          } else mode = S_FAILED;
          i++;
          break;
        case S_HEX:
          if (!isHex(c)) mode = S_FAILED;
          else if (--this.#aux === 0) mode = S_STRING;
          i++;
          break;
        case S_NUMBER: {
          let state = this.#aux;
          while (i < n) {
            const d = b[i];
            const digit = d >= ZERO && d <= NINE;
            if (digit && (state === N_INT || state === N_FRACTION || state === N_EXPONENT)) {
              i++; // the run of digits, in one tight loop
              continue;
            }
            let next = -1;
            if (state === N_SIGN) next = d === ZERO ? N_ZERO : digit ? N_INT : -2;
            else if (state === N_DOT) next = digit ? N_FRACTION : -2;
            else if (state === N_E) {
              next = d === PLUS || d === MINUS ? N_E_SIGN : digit ? N_EXPONENT : -2;
            } else if (state === N_E_SIGN) next = digit ? N_EXPONENT : -2;
            else if (d === DOT && (state === N_ZERO || state === N_INT)) next = N_DOT;
            else if ((d === 0x65 || d === 0x45) && state !== N_EXPONENT) next = N_E;
            if (next === -2) {
              mode = S_FAILED;
              break;
            }
            if (next < 0) {
              mode = this.#valueEnded(base + i); // the number ended before this byte
              break;
            }
            state = next;
            i++;
          }
          this.#aux = state;
          break;
        }
        case S_LITERAL:
          if (c !== this.#literal[this.#aux]) mode = S_FAILED;
          else {
            i++;
            if (++this.#aux === this.#literal.length) mode = this.#valueEnded(base + i);
          }
          break;
        case S_START:
        case S_VALUE:
        case S_ARRAY_FIRST:
        case S_OBJECT_FIRST:
        case S_KEY:
        case S_COLON:
        case S_AFTER:
        case S_DONE:
          if (c === 0x20 || c === NEWLINE || c === CR || c === 0x09) {
            if (line && c === NEWLINE) {
              newline = i;
              break scan;
            }
            i++;
            break;
          }
          // The common steps inside nested values, without a call (dense arrays and objects).
          if (this.#open.length > 1) {
            if (mode === S_AFTER && c === COMMA) {
              mode = this.#open[this.#open.length - 1] ? S_KEY : S_VALUE;
              i++;
              break;
            }
            if (mode === S_COLON && c === COLON) {
              mode = S_VALUE;
              i++;
              break;
            }
            if (c === QUOTE && (mode === S_KEY || mode === S_OBJECT_FIRST)) {
              this.#inKey = true;
              mode = S_STRING;
              i++;
              break;
            }
            if (mode === S_VALUE || mode === S_ARRAY_FIRST) {
              if (c === QUOTE) {
                mode = S_STRING;
                i++;
                break;
              }
              if (c === MINUS || (c >= ZERO && c <= NINE)) {
                this.#aux = c === MINUS ? N_SIGN : c === ZERO ? N_ZERO : N_INT;
                mode = S_NUMBER;
                i++;
                break;
              }
            }
          }
          mode = this.#structural(mode, c, base + i);
          i++;
          break;
      }
    }
    this.#mode = mode;
    if (!line || newline >= 0 || mode !== S_FAILED) return newline;
    // Failed: search on from the byte that failed (no newline before it went unseen).
    return b.indexOf(NEWLINE, i > 0 ? i - 1 : 0);
  }

  /**
   * What {@linkcode scanMessage} returns for the joined chunks, or `undefined`
   * when this scan cannot tell (see the class doc): then ask `scanMessage`.
   */
  end(): ScannedMessage | undefined {
    return this.#mode === S_DONE && !this.#undecided ? this.#out : undefined;
  }

  /** The chunks joined into one buffer (for the caller's fallback). */
  join(): Uint8Array {
    if (this.parts.length !== 1) {
      const joined = concat(this.parts, this.length);
      this.parts.splice(0, this.parts.length, joined);
    }
    return this.parts[0] ?? new Uint8Array(0);
  }

  /** Handles a byte outside strings, numbers and literals (not whitespace); returns the next mode. */
  #structural(mode: number, c: number, at: number): number {
    switch (mode) {
      case S_START:
        if (c !== OPEN_BRACE) return S_FAILED;
        this.#open.push(true);
        return S_OBJECT_FIRST;
      case S_OBJECT_FIRST:
        if (c === CLOSE_BRACE) return this.#close(at + 1);
        return this.#key(c, at);
      case S_KEY:
        return this.#key(c, at);
      case S_COLON:
        return c === COLON ? S_VALUE : S_FAILED;
      case S_ARRAY_FIRST:
        if (c === CLOSE_BRACKET) return this.#close(at + 1);
        return this.#value(c, at);
      case S_VALUE:
        return this.#value(c, at);
      case S_AFTER: {
        const object = this.#open[this.#open.length - 1];
        if (c === COMMA) return object ? S_KEY : S_VALUE;
        if (c !== (object ? CLOSE_BRACE : CLOSE_BRACKET)) return S_FAILED;
        return this.#close(at + 1);
      }
      default: // S_DONE: nothing but whitespace
        return S_FAILED;
    }
  }

  #key(c: number, at: number): number {
    if (c !== QUOTE) return S_FAILED;
    this.#inKey = true;
    if (this.#open.length === 1) this.#keyStart = at;
    return S_STRING;
  }

  /** A value starts with `c` at global offset `at`. */
  #value(c: number, at: number): number {
    if (this.#open.length === 1) {
      this.#valueStart = at;
      this.#valueFirst = c;
    }
    if (c === QUOTE) return S_STRING;
    if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      this.#open.push(c === OPEN_BRACE);
      return c === OPEN_BRACE ? S_OBJECT_FIRST : S_ARRAY_FIRST;
    }
    if (c === MINUS || (c >= ZERO && c <= NINE)) {
      this.#aux = c === MINUS ? N_SIGN : c === ZERO ? N_ZERO : N_INT;
      return S_NUMBER;
    }
    const literal = c === 0x74
      ? LITERAL_TRUE
      : c === 0x66
      ? LITERAL_FALSE
      : c === 0x6e
      ? LITERAL_NULL
      : undefined;
    if (literal === undefined) return S_FAILED;
    this.#literal = literal;
    this.#aux = 1;
    return S_LITERAL;
  }

  /** The open container closed just before global offset `end`. */
  #close(end: number): number {
    this.#open.pop();
    return this.#open.length === 0 ? S_DONE : this.#valueEnded(end);
  }

  /** A value ended just before global offset `end`; records it when it is a read top-level member. */
  #valueEnded(end: number): number {
    if (this.#open.length === 1 && this.#member !== 0) {
      const key = this.#member;
      const out = this.#out;
      this.#member = 0;
      if (key === 4) {
        out.hasResult = true; // its value (most of a large message) is not copied
        return S_AFTER;
      }
      if (key === 8) {
        out.hasError = true;
        return S_AFTER;
      }
      if (key === 32) {
        out.paramsValid = this.#valueFirst === OPEN_BRACE || this.#valueFirst === OPEN_BRACKET;
        return S_AFTER;
      }
      const token = this.#slice(this.#valueStart, end);
      const first = token[0];
      if (key === 1) {
        out.idStart = this.#valueStart;
        out.idEnd = end;
        if (first === QUOTE) out.id = stringValue(token, 0, token.length);
        else if (first === MINUS || (first >= ZERO && first <= NINE)) {
          const value = numberValue(token, 0, token.length);
          out.id = Number.isFinite(value) ? value : null;
        } else out.id = null;
      } else if (key === 2) {
        out.method = first === QUOTE ? stringValue(token, 0, token.length) : null;
      } else {
        out.jsonrpc = first === QUOTE &&
          (sameBytes(token, 0, token.length, VERSION_TOKEN) ||
            stringValue(token, 0, token.length) === "2.0");
      }
    }
    return S_AFTER;
  }

  /**
   * The bit of the top-level key token at global `[start, end)` (quotes
   * included), 0 for a key not read, -1 when it holds escapes.
   */
  #topKey(start: number, end: number): number {
    if (end - start > KEY_TOKEN_MAX) return 0;
    const token = this.#slice(start, end);
    if (token.includes(BACKSLASH)) return -1;
    return keyBit(token, 0, token.length);
  }

  /** The bytes at global `[start, end)`, across chunks (a view when within one). */
  #slice(start: number, end: number): Uint8Array {
    let offset = this.length;
    for (let k = this.parts.length - 1; k >= 0; k--) {
      const part = this.parts[k];
      offset -= part.length;
      if (start >= offset) {
        if (end - offset <= part.length) return part.subarray(start - offset, end - offset);
        // Spans chunks: copy the pieces.
        const out = new Uint8Array(end - start);
        let o = 0;
        for (let j = k; o < out.length; j++) {
          const from = j === k ? start - offset : 0;
          const piece = this.parts[j].subarray(from, from + out.length - o);
          out.set(piece, o);
          o += piece.length;
        }
        return out;
      }
    }
    return new Uint8Array(0);
  }
}
