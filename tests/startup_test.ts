/**
 * Start-up order (`src/cli.ts`, `src/early_spawn.ts`, `src/run.ts`): the command line spawns the
 * server as soon as its options are parsed, before the proxy's modules load; run() (when given no
 * early process) spawns it as soon as the signal handlers that stop it are in place, before file
 * watching and the state dir, so that its start-up overlaps mcpmon's.
 */
import assert from "node:assert/strict";
import { run } from "../src/run.ts";
import { basicServer, fakeRuntime, fakeServer } from "./_fake_runtime.ts";
import { buildDeno } from "../scripts/build_deno.ts";
import { VERSION } from "../src/version.ts";

Deno.test("run() spawns the server before it starts watching, and stops it (exit 1) when watching fails", async () => {
  const h = fakeRuntime([basicServer()]);
  const order: string[] = [];
  const spawn = h.runtime.spawn.bind(h.runtime);
  h.runtime.spawn = (options) => (order.push("spawn"), spawn(options));
  h.runtime.watch = () => {
    order.push("watch");
    throw new Error("ENOSPC: the system limit of file watches is reached");
  };
  const dir = await Deno.makeTempDir();
  try {
    // A command that exists (run() checks it up front) and a watch path that exists.
    const server = fakeServer("fake", { command: Deno.execPath(), watch: [dir] });
    const code = await run(h.runtime, server, { level: "info", timestamps: false });
    assert.equal(code, 1);
    assert.deepEqual(order, ["spawn", "watch"]);
    assert.equal(h.children.length, 1);
    assert.equal(h.children[0].alive, false, "the server was stopped before run() resolved");
    assert.match(h.stderr(), /cannot watch .*: ENOSPC/);
  } finally {
    await Deno.remove(dir);
  }
});

Deno.test("run() reads the client's stdin before it starts watching, and with MCPMON_READY_MARKER=1 says so on stderr at that moment", async () => {
  const h = fakeRuntime([basicServer()]);
  const order: string[] = [];
  const spawn = h.runtime.spawn.bind(h.runtime);
  h.runtime.spawn = (options) => (order.push("spawn"), spawn(options));
  const stdin = h.runtime.stdin;
  // Records the first read of stdin (a pull-through stream over the fake client's).
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  const runtime = { ...h.runtime };
  runtime.stdin = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (reader === undefined) {
        order.push("read");
        reader = stdin.getReader();
      }
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
  }, { highWaterMark: 0 });
  runtime.env = (name) => name === "MCPMON_READY_MARKER" ? "1" : h.runtime.env(name);
  runtime.writeStderr = (data) => {
    const text = new TextDecoder().decode(data);
    if (text.startsWith("mcpmon: ready")) order.push("marker");
    h.runtime.writeStderr(data);
  };
  runtime.watch = () => (order.push("watch"), h.runtime.watch());
  const dir = await Deno.makeTempDir();
  try {
    const server = fakeServer("fake", { command: Deno.execPath(), watch: [dir] });
    const done = run(runtime, server, { level: "info", timestamps: false });
    h.clientSend({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: {
        protocolVersion: "2025-06-18",
        capabilities: {},
        clientInfo: { name: "t", version: "1" },
      },
    });
    await h.clientWaitFor((m) => m.id === 1);
    h.clientClose();
    assert.equal(await done, 0);
    assert.deepEqual(order.slice(0, 4), ["spawn", "marker", "read", "watch"]);
    assert.match(h.stderr(), /^mcpmon: ready \d+\.\d$/m);
  } finally {
    await Deno.remove(dir);
  }
});

Deno.test("run() writes no ready line without MCPMON_READY_MARKER=1", async () => {
  const h = fakeRuntime([basicServer()]);
  const dir = await Deno.makeTempDir();
  try {
    const server = fakeServer("fake", { command: Deno.execPath(), watch: [dir] });
    const done = run(h.runtime, server, { level: "info", timestamps: false });
    h.clientClose();
    assert.equal(await done, 0);
    assert.doesNotMatch(h.stderr(), /mcpmon: ready/);
  } finally {
    await Deno.remove(dir);
  }
});

/** The modules `roots` load statically (dynamic `import()`s and type-only imports not followed). */
async function staticGraph(roots: string[]): Promise<Set<string>> {
  const seen = new Set<string>();
  for (const root of roots) await staticGraphOf(root, seen);
  return seen;
}

