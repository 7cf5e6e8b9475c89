/**
 * How mcpmon reaches a server on Streamable HTTP (`--url`, `--header`, a
 * gateway entry's `url:` and `headers:`), and what it says when the server
 * refuses it: checking the URL, parsing and checking a `Name: value` header,
 * `${VAR}` expansion for the command line, keeping the values out of every
 * log line and error, and the essentials of a `WWW-Authenticate` challenge.
 * Small on purpose: the command line and the gateway's config check these
 * without loading the transport (`src/http_backend.ts`).
 *
 * @module
 */

/**
 * Checks that `text` is an `http:` or `https:` URL and returns it parsed;
 * throws an error for people otherwise.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(parseHttpUrl("http://127.0.0.1:3000/mcp").port, "3000");
 * assert.throws(() => parseHttpUrl("ftp://example.com/mcp"), /http:\/\/ or https:\/\//);
 * assert.throws(() => parseHttpUrl("localhost:3000"), /http:\/\/ or https:\/\//);
 * ```
 */
export function parseHttpUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(
      `not a URL: ${JSON.stringify(text)} (expected http:// or https://, e.g. ` +
        "http://127.0.0.1:3000/mcp)",
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(
      `${JSON.stringify(text)} is not an http:// or https:// URL (e.g. http://127.0.0.1:3000/mcp)`,
    );
  }
  if (url.username || url.password) {
    throw new Error(`${JSON.stringify(text)} has credentials in it; mcpmon does not send them`);
  }
  return url;
}

/** RFC 9110 `token`: what a header name must be. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Headers mcpmon sets itself (the transport's own, and what `fetch` owns);
 * a configured header may not replace them.
 */
const RESERVED = new Set([
  "accept",
  "content-type",
  "content-length",
  "host",
  "connection",
  "transfer-encoding",
  "last-event-id",
  "mcp-session-id",
  "mcp-protocol-version",
  "mcp-method",
  "mcp-name",
]);

/**
 * Why `name: value` cannot be sent as a configured header, or undefined when
 * it can: the name must be an RFC 9110 token that is not one the transport
 * sets itself, the value one line of printable text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(headerProblem("Authorization", "Bearer abc"), undefined);
 * assert.match(headerProblem("Mcp-Session-Id", "x")!, /mcpmon sets it itself/);
 * assert.match(headerProblem("Bad Name", "x")!, /not a valid header name/);
 * ```
 */
export function headerProblem(name: string, value: string): string | undefined {
  if (!TOKEN.test(name)) return `${JSON.stringify(name)} is not a valid header name`;
  const lower = name.toLowerCase();
  if (RESERVED.has(lower) || lower.startsWith("mcp-param-")) {
    return `${name} cannot be set: mcpmon sets it itself`;
  }
  // Printable ASCII and any non-ASCII text, but no control characters (CR, LF, NUL, …).
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) {
    return `the value of ${name} must be one line without control characters`;
  }
  return undefined;
}

/**
 * Parses a `--header` argument, `Name: value` (spaces around the value are
 * dropped); throws an error for people when it is not one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(parseHeader("Authorization: Bearer abc"), ["Authorization", "Bearer abc"]);
 * assert.deepEqual(parseHeader("X-Api-Key:k"), ["X-Api-Key", "k"]);
 * assert.throws(() => parseHeader("Authorization Bearer abc"), /expected "Name: value"/);
 * ```
 */
export function parseHeader(text: string): [string, string] {
  const colon = text.indexOf(":");
  if (colon <= 0) {
    throw new Error(
      `${JSON.stringify(redactedHeaderText(text))} is not a header: expected "Name: value" ` +
        '(e.g. "Authorization: Bearer ${TOKEN}")',
    );
  }
  const name = text.slice(0, colon).trim();
  const value = text.slice(colon + 1).trim();
  const problem = headerProblem(name, value);
  if (problem !== undefined) throw new Error(problem);
  return [name, value];
}

