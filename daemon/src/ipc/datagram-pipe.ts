/**
 * The daemon's end of a datagram connection over the local socket (local-socket/datagram-frames.ts):
 * each send frame is checked against the contract and handed on, its answer sent back under its
 * ref, and the datagrams arriving on the connection's port go to the program as they come. A bad
 * send gets an error under its ref and the connection carries on; a frame that breaks the framing
 * gets an `invalid_frame` error under ref 0, and the connection is closed.
 */
import type { Socket } from "node:net";
import type { DatagramIn } from "../dataplane/datagrams.ts";
import { PilotError } from "../errors.ts";
import { DatagramSend, parseArgs } from "../local-socket/contract.ts";
import { datagramFrame, DatagramFrameReader, errorFrame, sentFrame } from "../local-socket/datagram-frames.ts";
import { FrameError } from "../local-socket/frames.ts";
import { errorBody } from "./errors.ts";

export interface DatagramPort {
  /** Sends a checked datagram; resolves with the node ID its target named. */
  send(datagram: DatagramSend): Promise<number>;
  /** Hands over the datagrams arriving on the connection's port until the returned function is called; absent without a port. */
  listen?(deliver: (d: DatagramIn) => void): () => void;
}

export function pipeDatagrams(socket: Socket, first: Buffer, port: DatagramPort): void {
  const write = (frame: Buffer) => void (socket.writable && socket.write(frame));
  const unlisten = port.listen?.((d) => write(datagramFrame(d)));
  const programsSendOnly = () => {
    throw new FrameError("programs send only send frames");
  };
  const reader = new DatagramFrameReader({
    send: ({ ref, target, port: to, srcPort, payload }) => {
      try {
        const datagram = parseArgs("send-datagram", DatagramSend, { target, port: to, src_port: srcPort || undefined, data: payload });
        port.send(datagram).then(
          (nodeId) => write(sentFrame(ref, nodeId)),
          (e: unknown) => write(errorFrame(ref, errorBody(e))),
        );
      } catch (e) {
        write(errorFrame(ref, errorBody(e)));
      }
    },
    sent: programsSendOnly,
    error: programsSendOnly,
    datagram: programsSendOnly,
  });
  let broken = false;
  socket.on("data", (chunk: Buffer) => {
    if (broken) return;
    try {
      reader.push(chunk);
    } catch (e) {
      broken = true;
      const message = e instanceof FrameError ? e.message : String(e);
      socket.end(errorFrame(0, new PilotError("invalid_frame", message, "datagram frames are u8 kind, u32 length, body; see the SDK in pilot-daemon")));
    }
  });
  socket.on("close", () => unlisten?.());
  if (first.length) socket.emit("data", first);
  socket.resume();
}
