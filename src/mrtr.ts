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
 * @module
 */
import { ErrorCode, errorResponse, type JsonRpcId, type JsonRpcMessage } from "./jsonrpc.ts";
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
