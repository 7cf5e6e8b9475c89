/**
 * Multi round-trip requests (MCP 2026-07-28) for a 2025 client: a
 * 2026-07-28 server asks for input inside its result (`resultType:
 * "input_required"` with `inputRequests` and/or `requestState`), where a
 * 2025 client expects the server to send it requests. Where mcpmon stands
 * between the two eras (the gateway, a 2025 session of the HTTP front), it
 * fulfils such a result as the client's SDK would: it sends each embedded
 * request to the client as a request of its own, then retries the original
 * request with the client's answers in `inputResponses` and the
 * `requestState` echoed byte for byte, until the server answers for good or
 * {@linkcode MAX_INPUT_ROUNDS} rounds have passed.
 *
 * One driver for both places: {@linkcode fulfilInputRequired} takes the way
 * to ask the client; the caller sends the retry and answers the failure.
 *
 * The other way round, a 2025 server asks a 2026-07-28 client (of the
 * gateway) with requests of its own, which that client takes only inside a
 * result: {@linkcode InputParking} answers the client's call with
 * `input_required` carrying the server's requests, keeps the server's call
 * open, and when the client sends the call again with `inputResponses` and
 * mcpmon's `requestState`, answers the server's requests with them; the
 * server's final answer goes to that retry.
 *
 * @module
 */
import { ErrorCode, errorResponse, type JsonRpcId, type JsonRpcMessage } from "./jsonrpc.ts";
import type { Logger } from "./log.ts";
import type { Generation } from "./generation.ts";
import type { ClientRequest } from "./slot.ts";
import { type Clock, delay, systemClock } from "./runtime/mod.ts";

/** The requests a server may answer with `input_required` (the spec's list). */
export const INPUT_METHODS: ReadonlySet<string> = new Set([
  "tools/call",
  "prompts/get",
  "resources/read",
]);

/** Rounds of one request before mcpmon gives up (the SDKs' default cap). */
export const MAX_INPUT_ROUNDS = 10;

/** Pause before retrying a round that asked for nothing (only `requestState`: the server sheds load). */
export const STATE_ONLY_PACING_MS = 250;

/** The capability a 2025 client declares for each request a server may embed. */
const CAPABILITY: Readonly<Record<string, string>> = {
  "elicitation/create": "elicitation",
  "sampling/createMessage": "sampling",
  "roots/list": "roots",
};

/**
 * Whether `result`, the answer to `method`, asks for input (a result a 2025
 * client cannot take as it is).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(isInputRequired("tools/call", { resultType: "input_required" }), true);
 * assert.equal(isInputRequired("tools/list", { resultType: "input_required" }), false);
 * assert.equal(isInputRequired("tools/call", { resultType: "complete" }), false);
 * ```
 */
export function isInputRequired(method: string, result: unknown): boolean {
  return INPUT_METHODS.has(method) && typeof result === "object" && result !== null &&
    (result as Record<string, unknown>).resultType === "input_required";
}

/** What one round came to: the params to retry with, or why the request cannot go on. */
export type InputRound = { params: Record<string, unknown> } | { failure: string };

/** How {@linkcode fulfilInputRequired} reaches the client and time. */
export interface InputContext {
  /** The client's capabilities (its `initialize` params' `capabilities`). */
  capabilities: Record<string, unknown> | undefined;
  /** Sends the client a request of mcpmon's own; resolves with its answer. */
  ask(method: string, params: Record<string, unknown> | undefined): Promise<JsonRpcMessage>;
  /** Aborted when the client cancelled the request (or mcpmon stops). */
  signal?: AbortSignal;
  clock?: Clock;
}

/**
 * One round: asks the client every request embedded in `result` (at once,
 * as the SDKs do) and returns the original `params` with the answers in
 * `inputResponses` and `requestState` echoed; or a failure naming the cause
 * (an embedded request the client did not declare the capability for, an
 * unknown kind, an error the client answered with, too many rounds).
 * `round` counts from 1.
 */
