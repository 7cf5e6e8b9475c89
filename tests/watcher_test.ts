import assert from "node:assert/strict";
import { DEFAULT_EXTENSIONS, DEFAULT_IGNORE } from "../src/config.ts";
import type { FsEvent, FsWatch } from "../src/runtime/mod.ts";
import { type Change, Watcher, type WatchOptions } from "../src/watcher.ts";

/** A scripted watch: events pushed by the test come out of the iteration. */
class FakeWatch implements FsWatch {
  readonly paths: readonly string[];
  closed = false;
  #queue: FsEvent[] = [];
  #failure: { err: unknown } | undefined;
  #wake: (() => void) | undefined;

  constructor(paths: readonly string[]) {
    this.paths = paths;
  }

  push(kind: FsEvent["kind"], ...paths: string[]): void {
    this.#queue.push({ kind, paths });
    this.#wake?.();
  }

  fail(err: unknown): void {
    this.#failure = { err };
    this.#wake?.();
  }

  close(): void {
    this.closed = true;
    this.#wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<FsEvent> {
    while (true) {
      const event = this.#queue.shift();
      if (event) yield event;
      else if (this.#failure) throw this.#failure.err;
      else if (this.closed) return;
      else await new Promise<void>((resolve) => this.#wake = resolve);
    }
  }
}

/** Batches as they arrive, awaitable one at a time. */
class Batches {
  readonly all: Change[][] = [];
  /** `performance.now()` at each batch's arrival. */
  readonly times: number[] = [];
  #waiters: (() => void)[] = [];
  readonly onChanges = (changes: Change[]): void => {
    this.all.push(changes);
    this.times.push(performance.now());
    for (const wake of this.#waiters.splice(0)) wake();
  };

  /** Resolves with batch number `index` (0-based) once it has arrived. */
  async nth(index: number, timeoutMs = 10_000): Promise<Change[]> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no batch #${index} in ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      while (this.all.length <= index) {
        await Promise.race([new Promise<void>((r) => this.#waiters.push(r)), timeout]);
      }
      return this.all[index];
    } finally {
      clearTimeout(timer);
    }
  }
}

function setup(options: Partial<WatchOptions> = {}) {
  let fake: FakeWatch | undefined;
  const batches = new Batches();
  const errors: unknown[] = [];
  const firstError = Promise.withResolvers<unknown>();
  const watcher = new Watcher(
    (paths) => fake = new FakeWatch(paths),
    {
      paths: ["/proj"],
      extensions: [...DEFAULT_EXTENSIONS],
      ignore: [...DEFAULT_IGNORE],
      debounceMs: 30,
      ...options,
    },
    batches.onChanges,
    (err) => {
      errors.push(err);
      firstError.resolve(err);
    },
  );
  watcher.start();
  assert.ok(fake);
  return { watcher, fake, batches, errors, firstError: firstError.promise };
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("a burst of changes produces one batch", async () => {
  const { watcher, fake, batches } = setup();
  for (let i = 0; i < 50; i++) fake.push("modify", `/proj/src/f${i}.py`);
  const batch = await batches.nth(0);
  assert.equal(batch.length, 50);
  // A later change comes alone in the next batch: nothing of the burst was left over.
  fake.push("modify", "/proj/src/later.py");
  assert.deepEqual(await batches.nth(1), [{ kind: "modify", path: "/proj/src/later.py" }]);
  assert.equal(batches.all.length, 2);
  watcher.close();
});

Deno.test("the debounce restarts with every relevant event", async () => {
  const debounceMs = 400;
  const { watcher, fake, batches } = setup({ debounceMs });
  let lastEvent = 0;
  for (let i = 0; i < 8; i++) {
    fake.push("modify", `/proj/f${i}.py`);
    lastEvent = performance.now();
    await delay(100); // well under the debounce: the batch keeps waiting
  }
  const batch = await batches.nth(0);
  assert.ok(batches.times[0] - lastEvent >= debounceMs - 5, "the batch waited for quiet");
  assert.equal(batch.length, 8, "all events spread over twice the debounce are in one batch");
  assert.equal(batches.all.length, 1);
  watcher.close();
});

Deno.test("a batch has one entry per path, with the last kind seen", async () => {
  const { watcher, fake, batches } = setup();
  fake.push("create", "/proj/a.py");
  fake.push("modify", "/proj/a.py");
  fake.push("modify", "/proj/b.py");
  fake.push("remove", "/proj/b.py");
  fake.push("modify", "/proj/a.py");
  assert.deepEqual(await batches.nth(0), [
    { kind: "modify", path: "/proj/a.py" },
    { kind: "remove", path: "/proj/b.py" },
  ]);
  watcher.close();
});

Deno.test("an 'other' event counts but does not replace a more specific kind", async () => {
  const { watcher, fake, batches } = setup();
  fake.push("modify", "/proj/a.py");
  fake.push("other", "/proj/a.py"); // Deno reports an access event after each write
  fake.push("other", "/proj/b.py");
  assert.deepEqual(await batches.nth(0), [
    { kind: "modify", path: "/proj/a.py" },
    { kind: "other", path: "/proj/b.py" },
  ]);
  watcher.close();
});

Deno.test("only watched extensions count, in any case", async () => {
  const { watcher, fake, batches } = setup({ extensions: ["py", "JSON"] });
  fake.push("modify", "/proj/notes.txt");
  fake.push("modify", "/proj/Makefile");
  fake.push("modify", "/proj/a.pyc");
  fake.push("modify", "/proj/py");
  fake.push("modify", "/proj/A.PY");
  fake.push("modify", "/proj/config.json");
  assert.deepEqual(await batches.nth(0), [
    { kind: "modify", path: "/proj/A.PY" },
    { kind: "modify", path: "/proj/config.json" },
  ]);
  watcher.close();
});

Deno.test("an empty extension list means any file", async () => {
  const { watcher, fake, batches } = setup({ extensions: [] });
  fake.push("modify", "/proj/notes.txt");
  fake.push("create", "/proj/Makefile");
  fake.push("create", "/proj/node_modules/x.txt");
  assert.deepEqual(await batches.nth(0), [
    { kind: "modify", path: "/proj/notes.txt" },
    { kind: "create", path: "/proj/Makefile" },
  ]);
  watcher.close();
});

Deno.test("ignored paths do not count", async () => {
  const { watcher, fake, batches } = setup({ ignore: [...DEFAULT_IGNORE, "src/generated/"] });
  fake.push("modify", "/proj/.git/hooks/pre-commit.py");
  fake.push("modify", "/proj/node_modules/pkg/index.js");
  fake.push("modify", "/proj/web/node_modules/pkg/index.js");
  fake.push("create", "/proj/src/__pycache__/x.py");
  fake.push("modify", "/proj/src/generated/types.ts");
  fake.push("modify", "/proj/src/.server.py.swp");
  fake.push("modify", "/proj/src/server.py");
  assert.deepEqual(await batches.nth(0), [{ kind: "modify", path: "/proj/src/server.py" }]);
  watcher.close();
});

Deno.test("ignore patterns are matched relative to the watch root", async () => {
  const { watcher, fake, batches } = setup({
    paths: ["/home/me/venv/app", "/srv/tools"],
    ignore: ["venv", "tools/x.py"],
  });
  // The roots' own ancestors named like an ignore pattern do not matter.
  fake.push("modify", "/home/me/venv/app/main.py");
  fake.push("modify", "/srv/tools/x.py");
  fake.push("modify", "/home/me/venv/app/venv/lib/site.py");
  assert.deepEqual(await batches.nth(0), [
    { kind: "modify", path: "/home/me/venv/app/main.py" },
    { kind: "modify", path: "/srv/tools/x.py" },
  ]);
  watcher.close();
});

Deno.test("a watched file is reported when it changes", async () => {
  const { watcher, fake, batches } = setup({ paths: ["/proj/server.py"] });
  fake.push("modify", "/proj/server.py");
  assert.deepEqual(await batches.nth(0), [{ kind: "modify", path: "/proj/server.py" }]);
  watcher.close();
});

Deno.test("renames and removals count, each path of a rename on its own", async () => {
  const { watcher, fake, batches } = setup();
  fake.push("rename", "/proj/old.py", "/proj/new.py");
  fake.push("rename", "/proj/draft.txt", "/proj/final.py");
  fake.push("remove", "/proj/gone.ts");
  assert.deepEqual(await batches.nth(0), [
    { kind: "rename", path: "/proj/old.py" },
    { kind: "rename", path: "/proj/new.py" },
    { kind: "rename", path: "/proj/final.py" },
    { kind: "remove", path: "/proj/gone.ts" },
  ]);
  watcher.close();
});

Deno.test("events arriving while a batch is being handled go into the next batch", async () => {
  const { watcher, fake, batches } = setup();
  fake.push("modify", "/proj/a.py");
  await batches.nth(0);
  fake.push("modify", "/proj/b.py");
  fake.push("modify", "/proj/a.py");
  assert.deepEqual(await batches.nth(1), [
    { kind: "modify", path: "/proj/b.py" },
    { kind: "modify", path: "/proj/a.py" },
  ]);
  watcher.close();
});

Deno.test("irrelevant events do not delay a pending batch", async () => {
  const { watcher, fake, batches } = setup({ debounceMs: 300 });
  fake.push("modify", "/proj/a.py");
  for (let i = 0; i < 15; i++) {
    await delay(100);
    fake.push("modify", "/proj/node_modules/x.js");
    fake.push("modify", "/proj/notes.txt");
  }
  const streamEnded = performance.now();
  assert.deepEqual(await batches.nth(0), [{ kind: "modify", path: "/proj/a.py" }]);
  assert.ok(batches.times[0] < streamEnded, "the batch came while irrelevant events kept coming");
  assert.equal(batches.all.length, 1);
  watcher.close();
});

Deno.test("close() stops the watch and cancels a pending batch", async () => {
  const { watcher, fake, batches } = setup({ debounceMs: 50 });
  fake.push("modify", "/proj/a.py");
  await delay(0); // let the event reach the watcher: the timer is now pending
  watcher.close();
  assert.equal(fake.closed, true);
  await delay(200);
  assert.deepEqual(batches.all, []);
  watcher.close(); // a second close is harmless
});

Deno.test("start() passes the watch paths, and fails when the watch cannot start", () => {
  const seen: (readonly string[])[] = [];
  const ok = new Watcher(
    (paths) => {
      seen.push(paths);
      return new FakeWatch(paths);
    },
    { paths: ["/a", "/b"], extensions: [], ignore: [], debounceMs: 10 },
    () => {},
  );
  ok.start();
  assert.deepEqual(seen, [["/a", "/b"]]);
  assert.throws(() => ok.start(), /already started/);
  ok.close();
  assert.throws(() => ok.start(), /closed/);

  const failing = new Watcher(
    () => {
      throw new Error("No such file or directory: /missing");
    },
    { paths: ["/missing"], extensions: [], ignore: [], debounceMs: 10 },
    () => {},
  );
  assert.throws(() => failing.start(), /No such file/);
  failing.close();
});

Deno.test("an error from the watch goes to onError", async () => {
  const { watcher, fake, errors, firstError } = setup();
  fake.fail(new Error("inotify watch limit reached"));
  assert.match(String(await firstError), /inotify watch limit/);
  assert.equal(errors.length, 1);
  watcher.close();
});

Deno.test("an error from the watch after close() is not reported", async () => {
  const { watcher, fake, errors } = setup();
  watcher.close();
  fake.fail(new Error("late"));
  await delay(50);
  assert.deepEqual(errors, []);
});

Deno.test("an error thrown by the batch handler goes to onError", async () => {
  let fake: FakeWatch | undefined;
  const errors: unknown[] = [];
  const handled = Promise.withResolvers<void>();
  const watcher = new Watcher(
    (paths) => fake = new FakeWatch(paths),
    { paths: ["/proj"], extensions: [], ignore: [], debounceMs: 10 },
    () => {
      throw new Error("consumer broke");
    },
    (err) => {
      errors.push(err);
      handled.resolve();
    },
  );
  watcher.start();
  fake!.push("modify", "/proj/a.py");
  await handled.promise;
  assert.match(String(errors[0]), /consumer broke/);
  watcher.close();
});

// --- integration: a real Deno.watchFs --------------------------------------------------------

function denoWatch(paths: readonly string[]): FsWatch {
  const inner = Deno.watchFs([...paths], { recursive: true });
  return {
    close: () => inner.close(),
    async *[Symbol.asyncIterator]() {
      for await (const e of inner) {
        const kind = e.kind === "create" || e.kind === "modify" || e.kind === "remove" ||
            e.kind === "rename"
          ? e.kind
          : "other";
        yield { kind, paths: e.paths };
      }
    },
  };
}

Deno.test({
  name: "real file changes are reported, filtered and batched",
  permissions: { read: true, write: true },
  async fn() {
    const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "mcpmon_watch_" }));
    await Deno.mkdir(`${dir}/.git`);
    await Deno.mkdir(`${dir}/node_modules`);
    await Deno.writeTextFile(`${dir}/existing.py`, "a = 1\n");
    await Deno.writeTextFile(`${dir}/doomed.py`, "b = 1\n");
    await Deno.writeTextFile(`${dir}/old_name.py`, "c = 1\n");

    const seen: Change[] = [];
    let wake: (() => void) | undefined;
    const errors: unknown[] = [];
    const watcher = new Watcher(
      denoWatch,
      {
        paths: [dir],
        extensions: [...DEFAULT_EXTENSIONS],
        ignore: [...DEFAULT_IGNORE],
        debounceMs: 50,
      },
      (changes) => {
        seen.push(...changes);
        wake?.();
      },
      (err) => errors.push(err),
    );

    /** Does `action` (again every 500 ms, for events a fresh watch may miss) until `done`. */
    async function until(done: () => boolean, action: () => Promise<void>, what: string) {
      const deadline = Date.now() + 15_000;
      while (!done()) {
        if (Date.now() > deadline) {
          throw new Error(`not reported: ${what}; saw ${JSON.stringify(seen)}`);
        }
        await action();
        const timer = setTimeout(() => wake?.(), 500);
        await new Promise<void>((resolve) => wake = resolve);
        clearTimeout(timer);
      }
    }
    const saw = (path: string, kinds: Change["kind"][]) => () =>
      seen.some((c) => c.path === path && kinds.includes(c.kind));

    try {
      watcher.start();
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
      await until(
        saw(`${dir}/doomed.py`, ["remove"]),
        () => Deno.remove(`${dir}/doomed.py`).catch(() => {}),
        "remove doomed.py",
      );
      await until(
        saw(`${dir}/new_name.py`, ["rename", "create"]),
        () => Deno.rename(`${dir}/old_name.py`, `${dir}/new_name.py`).catch(() => {}),
        "rename old_name.py → new_name.py",
      );
      await Deno.mkdir(`${dir}/pkg/sub`, { recursive: true });
      await until(
        saw(`${dir}/pkg/sub/tool.py`, ["create", "modify", "other"]),
        () => Deno.writeTextFile(`${dir}/pkg/sub/tool.py`, `t = ${Math.random()}\n`),
        "a file in a new subdirectory",
      );

      // Ignored and non-matching files, then a marker: once the marker is seen, the others
      // (written before it) would have been seen too.
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
      assert.ok(!seen.some((c) => c.path === `${dir}/pkg` || c.path === `${dir}/pkg/sub`));
      assert.deepEqual(errors, []);
    } finally {
      watcher.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
