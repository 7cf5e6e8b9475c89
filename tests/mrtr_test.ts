import assert from "node:assert/strict";
import { fulfilInputRequired, MAX_INPUT_ROUNDS, STATE_ONLY_PACING_MS } from "../src/mrtr.ts";
import { ManualClock } from "../testing/manual_clock.ts";
import type { JsonRpcMessage } from "../src/jsonrpc.ts";

const elicit = { method: "elicitation/create", params: { message: "?" } };
const answering = (answer: JsonRpcMessage) => ({
  capabilities: { elicitation: {}, sampling: {} },
  ask: () => Promise.resolve(answer),
});

Deno.test("fulfilInputRequired: the retry is the original params (an earlier round's answers replaced) with every answer and the state echoed", async () => {
  const asked: string[] = [];
  const round = await fulfilInputRequired(
    "tools/call",
    { name: "t", inputResponses: { old: {} }, requestState: "old" },
    {
      resultType: "input_required",
      inputRequests: { a: elicit, b: { method: "sampling/createMessage", params: {} } },
      requestState: "s2",
    },
    2,
    {
      capabilities: { elicitation: {}, sampling: {} },
      ask: (method) => {
        asked.push(method);
        return Promise.resolve({ jsonrpc: "2.0", id: 1, result: { method } });
      },
    },
  );
  assert.deepEqual(asked, ["elicitation/create", "sampling/createMessage"]);
  assert.deepEqual(round, {
    params: {
      name: "t",
      inputResponses: {
        a: { method: "elicitation/create" },
        b: { method: "sampling/createMessage" },
      },
      requestState: "s2",
    },
  });
});

Deno.test("fulfilInputRequired: fails past the round cap, on an unknown kind, on a result asking nothing, and on the client's error", async () => {
  const ok = answering({ jsonrpc: "2.0", id: 1, result: {} });
  const result = { resultType: "input_required", inputRequests: { a: elicit } };
  const fail = async (r: Record<string, unknown>, round = 1, ctx = ok) =>
    ((await fulfilInputRequired("tools/call", {}, r, round, ctx)) as { failure: string }).failure;
  assert.match(await fail(result, MAX_INPUT_ROUNDS + 1), /after 10 rounds/);
  assert.match(await fail({ inputRequests: { a: { method: "x/y" } } }), /unknown kind \(x\/y\)/);
  assert.match(await fail({ resultType: "input_required" }), /neither inputRequests nor/);
  assert.match(
    await fail(result, 1, answering({ jsonrpc: "2.0", id: 1, error: { code: -1, message: "no" } })),
    /answered input 'a' \(elicitation\/create\) with an error: no/,
  );
});

Deno.test("fulfilInputRequired: a round with only requestState is retried after a pause, asking the client nothing", async () => {
  const clock = new ManualClock();
  let asked = 0;
  const pending = fulfilInputRequired("prompts/get", { name: "p" }, { requestState: "busy" }, 1, {
    capabilities: {},
    ask: () => {
      asked++;
      return Promise.resolve({ jsonrpc: "2.0", id: 1, result: {} });
    },
    clock,
  });
  let done = false;
  pending.then(() => done = true);
  await clock.advance(STATE_ONLY_PACING_MS - 1);
  assert.equal(done, false);
  await clock.advance(1);
  assert.deepEqual(await pending, { params: { name: "p", requestState: "busy" } });
  assert.equal(asked, 0);
});
