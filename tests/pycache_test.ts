import assert from "node:assert/strict";
import { removeBytecode, watchesPython } from "../src/pycache.ts";

Deno.test("removeBytecode removes only the cached bytecode of the changed .py files", async () => {
  const root = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${root}/pkg/__pycache__`, { recursive: true });
    await Deno.mkdir(`${root}/__pycache__`, { recursive: true });
    for (
      const file of [
        "pkg/__pycache__/mod.cpython-311.pyc",
        "pkg/__pycache__/mod.cpython-311.opt-1.pyc",
        "pkg/__pycache__/mod.cpython-312.pyc",
        "pkg/__pycache__/module.cpython-311.pyc", // another module whose name starts alike
        "pkg/__pycache__/other.cpython-311.pyc",
        "__pycache__/a.b.cpython-311.pyc", // a stem with a dot
        "__pycache__/server.cpython-311.pyc",
      ]
    ) await Deno.writeTextFile(`${root}/${file}`, "x");
    const removed = await removeBytecode([
      `${root}/pkg/mod.py`,
      `${root}/a.b.py`,
      `${root}/notes.txt`,
      `${root}/missing/gone.py`,
    ]);
    assert.deepEqual(removed.map((p) => p.slice(root.length + 1)).sort(), [
      "__pycache__/a.b.cpython-311.pyc",
      "pkg/__pycache__/mod.cpython-311.opt-1.pyc",
      "pkg/__pycache__/mod.cpython-311.pyc",
      "pkg/__pycache__/mod.cpython-312.pyc",
    ]);
    const left = [...Deno.readDirSync(`${root}/pkg/__pycache__`)].map((e) => e.name).sort();
    assert.deepEqual(left, ["module.cpython-311.pyc", "other.cpython-311.pyc"]);
    assert.ok(Deno.statSync(`${root}/__pycache__/server.cpython-311.pyc`).isFile);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a same-size edit within the same second runs the new code once its bytecode is removed", async () => {
  // Python checks a .pyc against the source's mtime (whole seconds) and size: an edit that
  // keeps both would run stale bytecode. PYTHONDONTWRITEBYTECODE is unset so Python caches.
  const root = await Deno.makeTempDir();
  const run = async () => {
    const env = Deno.env.toObject();
    delete env.PYTHONDONTWRITEBYTECODE;
    const out = await new Deno.Command("python3", {
      args: ["-c", "import mod; print(mod.V)"],
      cwd: root,
      env,
      clearEnv: true,
    }).output();
    return new TextDecoder().decode(out.stdout).trim();
  };
  try {
    const mtime = new Date(Math.floor(Date.now() / 1000) * 1000);
    await Deno.writeTextFile(`${root}/mod.py`, "V = 'one'\n");
    await Deno.utime(`${root}/mod.py`, mtime, mtime);
    assert.equal(await run(), "one");
    await Deno.writeTextFile(`${root}/mod.py`, "V = 'two'\n"); // same size
    await Deno.utime(`${root}/mod.py`, mtime, mtime); // same second
    assert.equal(await run(), "one", "without clearing, Python runs the stale bytecode");
    assert.equal((await removeBytecode([`${root}/mod.py`])).length, 1);
    assert.equal(await run(), "two");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("watchesPython is true for py or for every file", () => {
  assert.equal(watchesPython({ extensions: ["js", "py"] }), true);
  assert.equal(watchesPython({ extensions: [] }), true);
  assert.equal(watchesPython({ extensions: ["ts"] }), false);
});
