import assert from "node:assert/strict";
import {
  canonicalServer,
  ConfigError,
  DEFAULT_NAME_BUDGET,
  DEFAULT_SEPARATOR,
  diffConfigs,
  type GatewayConfig,
  loadGatewayConfig,
} from "../src/gateway_config.ts";
import {
  DEFAULT_CRASH_BACKOFF,
  DEFAULT_DEBOUNCE_MS,
  DEFAULT_EXTENSIONS,
  DEFAULT_GRACE_MS,
  DEFAULT_IGNORE,
  DEFAULT_INIT_TIMEOUT_MS,
  DEFAULT_MIN_RESTART_INTERVAL_MS,
  type ServerOptions,
} from "../src/config.ts";

const HOME = "/home/me";
const CWD = "/home/me/proj";
const ENV: Record<string, string> = { HOME };
const BASE = { cwd: CWD, env: (name: string) => ENV[name] };

function load(path: string, text: string): GatewayConfig {
  return loadGatewayConfig(path, text, BASE);
}

/** The error loading `text` throws; fails when it loads. */
function errorOf(path: string, text: string): ConfigError {
  try {
    load(path, text);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${err}`);
    return err;
  }
  assert.fail("expected the configuration to be rejected");
}

function assertRejected(path: string, text: string, message: string): void {
  assert.equal(errorOf(path, text).message, message);
}

function server(config: GatewayConfig, name: string): ServerOptions {
  const found = config.servers.find((s) => s.name === name);
  assert.ok(found, `no server ${name}`);
  return found;
}

/** The seed's example configuration. */
const SEED = `# .mcpmon.yaml
servers:
  sage:
    command: sage-mcp
    watch: ~/.sage/src/

  crucible:
    command: crucible-mcp
    watch: ~/crucible/src/

  my-server:
    command: python
    args: ["-m", "my_server"]
    watch: ./src/
    extensions: py,json
`;

Deno.test("loadGatewayConfig() reads the seed's example: three servers in file order", () => {
  const config = load(".mcpmon.yaml", SEED);
  assert.equal(config.path, "/home/me/proj/.mcpmon.yaml");
  assert.equal(config.separator, DEFAULT_SEPARATOR);
  assert.equal(config.separator, "__");
  assert.equal(config.nameBudget, DEFAULT_NAME_BUDGET);
  assert.equal(config.nameBudget, 64);
  assert.deepEqual(config.disabled, []);
  assert.deepEqual(config.servers.map((s) => s.name), ["sage", "crucible", "my-server"]);
  assert.deepEqual(server(config, "sage").watch, ["/home/me/.sage/src"]);
  assert.deepEqual(server(config, "crucible").watch, ["/home/me/crucible/src"]);
  assert.deepEqual(server(config, "my-server"), {
    name: "my-server",
    command: "python",
    args: ["-m", "my_server"],
    env: {},
    watch: ["/home/me/proj/src"],
    extensions: ["py", "json"],
    ignore: [...DEFAULT_IGNORE],
    debounceMs: DEFAULT_DEBOUNCE_MS,
    graceMs: DEFAULT_GRACE_MS,
    initTimeoutMs: DEFAULT_INIT_TIMEOUT_MS,
    restartTool: true,
    clearPycache: true,
    ignoreFiles: true,
    maxMessageBytes: 128 * 1024 * 1024,
    crashBackoff: DEFAULT_CRASH_BACKOFF,
    callThrough: false,
    minRestartIntervalMs: DEFAULT_MIN_RESTART_INTERVAL_MS,
  });
});

Deno.test("a server with only a command gets the command line's defaults and watches the config's directory", () => {
  const config = load("/srv/gw/mcpmon.yml", "servers:\n  a:\n    command: node\n");
  assert.deepEqual(config.servers, [{
    name: "a",
    command: "node",
    args: [],
    env: {},
    watch: ["/srv/gw"],
    extensions: [...DEFAULT_EXTENSIONS],
    ignore: [...DEFAULT_IGNORE],
    debounceMs: DEFAULT_DEBOUNCE_MS,
    graceMs: DEFAULT_GRACE_MS,
    initTimeoutMs: DEFAULT_INIT_TIMEOUT_MS,
    restartTool: true,
    clearPycache: true,
    ignoreFiles: true,
    maxMessageBytes: 128 * 1024 * 1024,
    crashBackoff: DEFAULT_CRASH_BACKOFF,
    callThrough: false,
    minRestartIntervalMs: DEFAULT_MIN_RESTART_INTERVAL_MS,
  }]);
});

Deno.test("every server key is read: knobs in ms, booleans, build, ignore added to the defaults", () => {
  const config = load(
    "g.yaml",
    `servers:
  s:
    command: ./run.sh
    args: [--port, "8080"]
    env: {TOKEN: abc, EMPTY: ""}
    extensions: [.PY, ".json", md]
    ignore: ["*.gen.py", "build/"]
    build: make gen
    debounce: 250
    grace: 0
    initTimeout: 5000
    minInterval: 1000
    restartTool: false
    clearPycache: false
    type: stdio
`,
  );
  const s = server(config, "s");
  assert.deepEqual(s.args, ["--port", "8080"]);
  assert.deepEqual(s.env, { TOKEN: "abc", EMPTY: "" });
  assert.deepEqual(s.extensions, ["py", "json", "md"]);
  assert.deepEqual(s.ignore, [...DEFAULT_IGNORE, "*.gen.py", "build/"]);
  assert.equal(s.build, "make gen");
  assert.equal(s.debounceMs, 250);
  assert.equal(s.graceMs, 0);
  assert.equal(s.initTimeoutMs, 5000);
  assert.equal(s.minRestartIntervalMs, 1000);
  assert.equal(s.restartTool, false);
  assert.equal(s.clearPycache, false);
});

Deno.test('extensions "*" or "all" watch every file', () => {
  const config = load(
    "g.yaml",
    `servers:\n  a: {command: x, extensions: "*"}\n  b: {command: x, extensions: [all]}\n`,
  );
  assert.deepEqual(server(config, "a").extensions, []);
  assert.deepEqual(server(config, "b").extensions, []);
});

Deno.test("defaults apply to each server unless the server sets the key", () => {
  const config = load(
    "g.yaml",
    `defaults:
  debounce: 500
  extensions: py
  ignore: [data]
  env: {MODE: dev}
  build: make
  restartTool: false
servers:
  a:
    command: a
  b:
    command: b
    debounce: 50
    ignore: [cache]
    env: {OTHER: x}
    build: ""
  c:
    command: c
    disabled: true
`,
  );
  const a = server(config, "a");
  assert.equal(a.debounceMs, 500);
  assert.deepEqual(a.extensions, ["py"]);
  assert.deepEqual(a.ignore, [...DEFAULT_IGNORE, "data"]);
  assert.deepEqual(a.env, { MODE: "dev" });
  assert.equal(a.build, "make");
  assert.equal(a.restartTool, false);
  const b = server(config, "b");
  assert.equal(b.debounceMs, 50);
  assert.deepEqual(b.extensions, ["py"]);
  assert.deepEqual(b.ignore, [...DEFAULT_IGNORE, "cache"]);
  assert.deepEqual(b.env, { OTHER: "x" }, "a server's env replaces the default env");
  assert.equal(b.build, undefined, "an empty build turns a default build off");
  assert.equal(b.restartTool, false);
  assert.deepEqual(config.disabled, ["c"]);
  assert.deepEqual(config.servers.map((s) => s.name), ["a", "b"]);
});

Deno.test("disabled in defaults disables every server that does not enable itself", () => {
  const config = load(
    "g.yaml",
    "defaults: {disabled: true}\nservers:\n  a: {command: a}\n  b: {command: b, disabled: false}\n",
  );
  assert.deepEqual(config.disabled, ["a"]);
  assert.deepEqual(config.servers.map((s) => s.name), ["b"]);
});

Deno.test("cwd is relative to the config's directory, watch to the server's cwd, ~ to HOME", () => {
  const config = loadGatewayConfig(
    "conf/gateway.yaml",
    `defaults:
  cwd: ../shared
servers:
  a:
    command: a
    cwd: ./svc/a
    watch: [src, ../lib, /abs/path]
  b:
    command: b
  c:
    command: c
    cwd: ~/code/c
  d:
    command: d
    cwd: svc/d
    watch: []
`,
    { cwd: "/work", env: (name) => name === "USERPROFILE" ? "/users/me" : undefined },
  );
  assert.equal(config.path, "/work/conf/gateway.yaml");
  const a = server(config, "a");
  assert.equal(a.cwd, "/work/conf/svc/a");
  assert.deepEqual(a.watch, ["/work/conf/svc/a/src", "/work/conf/svc/lib", "/abs/path"]);
  const b = server(config, "b");
  assert.equal(b.cwd, "/work/shared", "a default cwd is relative to the config's directory too");
  assert.deepEqual(b.watch, ["/work/shared"], "the default watch is the server's cwd");
  const c = server(config, "c");
  assert.equal(c.cwd, "/users/me/code/c", "~ expands from USERPROFILE when HOME is unset");
  assert.deepEqual(server(config, "d").watch, [], "an empty watch list watches nothing");
});

Deno.test("a server without cwd has none (it runs in mcpmon's directory)", () => {
  const config = load("g.yaml", "servers:\n  a: {command: a, watch: src}\n");
  assert.equal(server(config, "a").cwd, undefined);
  assert.ok(!("cwd" in server(config, "a")));
  assert.deepEqual(server(config, "a").watch, ["/home/me/proj/src"]);
});

Deno.test("the mcpServers form of .mcp.json is read, with mcpmon's own keys and top-level options", () => {
  const config = load(
    ".mcp.json",
    `{
  "separator": "-",
  "mcpServers": {
    "weather": {
      "type": "stdio",
      "command": "node",
      "args": ["build/index.js"],
      "env": {"API_KEY": "k"}
    },
    "files": {
      "command": "uvx",
      "args": ["files_mcp"],
      "cwd": "servers/files",
      "watch": ["src"],
      "extensions": "py"
    }
  }
}
`,
  );
  assert.equal(config.separator, "-");
  assert.deepEqual(config.servers.map((s) => s.name), ["weather", "files"]);
  const weather = server(config, "weather");
  assert.equal(weather.command, "node");
  assert.deepEqual(weather.args, ["build/index.js"]);
  assert.deepEqual(weather.env, { API_KEY: "k" });
  assert.deepEqual(weather.watch, ["/home/me/proj"]);
  const files = server(config, "files");
  assert.equal(files.cwd, "/home/me/proj/servers/files");
  assert.deepEqual(files.watch, ["/home/me/proj/servers/files/src"]);
  assert.deepEqual(files.extensions, ["py"]);
});

Deno.test("the mcpServers form is also accepted in YAML", () => {
  const config = load("g.yaml", "mcpServers:\n  a:\n    command: a\n");
  assert.deepEqual(config.servers.map((s) => s.name), ["a"]);
});

Deno.test("a file of another name is JSON when it starts with {, else YAML", () => {
  const json = load("claude_config", '\n  {"mcpServers": {"a": {"command": "a"}}}');
  assert.deepEqual(json.servers.map((s) => s.name), ["a"]);
  const yaml = load("gateway.conf", "servers:\n  b: {command: b}\n");
  assert.deepEqual(yaml.servers.map((s) => s.name), ["b"]);
  assertRejected(
    "claude_config",
    '{"mcpServers": {a: 1}}',
    "claude_config:1:17: invalid JSON: expected a key (a double-quoted string), found `a`",
  );
});

Deno.test("separator and nameBudget are read from the top level", () => {
  const config = load("g.yaml", "separator: '::'\nnameBudget: 48\nservers: {}\n");
  assert.equal(config.separator, "::");
  assert.equal(config.nameBudget, 48);
  assert.deepEqual(config.servers, []);
});

Deno.test("clientPrefix and callThrough are read from the top level; the prefix defaults to unset", () => {
  const config = load("g.yaml", "clientPrefix: mcp__tools__\ncallThrough: true\nservers: {}\n");
  assert.equal(config.clientPrefix, "mcp__tools__");
  assert.equal(config.callThrough, true);
  const none = load("g.yaml", "clientPrefix: ''\nservers: {}\n");
  assert.equal(none.clientPrefix, "");
  const plain = load("g.yaml", "servers: {}\n");
  assert.equal(plain.clientPrefix, undefined);
  assert.equal(plain.callThrough, false);
  assertRejected(
    ".mcpmon.yaml",
    "callThrough: yes please\nservers: {}\n",
    '.mcpmon.yaml:1:14: callThrough must be true or false, got the string "yes please"',
  );
});

// --- errors: each names the file, the line and the column -----------------------------

Deno.test("an sse server is skipped with a warning; the stdio and http servers of the file still run", () => {
  const json = load(
    ".mcp.json",
    `{
  "mcpServers": {
    "remote": {"type": "http", "url": "https://example.com/mcp"},
    "old": {"type": "sse", "url": "https://example.com/sse"},
    "local": {"command": "python", "args": ["server.py"]}
  }
}`,
  );
  assert.deepEqual(json.servers.map((s) => [s.name, s.command, s.url]), [
    ["remote", "", "https://example.com/mcp"],
    ["local", "python", undefined],
  ]);
  assert.deepEqual(json.warnings, [
    '.mcp.json:4:21: mcpServers.old.type is "sse": skipped (mcpmon runs stdio servers and ' +
    'Streamable HTTP ones, type "http")',
  ]);
  assert.deepEqual(load("g.yaml", "servers:\n  a:\n    command: a\n").warnings, []);
});

Deno.test("oauth on a server is skipped with a warning (mcpmon runs no OAuth flow)", () => {
  const config = load(
    ".mcp.json",
    '{"mcpServers": {\n  "r": {"url": "https://x", "oauth": {}}\n}}',
  );
  assert.deepEqual(config.servers, []);
  assert.deepEqual(config.warnings, [
    ".mcp.json:2:29: mcpServers.r.oauth: `oauth` is not supported: skipped (mcpmon reaches " +
    "HTTP servers by `url`, without OAuth; pass a token with `headers`)",
  ]);
});

Deno.test("headers of a url entry are sent to it, ${VAR} expanded from the environment", () => {
  ENV.DEV_TOKEN = "s3cret";
  try {
    const config = load(
      ".mcp.json",
      '{"mcpServers": {"r": {"type": "http", "url": "http://127.0.0.1:3000/mcp", ' +
        '"headers": {"Authorization": "Bearer ${DEV_TOKEN}", "X-Team": "${TEAM:-dev}"}}}}',
    );
    assert.deepEqual(config.warnings, []);
    assert.deepEqual(server(config, "r").headers, {
      Authorization: "Bearer s3cret",
      "X-Team": "dev",
    });
  } finally {
    delete ENV.DEV_TOKEN;
  }
});

Deno.test("headers: a missing variable, a bad name, a reserved header, a value that is not a string, or headers without a url are errors that never show a value", () => {
  const text = (headers: string, url = "url: http://127.0.0.1:3000/mcp") =>
    `servers:\n  r:\n    ${url}\n    headers: ${headers}\n`;
  assertRejected(
    "g.yaml",
    text("{Authorization: 'Bearer ${NO_SUCH_TOKEN}'}"),
    "g.yaml:4:30: ${NO_SUCH_TOKEN}: NO_SUCH_TOKEN is not set (write ${NO_SUCH_TOKEN:-default} " +
      "for a default)",
  );
  assertRejected(
    "g.yaml",
    text('{"X Key": abc}'),
    'g.yaml:4:15: servers.r.headers: "X Key" is not a valid header name',
  );
  assertRejected(
    "g.yaml",
    text("{Mcp-Session-Id: abc}"),
    "g.yaml:4:15: servers.r.headers: Mcp-Session-Id cannot be set: mcpmon sets it itself",
  );
  const numeric = errorOf("g.yaml", text("{X-Api-Key: 98765432}")).message;
  assert.equal(numeric, "g.yaml:4:26: servers.r.headers.X-Api-Key must be a string (quote it)");
  assert.ok(!numeric.includes("98765432"));
  assertRejected(
    "g.yaml",
    text("{X-Key: abc}", "command: node"),
    "g.yaml:4:5: servers.r.headers: headers go with a url (a server on HTTP)",
  );
  assertRejected(
    "g.yaml",
    "defaults:\n  headers: {X-Key: abc}\nservers:\n  r:\n    url: http://127.0.0.1:1/mcp\n",
    "g.yaml:2:3: defaults.headers: `headers` cannot have a default; set it per server",
  );
});

Deno.test("a url entry is a Streamable HTTP server: with a command mcpmon starts it, without one it only connects (and watches nothing unless told)", () => {
  const config = load(
    "/proj/.mcpmon.yaml",
    "servers:\n" +
      "  dev:\n    command: node\n    args: [server.js]\n    url: http://127.0.0.1:3000/mcp\n" +
      "  theirs:\n    url: ${HOST:-http://127.0.0.1:4000}/mcp\n" +
      "  typed:\n    type: http\n    url: https://example.com/mcp\n    watch: src\n",
  );
  const [dev, theirs, typed] = config.servers;
  assert.deepEqual([dev.command, dev.args, dev.url, dev.watch], [
    "node",
    ["server.js"],
    "http://127.0.0.1:3000/mcp",
    ["/proj"],
  ]);
  assert.deepEqual([theirs.command, theirs.url, theirs.watch], [
    "",
    "http://127.0.0.1:4000/mcp",
    [],
  ]);
  assert.deepEqual([typed.url, typed.watch], ["https://example.com/mcp", ["/proj/src"]]);
});

Deno.test("a bad url is an error naming file, line and column: not a URL, not http(s), or type http without one", () => {
  assertRejected(
    ".mcpmon.yaml",
    "servers:\n  a:\n    url: localhost:3000/mcp\n",
    '.mcpmon.yaml:3:10: servers.a.url: "localhost:3000/mcp" is not an http:// or https:// URL ' +
      "(e.g. http://127.0.0.1:3000/mcp)",
  );
  assertRejected(
    ".mcpmon.yaml",
    "servers:\n  a:\n    url: ftp://127.0.0.1/mcp\n",
    '.mcpmon.yaml:3:10: servers.a.url: "ftp://127.0.0.1/mcp" is not an http:// or https:// ' +
      "URL (e.g. http://127.0.0.1:3000/mcp)",
  );
  assertRejected(
    ".mcpmon.yaml",
    "servers:\n  a:\n    url: not a url\n",
    '.mcpmon.yaml:3:10: servers.a.url: not a URL: "not a url" (expected http:// or https://, ' +
      "e.g. http://127.0.0.1:3000/mcp)",
  );
  assertRejected(
    ".mcpmon.yaml",
    "servers:\n  a:\n    type: http\n    command: x\n",
    '.mcpmon.yaml:2:3: servers.a has type "http" but no url',
  );
  assertRejected(
    ".mcpmon.yaml",
    "servers:\n  a:\n    type: stdio\n    url: http://127.0.0.1:1/mcp\n",
    '.mcpmon.yaml:4:5: servers.a.url: a stdio server has no url (use type "http")',
  );
  assertRejected(
    ".mcpmon.yaml",
    "defaults:\n  url: http://127.0.0.1:1/mcp\nservers: {}\n",
    ".mcpmon.yaml:2:3: defaults.url: `url` cannot have a default; set it per server",
  );
});

Deno.test("${VAR} and ${VAR:-default} expand in command, args, env and cwd, as Claude Code does", () => {
  const env: Record<string, string> = {
    HOME: "/home/me",
    TOKEN: "s3cret",
    BIN: "/opt/bin",
    EMPTY: "",
  };
  const config = loadGatewayConfig(
    ".mcp.json",
    JSON.stringify({
      mcpServers: {
        api: {
          command: "${BIN}/api-server",
          args: ["--port", "${PORT:-8080}", "--mode=${EMPTY:-dev}", "${TOKEN}"],
          env: { API_TOKEN: "${TOKEN}", PLAIN: "no vars", LITERAL: "$TOKEN" },
          cwd: "${HOME}/api",
        },
      },
    }),
    { cwd: "/proj", env: (name) => env[name] },
  );
  const [api] = config.servers;
  assert.equal(api.command, "/opt/bin/api-server");
  assert.deepEqual(api.args, ["--port", "8080", "--mode=dev", "s3cret"]);
  assert.deepEqual(api.env, { API_TOKEN: "s3cret", PLAIN: "no vars", LITERAL: "$TOKEN" });
  assert.equal(api.cwd, "/home/me/api");
});

Deno.test("an unset ${VAR} without a default is an error naming the variable, line and column", () => {
  assertRejected(
    ".mcp.json",
    '{"mcpServers": {"a": {"command": "a", "env": {"K": "${NOPE_NOT_SET}"}}}}',
    ".mcp.json:1:52: ${NOPE_NOT_SET}: NOPE_NOT_SET is not set (write ${NOPE_NOT_SET:-default} for a default)",
  );
});

Deno.test("in the mcpServers form, other top-level keys than separator, defaults and nameBudget are rejected", () => {
  assertRejected(
    "claude_desktop_config.json",
    '{\n  "mcpServers": {},\n  "globalShortcut": "Ctrl+Space"\n}',
    "claude_desktop_config.json:3:3: unknown key globalShortcut (known keys: servers, mcpServers, " +
      "defaults, separator, nameBudget, clientPrefix, callThrough)",
  );
  assertRejected(
    "both.json",
    '{"servers": {}, "mcpServers": {}}',
    "both.json:1:17: use either `servers` or `mcpServers`, not both",
  );
});

Deno.test("an unknown key is an error that suggests the closest known key", () => {
  assertRejected(
    ".mcpmon.yaml",
    "servers:\n  api:\n    command: python\n    extention: py\n",
    ".mcpmon.yaml:4:5: unknown key servers.api.extention; did you mean `extensions`?",
  );
  assertRejected(
    ".mcpmon.yaml",
    "server:\n  api:\n    command: python\n",
    ".mcpmon.yaml:1:1: unknown key server; did you mean `servers`?\n" +
      ".mcpmon.yaml:1:1: missing `servers`: a mapping of server names to servers",
  );
  assertRejected(
    ".mcpmon.yaml",
    "servers:\n  api:\n    command: python\n    ext: py,json\n    environment: {A: b}\n",
    ".mcpmon.yaml:4:5: unknown key servers.api.ext; did you mean `extensions`?\n" +
      ".mcpmon.yaml:5:5: unknown key servers.api.environment; did you mean `env`?",
  );
  assertRejected(
    ".mcpmon.yaml",
    "servers:\n  api:\n    command: python\n    colour: blue\n",
    ".mcpmon.yaml:4:5: unknown key servers.api.colour (known keys: command, args, env, cwd, " +
      "watch, extensions, ignore, build, disabled, debounce, grace, initTimeout, minInterval, " +
      "restartTool, clearPycache, ignoreFiles, maxMessageSize, type, url, headers)",
  );
});

Deno.test("a misspelt command is reported once, as an unknown key", () => {
  assertRejected(
    ".mcpmon.yaml",
    "servers:\n  api:\n    comand: python\n",
    ".mcpmon.yaml:3:5: unknown key servers.api.comand; did you mean `command`?",
  );
});

Deno.test("defaults cannot set command or args", () => {
  assertRejected(
    ".mcpmon.yaml",
    "defaults:\n  command: python\nservers: {}\n",
    ".mcpmon.yaml:2:3: defaults.command: `command` cannot have a default; set it per server",
  );
});

Deno.test("a value of the wrong type is an error at the value", () => {
  assertRejected(
    ".mcpmon.yaml",
    "servers:\n  api:\n    command: python\n    args: -m api\n",
    '.mcpmon.yaml:4:11: servers.api.args must be a list of strings, got the string "-m api"',
  );
  assertRejected(
    ".mcpmon.yaml",
    "servers:\n  api:\n    command: python\n    args: [--port, 8080]\n",
    '.mcpmon.yaml:4:20: servers.api.args[1] must be a string, got the number 8080; quote it: "8080"',
  );
  assertRejected(
    ".mcpmon.yaml",
    "servers:\n  api:\n    command: [python, -m, api]\n",
    ".mcpmon.yaml:3:14: servers.api.command must be a string, got a list",
  );
  assertRejected(
    ".mcpmon.yaml",
    "servers:\n  api:\n    command: python\n    restartTool: yes\n",
    '.mcpmon.yaml:4:18: servers.api.restartTool must be true or false, got the string "yes"',
  );
  assertRejected(
    ".mcpmon.yaml",
    "servers:\n  api:\n    command: python\n    watch: ~\n",
    ".mcpmon.yaml:4:12: servers.api.watch must be a string or a list of strings, got nothing " +
      '(null) (a lone ~ is null in YAML; quote it: "~")',
  );
  assertRejected(
    ".mcpmon.yaml",
    "servers:\n  api: python -m api\n",
    '.mcpmon.yaml:2:8: servers.api must be a mapping with at least `command`, got the string "python -m api"',
  );
  assertRejected(
    ".mcpmon.yaml",
    "servers:\n  - api\n",
    ".mcpmon.yaml:2:3: servers must be a mapping of server names to servers, got a list",
  );
  assertRejected(
    ".mcpmon.yaml",
    "separator: ''\nnameBudget: 0\nservers: {}\n",
    ".mcpmon.yaml:1:12: separator must be non-empty, without spaces\n" +
      ".mcpmon.yaml:2:13: nameBudget must be a positive integer, got the number 0",
  );
});

Deno.test("a server without a command is an error at its name", () => {
  assertRejected(
    ".mcpmon.yaml",
    "servers:\n  ok:\n    command: a\n  api:\n    args: [x]\n",
    ".mcpmon.yaml:4:3: servers.api has no command (or url, for a server on HTTP)",
  );
  assertRejected(
    ".mcpmon.yaml",
    "servers:\n  api:\n",
    ".mcpmon.yaml:2:3: servers.api must be a mapping with at least `command`, got nothing (null)",
  );
  assertRejected(
    ".mcpmon.yaml",
    'servers:\n  api:\n    command: ""\n',
    ".mcpmon.yaml:3:14: servers.api.command must not be empty",
  );
});

Deno.test("a duplicate key is an error at the second one", () => {
  assertRejected(
    ".mcpmon.yaml",
    "servers:\n  api:\n    command: a\n  api:\n    command: b\n",
    ".mcpmon.yaml:4:3: duplicate key `api`: keys must be unique",
  );
  assertRejected(
    ".mcpmon.yaml",
    "servers:\n  api:\n    command: a\n    command: b\n",
    ".mcpmon.yaml:4:5: duplicate key `command`: keys must be unique",
  );
  assertRejected(
    "g.json",
    '{"mcpServers": {\n  "api": {"command": "a"},\n  "api": {"command": "b"}\n}}',
    "g.json:3:3: duplicate key `api`: keys must be unique",
  );
});

Deno.test("server names differing only in case are an error at the second one", () => {
  assertRejected(
    ".mcpmon.yaml",
    "servers:\n  api:\n    command: a\n  API:\n    command: b\n",
    '.mcpmon.yaml:4:3: server name "API" differs only in case from "api"; ' +
      "names must be unique ignoring case",
  );
});

Deno.test("an illegal server name is an error at the name", () => {
  assertRejected(
    ".mcpmon.yaml",
    "servers:\n  my.server:\n    command: a\n",
    '.mcpmon.yaml:2:3: server name "my.server" is not allowed: use letters, digits, `_` and `-`, ' +
      "starting with a letter or digit",
  );
  assertRejected(
    ".mcpmon.yaml",
    'servers:\n  "-x":\n    command: a\n',
    '.mcpmon.yaml:2:3: server name "-x" is not allowed: use letters, digits, `_` and `-`, ' +
      "starting with a letter or digit",
  );
});

Deno.test("a server name containing the separator is an error at the name", () => {
  assertRejected(
    ".mcpmon.yaml",
    "servers:\n  my__server:\n    command: a\n",
    '.mcpmon.yaml:2:3: server name "my__server" contains the separator "__"; ' +
      "rename the server or set `separator`",
  );
  assertRejected(
    ".mcpmon.yaml",
    "separator: '-'\nservers:\n  my_server: {command: a}\n  my-server: {command: b}\n",
    '.mcpmon.yaml:4:3: server name "my-server" contains the separator "-"; ' +
      "rename the server or set `separator`",
  );
});

Deno.test("an env value that is a number or boolean is an error asking to quote it", () => {
  assertRejected(
    ".mcpmon.yaml",
    "servers:\n  api:\n    command: a\n    env:\n      PORT: 8080\n      DEBUG: true\n",
    '.mcpmon.yaml:5:13: servers.api.env.PORT must be a string, got the number 8080; quote it: "8080"\n' +
      '.mcpmon.yaml:6:14: servers.api.env.DEBUG must be a string, got the boolean true; quote it: "true"',
  );
  assertRejected(
    "g.json",
    '{"mcpServers": {"api": {"command": "a", "env": {"N": 1.50}}}}',
    'g.json:1:54: mcpServers.api.env.N must be a string, got the number 1.50; quote it: "1.50"',
  );
});

Deno.test("a negative, fractional or textual debounce is an error", () => {
  assertRejected(
    ".mcpmon.yaml",
    "servers:\n  api:\n    command: a\n    debounce: -5\n",
    ".mcpmon.yaml:4:15: servers.api.debounce must be a non-negative integer (milliseconds), " +
      "got the number -5",
  );
  assertRejected(
    ".mcpmon.yaml",
    "defaults:\n  grace: 1.5\n  initTimeout: 10s\nservers: {}\n",
    ".mcpmon.yaml:2:10: defaults.grace must be a non-negative integer (milliseconds), " +
      "got the number 1.5\n" +
      ".mcpmon.yaml:3:16: defaults.initTimeout must be a non-negative integer (milliseconds), " +
      'got the string "10s"',
  );
});

Deno.test("invalid YAML syntax is an error with its line and column", () => {
  assertRejected(
    ".mcpmon.yaml",
    "servers:\n\tapi:\n    command: python\n",
    ".mcpmon.yaml:2:1: invalid YAML: Tabs are not allowed as indentation",
  );
  assertRejected(
    ".mcpmon.yaml",
    'servers:\n  api:\n    command: "python\n',
    '.mcpmon.yaml:4:1: invalid YAML: Missing closing "quote',
  );
  assertRejected(
    ".mcpmon.yaml",
    "servers:\n  api:\n    command: a: b\n",
    ".mcpmon.yaml:3:14: invalid YAML: Nested mappings are not allowed in compact mappings",
  );
  assertRejected(
    ".mcpmon.yaml",
    "servers:\n  api:\n    args: [a, b\n  other: 1\n",
    ".mcpmon.yaml:4:3: invalid YAML: Flow sequence in block collection must be sufficiently " +
      "indented and end with a ]",
  );
});

Deno.test("invalid JSON syntax is an error with its line and column", () => {
  assertRejected(
    ".mcp.json",
    '{\n  "mcpServers": {\n    "a": {"command": "x",}\n  }\n}',
    ".mcp.json:3:25: invalid JSON: trailing comma",
  );
  assertRejected(
    ".mcp.json",
    '{\n  // servers\n  "mcpServers": {}\n}',
    ".mcp.json:2:3: invalid JSON: expected a key (a double-quoted string), found `/` " +
      "(comments are not allowed in JSON)",
  );
  assertRejected(
    ".mcp.json",
    '{"mcpServers": {"a": {"command": "x"}}',
    ".mcp.json:1:39: invalid JSON: unexpected end of file",
  );
  assertRejected(
    ".mcp.json",
    '{"mcpServers": {"a": {"command": "x"}}}}',
    ".mcp.json:1:40: invalid JSON: expected the end of the file, found `}`",
  );
});

Deno.test("an empty file or one that is not a mapping is an error", () => {
  assertRejected(
    ".mcpmon.yaml",
    "# nothing yet\n",
    ".mcpmon.yaml:1:1: the configuration is empty; expected a `servers:` mapping",
  );
  assertRejected(
    ".mcpmon.yaml",
    "- a\n- b\n",
    ".mcpmon.yaml:1:1: the configuration must be a mapping with `servers:`, got a list",
  );
});

Deno.test("~ cannot be expanded without HOME", () => {
  assert.throws(
    () =>
      loadGatewayConfig("g.yaml", "servers:\n  a: {command: a, watch: ~/src}\n", {
        cwd: "/",
        env: () => undefined,
      }),
    (err: unknown) =>
      err instanceof ConfigError &&
      err.message === "g.yaml:2:26: cannot expand ~: HOME is not set",
  );
});

Deno.test("every problem is listed, one line each, in file order", () => {
  const err = errorOf(
    ".mcpmon.yaml",
    `servers:
  a:
    command: a
    debounce: -1
  b:
    args: [x]
  c:
    command: c
    env: {PORT: 1}
`,
  );
  assert.deepEqual(err.issues.map((i) => [i.line, i.col]), [[4, 15], [5, 3], [9, 17]]);
  assert.equal(err.file, ".mcpmon.yaml");
  const lines = err.message.split("\n");
  assert.equal(lines.length, 3);
  for (const line of lines) assert.match(line, /^\.mcpmon\.yaml:\d+:\d+: /);
});

// --- canonical comparison and diff ------------------------------------------------------

Deno.test("canonicalServer() ignores key order in the file", () => {
  const a = load(
    "g.yaml",
    "servers:\n  s:\n    command: x\n    args: [1a, 2b]\n    env: {A: a, B: b}\n    debounce: 10\n",
  );
  const b = load(
    "g.yaml",
    "servers:\n  s:\n    debounce: 10\n    env: {B: b, A: a}\n    args: [1a, 2b]\n    command: x\n",
  );
  assert.equal(canonicalServer(server(a, "s")), canonicalServer(server(b, "s")));
});

Deno.test("canonicalServer() differs when the definition differs, including array order", () => {
  const [s] = load("g.yaml", "servers:\n  s: {command: x, args: [a, b]}\n").servers;
  const canonical = canonicalServer(s);
  assert.notEqual(canonicalServer({ ...s, args: ["b", "a"] }), canonical);
  assert.notEqual(canonicalServer({ ...s, env: { A: "1" } }), canonical);
  assert.notEqual(canonicalServer({ ...s, debounceMs: s.debounceMs + 1 }), canonical);
  assert.notEqual(canonicalServer({ ...s, watch: ["/elsewhere"] }), canonical);
  assert.notEqual(canonicalServer({ ...s, build: "make" }), canonical);
});

Deno.test("canonicalServer() treats absent options as their defaults", () => {
  const [s] = load("g.yaml", "servers:\n  s: {command: x}\n").servers;
  const { env: _e, ...bare } = s;
  assert.equal(canonicalServer(bare), canonicalServer(s));
  assert.equal(canonicalServer({ ...s, build: "" }), canonicalServer(s));
  // The canonical text is JSON with sorted keys.
  const parsed = JSON.parse(canonicalServer(s));
  assert.deepEqual(Object.keys(parsed), Object.keys(parsed).toSorted());
});

Deno.test("diffConfigs() sorts servers into added, removed, changed and unchanged", () => {
  const old = load(
    "g.yaml",
    `servers:
  keep: {command: k, args: [x]}
  edit: {command: e}
  drop: {command: d}
  later: {command: l}
`,
  );
  const next = load(
    "g.yaml",
    `servers:
  new: {command: n}
  edit: {command: e, debounce: 999}
  keep: {args: [x], command: k}
  later: {command: l, disabled: true}
`,
  );
  assert.deepEqual(diffConfigs(old, next), {
    added: ["new"],
    removed: ["drop", "later"],
    changed: ["edit"],
    unchanged: ["keep"],
  });
  assert.deepEqual(diffConfigs(next, next), {
    added: [],
    removed: [],
    changed: [],
    unchanged: ["new", "edit", "keep"],
  });
});

Deno.test("diffConfigs() marks every server changed when the separator or name budget changes", () => {
  const old = load("g.yaml", "servers: {a: {command: a}, b: {command: b}}\n");
  const next = load("g.yaml", "separator: '-'\nservers: {a: {command: a}, b: {command: b}}\n");
  assert.deepEqual(diffConfigs(old, next).changed, ["a", "b"]);
  const budget = load("g.yaml", "nameBudget: 40\nservers: {a: {command: a}, b: {command: b}}\n");
  assert.deepEqual(diffConfigs(old, budget).changed, ["a", "b"]);
  const prefix = load("g.yaml", "clientPrefix: x\nservers: {a: {command: a}, b: {command: b}}\n");
  assert.deepEqual(diffConfigs(old, prefix).changed, ["a", "b"]);
});

Deno.test("a defaults change reaches every server that uses it", () => {
  const old = load(
    "g.yaml",
    "defaults: {grace: 100}\nservers: {a: {command: a}, b: {command: b, grace: 5}}",
  );
  const next = load(
    "g.yaml",
    "defaults: {grace: 200}\nservers: {a: {command: a}, b: {command: b, grace: 5}}",
  );
  assert.deepEqual(diffConfigs(old, next), {
    added: [],
    removed: [],
    changed: ["a"],
    unchanged: ["b"],
  });
});

Deno.test("an unquoted * in YAML is an error that says to quote it", () => {
  assertRejected(
    ".mcpmon.yaml",
    "servers:\n  a: {command: a, extensions: *}\n",
    ".mcpmon.yaml:2:31: invalid YAML: Alias cannot be an empty string (quote a value starting " +
      'with *, e.g. "*")',
  );
});

Deno.test("the README's example config loads", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const yaml = /```yaml\n(# \.mcpmon\.yaml\n[\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(yaml, "README has a .mcpmon.yaml example");
  const config = loadGatewayConfig("/app/.mcpmon.yaml", yaml, {
    cwd: "/app",
    env: (name) => name === "HOME" ? "/home/me" : undefined,
  });
  assert.deepEqual(config.servers.map((s) => s.name), ["sage", "crucible", "my-server"]);
  const mine = config.servers[2];
  assert.equal(mine.cwd, "/app/my-server");
  assert.deepEqual(mine.watch, ["/app/my-server/src"]);
  assert.deepEqual(mine.extensions, ["py", "json"]);
  assert.equal(mine.debounceMs, 50);
  assert.deepEqual(config.servers[0].watch, ["/home/me/.sage/src"]);
});

Deno.test("ignoreFiles and maxMessageSize are read per server, with their defaults otherwise", () => {
  const text =
    "servers:\n  a: {command: x, ignoreFiles: false, maxMessageSize: 4096}\n  b: {command: y}\n";
  const config = loadGatewayConfig("/app/.mcpmon.yaml", text, {
    cwd: "/app",
    env: () => undefined,
  });
  assert.equal(config.servers[0].ignoreFiles, false);
  assert.equal(config.servers[0].maxMessageBytes, 4096);
  assert.equal(config.servers[1].ignoreFiles, true);
  assert.equal(config.servers[1].maxMessageBytes, 128 * 1024 * 1024);
});
