import assert from "node:assert/strict";
import { join } from "node:path";
import { DEFAULT_EXTENSIONS, DEFAULT_IGNORE } from "../src/config.ts";
import { denoRuntime } from "../src/runtime/deno.ts";
import { type FsEvent, FsEventQueue, type FsWatch } from "../src/runtime/mod.ts";
import { type Change, Watcher, type WatchOptions } from "../src/watcher.ts";
import { ManualClock } from "../testing/manual_clock.ts";

/** A scripted directory watch: records what is watched; events pushed by the test come out. */
class FakeWatch implements FsWatch {
  readonly dirs = new Set<string>();
  readonly queue = new FsEventQueue();
  closed = false;

  get size(): number {
    return this.dirs.size;
  }

  add(dir: string): void {
    if (!Deno.statSync(dir).isDirectory) throw new Error(`not a directory: ${dir}`);
    this.dirs.add(dir);
  }

  remove(dir: string): void {
    this.dirs.delete(dir);
  }

  push(kind: FsEvent["kind"], ...paths: string[]): void {
    this.queue.push({ kind, paths });
  }

  close(): void {
    this.closed = true;
    this.queue.close();
  }

  [Symbol.asyncIterator](): AsyncIterator<FsEvent> {
    return this.queue[Symbol.asyncIterator]();
  }
}

/** Lets pending promise callbacks and file system reads run (real time, a few turns). */
async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setTimeout(resolve, 1));
}

/** A temp project tree with `files` (path → content; a path ending in `/` is a directory). */
async function project(
  files: Record<string, string> = {},
): Promise<{ dir: string } & AsyncDisposable> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "mcpmon_watch_" }));
  for (const [path, text] of Object.entries(files)) {
    const full = join(dir, path);
    if (path.endsWith("/")) await Deno.mkdir(full, { recursive: true });
    else {
      await Deno.mkdir(join(full, ".."), { recursive: true });
      await Deno.writeTextFile(full, text);
    }
  }
  return {
    dir,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }).catch(() => {}),
  };
}

async function setup(root: string, options: Partial<WatchOptions> = {}) {
  const fake = new FakeWatch();
  const clock = new ManualClock();
  const batches: Change[][] = [];
  const errors: unknown[] = [];
  const warnings: string[] = [];
  const infos: string[] = [];
  const ready = Promise.withResolvers<number>();
  const debounceMs = options.debounceMs ?? 30;
  const watcher = new Watcher(
    () => fake,
    {
      paths: [root],
      extensions: [...DEFAULT_EXTENSIONS],
      ignore: [...DEFAULT_IGNORE],
      debounceMs,
      ...options,
    },
    (changes) => batches.push(changes),
    (err) => errors.push(err),
    {
      clock,
      onReady: ({ directories }) => ready.resolve(directories),
      onWarning: (m) => warnings.push(m),
      onInfo: (m) => infos.push(m),
    },
  );
  watcher.start();
  const directories = await ready.promise;
  /** Pushes events, lets them reach the watcher, then lets the debounce run out. */
  const emit = async (kind: FsEvent["kind"], ...paths: string[]) => {
    fake.push(kind, ...paths);
    await settle();
  };
  const quiet = () => clock.advance(debounceMs);
  return { watcher, fake, clock, batches, errors, warnings, infos, directories, emit, quiet };
}

Deno.test("a burst of changes produces one batch", async () => {
  await using tmp_root = await project({ "a.py": "", "b.py": "" });
  const root = tmp_root.dir;
  const { watcher, batches, emit, quiet } = await setup(root);
  await emit("modify", `${root}/a.py`);
  await emit("modify", `${root}/b.py`);
  await emit("modify", `${root}/a.py`);
  quiet();
  assert.equal(batches.length, 1);
  assert.deepEqual(batches[0].map((c) => c.path).sort(), [`${root}/a.py`, `${root}/b.py`]);
  watcher.close();
});

