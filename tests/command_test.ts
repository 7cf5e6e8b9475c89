import assert from "node:assert/strict";
import { editDistance, findCommand } from "../src/command.ts";

function withBin(fn: (dir: string) => void) {
  const dir = Deno.makeTempDirSync({ prefix: "mcpmon-bin-" });
  try {
    for (const name of ["python", "python3", "node"]) {
      Deno.writeTextFileSync(`${dir}/${name}`, "#!/bin/sh\n");
      Deno.chmodSync(`${dir}/${name}`, 0o755);
    }
    Deno.writeTextFileSync(`${dir}/notexec`, "");
    Deno.mkdirSync(`${dir}/adir`);
    fn(dir);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("findCommand finds a program on PATH, and a path relative to the cwd", () => {
  withBin((dir) => {
    assert.deepEqual(findCommand("python", { cwd: "/", path: `/nonexistent:${dir}` }), {
      ok: true,
      path: `${dir}/python`,
    });
    assert.deepEqual(findCommand("./node", { cwd: dir, path: "" }), {
      ok: true,
      path: `${dir}/node`,
    });
  });
});

Deno.test("a mistyped program is not found, with the closest names on PATH suggested", () => {
  withBin((dir) => {
    const found = findCommand("pyhton", { cwd: "/", path: dir });
    assert.equal(found.ok, false);
    if (!found.ok) {
      assert.equal(
        found.reason,
        `"pyhton" was not found on PATH (did you mean "python" or "python3"?)`,
      );
    }
  });
});

Deno.test("a file that is not executable, a directory or a missing path is reported as such", () => {
  withBin((dir) => {
    const notExec = findCommand("notexec", { cwd: "/", path: dir });
    assert.ok(!notExec.ok && notExec.reason === `${dir}/notexec is not executable (chmod +x?)`);
    const isDir = findCommand(`${dir}/adir`, { cwd: "/", path: "" });
    assert.ok(!isDir.ok && isDir.reason === `${dir}/adir is a directory`);
    const missing = findCommand("./gone.py", { cwd: dir, path: "" });
    assert.ok(!missing.ok && missing.reason === `${dir}/gone.py: no such file`);
  });
});

Deno.test("editDistance counts a swap of neighbours as one edit", () => {
  assert.equal(editDistance("pyhton", "python"), 1);
  assert.equal(editDistance("nodee", "node"), 1);
  assert.equal(editDistance("abc", "xyz"), 3);
});
