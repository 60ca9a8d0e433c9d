/**
 * WebSocket close codes the registry's channels end with. Plain numbers in a module of their own,
 * without zod, so that the console's browser script can share them at no cost.
 */

/**
 * A network's push channel (and the owner's console view of it). `rekeyed`: the node moved to a new
 * identity key, which revoked the token the channel was opened with; the node connects again with a
 * new one. `suspended`: the registry's operator suspended the node, which revoked its tokens; it
 * gets new ones only once restored, and keeps its memberships meanwhile.
 */
export const CHANNEL_CLOSE = { removed: 4001, deleted: 4002, signedOut: 4003, replaced: 4004, rekeyed: 4005, suspended: 4006 } as const;

/**
 * Closes the node channel when the node deregisters, when a newer connection of the node's replaces
 * it, or when the node moved to a new identity key (it connects again with a new token), or when
 * the registry's operator suspended it (it connects again once restored).
 */
export const NODE_CHANNEL_CLOSE = { deregistered: 4003, replaced: 4004, rekeyed: 4005, suspended: 4006 } as const;

/**
 * Closes a node's relay connection (docs/relay.md): the node deregistered, a newer connection
 * replaced it, it sent a message that is not a relay message, or it moved to a new identity key
 * (it connects again with a new token), or the registry's operator suspended it.
 */
export const RELAY_CLOSE = { deregistered: 4003, replaced: 4004, malformed: 4005, rekeyed: 4006, suspended: 4007 } as const;
