/** Pings and pongs, with the tunnel replaced by a list of what was sent. */
import { describe, expect, it } from "vitest";
import { Control, type Outgoing } from "../src/dataplane/tunnel/control.ts";
import { FLAG, PROTOCOL, type Packet } from "../src/wire/packet.ts";

/** A packet as it arrives from `peer`: what was sent, addressed. */
const arriving = (peer: number, sent: Outgoing, flags = sent.flags): Packet => ({
  ...sent,
  flags,
  src: { network: 0, node: peer },
  dst: { network: 0, node: 1 },
  payload: sent.payload as Buffer,
});

describe("control packets", () => {
  it("time a ping by its pong, and let through only the pong to a ping under way", async () => {
    const sent: { peer: number; packet: Outgoing }[] = [];
    const control = new Control((peer, packet) => void sent.push({ peer, packet }));
    const rtt = control.ping(7, 5_000);
    const [ping] = sent;
    expect(ping).toMatchObject({ peer: 7, packet: { protocol: PROTOCOL.control, dstPort: 0, flags: 0 } });
    const pong = arriving(7, ping!.packet, FLAG.ack);
    expect(control.awaited(arriving(8, ping!.packet, FLAG.ack))).toBe(false);
    expect(control.awaited({ ...pong, payload: Buffer.alloc(8) })).toBe(false);
    expect(control.awaited(pong)).toBe(true);
    expect(control.receive(7, pong)).toBeNull();
    expect(await rtt).toBeGreaterThanOrEqual(0);
    expect(control.awaited(pong)).toBe(false);
  });

  it("answer a ping with a pong carrying its token", () => {
    const control = new Control(() => undefined);
    const token = Buffer.from("8 bytes!");
    const ping: Outgoing = { flags: 0, protocol: PROTOCOL.control, srcPort: 0, dstPort: 0, seq: 0, ack: 0, window: 0, payload: token };
    expect(control.receive(9, arriving(9, ping))).toMatchObject({ flags: FLAG.ack, protocol: PROTOCOL.control, dstPort: 0, payload: token });
  });

  it("fail a ping that gets no pong", async () => {
    const control = new Control(() => undefined);
    await expect(control.ping(7, 20)).rejects.toMatchObject({ code: "timeout" });
  });
});