export async function fulfilInputRequired(
  method: string,
  params: Record<string, unknown> | undefined,
  result: Record<string, unknown>,
  round: number,
  context: InputContext,
): Promise<InputRound> {
  if (round > MAX_INPUT_ROUNDS) {
    return {
      failure: `'${method}' still required input after ${MAX_INPUT_ROUNDS} rounds; mcpmon gave up`,
    };
  }
  const requests = typeof result.inputRequests === "object" && result.inputRequests !== null
    ? Object.entries(result.inputRequests as Record<string, unknown>)
    : [];
  const state = typeof result.requestState === "string" ? result.requestState : undefined;
  if (requests.length === 0 && state === undefined) {
    return {
      failure:
        `the server asked for input on '${method}' with neither inputRequests nor requestState`,
    };
  }
  const { inputResponses: _, requestState: __, ...original } = params ?? {};
  for (const [key, request] of requests) {
    const kind = (request as Record<string, unknown> | null)?.method;
    const capability = typeof kind === "string" ? CAPABILITY[kind] : undefined;
    if (capability === undefined) {
      return {
        failure: `the server asked for input '${key}' of an unknown kind (${String(kind)})`,
      };
    }
    if (typeof context.capabilities?.[capability] !== "object") {
      return {
        failure: `the server asked for input '${key}' (${kind}), but the client did not declare ` +
          `the ${capability} capability`,
      };
    }
  }
  if (requests.length === 0) {
    await delay(STATE_ONLY_PACING_MS, context.signal, context.clock ?? systemClock);
    return { params: { ...original, requestState: state } };
  }
  const answers = await Promise.all(requests.map(async ([key, request]) => {
    const { method: kind, params: asked } = request as Record<string, unknown>;
    const answer = await context.ask(
      kind as string,
      typeof asked === "object" && asked !== null ? asked as Record<string, unknown> : undefined,
    );
    return [key, kind, answer] as const;
  }));
  const responses: Record<string, unknown> = {};
  for (const [key, kind, answer] of answers) {
    if (answer.error) {
      return {
        failure: `the client answered input '${key}' (${String(kind)}) with an error: ` +
          answer.error.message,
      };
    }
    responses[key] = answer.result ?? {};
  }
  return {
    params: {
      ...original,
      inputResponses: responses,
      ...(state !== undefined ? { requestState: state } : {}),
    },
  };
}

/**
 * The answer to a request whose input could not be had: a tool result with
 * `isError` for `tools/call` (the model reads it), else an internal error.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const tool = inputFailure(1, "tools/call", "no elicitation");
 * assert.equal((tool.result as { isError: boolean }).isError, true);
 * assert.equal(inputFailure(2, "prompts/get", "no elicitation").error?.code, -32603);
 * ```
 */
export function inputFailure(id: JsonRpcId, method: string, message: string): JsonRpcMessage {
  const text = `mcpmon: ${message}`;
  if (method === "tools/call") {
    return { jsonrpc: "2.0", id, result: { content: [{ type: "text", text }], isError: true } };
  }
  return errorResponse(id, ErrorCode.InternalError, text);
}

/**
 * mcpmon's own requests to a client (the input a server asked for) waiting
 * for its answers: one table for each place that asks (the router; each
 * bridged 2025 session of the HTTP front), under ids of that place's own.
 */
export class OwnRequests<K extends string | number> {
  readonly #waiting = new Map<K, (answer: JsonRpcMessage) => void>();

  /**
   * Sends the client `method` under `id` (`send` writes it); resolves with
   * its answer, or, once `signal` aborts, with an error (after `onAbort`,
   * which may tell the client).
   */
  ask(
    id: K,
    method: string,
    params: Record<string, unknown> | undefined,
    send: (request: JsonRpcMessage) => void,
    signal: AbortSignal,
    onAbort?: () => void,
  ): Promise<JsonRpcMessage> {
    return new Promise((resolve) => {
      const done = (answer: JsonRpcMessage) => {
        this.#waiting.delete(id);
        signal.removeEventListener("abort", aborted);
        resolve(answer);
      };
      const aborted = () => {
        onAbort?.();
        done(errorResponse(id, ErrorCode.ServerUnavailable, "cancelled"));
      };
      this.#waiting.set(id, done);
      signal.addEventListener("abort", aborted, { once: true });
      send(
        params === undefined
          ? { jsonrpc: "2.0", id, method }
          : { jsonrpc: "2.0", id, method, params },
      );
    });
  }

  /** The client's answer to request `id`: true when it was one of these (it is taken). */
  answer(id: K, message: JsonRpcMessage): boolean {
    const waiting = this.#waiting.get(id);
    waiting?.(message);
    return waiting !== undefined;
  }
}

/** The requests a 2025 server may send a client that a 2026-07-28 client takes inside a result. */
export const INPUT_KINDS: ReadonlySet<string> = new Set(Object.keys(CAPABILITY));

/** How long a parked call waits for the client to come back with the input (10 minutes). */
export const PARKED_TIMEOUT_MS = 10 * 60_000;

/** The prefix of mcpmon's own `requestState` tokens. */
const TOKEN_PREFIX = "mcpmon-input:";

