/**
 * Watching what the user means: every save is seen (atomic ones too), a
 * watched directory that is removed and recreated is followed, ignored trees
 * cost nothing, and a server that writes into its own directory does not
 * restart forever. Runs on every launcher.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { callText, makeFixtureDir, startMcpmon, waitUntil } from "./_harness.ts";

const FAST = ["--debounce", "30", "--min-interval", "0"];

/** Saves `text` to `path` as "safe write" editors and `sed -i` do: a temp file renamed over it. */
async function atomicSave(path: string, text: string): Promise<void> {
  const temp = join(path, "..", `.${Math.random().toString(36).slice(2)}.tmp`);
  await Deno.writeTextFile(temp, text);
  await Deno.rename(temp, path);
}

const toolsModule = (text: string) =>
  `export default ${JSON.stringify([{ name: "hello", text }])};\n`;

Deno.test("an editor's atomic save reloads the server every time", async () => {
  await using fx = await makeFixtureDir();
  await using mon = await startMcpmon({
    mcpmonArgs: ["--watch", fx.dir, ...FAST],
    server: ["node", fx.serverPath],
  });
  for (let i = 1; i <= 3; i++) {
    const mark = mon.notificationCount();
    await atomicSave(fx.toolsPath, toolsModule(`hello v${i + 1}`));
    await mon.waitForNotification("notifications/tools/list_changed", { after: mark });
    assert.equal(await callText(mon.client, "hello"), `hello v${i + 1}`, `save #${i}`);
  }
});

Deno.test("a watched directory removed and created again warns, then reloads resume", async () => {
  await using fx = await makeFixtureDir();
  const src = join(fx.dir, "src");
  await Deno.mkdir(src);
  await Deno.writeTextFile(join(src, "version.js"), "export const v = 1;\n");
  await using mon = await startMcpmon({
    mcpmonArgs: ["--watch", src, ...FAST],
    server: ["node", fx.serverPath],
  });
  const pid1 = await callText(mon.client, "pid");
  await Deno.remove(src, { recursive: true });
  await mon.waitForStderr(/watched directory .*src was removed/);
  await Deno.mkdir(src);
  await Deno.writeTextFile(join(src, "version.js"), "export const v = 2;\n");
  await mon.waitForStderr(/watched directory .*src is back/);
  // The edit after it came back restarts the server (whichever event reports it first).
  await waitUntil(
    async () => (await callText(mon.client, "pid")) !== pid1,
    15_000,
    "a restart once the directory is back",
  );
  const pid2 = await callText(mon.client, "pid");
  const mark = mon.notificationCount();
  await Deno.writeTextFile(join(src, "version.js"), "export const v = 3;\n");
  await mon.waitForNotification("notifications/tools/list_changed", { after: mark });
  assert.notEqual(await callText(mon.client, "pid"), pid2);
});

Deno.test("ignored trees are never watched, and edits in them restart nothing", async () => {
  await using fx = await makeFixtureDir();
  for (let i = 0; i < 50; i++) {
    await Deno.mkdir(join(fx.dir, "node_modules", `pkg${i}`, "lib"), { recursive: true });
  }
  await Deno.mkdir(join(fx.dir, "dist"));
  await Deno.mkdir(join(fx.dir, "generated"));
  await Deno.mkdir(join(fx.dir, "env"));
  await Deno.writeTextFile(join(fx.dir, "env", "pyvenv.cfg"), "home = /usr/bin\n");
  await Deno.writeTextFile(join(fx.dir, ".gitignore"), "generated/\n");
  await using mon = await startMcpmon({
    mcpmonArgs: ["--watch", fx.dir, ...FAST],
    server: ["node", fx.serverPath],
  });
  // Only the fixture directory itself: node_modules, dist, the .gitignored and the venv are out.
  await mon.waitForStderr(/Watching \S+ \(1 directory\)/);
  const pid1 = await callText(mon.client, "pid");
  await Deno.writeTextFile(join(fx.dir, "node_modules", "pkg0", "index.js"), "x\n");
  await Deno.writeTextFile(join(fx.dir, "dist", "index.js"), "x\n");
  await Deno.writeTextFile(join(fx.dir, "generated", "types.js"), "x\n");
  await Deno.writeTextFile(join(fx.dir, "env", "site.py"), "x\n");
  // A real edit afterwards: the only restart.
  const mark = mon.notificationCount();
  await fx.writeTools([{ name: "hello", text: "hello v2" }]);
  await mon.waitForNotification("notifications/tools/list_changed", { after: mark });
  assert.notEqual(await callText(mon.client, "pid"), pid1);
  assert.equal(mon.stderrText().match(/Restart #\d+ complete/g)?.length, 1, mon.stderrText());
});

Deno.test("a server that writes into its watched directory at start is stopped from looping", async () => {
  await using fx = await makeFixtureDir();
  await using mon = await startMcpmon({
    mcpmonArgs: ["--watch", fx.dir, ...FAST],
    server: ["node", fx.serverPath, "--write-on-start=state.js"],
  });
  await mon.waitForStderr(/Restart loop: .*state\.js/, 20_000);
  const restarts = () => mon.stderrText().match(/Restart #\d+ complete/g)?.length ?? 0;
  assert.ok(restarts() <= 5, `the loop is caught within a few restarts, not ${restarts()}`);
  // The server keeps serving, and a real edit still reloads it.
  await fx.writeTools([{ name: "hello", text: "hello v2" }]);
  await waitUntil(
    async () => (await callText(mon.client, "hello")) === "hello v2",
    15_000,
    "the edit is served",
  );
  // And the loop stays stopped: at most a restart already under way, then quiet.
  const settled = restarts();
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  assert.ok(restarts() <= settled + 1, `no more restarts: ${settled} → ${restarts()}`);
});
