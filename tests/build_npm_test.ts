/**
 * The npm package (`scripts/build_npm.ts`): what it contains, that Node and
 * Bun run its bin and import its exports, and what the build refuses.
 */
import assert from "node:assert/strict";
import { builtinModules } from "node:module";
import { join } from "node:path";
// deno-lint-ignore no-import-prefix
import ts from "npm:typescript@6.0.3";
import { buildNpm } from "../scripts/build_npm.ts";
import { JS_RUNTIMES, npmPackage, output, requireRuntime } from "./_npm_build.ts";

const denoJson = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));

async function walk(dir: string, prefix = ""): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(join(dir, prefix))) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory) files.push(...await walk(dir, rel));
    else files.push(rel);
  }
  return files.sort();
}

Deno.test("package.json: name mcpmon, deno.json's version, ESM, a bin, exports with types, Node >= 20", async () => {
  const { outDir, packageJson } = await npmPackage();
  const written = JSON.parse(await Deno.readTextFile(join(outDir, "package.json")));
  assert.deepEqual(written, packageJson);
  assert.equal(written.name, "mcpmon");
  assert.equal(written.version, denoJson.version);
  assert.equal(written.license, denoJson.license);
  assert.equal(written.type, "module");
  assert.deepEqual(written.engines, { node: ">=20" });
  assert.deepEqual(written.repository, {
    type: "git",
    url: "git+https://github.com/mcpmon/mcpmon.git",
  });
  assert.equal(written.homepage, "https://github.com/mcpmon/mcpmon#readme");
  assert.deepEqual(written.bugs, { url: "https://github.com/mcpmon/mcpmon/issues" });
  for (const word of ["mcp", "model-context-protocol", "hot-reload", "nodemon"]) {
    assert.ok(written.keywords.includes(word), `keyword ${word}`);
  }
  assert.deepEqual(written.bin, { mcpmon: "bin/mcpmon.js" });
  const bin = await Deno.readTextFile(join(outDir, written.bin.mcpmon));
  assert.ok(bin.startsWith("#!/usr/bin/env node\n"));
  assert.equal((await Deno.stat(join(outDir, written.bin.mcpmon))).mode! & 0o111, 0o111);
  assert.deepEqual(Object.keys(written.exports), [".", "./runtime/node", "./package.json"]);
  for (const [subpath, target] of Object.entries(written.exports)) {
    const paths = typeof target === "string" ? [target] : Object.values(target as object);
    for (const path of paths) await Deno.stat(join(outDir, path)); // exists
    if (subpath !== "./package.json") {
      assert.match((target as { types: string }).types, /\.d\.ts$/, `${subpath} has types`);
    }
  }
});

Deno.test("dependencies are the npm imports of deno.json that shipped code uses, with their ranges", async () => {
  const { outDir, packageJson } = await npmPackage();
  const shipped = (await walk(join(outDir, "esm"))).filter((f) => f.endsWith(".js"));
  const code = (await Promise.all(shipped.map((f) => Deno.readTextFile(join(outDir, "esm", f)))))
    .join("\n");
  for (const [name, range] of Object.entries(packageJson.dependencies ?? {})) {
    const mapped = Object.values(denoJson.imports as Record<string, string>)
      .find((v) => v.replace(/^npm:\/?/, "").startsWith(`${name}@`));
    assert.equal(mapped?.replace(/^npm:\/?/, "").replace(/\/$/, ""), `${name}@${range}`);
    // Statically, or on first use (`import("@hono/node-server")`: only --http needs it).
    assert.match(code, new RegExp(`(from |import\\()"${name}(/[^"]*)?"`), `${name} is imported`);
    await Deno.stat(join(outDir, "node_modules", name, "package.json")); // installed
  }
  // The SDK and zod are for tests, fixtures and scripts only.
  assert.equal(packageJson.dependencies?.["@modelcontextprotocol/sdk"], undefined);
  assert.equal(packageJson.dependencies?.["zod"], undefined);
});