/**
 * A call of a modern client to a 2025 process that may need input (it takes
 * `input_required`): the router's route of it serves as it is.
 */
export interface OpenCall {
  /** The client's request as sent to the process (its first round). */
  readonly request: ClientRequest;
  readonly gen: Generation;
  /** Its id at that process. */
  readonly id: number;
  /** What its answer goes through before it reaches the client. */
  readonly transform?: (response: JsonRpcMessage) => void;
}

/** What {@linkcode InputParking} needs from the router. */
export interface ParkingHost {
  /** Answers a client request (the modern shape is added by the router). */
  answer(response: JsonRpcMessage): void;
  /** Passes the process's answer of `call` to the client's request `to` (its id, the call's reshaping). */
  finish(call: OpenCall, to: ClientRequest, response: JsonRpcMessage): void;
  /** Records (or forgets, with undefined) where a client request is in flight, for its cancel. */
  track(clientId: JsonRpcId, at: { gen: Generation; id: number } | undefined): void;
  readonly log: Logger;
  readonly clock: Clock;
}

/** A call whose process asked the client for input. */
interface Parked {
  readonly token: string;
  readonly call: OpenCall;
  /** The client's request the next answer goes to; undefined while the client is away with the input. */
  client: ClientRequest | undefined;
  /** The process's requests the client was asked, by their key in `inputRequests`. */
  readonly asked: Map<string, JsonRpcId>;
  /** Its requests that came while no request of the client was open: the next round asks them. */
  queued: { key: string; id: JsonRpcId; method: string; params: unknown }[];
  /** Its answer, when it came while no request of the client was open. */
  answer: JsonRpcMessage | undefined;
  /** Gives the call up when the client does not come back. */
  timer: unknown;
}

/**
 * A 2026-07-28 client's calls to 2025 processes, and those parked because
 * their process asked for input. The router tells it of each call
 * ({@linkcode InputParking.opened}, {@linkcode InputParking.answered}), of
 * each request a process sends ({@linkcode InputParking.serverRequest}), and
 * hands it the client's retries ({@linkcode InputParking.retry}).
 */
export class InputParking {
  readonly #host: ParkingHost;
  /** Calls in flight that may take input, by the key of the client's id. */
  readonly #open = new Map<string, OpenCall>();
  readonly #parked = new Map<string, Parked>();
  #next = 1;

  constructor(host: ParkingHost) {
    this.#host = host;
  }

  /** A call that may take input went to a 2025 process. */
  opened(key: string, call: OpenCall): void {
    this.#open.set(key, call);
  }

