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

/**
 * The same for a datagram connection, where nearly all that is unread is datagrams that arrived
 * for the program: past it they are dropped, and the program's sends are read no further. It is
 * what the daemon asks the kernel for its own UDP socket (4 MiB, tunnels.ts), so a program busy
 * elsewhere for a moment has the slack the daemon has. A bound in bytes holds fewer of larger
 * datagrams: 1 MiB was 117 of 8.9 KB, 8 ms at 127 MB/s, and in the path lab at MTU 9000 a program
 * paced at 100 MB/s (a rate it keeps up with) lost 0.5 to 2.3 % of them to it; with 4 MiB, none in
 * either pair of runs.
 */
export const MAX_UNREAD_DATAGRAMS = 4 << 20;

/** Datagram sends under way on one connection; past it the daemon reads no more sends until some settle. */
export const MAX_SENDS_IN_FLIGHT = 64;

/**
 * Requests under way on one connection (each may cost the daemon a registry request); past it the
 * daemon reads no more of the connection's requests until some are answered.
 */
export const MAX_REQUESTS_IN_FLIGHT = 64;
