/**
 * The HTTP front's spec, against fake line-level peers (no process, no socket): status codes for
 * bad input, Origin, Host and token checks, limits, legacy sessions (ids, GET stream, DELETE) and
 * the modern era's mechanics (header checks, shared peer with own ids, listens, cancellation).
 */
import assert from "node:assert/strict";
import { parseListen } from "../src/cli.ts";
import {
  HEADER_MISMATCH,
  HttpFront,
  type HttpFrontOptions,
  type LinePeer,
} from "../src/http_front.ts";
import { parseCli, UsageError } from "../src/cli.ts";
import { ManualClock } from "../testing/manual_clock.ts";

// deno-lint-ignore no-explicit-any
type Msg = Record<string, any>;

/** A peer that records what it gets and answers requests at once (unless held). */
class FakePeer implements LinePeer {
  readonly received: Msg[] = [];
  closed = false;
  /** Methods left unanswered (answer them with `reply`). */
  hold = new Set<string>(["hold", "subscriptions/listen"]);
  constructor(readonly send: (line: string) => void, readonly label: string) {}
  handleClientLine(line: string): undefined {
    const message = JSON.parse(line);
    this.received.push(message);
    if (message.method === "initialize" && message.params?.fail) {
      this.reply({ jsonrpc: "2.0", id: message.id, error: { code: -32000, message: "boom" } });
    } else if (
      message.id !== undefined && message.method && !this.hold.has(message.method) &&
      message.params?.name !== "slow"
    ) {
      this.reply({
        jsonrpc: "2.0",
        id: message.id,
        result: { method: message.method, peer: this.label },
      });
    }
    return undefined;
  }
  reply(message: Msg): void {
    this.send(JSON.stringify(message));
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

/** A front over fake peers; `peers` lists them in the order they were opened. */
function makeFront(options: Partial<HttpFrontOptions> = {}, hold: string[] = []) {
  const peers: FakePeer[] = [];
  let next = 1;
  const front = new HttpFront({
    hostname: "127.0.0.1",
    maxBodyBytes: 1024,
    newSessionId: () => `s${next++}`,
    openPeer: (send, label) => {
      const peer = new FakePeer(send, label.kind === "session" ? label.id : "modern");
      for (const method of hold) peer.hold.add(method);
      peers.push(peer);
      return peer;
    },
    ...options,
  });
  return { front, peers };
}

const URL_ = "http://127.0.0.1:8080/mcp";
const JSON_AND_SSE = "application/json, text/event-stream";

function request(
  body: unknown,
  headers: Record<string, string> = {},
  init: RequestInit = {},
): Request {
  return new Request(URL_, {
    method: "POST",
    headers: { "content-type": "application/json", accept: JSON_AND_SSE, ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
    ...init,
  });
}

const initialize = (id: number | string = 1, params: Msg = {}) => ({
  jsonrpc: "2.0",
  id,
  method: "initialize",
  params: {
    protocolVersion: "2025-06-18",
    capabilities: {},
    clientInfo: { name: "t", version: "1" },
    ...params,
  },
});

async function openSession(front: HttpFront): Promise<string> {
  const response = await front.handle(request(initialize()));
  assert.equal(response.status, 200);
  await response.body?.cancel();
  return response.headers.get("mcp-session-id")!;
}

/** Reads SSE `message` events from a response, one at a time. */
function sseReader(response: Response) {
  assert.equal(response.headers.get("content-type"), "text/event-stream");
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  /** The next event with an id or data (comments skipped): its id and data text. */
  const nextEvent = async (): Promise<{ id?: string; data: string } | undefined> => {
    while (true) {
      const end = buffer.indexOf("\n\n");
      if (end !== -1) {
        const lines = buffer.slice(0, end).split("\n");
        buffer = buffer.slice(end + 2);
        const id = lines.find((l) => l.startsWith("id: "))?.slice(4);
        const data = lines.filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart());
        if (id !== undefined || data.length > 0) return { id, data: data.join("\n") };
        continue;
      }
      const { done, value } = await reader.read();
      if (done) return undefined;
      buffer += decoder.decode(value, { stream: true });
    }
  };
  return {
    nextEvent,
    async next(): Promise<Msg | undefined> {
      while (true) {
        const event = await nextEvent();
        if (event === undefined) return undefined;
        if (event.data !== "") return JSON.parse(event.data);
      }
    },
    cancel: () => reader.cancel(),
  };
}

const modernHeaders = (method: string, name?: string): Record<string, string> => ({
  "mcp-protocol-version": "2026-07-28",
  "mcp-method": method,
  ...(name !== undefined ? { "mcp-name": name } : {}),
});

const modern = (id: number | string, method: string, params: Msg = {}) => ({
  jsonrpc: "2.0",
  id,
  method,
  params: {
    ...params,
    _meta: {
      "io.modelcontextprotocol/protocolVersion": "2026-07-28",
      "io.modelcontextprotocol/clientCapabilities": {},
      ...params._meta,
    },
  },
});

/** Lets queued microtasks and stream callbacks run. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

// ── security and bad input ──────────────────────────────────────────────────

Deno.test("http front: a foreign Origin gets 403 with a JSON-RPC error; loopback origins and none are served", async () => {
  const { front } = makeFront();
  const foreign = await front.handle(request(initialize(), { origin: "http://evil.example" }));
  assert.equal(foreign.status, 403);
  assert.equal((await foreign.json()).error.code, -32600);
  const nullOrigin = await front.handle(request(initialize(), { origin: "null" }));
  assert.equal(nullOrigin.status, 403);
  await nullOrigin.body?.cancel();
  for (const origin of ["http://localhost:3000", "http://127.0.0.1:6274", "http://[::1]"]) {
    const ok = await front.handle(request(initialize(origin.length), { origin }));
    assert.equal(ok.status, 200, origin);
    await ok.body?.cancel();
  }
  await front.close();
});

Deno.test("http front: on a loopback bind, a Host that is not loopback gets 403 (DNS rebinding)", async () => {
  const { front } = makeFront();
  const rebound = await front.handle(request(initialize(), { host: "evil.example:8080" }));
  assert.equal(rebound.status, 403);
  await rebound.body?.cancel();
  const ok = await front.handle(request(initialize(), { host: "localhost:8080" }));
  assert.equal(ok.status, 200);
  await ok.body?.cancel();
  await front.close();
});

Deno.test("http front: with a token, a request without the right bearer gets 401 and WWW-Authenticate", async () => {
  const { front } = makeFront({ hostname: "0.0.0.0", token: "s3cret" });
  for (const auth of [undefined, "Bearer wrong", "Basic s3cret", "Bearer s3cre"]) {
    const response = await front.handle(
      request(initialize(), auth ? { authorization: auth } : {}),
    );
    assert.equal(response.status, 401, String(auth));
    assert.match(response.headers.get("www-authenticate") ?? "", /^Bearer/);
    await response.body?.cancel();
  }
  const ok = await front.handle(request(initialize(), { authorization: "Bearer s3cret" }));
  assert.equal(ok.status, 200);
  await ok.body?.cancel();
  await front.close();
});

Deno.test("http front: a body over the limit gets 413, by Content-Length or as it streams", async () => {
  const { front, peers } = makeFront({ maxBodyBytes: 100 });
  const big = JSON.stringify({ ...initialize(), pad: "x".repeat(200) });
  const declared = await front.handle(request(big));
  assert.equal(declared.status, 413);
  await declared.body?.cancel();
  const streamed = await front.handle(
    new Request(URL_, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: new Blob([big]).stream(),
      duplex: "half",
    } as RequestInit),
  );
  assert.equal(streamed.status, 413);
  await streamed.body?.cancel();
  assert.equal(peers.length, 0, "nothing reached a peer");
});

Deno.test("http front: wrong method 405 (with Allow), wrong content type 415, Accept without JSON or SSE 406, another path 404", async () => {
  const { front } = makeFront();
  const put = await front.handle(new Request(URL_, { method: "PUT", body: "{}" }));
  assert.equal(put.status, 405);
  assert.match(put.headers.get("allow") ?? "", /POST/);
  await put.body?.cancel();
  const text = await front.handle(request(initialize(), { "content-type": "text/plain" }));
  assert.equal(text.status, 415);
  await text.body?.cancel();
  const html = await front.handle(request(initialize(), { accept: "text/html" }));
  assert.equal(html.status, 406);
  await html.body?.cancel();
  const elsewhere = await front.handle(
    new Request("http://127.0.0.1:8080/other", { method: "POST" }),
  );
  assert.equal(elsewhere.status, 404);
  await elsewhere.body?.cancel();
  for (const method of ["GET", "DELETE"]) {
    const sessionless = await front.handle(new Request(URL_, { method }));
    assert.equal(sessionless.status, 405, `${method} without a session (2026-07-28: 405)`);
    await sessionless.body?.cancel();
  }
});

Deno.test("http front: malformed JSON is a JSON-RPC parse error with 400; a batch and a non-JSON-RPC body are invalid requests with 400", async () => {
  const { front } = makeFront();
  const broken = await front.handle(request('{"jsonrpc": "2.0", "id": 1,'));
  assert.equal(broken.status, 400);
  const body = await broken.json();
  assert.equal(body.error.code, -32700);
  assert.equal(body.id, null);
  for (const bad of ["[]", '[{"jsonrpc":"2.0","id":1,"method":"ping"}]', '{"id":1}', "42"]) {
    const response = await front.handle(request(bad));
    assert.equal(response.status, 400, bad);
    assert.equal((await response.json()).error.code, -32600, bad);
  }
});

Deno.test("http front: past the limit of open responses, 429", async () => {
  const { front, peers } = makeFront({ maxOpen: 1 });
  const session = await openSession(front);
  const waiting = front.handle(
    request({ jsonrpc: "2.0", id: 2, method: "hold" }, {
      "mcp-session-id": session,
      accept: "application/json",
    }),
  );
  await settle();
  const refused = await front.handle(
    request({ jsonrpc: "2.0", id: 3, method: "ping" }, { "mcp-session-id": session }),
  );
  assert.equal(refused.status, 429);
  await refused.body?.cancel();
  peers[0].reply({ jsonrpc: "2.0", id: 2, result: {} });
  assert.equal((await waiting).status, 200);
  assert.equal(front.openResponses, 0);
  await front.close();
});

Deno.test("http front: a new session past the limit ends the least recently used idle one; when every session is busy, 503", async () => {
  const { front, peers } = makeFront({ maxSessions: 2 });
  const first = await openSession(front);
  const second = await openSession(front);
  const use = await front.handle(
    request({ jsonrpc: "2.0", id: 2, method: "ping" }, { "mcp-session-id": first }),
  );
  await use.body?.cancel();
  const third = await openSession(front);
  assert.equal(peers[1].closed, true, `${second}, the least recently used, ended`);
  assert.equal(peers[0].closed, false);
  const gone = await front.handle(
    request({ jsonrpc: "2.0", id: 3, method: "ping" }, { "mcp-session-id": second }),
  );
  assert.equal(gone.status, 404);
  await gone.body?.cancel();
  const streams = await Promise.all(
    [first, third].map((id) =>
      front.handle(
        new Request(URL_, { headers: { accept: "text/event-stream", "mcp-session-id": id } }),
      )
    ),
  );
  const busy = await front.handle(request(initialize()));
  assert.equal(busy.status, 503, "every session has its GET stream open");
  await busy.body?.cancel();
  for (const s of streams) await s.body?.cancel();
  await front.close();
});

// ── legacy sessions ─────────────────────────────────────────────────────────

Deno.test("http front: initialize opens a session with its own peer and an Mcp-Session-Id; other requests need the id (400 without it, 404 for an unknown one)", async () => {
  const { front, peers } = makeFront();
  const response = await front.handle(request(initialize(7)));
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "application/json");
  assert.equal(response.headers.get("mcp-session-id"), "s1");
  assert.deepEqual((await response.json()).id, 7);
  assert.equal(peers.length, 1);
  const without = await front.handle(request({ jsonrpc: "2.0", id: 8, method: "tools/list" }));
  assert.equal(without.status, 400);
  assert.match((await without.json()).error.message, /Mcp-Session-Id/);
  const unknown = await front.handle(
    request({ jsonrpc: "2.0", id: 9, method: "tools/list" }, { "mcp-session-id": "nope" }),
  );
  assert.equal(unknown.status, 404);
  await unknown.body?.cancel();
  const again = await front.handle(request(initialize(10), { "mcp-session-id": "s1" }));
  assert.equal(again.status, 400, "a session initializes once");
  await again.body?.cancel();
  await front.close();
});

Deno.test("http front: two sessions use the same ids at once, each gets its own peer's answer", async () => {
  const { front, peers } = makeFront();
  const a = await openSession(front);
  const b = await openSession(front);
  for (const peer of peers) peer.hold.add("tools/call");
  const call = (session: string) =>
    front.handle(request({ jsonrpc: "2.0", id: 5, method: "tools/call", params: { name: "x" } }, {
      "mcp-session-id": session,
      accept: "application/json",
    }));
  const [ra, rb] = [call(a), call(b)];
  await settle();
  peers[1].reply({ jsonrpc: "2.0", id: 5, result: { from: "b" } });
  peers[0].reply({ jsonrpc: "2.0", id: 5, result: { from: "a" } });
  assert.deepEqual((await (await ra).json()).result, { from: "a" });
  assert.deepEqual((await (await rb).json()).result, { from: "b" });
  const duplicate = front.handle(
    request({ jsonrpc: "2.0", id: 6, method: "hold" }, {
      "mcp-session-id": a,
      accept: "application/json",
    }),
  );
  await settle();
  const clash = await front.handle(
    request({ jsonrpc: "2.0", id: 6, method: "hold" }, { "mcp-session-id": a }),
  );
  assert.equal(clash.status, 400, "an id already in flight in this session");
  await clash.body?.cancel();
  peers[0].reply({ jsonrpc: "2.0", id: 6, result: {} });
  await (await duplicate).body?.cancel();
  await front.close();
});

Deno.test("http front: notifications and the client's answers get 202 and reach the session's peer", async () => {
  const { front, peers } = makeFront();
  const session = await openSession(front);
  const note = await front.handle(
    request({ jsonrpc: "2.0", method: "notifications/initialized" }, { "mcp-session-id": session }),
  );
  assert.equal(note.status, 202);
  const answer = await front.handle(
    request({ jsonrpc: "2.0", id: "s1", result: { roots: [] } }, { "mcp-session-id": session }),
  );
  assert.equal(answer.status, 202);
  assert.deepEqual(peers[0].received.map((m) => m.method ?? `answer ${m.id}`), [
    "initialize",
    "notifications/initialized",
    "answer s1",
  ]);
  await front.close();
});

Deno.test("http front: GET opens the session's SSE stream; what the server sent before it opened comes first, then live messages; a second GET gets 409", async () => {
  const { front, peers } = makeFront();
  const session = await openSession(front);
  peers[0].reply({ jsonrpc: "2.0", method: "notifications/tools/list_changed" });
  const get = await front.handle(
    new Request(URL_, { headers: { accept: "text/event-stream", "mcp-session-id": session } }),
  );
  assert.equal(get.status, 200);
  const events = sseReader(get);
  assert.equal((await events.next())?.method, "notifications/tools/list_changed");
  peers[0].reply({ jsonrpc: "2.0", id: "s1", method: "sampling/createMessage", params: {} });
  assert.equal((await events.next())?.method, "sampling/createMessage");
  const second = await front.handle(
    new Request(URL_, { headers: { accept: "text/event-stream", "mcp-session-id": session } }),
  );
  assert.equal(second.status, 409);
  await second.body?.cancel();
  const jsonOnly = await front.handle(
    new Request(URL_, { headers: { accept: "application/json", "mcp-session-id": session } }),
  );
  assert.equal(jsonOnly.status, 406);
  await jsonOnly.body?.cancel();
  await events.cancel();
  await settle();
  assert.equal(front.openResponses, 0, "a closed GET stream is no longer counted");
  await front.close();
});

Deno.test("http front: an SSE stream opens with a comment (so its headers go out at once); long-lived ones get one every keepAliveMs while open; the timer stops with them", async () => {
  const clock = new ManualClock();
  const { front } = makeFront({ clock, keepAliveMs: 1000 });
  const session = await openSession(front);
  assert.equal(clock.pending, 0, "no timer without a long-lived stream");
  const get = await front.handle(
    new Request(URL_, { headers: { accept: "text/event-stream", "mcp-session-id": session } }),
  );
  const reader = get.body!.getReader();
  const opened = await reader.read();
  assert.equal(
    new TextDecoder().decode(opened.value),
    ": open\n\n",
    "sent at once, with the headers",
  );
  clock.advance(999);
  clock.advance(1);
  const { value } = await reader.read();
  assert.equal(new TextDecoder().decode(value), ": keep-alive\n\n");
  await reader.cancel();
  await settle();
  clock.advance(1000);
  assert.equal(clock.pending, 0, "the timer stops once no stream is open");
  await front.close();
});

Deno.test("http front: a request with a progress token from an SSE client is answered on an SSE stream: its progress, then the answer", async () => {
  const { front, peers } = makeFront();
  const session = await openSession(front);
  peers[0].hold.add("tools/call");
  const response = await front.handle(request({
    jsonrpc: "2.0",
    id: 4,
    method: "tools/call",
    params: { name: "progress", _meta: { progressToken: "p" } },
  }, { "mcp-session-id": session }));
  assert.equal(response.headers.get("mcp-session-id"), session);
  const events = sseReader(response);
  peers[0].reply({
    jsonrpc: "2.0",
    method: "notifications/progress",
    params: { progressToken: "p", progress: 1 },
  });
  peers[0].reply({ jsonrpc: "2.0", id: 4, result: { content: [] } });
  assert.equal((await events.next())?.method, "notifications/progress");
  assert.deepEqual((await events.next())?.id, 4);
  assert.equal(await events.next(), undefined, "the answer ends the stream");
  await front.close();
});

Deno.test("http front: DELETE ends the session (its peer closed, what waited answered with an error); the id is unknown afterwards", async () => {
  const { front, peers } = makeFront();
  const session = await openSession(front);
  const waiting = front.handle(
    request({ jsonrpc: "2.0", id: 2, method: "hold" }, {
      "mcp-session-id": session,
      accept: "application/json",
    }),
  );
  await settle();
  const deleted = await front.handle(
    new Request(URL_, { method: "DELETE", headers: { "mcp-session-id": session } }),
  );
  assert.equal(deleted.status, 200);
  assert.equal(peers[0].closed, true);
  const answer = await (await waiting).json();
  assert.equal(answer.id, 2);
  assert.equal(answer.error.code, -32000);
  for (const method of ["POST", "DELETE", "GET"]) {
    const after = await front.handle(
      method === "POST"
        ? request({ jsonrpc: "2.0", id: 3, method: "ping" }, { "mcp-session-id": session })
        : new Request(URL_, {
          method,
          headers: { "mcp-session-id": session, accept: "text/event-stream" },
        }),
    );
    assert.equal(after.status, 404, method);
    await after.body?.cancel();
  }
  assert.equal(front.sessionCount, 0);
});

Deno.test("http front: an initialize the server fails leaves no session behind", async () => {
  const { front, peers } = makeFront();
  const response = await front.handle(request(initialize(1, { fail: true })));
  assert.equal(response.status, 200);
  assert.equal((await response.json()).error.message, "boom");
  assert.equal(front.sessionCount, 0);
  assert.equal(peers[0].closed, true);
});

Deno.test("http front: close() stops every peer and ends the open streams", async () => {
  const { front, peers } = makeFront();
  const session = await openSession(front);
  const get = await front.handle(
    new Request(URL_, { headers: { accept: "text/event-stream", "mcp-session-id": session } }),
  );
  const events = sseReader(get);
  await front.close();
  assert.equal(await events.next(), undefined);
  assert.ok(peers.every((p) => p.closed));
  const late = await front.handle(request(initialize()));
  assert.equal(late.status, 503);
  await late.body?.cancel();
});

// ── modern (2026-07-28) ─────────────────────────────────────────────────────

Deno.test("http front (2026-07-28): missing or disagreeing MCP-Protocol-Version, Mcp-Method or Mcp-Name headers get 400 HeaderMismatch", async () => {
  const { front, peers } = makeFront();
  const call = modern(1, "tools/call", { name: "echo", arguments: {} });
  const cases: [string, Record<string, string>, Msg][] = [
    ["no Mcp-Method", { "mcp-protocol-version": "2026-07-28" }, call],
    ["other Mcp-Method", modernHeaders("tools/list", "echo"), call],
    ["no Mcp-Name", modernHeaders("tools/call"), call],
    ["other Mcp-Name", modernHeaders("tools/call", "other"), call],
    ["bad Base64 Mcp-Name", modernHeaders("tools/call", "=?base64?!!?="), call],
    ["version header vs _meta", {
      ...modernHeaders("tools/call", "echo"),
      "mcp-protocol-version": "2026-12-01",
    }, call],
    ["no version header (by _meta)", { "mcp-method": "tools/list" }, modern(2, "tools/list")],
    [
      "resources/read Mcp-Name",
      modernHeaders("resources/read", "file:///b"),
      modern(3, "resources/read", { uri: "file:///a" }),
    ],
  ];
  for (const [what, headers, body] of cases) {
    const response = await front.handle(request(body, headers));
    assert.equal(response.status, 400, what);
    const error = await response.json();
    assert.equal(error.error.code, HEADER_MISMATCH, what);
  }
  assert.equal(peers.length, 0, "nothing reached the peer");
  const encoded = await front.handle(
    request(
      modern(4, "tools/call", { name: "héllo" }),
      modernHeaders(
        "tools/call",
        `=?base64?${btoa(String.fromCharCode(...new TextEncoder().encode("héllo")))}?=`,
      ),
    ),
  );
  assert.equal(encoded.status, 200, "a Base64 sentinel Mcp-Name is decoded before comparing");
  await encoded.body?.cancel();
  await front.close();
});

Deno.test("http front (2026-07-28): a request whose _meta lacks the protocol version or the client capabilities gets -32602 with 400 and never reaches the peer", async () => {
  const { front, peers } = makeFront();
  const cases: [string, Msg][] = [
    ["no _meta", { jsonrpc: "2.0", id: 1, method: "server/discover", params: {} }],
    ["no params", { jsonrpc: "2.0", id: 2, method: "server/discover" }],
    ["no protocol version", {
      jsonrpc: "2.0",
      id: 3,
      method: "server/discover",
      params: { _meta: { "io.modelcontextprotocol/clientCapabilities": {} } },
    }],
    ["no client capabilities", {
      jsonrpc: "2.0",
      id: 4,
      method: "server/discover",
      params: { _meta: { "io.modelcontextprotocol/protocolVersion": "2026-07-28" } },
    }],
  ];
  for (const [what, body] of cases) {
    const response = await front.handle(request(body, modernHeaders("server/discover")));
    assert.equal(response.status, 400, what);
    const answer = await response.json();
    assert.equal(answer.error.code, -32602, what);
    assert.equal(answer.id, body.id, what);
  }
  assert.equal(peers.length, 0, "nothing reached the (shared) peer");
  await front.close();
});

Deno.test("http front (2026-07-28): initialize under a 2026-07-28 MCP-Protocol-Version is a removed method (404, -32601), not a new session", async () => {
  const { front, peers } = makeFront();
  const response = await front.handle(
    request(
      modern(1, "initialize", { protocolVersion: "2026-07-28", capabilities: {} }),
      modernHeaders("initialize"),
    ),
  );
  assert.equal(response.status, 404);
  const answer = await response.json();
  assert.equal(answer.error.code, -32601);
  assert.equal(answer.id, 1);
  assert.equal(response.headers.get("mcp-session-id"), null);
  assert.equal(peers.length, 0, "no session, and nothing reached a peer");
  await front.close();
});

Deno.test("http front (2026-07-28): a protocol version mcpmon does not implement gets UnsupportedProtocolVersion (-32022, 400) listing 2026-07-28 and echoing the version; nothing reaches the peer", async () => {
  const { front, peers } = makeFront();
  for (const version of ["v999.0.0", "2099-01-01"]) {
    const body = modern(7, "server/discover", {
      _meta: { "io.modelcontextprotocol/protocolVersion": version },
    });
    const response = await front.handle(
      request(body, { ...modernHeaders("server/discover"), "mcp-protocol-version": version }),
    );
    assert.equal(response.status, 400, version);
    const answer = await response.json();
    assert.equal(answer.id, 7);
    assert.equal(answer.error.code, -32022);
    assert.deepEqual(answer.error.data, { supported: ["2026-07-28"], requested: version });
  }
  assert.equal(peers.length, 0);
  await front.close();
});

Deno.test("http front (2026-07-28): requests share one peer under the front's own ids; each client gets its answer under its own id; an Mcp-Session-Id is ignored", async () => {
  const { front, peers } = makeFront();
  const ask = (id: number) =>
    front.handle(
      request(modern(id, "tools/list"), {
        ...modernHeaders("tools/list"),
        accept: "application/json",
      }),
    );
  const [one, two] = await Promise.all([ask(1), ask(1)]);
  assert.equal(peers.length, 1, "one shared peer");
  const ids = peers[0].received.map((m) => m.id);
  assert.equal(new Set(ids).size, 2, `own ids, distinct: ${ids}`);
  assert.ok(ids.every((id) => id !== 1));
  assert.equal((await one.json()).id, 1);
  assert.equal((await two.json()).id, 1);
  assert.equal(front.sessionCount, 0, "no session, no Mcp-Session-Id");
  assert.equal(one.headers.get("mcp-session-id"), null);
  const stray = await front.handle(request(modern(2, "tools/list"), {
    ...modernHeaders("tools/list"),
    "mcp-session-id": "left-over",
  }));
  assert.equal(stray.status, 200, "a 2026-07-28 request's Mcp-Session-Id is ignored");
  await stray.body?.cancel();
  await front.close();
});

Deno.test("http front (2026-07-28): subscriptions/listen is an SSE stream that carries the notifications tagged with its id (as the client sent it); closing it cancels the listen", async () => {
  const { front, peers } = makeFront();
  const listen = await front.handle(request(
    modern("L", "subscriptions/listen", { notifications: { toolsListChanged: true } }),
    { ...modernHeaders("subscriptions/listen"), accept: JSON_AND_SSE },
  ));
  assert.equal(listen.status, 200);
  const events = sseReader(listen);
  const peer = peers[0];
  const own = peer.received[0].id;
  assert.notEqual(own, "L");
  const tag = (id: unknown) => ({ "io.modelcontextprotocol/subscriptionId": id });
  peer.reply({
    jsonrpc: "2.0",
    method: "notifications/subscriptions/acknowledged",
    params: { _meta: tag(own), notifications: { toolsListChanged: true } },
  });
  peer.reply({
    jsonrpc: "2.0",
    method: "notifications/tools/list_changed",
    params: { _meta: tag("someone-else") },
  });
  peer.reply({
    jsonrpc: "2.0",
    method: "notifications/tools/list_changed",
    params: { _meta: tag(own) },
  });
  const ack = await events.next();
  assert.equal(ack?.method, "notifications/subscriptions/acknowledged");
  assert.deepEqual(ack?.params._meta, tag("L"));
  const changed = await events.next();
  assert.equal(changed?.method, "notifications/tools/list_changed");
  assert.deepEqual(changed?.params._meta, tag("L"));
  await events.cancel();
  await settle();
  const cancel = peer.received.at(-1)!;
  assert.equal(cancel.method, "notifications/cancelled");
  assert.equal(cancel.params.requestId, own);
  assert.equal(front.openResponses, 0);
  await front.close();
});

Deno.test("http front (2026-07-28): a listen the server ends gracefully gets its result (id and subscription id restored), then the stream ends", async () => {
  const { front, peers } = makeFront();
  const listen = await front.handle(request(
    modern(9, "subscriptions/listen", { notifications: {} }),
    modernHeaders("subscriptions/listen"),
  ));
  const events = sseReader(listen);
  const own = peers[0].received[0].id;
  peers[0].reply({
    jsonrpc: "2.0",
    id: own,
    result: { resultType: "complete", _meta: { "io.modelcontextprotocol/subscriptionId": own } },
  });
  const end = await events.next();
  assert.equal(end?.id, 9);
  assert.equal(end?.result._meta["io.modelcontextprotocol/subscriptionId"], 9);
  assert.equal(await events.next(), undefined);
  await front.close();
});

Deno.test("http front (2026-07-28): closing an SSE response cancels its request at the peer; progress goes to its stream under the client's token", async () => {
  const { front, peers } = makeFront();
  const response = await front.handle(request(
    modern(3, "tools/call", { name: "slow", _meta: { progressToken: 77 } }),
    modernHeaders("tools/call", "slow"),
  ));
  const peer = peers[0];
  const forwarded = peer.received[0];
  const events = sseReader(response);
  peer.reply({
    jsonrpc: "2.0",
    method: "notifications/progress",
    params: { progressToken: forwarded.params._meta.progressToken, progress: 1 },
  });
  const progress = await events.next();
  assert.equal(progress?.params.progressToken, 77);
  await events.cancel();
  await settle();
  const cancel = peer.received.at(-1)!;
  assert.equal(cancel.method, "notifications/cancelled");
  assert.equal(cancel.params.requestId, forwarded.id);
  await front.close();
});

Deno.test("http front (2026-07-28): a JSON answer that is 'method not found' gets 404; an unsupported version 400; other answers 200", async () => {
  const { front, peers } = makeFront();
  const ask = (method: string) =>
    front.handle(
      request(modern(1, method), { ...modernHeaders(method), accept: "application/json" }),
    );
  const ok = await ask("tools/list");
  assert.equal(ok.status, 200);
  await ok.body?.cancel();
  peers[0].hold.add("nope").add("old");
  const pending = [ask("nope"), ask("old")];
  await settle();
  const [nope, old] = peers[0].received.slice(-2).map((m) => m.id);
  peers[0].reply({
    jsonrpc: "2.0",
    id: nope,
    error: { code: -32601, message: "Method not found" },
  });
  peers[0].reply({
    jsonrpc: "2.0",
    id: old,
    error: { code: -32022, message: "Unsupported protocol version" },
  });
  const [notFound, unsupported] = await Promise.all(pending);
  assert.equal(notFound.status, 404);
  assert.equal((await notFound.json()).error.code, -32601);
  assert.equal(unsupported.status, 400);
  await unsupported.body?.cancel();
  await front.close();
});

Deno.test("http front (2026-07-28): a request the server sends is answered with an error at once (no HTTP channel for it)", async () => {
  const { front, peers } = makeFront();
  const response = await front.handle(
    request(modern(1, "tools/list"), modernHeaders("tools/list")),
  );
  await response.body?.cancel();
  peers[0].reply({ jsonrpc: "2.0", id: 99, method: "roots/list" });
  const answer = peers[0].received.at(-1)!;
  assert.equal(answer.id, 99);
  assert.equal(answer.error.code, -32601);
  await front.close();
});

// ── the command line ────────────────────────────────────────────────────────

Deno.test("--http takes [host:]port (host 127.0.0.1 by default, [v6]:port, 0 for any port); anything else is a usage error", () => {
  assert.deepEqual(parseListen("3000"), { hostname: "127.0.0.1", port: 3000 });
  assert.deepEqual(parseListen("0.0.0.0:80"), { hostname: "0.0.0.0", port: 80 });
  assert.deepEqual(parseListen("[::1]:0"), { hostname: "::1", port: 0 });
  for (const bad of ["", "http", "localhost", "1.2.3.4:", "99999", ":80", "a b:80"]) {
    assert.throws(() => parseListen(bad), /--http takes/, bad);
  }
  const cli = parseCli(["--http", "8080", "--http-token", "t", "--", "node", "s.js"], "/app");
  assert.equal(cli.kind, "run");
  if (cli.kind === "run") {
    assert.deepEqual(cli.http, { hostname: "127.0.0.1", port: 8080, token: "t" });
  }
  const plain = parseCli(["--", "node", "s.js"], "/app");
  assert.ok(plain.kind === "run" && plain.http === undefined, "stdio without --http");
  assert.throws(() => parseCli(["--http", "nope", "--", "node"], "/"), UsageError);
  assert.throws(() => parseCli(["--http-token", "t", "--", "node"], "/"), /goes with --http/);
  const gateway = parseCli(["--http", "80", "--config", "x.yaml"], "/app");
  assert.ok(gateway.kind === "gateway", "--http serves a gateway too");
  assert.deepEqual(gateway.http, { hostname: "127.0.0.1", port: 80 });
});

// ── one shared peer (gateway mode) ─────────────────────────────────────────

Deno.test("http front (shared peer): 2025 sessions open no peer: initialize is answered from server/discover, requests go to the one peer under the front's own ids with the session's envelope, each answer to its own session", async () => {
  const { front, peers } = makeFront({ sharedPeer: true }, ["server/discover"]);
  const discover = (peer: FakePeer) => {
    const asked = peer.received.find((m) => m.method === "server/discover" && !m.answered)!;
    asked.answered = true;
    peer.reply({
      jsonrpc: "2.0",
      id: asked.id,
      result: {
        resultType: "complete",
        supportedVersions: ["2026-07-28"],
        capabilities: { tools: { listChanged: true } },
        instructions: "hi",
        _meta: { "io.modelcontextprotocol/serverInfo": { name: "gw", version: "9" } },
      },
    });
  };
  const opening = front.handle(request(initialize(1, { clientInfo: { name: "a", version: "1" } })));
  await settle();
  assert.equal(peers.length, 1, "one peer, the shared one");
  discover(peers[0]);
  const opened = await opening;
  assert.equal(opened.status, 200);
  const a = opened.headers.get("mcp-session-id")!;
  assert.deepEqual(await opened.json(), {
    jsonrpc: "2.0",
    id: 1,
    result: {
      protocolVersion: "2025-06-18",
      capabilities: { tools: { listChanged: true } },
      serverInfo: { name: "gw", version: "9" },
      instructions: "hi",
    },
  });
  const second = front.handle(request(initialize(1, { clientInfo: { name: "b", version: "2" } })));
  await settle();
  discover(peers[0]);
  const b = (await second).headers.get("mcp-session-id")!;
  assert.notEqual(a, b);
  assert.equal(peers.length, 1, "still one peer for two sessions");
  // The same client id from both sessions, at once.
  const [ra, rb] = await Promise.all([
    front.handle(request({ jsonrpc: "2.0", id: 2, method: "tools/list" }, { "mcp-session-id": a })),
    front.handle(request({ jsonrpc: "2.0", id: 2, method: "tools/list" }, { "mcp-session-id": b })),
  ]);
  assert.equal((await ra.json()).id, 2);
  assert.equal((await rb.json()).id, 2);
  const lists = peers[0].received.filter((m) => m.method === "tools/list");
  assert.equal(lists.length, 2);
  assert.notEqual(lists[0].id, lists[1].id, "the front's own ids on the shared peer");
  assert.deepEqual(
    lists.map((m) => m.params._meta["io.modelcontextprotocol/clientInfo"].name).sort(),
    ["a", "b"],
    "each request carries its own session's envelope",
  );
  assert.equal(lists[0].params._meta["io.modelcontextprotocol/protocolVersion"], "2026-07-28");
  assert.equal(
    peers[0].received.filter((m) => m.method === "initialize").length,
    0,
    "no initialize reaches the shared peer",
  );
  await front.close();
});

Deno.test("http front (shared peer): a 2025 session's answers come without the 2026-07-28 fields the shared peer adds (resultType complete, ttlMs, cacheScope)", async () => {
  const { front, peers } = makeFront({ sharedPeer: true }, ["server/discover", "tools/call"]);
  const opening = front.handle(request(initialize()));
  await settle();
  const peer = peers[0];
  peer.reply({ jsonrpc: "2.0", id: peer.received[0].id, result: { capabilities: {} } });
  const session = (await opening).headers.get("mcp-session-id")!;
  const calling = front.handle(
    request({ jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "echo" } }, {
      "mcp-session-id": session,
    }),
  );
  await settle();
  const call = peer.received.find((m) => m.method === "tools/call")!;
  peer.reply({
    jsonrpc: "2.0",
    id: call.id,
    result: { resultType: "complete", content: [{ type: "text", text: "hi" }], ttlMs: 0 },
  });
  assert.deepEqual(await (await calling).json(), {
    jsonrpc: "2.0",
    id: 7,
    result: { content: [{ type: "text", text: "hi" }] },
  });
  peer.hold.delete("tools/call");
  peer.handleClientLine = ((line: string) => {
    const message = JSON.parse(line);
    peer.received.push(message);
    if (message.id !== undefined && message.method === "tools/list") {
      peer.reply({
        jsonrpc: "2.0",
        id: message.id,
        result: { tools: [], resultType: "complete", ttlMs: 0, cacheScope: "private" },
      });
    }
    return undefined;
  }) as FakePeer["handleClientLine"];
  const listed = await front.handle(
    request({ jsonrpc: "2.0", id: 8, method: "tools/list" }, { "mcp-session-id": session }),
  );
  assert.deepEqual(await listed.json(), { jsonrpc: "2.0", id: 8, result: { tools: [] } });
  await front.close();
});

Deno.test("http front (shared peer): each 2025 session gets a listen held for it; its list_changed reaches that session's GET stream untagged; DELETE cancels the listen", async () => {
  const { front, peers } = makeFront({ sharedPeer: true }, ["server/discover"]);
  const opening = front.handle(request(initialize()));
  await settle();
  const peer = peers[0];
  peer.reply({ jsonrpc: "2.0", id: peer.received[0].id, result: { capabilities: {} } });
  const session = (await opening).headers.get("mcp-session-id")!;
  await settle();
  const listen = peer.received.find((m) => m.method === "subscriptions/listen")!;
  assert.ok(listen, "a listen held for the session");
  assert.equal(listen.params.notifications.toolsListChanged, true);
  const tag = (id: unknown) => ({ "io.modelcontextprotocol/subscriptionId": id });
  peer.reply({
    jsonrpc: "2.0",
    method: "notifications/subscriptions/acknowledged",
    params: { _meta: tag(listen.id), notifications: { toolsListChanged: true } },
  });
  peer.reply({
    jsonrpc: "2.0",
    method: "notifications/prompts/list_changed",
    params: { _meta: tag("someone-else") },
  });
  peer.reply({
    jsonrpc: "2.0",
    method: "notifications/tools/list_changed",
    params: { _meta: tag(listen.id) },
  });
  const get = await front.handle(
    new Request(URL_, { headers: { accept: "text/event-stream", "mcp-session-id": session } }),
  );
  const events = sseReader(get);
  const first = await events.next();
  assert.deepEqual(first, {
    jsonrpc: "2.0",
    method: "notifications/tools/list_changed",
    params: {},
  });
  await events.cancel();
  const deleted = await front.handle(
    new Request(URL_, { method: "DELETE", headers: { "mcp-session-id": session } }),
  );
  assert.equal(deleted.status, 200);
  const cancel = peer.received.at(-1)!;
  assert.equal(cancel.method, "notifications/cancelled");
  assert.equal(cancel.params.requestId, listen.id);
  assert.equal(peer.closed, false, "the shared peer outlives the session");
  await front.close();
  assert.equal(peer.closed, true);
});

Deno.test("http front (shared peer): the servers' log messages reach each 2025 session at or above the level it set", async () => {
  const { front, peers } = makeFront({ sharedPeer: true }, ["server/discover"]);
  const open = async () => {
    const opening = front.handle(request(initialize()));
    await settle();
    const asked = peers[0].received.filter((m) => m.method === "server/discover").at(-1)!;
    peers[0].reply({
      jsonrpc: "2.0",
      id: asked.id,
      result: { capabilities: { resources: { subscribe: true, listChanged: true }, logging: {} } },
    });
    const response = await opening;
    return response.headers.get("mcp-session-id")!;
  };
  const quiet = await open();
  const chatty = await open();
  const level = await front.handle(request(
    { jsonrpc: "2.0", id: 6, method: "logging/setLevel", params: { level: "error" } },
    { "mcp-session-id": quiet },
  ));
  assert.deepEqual((await level.json()).result, {});
  assert.equal(
    peers[0].received.filter((m) => m.method === "logging/setLevel").length,
    0,
    "the shared servers keep their level",
  );
  const log = (level: string) =>
    peers[0].reply({
      jsonrpc: "2.0",
      method: "notifications/message",
      params: { level, data: level },
    });
  log("info");
  log("error");
  const stream = async (session: string) =>
    sseReader(
      await front.handle(
        new Request(URL_, { headers: { accept: "text/event-stream", "mcp-session-id": session } }),
      ),
    );
  const q = await stream(quiet);
  const c = await stream(chatty);
  assert.equal((await q.next())?.params.data, "error", "below its level: not sent");
  assert.equal((await c.next())?.params.data, "info");
  assert.equal((await c.next())?.params.data, "error");
  await q.cancel();
  await c.cancel();
  await front.close();
});

// ── resumption (Last-Event-ID, 2025 sessions) ──────────────────────────────

const getStream = (front: HttpFront, session: string, lastEventId?: string) =>
  front.handle(
    new Request(URL_, {
      headers: {
        accept: "text/event-stream",
        "mcp-session-id": session,
        ...(lastEventId === undefined ? {} : { "last-event-id": lastEventId }),
      },
    }),
  );

Deno.test("http front (resumption): a session's GET stream events carry ids; a GET with Last-Event-ID gets the events after it (those the broken connection missed), then live ones", async () => {
  const { front, peers } = makeFront();
  const session = await openSession(front);
  const first = sseReader(await getStream(front, session));
  const note = (n: number) =>
    peers[0].reply({ jsonrpc: "2.0", method: "notifications/message", params: { data: n } });
  note(1);
  note(2);
  const one = await first.nextEvent();
  assert.equal(one?.id, "0:1");
  assert.equal(JSON.parse(one!.data).params.data, 1);
  await first.cancel(); // the connection breaks; event 2 may never have arrived
  await settle();
  note(3);
  const again = await getStream(front, session, one!.id);
  assert.equal(again.status, 200);
  const resumed = sseReader(again);
  for (const n of [2, 3]) {
    const event = await resumed.nextEvent();
    assert.equal(event?.id, `0:${n}`);
    assert.equal(JSON.parse(event!.data).params.data, n);
  }
  note(4);
  assert.equal((await resumed.nextEvent())?.id, "0:4", "then live ones");
  await resumed.cancel();
  await front.close();
});

Deno.test("http front (resumption): a POST's SSE stream cut before its answer (2025-11-25: primed with an event id) is resumed by a GET with Last-Event-ID: the progress it missed, the answer, then the stream ends", async () => {
  const { front, peers } = makeFront();
  const session = await openSession(front);
  const post = await front.handle(request(
    {
      jsonrpc: "2.0",
      id: 7,
      method: "tools/call",
      params: { name: "slow", _meta: { progressToken: "p" } },
    },
    { "mcp-session-id": session, "mcp-protocol-version": "2025-11-25" },
  ));
  const stream = sseReader(post);
  const priming = await stream.nextEvent();
  assert.deepEqual(priming, { id: "1:0", data: "" }, "a priming event: an id, no data");
  await stream.cancel();
  await settle();
  peers[0].reply({
    jsonrpc: "2.0",
    method: "notifications/progress",
    params: { progressToken: "p", progress: 1 },
  });
  peers[0].reply({ jsonrpc: "2.0", id: 7, result: { content: [] } });
  const again = await getStream(front, session, priming!.id);
  assert.equal(again.status, 200);
  const resumed = sseReader(again);
  const progress = await resumed.nextEvent();
  assert.equal(progress?.id, "1:1");
  assert.equal(JSON.parse(progress!.data).method, "notifications/progress");
  const answer = await resumed.nextEvent();
  assert.equal(answer?.id, "1:2");
  assert.equal(JSON.parse(answer!.data).id, 7);
  assert.equal(await resumed.nextEvent(), undefined, "the stream ends after its answer");
  const plain = await front.handle(request(
    {
      jsonrpc: "2.0",
      id: 8,
      method: "tools/call",
      params: { name: "slow", _meta: { progressToken: "q" } },
    },
    { "mcp-session-id": session, "mcp-protocol-version": "2025-06-18" },
  ));
  const older = sseReader(plain);
  peers[0].reply({ jsonrpc: "2.0", id: 8, result: { content: [] } });
  assert.equal((await older.nextEvent())?.id, "2:1", "no priming event for older revisions");
  await front.close();
});

Deno.test("http front (resumption): a Last-Event-ID that is malformed, of another stream number, in the future or no longer kept gets 400; one of a stream still open takes it over; a 2026-07-28 stream carries no ids and a Last-Event-ID changes nothing", async () => {
  const { front, peers } = makeFront({ replayEvents: 2 });
  const session = await openSession(front);
  const note = (n: number) =>
    peers[0].reply({ jsonrpc: "2.0", method: "notifications/message", params: { data: n } });
  for (const n of [1, 2, 3]) note(n); // no GET open: 2 and 3 are kept, 1 is gone
  for (const bad of ["nope", "9:1", "0:4", "0:0", ":", "0:-1"]) {
    const response = await getStream(front, session, bad);
    assert.equal(response.status, 400, bad);
    const body = await response.json();
    assert.equal(body.error.code, -32000, bad);
    assert.match(body.error.message, /Last-Event-ID/);
  }
  const kept = sseReader(await getStream(front, session, "0:1"));
  assert.equal((await kept.nextEvent())?.id, "0:2", "from the oldest kept, when nothing was lost");
  const plainGet = await getStream(front, session);
  assert.equal(plainGet.status, 409, "a second GET stream without Last-Event-ID");
  await plainGet.body?.cancel();
  // The client knows its connection broke before mcpmon does: its resumption takes over.
  const takeover = sseReader(await getStream(front, session, "0:2"));
  assert.equal((await takeover.nextEvent())?.id, "0:3");
  assert.equal((await kept.nextEvent())?.id, "0:3", "sent before the takeover");
  assert.equal(await kept.nextEvent(), undefined, "the old response ends");
  note(4);
  assert.equal((await takeover.nextEvent())?.id, "0:4", "live events go on the new one only");
  await takeover.cancel();
  const unknown = await getStream(front, "no-such-session", "0:1");
  assert.equal(unknown.status, 404);
  await unknown.body?.cancel();

  const listen = await front.handle(request(
    modern("L", "subscriptions/listen", { notifications: { toolsListChanged: true } }),
    { ...modernHeaders("subscriptions/listen"), "last-event-id": "0:1" },
  ));
  assert.equal(listen.status, 200);
  const events = sseReader(listen);
  const modernPeer = peers.find((p) => p.label === "modern")!;
  const own = modernPeer.received[0].id;
  modernPeer.reply({
    jsonrpc: "2.0",
    method: "notifications/tools/list_changed",
    params: { _meta: { "io.modelcontextprotocol/subscriptionId": own } },
  });
  const event = await events.nextEvent();
  assert.equal(event?.id, undefined, "2026-07-28 streams are not resumable: no event ids");
  assert.equal(JSON.parse(event!.data).method, "notifications/tools/list_changed");
  await events.cancel();
  await front.close();
});

Deno.test("http front (shared peer): a 2025 session's notifications/cancelled reaches the shared peer under the front's own id of that request; its progress comes back under its own token", async () => {
  const { front, peers } = makeFront({ sharedPeer: true });
  const session = await openSession(front);
  const peer = peers[0];
  const waiting = front.handle(request(
    { jsonrpc: "2.0", id: 9, method: "hold", params: { _meta: { progressToken: "mine" } } },
    { "mcp-session-id": session },
  ));
  await settle();
  const held = peer.received.find((m) => m.method === "hold")!;
  assert.notEqual(held.id, 9);
  assert.equal(held.params._meta.progressToken, held.id, "the front's own token");
  peer.reply({
    jsonrpc: "2.0",
    method: "notifications/progress",
    params: { progressToken: held.id, progress: 1 },
  });
  const events = sseReader(await waiting);
  const progress = await events.next();
  assert.equal(progress?.params.progressToken, "mine");
  const cancelled = await front.handle(request(
    { jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 9 } },
    { "mcp-session-id": session },
  ));
  assert.equal(cancelled.status, 202);
  const forwarded = peer.received.at(-1)!;
  assert.equal(forwarded.method, "notifications/cancelled");
  assert.equal(forwarded.params.requestId, held.id);
  await events.cancel();
  await front.close();
});

Deno.test("http front (shared peer): a 2025 session's resources/subscribe renews its listen with the URI; the answer waits for the acknowledgment; updates reach its GET stream untagged", async () => {
  const { front, peers } = makeFront({ sharedPeer: true }, ["server/discover"]);
  const opening = front.handle(request(initialize()));
  await settle();
  const peer = peers[0];
  peer.reply({
    jsonrpc: "2.0",
    id: peer.received[0].id,
    result: { capabilities: { resources: { subscribe: true, listChanged: true } } },
  });
  const opened = await opening;
  assert.deepEqual(
    (await opened.json()).result.capabilities.resources,
    { subscribe: true, listChanged: true },
  );
  const session = opened.headers.get("mcp-session-id")!;
  await settle();
  const tag = (id: unknown) => ({ "io.modelcontextprotocol/subscriptionId": id });
  const listens = () => peer.received.filter((m) => m.method === "subscriptions/listen");
  const first = listens()[0];
  const subscribe = (id: number, uri: string, method = "resources/subscribe") =>
    front.handle(request(
      { jsonrpc: "2.0", id, method, params: { uri } },
      { "mcp-session-id": session },
    ));
  const answering = subscribe(5, "x://doc");
  await settle();
  const second = listens()[1];
  assert.deepEqual(second.params.notifications.resourceSubscriptions, ["x://doc"]);
  assert.equal(second.params.notifications.toolsListChanged, true, "still every list change");
  const cancel = peer.received.find((m) => m.method === "notifications/cancelled")!;
  assert.equal(cancel.params.requestId, first.id, "the old listen is given up");
  peer.reply({
    jsonrpc: "2.0",
    method: "notifications/subscriptions/acknowledged",
    params: { _meta: tag(second.id), notifications: { resourceSubscriptions: ["x://doc"] } },
  });
  assert.deepEqual((await (await answering).json()).result, {});

  const refused = subscribe(6, "nowhere://x");
  await settle();
  const third = listens()[2];
  assert.deepEqual(third.params.notifications.resourceSubscriptions, ["x://doc", "nowhere://x"]);
  peer.reply({
    jsonrpc: "2.0",
    method: "notifications/subscriptions/acknowledged",
    params: { _meta: tag(third.id), notifications: { resourceSubscriptions: ["x://doc"] } },
  });
  const error = (await (await refused).json()).error;
  assert.equal(error.code, -32602);
  assert.match(error.message, /nowhere:\/\/x/);

  peer.reply({
    jsonrpc: "2.0",
    method: "notifications/resources/updated",
    params: { _meta: tag(third.id), uri: "x://doc" },
  });
  const get = await front.handle(
    new Request(URL_, { headers: { accept: "text/event-stream", "mcp-session-id": session } }),
  );
  const events = sseReader(get);
  assert.deepEqual(await events.next(), {
    jsonrpc: "2.0",
    method: "notifications/resources/updated",
    params: { uri: "x://doc" },
  });
  await events.cancel();
  const unsubscribing = subscribe(7, "x://doc", "resources/unsubscribe");
  await settle();
  const fourth = listens()[3];
  assert.equal(fourth.params.notifications.resourceSubscriptions, undefined);
  peer.reply({
    jsonrpc: "2.0",
    method: "notifications/subscriptions/acknowledged",
    params: { _meta: tag(fourth.id), notifications: { toolsListChanged: true } },
  });
  assert.deepEqual((await (await unsubscribing).json()).result, {});
  await front.close();
});

Deno.test("http front (shared peer): a shared server's input_required answer to a 2025 session's tools/call is asked of its client (on its stream), and the call is sent again with the answer", async () => {
  const { front, peers } = makeFront({ sharedPeer: true }, ["server/discover", "tools/call"]);
  const opening = front.handle(request(initialize(1, { capabilities: { elicitation: {} } })));
  await settle();
  const peer = peers[0];
  peer.reply({ jsonrpc: "2.0", id: peer.received[0].id, result: { capabilities: {} } });
  const session = (await opening).headers.get("mcp-session-id")!;
  const calling = front.handle(request({
    jsonrpc: "2.0",
    id: 9,
    method: "tools/call",
    params: { name: "ask", _meta: { progressToken: "p" } },
  }, { "mcp-session-id": session }));
  await settle();
  const first = peer.received.find((m) => m.method === "tools/call")!;
  peer.reply({
    jsonrpc: "2.0",
    id: first.id,
    result: {
      resultType: "input_required",
      inputRequests: { ok: { method: "elicitation/create", params: { message: "Sure?" } } },
      requestState: "st",
    },
  });
  const events = sseReader(await calling);
  const asked = (await events.next())!;
  assert.equal(asked.method, "elicitation/create");
  assert.equal(asked.params.message, "Sure?");
  const replied = await front.handle(request(
    { jsonrpc: "2.0", id: asked.id, result: { action: "accept", content: { ok: true } } },
    { "mcp-session-id": session },
  ));
  assert.equal(replied.status, 202);
  await settle();
  const calls = peer.received.filter((m) => m.method === "tools/call");
  assert.equal(calls.length, 2);
  assert.deepEqual(calls[1].params.inputResponses, {
    ok: { action: "accept", content: { ok: true } },
  });
  assert.equal(calls[1].params.requestState, "st");
  assert.equal(calls[1].params.name, "ask");
  peer.reply({
    jsonrpc: "2.0",
    id: calls[1].id,
    result: { resultType: "complete", content: [{ type: "text", text: "done" }] },
  });
  assert.deepEqual(await events.next(), {
    jsonrpc: "2.0",
    id: 9,
    result: { content: [{ type: "text", text: "done" }] },
  });
  await front.close();
});
