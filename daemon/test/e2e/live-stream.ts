/**
 * A live transfer to watch being cut: the near end writes until its connection fails, and the
 * far end's bytes and both ends' errors are recorded, with what the far end had when it failed.
 */
import type { PilotConnection } from "../../src/sdk/pilot.ts";

/** Resolves when the connection can take more, or is gone. */
export function drainOrClose(conn: PilotConnection): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      conn.off("drain", done);
      conn.off("close", done);
      resolve();
    };
    conn.on("drain", done);
    conn.on("close", done);
  });
}

export function keepWriting(near: PilotConnection, far: PilotConnection, chunkBytes: number) {
  const cut = { near: undefined as { code: string } | undefined, far: undefined as { code: string } | undefined, received: 0, receivedAtCut: -1 };
  far.on("data", (d: Buffer) => (cut.received += d.length));
  far.on("error", (e) => {
    cut.far = e as never;
    cut.receivedAtCut = cut.received;
  });
  near.on("error", (e) => (cut.near = e as never));
  const chunk = Buffer.alloc(chunkBytes, 7);
  const writing = (async () => {
    while (!near.destroyed) if (!near.write(chunk)) await drainOrClose(near);
  })();
  return { cut, writing };
}
