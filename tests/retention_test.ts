import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

Deno.test("an old generation and its initialize result are released after restarts", async () => {
  const probe = fileURLToPath(new URL("./_retention_probe.ts", import.meta.url));
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--v8-flags=--expose-gc", probe],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  assert.deepEqual(JSON.parse(text.split("\n").at(-1)!), { generation: true, initResult: true });
});
