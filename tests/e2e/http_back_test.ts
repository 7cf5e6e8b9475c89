/**
 * Servers on Streamable HTTP behind `--url`, end to end: a v1-SDK stdio client talks to mcpmon,
 * which reaches the v1-SDK HTTP fixture (`fixtures/servers/http_server.ts`, `Mcp-Session-Id`
 * sessions) over HTTP; restarted by mcpmon on an edit, or by someone else.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  callText,
  FIXTURES_DIR,
  processAlive,
  scopedDenoLauncher,
  startMcpmon,
  waitUntil,
} from "./_harness.ts";
import { freePort } from "../../testing/ports.ts";

const HTTP_SERVER = join(FIXTURES_DIR, "http_server.ts");

/** The launcher: the run's own, or the scoped Deno one with `--allow-net=127.0.0.1` added (README). */
function launcher(): string[] | undefined {
  if (Deno.env.get("MCPMON_E2E_LAUNCHER")?.trim()) return undefined;
  return scopedDenoLauncher(["--allow-net=127.0.0.1"]);
}

async function toolsDir(tools: { name: string; text: string }[]) {
  const dir = await Deno.makeTempDir({ prefix: "mcpmon-http-" });
  const file = join(dir, "tools.json");
  const write = (t: typeof tools) => Deno.writeTextFile(file, JSON.stringify(t));
  await write(tools);
  return {
    dir,
    file,
    write,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }).catch(() => {}),
  };
}

/** The fixture, started by the test itself (a server someone else runs). */
async function startFixture(port: number, tools: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", HTTP_SERVER, "--port", String(port), "--tools", tools],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
  while (!seen.includes("listening")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the fixture ended before listening: ${seen}`);
    seen += value;
  }
  clearTimeout(timer);
  reader.releaseLock();
  void child.stdout.cancel().catch(() => {});
  return {
    pid: child.pid,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      await child.status;
    },
  };
}

Deno.test("--url with a command: an edit restarts the HTTP server; the client's session sees list_changed, the new tool, and sampling over the server's SSE stream", async () => {
  await using files = await toolsDir([{ name: "hello", text: "hello v1" }]);
  const port = freePort();
  const url = `http://127.0.0.1:${port}/mcp`;
  await using mon = await startMcpmon({
    launcher: launcher(),
    mcpmonArgs: ["--url", url, "--watch", files.dir, "--ext", "json", "--debounce", "50"],
    server: [
      Deno.execPath(),
      "run",
      "-A",
      HTTP_SERVER,
      "--port",
      String(port),
      "--tools",
      files.file,
    ],
  });
  assert.equal(await callText(mon.client, "hello"), "hello v1");
  const firstPid = Number(await callText(mon.client, "pid"));
  // A request from the server (sampling), answered by the client, back over HTTP.
  assert.equal(await callText(mon.client, "ask", { prompt: "hi" }), "sampled: hi");

  const mark = mon.notificationCount();
  await files.write([{ name: "hello", text: "hello v2" }, { name: "added", text: "new tool" }]);
  await mon.waitForNotification("notifications/tools/list_changed", { after: mark });
  const names = (await mon.client.listTools()).tools.map((t: { name: string }) => t.name);
  assert.ok(names.includes("added"), names.join(","));
  assert.equal(await callText(mon.client, "added"), "new tool");
  assert.equal(await callText(mon.client, "hello"), "hello v2");
  const secondPid = Number(await callText(mon.client, "pid"));
  assert.notEqual(secondPid, firstPid);
  assert.equal(processAlive(firstPid), false, "the old server was stopped");

  await mon.close();
  await waitUntil(() => !processAlive(secondPid), 5_000, "the server stops with mcpmon");
});

Deno.test("--url without a command: when the server restarts itself, the client's next request works in the same session", async () => {
  await using files = await toolsDir([{ name: "hello", text: "hello v1" }]);
  const port = freePort();
  let server = await startFixture(port, files.file);
  try {
    await using mon = await startMcpmon({
      launcher: launcher(),
      mcpmonArgs: ["--url", `http://127.0.0.1:${port}/mcp`],
      server: [],
    });
    assert.equal(Number(await callText(mon.client, "pid")), server.pid);

    const from = mon.stderrText().length;
    await server.stop();
    await files.write([{ name: "hello", text: "hello v2" }]);
    server = await startFixture(port, files.file);
    // The old session is gone with the old process: mcpmon reconnected and replayed.
    assert.equal(Number(await callText(mon.client, "pid")), server.pid);
    assert.equal(await callText(mon.client, "hello"), "hello v2");
    assert.match(mon.stderrText().slice(from), /lost the connection/);
    await mon.close();
    assert.ok(processAlive(server.pid), "a server mcpmon did not start is left running");
  } finally {
    await server.stop();
  }
});

Deno.test("--url with a command that never listens: a clear error naming the URL and the server's output, no hang", async () => {
  const port = freePort();
  const url = `http://127.0.0.1:${port}/mcp`;
  await using mon = await startMcpmon({
    launcher: launcher(),
    mcpmonArgs: ["--url", url, "--init-timeout", "1500"],
    server: ["sh", "-c", "echo 'booting, but on no port' >&2; exec sleep 60"],
  });
  const started = Date.now();
  await assert.rejects(
    () => callText(mon.client, "anything"),
    (err: Error) => {
      assert.match(err.message, new RegExp(`nothing accepted connections at ${url}`));
      assert.match(err.message, /booting, but on no port/);
      return true;
    },
  );
  assert.ok(Date.now() - started < 10_000);
  const pid = Number(mon.stderrText().match(/pid:(\d+)\] Started: sh/)?.[1]);
  assert.ok(pid > 0, mon.stderrText());
  await mon.close();
  assert.equal(processAlive(pid), false, "the command was stopped");
});