async function staticGraphOf(root: string, seen: Set<string>): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", root],
    cwd: new URL("..", import.meta.url),
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    roots: string[];
    modules: {
      specifier: string;
      dependencies?: { code?: { specifier: string }; isDynamic?: boolean }[];
    }[];
    redirects: Record<string, string>;
  };
  const bySpecifier = new Map(info.modules.map((m) => [m.specifier, m]));
  const visit = (specifier: string) => {
    const resolved = info.redirects[specifier] ?? specifier;
    if (seen.has(resolved)) return;
    seen.add(resolved);
    for (const dep of bySpecifier.get(resolved)?.dependencies ?? []) {
      if (dep.code && !dep.isDynamic) visit(dep.code.specifier);
    }
  };
  for (const root of info.roots) visit(root);
}

Deno.test("the way to a running proxy (mod.ts, the Deno entry, then cli.ts and run.ts) loads no watcher (nor what a change brings), ignore rules, build step, gateway, HTTP transport or front, subcommand, YAML or HTTP framework before the server is spawned", async () => {
  const graph = [...await staticGraph(["mod.ts", "src/cli.ts", "src/run.ts"])];
  assert.ok(graph.some((s) => s.endsWith("/src/router.ts")), "the graph is followed");
  for (
    const unwanted of [
      /\/src\/watcher\.ts$/,
      /\/src\/ignore_rules\.ts$/,
      /\/src\/gateway(_config)?\.ts$/,
      /\/src\/http_(front|backend)\.ts$/,
      /\/src\/(registry|control|setup|trace_command)\.ts$/,
      /\/src\/(build|pycache|restart_loop)\.ts$/,
    ]
  ) {
    const found = graph.filter((s) => unwanted.test(s));
    assert.deepEqual(found, [], `loaded statically: ${found}`);
  }
  for (const pkg of ["yaml", "ignore", "hono", "@hono/node-server"]) {
    const found = graph.filter((s) => s.startsWith(`npm:/${pkg}@`) || s.startsWith(`npm:${pkg}@`));
    assert.deepEqual(found, [], `loaded statically: ${found}`);
  }
});

Deno.test("the command line (mod.ts, the Deno entry, then cli.ts) spawns the server before the proxy's modules load: neither loads run.ts, the router, a backend or the JSON-RPC layer statically", async () => {
  const graph = [...await staticGraph(["mod.ts", "src/cli.ts"])];
  assert.ok(graph.some((s) => s.endsWith("/src/early_spawn.ts")), "the graph is followed");
  const found = graph.filter((s) =>
    /\/src\/(run|router|mode|backend|generation|session|jsonrpc|trace)\.ts$/.test(s)
  );
  assert.deepEqual(found, [], `loaded statically: ${found}`);
});

Deno.test("on Deno, the way to a running proxy (mod.ts, cli.ts, run.ts) loads no node: module but node:util (parseArgs) and node:path: node:fs, node:process, node:os and node:net cost Deno 10–20 ms to load", async () => {
  const graph = [...await staticGraph(["mod.ts", "src/cli.ts", "src/run.ts"])];
  assert.ok(graph.some((s) => s.endsWith("/src/router.ts")), "the graph is followed");
  const found = graph.filter((s) =>
    s.startsWith("node:") && s !== "node:util" && s !== "node:path"
  );
  assert.deepEqual(found, [], `loaded statically: ${found}`);
  // Nor any npm package: a package goes through Deno's npm layer.
  const npm = graph.filter((s) => s.startsWith("npm:"));
  assert.deepEqual(npm, [], `loaded statically: ${npm}`);
});