Deno.test("every shipped module is ESM JavaScript with a .d.ts; no Deno runtime, tests, fixtures or scripts", async () => {
  const { outDir, files } = await npmPackage();
  assert.deepEqual(files, (await walk(outDir)).filter((f) => !f.startsWith("node_modules/")));
  const js = files.filter((f) => f.startsWith("esm/") && f.endsWith(".js"));
  assert.ok(js.includes("esm/mod.js") && js.includes("esm/src/runtime/node.js"));
  assert.ok(!files.includes("esm/src/runtime/deno.js"));
  for (const file of js) assert.ok(files.includes(file.replace(/\.js$/, ".d.ts")), file);
  for (const file of files) {
    assert.match(
      file,
      /^(esm\/|bin\/(mcpmon\.js|mcpmon-cli\.cjs|mcpmon-bun\.cjs(\.jsc)?|package\.json)$|package\.json$|README\.md$|LICENSE$)/,
    );
  }
  const mod = await Deno.readTextFile(join(outDir, "esm/mod.js"));
  assert.doesNotMatch(mod, /import\.meta\.main/);
  assert.match(mod, /from "\.\/src\/cli\.js"/);
});

Deno.test("npm pack --dry-run lists a clean package", async () => {
  const { outDir } = await npmPackage();
  const out = await output("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
    cwd: outDir,
  });
  assert.equal(out.code, 0, out.stderr);
  const [pack] = JSON.parse(out.stdout);
  const paths: string[] = pack.files.map((f: { path: string }) => f.path).sort();
  assert.equal(pack.name, "mcpmon");
  assert.ok(paths.includes("package.json") && paths.includes("README.md"));
  assert.ok(paths.includes("LICENSE") && paths.includes("bin/mcpmon.js"));
  assert.ok(paths.includes("bin/mcpmon-cli.cjs") && paths.includes("bin/package.json"));
  for (const path of paths) {
    assert.match(
      path,
      /^(esm\/.+\.(js|d\.ts)|bin\/(mcpmon\.js|mcpmon-cli\.cjs|mcpmon-bun\.cjs(\.jsc)?|package\.json)|package\.json|README\.md|LICENSE)$/,
    );
  }
  // Everything the build wrote ships (node_modules, installed for the tests, does not).
  const { files } = await npmPackage();
  assert.deepEqual(paths, files);
  const readme = pack.files.find((f: { path: string }) => f.path === "README.md");
  assert.equal(readme.size, (await Deno.stat(new URL("../README.md", import.meta.url))).size);
});

