/**
 * WebSocket close codes the registry's channels end with. Plain numbers in a module of their own,
 * without zod, so that the console's browser script can share them at no cost.
 */

/** A network's push channel (and the owner's console view of it). */
export const CHANNEL_CLOSE = { removed: 4001, deleted: 4002, signedOut: 4003, replaced: 4004 } as const;

/** Closes the node channel when the node deregisters, or when a newer connection of the node's replaces it. */
export const NODE_CHANNEL_CLOSE = { deregistered: 4003, replaced: 4004 } as const;

/**
 * Closes a node's relay connection (docs/relay.md): the node deregistered, a newer connection
 * replaced it, or it sent a message that is not a relay message.
 */
export const RELAY_CLOSE = { deregistered: 4003, replaced: 4004, malformed: 4005 } as const;
