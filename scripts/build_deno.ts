/**
 * `deno task build:deno`: mcpmon's command line for Deno, bundled: `dist/deno/mcpmon.js` and its
 * chunks, built with esbuild (from npm) from the same sources as `mod.ts`.
 *
 * Deno runs TypeScript sources well, but at every start it looks each module up in its caches
 * (the emitted JavaScript, the dependency analysis, V8's code cache) and loads them one by one:
 * the ~35 modules on the way to a running proxy cost it ~15 ms more than the same code bundled.
 * The bundle is ES modules split at the command line's dynamic imports, as the sources are (the
 * proxy, the watcher, the gateway, the HTTP front and each subcommand load only when used, and the
 * server is spawned before the proxy's modules load); whitespace and comments are left out; names
 * are kept, so stack traces still name the functions. `node:` built-ins stay imports, and the npm
 * packages become `npm:` imports of the versions `deno.json` maps them to, so the bundle runs from
 * any directory with no config file:
 *
 * ```sh
 * deno task build:deno
 * deno run -A dist/deno/mcpmon.js --watch src -- python server.py
 * ```
 *
 * `deno task test` runs the e2e suite on Deno against this bundle (with the README's scoped
 * permissions), as it runs it against the npm build on Node and Bun and against the binary.
 *
 * @module
 */
// The same esbuild as the npm build (scripts/build_npm.ts).
// deno-lint-ignore no-import-prefix
import * as esbuild from "npm:esbuild@0.28.2";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Where the bundle is written, relative to the repository. */
export const DENO_BUNDLE_DIR = "dist/deno";

/** The bundle's entry point (run it with `deno run`), relative to the repository. */
export const DENO_BUNDLE_PATH = `${DENO_BUNDLE_DIR}/mcpmon.js`;

/** What the entry point runs: the command line on the Deno runtime, as `mod.ts` does. */
const ENTRY = `import { denoRuntime } from "./src/runtime/deno.ts";
import { main } from "./src/cli.ts";
denoRuntime.exit(await main(denoRuntime));
`;

/**
 * What `spec` maps to through the import map `imports`: its own entry, else the longest `name/`
 * entry it starts with, followed by the rest of it; undefined when none maps it. Also used by the
 * npm build (scripts/build_npm.ts).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const imports = { yaml: "npm:yaml@^2.9.1", "@m/sdk/": "npm:/@m/sdk@1.0.0/" };
 * assert.equal(importMapTarget("yaml", imports), "npm:yaml@^2.9.1");
 * assert.equal(importMapTarget("@m/sdk/client.js", imports), "npm:/@m/sdk@1.0.0/client.js");
 * assert.equal(importMapTarget("zod", imports), undefined);
 * ```
 */
export function importMapTarget(spec: string, imports: Record<string, string>): string | undefined {
  if (Object.hasOwn(imports, spec)) return imports[spec];
  const prefix = Object.keys(imports)
    .filter((key) => key.endsWith("/") && spec.startsWith(key))
    .sort((a, b) => b.length - a.length)[0];
  return prefix === undefined ? undefined : imports[prefix] + spec.slice(prefix.length);
}

/**
 * Builds the bundle into `outDir` (default {@linkcode DENO_BUNDLE_DIR}; emptied first) and
 * returns the path of its entry point. Throws with esbuild's messages when the build fails, and
 * when a package the sources import is not an `npm:` entry of `deno.json`'s imports.
 *
 * @example
 * ```ts ignore
 * const entry = await buildDeno();
 * // deno run -A <entry> -- node server.js
 * ```
 */
export async function buildDeno(outDir = join(ROOT, DENO_BUNDLE_DIR)): Promise<string> {
  const imports: Record<string, string> =
    JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json"))).imports ?? {};
  await Deno.remove(outDir, { recursive: true }).catch((err) => {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  });
  try {
    await esbuild.build({
      stdin: { contents: ENTRY, resolveDir: ROOT, sourcefile: "mcpmon.js", loader: "js" },
      bundle: true,
      splitting: true,
      format: "esm",
      platform: "neutral",
      target: "esnext",
      outdir: outDir,
      entryNames: "mcpmon",
      chunkNames: "chunks/[name]-[hash]",
      minifyWhitespace: true,
      minifySyntax: true,
      legalComments: "none",
      logLevel: "silent",
      banner: {
        js: "// mcpmon's command line for Deno, bundled by scripts/build_deno.ts (esbuild).",
      },
      plugins: [{
        name: "deno-imports",
        setup(build) {
          build.onResolve({ filter: /^node:/ }, (args) => ({ path: args.path, external: true }));
          build.onResolve({ filter: /^[^./]/ }, (args) => {
            const npm = importMapTarget(args.path, imports);
            if (npm === undefined || !npm.startsWith("npm:")) {
              return {
                errors: [{ text: `${args.path} is not an npm: entry of deno.json's imports` }],
              };
            }
            return { path: npm, external: true };
          });
        },
      }],
    });
  } finally {
    await esbuild.stop();
  }
  // The entry point's types, for JSR (a JavaScript export needs them): it exports nothing.
  const entry = join(outDir, "mcpmon.js");
  await Deno.writeTextFile(
    join(outDir, "mcpmon.d.ts"),
    "// mcpmon's command line (`deno run jsr:@mcpmon/cli/bin`): it exports nothing.\nexport {};\n",
  );
  await Deno.writeTextFile(
    entry,
    `// @ts-self-types="./mcpmon.d.ts"\n${await Deno.readTextFile(entry)}`,
  );
  return entry;
}

if (import.meta.main) {
  const entry = await buildDeno();
  console.log(`built ${entry}`);
}
