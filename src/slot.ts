/**
 * One backend as the router keeps it (its queue while it restarts, its lists,
 * who waits for it) and the names shared by the router and its modes: the
 * client's messages, the list methods and their notifications.
 *
 * @module
 */
import type { Backend } from "./backend.ts";
import type { Item, ListKind } from "./catalog.ts";
import type { classify, JsonRpcMessage } from "./jsonrpc.ts";

/** By own entry only (a Map): a method named `toString` or `constructor` is no list. */
export const LIST_METHODS: ReadonlyMap<string, ListKind> = new Map([
  ["tools/list", "tools"],
  ["prompts/list", "prompts"],
  ["resources/list", "resources"],
  ["resources/templates/list", "resourceTemplates"],
]);
/** The capability that declares each list. */
export const CAPABILITY: Record<ListKind, string> = {
  tools: "tools",
  prompts: "prompts",
  resources: "resources",
  resourceTemplates: "resources",
};
/** The notification that tells the client a list changed. */
export const LIST_CHANGED: Record<ListKind, string> = {
  tools: "notifications/tools/list_changed",
  prompts: "notifications/prompts/list_changed",
  resources: "notifications/resources/list_changed",
  resourceTemplates: "notifications/resources/list_changed",
};
/**
 * How much client text (characters) may wait for one backend before mcpmon
 * stops reading the client until the backend takes it: 16 Mi, room for any
 * burst a client makes while a server starts, and for a 64 MB message.
 */
const QUEUE_HIGH_WATER_MARK = 16 * 1024 * 1024;

/** A request or notification from the client. */
export type ClientMessage = Extract<
  ReturnType<typeof classify>,
  { type: "request" | "notification" }
>;
/** A request from the client. */
export type ClientRequest = Extract<ClientMessage, { type: "request" }>;

/** A client message waiting for its backend, with what to do to its response. */
export interface Queued {
  message: ClientMessage;
  line: string;
  transform?: (response: JsonRpcMessage) => void;
}

/** One backend and what the router keeps for it. */
export class Slot {
  /** Client messages waiting for this backend to be ready, in arrival order. */
  queue: Queued[] = [];
  /** Their size (characters of their text). */
  #queued = 0;
  /** Readers of the client waiting for the queue to shrink (backpressure). */
  #space: (() => void)[] = [];
  /** The backend's own lists (gateway; tools also in single mode, for the restart tool). */
  lists: Partial<Record<ListKind, Item[]>> = {};
  /** Settles when the lists of the current generation have been read. */
  listsRead: Promise<void> = Promise.resolve();
  /** Resource URIs renamed because another backend has the same: original → exposed. */
  renamedUris = new Map<string, string>();
  /** Gateway: true from a generation's ready until its lists are read and merged. */
  reading = false;
  /** Gateway: called at the backend's next "listed" (ready, lists merged) or "failed". */
  waiters: (() => void)[] = [];
  /** The backend (set right after the slot is made: its hooks need the slot). */
  backend!: Backend;
  get name(): string {
    return this.backend.name;
  }
  /** Whether the backend is on its way to serving (its names may not be listed yet). */
  get coming(): boolean {
    const state = this.backend.state;
    return state === "starting" || state === "restarting" || this.reading;
  }
  /**
   * Queues a client message. Past {@linkcode QUEUE_HIGH_WATER_MARK} characters
   * queued, returns a promise that settles once the queue is taken: the client's
   * reader waits for it, so a client cannot pile up messages without bound
   * while the server starts.
   */
  enqueue(queued: Queued): Promise<void> | undefined {
    this.queue.push(queued);
    this.#queued += queued.line.length || 256;
    if (this.#queued <= QUEUE_HIGH_WATER_MARK) return undefined;
    return new Promise((resolve) => this.#space.push(resolve));
  }

  /** Takes every queued message (to deliver or refuse them) and wakes the waiting reader. */
  takeQueue(): Queued[] {
    const queue = this.queue;
    this.queue = [];
    this.#queued = 0;
    const waiting = this.#space;
    this.#space = [];
    for (const wake of waiting) wake();
    return queue;
  }

  /** Wakes whatever waits for this backend's next "listed" or "failed". */
  settle(): void {
    const waiting = this.waiters;
    this.waiters = [];
    for (const wake of waiting) wake();
  }
}