Deno.test("the debounce restarts with every relevant event", async () => {
  await using tmp_root = await project({ "a.py": "" });
  const root = tmp_root.dir;
  const { watcher, batches, clock, emit } = await setup(root, { debounceMs: 100 });
  await emit("modify", `${root}/a.py`);
  clock.advance(90);
  await emit("modify", `${root}/a.py`);
  clock.advance(90);
  assert.equal(batches.length, 0, "each event pushes the batch back");
  clock.advance(10);
  assert.equal(batches.length, 1);
  watcher.close();
});

Deno.test("a batch has one entry per path, with the last kind seen", async () => {
  await using tmp_root = await project({ "a.py": "" });
  const root = tmp_root.dir;
  const { watcher, batches, emit, quiet } = await setup(root);
  await emit("create", `${root}/a.py`);
  await emit("modify", `${root}/a.py`);
  await emit("other", `${root}/a.py`);
  quiet();
  assert.deepEqual(batches, [[{ kind: "modify", path: `${root}/a.py` }]]);
  watcher.close();
});

Deno.test("only watched extensions count, in any case; an empty list means any file", async () => {
  await using tmp_root = await project({ "a.py": "", "b.JSON": "", "c.txt": "" });
  const root = tmp_root.dir;
  {
    const { watcher, batches, emit, quiet } = await setup(root, { extensions: ["py", "json"] });
    await emit("modify", `${root}/a.py`, `${root}/b.JSON`, `${root}/c.txt`);
    quiet();
    assert.deepEqual(batches[0].map((c) => c.path).sort(), [`${root}/a.py`, `${root}/b.JSON`]);
    watcher.close();
  }
  {
    const { watcher, batches, emit, quiet } = await setup(root, { extensions: [] });
    await emit("modify", `${root}/c.txt`);
    quiet();
    assert.deepEqual(batches, [[{ kind: "modify", path: `${root}/c.txt` }]]);
    watcher.close();
  }
});

Deno.test("ignored directories are never watched, and their files never count", async () => {
  await using tmp_root = await project({
    "src/a.py": "",
    "node_modules/pkg/index.js": "",
    "dist/index.js": "",
    ".git/objects/x": "",
    "src/generated/types.ts": "",
  });
  const root = tmp_root.dir;
  const { watcher, fake, batches, emit, quiet, directories } = await setup(root, {
    ignore: [...DEFAULT_IGNORE, "src/generated/"],
  });
  assert.deepEqual([...fake.dirs].sort(), [root, `${root}/src`]);
  assert.equal(directories, 2);
  await emit("modify", `${root}/node_modules/pkg/index.js`, `${root}/dist/index.js`);
  await emit("create", `${root}/x.pyc`, `${root}/src/.a.py.swp`);
  quiet();
  assert.deepEqual(batches, []);
  watcher.close();
});

Deno.test("ignore patterns with a slash are matched from the watch root", async () => {
  await using tmp_root = await project({ "gen/a.py": "", "lib/gen/b.py": "" });
  const root = tmp_root.dir;
  const { watcher, fake, batches, emit, quiet } = await setup(root, { ignore: ["/gen"] });
  assert.ok(!fake.dirs.has(`${root}/gen`));
  assert.ok(fake.dirs.has(`${root}/lib/gen`));
  await emit("modify", `${root}/lib/gen/b.py`);
  quiet();
  assert.deepEqual(batches, [[{ kind: "modify", path: `${root}/lib/gen/b.py` }]]);
  watcher.close();
});

Deno.test("the project's .gitignore and .ignore files are respected, with negation and nesting", async () => {
  await using tmp_root = await project({
    ".gitignore": "generated/\n*.log.js\n",
    ".ignore": "scratch.py\n",
    "generated/out.js": "",
    "src/.gitignore": "local_*.py\n!local_keep.py\n",
    "src/a.py": "",
  });
  const root = tmp_root.dir;
  const { watcher, fake, batches, emit, quiet } = await setup(root);
  assert.ok(!fake.dirs.has(`${root}/generated`), "a .gitignored directory is not watched");
  await emit(
    "modify",
    `${root}/x.log.js`,
    `${root}/scratch.py`,
    `${root}/src/local_tmp.py`,
    `${root}/src/local_keep.py`,
    `${root}/src/a.py`,
  );
  quiet();
  assert.deepEqual(batches[0].map((c) => c.path).sort(), [
    `${root}/src/a.py`,
    `${root}/src/local_keep.py`,
  ]);
  watcher.close();
});

