import assert from "node:assert/strict";
import {
  advertiseListChanged,
  declaredLists,
  gatewayInitializeResult,
  standInInitializeResult,
} from "../src/capabilities.ts";

Deno.test("a server's initialize result advertises listChanged for the lists it declares, and only those", () => {
  const result = advertiseListChanged({
    protocolVersion: "2025-06-18",
    capabilities: { tools: {}, resources: { subscribe: true }, logging: {} },
  });
  assert.deepEqual(result.capabilities, {
    tools: { listChanged: true },
    resources: { subscribe: true, listChanged: true },
    logging: {},
  });
  assert.deepEqual(declaredLists(result), ["tools", "resources"]);
});

Deno.test("the gateway answers with the client's version, every list changing, and names its servers", () => {
  const result = gatewayInitializeResult("2025-11-25", ["alpha", "beta"], "__", [
    "restart_server",
    "server_status",
  ]);
  assert.equal(result.protocolVersion, "2025-11-25");
  assert.deepEqual(declaredLists(result), ["tools", "prompts", "resources"]);
  assert.match(String(result.instructions), /2 MCP server\(s\): alpha, beta.*<server>__<name>/);
  assert.equal(
    gatewayInitializeResult(undefined, [], "__", ["a", "b"]).protocolVersion,
    "2025-06-18",
  );
});

Deno.test("the stand-in for a failed first server names it and declares every list", () => {
  const result = standInInitializeResult("2025-06-18", "api");
  assert.equal(result.serverInfo.name, "mcpmon (api)");
  assert.deepEqual(declaredLists(result), ["tools", "prompts", "resources"]);
});
