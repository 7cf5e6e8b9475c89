/**
 * The gateway's catalog: the backends' lists merged into the lists the client
 * sees (names `<server><sep><name>`, colliding resource URIs renamed), the
 * tables that route a name or URI back to its backend, pages with opaque
 * cursors, and the decision which lists changed.
 *
 * @module
 */
import { NameTable } from "./names.ts";

/** The list kinds a server can declare. */
export type ListKind = "tools" | "prompts" | "resources" | "resourceTemplates";

/** Every list kind, in the order the catalog merges them. */
export const KINDS: readonly ListKind[] = ["tools", "prompts", "resources", "resourceTemplates"];

/** An item of a list (a tool, prompt, resource or template) as a server sends it. */
// deno-lint-ignore no-explicit-any
export type Item = Record<string, any>;

/** What the catalog needs of a backend: its name and the lists it last read. */
export interface CatalogSource {
  /** The backend's name (the prefix of its names). */
  readonly name: string;
  /** Its own lists, by kind (absent: not declared, or not read yet). */
  readonly lists: Partial<Record<ListKind, Item[]>>;
  /** Filled by the catalog: its resource URIs renamed for a collision, original → exposed. */
  readonly renamedUris: Map<string, string>;
}

/** Items per page of a merged list. */
export const PAGE_SIZE = 100;

/** Longest resource URI routed by template, in characters. */
export const MAX_URI_LENGTH = 8192;

/**
 * The merged lists of a set of sources and their routes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const catalog = new Catalog<{ name: string; lists: Record<string, Item[]>; renamedUris: Map<string, string> }>(
 *   { separator: "__", nameBudget: 64 },
 * );
 * const alpha = { name: "alpha", lists: { tools: [{ name: "echo" }] }, renamedUris: new Map() };
 * assert.deepEqual([...catalog.rebuild([alpha])], ["tools"]);
 * assert.deepEqual(catalog.items("tools").map((t) => t.name), ["alpha__echo"]);
 * assert.equal(catalog.routeTool("alpha__echo")?.name, "echo");
 * ```
 */
export class Catalog<S extends CatalogSource> {
  #naming: { separator: string; nameBudget: number };
  readonly #warn: (message: string) => void;
  #views = new Map<ListKind, { items: Item[]; json: string }>(
    KINDS.map((kind) => [kind, { items: [], json: "[]" }]),
  );
  #tools: NameTable;
  #prompts: NameTable;
  #sourcesByName = new Map<string, S>();
  #resources = new Map<string, { source: S; uri: string }>();
  #templates = new Map<string, S>();

  /** `warn` hears of collisions (once per message is the caller's business). */
  constructor(
    naming: { separator: string; nameBudget: number },
    warn: (message: string) => void = () => {},
  ) {
    this.#naming = naming;
    this.#warn = warn;
    this.#tools = new NameTable(naming.separator, naming.nameBudget, warn);
    this.#prompts = new NameTable(naming.separator, naming.nameBudget, warn);
  }

  /** Changes the separator or name budget; takes effect at the next {@linkcode Catalog.rebuild}. */
  setNaming(naming: { separator: string; nameBudget: number }): void {
    this.#naming = naming;
  }

  /**
   * Merges the sources' lists, in order (a collision keeps the first
   * owner), and returns the kinds whose merged list changed.
   */
  rebuild(sources: Iterable<S>): Set<ListKind> {
    const { separator, nameBudget } = this.#naming;
    const tools = new NameTable(separator, nameBudget, this.#warn);
    const prompts = new NameTable(separator, nameBudget, this.#warn);
    const resources = new Map<string, { source: S; uri: string }>();
    const templates = new Map<string, S>();
    const byName = new Map<string, S>();
    const next: Record<ListKind, Item[]> = {
      tools: [],
      prompts: [],
      resources: [],
      resourceTemplates: [],
    };
    for (const source of sources) {
      byName.set(source.name, source);
      for (const tool of source.lists.tools ?? []) {
        next.tools.push({ ...tool, name: tools.add(source.name, tool.name) });
      }
      for (const p of source.lists.prompts ?? []) {
        next.prompts.push({ ...p, name: prompts.add(source.name, p.name) });
      }
      source.renamedUris.clear();
      for (const r of source.lists.resources ?? []) {
        let uri = String(r.uri);
        const taken = resources.get(uri);
        if (taken) {
          const renamed = `mcpmon://${encodeURIComponent(source.name)}/${encodeURIComponent(uri)}`;
          this.#warn(
            `resource URI collision: "${uri}" is offered by ${taken.source.name} and ${source.name}; ` +
              `${source.name}'s is exposed as "${renamed}"`,
          );
          source.renamedUris.set(uri, renamed);
          uri = renamed;
        }
        resources.set(uri, { source, uri: String(r.uri) });
        next.resources.push(uri === r.uri ? r : { ...r, uri });
      }
      for (const t of source.lists.resourceTemplates ?? []) {
        const key = String(t.uriTemplate);
        if (templates.has(key)) continue;
        templates.set(key, source);
        next.resourceTemplates.push(t);
      }
    }
    this.#tools = tools;
    this.#prompts = prompts;
    this.#resources = resources;
    this.#templates = templates;
    this.#sourcesByName = byName;
    const changed = new Set<ListKind>();
    for (const kind of KINDS) {
      const json = JSON.stringify(next[kind]);
      if (json === this.#views.get(kind)!.json) continue;
      this.#views.set(kind, { items: next[kind], json });
      changed.add(kind);
    }
    return changed;
  }

  /** The merged list of `kind`. */
  items(kind: ListKind): Item[] {
    return this.#views.get(kind)!.items;
  }

  /** The owner and own name of an exposed tool name. */
  routeTool(name: string): { source: S; name: string } | undefined {
    return this.#route(this.#tools.route(name));
  }

  /** The owner and own name of an exposed prompt name. */
  routePrompt(name: string): { source: S; name: string } | undefined {
    return this.#route(this.#prompts.route(name));
  }

  /** Whether `uri` is a resource of `source` as the backend knows it. */
  ownsResource(source: S, uri: string): boolean {
    for (const route of this.#resources.values()) {
      if (route.source === source && route.uri === uri) return true;
    }
    return false;
  }

  /**
   * Where a resource URI goes: by table (listed resources, renamed ones
   * mapped back), else the source whose templates match it (a URI longer than
   * {@linkcode MAX_URI_LENGTH} is not matched), else the one source with
   * templates.
   */
  resourceTarget(uri: string): { source: S; uri: string } | undefined {
    const routed = this.#resources.get(uri);
    if (routed) return routed;
    if (uri.length > MAX_URI_LENGTH) return undefined;
    const withTemplates = [...this.#sourcesByName.values()].filter((s) =>
      (s.lists.resourceTemplates?.length ?? 0) > 0
    );
    for (const source of withTemplates) {
      for (const template of source.lists.resourceTemplates!) {
        if (matchesTemplate(String(template.uriTemplate), uri)) return { source, uri };
      }
    }
    return withTemplates.length === 1 ? { source: withTemplates[0], uri } : undefined;
  }

  /** The source that lists the template `uriTemplate` (completion references). */
  templateOwner(uriTemplate: string): S | undefined {
    return this.#templates.get(uriTemplate);
  }

  #route(owner: { server: string; name: string } | undefined) {
    const source = owner && this.#sourcesByName.get(owner.server);
    return source && { source, name: owner.name };
  }
}

