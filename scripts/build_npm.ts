/**
 * `deno task build:npm`: builds the npm package (`mcpmon`, for Node >= 20 and
 * Bun) in `npm/` from the same source as the Deno/JSR package. It does what
 * dnt does, without dnt (which lives on JSR):
 *
 * - follows the module graph from the entry points (`mod.ts`, the Node
 *   runtime `src/runtime/node.ts`, the CLI `src/cli.ts`), so only shipped code
 *   is built: no tests, fixtures or scripts, and never `src/runtime/deno.ts`;
 * - drops `mod.ts`'s `if (import.meta.main) { … }` block (the Deno entry
 *   point); the npm entry point is `bin/mcpmon.js`, which runs `main` on the
 *   Node runtime;
 * - rewrites relative `.ts` import specifiers to `.js`, and bare or `npm:`
 *   specifiers to package names, collecting those packages (with the version
 *   ranges of `deno.json`'s imports) as `dependencies`;
 * - emits ESM JavaScript and `.d.ts` files per module with TypeScript from
 *   npm (`transpileModule` and `transpileDeclaration`; type checking is
 *   `deno task check`'s job). The source has explicit types everywhere JSR
 *   asks for them, so declarations need no type checker;
 * - bundles the bin, `bin/mcpmon.js`, into one file with esbuild (from npm):
 *   the CLI, the Node runtime and the installed npm dependencies, whitespace-
 *   and syntax-minified (names kept) so that Node compiles less at every
 *   start; the modules the CLI imports dynamically (the proxy, the gateway's
 *   config loader, YAML) are in the file but only run when first imported;
 * - for Bun, builds that bundle again with `bun build --bytecode` (when `bun`
 *   is on PATH): `bin/mcpmon-bun.cjs` and its JavaScriptCore bytecode
 *   `bin/mcpmon-bun.cjs.jsc`, which the bin runs on Bun (a Bun of another
 *   version ignores the bytecode and parses the file);
 * - refuses to write a package whose JavaScript (the bundle included) refers
 *   to `Deno`;
 * - writes `package.json` (name, version from `deno.json`, description,
 *   keywords, repository, homepage, bugs, `files`, `type: module`, `bin`,
 *   `exports` with types, `engines.node >= 20`), README and LICENSE.
 *
 * ```sh
 * deno task build:npm            # writes npm/
 * node npm/bin/mcpmon.js --version
 * (cd npm && npm pack --dry-run)
 * ```
 *
 * @module
 */