Deno.test("the .gitignore above a watched directory applies, up to the git work tree", async () => {
  await using tmp_repo = await project({
    ".git/": "",
    ".gitignore": "*.gen.py\n",
    "server/app.py": "",
  });
  const repo = tmp_repo.dir;
  const { watcher, batches, emit, quiet } = await setup(`${repo}/server`);
  await emit("modify", `${repo}/server/types.gen.py`, `${repo}/server/app.py`);
  quiet();
  assert.deepEqual(batches, [[{ kind: "modify", path: `${repo}/server/app.py` }]]);
  watcher.close();
});

Deno.test("ignore files are not read when ignoreFiles is false", async () => {
  await using tmp_root = await project({ ".gitignore": "*.py\n", "a.py": "" });
  const root = tmp_root.dir;
  const { watcher, batches, emit, quiet } = await setup(root, { ignoreFiles: false });
  await emit("modify", `${root}/a.py`);
  quiet();
  assert.equal(batches.length, 1);
  watcher.close();
});

Deno.test("an edited .gitignore is read again", async () => {
  await using tmp_root = await project({ ".gitignore": "", "a.py": "" });
  const root = tmp_root.dir;
  const { watcher, batches, emit, quiet } = await setup(root);
  await Deno.writeTextFile(`${root}/.gitignore`, "a.py\n");
  await emit("modify", `${root}/.gitignore`);
  await emit("modify", `${root}/a.py`);
  quiet();
  assert.deepEqual(batches, []);
  watcher.close();
});

Deno.test("Python virtual environments are never walked, whatever their name", async () => {
  await using tmp_root = await project({
    "env/pyvenv.cfg": "home = /usr/bin\n",
    "env/lib/python3.11/site-packages/dep/__init__.py": "",
    "vendor/lib/site-packages/x.py": "",
    "app/main.py": "",
  });
  const root = tmp_root.dir;
  const { watcher, fake } = await setup(root);
  assert.deepEqual([...fake.dirs].sort(), [
    root,
    `${root}/app`,
    `${root}/vendor`,
    `${root}/vendor/lib`,
  ]);
  watcher.close();
});

Deno.test("a new directory is watched, and the files already in it count as created", async () => {
  await using tmp_root = await project({ "a.py": "" });
  const root = tmp_root.dir;
  const { watcher, fake, batches, emit, quiet } = await setup(root);
  await Deno.mkdir(`${root}/pkg/sub`, { recursive: true });
  await Deno.writeTextFile(`${root}/pkg/sub/tool.py`, "");
  await Deno.writeTextFile(`${root}/pkg/notes.txt`, "");
  await emit("create", `${root}/pkg`);
  quiet();
  assert.ok(fake.dirs.has(`${root}/pkg`) && fake.dirs.has(`${root}/pkg/sub`));
  assert.deepEqual(batches, [[{ kind: "create", path: `${root}/pkg/sub/tool.py` }]]);
  watcher.close();
});

Deno.test("a removed directory is no longer watched, and its removal counts", async () => {
  await using tmp_root = await project({ "pkg/sub/a.py": "" });
  const root = tmp_root.dir;
  const { watcher, fake, batches, emit, quiet } = await setup(root);
  await Deno.remove(`${root}/pkg`, { recursive: true });
  await emit("remove", `${root}/pkg`);
  quiet();
  assert.deepEqual([...fake.dirs], [root]);
  assert.deepEqual(batches, [[{ kind: "remove", path: `${root}/pkg` }]]);
  watcher.close();
});

