/**
 * `deno task demo`: a live reload you can watch.
 *
 * Copies the fixture server to a temp dir, runs it under mcpmon, connects as
 * an MCP client (the SDK's), then edits: a new tool, a syntax error in the
 * server, the fix. Prints what the client sees each time, and mcpmon's own
 * log lines.
 *
 * @module
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { ToolListChangedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const dir = await Deno.makeTempDir({ prefix: "mcpmon-demo-" });
await Deno.copyFile(`${root}fixtures/servers/well_behaved.mjs`, `${dir}/server.mjs`);
const toolsFile = `${dir}/tools.mjs`;
const writeTools = (tools: { name: string; text: string }[]) =>
  Deno.writeTextFile(
    toolsFile,
    `export default ${
      JSON.stringify(tools.map((t) => ({ ...t, description: `says ${t.text}` })), null, 2)
    };\n`,
  );
await writeTools([{ name: "hello", text: "hello v1" }]);

const dim = (s: string) => `\x1b[2m${s}\x1b[0m`;
const bold = (s: string) => `\x1b[1m${s}\x1b[0m`;
const step = (s: string) => console.log(`\n${bold("▶ " + s)}`);

const transport = new StdioClientTransport({
  command: Deno.execPath(),
  args: [
    "run",
    "-A",
    `${root}mod.ts`,
    "--watch",
    dir,
    "--debounce",
    "50",
    "--name",
    "demo",
    "--",
    "node",
    `${dir}/server.mjs`,
  ],
  stderr: "pipe",
});
// mcpmon's log lines, shown as they come.
transport.stderr?.on("data", (chunk: Uint8Array) => {
  for (const line of new TextDecoder().decode(chunk).split("\n")) {
    if (line.trim()) console.log(dim(`  │ ${line}`));
  }
});

const client = new Client({ name: "mcpmon-demo", version: "1.0.0" });
let listChanged: () => void = () => {};
client.setNotificationHandler(ToolListChangedNotificationSchema, () => listChanged());
const nextListChanged = () => new Promise<void>((resolve) => listChanged = resolve);

const toolNames = async () =>
  (await client.listTools()).tools.map((t: { name: string }) => t.name).join(", ");
const call = async (name: string) => {
  const result = await client.callTool({ name, arguments: {} });
  const content = result.content as { type: string; text: string }[];
  return `${result.isError ? "error: " : ""}${content[0]?.text}`;
};

try {
  step(`Starting mcpmon on a fixture server in ${dir}`);
  await client.connect(transport);
  console.log(`  server:  ${JSON.stringify(client.getServerVersion())}`);
  console.log(`  tools:   ${await toolNames()}`);
  console.log(`  hello →  ${await call("hello")}   (server pid ${await call("pid")})`);

  step("Editing tools.mjs: hello says v2, and a new tool `goodbye`");
  let changed = nextListChanged();
  let t0 = performance.now();
  await writeTools([{ name: "hello", text: "hello v2" }, { name: "goodbye", text: "see you" }]);
  await changed;
  console.log(`  notifications/tools/list_changed after ${Math.round(performance.now() - t0)} ms`);
  console.log(`  tools:   ${await toolNames()}`);
  console.log(`  hello →  ${await call("hello")}   (server pid ${await call("pid")})`);
  console.log(`  goodbye → ${await call("goodbye")}`);

  step("Breaking the server: a syntax error in server.mjs");
  const serverFile = `${dir}/server.mjs`;
  const good = await Deno.readTextFile(serverFile);
  await Deno.writeTextFile(serverFile, good + "\nfunction oops( {\n");
  await waitFor(async () => {
    try {
      await client.listTools();
      return false;
    } catch (err) {
      console.log(
        `  tools/list → error: ${(err as Error).message.split("\n").slice(0, 4).join("\n    ")}`,
      );
      return true;
    }
  });

  step("Fixing it (and hello says v3): the same client session recovers");
  changed = nextListChanged();
  t0 = performance.now();
  await writeTools([{ name: "hello", text: "hello v3" }]);
  await Deno.writeTextFile(serverFile, good);
  await changed;
  console.log(`  notifications/tools/list_changed after ${Math.round(performance.now() - t0)} ms`);
  console.log(`  tools:   ${await toolNames()}`);
  console.log(`  hello →  ${await call("hello")}   (server pid ${await call("pid")})`);
  step("Done: one client session, three server processes, nothing lost.");
} finally {
  await client.close();
  await Deno.remove(dir, { recursive: true });
}

/** Polls `check` until it returns true (at most ~10 s). */
async function waitFor(check: () => Promise<boolean>) {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("timed out");
}
