import assert from "node:assert/strict";
import { globToRegExp, ignoreMatcher, matchesAnyGlob } from "../src/glob.ts";
import { DEFAULT_IGNORE } from "../src/config.ts";

function assertGlob(pattern: string, matching: string[], notMatching: string[]) {
  const re = globToRegExp(pattern);
  for (const path of matching) assert.ok(re.test(path), `${pattern} should match ${path} (${re})`);
  for (const path of notMatching) {
    assert.ok(!re.test(path), `${pattern} should not match ${path} (${re})`);
  }
}

Deno.test("globToRegExp: * matches within one segment only", () => {
  assertGlob("*.py", ["a.py", ".py", ".hidden.py"], ["a.pyc", "dir/a.py", "a.py/x"]);
  assertGlob("src/*", ["src/a", "src/a.ts"], ["src", "src/a/b", "lib/a"]);
  assertGlob("a*b*c", ["abc", "aXbYc", "abbbc"], ["a/b/c", "ab"]);
});

Deno.test("globToRegExp: ** matches any depth, including none", () => {
  assertGlob("**/*.py", ["a.py", "x/a.py", "x/y/z/a.py"], ["a.pyc", "x/a.js"]);
  assertGlob("src/**/test.ts", ["src/test.ts", "src/a/test.ts", "src/a/b/test.ts"], [
    "test.ts",
    "srctest.ts",
    "lib/a/test.ts",
  ]);
  assertGlob("src/**", ["src", "src/a", "src/a/b.ts"], ["srcx", "lib/src/a"]);
  assertGlob("**", ["", "a", "a/b/c"], []);
});

Deno.test("globToRegExp: ** inside a segment acts like *", () => {
  assertGlob("a**b", ["ab", "axxb"], ["a/b", "ax/yb"]);
});

Deno.test("globToRegExp: ? matches exactly one character except /", () => {
  assertGlob("?.ts", ["a.ts", "_.ts"], [".ts", "ab.ts", "/.ts"]);
  assertGlob("a?b", ["axb"], ["a/b", "ab"]);
});

Deno.test("globToRegExp: {a,b} matches any alternative, nested and with globs", () => {
  assertGlob("*.{ts,js}", ["a.ts", "b.js"], ["a.tsx", "a.py", "a.{ts,js}"]);
  assertGlob("{src,lib}/**/*.py", ["src/a.py", "lib/x/y.py"], ["test/a.py"]);
  assertGlob("a{b,c{d,e}}f", ["abf", "acdf", "acef"], ["acf", "adf"]);
  assertGlob("x{,.bak}", ["x", "x.bak"], ["x.", "xbak"]);
});

Deno.test("globToRegExp: braces without a comma or unclosed are literal", () => {
  assertGlob("a{b}c", ["a{b}c"], ["abc"]);
  assertGlob("a{b,c", ["a{b,c"], ["ab", "ac"]);
});

Deno.test("globToRegExp: character classes, ranges and negation", () => {
  assertGlob("[abc].ts", ["a.ts", "c.ts"], ["d.ts", "ab.ts"]);
  assertGlob("file[0-9]", ["file0", "file7"], ["filea", "file10"]);
  assertGlob("[!a]x", ["bx", ".x"], ["ax", "/x"]);
  assertGlob("[^a]x", ["bx"], ["ax"]);
  assertGlob("[]a]", ["]", "a"], ["b"]);
  assertGlob("[a-]", ["a", "-"], ["b"]);
  assertGlob("[.-0]", [".", "0"], ["/"]);
  assertGlob("a[b", ["a[b"], ["ab"]);
  assertGlob("[{,}]", ["{", ",", "}"], ["a"]);
});

Deno.test("globToRegExp: regexp metacharacters and escapes are literal", () => {
  assertGlob("a+b(c)|d$.^", ["a+b(c)|d$.^"], ["aab(c)|d$x^"]);
  assertGlob("\\*.py", ["*.py"], ["a.py"]);
  assertGlob("a\\{b,c}", ["a{b,c}"], ["ab", "ac"]);
  assertGlob("\\[x]", ["[x]"], ["x"]);
});