Deno.test("a removed watch directory is waited for through its parent, then walked again", async () => {
  await using tmp_parent = await project({ "app/a.py": "" });
  const parent = tmp_parent.dir;
  const root = `${parent}/app`;
  const { watcher, fake, batches, warnings, infos, emit, quiet } = await setup(root);
  await Deno.remove(root, { recursive: true });
  await emit("remove", root);
  quiet();
  assert.match(warnings.join("\n"), /watched directory .*app was removed/);
  assert.ok(fake.dirs.has(parent), "its parent is watched meanwhile");
  await Deno.mkdir(`${root}/pkg`, { recursive: true });
  await Deno.writeTextFile(`${root}/pkg/b.py`, "");
  await emit("create", root);
  quiet();
  assert.match(infos.join("\n"), /is back/);
  assert.ok(fake.dirs.has(root) && fake.dirs.has(`${root}/pkg`));
  assert.ok(!fake.dirs.has(parent), "the parent is no longer needed");
  assert.deepEqual(batches.at(-1), [{ kind: "create", path: `${root}/pkg/b.py` }]);
  watcher.close();
});

Deno.test("a watched file is watched through its directory and counts whatever its extension", async () => {
  await using tmp_root = await project({ "config.yaml": "", "other.yaml": "" });
  const root = tmp_root.dir;
  const { watcher, fake, batches, emit, quiet } = await setup(`${root}/config.yaml`);
  assert.deepEqual([...fake.dirs], [root]);
  // An atomic save: a temporary file renamed over the original, three times.
  for (let i = 0; i < 3; i++) {
    await emit("create", `${root}/.config.yaml.tmp`);
    await emit("rename", `${root}/.config.yaml.tmp`, `${root}/config.yaml`);
    await emit("modify", `${root}/other.yaml`);
    quiet();
  }
  assert.deepEqual(batches.map((b) => b.map((c) => c.path)), [
    [`${root}/config.yaml`],
    [`${root}/config.yaml`],
    [`${root}/config.yaml`],
  ]);
  watcher.close();
});

Deno.test("events arriving while a batch is handled go into the next batch", async () => {
  await using tmp_root = await project({ "a.py": "", "b.py": "" });
  const root = tmp_root.dir;
  const { watcher, batches, emit, quiet } = await setup(root);
  await emit("modify", `${root}/a.py`);
  quiet();
  await emit("modify", `${root}/b.py`);
  quiet();
  assert.deepEqual(batches.map((b) => b.map((c) => c.path)), [[`${root}/a.py`], [`${root}/b.py`]]);
  watcher.close();
});

Deno.test("irrelevant events do not delay a pending batch", async () => {
  await using tmp_root = await project({ "a.py": "" });
  const root = tmp_root.dir;
  const { watcher, batches, clock, emit } = await setup(root, { debounceMs: 300 });
  await emit("modify", `${root}/a.py`);
  clock.advance(200);
  await emit("modify", `${root}/notes.txt`);
  clock.advance(100);
  assert.equal(batches.length, 1);
  watcher.close();
});

Deno.test("close() stops the watch and cancels a pending batch", async () => {
  await using tmp_root = await project({ "a.py": "" });
  const root = tmp_root.dir;
  const { watcher, fake, batches, clock, emit } = await setup(root);
  await emit("modify", `${root}/a.py`);
  watcher.close();
  clock.advance(1000);
  assert.equal(batches.length, 0);
  assert.ok(fake.closed);
  assert.equal(clock.pending, 0);
  watcher.close(); // a second close is harmless
});

Deno.test("start() fails when a watch path does not exist", () => {
  const watcher = new Watcher(
    () => new FakeWatch(),
    { paths: ["/mcpmon-no-such-dir"], extensions: [], ignore: [], debounceMs: 10 },
    () => {},
  );
  assert.throws(() => watcher.start(), /ENOENT|No such file/i);
});

Deno.test("an error from the watch goes to onError, not after close()", async () => {
  await using tmp_root = await project();
  const root = tmp_root.dir;
  const { watcher, fake, errors } = await setup(root);
  fake.queue.fail(new Error("inotify watch limit reached"));
  await settle();
  assert.match(String(errors[0]), /inotify watch limit/);
  watcher.close();
});

