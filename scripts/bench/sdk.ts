/**
 * The bench's peer-style row (`deno task bench`, see `scripts/bench.ts`): sequential `tools/call`
 * p50 with the MCP SDK's client (`@modelcontextprotocol/sdk`, stdio transport), the way other
 * hot-reload proxies report it, against the server directly, a no-op relay and mcpmon. The SDK's
 * own cost (zod validation, its framing) is in every figure, so the ratio to the relay is the one
 * to compare with a peer's.
 *
 * @module
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { median, percentile } from "./stats.ts";

/** One side: a label and the argv the SDK's transport spawns. */
export interface SdkSide {
  /** `direct`, `relay` or `mcpmon`. */
  key: string;
  /** The command and its arguments. */
  argv: string[];
}

/** p50 of sequential SDK calls per side, µs: the median over rounds of each round's p50. */
export type SdkResult = Record<string, number>;

/** What {@linkcode benchSdk} measured: the p50 per side, and each round's p50 per side (µs). */
export interface SdkRun {
  /** The median over rounds of each round's p50, by side. */
  p50: SdkResult;
  /** Each round's p50, by side, in round order (every side ran once in each round). */
  rounds: Record<string, number[]>;
}

/**
 * Connects an SDK client to each side, warms each up, then runs `rounds` rounds of `calls`
 * sequential echo calls, the sides in rotating order; closes every client (which stops its
 * process) whatever happens.
 *
 * @example
 * ```ts ignore
 * const { p50 } = await benchSdk([{ key: "direct", argv: ["node", "server.mjs"] }], dir, 1000, 5, 200, 30_000);
 * ```
 */
export async function benchSdk(
  sides: SdkSide[],
  cwd: string,
  calls: number,
  rounds: number,
  warmup: number,
  phaseTimeoutMs: number,
): Promise<SdkRun> {
  const clients: { key: string; client: Client }[] = [];
  const bounded = async <T>(what: string, work: Promise<T>): Promise<T> => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await Promise.race([
        work,
        new Promise<never>((_, reject) =>
          timer = setTimeout(
            () => reject(new Error(`SDK ${what}: no end within ${phaseTimeoutMs} ms`)),
            phaseTimeoutMs,
          )
        ),
      ]);
    } finally {
      clearTimeout(timer);
    }
  };
  const echo = async (client: Client) => {
    const r = await client.callTool({ name: "echo", arguments: { text: "sdk" } });
    const content = r.content as { text?: string }[] | undefined;
    if (content?.[0]?.text !== "sdk") throw new Error(`bad SDK echo: ${JSON.stringify(r)}`);
  };
  try {
    for (const side of sides) {
      const [command, ...args] = side.argv;
      const client = new Client({ name: "mcpmon-bench-sdk", version: "1.0.0" });
      const transport = new StdioClientTransport({ command, args, cwd, stderr: "ignore" });
      await bounded(`${side.key} connect`, client.connect(transport));
      clients.push({ key: side.key, client });
      await bounded(
        `${side.key} warm-up`,
        (async () => {
          for (let i = 0; i < warmup; i++) await echo(client);
        })(),
      );
    }
    const p50s = new Map<string, number[]>(clients.map((c) => [c.key, []]));
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < clients.length; i++) {
        const { key, client } = clients[(i + round) % clients.length];
        const times = await bounded(
          `${key} round`,
          (async () => {
            const times: number[] = [];
            for (let n = 0; n < calls; n++) {
              const t0 = performance.now();
              await echo(client);
              times.push((performance.now() - t0) * 1000);
            }
            return times;
          })(),
        );
        p50s.get(key)!.push(percentile(times, 0.5));
      }
    }
    return {
      p50: Object.fromEntries([...p50s].map(([key, values]) => [key, median(values)])),
      rounds: Object.fromEntries(p50s),
    };
  } finally {
    await Promise.all(clients.map(({ client }) => client.close().catch(() => {})));
  }
}
