/**
 * What one program may hold the daemon to on the local socket (docs/daemon.md, "The local socket"):
 * anyone who can reach the socket may stop reading, or send faster than the daemon can answer.
 */

/**
 * Bytes written to a connection that the program has not read. Past it the daemon reads no more of
 * the connection's requests or sends until they drain, drops datagrams arriving for it, and closes
 * an event stream (`bind`, `subscribe`).
 */
export const MAX_UNREAD = 1 << 20;

/** Datagram sends under way on one connection; past it the daemon reads no more sends until some settle. */
export const MAX_SENDS_IN_FLIGHT = 64;

/**
 * Requests under way on one connection (each may cost the daemon a registry request); past it the
 * daemon reads no more of the connection's requests until some are answered.
 */
export const MAX_REQUESTS_IN_FLIGHT = 64;