  /**
   * The process answered `call`: true when the answer was taken here (the
   * call is parked: it goes to the client's retry, now or when it comes).
   */
  answered(key: string, call: OpenCall, response: JsonRpcMessage): boolean {
    if (this.#open.get(key) === call) this.#open.delete(key);
    const parked = this.#parkedOf(call);
    if (!parked) return false;
    if (parked.client) this.#finish(parked, response);
    else parked.answer = response;
    return true;
  }

  /**
   * A 2025 process sent the client a request: when it is input a 2026-07-28
   * client can give, it goes into an `input_required` answer of the one call
   * of the client's open at that process, or waits for the client's retry of
   * a parked one; true when taken here. A request no single call can carry
   * is answered with an error (the client could not take it).
   */
  serverRequest(gen: Generation, id: JsonRpcId, method: string, params: unknown): boolean {
    if (!INPUT_KINDS.has(method)) return false;
    const parkedHere = [...this.#parked.values()].filter((p) => p.call.gen === gen);
    const calls = [...this.#open].filter(([, call]) => call.gen === gen);
    if (parkedHere.length + calls.length !== 1) {
      // On stdio a 2025 server's request names no request of the client's: one call must be it.
      const n = parkedHere.length + calls.length;
      gen.send(errorResponse(
        id,
        ErrorCode.InternalError,
        `mcpmon: the client speaks MCP 2026-07-28, which takes ${method} only inside the result ` +
          (n === 0
            ? "of a call of its own, and no call of its is open at this server"
            : `of a call of its own, and ${n} of its calls are open at this server: which one asks is unknown`),
      ));
      return true;
    }
    let parked = parkedHere[0];
    if (!parked) {
      const [key, call] = calls[0];
      this.#open.delete(key);
      parked = {
        token: `${TOKEN_PREFIX}${this.#next++}:${crypto.randomUUID()}`,
        call,
        client: call.request,
        asked: new Map(),
        queued: [],
        answer: undefined,
        timer: undefined,
      };
      this.#parked.set(parked.token, parked);
    }
    parked.queued.push({ key: `input-${this.#next++}`, id, method, params });
    if (parked.client) this.#ask(parked);
    return true;
  }

  /**
   * A client request carrying mcpmon's `requestState` (its retry of a parked
   * call): the process's requests get the client's answers, and the call's
   * answer goes to this request. Returns false when `requestState` is not
   * mcpmon's (the request goes on as it is); answers an expired one itself.
   */
  retry(c: ClientRequest): boolean {
    const params = (c.message.params ?? {}) as Record<string, unknown>;
    const token = params.requestState;
    if (typeof token !== "string" || !token.startsWith(TOKEN_PREFIX)) return false;
    const parked = this.#parked.get(token);
    if (!parked || parked.client) {
      this.#host.answer(errorResponse(
        c.id,
        ErrorCode.InvalidParams,
        "Invalid or expired requestState (mcpmon's: the call it continued is over, or was taken up already)",
      ));
      return true;
    }
    this.#host.clock.clearTimeout(parked.timer);
    const { gen } = parked.call;
    const responses = typeof params.inputResponses === "object" && params.inputResponses !== null
      ? params.inputResponses as Record<string, unknown>
      : {};
    for (const [key, id] of parked.asked) {
      if (gen.state === "exited") break;
      const result = responses[key];
      gen.send(
        typeof result === "object" && result !== null
          ? { jsonrpc: "2.0", id, result: result as Record<string, unknown> }
          : errorResponse(id, ErrorCode.InternalError, "the client gave no answer to it"),
      );
    }
    parked.asked.clear();
    parked.client = c;
    this.#host.track(c.id, { gen, id: parked.call.id });
    if (parked.answer) {
      const answer = parked.answer;
      parked.answer = undefined;
      this.#finish(parked, answer);
    } else if (parked.queued.length > 0) this.#ask(parked);
    return true;
  }

  /** The client cancelled a request: a parked call it was the retry of is over. */
  cancelled(clientId: JsonRpcId): void {
    for (const parked of this.#parked.values()) {
      if (parked.client?.id === clientId) this.#drop(parked, "the client cancelled the call");
    }
  }

  /** mcpmon stops: nothing is parked any more. */
  close(): void {
    for (const parked of [...this.#parked.values()]) this.#drop(parked, "mcpmon is shutting down");
    this.#open.clear();
  }

  #parkedOf(call: OpenCall): Parked | undefined {
    for (const parked of this.#parked.values()) if (parked.call === call) return parked;
    return undefined;
  }

  /** Answers the client's open request with the queued requests as `input_required`. */
  #ask(parked: Parked) {
    const client = parked.client!;
    const inputRequests: Record<string, unknown> = {};
    for (const q of parked.queued) {
      inputRequests[q.key] = q.params === undefined
        ? { method: q.method }
        : { method: q.method, params: q.params };
      parked.asked.set(q.key, q.id);
    }
    parked.queued = [];
    parked.client = undefined;
    this.#host.track(client.id, undefined);
    this.#host.answer({
      jsonrpc: "2.0",
      id: client.id,
      result: { resultType: "input_required", inputRequests, requestState: parked.token },
    });
    parked.timer = this.#host.clock.setTimeout(() => {
      this.#host.log.info(
        `${parked.call.request.method}: the client did not come back with the input within ${
          PARKED_TIMEOUT_MS / 60_000
        } minutes; the call is given up`,
        { pid: parked.call.gen.pid },
      );
      this.#drop(parked, "the client did not come back with the input");
    }, PARKED_TIMEOUT_MS);
  }

  #finish(parked: Parked, response: JsonRpcMessage) {
    this.#parked.delete(parked.token);
    this.#host.clock.clearTimeout(parked.timer);
    this.#host.finish(parked.call, parked.client!, response);
  }

  /** Gives a parked call up: its process's open requests get an error, the call is cancelled there. */
  #drop(parked: Parked, why: string) {
    this.#parked.delete(parked.token);
    this.#host.clock.clearTimeout(parked.timer);
    const { gen } = parked.call;
    if (gen.state === "exited") return;
    for (const id of [...parked.asked.values(), ...parked.queued.map((q) => q.id)]) {
      gen.send(errorResponse(id, ErrorCode.InternalError, `mcpmon: ${why}`));
    }
    if (parked.answer || parked.client) return; // answered, or the router cancels the client's retry
    const ownId = parked.call.id;
    gen.cancel(ownId);
    gen.send({
      jsonrpc: "2.0",
      method: "notifications/cancelled",
      params: { requestId: ownId, reason: why },
    });
  }
}
