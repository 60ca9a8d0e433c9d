/**
 * Asking a STUN server for our public endpoint, over the socket the data plane uses (so the NAT
 * mapping it reports is the one peers will reach), and a minimal responder for tests and labs.
 */
import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import type { HostPort } from "./host-port.ts";
import { bindingRequest, bindingSuccess, decodeStun, familyOf, looksLikeStun, mappedAddress, type TransportAddress, verifyFingerprint } from "./stun.ts";

/** Cloudflare's STUN service, which also answers on port 53: asking both tells what kind of NAT the node is behind. */
export const DEFAULT_STUN_SERVER = "stun.cloudflare.com:3478,stun.cloudflare.com:53";


/**
 * Sends Binding requests (retransmitted at 250, 500, 1000 ms…) until a matching, fingerprinted
 * response arrives or `timeoutMs` passes. `listen` must hand STUN datagrams from the socket to the
 * returned handler; the daemon's receive loop does that.
 */
export function queryStun(
  socket: Socket,
  server: HostPort,
  timeoutMs = 2_000,
): { result: Promise<TransportAddress | null>; onDatagram: (msg: Buffer) => void } {
  const request = bindingRequest();
  const transactionId = request.subarray(8, 20);
  let settle: (v: TransportAddress | null) => void = () => undefined;
  const result = new Promise<TransportAddress | null>((resolve) => (settle = resolve));
  const timers: ReturnType<typeof setTimeout>[] = [];
  const finish = (v: TransportAddress | null) => {
    timers.forEach(clearTimeout);
    settle(v);
  };
  for (let delay = 0, gap = 250; delay < timeoutMs; delay += gap, gap *= 2) {
    timers.push(setTimeout(() => socket.send(request, server.port, server.host, () => undefined), delay));
  }
  timers.push(setTimeout(() => finish(null), timeoutMs));
  const onDatagram = (msg: Buffer) => {
    try {
      const m = decodeStun(msg);
      if (m.class === "success" && m.transactionId.equals(transactionId) && verifyFingerprint(m)) finish(mappedAddress(m) ?? null);
    } catch {
      // Not for us, or malformed: ignore.
    }
  };
  return { result, onDatagram };
}

/** A STUN responder: answers every Binding request with the address it came from. */
export async function startStunResponder(port = 0, host = "127.0.0.1"): Promise<{ socket: Socket; port: number; close(): Promise<void> }> {
  const socket = createSocket(familyOf(host) === 4 ? "udp4" : "udp6");
  socket.on("message", (msg: Buffer, from: RemoteInfo) => {
    if (!looksLikeStun(msg)) return;
    try {
      const m = decodeStun(msg);
      if (m.class !== "request") return;
      socket.send(bindingSuccess(m.transactionId, { address: from.address, port: from.port, family: from.family === "IPv4" ? 4 : 6 }), from.port, from.address);
    } catch {
      // Malformed requests get no answer.
    }
  });
  await new Promise<void>((resolve) => socket.bind(port, host, resolve));
  return { socket, port: socket.address().port, close: () => new Promise((resolve) => socket.close(() => resolve())) };
}