/**
 * One page of `items` from `cursor` (absent: the first page), with the next
 * page's cursor when there is one; `undefined` for a cursor this function did
 * not make.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const items = Array.from({ length: 150 }, (_, i) => ({ name: `t${i}` }));
 * const first = page(items, undefined)!;
 * assert.equal(first.items.length, 100);
 * assert.equal(page(items, first.nextCursor)!.items.length, 50);
 * assert.equal(page(items, "not a cursor"), undefined);
 * ```
 */
export function page(
  items: readonly Item[],
  cursor: unknown,
  size = PAGE_SIZE,
): { items: Item[]; nextCursor?: string } | undefined {
  const offset = cursor === undefined ? 0 : decodeCursor(cursor);
  if (Number.isNaN(offset)) return undefined;
  const result: { items: Item[]; nextCursor?: string } = {
    items: items.slice(offset, offset + size),
  };
  if (offset + size < items.length) result.nextCursor = encodeCursor(offset + size);
  return result;
}

function encodeCursor(offset: number): string {
  return btoa(JSON.stringify({ o: offset }));
}

function decodeCursor(cursor: unknown): number {
  try {
    const { o } = JSON.parse(atob(String(cursor)));
    return Number.isInteger(o) && o >= 0 ? o : NaN;
  } catch {
    return NaN;
  }
}

/**
 * Whether `uri` fits an RFC 6570 template, each `{…}` expression matching one
 * or more characters. Linear in practice: each literal between expressions is
 * placed at its leftmost possible position (which is optimal for wildcards),
 * the last one at the end; no regular expression, so no backtracking.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(matchesTemplate("docs://{project}/{page}.md", "docs://a/b.md"), true);
 * assert.equal(matchesTemplate("docs://{project}/{page}.md", "docs://a/.md"), false);
 * ```
 */
export function matchesTemplate(template: string, uri: string): boolean {
  const literals = template.split(/\{[^}]*\}/);
  if (literals.length === 1) return template === uri;
  const first = literals[0];
  const last = literals[literals.length - 1];
  if (!uri.startsWith(first) || !uri.endsWith(last)) return false;
  const end = uri.length - last.length; // where the last literal starts
  let pos = first.length; // where the next expression starts
  for (let i = 1; i < literals.length - 1; i++) {
    const at = uri.indexOf(literals[i], pos + 1); // the expression takes at least one character
    if (at === -1 || at + literals[i].length >= end) return false;
    pos = at + literals[i].length;
  }
  return end - pos >= 1;
}
