/**
 * The client's side of the built-in services' framed streams: whole frames read from a connection.
 */
import { PilotError } from "../errors.ts";
import type { PilotConnection } from "../sdk/pilot.ts";
import type { FrameDecoder } from "../services/frame-decoder.ts";

/**
 * Calls `onFrame` with each whole frame the peer sends (at most the format's limit, 16 MiB);
 * resolves when the peer ends its side, rejects when the connection fails or a frame breaks the
 * format.
 */
export function gatherFrames<Head>(conn: PilotConnection, decoder: FrameDecoder<Head>, onFrame: (head: Head, payload: Buffer) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let frame: { head: Head; pieces: Buffer[] } | null = null;
    conn.on("data", (chunk: Buffer) => {
      for (const event of decoder.push(chunk)) {
        if (event.kind === "head") frame = { head: event.head, pieces: [] };
        else if (event.kind === "data") frame!.pieces.push(event.bytes);
        else if (event.kind === "end") onFrame(frame!.head, Buffer.concat(frame!.pieces));
        else {
          const e = new PilotError("bad_answer", `the peer sent a malformed frame: ${event.reason}`, "the peer does not speak this service's protocol");
          conn.destroy(e);
          return reject(e);
        }
      }
    });
    conn.on("end", resolve);
    conn.on("error", reject);
  });
}
