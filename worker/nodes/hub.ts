/**
 * The node's Durable Object (durable-objects/node-hub.ts: presence, inbox and channel), reached
 * through its binding: the Worker never imports the object's module.
 */
export const nodeHub = (env: Env, nodeId: number) => env.NODE_HUB.getByName(String(nodeId));
