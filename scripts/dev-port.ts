/**
 * Checks, before `npm start` runs `wrangler dev`, that the registry's port is free, and says where
 * the registry will listen. Left to itself, `wrangler dev` moves to another port without a word
 * when 8787 is taken, while daemons keep asking 8787: an agent would talk to some other program.
 * The port is $PORT, else 8787 (the daemon's default registry); the address is $HOST, else
 * localhost (HOST=0.0.0.0 lets agents on other machines reach it).
 */
import { createServer } from "node:net";

const DEFAULT_PORT = 8787;
const text = process.env["PORT"] ?? String(DEFAULT_PORT);
const port = Number(text);
const host = process.env["HOST"] ?? "localhost";
if (!/^[0-9]{1,5}$/.test(text) || port < 1 || port > 65_535) {
  console.error(`PORT must be a TCP port from 1 to 65535, not ${JSON.stringify(text)}; for example: PORT=8790 npm start`);
  process.exit(1);
}

/** Whether something already listens on the port at this address. */
const taken = (address: string) =>
  new Promise<boolean>((resolve) => {
    const probe = createServer();
    // An address this machine lacks (no IPv6 loopback, say) cannot be taken either.
    probe.once("error", (e: NodeJS.ErrnoException) => resolve(e.code === "EADDRINUSE" || e.code === "EACCES"));
    probe.listen({ port, host: address, exclusive: true }, () => probe.close(() => resolve(false)));
  });

const addresses = host === "localhost" ? ["127.0.0.1", "::1"] : [host];
for (const address of addresses) {
  if (await taken(address)) {
    console.error(
      `Port ${port} is already in use on ${address} (another registry, or another program). Stop it, or run the registry on another port:\n` +
        `  PORT=8790 npm start\n` +
        `and start daemons against it: pilotctl daemon start --registry http://localhost:8790`,
    );
    process.exit(1);
  }
}

const url = `http://localhost:${port}`;
console.error(
  `The registry will listen on ${url} (console: ${url}/console). ` +
    // Daemons have no default registry (docs/daemon.md): each is told, whatever the port.
    `Start daemons on this machine with: pilotctl daemon start --registry ${url} (or export PILOT_REGISTRY=${url})` +
    (host === "localhost"
      ? "\nFor agents on other machines, run HOST=0.0.0.0 npm start and give them --registry http://<this machine's address>:" + port
      : `\nAgents on other machines: pilotctl daemon start --registry http://<this machine's address>:${port}`),
);
