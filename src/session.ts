/**
 * The client's session: what it set up once and every new server generation
 * must be told again (the `initialize` params, `notifications/initialized`,
 * the log level and resource subscriptions).
 *
 * @module
 */
import type { JsonRpcMessage } from "./jsonrpc.ts";

/** One message to replay to a fresh server after its `initialize` response. */
export interface ReplayStep {
  /** JSON-RPC method. */
  method: string;
  /** Its params. */
  params?: Record<string, unknown>;
  /** True for a notification (no response expected). */
  notification: boolean;
}

/**
 * Records the client's session state from the messages it sends.
 *
 * @example
 * ```ts
 * import { Session } from "./session.ts";
 * const s = new Session();
 * s.observe({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18" } });
 * s.observe({ jsonrpc: "2.0", method: "notifications/initialized" });
 * s.observe({ jsonrpc: "2.0", id: 2, method: "logging/setLevel", params: { level: "debug" } });
 * s.replay().map((step) => step.method);
 * // ["notifications/initialized", "logging/setLevel"]
 * ```
 */
export class Session {
  #initializeParams: Record<string, unknown> | undefined;
  #initialized = false;
  #level: string | undefined;
  #subscriptions = new Set<string>();
  #waiters: ((params: Record<string, unknown>) => void)[] = [];

  /** The client's `initialize` params, once it sent them. */
  get initializeParams(): Record<string, unknown> | undefined {
    return this.#initializeParams;
  }

  /** True once the client sent `notifications/initialized`. */
  get initialized(): boolean {
    return this.#initialized;
  }

  /** The last level the client set with `logging/setLevel`. */
  get logLevel(): string | undefined {
    return this.#level;
  }

  /** Resource URIs the client is subscribed to, in subscription order. */
  get subscriptions(): string[] {
    return [...this.#subscriptions];
  }

  /** Resolves with the client's `initialize` params (at once if already sent). */
  initializeParamsReady(): Promise<Record<string, unknown>> {
    const params = this.#initializeParams;
    if (params) return Promise.resolve(params);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Records what a client→server request or notification sets up. */
  observe(message: JsonRpcMessage): void {
    const params = (message.params ?? {}) as Record<string, unknown>;
    switch (message.method) {
      case "initialize": {
        if (this.#initializeParams) return; // a second initialize changes nothing
        this.#initializeParams = params;
        const waiting = this.#waiters;
        this.#waiters = [];
        for (const resolve of waiting) resolve(params);
        return;
      }
      case "notifications/initialized":
        this.#initialized = true;
        return;
      case "logging/setLevel":
        if (typeof params.level === "string") this.#level = params.level;
        return;
      case "resources/subscribe":
        if (typeof params.uri === "string") this.#subscriptions.add(params.uri);
        return;
      case "resources/unsubscribe":
        if (typeof params.uri === "string") this.#subscriptions.delete(params.uri);
        return;
    }
  }

  /**
   * What a new server must receive after its `initialize` response, in
   * order. `ownsUri` keeps only the subscriptions that server owns (gateway).
   */
  replay(ownsUri?: (uri: string) => boolean): ReplayStep[] {
    const steps: ReplayStep[] = [];
    if (!this.#initialized) return steps;
    steps.push({ method: "notifications/initialized", notification: true });
    if (this.#level !== undefined) {
      steps.push({
        method: "logging/setLevel",
        params: { level: this.#level },
        notification: false,
      });
    }
    for (const uri of this.#subscriptions) {
      if (ownsUri && !ownsUri(uri)) continue;
      steps.push({ method: "resources/subscribe", params: { uri }, notification: false });
    }
    return steps;
  }
}
