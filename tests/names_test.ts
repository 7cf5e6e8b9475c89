import assert from "node:assert/strict";
import { exposedName, NameTable, shortHash } from "../src/names.ts";

Deno.test("names are <server><separator><name> within the budget", () => {
  assert.equal(exposedName("sage", "recall", "__", 64), "sage__recall");
  assert.equal(exposedName("sage", "recall", "::", 64), "sage::recall");
});

Deno.test("names past the budget are cut and hashed, stably and distinctly", () => {
  const a = exposedName("server", "a".repeat(80), "__", 64);
  const b = exposedName("server", "a".repeat(79) + "b", "__", 64);
  assert.equal(a.length, 64);
  assert.equal(b.length, 64);
  assert.notEqual(a, b, "same prefix, different names: different hashes");
  assert.equal(
    a,
    exposedName("server", "a".repeat(80), "__", 64),
    "stable across calls (and restarts)",
  );
  assert.match(a, /^server__a+_[0-9a-z]{7}$/);
  assert.ok(/^[a-zA-Z0-9_-]{1,64}$/.test(a), "fits Claude's and OpenAI's tool name pattern");
});

Deno.test("shortHash is 7 base-36 characters and depends on every character", () => {
  assert.match(shortHash("x"), /^[0-9a-z]{7}$/);
  assert.notEqual(shortHash("ab"), shortHash("ba"));
});

Deno.test("a collision keeps the first owner, renames the second and names both", () => {
  const warnings: string[] = [];
  // "a__b" + "c" and "a" + "b__c" both give "a__b__c".
  const table = new NameTable("__", 64, (m) => warnings.push(m));
  assert.equal(table.add("a__b", "c"), "a__b__c");
  const second = table.add("a", "b__c");
  assert.notEqual(second, "a__b__c");
  assert.deepEqual(table.route("a__b__c"), { server: "a__b", name: "c" });
  assert.deepEqual(table.route(second), { server: "a", name: "b__c" });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /a__b's "c" and a's "b__c"/);
});

Deno.test("routing uses the table, never string splitting", () => {
  const table = new NameTable("__", 64);
  table.add("my__server", "do__thing");
  assert.deepEqual(table.route("my__server__do__thing"), {
    server: "my__server",
    name: "do__thing",
  });
  assert.equal(table.route("my__server__other"), undefined);
});

Deno.test("a long server name is shortened before the tool's own name", () => {
  const name = exposedName(
    "an-extremely-verbose-server-name",
    "a_tool_with_a_rather_long_name",
    "__",
    40,
  );
  assert.equal(name.length, 40);
  assert.match(name, /^an-extre__a_tool_with_a_rather_l_[0-9a-z]{7}$/);
});
