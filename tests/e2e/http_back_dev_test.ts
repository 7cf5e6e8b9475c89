/**
 * What a developer of an HTTP server meets behind `--url`, end to end with the v1-SDK HTTP fixture
 * (`fixtures/servers/http_server.ts`): a server that wants a bearer token (`--header`, `${VAR}`
 * from the environment, never logged), a port an old instance still holds, and the SDK's SSE
 * polling (`closeSSEStream` with an event store), resumed with `Last-Event-ID`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { callText, FIXTURES_DIR, scopedDenoLauncher, startMcpmon } from "./_harness.ts";
import { freePort } from "../../testing/ports.ts";

const HTTP_SERVER = join(FIXTURES_DIR, "http_server.ts");
const TOKEN = "dev-token-5b8e0c41";

/** The launcher: the run's own, or the scoped Deno one with `--allow-net=127.0.0.1` added (README). */
function launcher(): string[] | undefined {
  if (Deno.env.get("MCPMON_E2E_LAUNCHER")?.trim()) return undefined;
  return scopedDenoLauncher(["--allow-net=127.0.0.1"]);
}

const fixture = (port: number, ...flags: string[]) => [
  Deno.execPath(),
  "run",
  "-A",
  HTTP_SERVER,
  "--port",
  String(port),
  ...flags,
];

Deno.test("--header 'Authorization: Bearer ${DEV_TOKEN}': a server that wants a token works, and the token never shows in mcpmon's log", async () => {
  const port = freePort();
  await using mon = await startMcpmon({
    launcher: launcher(),
    mcpmonArgs: [
      "--url",
      `http://127.0.0.1:${port}/mcp`,
      "--header",
      "Authorization: Bearer ${DEV_TOKEN}",
      "--debug",
    ],
    // The server reads the token from the environment too, so its command line does not show it.
    server: ["sh", "-c", `exec "$0" "$@" --token "$DEV_TOKEN"`, ...fixture(port)],
    env: { DEV_TOKEN: TOKEN },
  });
  assert.equal(await callText(mon.client, "pid") !== "", true);
  const leaks = mon.stderrText().split("\n").filter((line) => line.includes(TOKEN));
  assert.deepEqual(leaks, [], "the token is not in the log");
  await mon.close();
});

Deno.test("--url to a server that wants a token, without one: the client's request fails with the 401, the challenge and how to pass credentials; no retry loop", async () => {
  const port = freePort();
  await using mon = await startMcpmon({
    launcher: launcher(),
    mcpmonArgs: ["--url", `http://127.0.0.1:${port}/mcp`],
    server: fixture(port, "--token", TOKEN),
  });
  await assert.rejects(() => callText(mon.client, "pid"), (err: Error) => {
    assert.match(
      err.message,
      new RegExp(`the server at http://127\\.0\\.0\\.1:${port}/mcp refused mcpmon: 401`),
    );
    assert.match(err.message, /Bearer realm="http-fixture", error="invalid_token"/);
    assert.match(err.message, /pass its credentials with --header \/ headers:/);
    return true;
  });
  assert.match(mon.stderrText(), /refused mcpmon: 401/);
  // A second request is refused the same way; the server is not restarted in a loop meanwhile.
  await assert.rejects(() => callText(mon.client, "pid"), /refused mcpmon: 401/);
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.equal(mon.stderrText().match(/Started: /g)?.length ?? 0, 1, mon.stderrText());
  await mon.close();
});

Deno.test("--url with a command whose port an old instance still holds: a clear error naming the port, and the command is not started", async () => {
  const port = freePort();
  const old = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", HTTP_SERVER, "--port", String(port)],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  try {
    const reader = old.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    while (!seen.includes("listening")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the old instance did not start");
      seen += value;
    }
    reader.releaseLock();
    await using mon = await startMcpmon({
      launcher: launcher(),
      mcpmonArgs: ["--url", `http://127.0.0.1:${port}/mcp`],
      server: fixture(port),
    });
    await assert.rejects(() => callText(mon.client, "pid"), (err: Error) => {
      assert.match(err.message, new RegExp(`port ${port} .* already accepts connections`));
      assert.match(err.message, /an earlier instance of the server is still running/);
      return true;
    });
    assert.doesNotMatch(mon.stderrText(), /Started: /, "the command was not started");
    await mon.close();
  } finally {
    old.kill("SIGTERM");
    await old.status;
  }
});

Deno.test("the SDK's SSE polling (closeSSEStream with an event store): mcpmon resumes with Last-Event-ID, and the client gets the log message and the result", async () => {
  const port = freePort();
  await using mon = await startMcpmon({
    launcher: launcher(),
    mcpmonArgs: ["--url", `http://127.0.0.1:${port}/mcp`],
    server: fixture(port, "--resumable"),
  });
  const mark = mon.notificationCount();
  assert.equal(await callText(mon.client, "poll"), "polled");
  await mon.waitForNotification("notifications/message", { after: mark });
  await mon.close();
});

Deno.test("a gateway url: entry with headers: (${VAR} from the environment) reaches a server that wants a token; the token never shows in the log", async () => {
  const port = freePort();
  const dir = await Deno.makeTempDir({ prefix: "mcpmon-headers-" });
  try {
    const config = join(dir, ".mcpmon.yaml");
    await Deno.writeTextFile(
      config,
      [
        "servers:",
        "  web:",
        `    url: http://127.0.0.1:${port}/mcp`,
        "    command: sh",
        `    args: ${
          JSON.stringify(["-c", 'exec "$0" "$@" --token "$DEV_TOKEN"', ...fixture(port)])
        }`,
        '    headers: { Authorization: "Bearer ${DEV_TOKEN}" }',
        "",
      ].join("\n"),
    );
    await using mon = await startMcpmon({
      launcher: launcher(),
      mcpmonArgs: ["--config", config, "--debug"],
      server: [],
      env: { DEV_TOKEN: TOKEN },
    });
    assert.ok(Number(await callText(mon.client, "web__pid")) > 0);
    const leaks = mon.stderrText().split("\n").filter((line) => line.includes(TOKEN));
    assert.deepEqual(leaks, [], "the token is not in the log");
    await mon.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
