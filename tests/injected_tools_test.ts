import assert from "node:assert/strict";
import {
  diffTools,
  gatewayRestartToolDefinition,
  statusText,
  statusToolDefinition,
} from "../src/injected_tools.ts";

Deno.test("the gateway's restart_server takes the server to restart, one of those behind it", () => {
  const tool = gatewayRestartToolDefinition(["alpha", "beta"]);
  const schema = tool.inputSchema as {
    properties: { server: { enum: string[] } };
    required: string[];
  };
  assert.equal(tool.name, "restart_server");
  assert.deepEqual(schema.properties.server.enum, ["alpha", "beta"]);
  assert.deepEqual(schema.required, ["server"]);
  assert.equal(statusToolDefinition().name, "server_status");
});

Deno.test("server_status reports each server's state, pid, restarts, last reason and last error", () => {
  const text = statusText([
    { name: "alpha", state: "ready", pid: 42, restarts: 1, lastReason: "modify: a.py" },
    { name: "beta", state: "failed", restarts: 0, lastError: "exited with code 1\nTraceback" },
  ]);
  assert.equal(
    text,
    "alpha: ready, pid 42, 1 restart(s), last reason: modify: a.py\n" +
      "beta: failed, 0 restart(s)\n  last error: exited with code 1\n  Traceback",
  );
});

Deno.test("the tool diff names tools added, removed and changed", () => {
  const diff = diffTools(
    [{ name: "a", description: "x" }, { name: "b" }],
    [{ name: "a", description: "y" }, { name: "c" }],
  );
  assert.deepEqual(diff, { added: ["c"], removed: ["b"], changed: ["a"] });
});
