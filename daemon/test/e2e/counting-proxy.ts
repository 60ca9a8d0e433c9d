/**
 * A registry seen through a window: an HTTP proxy in front of the local registry that forwards
 * everything (WebSocket upgrades too) and writes down each request's method and path, so a test can
 * prove what a daemon did not ask the registry. It can also cut the live channels alone, leaving
 * HTTPS calls to pass, as a path that fails for long-lived connections would.
 */
import { createServer, request, type IncomingHttpHeaders } from "node:http";
import { connect, type AddressInfo } from "node:net";

export interface CountingProxy {
  url: string;
  /** "GET /v1/resolve/1001", … in the order they came. */
  readonly requests: string[];
  /** Ends every channel, and refuses new ones until `restoreChannels`. */
  cutChannels(): void;
  restoreChannels(): void;
  close(): Promise<void>;
}

export async function countingProxy(registry: string): Promise<CountingProxy> {
  const target = new URL(registry);
  const port = Number(target.port);
  const requests: string[] = [];
  /** Upgraded connections leave the server's hands: closing it must end them too. */
  const upgraded = new Set<() => void>();
  let channelsCut = false;
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    // The Host header passes unchanged: nodes sign the origin they call, which is the proxy's.
    const upstream = request({ host: target.hostname, port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  });
  server.on("upgrade", (req, client, head) => {
    requests.push(`${req.method} ${req.url}`);
    if (channelsCut) return void client.destroy();
    const upstream = connect(port, target.hostname, () => {
      upstream.write(`${req.method} ${req.url} HTTP/1.1\r\n${headerLines(req.headers)}\r\n`);
      upstream.write(head);
      client.pipe(upstream).pipe(client);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
      upgraded.delete(end);
    };
    upgraded.add(end);
    upstream.on("error", end);
    client.on("error", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}`,
    requests,
    cutChannels() {
      channelsCut = true;
      for (const end of [...upgraded]) end();
    },
    restoreChannels() {
      channelsCut = false;
    },
    close: () =>
      new Promise((resolve) => {
        for (const end of [...upgraded]) end();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const headerLines = (headers: IncomingHttpHeaders) =>
  Object.entries(headers)
    .flatMap(([name, value]) => (Array.isArray(value) ? value : [value]).map((v) => `${name}: ${v}\r\n`))
    .join("");
