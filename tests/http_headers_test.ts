/**
 * Credentials for servers on Streamable HTTP (`src/http_headers.ts`, used by `src/http_backend.ts`):
 * the configured headers go on every request (POST, the GET stream, the closing DELETE), a 401/403
 * is one clear error naming the URL and the challenge, never retried, and no value a header
 * carries ever shows in what mcpmon writes.
 */
import assert from "node:assert/strict";
import { challengeSummary, expandHeaderVars, parseHeader, redactor } from "../src/http_headers.ts";
import { connect, drive, initialize, serve } from "./_http_child.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const TOKEN = "tok-4f9a1c77e2";

Deno.test(
  "the configured headers go on every request: the POSTs, the GET stream and the closing DELETE",
  opts,
  async () => {
    const seen: { method: string; auth: string | null; team: string | null }[] = [];
    let getStreams = 0;
    const server = serve((req) => {
      seen.push({
        method: req.method,
        auth: req.headers.get("authorization"),
        team: req.headers.get("x-team"),
      });
      if (req.method === "GET") {
        getStreams++;
        return new Response(new ReadableStream(), {
          headers: { "content-type": "text/event-stream" },
        });
      }
      if (req.method === "DELETE") return new Response(null, { status: 200 });
      return req.json().then((body) =>
        body.id === undefined ? new Response(null, { status: 202 }) : Response.json(
          { jsonrpc: "2.0", id: body.id, result: { protocolVersion: "2025-11-25" } },
          { headers: { "mcp-session-id": "s1" } },
        )
      );
    });
    const child = connect(server.url, {
      headers: { Authorization: `Bearer ${TOKEN}`, "X-Team": "dev" },
    });
    const io = drive(child);
    await io.send(initialize);
    await io.until(() => io.lines.length === 1, "the initialize answer");
    await io.send({ jsonrpc: "2.0", method: "notifications/initialized" });
    await io.until(() => getStreams === 1, "the GET stream");
    child.killGroup("SIGTERM");
    await child.exited;
    assert.deepEqual(seen.map((s) => s.method), ["POST", "POST", "GET", "DELETE"]);
    for (const s of seen) {
      assert.equal(s.auth, `Bearer ${TOKEN}`, `${s.method} carries Authorization`);
      assert.equal(s.team, "dev", `${s.method} carries X-Team`);
    }
    await server.close();
  },
);

Deno.test(
  "a 401 answers the request with an error naming the URL, the status and the WWW-Authenticate challenge, and how to pass credentials; it is logged once and never retried",
  opts,
  async () => {
    let posts = 0;
    const server = serve(() => {
      posts++;
      return Response.json(
        { error: "invalid_token", error_description: "Missing bearer token" },
        {
          status: 401,
          headers: {
            "www-authenticate": 'Bearer realm="dev", error="invalid_token", ' +
              'resource_metadata="http://127.0.0.1/.well-known/oauth-protected-resource", nonce="x"',
          },
        },
      );
    });
    const child = connect(server.url);
    const io = drive(child);
    await io.send(initialize);
    await io.send({ jsonrpc: "2.0", id: 2, method: "tools/list" });
    await io.until(() => io.lines.length === 2, "two answers");
    const error = io.lines[0].error as { message: string };
    assert.equal(io.lines[0].id, 1);
    assert.equal(
      error.message,
      `mcpmon: the server at ${server.url} refused mcpmon: 401 Unauthorized (WWW-Authenticate: ` +
        'Bearer realm="dev", error="invalid_token", ' +
        'resource_metadata="http://127.0.0.1/.well-known/oauth-protected-resource"): ' +
        "invalid_token: Missing bearer token; pass its credentials with --header / headers: " +
        '(e.g. --header "Authorization: Bearer ${TOKEN}")',
    );
    assert.equal(posts, 2, "one POST per request: no retry");
    await io.until(() => io.stderr.includes("refused mcpmon"), "the log line");
    assert.equal(io.stderr.split("refused mcpmon").length - 1, 1, "logged once");
    child.killGroup("SIGTERM");
    await child.exited;
    await server.close();
  },
);

Deno.test(
  "a 403 with credentials sent names the headers mcpmon sent but never their values, even when the server echoes them",
  opts,
  async () => {
    const server = serve((req) =>
      new Response(`forbidden: ${req.headers.get("authorization")} lacks scope`, {
        status: 403,
        headers: { "www-authenticate": 'Bearer error="insufficient_scope", scope="tools:write"' },
      })
    );
    const child = connect(server.url, { headers: { Authorization: `Bearer ${TOKEN}` } });
    const io = drive(child);
    await io.send(initialize);
    await io.until(() => io.lines.length === 1, "the answer");
    const message = (io.lines[0].error as { message: string }).message;
    assert.match(message, /refused mcpmon: 403 Forbidden/);
    assert.match(message, /error="insufficient_scope", scope="tools:write"/);
    assert.match(message, /mcpmon sent Authorization: check the credentials/);
    assert.match(message, /forbidden: \[redacted\] lacks scope/);
    await io.until(() => io.stderr.includes("refused"), "the log line");
    child.killGroup("SIGTERM");
    await child.exited;
    for (const text of [message, io.stderr]) {
      assert.ok(!text.includes(TOKEN), `no token in: ${text}`);
    }
    await server.close();
  },
);

Deno.test("parseHeader, expandHeaderVars, redactor and challengeSummary on their edge cases", () => {
  assert.deepEqual(parseHeader("X-Empty:"), ["X-Empty", ""]);
  assert.deepEqual(parseHeader("X-Colon: a:b"), ["X-Colon", "a:b"]);
  assert.throws(() => parseHeader(": v"), /not a header/);
  assert.throws(() => parseHeader("Mcp-Param-Region: eu"), /mcpmon sets it itself/);
  assert.throws(() => parseHeader("Accept: */*"), /mcpmon sets it itself/);
  assert.equal(expandHeaderVars("a ${X} b ${Y}", (n) => n.toLowerCase()), "a x b y");
  assert.equal(expandHeaderVars("$HOME and $", () => "no"), "$HOME and $");
  assert.equal(redactor(undefined)("Bearer x"), "Bearer x");
  assert.equal(
    redactor({ A: "Bearer abcdef" })("Bearer abcdef / abcdef"),
    "[redacted] / [redacted]",
  );
  assert.equal(challengeSummary("Basic"), "Basic");
  assert.equal(challengeSummary('Bearer realm="a \\"b\\""'), 'Bearer realm="a \\"b\\""');
  assert.equal(challengeSummary("   "), "");
});
