/**
 * JSR readiness: `deno publish --dry-run` (no slow types; only the package's
 * own files, and the Deno bundle its `./bin` export runs), `deno doc --lint`, and a JSDoc `@example` on every exported
 * function, class and constant. All offline: the dry run does not contact JSR.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { output } from "./_npm_build.ts";
import { buildDeno } from "../scripts/build_deno.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

function deno(args: string[], cwd = ROOT) {
  return output(Deno.execPath(), args, { cwd, env: { NO_COLOR: "1" } });
}

Deno.test("deno publish --dry-run passes and publishes only mod.ts, src/, the Deno bundle (the ./bin export), README, LICENSE, deno.json", async () => {
  // A copy of what is published, with a bundle built for it (the release builds it before
  // publishing; the checkout's dist/ is left alone).
  const dir = await Deno.makeTempDir({ prefix: "mcpmon-publish-" });
  try {
    for (const name of ["mod.ts", "src", "README.md", "LICENSE", "deno.json", "deno.lock"]) {
      await copy(join(ROOT, name), join(dir, name));
    }
    await buildDeno(join(dir, "dist", "deno"));
    const out = await deno(["publish", "--dry-run", "--allow-dirty"], dir);
    const text = out.stdout + out.stderr;
    assert.equal(out.code, 0, text);
    assert.match(text, /Dry run complete/);
    assert.match(text, /Checking for slow types in the public API/); // and found none (exit 0)
    assert.doesNotMatch(text, /warning/i);
    const files = [...text.matchAll(/file:\/\/\S+/g)].map((m) =>
      m[0].slice(`file://${dir}/`.length)
    );
    assert.ok(files.includes("mod.ts") && files.includes("src/cli.ts"), files.join(" "));
    assert.ok(files.includes("README.md") && files.includes("LICENSE"));
    assert.ok(files.includes("dist/deno/mcpmon.js") && files.includes("dist/deno/mcpmon.d.ts"));
    assert.ok(files.some((f) => /^dist\/deno\/chunks\/run-\w+\.js$/.test(f)), files.join(" "));
    for (const file of files) {
      assert.match(
        file,
        /^(mod\.ts|deno\.json|README\.md|LICENSE|src\/.+\.ts|dist\/deno\/(mcpmon\.(js|d\.ts)|chunks\/[\w-]+\.js))$/,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Copies a file or a directory tree. */
async function copy(from: string, to: string): Promise<void> {
  if ((await Deno.stat(from)).isDirectory) {
    await Deno.mkdir(to, { recursive: true });
    for await (const entry of Deno.readDir(from)) {
      await copy(join(from, entry.name), join(to, entry.name));
    }
  } else await Deno.copyFile(from, to);
}

Deno.test("deno doc --lint mod.ts finds nothing", async () => {
  const out = await deno(["doc", "--lint", "mod.ts"]);
  assert.equal(out.code, 0, out.stdout + out.stderr);
});

interface DocNode {
  name: string;
  declarations: { kind: string; jsDoc?: { tags?: { kind: string }[] } }[];
}

Deno.test("every exported function, class and constant has a JSDoc @example", async () => {
  const out = await deno(["doc", "--json", "mod.ts"]);
  assert.equal(out.code, 0, out.stderr);
  const doc = JSON.parse(out.stdout);
  const symbols: DocNode[] = Object.values(
    doc.nodes as Record<string, { symbols: DocNode[] }>,
  ).flatMap((n) => n.symbols);
  assert.ok(symbols.length > 10);
  const missing = symbols.filter((s) =>
    s.declarations.some((d) =>
      ["function", "class", "variable"].includes(d.kind) &&
      !d.jsDoc?.tags?.some((t) => t.kind === "example")
    )
  ).map((s) => s.name);
  assert.deepEqual(missing, [], `exports without an @example: ${missing.join(", ")}`);
});