/** A header argument as it may be shown: its first word only (the rest may be a secret). */
function redactedHeaderText(text: string): string {
  const first = text.trim().split(/\s/)[0];
  return first.length < text.trim().length ? `${first.slice(0, 40)} …` : first.slice(0, 40);
}

/**
 * Expands `${VAR}` and `${VAR:-default}` in a header value from the
 * environment (the same forms a gateway config expands); throws an error
 * naming a variable that is unset and has no default.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const env = (name: string) => (name === "TOKEN" ? "s3cret" : undefined);
 * assert.equal(expandHeaderVars("Bearer ${TOKEN}", env), "Bearer s3cret");
 * assert.equal(expandHeaderVars("${MISSING:-none}", env), "none");
 * assert.throws(() => expandHeaderVars("Bearer ${MISSING}", env), /MISSING is not set/);
 * ```
 */
export function expandHeaderVars(
  value: string,
  env: (name: string) => string | undefined,
): string {
  if (!value.includes("${")) return value;
  return value.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g,
    (whole, name: string, fallback: string | undefined) => {
      const found = env(name);
      if (found !== undefined && (found !== "" || fallback === undefined)) return found;
      if (fallback !== undefined) return fallback;
      throw new Error(`${whole}: ${name} is not set (write \${${name}:-default} for a default)`);
    },
  );
}

/**
 * A function that replaces, in any text, the values of `headers` (and the
 * credentials in them: the part after an auth scheme such as `Bearer`) with
 * `[redacted]`, so that no log line or error shows a secret, even when the
 * server echoes it back.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const redact = redactor({ Authorization: "Bearer s3cret-token", "X-Key": "k-123456" });
 * assert.equal(redact("bad token s3cret-token"), "bad token [redacted]");
 * assert.equal(redact("key k-123456 refused"), "key [redacted] refused");
 * ```
 */
export function redactor(headers: Readonly<Record<string, string>> | undefined): (
  text: string,
) => string {
  const secrets = new Set<string>();
  for (const value of Object.values(headers ?? {})) {
    if (value.length >= 3) secrets.add(value);
    const credentials = value.match(/^[A-Za-z][A-Za-z0-9_-]*\s+(.+)$/)?.[1];
    if (credentials && credentials.length >= 3) secrets.add(credentials);
  }
  if (secrets.size === 0) return (text) => text;
  // Longest first, so a whole value goes before the credentials inside it.
  const ordered = [...secrets].sort((a, b) => b.length - a.length);
  return (text) => {
    let out = text;
    for (const secret of ordered) out = out.split(secret).join("[redacted]");
    return out;
  };
}

/** `WWW-Authenticate` parameters worth showing: what a person needs to fix the credentials. */
const CHALLENGE_PARAMS = ["realm", "error", "error_description", "scope", "resource_metadata"];

/**
 * The essentials of a `WWW-Authenticate` challenge, for an error message:
 * the scheme and its `realm`, `error`, `error_description`, `scope` and
 * `resource_metadata`; other parameters are left out. Empty when there is
 * no challenge.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(
 *   challengeSummary('Bearer realm="dev", error="invalid_token", error_description="expired", x="y"'),
 *   'Bearer realm="dev", error="invalid_token", error_description="expired"',
 * );
 * assert.equal(challengeSummary(null), "");
 * ```
 */
export function challengeSummary(header: string | null): string {
  if (!header) return "";
  const scheme = header.match(/^\s*([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)/)?.[1];
  if (!scheme) return "";
  const params: string[] = [];
  const pattern = /([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*("((?:[^"\\]|\\.)*)"|[^\s,]+)/g;
  const found = new Map<string, string>();
  for (const m of header.slice(scheme.length).matchAll(pattern)) {
    const key = m[1].toLowerCase();
    if (!found.has(key)) found.set(key, m[3] !== undefined ? m[3].replace(/\\(.)/g, "$1") : m[2]);
  }
  for (const key of CHALLENGE_PARAMS) {
    const value = found.get(key);
    if (value !== undefined) params.push(`${key}=${JSON.stringify(value.slice(0, 200))}`);
  }
  return params.length > 0 ? `${scheme} ${params.join(", ")}` : scheme;
}
