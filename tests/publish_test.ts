/**
 * JSR readiness: `deno publish --dry-run` (no slow types; only the package's
 * own files), `deno doc --lint`, and a JSDoc `@example` on every exported
 * function, class and constant. All offline: the dry run does not contact JSR.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { output } from "./_npm_build.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

function deno(...args: string[]) {
  return output(Deno.execPath(), args, { cwd: ROOT, env: { NO_COLOR: "1" } });
}

Deno.test("deno publish --dry-run passes and publishes only mod.ts, src/, README, LICENSE, deno.json", async () => {
  const out = await deno("publish", "--dry-run", "--allow-dirty");
  const text = out.stdout + out.stderr;
  assert.equal(out.code, 0, text);
  assert.match(text, /Dry run complete/);
  assert.match(text, /Checking for slow types in the public API/); // and found none (exit 0)
  const files = [...text.matchAll(/file:\/\/\S+/g)].map((m) => m[0].slice(`file://${ROOT}`.length));
  assert.ok(files.includes("mod.ts") && files.includes("src/cli.ts"), files.join(" "));
  assert.ok(files.includes("README.md") && files.includes("LICENSE"));
  for (const file of files) {
    assert.match(file, /^(mod\.ts|deno\.json|README\.md|LICENSE|src\/.+\.ts)$/);
  }
});

Deno.test("deno doc --lint mod.ts finds nothing", async () => {
  const out = await deno("doc", "--lint", "mod.ts");
  assert.equal(out.code, 0, out.stdout + out.stderr);
});

interface DocNode {
  name: string;
  declarations: { kind: string; jsDoc?: { tags?: { kind: string }[] } }[];
}

Deno.test("every exported function, class and constant has a JSDoc @example", async () => {
  const out = await deno("doc", "--json", "mod.ts");
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
