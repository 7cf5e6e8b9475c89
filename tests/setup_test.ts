import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseCli } from "../src/cli.ts";
import type { ControlOutput } from "../src/control.ts";
import { configFile, setupCommand, type SetupRequest } from "../src/setup.ts";

function tempProject(): { dir: string } & Disposable {
  const dir = Deno.makeTempDirSync({ prefix: "mcpmon-setup-" });
  Deno.mkdirSync(join(dir, "src"));
  writeFileSync(join(dir, "server.py"), "print('hi')\n");
  return { dir, [Symbol.dispose]: () => Deno.removeSync(dir, { recursive: true }) };
}

function setup(argv: string[], cwd: string, home = cwd) {
  const cli = parseCli(["setup", ...argv], cwd);
  assert.equal(cli.kind, "setup");
  const request = (cli as { request: SetupRequest }).request;
  let stdout = "", stderr = "";
  const out: ControlOutput = {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
  };
  const code = setupCommand(request, out, (name) => name === "HOME" ? home : undefined);
  return { code, stdout, stderr };
}

const read = (path: string) => JSON.parse(readFileSync(path, "utf8"));

Deno.test("setup claude-code writes .mcp.json here with absolute paths and type stdio", () => {
  using p = tempProject();
  const r = setup(["claude-code", "-w", "src", "--", "python", "server.py"], p.dir);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(read(join(p.dir, ".mcp.json")), {
    mcpServers: {
      [p.dir.split("/").pop()!]: {
        type: "stdio",
        command: "mcpmon",
        args: [
          "--name",
          p.dir.split("/").pop()!,
          "-w",
          join(p.dir, "src"),
          "--",
          "python",
          join(p.dir, "server.py"),
        ],
      },
    },
  });
  assert.match(r.stdout, /added in .*\.mcp\.json/);
});

Deno.test('setup vscode writes .vscode/mcp.json under "servers"; no --watch means the project dir', () => {
  using p = tempProject();
  const r = setup(["vscode", "--name", "py", "--", "python", "server.py"], p.dir);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(read(join(p.dir, ".vscode", "mcp.json")), {
    servers: {
      py: {
        type: "stdio",
        command: "mcpmon",
        args: ["--name", "py", "--watch", p.dir, "--", "python", join(p.dir, "server.py")],
      },
    },
  });
});

Deno.test("setup keeps other entries and keys, and the file as it was in a backup", () => {
  using p = tempProject();
  const file = join(p.dir, ".mcp.json");
  const before = JSON.stringify({ mcpServers: { other: { command: "x" } }, extra: true }, null, 2);
  writeFileSync(file, before);
  assert.equal(setup(["claude-code", "-n", "py", "--", "python", "server.py"], p.dir).code, 0);
  const after = read(file);
  assert.deepEqual(after.mcpServers.other, { command: "x" });
  assert.equal(after.extra, true);
  assert.ok(after.mcpServers.py);
  assert.equal(readFileSync(`${file}.mcpmon-backup`, "utf8"), before);
});

Deno.test("setup --print prints the entry and writes nothing", () => {
  using p = tempProject();
  const r = setup(["cursor", "--print", "-n", "py", "--", "python", "server.py"], p.dir);
  assert.equal(r.code, 0);
  assert.deepEqual(JSON.parse(r.stdout).mcpServers.py.command, "mcpmon");
  assert.equal(existsSync(join(p.dir, ".cursor")), false);
});

Deno.test("setup cursor writes ~/.cursor/mcp.json, or the project's with --project", () => {
  using p = tempProject();
  using h = tempProject();
  assert.equal(setup(["cursor", "-n", "a", "--", "python", "server.py"], p.dir, h.dir).code, 0);
  assert.ok(read(join(h.dir, ".cursor", "mcp.json")).mcpServers.a);
  assert.equal(
    setup(["cursor", "--project", "-n", "b", "--", "python", "server.py"], p.dir, h.dir).code,
    0,
  );
  assert.ok(read(join(p.dir, ".cursor", "mcp.json")).mcpServers.b);
});

Deno.test("claude-desktop's config file is per platform", () => {
  const env = (name: string) =>
    ({ HOME: "/home/me", APPDATA: "C:\\Users\\me\\AppData\\Roaming" })[name];
  assert.equal(
    configFile("claude-desktop", "/", false, { env, platform: "darwin" }),
    "/home/me/Library/Application Support/Claude/claude_desktop_config.json",
  );
  assert.match(
    configFile("claude-desktop", "/", false, { env, platform: "win32" }),
    /Roaming.Claude.claude_desktop_config\.json$/,
  );
  assert.equal(
    configFile("claude-desktop", "/", false, { env, platform: "linux" }),
    "/home/me/.config/Claude/claude_desktop_config.json",
  );
});

Deno.test("setup --wrap runs an existing entry through mcpmon, keeping env; --restore undoes it", () => {
  using p = tempProject();
  const file = join(p.dir, ".mcp.json");
  const original = {
    command: "python",
    args: [join(p.dir, "server.py")],
    env: { TOKEN: "t" },
  };
  writeFileSync(file, JSON.stringify({ mcpServers: { weather: original } }));
  assert.equal(setup(["claude-code", "--wrap", "weather"], p.dir).code, 0);
  assert.deepEqual(read(file).mcpServers.weather, {
    command: "mcpmon",
    args: ["--name", "weather", "--watch", p.dir, "--", "python", join(p.dir, "server.py")],
    env: { TOKEN: "t" },
  });
  const again = setup(["claude-code", "--wrap", "weather"], p.dir);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already runs through mcpmon/);
  assert.equal(setup(["claude-code", "--restore", "weather"], p.dir).code, 0);
  assert.deepEqual(read(file).mcpServers.weather, original);
});

Deno.test("setup --wrap of a missing entry names the entries there; an http entry is refused", () => {
  using p = tempProject();
  const file = join(p.dir, ".vscode", "mcp.json");
  Deno.mkdirSync(join(p.dir, ".vscode"));
  writeFileSync(
    file,
    JSON.stringify({ servers: { remote: { type: "http", url: "https://x/mcp" } } }),
  );
  const missing = setup(["vscode", "--wrap", "nope"], p.dir);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no entry "nope" in .*mcp\.json \(entries: remote\)/);
  const http = setup(["vscode", "--wrap", "remote"], p.dir);
  assert.equal(http.code, 1);
  assert.match(http.stderr, /HTTP server/);
});

Deno.test("setup refuses a config it cannot parse, naming the file, and leaves it alone", () => {
  using p = tempProject();
  const file = join(p.dir, ".mcp.json");
  writeFileSync(file, "{ // a comment\n}");
  const r = setup(["claude-code", "--", "python", "server.py"], p.dir);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot read .*\.mcp\.json: .*comments are not supported/);
  assert.equal(readFileSync(file, "utf8"), "{ // a comment\n}");
});
