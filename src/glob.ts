/**
 * Glob patterns for `--ignore`: compile a glob to a regular expression, and
 * match a path relative to a watch root against ignore patterns.
 *
 * Written here rather than using `node:path`'s `matchesGlob`, which is
 * experimental on Node 20 and prints a warning to stderr, or picomatch, which
 * (4.0, even with `noextglob` and `posix`) turns `a+b(c)|d` into a regular
 * expression group with an alternation, compiles an unclosed `a{b,c` to a
 * pattern that matches nothing, and lets `[.-0]` match `/`: file names hold
 * such characters, and `tests/glob_test.ts` pins each case.
 *
 * Syntax:
 * - `*` matches any run of characters except `/`;
 * - `**` as a whole path segment matches any number of segments, including
 *   none (elsewhere it acts like `*`);
 * - `?` matches one character except `/`;
 * - `[abc]`, `[a-z]`, `[!abc]` (or `[^abc]`) match one character of (or not
 *   of) a set, never `/`;
 * - `{a,b}` matches any of the comma-separated alternatives, which may
 *   themselves contain globs and nest;
 * - `\` makes the next character literal.
 *
 * Leading dots are not special: `*` matches `.env`.
 *
 * @module
 */

/**
 * Compiles `pattern` to a regular expression matching a whole
 * `/`-separated path.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const re = globToRegExp("src/**\/*.{ts,js}");
 * assert.ok(re.test("src/a/b/c.ts"));
 * assert.ok(re.test("src/c.js"));
 * assert.ok(!re.test("lib/c.ts"));
 * ```
 *
 * @param pattern The glob.
 * @returns A regular expression anchored at both ends.
 */
export function globToRegExp(pattern: string): RegExp {
  return new RegExp(`^${globSource(pattern)}$`);
}

/**
 * Whether `relPath` (relative to a watch root, `/`-separated) is ignored by
 * any of `patterns`, with `.gitignore`-like rules:
 *
 * - a pattern without a `/` (a trailing one aside) matches any single path
 *   segment, so `node_modules` ignores every `node_modules` directory and
 *   everything below it, and `*.pyc` every such file;
 * - a pattern with a `/` (including a leading `./` or `/`, which are then
 *   dropped) is matched from the watch root; when it matches a directory,
 *   everything below it is matched too;
 * - a trailing `/` is allowed and means "this directory and everything
 *   below it".
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.ok(matchesAnyGlob("a/node_modules/pkg/index.js", ["node_modules"]));
 * assert.ok(matchesAnyGlob("src/gen/types.ts", ["src/gen/"]));
 * assert.ok(!matchesAnyGlob("lib/src/gen/types.ts", ["src/gen/"]));
 * assert.ok(matchesAnyGlob("cache/x.pyc", ["*.pyc"]));
 * ```
 *
 * @param relPath Path relative to the watch root, with `/` separators.
 * @param patterns Ignore patterns.
 * @returns `true` when at least one pattern matches.
 */
export function matchesAnyGlob(relPath: string, patterns: readonly string[]): boolean {
  return ignoreMatcher(patterns)(relPath);
}

/**
 * Compiles ignore `patterns` once into a predicate with the semantics of
 * {@linkcode matchesAnyGlob}; use it when testing many paths.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const ignored = ignoreMatcher([".git", "*.swp"]);
 * assert.ok(ignored(".git/HEAD"));
 * assert.ok(ignored("src/.main.py.swp"));
 * assert.ok(!ignored("src/main.py"));
 * ```
 *
 * @param patterns Ignore patterns.
 * @returns A predicate on paths relative to the watch root.
 */
export function ignoreMatcher(patterns: readonly string[]): (relPath: string) => boolean {
  const regexps: RegExp[] = [];
  for (const raw of patterns) {
    let pattern = raw;
    while (pattern.endsWith("/")) pattern = pattern.slice(0, -1);
    const anchored = pattern.includes("/");
    pattern = pattern.replace(/^(?:\.?\/)+/, "");
    if (pattern === "" || pattern === ".") continue;
    regexps.push(
      anchored
        ? new RegExp(`^${globSource(pattern)}(?:/.*)?$`)
        // Any single segment; everything below a matching directory too.
        : new RegExp(`(?:^|/)${globSource(pattern)}(?:/|$)`),
    );
  }
  return (relPath) => {
    const path = relPath.startsWith("./") ? relPath.slice(2) : relPath;
    return regexps.some((re) => re.test(path));
  };
}

/** The regular expression source (unanchored) for `pattern`. */
function globSource(pattern: string): string {
  const alternatives = expandBraces(pattern);
  const sources = alternatives.map(braceFreeSource);
  return sources.length === 1 ? sources[0] : `(?:${sources.join("|")})`;
}

