/** What the daemon's WebSockets to the registry (its channels, its relay connection) share. */

/** Opens a WebSocket to the registry with the node's access token. */
export function openRegistrySocket(url: string, token: string): WebSocket {
  // Node's WebSocket (undici) takes headers, which keeps the token out of the URL and its logs.
  return new WebSocket(url, { headers: { authorization: `Bearer ${token}` } } as unknown as string[]);
}

/**
 * The wait before reconnecting after `failures` failures in a row: doubling from `initialMs` up to
 * `maxMs`, half of it random, so daemons that lost the registry together do not return together.
 */
export function reconnectDelay(failures: number, initialMs: number, maxMs: number): number {
  const delay = Math.min(maxMs, initialMs * 2 ** (failures - 1));
  return delay / 2 + Math.random() * (delay / 2);
}
