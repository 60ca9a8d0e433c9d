/**
 * The relay's limits (docs/relay.md#limits), in one place. Anything over a limit is dropped without
 * a word: the relay is a lossy datagram path, and the tunnel's streams recover through their own
 * congestion control.
 *
 * A "batch" is what one RPC carries: the frames of one message from a node for one destination.
 * Each costs a Durable Object request (the destination's), so batches, not frames, are what is
 * counted; a daemon that packs its frames into few messages gets the full byte rate.
 */

const MiB = 1024 * 1024;

/**
 * What one node may send, at its own object: 16 MiB (134 Mbit/s) a second and 1,000 batches a
 * second, each with a burst of one second. The byte rate is a fallback path's worth of a home
 * uplink and caps what one node can make the operator pay (docs/relay.md#cost); the batch rate keeps
 * one sender under the 1,000 requests a second an object takes, and asks for 16 KiB a batch at full rate.
 */
export const SENDER_BYTES_PER_SECOND = 16 * MiB;
export const SENDER_BATCHES_PER_SECOND = 1_000;

/**
 * The destinations a node relays to at once. Each one it starts costs the destination a privacy
 * check (one D1 read), so new ones come from a budget: 32 at once, then 8 a second. Past 64, the
 * destination used longest ago is dropped and told to forget the node.
 */
export const SENDER_PEERS = 64;
export const NEW_PEERS_BURST = 32;
export const NEW_PEERS_PER_SECOND = 8;

/**
 * Bytes on their way to one destination and not yet taken by its object. Beyond this, frames for
 * that destination are dropped, so a slow destination neither stalls the node's other destinations
 * nor piles up memory in its object.
 */
export const IN_FLIGHT_BYTES_PER_PEER = 4 * MiB;

/**
 * What one node may receive: 32 MiB (two full-rate senders) and 1,000 batches per second, counted
 * in windows of 100 ms. Within budget, batches pass as they come; over it, a sender passes only
 * while its own share of the window is under budget ÷ senders active in the window, so one busy
 * sender cannot crowd out the others (and the window's total stays under twice the budget).
 */
export const INBOUND_WINDOW_MS = 100;
export const INBOUND_BYTES_PER_WINDOW = (32 * MiB * INBOUND_WINDOW_MS) / 1000;
export const INBOUND_BATCHES_PER_WINDOW = (1_000 * INBOUND_WINDOW_MS) / 1000;

/**
 * The privacy gate's memory at the destination, per sender: a refusal holds for one second, so a
 * grant (a join, an approval, going public) works within a second with no message at all; an
 * admission holds until a revocation clears it, and for a minute at most, so a lost invalidation
 * cannot leave a path open for longer. At most 4,096 senders are remembered, oldest forgotten first.
 */
export const GATE_SENDERS = 4_096;
export const GATE_REFUSAL_MS = 1_000;
export const GATE_ADMISSION_MS = 60_000;

/**
 * A node's answers: frames from a node this node relayed to, and that took them, within this long,
 * pass its gate without a check. A private node that contacts a public one it shares nothing with
 * must hear back (the public node may not see it); it revealed itself by writing first, and a
 * regate (a revocation, going private) forgets whom it wrote to.
 */
export const ANSWER_WINDOW_MS = 60_000;
