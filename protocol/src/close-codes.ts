/**
 * WebSocket close codes the registry's channels end with. Plain numbers in a module of their own,
 * without zod, so that the console's browser script can share them at no cost.
 */

/** A network's push channel (and the owner's console view of it). */
export const CHANNEL_CLOSE = { removed: 4001, deleted: 4002, signedOut: 4003, replaced: 4004 } as const;

/** Closes the node channel when the node deregisters, or when a newer connection of the node's replaces it. */
export const NODE_CHANNEL_CLOSE = { deregistered: 4003, replaced: 4004 } as const;