// TypeScript's compiler API comes from the npm registry (JSR is not reachable);
// pinned to the TypeScript version Deno 2.9 itself uses.
// deno-lint-ignore no-import-prefix
import ts from "npm:typescript@6.0.3";
// The bin is bundled with esbuild, from npm too.
// deno-lint-ignore no-import-prefix
import * as esbuild from "npm:esbuild@0.28.2";
import { chmod, copyFile, mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { importMapTarget } from "./build_deno.ts";

/** The repository root (where `deno.json` is). */
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** The npm package's name. */
export const PACKAGE_NAME = "mcpmon";

/**
 * Where the project lives (package.json's `repository`, `homepage`, `bugs`). Assumed from the JSR
 * scope `@mcpmon`: check it before the first publish.
 */
export const REPOSITORY = "https://github.com/mcpmon/mcpmon";

/** Options of {@linkcode buildNpm}. */
export interface BuildNpmOptions {
  /** The repository root; default: this script's parent directory. */
  root?: string;
  /** Where to write the package (emptied first); default `<root>/npm`. */
  outDir?: string;
  /**
   * Install the package's dependencies in `outDir` (`npm install --omit=dev`), so that
   * `node <outDir>/bin/mcpmon.js` runs; default true. Nothing to do when there are none.
   */
  install?: boolean;
  /** Progress lines; default: none. */
  log?: (line: string) => void;
  /**
   * The `bun` that builds Bun's bytecode of the bundle ({@linkcode BUN_BUNDLE_PATH}); default
   * `"bun"` (from PATH; none there: no bytecode, Bun runs {@linkcode BUNDLE_PATH}); `null`: none.
   */
  bun?: string | null;
}

/** What {@linkcode buildNpm} wrote. */
export interface BuildNpmResult {
  /** The package directory. */
  outDir: string;
  /** The package.json written. */
  packageJson: PackageJson;
  /** Every file written, relative to `outDir`, sorted. */
  files: string[];
}

/** The fields of package.json that the build writes. */
export interface PackageJson {
  /** Package name. */
  name: string;
  /** Version, from deno.json. */
  version: string;
  /** One line about the package. */
  description: string;
  /** SPDX license, from deno.json. */
  license: string;
  /** Search keywords. */
  keywords: string[];
  /** The source repository. */
  repository: { type: "git"; url: string };
  /** The project's page (the README on GitHub). */
  homepage: string;
  /** Where to report bugs. */
  bugs: { url: string };
  /** What `npm pack` ships besides package.json, README.md and LICENSE. */
  files: string[];
  /** Always `"module"`: the package is ESM. */
  type: "module";
  /** Executables: `mcpmon`. */
  bin: Record<string, string>;
  /** The library entry point (for tools that ignore `exports`). */
  main: string;
  /** Its declarations. */
  types: string;
  /** Entry points with their types. */
  exports: Record<string, string | { types: string; default: string }>;
  /** Supported runtimes. */
  engines: Record<string, string>;
  /** npm packages the shipped code imports. */
  dependencies?: Record<string, string>;
}

/** Modules the build starts from (relative to the root); everything they import is built. */
const ENTRY_POINTS = ["mod.ts", "src/cli.ts", "src/runtime/node.ts"];

/** Entry points exposed through package.json `exports`, by subpath. */
const EXPORTS: Record<string, string> = {
  ".": "mod.ts",
  "./runtime/node": "src/runtime/node.ts",
};

const BIN_NAME = "mcpmon";
/** The bin: a small CommonJS loader of {@linkcode BUNDLE_PATH} (with Node's code cache). */
const BIN_PATH = "bin/mcpmon.js";
/** The command line in one CommonJS file: the CLI, the Node runtime and the npm dependencies. */
export const BUNDLE_PATH = "bin/mcpmon-cli.cjs";
/**
 * Bun's build of {@linkcode BUNDLE_PATH} (`bun build --bytecode`), with its bytecode in
 * `<this>.jsc`: what the bin runs on Bun. Bun parses the bundle and compiles each function it runs
 * at every start (20–25 ms of its start-up); with the bytecode it does neither. The bytecode is
 * that of the Bun that built it: another Bun ignores it and parses the file, as before.
 */
export const BUN_BUNDLE_PATH = "bin/mcpmon-bun.cjs";
/** Makes `bin/*.js` CommonJS in a package that is ESM (`"type": "module"`). */
const BIN_PACKAGE_PATH = "bin/package.json";

const COMPILER_OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  lib: ["lib.es2023.d.ts", "lib.dom.d.ts", "lib.esnext.disposable.d.ts"],
  declaration: true,
  noCheck: true,
  skipLibCheck: true,
  strict: true,
  removeComments: false,
  newLine: ts.NewLineKind.LineFeed,
  types: [],
};

interface DenoJson {
  name?: string;
  version?: string;
  license?: string;
  imports?: Record<string, string>;
}

/** A package specifier taken apart: `npm:@scope/pkg@^1.2/sub` → name, range, subpath. */
interface NpmSpecifier {
  name: string;
  range: string | undefined;
  subpath: string;
}

function parseNpmSpecifier(spec: string): NpmSpecifier {
  const body = spec.replace(/^npm:\/?/, "");
  const m = /^((?:@[^/@]+\/)?[^/@]+)(?:@([^/]*))?(\/.*)?$/.exec(body);
  if (!m) throw new Error(`cannot parse npm specifier ${spec}`);
  return { name: m[1], range: m[2] || undefined, subpath: m[3] ?? "" };
}