Deno.test("the command line is one bundled CommonJS file: it requires only node: builtins, where first used, and runs, gateway and YAML included, with no node_modules", async () => {
  const { outDir } = await npmPackage();
  const bundle = await Deno.readTextFile(join(outDir, "bin/mcpmon-cli.cjs"));
  // Built-ins are required where first used, not imported at the top (where they all load at start).
  const imports = [...bundle.matchAll(/\bimport\s*(?:[\w*{}\s,$]+from\s*)?["']([^"']+)["']/g)];
  assert.deepEqual(imports.map((m) => m[1]), []);
  assert.match(bundle, /\brequire\("node:child_process"\)/);
  for (const [, spec] of bundle.matchAll(/\brequire\(["']([^"']*)["']\)/g)) {
    assert.ok(spec.startsWith("node:") || builtinModules.includes(spec), `requires ${spec}`);
  }
  // And each is used as its own module object, not copied into a namespace per importer.
  assert.match(bundle, /__mcpmonBuiltin\(require_node_fs\(\)\)/);
  assert.doesNotMatch(bundle, /__toESM\(require_node_/);
  // bin/ is CommonJS in an ESM package.
  assert.deepEqual(JSON.parse(await Deno.readTextFile(join(outDir, "bin/package.json"))), {
    type: "commonjs",
  });

  const alone = await Deno.makeTempDir({ prefix: "mcpmon-bin-alone-" });
  try {
    for (const file of ["mcpmon.js", "mcpmon-cli.cjs", "package.json"]) {
      await Deno.copyFile(join(outDir, "bin", file), join(alone, file));
    }
    const version = await output("node", [join(alone, "mcpmon.js"), "--version"], { cwd: alone });
    assert.equal(version.code, 0, version.stderr);
    assert.equal(version.stdout, `mcpmon ${denoJson.version}\n`);
    // The gateway's config loader and the YAML parser are in the file: a YAML error is reported.
    await Deno.writeTextFile(join(alone, "bad.yaml"), "servers: [unclosed\n");
    const gateway = await output("node", [join(alone, "mcpmon.js"), "--config", "bad.yaml"], {
      cwd: alone,
    });
    assert.equal(gateway.code, 2, gateway.stderr);
    assert.match(gateway.stderr, /invalid config/);
  } finally {
    await Deno.remove(alone, { recursive: true });
  }
});

Deno.test("node: the bin loads neither node:http nor node:http2 to print its version or to run a server", async () => {
  await requireRuntime("node");
  const { outDir } = await npmPackage();
  const bin = join(outDir, "bin/mcpmon.js");
  const dir = await Deno.makeTempDir({ prefix: "mcpmon-bin-builtins-" });
  try {
    // Lists, at exit, the built-in modules loaded since the preload ran (Node's moduleLoadList).
    const preload = join(dir, "loaded.cjs");
    await Deno.writeTextFile(
      preload,
      `const before = new Set(process.moduleLoadList);
process.on("exit", () => process.stderr.write("LOADED " + JSON.stringify(
  process.moduleLoadList.filter((m) => !before.has(m)).map((m) => m.replace(/^NativeModule /, "")),
) + "\\n"));`,
    );
    const loaded = (stderr: string): string[] => {
      const line = stderr.split("\n").find((l) => l.startsWith("LOADED "));
      assert.ok(line, stderr);
      return JSON.parse(line.slice("LOADED ".length));
    };
    const version = await output("node", ["-r", preload, bin, "--version"], { cwd: dir });
    assert.equal(version.code, 0, version.stderr);
    // A server that exits at once: mcpmon starts, spawns it, reads its (empty) stdin and stops.
    const run = await output("node", ["-r", preload, bin, "--watch", dir, "--", "true"], {
      cwd: dir,
    });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /Started: true/);
    for (
      const [what, list] of [["--version", loaded(version.stderr)], ["run", loaded(run.stderr)]]
    ) {
      for (const name of ["http", "http2", "tls", "https"]) {
        assert.ok(!list.includes(name), `${what} loaded node:${name}`);
      }
    }
    assert.ok(loaded(run.stderr).includes("child_process"), "the preload sees what a run loads");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("node: the bin keeps V8's code cache of the bundle in the user's cache dir, uses it, and writes it again when it is rejected or the run compiled more", async () => {
  await requireRuntime("node");
  const { outDir } = await npmPackage();
  const bin = join(outDir, "bin/mcpmon.js");
  const home = await Deno.makeTempDir({ prefix: "mcpmon-code-cache-" });
  const cacheDir = join(home, "cache", "mcpmon");
  const env = { XDG_CACHE_HOME: join(home, "cache") };
  const cacheFiles = async () => {
    const names: string[] = [];
    try {
      for await (const e of Deno.readDir(cacheDir)) names.push(e.name);
    } catch { /* no dir */ }
    return names;
  };
  const version = async (extra: Record<string, string> = {}) => {
    const out = await output("node", [bin, "--version"], { cwd: home, env: { ...env, ...extra } });
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, `mcpmon ${denoJson.version}\n`);
  };
  try {
    await version({ NODE_DISABLE_COMPILE_CACHE: "1" });
    assert.deepEqual(await cacheFiles(), [], "NODE_DISABLE_COMPILE_CACHE=1: no cache");

    await version();
    const names = await cacheFiles();
    assert.equal(names.length, 1, `${names}`);
    assert.match(names[0], /^[0-9a-f]{16}-v\d+\.\d+\.\d+-\w+\.v8cache$/);
    const file = join(cacheDir, names[0]);
    const afterVersion = await Deno.readFile(file);

    // A proxy run compiles more of the bundle: the cache is written again, larger.
    const run = await output("node", [bin, "--watch", home, "--", "true"], { cwd: home, env });
    assert.equal(run.code, 0, run.stderr);
    const afterRun = await Deno.readFile(file);
    assert.ok(afterRun.length > afterVersion.length, `${afterVersion.length} → ${afterRun.length}`);

    // Used as it is: V8 accepted it, nothing to write.
    await version();
    assert.deepEqual(await Deno.readFile(file), afterRun);

    // Rejected (not V8's data): mcpmon runs, and the cache is written again.
    await Deno.writeTextFile(file, "not a code cache");
    await version();
    assert.ok((await Deno.stat(file)).size > 1000);
    assert.deepEqual(await cacheFiles(), names, "no temp file left");
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("bun: the bin runs Bun's bytecode build of the bundle (bin/mcpmon-bun.cjs and its .jsc), and still runs it when the bytecode is stale or gone", async () => {
  await requireRuntime("bun");
  const { outDir, files } = await npmPackage();
  assert.ok(files.includes("bin/mcpmon-bun.cjs") && files.includes("bin/mcpmon-bun.cjs.jsc"));
  const bunBundle = await Deno.readTextFile(join(outDir, "bin/mcpmon-bun.cjs"));
  assert.match(bunBundle, /^\/\/ @bun @bytecode @bun-cjs\n/);
  assert.ok((await Deno.stat(join(outDir, "bin/mcpmon-bun.cjs.jsc"))).size > 0);
  const alone = await Deno.makeTempDir({ prefix: "mcpmon-bin-bun-" });
  try {
    // Without the bundle Node runs, the bin still runs on Bun: it runs Bun's build.
    for (const file of ["mcpmon.js", "mcpmon-bun.cjs", "mcpmon-bun.cjs.jsc", "package.json"]) {
      await Deno.copyFile(join(outDir, "bin", file), join(alone, file));
    }
    const version = await output("bun", [join(alone, "mcpmon.js"), "--version"], { cwd: alone });
    assert.equal(version.code, 0, version.stderr);
    assert.equal(version.stdout, `mcpmon ${denoJson.version}\n`);
    // Bytecode of another Bun (here: of another file) is ignored, and so is none.
    await Deno.writeTextFile(join(alone, "mcpmon-bun.cjs"), bunBundle + "\n// another build\n");
    const stale = await output("bun", [join(alone, "mcpmon.js"), "--version"], { cwd: alone });
    assert.equal(stale.stdout, `mcpmon ${denoJson.version}\n`, stale.stderr);
    await Deno.remove(join(alone, "mcpmon-bun.cjs.jsc"));
    const none = await output("bun", [join(alone, "mcpmon.js"), "--version"], { cwd: alone });
    assert.equal(none.stdout, `mcpmon ${denoJson.version}\n`, none.stderr);
  } finally {
    await Deno.remove(alone, { recursive: true });
  }
});

Deno.test("without bun, the build writes no Bun bytecode, and the bin runs the bundle on Bun too", async () => {
  await using repo = await fakeRepo({});
  const lines: string[] = [];
  const { files } = await buildNpm({
    root: repo.root,
    outDir: repo.outDir,
    install: false,
    bun: "/no/such/bun",
    log: (line) => lines.push(line),
  });
  assert.ok(!files.some((f) => f.startsWith("bin/mcpmon-bun")), files.join(" "));
  assert.ok(
    lines.some((l) => /\/no\/such\/bun not found: no Bun bytecode/.test(l)),
    lines.join("\n"),
  );
  const bin = await Deno.readTextFile(join(repo.outDir, "bin/mcpmon.js"));
  assert.doesNotMatch(bin, /mcpmon-bun/);
});

Deno.test("the declarations type-check as a TypeScript consumer sees them", async () => {
  const { outDir } = await npmPackage();
  const consumer = join(outDir, "consumer.ts");
  await Deno.writeTextFile(
    consumer,
    [
      `import { main, parseCli, VERSION, type Runtime } from "./esm/mod.js";`,
      `import { nodeRuntime, readableFromNode } from "./esm/src/runtime/node.js";`,
      `const runtime: Runtime = nodeRuntime;`,
      `const code: Promise<number> = main(runtime);`,
      `const version: string = VERSION;`,
      `const kind: string = parseCli(["--", "node", "x.js"], "/").kind;`,
      `export { code, kind, readableFromNode, version };`,
    ].join("\n"),
  );
  try {
    const program = ts.createProgram([consumer], {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      lib: ["lib.es2023.d.ts", "lib.dom.d.ts", "lib.esnext.disposable.d.ts"],
      strict: true,
      noEmit: true,
      types: [],
    });
    const problems = ts.getPreEmitDiagnostics(program)
      // `node:` types come from @types/node, which a consumer on Node installs.
      .map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"))
      .filter((message) => !/'node:[a-z_/]+'/.test(message));
    assert.deepEqual(problems, []);
  } finally {
    await Deno.remove(consumer);
  }
});

for (const runtime of JS_RUNTIMES) {
  Deno.test(`${runtime}: the bin prints the version and help, and exits 2 on a usage error`, async () => {
    await requireRuntime(runtime);
    const { outDir } = await npmPackage();
    const bin = join(outDir, "bin/mcpmon.js");
    const version = await output(runtime, [bin, "--version"]);
    assert.equal(version.code, 0, version.stderr);
    assert.equal(version.stdout, `mcpmon ${denoJson.version}\n`);
    const help = await output(runtime, [bin, "--help"]);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /--watch/);
    const usage = await output(runtime, [bin, "--frobnicate", "--", "node", "x.js"]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /unknown option: --frobnicate/);
    assert.equal(usage.stdout, "");
  });

  Deno.test(`${runtime}: imports "mcpmon" and "mcpmon/runtime/node" through the exports map`, async () => {
    await requireRuntime(runtime);
    const { outDir } = await npmPackage();
    const project = await Deno.makeTempDir({ prefix: "mcpmon-consumer-" });
    try {
      await Deno.mkdir(join(project, "node_modules"));
      await Deno.symlink(outDir, join(project, "node_modules", "mcpmon"));
      await Deno.writeTextFile(join(project, "package.json"), '{ "type": "module" }\n');
      await Deno.writeTextFile(
        join(project, "consumer.js"),
        [
          `import * as mcpmon from "mcpmon";`,
          `import { nodeRuntime } from "mcpmon/runtime/node";`,
          `console.log(JSON.stringify({`,
          `  version: mcpmon.VERSION,`,
          `  main: typeof mcpmon.main,`,
          `  runtime: nodeRuntime.name,`,
          `  spawn: typeof nodeRuntime.spawn,`,
          `}));`,
        ].join("\n"),
      );
      const out = await output(runtime, ["consumer.js"], { cwd: project });
      assert.equal(out.code, 0, out.stderr);
      assert.deepEqual(JSON.parse(out.stdout), {
        version: denoJson.version,
        main: "function",
        runtime,
        spawn: "function",
      });
    } finally {
      await Deno.remove(project, { recursive: true });
    }
  });
}

/** A throwaway source tree with the build's entry points. */
async function fakeRepo(files: Record<string, string>, imports: Record<string, string> = {}) {
  const root = await Deno.makeTempDir({ prefix: "mcpmon-fake-repo-" });
  const all: Record<string, string> = {
    "deno.json": JSON.stringify({ name: "@x/y", version: "9.8.7", license: "MIT", imports }),
    "README.md": "readme\n",
    "LICENSE": "license\n",
    "mod.ts": `export { main } from "./src/cli.ts";\n`,
    "src/cli.ts": `export function main(): number {\n  return 0;\n}\n`,
    "src/runtime/node.ts": `export const nodeRuntime: string = "node";\n`,
    ...files,
  };
  for (const [path, text] of Object.entries(all)) {
    await Deno.mkdir(join(root, path, ".."), { recursive: true });
    await Deno.writeTextFile(join(root, path), text);
  }
  return {
    root,
    outDir: join(root, "npm"),
    [Symbol.asyncDispose]: () => Deno.remove(root, { recursive: true }),
  };
}

Deno.test("the build drops mod.ts's import.meta.main block and its Deno runtime import", async () => {
  await using repo = await fakeRepo({
    "mod.ts": [
      `export { main } from "./src/cli.ts";`,
      `if (import.meta.main) {`,
      `  const { denoRuntime } = await import("./src/runtime/deno.ts");`,
      `  Deno.exit(denoRuntime);`,
      `}`,
    ].join("\n"),
    "src/runtime/deno.ts": `export const denoRuntime: number = Deno.pid;\n`,
  });
  const { files } = await buildNpm({ root: repo.root, outDir: repo.outDir });
  assert.ok(!files.includes("esm/src/runtime/deno.js"));
  const mod = await Deno.readTextFile(join(repo.outDir, "esm/mod.js"));
  assert.doesNotMatch(mod, /Deno\.|denoRuntime|import\.meta\.main/);
  assert.match(mod, /export \{ main \} from "\.\/src\/cli\.js";/);
});

Deno.test("the build refuses shipped code that uses Deno", async () => {
  await using repo = await fakeRepo({
    "src/cli.ts": `export function main(): string | undefined {\n  return Deno.env.get("X");\n}\n`,
  });
  await assert.rejects(
    buildNpm({ root: repo.root, outDir: repo.outDir }),
    /must not use Deno APIs:\n {2}src\/cli\.ts: return Deno\.env\.get\("X"\);/,
  );
});

Deno.test("the build refuses jsr: and remote imports", async () => {
  for (const spec of ["jsr:@std/path@1", "https://example.com/x.ts"]) {
    await using repo = await fakeRepo({
      "src/cli.ts": `import { x } from "${spec}";\nexport const main: unknown = x;\n`,
    });
    await assert.rejects(
      buildNpm({ root: repo.root, outDir: repo.outDir }),
      new RegExp(`cannot ship import "${spec.replaceAll(".", "\\.")}"`),
    );
  }
});

Deno.test("bare and npm: imports become package names and dependencies with deno.json's ranges", async () => {
  await using repo = await fakeRepo({
    "src/cli.ts": [
      `import { parse } from "yaml";`,
      `import { z } from "npm:zod@^4.3.6";`,
      `import type { Client } from "@scope/pkg/client/index.js";`,
      `export function main(c?: Client): unknown {`,
      `  return [parse("a: 1"), z, c];`,
      `}`,
    ].join("\n"),
  }, { "yaml": "npm:yaml@^2.9.1", "@scope/pkg/": "npm:/@scope/pkg@1.2.3/" });
  const { packageJson } = await buildNpm({ root: repo.root, outDir: repo.outDir, install: false });
  assert.deepEqual(packageJson.dependencies, {
    "@scope/pkg": "1.2.3",
    "yaml": "^2.9.1",
    "zod": "^4.3.6",
  });
  assert.equal(packageJson.version, "9.8.7");
  const cli = await Deno.readTextFile(join(repo.outDir, "esm/src/cli.js"));
  assert.match(cli, /from "yaml"/);
  assert.match(cli, /from "zod"/);
  const dts = await Deno.readTextFile(join(repo.outDir, "esm/src/cli.d.ts"));
  assert.match(dts, /from "@scope\/pkg\/client\/index\.js"/);
});