Deno.test("matchesAnyGlob: a pattern without / matches any single segment", () => {
  assert.ok(matchesAnyGlob("node_modules", ["node_modules"]));
  assert.ok(matchesAnyGlob("node_modules/pkg/index.js", ["node_modules"]));
  assert.ok(matchesAnyGlob("packages/a/node_modules/pkg/index.js", ["node_modules"]));
  assert.ok(!matchesAnyGlob("my_node_modules/x.js", ["node_modules"]));
  assert.ok(!matchesAnyGlob("node_modules_old/x.js", ["node_modules"]));
  assert.ok(matchesAnyGlob("cache/a.pyc", ["*.pyc"]));
  assert.ok(matchesAnyGlob("a.pyc", ["*.pyc"]));
  assert.ok(!matchesAnyGlob("a.py", ["*.pyc"]));
});

Deno.test("matchesAnyGlob: a pattern with / is matched from the watch root", () => {
  assert.ok(matchesAnyGlob("src/gen/types.ts", ["src/gen"]));
  assert.ok(matchesAnyGlob("src/gen", ["src/gen"]));
  assert.ok(!matchesAnyGlob("lib/src/gen/types.ts", ["src/gen"]));
  assert.ok(!matchesAnyGlob("src/generated/types.ts", ["src/gen"]));
  assert.ok(matchesAnyGlob("src/a_test.py", ["src/*_test.py"]));
  assert.ok(!matchesAnyGlob("src/sub/a_test.py", ["src/*_test.py"]));
  assert.ok(matchesAnyGlob("src/sub/a_test.py", ["src/**/*_test.py"]));
  assert.ok(matchesAnyGlob("x/y/fixtures/a.py", ["**/fixtures"]));
});

Deno.test("matchesAnyGlob: a leading ./ or / anchors, a trailing / means the directory and below", () => {
  assert.ok(matchesAnyGlob("build/out.js", ["./build"]));
  assert.ok(!matchesAnyGlob("src/build/out.js", ["./build"]));
  assert.ok(matchesAnyGlob("build/out.js", ["/build"]));
  assert.ok(!matchesAnyGlob("src/build/out.js", ["/build"]));
  assert.ok(matchesAnyGlob("build/out.js", ["build/"]));
  assert.ok(matchesAnyGlob("src/build/out.js", ["build/"]), "like .gitignore, not anchored");
  assert.ok(matchesAnyGlob("src/gen/a.ts", ["src/gen/"]));
  assert.ok(matchesAnyGlob("src/gen/a.ts", ["./src/gen/"]));
});

Deno.test("matchesAnyGlob: a path with a leading ./ is matched like one without", () => {
  assert.ok(matchesAnyGlob("./src/gen/a.ts", ["src/gen"]));
  assert.ok(matchesAnyGlob("./node_modules/a.js", ["node_modules"]));
});

Deno.test("matchesAnyGlob: no patterns, or empty ones, match nothing", () => {
  assert.ok(!matchesAnyGlob("a.py", []));
  assert.ok(!matchesAnyGlob("a.py", ["", "./", "/"]));
});

Deno.test("matchesAnyGlob: the default ignores cover VCS, dependency, cache and editor files", () => {
  const ignored = ignoreMatcher(DEFAULT_IGNORE);
  for (
    const path of [
      ".git/HEAD",
      ".git/objects/ab/cdef",
      "node_modules/x/index.js",
      "web/node_modules/x/index.ts",
      "src/__pycache__/mod.cpython-312.pyc",
      ".venv/lib/python3.12/site-packages/x.py",
      "venv/bin/activate.py",
      ".mypy_cache/3.12/x.py",
      ".pytest_cache/v/x.py",
      ".ruff_cache/x.py",
      ".tox/py312/x.py",
      "src/mod.pyc",
      "src/.server.py.swp",
      "src/server.py~",
      "src/.#server.py",
      ".DS_Store",
    ]
  ) assert.ok(ignored(path), `${path} should be ignored`);
  for (const path of ["server.py", "src/tools/weather.ts", "src/git/x.py", "src/venvy/x.py"]) {
    assert.ok(!ignored(path), `${path} should not be ignored`);
  }
});