/** A module specifier in the source, and where it is. */
interface SpecifierSite {
  /** Start and end of the string literal, quotes included. */
  start: number;
  end: number;
  specifier: string;
}

/** Top-level `if (import.meta.main) { … }` statements: the Deno entry point. */
function isImportMetaMain(node: ts.Node): boolean {
  if (!ts.isIfStatement(node)) return false;
  const test = node.expression;
  return ts.isPropertyAccessExpression(test) && test.name.text === "main" &&
    ts.isMetaProperty(test.expression) &&
    test.expression.keywordToken === ts.SyntaxKind.ImportKeyword;
}

/** The module specifiers of a source file (imports, re-exports, import types, dynamic imports). */
function specifierSites(sf: ts.SourceFile, skip: ReadonlySet<ts.Node>): SpecifierSite[] {
  const sites: SpecifierSite[] = [];
  const add = (literal: ts.Node | undefined) => {
    if (literal && ts.isStringLiteralLike(literal)) {
      sites.push({ start: literal.getStart(sf), end: literal.end, specifier: literal.text });
    }
  };
  const visit = (node: ts.Node): void => {
    if (skip.has(node)) return;
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) {
      add(node.moduleSpecifier);
    } else if (ts.isImportTypeNode(node)) {
      const arg = node.argument;
      if (ts.isLiteralTypeNode(arg)) add(arg.literal);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [arg] = node.arguments;
      if (arg && ts.isStringLiteralLike(arg)) add(arg);
      else {throw new Error(
          `${sf.fileName}: a dynamic import of a computed specifier cannot be built`,
        );}
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return sites;
}

/** The lines of emitted JavaScript that use an identifier named `Deno` (comments do not count). */
function denoReferences(fileName: string, js: string): string[] {
  const sf = ts.createSourceFile(fileName, js, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
  const lines = new Set<number>();
  const visit = (node: ts.Node): void => {
    if (ts.isIdentifier(node) && node.text === "Deno") {
      lines.add(sf.getLineAndCharacterOfPosition(node.getStart(sf)).line);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  const text = js.split("\n");
  return [...lines].map((line) => `${fileName}: ${text[line].trim()}`);
}

function formatDiagnostics(diagnostics: readonly ts.Diagnostic[]): string {
  return ts.formatDiagnostics(diagnostics, {
    getCanonicalFileName: (f) => f,
    getCurrentDirectory: () => REPO_ROOT,
    getNewLine: () => "\n",
  });
}

/** Turns `sources/x.ts` into `x.js` / `x.d.ts` paths. */
function outName(relPath: string, ext: ".js" | ".d.ts"): string {
  return relPath.replace(/\.(m?)ts$/, (_, m: string) => (ext === ".js" ? `.${m}js` : `.d.${m}ts`));
}

/**
 * Builds the npm package: see the module documentation.
 *
 * @example
 * ```ts ignore
 * const { outDir, files } = await buildNpm({ outDir: "/tmp/mcpmon-npm" });
 * console.log(outDir, files.length);
 * ```
 *
 * @param options Where to read and write.
 * @returns What was written.
 * @throws When the source cannot be built (a declaration or syntax error, a
 * `jsr:` or remote import, a reference to `Deno` in shipped code).
 */
export async function buildNpm(options: BuildNpmOptions = {}): Promise<BuildNpmResult> {
  const root = resolve(options.root ?? REPO_ROOT);
  const outDir = resolve(options.outDir ?? join(root, "npm"));
  const log = options.log ?? (() => {});
  const denoJson: DenoJson = JSON.parse(await readFile(join(root, "deno.json"), "utf8"));
  if (!denoJson.version) throw new Error("deno.json has no version");
  const importMap = denoJson.imports ?? {};

  const dependencies = new Map<string, string>();
  /** Rewrites a bare or npm: specifier to its package path, recording the dependency. */
  const npmSpecifier = (spec: string, from: string): string => {
    const target = spec.startsWith("npm:") ? spec : importMapTarget(spec, importMap);
    if (target === undefined || !target.startsWith("npm:")) {
      throw new Error(
        `${from}: cannot ship import "${spec}"${
          target ? ` (→ ${target})` : ""
        }: the npm package can only depend on node: builtins and npm packages`,
      );
    }
    const { name, range, subpath } = parseNpmSpecifier(target);
    const known = dependencies.get(name);
    const version = range ?? "*";
    if (known !== undefined && known !== version) {
      throw new Error(`${from}: ${name} is imported with two versions: ${known} and ${version}`);
    }
    dependencies.set(name, version);
    return name + subpath;
  };

  // Follow the graph from the entry points, rewriting each module's specifiers.
  const modules = new Map<string, string>(); // path relative to root → rewritten source
  const queue = [...ENTRY_POINTS];
  while (queue.length > 0) {
    const rel = queue.shift()!;
    if (modules.has(rel)) continue;
    const abs = join(root, rel);
    const source = await readFile(abs, "utf8");
    const sf = ts.createSourceFile(rel, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
    const dropped = new Set(sf.statements.filter(isImportMetaMain));
    const edits: { start: number; end: number; text: string }[] = [];
    for (const statement of dropped) {
      edits.push({
        start: statement.getStart(sf),
        end: statement.end,
        text: "// (the `deno run` entry point is left out: the npm package's is bin/mcpmon.js)",
      });
    }
    for (const site of specifierSites(sf, dropped)) {
      const spec = site.specifier;
      let rewritten: string;
      if (spec.startsWith("./") || spec.startsWith("../")) {
        const target = relative(root, resolve(dirname(abs), spec)).split(sep).join("/");
        if (target.startsWith("../")) {
          throw new Error(`${rel}: import outside the package: ${spec}`);
        }
        if (/\.(m?)ts$/.test(spec)) {
          queue.push(target);
          rewritten = outName(spec, ".js");
        } else if (/\.(m?)js$|\.json$/.test(spec)) {
          throw new Error(`${rel}: only .ts modules can be shipped, not ${spec}`);
        } else {
          throw new Error(`${rel}: relative import without an extension: ${spec}`);
        }
      } else if (spec.startsWith("node:")) {
        rewritten = spec;
      } else if (/^(jsr|https?|file|data):/.test(spec)) {
        throw new Error(`${rel}: cannot ship import "${spec}" in the npm package`);
      } else {
        rewritten = npmSpecifier(spec, rel);
      }
      if (rewritten !== spec) {
        edits.push({ start: site.start, end: site.end, text: JSON.stringify(rewritten) });
      }
    }
    edits.sort((a, b) => b.start - a.start);
    let text = source;
    for (const edit of edits) text = text.slice(0, edit.start) + edit.text + text.slice(edit.end);
    modules.set(rel, text);
  }

  // Emit JavaScript and declarations from one program over the rewritten
  // modules. Type checking is `deno task check`'s job (with Deno's types for
  // `node:`); here the checker only infers what declarations need.
  const output = new Map<string, string>();
  const problems: string[] = [];
  const virtual = new Map([...modules].map(([rel, text]) => [join(root, rel), text]));
  const host = ts.createCompilerHost(COMPILER_OPTIONS, true);
  const readFileFromDisk = host.readFile.bind(host);
  const fileExistsOnDisk = host.fileExists.bind(host);
  const getSourceFile = host.getSourceFile.bind(host);
  host.readFile = (file) => virtual.get(file) ?? readFileFromDisk(file);
  host.fileExists = (file) => virtual.has(file) || fileExistsOnDisk(file);
  host.getSourceFile = (file, languageVersion, onError, shouldCreate) => {
    const text = virtual.get(file);
    return text === undefined
      ? getSourceFile(file, languageVersion, onError, shouldCreate)
      : ts.createSourceFile(file, text, languageVersion, true, ts.ScriptKind.TS);
  };
  const program = ts.createProgram({
    rootNames: [...virtual.keys()],
    options: { ...COMPILER_OPTIONS, rootDir: root, outDir: join(root, "esm") },
    host,
  });
  const emitted = program.emit(undefined, (file, text) => {
    output.set(relative(root, file), text);
  });
  const diagnostics = [
    ...program.getSyntacticDiagnostics(),
    ...program.getOptionsDiagnostics(),
    ...emitted.diagnostics,
  ];
  if (diagnostics.length > 0) problems.push(formatDiagnostics(diagnostics));
  for (const rel of modules.keys()) {
    const jsFile = join("esm", outName(rel, ".js"));
    const js = output.get(jsFile);
    if (js === undefined) {
      problems.push(`${rel}: no JavaScript emitted`);
      continue;
    }
    const deno = denoReferences(rel, js);
    if (deno.length > 0) {
      problems.push(`the npm package must not use Deno APIs:\n  ${deno.join("\n  ")}`);
    }
  }
  if (problems.length > 0) throw new Error(`npm build failed:\n${problems.join("\n")}`);

  const exports: PackageJson["exports"] = {};
  for (const [subpath, entry] of Object.entries(EXPORTS)) {
    exports[subpath] = {
      types: `./esm/${outName(entry, ".d.ts")}`,
      default: `./esm/${outName(entry, ".js")}`,
    };
  }
  exports["./package.json"] = "./package.json";
  const packageJson: PackageJson = {
    name: PACKAGE_NAME,
    version: denoJson.version,
    description: "Hot reload for MCP servers: restarts the server on file changes and keeps " +
      "the client's session alive. Like nodemon, but for MCP.",
    license: denoJson.license ?? "MIT",
    keywords: [
      "mcp",
      "model-context-protocol",
      "mcp-server",
      "hot-reload",
      "live-reload",
      "nodemon",
      "watch",
      "proxy",
      "gateway",
      "cli",
    ],
    repository: { type: "git", url: `git+${REPOSITORY}.git` },
    homepage: `${REPOSITORY}#readme`,
    bugs: { url: `${REPOSITORY}/issues` },
    files: ["bin/", "esm/"],
    type: "module",
    bin: { [BIN_NAME]: BIN_PATH },
    main: `./esm/${outName(EXPORTS["."], ".js")}`,
    types: `./esm/${outName(EXPORTS["."], ".d.ts")}`,
    exports,
    engines: { node: ">=20" },
  };
  if (dependencies.size > 0) {
    packageJson.dependencies = Object.fromEntries(
      [...dependencies].sort(([a], [b]) => a.localeCompare(b)),
    );
  }
  output.set("package.json", JSON.stringify(packageJson, null, 2) + "\n");

  // Write it all.
  await rm(outDir, { recursive: true, force: true });
  for (const [rel, text] of output) {
    const path = join(outDir, rel);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, text);
  }
  for (const file of ["README.md", "LICENSE"]) {
    await copyFile(join(root, file), join(outDir, file));
    output.set(file, "");
  }
  if ((options.install ?? true) && dependencies.size > 0) {
    log(`npm install in ${outDir}: ${[...dependencies.keys()].join(", ")}`);
    await npmInstall(outDir);
  }
  const bundle = await bundleBin(outDir, [...dependencies.keys()], log);
  const bundleHash = Array.from(
    new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(bundle))),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("").slice(0, 16);
  await mkdir(dirname(join(outDir, BIN_PATH)), { recursive: true });
  await writeFile(join(outDir, BUNDLE_PATH), bundle);
  const bunBundle = await bunBytecode(outDir, options.bun === undefined ? "bun" : options.bun, log);
  const bin = loaderSource(bundleHash, bunBundle !== undefined);
  const binDeno = [
    ...denoReferences(BUNDLE_PATH, bundle),
    ...denoReferences(BIN_PATH, bin),
    ...(bunBundle !== undefined ? denoReferences(BUN_BUNDLE_PATH, bunBundle) : []),
  ];
  if (binDeno.length > 0) {
    throw new Error(
      `npm build failed: the npm package must not use Deno APIs:\n  ${binDeno.join("\n  ")}`,
    );
  }
  const binPackage = JSON.stringify({ type: "commonjs" }, null, 2) + "\n";
  output.set(BUNDLE_PATH, bundle);
  if (bunBundle !== undefined) {
    output.set(BUN_BUNDLE_PATH, bunBundle);
    output.set(`${BUN_BUNDLE_PATH}.jsc`, "");
  }
  for (const [rel, text] of [[BIN_PACKAGE_PATH, binPackage], [BIN_PATH, bin]]) {
    await writeFile(join(outDir, rel), text);
    output.set(rel, text);
  }
  await chmod(join(outDir, BIN_PATH), 0o755);
  const files = [...output.keys()].map((f) => f.split(sep).join("/")).sort();
  log(
    `built ${PACKAGE_NAME}@${packageJson.version} in ${relative(root, outDir) || outDir}: ` +
      `${modules.size} modules, ${files.length} files, dependencies: ${
        dependencies.size > 0 ? [...dependencies.keys()].join(", ") : "none"
      }`,
  );
  return { outDir, packageJson, files };
}

/** What the bundle runs: the CLI on the Node runtime (resolved from the package root). */
const BIN_ENTRY = [
  `import { main } from "./esm/src/cli.js";`,
  `import { nodeRuntime } from "./esm/src/runtime/node.js";`,
  "main(nodeRuntime).then((code) => nodeRuntime.exit(code));",
].join("\n");

/**
 * The bin: runs {@linkcode BUNDLE_PATH}. On Node it compiles the bundle with V8's code cache
 * (`vm.Script` `cachedData`, which Node 20 offers for CommonJS only): the cache of this bundle on
 * this Node is read from `<user cache dir>/mcpmon/`, and written there (atomically, at exit) with
 * the functions the run compiled when it is missing, V8 rejects it, or the run compiled more than
 * it held (a proxy's first run after a `--version`); then the caches of other builds unused for 30
 * days are removed. `NODE_DISABLE_COMPILE_CACHE=1`
 * (Node's own switch) turns it off. On Bun it `require`s {@linkcode BUN_BUNDLE_PATH} (with its
 * bytecode) when `bunBundle`, else the bundle (Bun keeps its own cache of the transpiled file).
 */
function loaderSource(bundleHash: string, bunBundle: boolean): string {
  return `#!/usr/bin/env node
// mcpmon's command line on Node (>= 20) and Bun: built by scripts/build_npm.ts. Runs
// ${basename(BUNDLE_PATH)} (the bundle), on Node through V8's code cache kept in the user's
// cache dir${
    bunBundle
      ? `; on Bun, ${basename(BUN_BUNDLE_PATH)} (the bundle built by Bun) with its bytecode`
      : ""
  }.
"use strict";
const path = require("node:path");
const file = path.join(__dirname, ${JSON.stringify(basename(BUNDLE_PATH))});
const vm = process.versions.bun === undefined ? require("node:vm") : undefined;
const env = process.env;
if (vm === undefined) {
  require(${
    bunBundle ? `path.join(__dirname, ${JSON.stringify(basename(BUN_BUNDLE_PATH))})` : "file"
  });
} else if (
  env.NODE_DISABLE_COMPILE_CACHE || vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER === undefined
) {
  require(file);
} else {
  const fs = require("node:fs");
  const home = env.HOME || require("node:os").homedir();
  const base = process.platform === "win32"
    ? env.LOCALAPPDATA || path.join(home, "AppData", "Local")
    : process.platform === "darwin"
    ? path.join(home, "Library", "Caches")
    : env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME)
    ? env.XDG_CACHE_HOME
    : path.join(home, ".cache");
  const dir = path.join(base, "mcpmon");
  const cacheFile = path.join(
    dir,
    \`${bundleHash}-\${process.version}-\${process.arch}.v8cache\`,
  );
  let cachedData;
  try {
    cachedData = fs.readFileSync(cacheFile);
  } catch { /* none yet */ }
  const script = new vm.Script(require("node:module").wrap(fs.readFileSync(file, "utf8")), {
    filename: file,
    cachedData,
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  const rejected = cachedData === undefined || script.cachedDataRejected;
  process.once("exit", () => {
    try {
      // Written again when this run compiled more than the cache held (a proxy after --version).
      const data = script.createCachedData();
      if (!rejected && data.length <= cachedData.length * 1.1) return;
      fs.mkdirSync(dir, { recursive: true });
      const tmp = \`\${cacheFile}.\${process.pid}.tmp\`;
      fs.writeFileSync(tmp, data);
      fs.renameSync(tmp, cacheFile);
      // Caches of other builds not used for 30 days go (each is a few hundred KiB).
      for (const name of fs.readdirSync(dir)) {
        const other = path.join(dir, name);
        if (name.endsWith(".v8cache") && other !== cacheFile) {
          if (Date.now() - fs.statSync(other).atimeMs > 30 * 864e5) fs.rmSync(other, { force: true });
        }
      }
    } catch { /* no cache: the next start compiles again */ }
  });
  const mod = { exports: {}, filename: file, id: file, loaded: false };
  script.runInThisContext().call(mod.exports, mod.exports, require, mod, file, __dirname);
}
`;
}

/**
 * Builds {@linkcode BUN_BUNDLE_PATH} and its bytecode from the bundle with `bun` (`bun build
 * --bytecode --target=bun --format=cjs`, whitespace-minified); returns its text, or undefined when
 * there is no `bun` (logged: Bun then runs the bundle itself).
 */
async function bunBytecode(
  outDir: string,
  bun: string | null,
  log: (line: string) => void,
): Promise<string | undefined> {
  if (bun === null) return undefined;
  const binDir = join(outDir, dirname(BUN_BUNDLE_PATH));
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(bun, {
      args: [
        "build",
        "--bytecode",
        "--target=bun",
        "--format=cjs",
        "--minify-whitespace",
        // What the bundle still requires (packages that were not installed) stays a require.
        "--packages=external",
        join(outDir, BUNDLE_PATH),
        `--outdir=${binDir}`,
        `--entry-naming=${basename(BUN_BUNDLE_PATH)}`,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
    log(`${bun} not found: no Bun bytecode (Bun runs ${BUNDLE_PATH})`);
    return undefined;
  }
  if (!out.success) {
    throw new Error(
      `npm build failed: ${bun} build --bytecode of ${BUNDLE_PATH} (exit ${out.code}):\n${
        new TextDecoder().decode(out.stderr)
      }`,
    );
  }
  const text = await readFile(join(outDir, BUN_BUNDLE_PATH), "utf8");
  const bytecode = await stat(join(outDir, `${BUN_BUNDLE_PATH}.jsc`));
  log(
    `built ${BUN_BUNDLE_PATH} for Bun with its bytecode: ${(text.length / 1024).toFixed(0)} + ${
      (bytecode.size / 1024).toFixed(0)
    } KiB`,
  );
  return text;
}

/**
 * Node's built-in modules become `require` calls, made where the module that imports them is
 * first run: an `import` of a built-in is hoisted to the top of the bundle and loaded (with an ES
 * module facade holding every export) at every start, whereas most are used only on some paths
 * (`node:http` and `node:http2` by the HTTP front, `node:tls` behind them): they cost Node and Bun
 * 20–40 ms at every start.
 */
const lazyBuiltins: esbuild.Plugin = {
  name: "lazy-builtins",
  setup(build) {
    build.onResolve(
      { filter: /^node:/ },
      (args) =>
        args.namespace === "lazy-builtin" || args.kind === "require-call"
          ? { path: args.path, external: true }
          : { path: args.path, namespace: "lazy-builtin" },
    );
    build.onLoad({ filter: /.*/, namespace: "lazy-builtin" }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(args.path)});`,
      loader: "js",
    }));
  },
};

/**
 * Bundles the command line into one CommonJS file ({@linkcode BUNDLE_PATH}) with esbuild: the CLI,
 * the Node runtime and the npm dependencies installed in `outDir/node_modules` (a dependency that
 * is not installed, as with `install: false`, stays a `require` or `import()` of the package).
 * Modules the CLI imports dynamically (the gateway's config loader and its YAML parser) are in the
 * file but only run when first imported. CommonJS, so that Node 20 can keep its compiled code
 * (see {@linkcode loaderSource}).
 */
async function bundleBin(
  outDir: string,
  dependencies: readonly string[],
  log: (line: string) => void,
): Promise<string> {
  const external: string[] = [];
  for (const name of dependencies) {
    try {
      await stat(join(outDir, "node_modules", name, "package.json"));
    } catch {
      external.push(name, `${name}/*`);
    }
  }
  let result: esbuild.BuildResult<{ write: false }>;
  try {
    result = await esbuild.build({
      stdin: { contents: BIN_ENTRY, resolveDir: outDir, sourcefile: BUNDLE_PATH },
      bundle: true,
      write: false,
      platform: "node",
      format: "cjs",
      target: "node20",
      external,
      plugins: [lazyBuiltins],
      // Smaller is faster to start: Node compiles the whole file before running it. Names are
      // kept, so stack traces still name the functions.
      minifyWhitespace: true,
      minifySyntax: true,
      legalComments: "none",
      logLevel: "silent",
      banner: {
        js: [
          // No #! line: the loader compiles this file inside a function (Node's module wrapper).
          "// mcpmon's command line on Node (>= 20) and Bun, in one CommonJS file: built by",
          "// scripts/build_npm.ts with esbuild from esm/ (the library) and its dependencies.",
        ].join("\n"),
      },
    });
  } catch (err) {
    throw new Error(
      `npm build failed: bundling ${BUNDLE_PATH}: ${err instanceof Error ? err.message : err}`,
    );
  } finally {
    await esbuild.stop();
  }
  const [file] = result.outputFiles;
  log(
    `bundled ${BUNDLE_PATH}: ${(file.contents.byteLength / 1024).toFixed(0)} KiB${
      external.length > 0 ? ` (not installed, left as imports: ${dependencies.join(", ")})` : ""
    }`,
  );
  return withLightBuiltins(file.text);
}

/**
 * esbuild gives an ES module that imports a CommonJS one (here: each built-in, see
 * {@linkcode lazyBuiltins}) a copy of its exports (`__toESM`), once per importing module: on Bun,
 * reading `node:fs`'s property descriptors loads its streams (10 ms). A built-in's module object is
 * used as is instead, behind an object that only adds `default` (named imports read through to it).
 */
function withLightBuiltins(code: string): string {
  let replaced = 0;
  const out = code.replace(/__toESM\((require_node_[A-Za-z0-9_$]+)\(\),1\)/g, (_, fn) => {
    replaced++;
    return `__mcpmonBuiltin(${fn}())`;
  });
  if (replaced === 0) return code; // no built-in imported (tests/build_npm_test.ts checks the bin)
  const helper = "var __mcpmonBuiltin=(m)=>Object.create(m,{default:{value:m,enumerable:!0}});";
  // After the banner, before the bundle's first line of its own.
  const at = out.indexOf("\n", out.indexOf("// scripts/build_npm.ts with esbuild")) + 1;
  return out.slice(0, at) + helper + "\n" + out.slice(at);
}

/** Runs `npm install` for the package's own dependencies in `dir` (the lock file stays out). */
async function npmInstall(dir: string): Promise<void> {
  const { code, stderr } = await new Deno.Command("npm", {
    args: [
      "install",
      "--omit=dev",
      "--no-package-lock",
      "--no-audit",
      "--no-fund",
      "--ignore-scripts",
      "--loglevel=error",
    ],
    cwd: dir,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(
      `npm install in ${dir} failed (exit ${code}):\n${new TextDecoder().decode(stderr)}`,
    );
  }
}

if (import.meta.main) {
  try {
    await buildNpm({ log: (line) => console.log(line) });
  } catch (err) {
    console.error(err instanceof Error ? err.message : err);
    Deno.exit(1);
  }
}