Deno.test("the Deno bundle (scripts/build_deno.ts) runs from any directory, and its entry, up to the spawn, loads the command line alone: no proxy chunk, no npm package, no node: module but node:util and node:path", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mcpmon-deno-bundle-" });
  try {
    const entry = await buildDeno(dir);
    const graph = [...await staticGraph([entry])];
    assert.ok(graph.length > 3, `the graph is followed: ${graph}`);
    const proxy = graph.filter((s) => /\/chunks\/(run|watcher|gateway|http_\w+)-\w+\.js$/.test(s));
    assert.deepEqual(proxy, [], `loaded statically: ${proxy}`);
    const found = graph.filter((s) =>
      s.startsWith("npm:") || (s.startsWith("node:") && s !== "node:util" && s !== "node:path")
    );
    assert.deepEqual(found, [], `loaded statically: ${found}`);
    // npm packages are npm: imports (no import map needed), resolved when their chunk loads.
    const chunks = await Array.fromAsync(Deno.readDir(`${dir}/chunks`));
    const texts = await Promise.all(
      chunks.map((c) => Deno.readTextFile(`${dir}/chunks/${c.name}`)),
    );
    assert.ok(texts.some((t) => t.includes('"npm:yaml@')), "yaml is an npm: import");
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", "--allow-env", entry, "--version"],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(new TextDecoder().decode(out.stdout), `mcpmon ${VERSION}\n`);
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the Deno runtime answers file questions with Deno's own API, as node:fs does", async () => {
  const { denoRuntime } = await import("../src/runtime/deno.ts");
  const { nodeFileQueries } = await import("../src/runtime/files.ts");
  const fs = await import("node:fs");
  const node = nodeFileQueries(() => fs);
  const deno = denoRuntime.files!;
  const dir = await Deno.makeTempDir();
  try {
    const script = `${dir}/run.sh`;
    const plain = `${dir}/data.json`;
    await Deno.writeTextFile(script, "#!/bin/sh\n");
    await Deno.chmod(script, 0o755);
    await Deno.writeTextFile(plain, '{"name":"x"}');
    await Deno.chmod(plain, 0o644);
    for (const files of [deno, node]) {
      assert.equal(files.kind(dir), "directory");
      assert.equal(files.kind(script), "file");
      assert.equal(files.kind(`${dir}/none`), undefined);
      assert.equal(files.executable(script), true);
      assert.equal(files.executable(plain), false);
      assert.deepEqual(files.readDir(dir).sort(), ["data.json", "run.sh"]);
      assert.equal(files.readText(plain), '{"name":"x"}');
      assert.throws(() => files.readText(`${dir}/none`));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("on Deno, mcpmon is ready (its server spawned, the client being read) without touching a timer global: Deno 2.9 loads its timers, and its Node layer, at the first touch (~9 ms)", async () => {
  const src = new URL("../src/", import.meta.url).href;
  const code = `
    const touched = [];
    let ready = false;
    for (const name of ["setTimeout", "clearTimeout", "setInterval", "clearInterval"]) {
      const own = Object.getOwnPropertyDescriptor(globalThis, name);
      Object.defineProperty(globalThis, name, {
        configurable: true,
        get() {
          if (!ready) touched.push(name + ": " + new Error().stack.split("\\n").slice(2, 5).join(" "));
          return own.get ? own.get.call(globalThis) : own.value;
        },
      });
    }
    const { denoRuntime } = await import("${src}runtime/deno.ts");
    const { main } = await import("${src}cli.ts");
    const runtime = {
      ...denoRuntime,
      args: ["--watch", Deno.args[0], "--", Deno.execPath(), "eval", "await new Response(Deno.stdin.readable).text()"],
      env: (name) => name === "MCPMON_READY_MARKER" ? "1" : denoRuntime.env(name),
      writeStderr(data) {
        if (!ready && new TextDecoder().decode(data).startsWith("mcpmon: ready")) {
          ready = true;
          // (console.log goes to stderr in mcpmon: stdout is the protocol's)
          Deno.stdout.writeSync(new TextEncoder().encode(JSON.stringify(touched) + "\\n"));
        }
      },
    };
    denoRuntime.exit(await main(runtime));`;
  const dir = await Deno.makeTempDir();
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", code, dir],
      cwd: new URL("..", import.meta.url), // deno.json: the watcher's npm packages
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000); // a bug fails, never hangs
    let out = "";
    while (!out.includes("\n")) {
      const { done, value } = await reader.read();
      if (done) break;
      out += value;
    }
    clearTimeout(timer);
    await child.stdin.close(); // the client goes: mcpmon stops its server and exits
    await reader.cancel();
    const status = await child.status;
    assert.ok(out.includes("\n"), `no ready line; stderr: ${await stderr}`);
    assert.deepEqual(JSON.parse(out), [], "a timer global was touched before ready");
    assert.equal(status.code, 0, await stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
