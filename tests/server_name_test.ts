import assert from "node:assert/strict";
import { deriveName } from "../src/server_name.ts";

Deno.test("launchers of the project (npm run, pnpm, yarn, bun run, docker run, …) are named after the project", () => {
  const dir = Deno.makeTempDirSync({ prefix: "mcpmon-names-" });
  try {
    const withPackage = `${dir}/weather-app`;
    Deno.mkdirSync(withPackage);
    Deno.writeTextFileSync(
      `${withPackage}/package.json`,
      JSON.stringify({ name: "@acme/weather-mcp" }),
    );
    const plain = `${dir}/notes`;
    Deno.mkdirSync(`${plain}/src`, { recursive: true });
    const cases: [string[], string, string][] = [
      [["npm", "run", "start"], withPackage, "weather-mcp"],
      [["npm", "start"], withPackage, "weather-mcp"],
      [["npm", "--prefix", withPackage, "run", "dev"], plain, "weather-mcp"],
      [["pnpm", "dev"], withPackage, "weather-mcp"],
      [["yarn", "start"], plain, "notes"],
      [["bun", "run", "dev"], plain, "notes"],
      [["docker", "run", "-i", "--rm", "mcp/time"], plain, "notes"],
      [["docker", "compose", "run", "--rm", "server"], `${plain}/src`, "notes"],
      [["deno", "task", "start"], plain, "notes"],
      [["make", "serve"], plain, "notes"],
      // Not launchers of the project: named as before.
      [["npx", "-y", "@acme/files-mcp"], plain, "files-mcp"],
      [["bun", "run", "lib/search.ts"], plain, "search"],
      [["pnpm", "dlx", "tsx", "server/index.ts"], plain, "server"],
    ];
    for (const [[command, ...args], cwd, name] of cases) {
      assert.equal(deriveName(command, args, cwd), name, [command, ...args].join(" "));
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
