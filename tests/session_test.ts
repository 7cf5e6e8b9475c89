import assert from "node:assert/strict";
import { Session } from "../src/session.ts";

const req = (id: number, method: string, params?: Record<string, unknown>) => ({
  jsonrpc: "2.0" as const,
  id,
  method,
  params,
});

Deno.test("Session keeps the client's first initialize params and ignores a second", () => {
  const s = new Session();
  s.observe(req(1, "initialize", { clientInfo: { name: "a" } }));
  s.observe(req(2, "initialize", { clientInfo: { name: "b" } }));
  assert.deepEqual(s.initializeParams, { clientInfo: { name: "a" } });
});

Deno.test("Session.eraDecided resolves once the client sends initialize (what a new server process waits for)", async () => {
  const s = new Session();
  const ready = s.eraDecided();
  s.observe(req(1, "initialize", { protocolVersion: "2025-06-18" }));
  assert.equal(await ready, "legacy");
  assert.equal(await s.eraDecided(), "legacy");
  assert.deepEqual(s.initializeParams, { protocolVersion: "2025-06-18" });
});

Deno.test("Session replays initialized, then the last log level, then current subscriptions", () => {
  const s = new Session();
  s.observe(req(1, "initialize", {}));
  s.observe({ jsonrpc: "2.0", method: "notifications/initialized" });
  s.observe(req(2, "logging/setLevel", { level: "info" }));
  s.observe(req(3, "logging/setLevel", { level: "debug" }));
  s.observe(req(4, "resources/subscribe", { uri: "a://1" }));
  s.observe(req(5, "resources/subscribe", { uri: "a://2" }));
  s.observe(req(6, "resources/unsubscribe", { uri: "a://1" }));
  assert.deepEqual(s.replay(), [
    { method: "notifications/initialized", notification: true },
    { method: "logging/setLevel", params: { level: "debug" }, notification: false },
    { method: "resources/subscribe", params: { uri: "a://2" }, notification: false },
  ]);
  assert.equal(s.logLevel, "debug");
  assert.deepEqual(s.subscriptions, ["a://2"]);
});

Deno.test("Session replays nothing before the client sent notifications/initialized", () => {
  const s = new Session();
  s.observe(req(1, "initialize", {}));
  assert.deepEqual(s.replay(), []);
  assert.equal(s.initialized, false);
});

Deno.test("Session ignores other methods and malformed params", () => {
  const s = new Session();
  s.observe(req(1, "tools/call", { name: "x" }));
  s.observe(req(2, "logging/setLevel", { level: 5 }));
  s.observe(req(3, "resources/subscribe", {}));
  assert.equal(s.logLevel, undefined);
  assert.deepEqual(s.subscriptions, []);
});
