import assert from "node:assert/strict";
import { Catalog, type Item, matchesTemplate, MAX_URI_LENGTH, page } from "../src/catalog.ts";

interface Source {
  name: string;
  lists: Record<string, Item[]>;
  renamedUris: Map<string, string>;
}
const source = (name: string, lists: Record<string, Item[]>): Source => ({
  name,
  lists,
  renamedUris: new Map(),
});

Deno.test("the catalog merges lists under <server><sep><name> and routes names back", () => {
  const catalog = new Catalog<Source>({ separator: "__", nameBudget: 64 });
  const alpha = source("alpha", { tools: [{ name: "echo" }], prompts: [{ name: "greet" }] });
  const beta = source("beta", { tools: [{ name: "echo" }] });
  catalog.rebuild([alpha, beta]);
  assert.deepEqual(catalog.items("tools").map((t) => t.name), ["alpha__echo", "beta__echo"]);
  assert.equal(catalog.routeTool("beta__echo")?.source, beta);
  assert.equal(catalog.routeTool("beta__echo")?.name, "echo");
  assert.equal(catalog.routePrompt("alpha__greet")?.name, "greet");
  assert.equal(catalog.routeTool("gamma__echo"), undefined);
});

Deno.test("rebuild reports only the kinds whose merged list changed", () => {
  const catalog = new Catalog<Source>({ separator: "__", nameBudget: 64 });
  const alpha = source("alpha", { tools: [{ name: "a" }] });
  assert.deepEqual([...catalog.rebuild([alpha])], ["tools"]);
  assert.deepEqual([...catalog.rebuild([alpha])], []);
  alpha.lists.prompts = [{ name: "p" }];
  assert.deepEqual([...catalog.rebuild([alpha])], ["prompts"]);
  assert.deepEqual([...catalog.rebuild([])], ["tools", "prompts"]);
});

Deno.test("a resource URI offered twice keeps its first owner; the second is renamed and routed back", () => {
  const warnings: string[] = [];
  const catalog = new Catalog<Source>(
    { separator: "__", nameBudget: 64 },
    (m) => warnings.push(m),
  );
  const alpha = source("alpha", { resources: [{ uri: "file:///a" }] });
  const beta = source("beta", { resources: [{ uri: "file:///a" }] });
  catalog.rebuild([alpha, beta]);
  const [first, second] = catalog.items("resources").map((r) => r.uri);
  assert.equal(first, "file:///a");
  assert.equal(second, `mcpmon://beta/${encodeURIComponent("file:///a")}`);
  assert.deepEqual(catalog.resourceTarget(second), { source: beta, uri: "file:///a" });
  assert.equal(beta.renamedUris.get("file:///a"), second);
  assert.equal(catalog.ownsResource(beta, "file:///a"), true);
  assert.match(warnings[0], /collision/);
});

Deno.test("a URI no list names goes to the source whose template matches, within the length cap", () => {
  const catalog = new Catalog<Source>({ separator: "__", nameBudget: 64 });
  const docs = source("docs", { resourceTemplates: [{ uriTemplate: "docs://{p}/{page}.md" }] });
  const logs = source("logs", { resourceTemplates: [{ uriTemplate: "logs://{day}" }] });
  catalog.rebuild([docs, logs]);
  assert.equal(catalog.resourceTarget("logs://monday")?.source, logs);
  assert.equal(catalog.resourceTarget("docs://a/b.md")?.source, docs);
  assert.equal(catalog.resourceTarget("other://x"), undefined, "two candidates: no guess");
  assert.equal(catalog.resourceTarget(`docs://a/${"x".repeat(MAX_URI_LENGTH)}.md`), undefined);
  assert.equal(catalog.templateOwner("logs://{day}"), logs);
});

Deno.test("pages of 100 with opaque cursors; a cursor mcpmon did not make is refused", () => {
  const items = Array.from({ length: 250 }, (_, i) => ({ name: `t${i}` }));
  const first = page(items, undefined)!;
  const second = page(items, first.nextCursor)!;
  const third = page(items, second.nextCursor)!;
  assert.deepEqual([first, second, third].map((p) => p.items.length), [100, 100, 50]);
  assert.equal(third.nextCursor, undefined);
  assert.equal(page(items, "bm90IGEgY3Vyc29y"), undefined);
  assert.equal(page(items, 42), undefined);
});

Deno.test("matchesTemplate: each expression takes one or more characters, literals in order", () => {
  const t = "docs://{project}/{version}/{page}.md";
  assert.equal(matchesTemplate(t, "docs://p/v/x.md"), true);
  assert.equal(matchesTemplate(t, "docs://p/v/a/b.md"), true);
  assert.equal(matchesTemplate(t, "docs://p//x.md"), false, "every expression takes a character");
  assert.equal(matchesTemplate(t, "docs://a/b/c/d.md"), true, "an expression may hold a /");
  assert.equal(matchesTemplate(t, "docs://p/v/.md"), false);
  assert.equal(matchesTemplate(t, "docs://p/v.md"), false);
  assert.equal(matchesTemplate(t, "docs://p/v/x.txt"), false);
  assert.equal(matchesTemplate("a{x}{y}b", "a12b"), true);
  assert.equal(matchesTemplate("a{x}{y}b", "a1b"), false);
  assert.equal(matchesTemplate("plain://x", "plain://x"), true);
  assert.equal(matchesTemplate("x{a}x{b}x", "xxx"), false);
  assert.equal(matchesTemplate("x{a}x{b}x", "x1x2x"), true);
  const t0 = performance.now();
  assert.equal(matchesTemplate(t, "docs://" + "/".repeat(100_000) + "x"), false);
  assert.ok(performance.now() - t0 < 2000, "no backtracking");
});
