/**
 * How the daemon hosts its built-in services: each listens on its well-known port through the
 * stream layer, as the echo service on port 7 does and as a program would. So a connection reaches
 * a service only once the stream layer has accepted it (its peer may reach this node, through
 * trust or a shared network; anyone else is dropped without a word), it counts against the same
 * limits as any other, and it fails at once when its peer is cut off.
 */
import type { Connection } from "../dataplane/stream/connection.ts";
import type { Streams } from "../dataplane/stream/streams.ts";

/** A connection as a service sees it. */
export interface ServiceStream {
  /** The peer's node ID. */
  readonly peer: number;
  /** Queues bytes for the peer; `backlog` says how far the peer is behind. */
  write(pieces: Buffer[]): void;
  /** Bytes written that the peer has not acknowledged yet. */
  readonly backlog: number;
  /** The service is done with `n` bytes received: the peer may send that many more. */
  consumed(n: number): void;
  /** Half-close: nothing more will be sent. */
  end(): void;
  /** Aborts the connection (the peer hears a reset). */
  reset(): void;
}

/** What a service does with one connection. */
export interface ServiceSession {
  /** Bytes from the peer, in order; they count against its window until `consumed`. */
  data(chunk: Buffer): void;
  /** The peer will send nothing more. */
  finish(): void;
  /** The peer acknowledged bytes: the backlog shrank. */
  drained(): void;
  /** The connection is over (reset, failed, or both sides ended): release what it holds. Called once. */
  closed(): void;
}

/** Serves `port` with `open`, which makes a session for each connection. Returns the unbind. */
export function hostService(streams: Streams, port: number, open: (stream: ServiceStream) => ServiceSession): () => void {
  return streams.listen(port, (offer) => serve(streams.claim(offer.conn.id, offer.key), open));
}

function serve(conn: Connection, open: (stream: ServiceStream) => ServiceSession): void {
  let peerDone = false;
  let selfDone = false;
  let over = false;
  const close = () => {
    if (over) return;
    over = true;
    session.closed();
  };
  const stream: ServiceStream = {
    peer: conn.peer,
    write: (pieces) => {
      for (const piece of pieces) conn.write(piece);
    },
    get backlog() {
      return conn.buffered;
    },
    consumed: (n) => conn.consumed(n),
    end: () => {
      selfDone = true;
      conn.end();
      if (peerDone) close();
    },
    reset: () => {
      conn.reset();
      close();
    },
  };
  const session = open(stream);
  conn.attach({
    deliver: (data) => session.data(data),
    finish: () => {
      peerDone = true;
      session.finish();
      if (selfDone) close();
    },
    fail: close,
    writable: () => session.drained(),
  });
}
