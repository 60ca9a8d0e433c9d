/**
 * The daemon's end of a datagram connection over the local socket (local-socket/datagram-frames.ts):
 * each send frame is checked against the contract and handed on, its answer sent back under its
 * ref, and the datagrams arriving on the connection's port go to the program as they come. A bad
 * send gets an error under its ref and the connection carries on; a frame that breaks the framing
 * gets an `invalid_frame` error under ref 0, and the connection is closed. A program that does not
 * read holds the daemon to little (limits.ts): its sends wait, and datagrams arriving for it are
 * dropped.
 */
import type { Socket } from "node:net";
import type { DatagramIn } from "../dataplane/datagrams.ts";
import { PilotError } from "../errors.ts";
import { DatagramSend, parseArgs } from "../local-socket/contract.ts";
import { datagramFrame, DatagramFrameReader, errorFrame, sentFrame, type SendFields } from "../local-socket/datagram-frames.ts";
import { FrameError } from "../local-socket/frames.ts";
import { BatchedWriter } from "../local-socket/batched-writes.ts";
import { errorBody } from "./errors.ts";
import { MAX_SENDS_IN_FLIGHT, MAX_UNREAD_DATAGRAMS } from "./limits.ts";

export interface DatagramPort {
  /** Sends a checked datagram; resolves with the node ID its target named. */
  send(datagram: DatagramSend): Promise<number>;
  /** Hands over the datagrams arriving on the connection's port until the returned function is called; absent without a port. */
  listen?(deliver: (d: DatagramIn) => void): () => void;
  /** Counts a datagram that arrived while the program had more than MAX_UNREAD_DATAGRAMS bytes unread, and was dropped. */
  dropped(): void;
}

export function pipeDatagrams(socket: Socket, first: Buffer, port: DatagramPort): void {
  // Answers and arriving datagrams leave in batches (a write each woke the program each time).
  const out = new BatchedWriter(socket);
  /** Sends read but not begun, while MAX_SENDS_IN_FLIGHT are under way: at most the rest of one chunk, as reading pauses. */
  const queued: SendFields[] = [];
  let inFlight = 0;
  let broken = false;
  /** Reads on only while the program takes what it is sent and its sends settle. */
  const flow = () => {
    const hold = queued.length > 0 || socket.writableLength > MAX_UNREAD_DATAGRAMS;
    if (hold) socket.pause();
    else if (!broken && socket.isPaused()) socket.resume();
  };
  const settle = (frame: Buffer) => {
    inFlight--;
    out.write(frame);
    pump();
  };
  const begin = ({ ref, target, port: to, srcPort, payload }: SendFields) => {
    let datagram: DatagramSend;
    try {
      datagram = parseArgs("send-datagram", DatagramSend, { target, port: to, src_port: srcPort || undefined, data: payload });
    } catch (e) {
      return out.write(errorFrame(ref, errorBody(e)));
    }
    inFlight++;
    port.send(datagram).then(
      (nodeId) => settle(sentFrame(ref, nodeId)),
      (e: unknown) => settle(errorFrame(ref, errorBody(e))),
    );
  };
  const pump = () => {
    while (inFlight < MAX_SENDS_IN_FLIGHT && queued.length > 0) begin(queued.shift()!);
    flow();
  };
  // Datagrams are unreliable: one the program has no room for is dropped, as a full network would.
  const unlisten = port.listen?.((d) => (socket.writableLength > MAX_UNREAD_DATAGRAMS ? port.dropped() : out.write(datagramFrame(d))));
  const programsSendOnly = () => {
    throw new FrameError("programs send only send frames");
  };
  const reader = new DatagramFrameReader({
    send: (s) => {
      queued.push(s);
      pump();
    },
    sent: programsSendOnly,
    error: programsSendOnly,
    datagram: programsSendOnly,
  });
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
  socket.on("drain", flow);
  socket.on("close", () => unlisten?.());
  if (first.length) socket.emit("data", first);
  flow();
}
