// Starts a real `switchyard serve` (embedded default) in a fresh data
// directory on a free port, and makes an owner API key with the admin CLI.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import net from "node:net";

export function binary() {
  const bin = process.env.SWITCHYARD_BIN ?? resolve(import.meta.dirname, "../../../target/debug/switchyard");
  if (!existsSync(bin)) throw new Error(`no switchyard binary at ${bin}; build it or set SWITCHYARD_BIN`);
  return bin;
}

async function freePort() {
  return new Promise((ok, fail) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
    s.on("error", fail);
  });
}

export async function startServer() {
  const bin = binary();
  const dir = mkdtempSync(join(tmpdir(), "switchyard-sdk-"));
  const port = await freePort();
  const child = spawn(bin, ["serve", "--listen", `127.0.0.1:${port}`, "--allow-private-targets", "true"], {
    cwd: dir,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr.on("data", (d) => (log += d));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {}
    if (i > 200) throw new Error(`server did not start: ${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const apiKey = execFileSync(bin, ["admin", "create-api-key", "--email", "owner@localhost"], { cwd: dir })
    .toString()
    .trim()
    .split("\n")
    .pop();
  return {
    url,
    apiKey,
    async stop() {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
      rmSync(dir, { recursive: true, force: true });
    },
    /** A GraphQL call with the owner key (set-up the REST API has no route for). */
    async graphql(query, variables = {}) {
      const r = await fetch(`${url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${apiKey}` },
        body: JSON.stringify({ query, variables }),
      });
      const body = await r.json();
      if (body.errors) throw new Error(JSON.stringify(body.errors));
      return body.data;
    },
  };
}
