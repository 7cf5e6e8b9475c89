import assert from "node:assert/strict";
import { removePycache, watchesPython } from "../src/pycache.ts";

Deno.test("removePycache removes __pycache__ dirs at any depth but not inside ignored dirs", async () => {
  const root = await Deno.makeTempDir();
  try {
    for (
      const dir of [
        "__pycache__",
        "pkg/__pycache__",
        "pkg/sub/__pycache__",
        ".venv/lib/__pycache__",
      ]
    ) {
      await Deno.mkdir(`${root}/${dir}`, { recursive: true });
      await Deno.writeTextFile(`${root}/${dir}/mod.cpython-311.pyc`, "x");
    }
    await Deno.writeTextFile(`${root}/pkg/mod.py`, "print(1)");
    const removed = await removePycache([root], [".venv", "__pycache__"]);
    assert.deepEqual(removed.map((p) => p.slice(root.length + 1)).sort(), [
      "__pycache__",
      "pkg/__pycache__",
      "pkg/sub/__pycache__",
    ]);
    assert.equal(await Deno.readTextFile(`${root}/pkg/mod.py`), "print(1)");
    assert.ok(
      (await Deno.stat(`${root}/.venv/lib/__pycache__`)).isDirectory,
      "ignored dirs are left alone",
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("removePycache skips roots that are files or missing", async () => {
  assert.deepEqual(await removePycache(["/nonexistent/path", "/etc/hostname"], []), []);
});

Deno.test("watchesPython is true for py or for every file", () => {
  assert.equal(watchesPython({ extensions: ["js", "py"] }), true);
  assert.equal(watchesPython({ extensions: [] }), true);
  assert.equal(watchesPython({ extensions: ["ts"] }), false);
});