/**
 * Expands `{a,b}` groups (outside character classes, unescaped) into the
 * list of brace-free patterns. A `{` without a matching `}` or without a
 * top-level comma is literal.
 */
function expandBraces(pattern: string): string[] {
  const open = findBraceGroup(pattern);
  if (open === undefined) return [pattern];
  const { start, end, commas } = open;
  const prefix = pattern.slice(0, start);
  const suffix = pattern.slice(end + 1);
  const bounds = [start, ...commas, end];
  const out: string[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const alternative = pattern.slice(bounds[i] + 1, bounds[i + 1]);
    out.push(...expandBraces(prefix + alternative + suffix));
  }
  return out;
}

/** The first brace group with at least one top-level comma, if any. */
function findBraceGroup(
  pattern: string,
): { start: number; end: number; commas: number[] } | undefined {
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "\\") {
      i++;
    } else if (c === "[") {
      const close = classEnd(pattern, i);
      if (close !== -1) i = close;
    } else if (c === "{") {
      let depth = 0;
      const commas: number[] = [];
      for (let j = i; j < pattern.length; j++) {
        const d = pattern[j];
        if (d === "\\") {
          j++;
        } else if (d === "[") {
          const close = classEnd(pattern, j);
          if (close !== -1) j = close;
        } else if (d === "{") {
          depth++;
        } else if (d === "}") {
          depth--;
          if (depth === 0) {
            if (commas.length > 0) return { start: i, end: j, commas };
            break; // `{x}`: literal braces; look for a later group
          }
        } else if (d === "," && depth === 1) {
          commas.push(j);
        }
      }
    }
  }
  return undefined;
}

/**
 * Index of the `]` closing the character class that opens at `start`, or -1
 * when there is none (then the `[` is literal).
 */
function classEnd(pattern: string, start: number): number {
  let i = start + 1;
  if (pattern[i] === "!" || pattern[i] === "^") i++;
  if (pattern[i] === "]") i++; // a leading `]` is a member
  for (; i < pattern.length; i++) {
    if (pattern[i] === "\\") i++;
    else if (pattern[i] === "]") return i;
  }
  return -1;
}

const REGEXP_SPECIAL = /[\\^$.*+?()[\]{}|/-]/;

function escapeChar(c: string): string {
  return REGEXP_SPECIAL.test(c) ? `\\${c}` : c;
}

/** The regular expression source for a pattern without brace groups. */
function braceFreeSource(pattern: string): string {
  let out = "";
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i];
    const atSegmentStart = i === 0 || pattern[i - 1] === "/";
    if (c === "*") {
      let stars = 1;
      while (pattern[i + stars] === "*") stars++;
      const next = pattern[i + stars];
      if (stars >= 2 && atSegmentStart && (next === "/" || next === undefined)) {
        if (next === "/") {
          out += "(?:[^/]*/)*"; // `**/`: zero or more whole segments
          i += stars + 1;
        } else {
          out += ".*"; // a trailing `**` (a `/**` tail is handled at the `/`)
          i += stars;
        }
      } else {
        out += "[^/]*";
        i += stars;
      }
    } else if (c === "/" && /^\/\*\*+$/.test(pattern.slice(i))) {
      out += "(?:/.*)?"; // `dir/**`: the directory and anything below it
      break;
    } else if (c === "?") {
      out += "[^/]";
      i++;
    } else if (c === "[") {
      const close = classEnd(pattern, i);
      if (close === -1) {
        out += "\\[";
        i++;
      } else {
        out += classSource(pattern.slice(i + 1, close));
        i = close + 1;
      }
    } else if (c === "\\" && i + 1 < pattern.length) {
      out += escapeChar(pattern[i + 1]);
      i += 2;
    } else {
      out += escapeChar(c);
      i++;
    }
  }
  return out;
}

/** The regular expression source for the inside of a `[...]` class. */
function classSource(body: string): string {
  let negate = false;
  let i = 0;
  if (body[0] === "!" || body[0] === "^") {
    negate = true;
    i = 1;
  }
  let members = "";
  for (; i < body.length; i++) {
    let c = body[i];
    if (c === "\\" && i + 1 < body.length) c = body[++i];
    if (c === "-" && members !== "" && i + 1 < body.length) {
      members += "-"; // a range between the previous and the next member
      continue;
    }
    members += /[\\\]\[^-]/.test(c) ? `\\${c}` : c;
  }
  return negate ? `[^/${members}]` : `(?!/)[${members}]`;
}
