/** `npm start`'s port check: a taken port is refused with what to do instead, a free one announced. */
import { execFile } from "node:child_process";
import { createServer, type Server } from "node:net";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const SCRIPT = fileURLToPath(new URL("./dev-port.ts", import.meta.url));

function check(env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [SCRIPT], { env: { ...process.env, ...env } }, (err, _stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stderr }),
    );
  });
}

const listen = (host: string) =>
  new Promise<Server>((resolve) => {
    const server = createServer();
    server.listen(0, host, () => resolve(server));
  });

describe("npm start's port check", () => {
  it("refuses a port something already listens on, naming the command for another port", async () => {
    const busy = await listen("127.0.0.1");
    const port = String((busy.address() as { port: number }).port);
    const { code, stderr } = await check({ PORT: port });
    busy.close();
    expect(code).toBe(1);
    expect(stderr).toContain(`Port ${port} is already in use`);
    expect(stderr).toContain("PORT=8790 npm start");
    expect(stderr).toContain("pilotctl daemon start --registry http://localhost:8790");
  });

  it("announces a free port with the registry URL daemons must use", async () => {
    const probe = await listen("127.0.0.1");
    const port = String((probe.address() as { port: number }).port);
    await new Promise((r) => probe.close(r));
    const { code, stderr } = await check({ PORT: port });
    expect(code).toBe(0);
    expect(stderr).toContain(`The registry will listen on http://localhost:${port}`);
    expect(stderr).toContain(`pilotctl daemon start --registry http://localhost:${port}`);
  });

  it.each(["abc", "0", "65536", "80 80", ""])("refuses PORT=%j with an example", async (bad) => {
    const { code, stderr } = await check({ PORT: bad });
    expect(code).toBe(1);
    expect(stderr).toMatch(/PORT must be a TCP port from 1 to 65535.*PORT=8790 npm start/);
  });
});