Deno.test("a large tree is reported with a warning", async () => {
  await using tmp_root = await project({ "a/": "", "b/": "", "c/": "" });
  const root = tmp_root.dir;
  const { watcher, warnings, directories } = await setup(root, { warnAtDirectories: 3 });
  assert.equal(directories, 4);
  assert.match(warnings.join("\n"), /watching 4 directories under .*--watch/);
  watcher.close();
});

Deno.test("an error thrown by the batch handler goes to onError", async () => {
  await using tmp_root = await project({ "a.py": "" });
  const root = tmp_root.dir;
  const fake = new FakeWatch();
  const clock = new ManualClock();
  const errors: unknown[] = [];
  const watcher = new Watcher(
    () => fake,
    { paths: [root], extensions: ["py"], ignore: [], debounceMs: 10 },
    () => {
      throw new Error("handler broke");
    },
    (err) => errors.push(err),
    { clock },
  );
  watcher.start();
  fake.push("modify", `${root}/a.py`);
  await settle();
  clock.advance(10);
  assert.match(String(errors[0]), /handler broke/);
  watcher.close();
});

// --- integration: the Deno runtime's directory watch -----------------------------------------

/** A Watcher on the real runtime watch; `until` repeats an action until a change is seen. */
function realWatcher(root: string, options: Partial<WatchOptions> = {}) {
  const seen: Change[] = [];
  const warnings: string[] = [];
  let wake: (() => void) | undefined;
  const errors: unknown[] = [];
  const ready = Promise.withResolvers<void>();
  const watcher = new Watcher(
    () => denoRuntime.watch(),
    {
      paths: [root],
      extensions: [...DEFAULT_EXTENSIONS],
      ignore: [...DEFAULT_IGNORE],
      debounceMs: 30,
      ...options,
    },
    (changes) => {
      seen.push(...changes);
      wake?.();
    },
    (err) => errors.push(err),
    { onReady: () => ready.resolve(), onWarning: (m) => warnings.push(m) },
  );
  /** Does `action` (again every 500 ms, for events a fresh watch may miss) until `done`. */
  async function until(done: () => boolean, action: () => Promise<void>, what: string) {
    const deadline = Date.now() + 15_000;
    while (!done()) {
      if (Date.now() > deadline) {
        throw new Error(
          `not reported: ${what}; saw ${JSON.stringify(seen)}; errors: ${errors.join("; ")}`,
        );
      }
      await action();
      const timer = setTimeout(() => wake?.(), 500);
      await new Promise<void>((resolve) => wake = resolve);
      clearTimeout(timer);
    }
  }
  const saw = (path: string, kinds: Change["kind"][], from = 0) => () =>
    seen.slice(from).some((c) => c.path === path && kinds.includes(c.kind));
  return { watcher, seen, warnings, errors, ready: ready.promise, until, saw };
}

