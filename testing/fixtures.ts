/**
 * The fixture servers' paths and a fresh copy of the well-behaved fixture,
 * shared by the e2e specs and the bench.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** Absolute path of the repository root. */
export const REPO_ROOT: string = dirname(dirname(fileURLToPath(import.meta.url)));
/** Absolute path of the CLI entry point, `mod.ts`. */
export const MOD_PATH: string = join(REPO_ROOT, "mod.ts");
/** Absolute path of `fixtures/servers/`. */
export const FIXTURES_DIR: string = join(REPO_ROOT, "fixtures", "servers");
/** The raw, dependency-free fixture server (run with `node` or `deno run -A`). */
export const WELL_BEHAVED: string = join(FIXTURES_DIR, "well_behaved.mjs");
/** The fixture server written with the MCP SDK (run with `deno run -A`). */
export const SDK_SERVER: string = join(FIXTURES_DIR, "sdk_server.ts");
/** `sh wrapper.sh [flags]` runs well_behaved.mjs under node as a grandchild. */
export const WRAPPER: string = join(FIXTURES_DIR, "wrapper.sh");

/** One extra tool of the well_behaved fixture, as written to its `tools.mjs`. */
export interface FixtureTool {
  /** Tool name. */
  name: string;
  /** Tool description (the fixture derives one when absent). */
  description?: string;
  /** The text that calling the tool returns. */
  text: string;
}

/**
 * A temp dir for the whole test process: made now, removed with what is in it when the tests end
 * (the `unload` event, which `deno test` dispatches once every test has run).
 */
export function processTempDir(prefix: string): string {
  const dir = Deno.makeTempDirSync({ prefix });
  globalThis.addEventListener("unload", () => {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch { /* gone already */ }
  });
  return dir;
}

/** A temp dir holding a copy of the well_behaved fixture; removed on dispose. */
export interface FixtureDir extends AsyncDisposable {
  /** The temp dir (watch this). */
  dir: string;
  /** `<dir>/well_behaved.mjs`. */
  serverPath: string;
  /** `<dir>/tools.mjs`, imported by the server at start. */
  toolsPath: string;
  /** Rewrites tools.mjs in one write call (an "edit" for the watcher). */
  writeTools(tools: FixtureTool[]): Promise<void>;
}

/**
 * Copies `well_behaved.mjs` and `tools.mjs` into a fresh temp dir.
 *
 * @example
 * ```ts ignore
 * await using fx = await makeFixtureDir();
 * await fx.writeTools([{ name: "hello", text: "hello v2" }]);
 * ```
 */
export async function makeFixtureDir(): Promise<FixtureDir> {
  const dir = await Deno.makeTempDir({ prefix: "mcpmon-fixture-" });
  const serverPath = join(dir, "well_behaved.mjs");
  const toolsPath = join(dir, "tools.mjs");
  await Deno.copyFile(WELL_BEHAVED, serverPath);
  await Deno.copyFile(join(FIXTURES_DIR, "tools.mjs"), toolsPath);
  return {
    dir,
    serverPath,
    toolsPath,
    async writeTools(tools) {
      await Deno.writeTextFile(toolsPath, `export default ${JSON.stringify(tools, null, 2)};\n`);
    },
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
