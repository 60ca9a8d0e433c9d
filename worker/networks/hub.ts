/**
 * The network's Durable Object (durable-objects/network-hub.ts: serialised changes, push channels),
 * reached through its binding: the Worker never imports the object's module.
 */
export const networkHub = (env: Env, networkId: number) => env.NETWORK_HUB.getByName(String(networkId));