Deno.test({
  name: "real file changes are reported, filtered and batched",
  permissions: { read: true, write: true },
  async fn() {
    await using tmp_dir = await project({
      ".git/HEAD": "",
      "node_modules/x.js": "",
      "existing.py": "a = 1\n",
      "doomed.py": "b = 1\n",
      "old_name.py": "c = 1\n",
    });
    const dir = tmp_dir.dir;
    const { watcher, seen, errors, ready, until, saw } = realWatcher(dir);
    try {
      watcher.start();
      await ready;
      await until(
        saw(`${dir}/existing.py`, ["modify", "other"]),
        () => Deno.writeTextFile(`${dir}/existing.py`, `a = ${Math.random()}\n`),
        "modify existing.py",
      );
      await until(
        saw(`${dir}/created.ts`, ["create", "modify", "other"]),
        () => Deno.writeTextFile(`${dir}/created.ts`, "export {};\n"),
        "create created.ts",
      );
      // Repeatable like the others: a removal or rename a loaded machine's watch missed is done
      // again (the file put back first), not waited for until the deadline.
      await until(
        saw(`${dir}/doomed.py`, ["remove"]),
        async () => {
          await Deno.writeTextFile(`${dir}/doomed.py`, "b = 1\n", { createNew: true })
            .catch(() => {});
          await Deno.remove(`${dir}/doomed.py`);
        },
        "remove doomed.py",
      );
      await until(
        saw(`${dir}/new_name.py`, ["rename", "create"]),
        async () => {
          await Deno.rename(`${dir}/new_name.py`, `${dir}/old_name.py`).catch(() => {});
          await Deno.rename(`${dir}/old_name.py`, `${dir}/new_name.py`);
        },
        "rename old_name.py → new_name.py",
      );
      await Deno.mkdir(`${dir}/pkg/sub`, { recursive: true });
      await until(
        saw(`${dir}/pkg/sub/tool.py`, ["create", "modify", "other"]),
        () => Deno.writeTextFile(`${dir}/pkg/sub/tool.py`, `t = ${Math.random()}\n`),
        "a file in a new subdirectory",
      );
      await Deno.writeTextFile(`${dir}/.git/x.py`, "x\n");
      await Deno.writeTextFile(`${dir}/node_modules/a.js`, "x\n");
      await Deno.writeTextFile(`${dir}/notes.txt`, "x\n");
      await until(
        saw(`${dir}/marker.py`, ["create", "modify", "other"]),
        () => Deno.writeTextFile(`${dir}/marker.py`, `m = ${Math.random()}\n`),
        "marker.py",
      );
      for (const path of [`${dir}/.git/x.py`, `${dir}/node_modules/a.js`, `${dir}/notes.txt`]) {
        assert.ok(!seen.some((c) => c.path === path), `${path} should be ignored`);
      }
      assert.deepEqual(errors, []);
    } finally {
      watcher.close();
    }
  },
});

Deno.test({
  name: "real atomic saves are seen every time, and a removed watch directory is re-armed",
  permissions: { read: true, write: true },
  async fn() {
    await using tmp_parent = await project({ "app/server.py": "v = 0\n" });
    const parent = tmp_parent.dir;
    const dir = `${parent}/app`;
    const { watcher, seen, warnings, errors, ready, until, saw } = realWatcher(dir);
    try {
      watcher.start();
      await ready;
      for (let i = 1; i <= 3; i++) {
        const from = seen.length;
        await until(
          saw(`${dir}/server.py`, ["create", "modify", "rename", "other"], from),
          async () => {
            await Deno.writeTextFile(`${dir}/.server.py.tmp`, `v = ${i}\n`);
            await Deno.rename(`${dir}/.server.py.tmp`, `${dir}/server.py`);
          },
          `atomic save #${i}`,
        );
      }
      await Deno.remove(dir, { recursive: true });
      await until(() => warnings.some((w) => /was removed/.test(w)), async () => {}, "removal");
      const from = seen.length;
      await until(saw(`${dir}/server.py`, ["create", "modify", "other"], from), async () => {
        await Deno.mkdir(dir, { recursive: true });
        await Deno.writeTextFile(`${dir}/server.py`, `v = ${Math.random()}\n`);
      }, "a save after the directory came back");
      assert.deepEqual(errors, []);
    } finally {
      watcher.close();
    }
  },
});

Deno.test({
  name: "the Deno directory watch sees a directory again after it was removed and created anew",
  permissions: { read: true, write: true },
  async fn() {
    await using tmp = await project({ "src/v.js": "1" });
    const src = `${tmp.dir}/src`;
    const watch = denoRuntime.watch();
    const seen: string[] = [];
    const consumed = (async () => {
      for await (const event of watch) seen.push(...event.paths);
    })();
    const settled = () => new Promise((resolve) => setTimeout(resolve, 100));
    try {
      watch.add(src);
      await settled();
      await Deno.remove(src, { recursive: true });
      await settled();
      await Deno.mkdir(src);
      watch.add(tmp.dir); // as the watcher does while waiting for it
      watch.add(src); // and once it is back
      await settled();
      for (let i = 0; i < 50 && !seen.includes(`${src}/v.js`); i++) {
        await Deno.writeTextFile(`${src}/v.js`, String(i));
        await settled();
      }
      assert.ok(seen.includes(`${src}/v.js`), `saw only ${JSON.stringify(seen)}`);
    } finally {
      watch.close();
      await consumed;
    }
  },
});
