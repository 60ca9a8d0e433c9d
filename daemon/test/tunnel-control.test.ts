/** Control packets (pings and path MTU probes), with the tunnel replaced by a list of what was sent. */
import { describe, expect, it } from "vitest";
import { CONTROL_BYTES, Control, newToken, probe, type Outgoing } from "../src/dataplane/tunnel/control.ts";
import { encodePacket, FLAG, PROTOCOL, type Packet } from "../src/wire/packet.ts";

/** A packet as it arrives from `peer`: what was sent, addressed. */
const arriving = (peer: number, sent: Outgoing, flags = sent.flags): Packet => ({
  ...sent,
  flags,
  src: { network: 0, node: peer },
  dst: { network: 0, node: 1 },
  payload: sent.payload as Buffer,
});

const control = (payload: Buffer, flags = 0): Outgoing => ({ flags, protocol: PROTOCOL.control, srcPort: 0, dstPort: 0, seq: 0, ack: 0, window: 0, payload });

describe("control packets", () => {
  it("time a ping by its pong, and let through only the pong to a ping under way", async () => {
    const sent: { peer: number; packet: Outgoing }[] = [];
    const c = new Control((peer, packet) => void sent.push({ peer, packet }));
    const rtt = c.ping(7, 5_000);
    const [ping] = sent;
    expect(ping).toMatchObject({ peer: 7, packet: { protocol: PROTOCOL.control, dstPort: 0, flags: 0 } });
    expect((ping!.packet.payload as Buffer).length).toBe(CONTROL_BYTES);
    const pong = arriving(7, ping!.packet, FLAG.ack);
    expect(c.awaited(arriving(8, ping!.packet, FLAG.ack))).toBe(false);
    expect(c.awaited({ ...pong, payload: Buffer.alloc(CONTROL_BYTES) })).toBe(false);
    expect(c.awaited(pong)).toBe(true);
    expect(c.receive(7, pong)).toBeNull();
    expect(await rtt).toBeGreaterThanOrEqual(0);
    expect(c.awaited(pong)).toBe(false);
  });

  it("answer a ping with a pong carrying its token", () => {
    const c = new Control(() => undefined);
    const ping = control(Buffer.from("\x008 bytes!", "latin1"));
    expect(c.receive(9, arriving(9, ping))).toEqual(control(ping.payload as Buffer, FLAG.ack));
  });

  it("fail a ping that gets no pong", async () => {
    const c = new Control(() => undefined);
    await expect(c.ping(7, 20)).rejects.toMatchObject({ code: "timeout" });
  });

  it("answer a probe of any size with the same nine bytes: a peer cannot make this node send more than it was sent", () => {
    const c = new Control(() => undefined);
    const token = newToken();
    const answers = [CONTROL_BYTES, 1200, 8900, 65_000].map((size) => {
      const request = probe(token, size);
      expect((request.payload as Buffer).length).toBe(size);
      return c.receive(9, arriving(9, request))!;
    });
    for (const answer of answers) {
      expect(answer.flags).toBe(FLAG.ack);
      expect(encodePacket({ ...answer, src: { network: 0, node: 1 }, dst: { network: 0, node: 9 } }).length).toBe(encodePacket({ ...answers[0]!, src: { network: 0, node: 1 }, dst: { network: 0, node: 9 } }).length);
      expect(Buffer.from(answer.payload as Buffer)).toEqual(Buffer.concat([Buffer.of(1), token]));
    }
  });

  it("hand a probe's answer to the path MTU search, token and peer, and let it through only from an allowed peer", () => {
    const answered: [number, string][] = [];
    const c = new Control(
      () => undefined,
      (peer, token) => void answered.push([peer, token.toString("hex")]),
    );
    const token = newToken();
    const answer = c.receive(9, arriving(9, probe(token, 1400)))!;
    expect(c.receive(9, arriving(9, answer))).toBeNull();
    expect(answered).toEqual([[9, token.toString("hex")]]);
    // Unlike a pong, it is not let past the access check: a peer we no longer accept needs no MTU.
    expect(c.awaited(arriving(9, answer))).toBe(false);
  });

  it("drop whatever else comes to port 0: unknown kinds, short or padded pings, padded or short answers, other flags", () => {
    const answered: unknown[] = [];
    const c = new Control(
      () => undefined,
      (peer, token) => void answered.push([peer, token]),
    );
    const token = newToken();
    const bad: Outgoing[] = [
      control(Buffer.alloc(0)),
      control(Buffer.of(0)),
      control(Buffer.concat([Buffer.of(0), token.subarray(0, 7)])),
      control(Buffer.concat([Buffer.of(0), token, Buffer.of(0)])),
      control(Buffer.concat([Buffer.of(1), token.subarray(0, 7)])),
      control(Buffer.concat([Buffer.of(2), token])),
      control(Buffer.concat([Buffer.of(255), token, Buffer.alloc(100)])),
      control(Buffer.concat([Buffer.of(1), token, Buffer.alloc(100)]), FLAG.ack),
      control(Buffer.concat([Buffer.of(0), token, Buffer.alloc(1)]), FLAG.ack),
      control(Buffer.concat([Buffer.of(1), token]), FLAG.ack | FLAG.syn),
      control(Buffer.concat([Buffer.of(1), token]), FLAG.rst),
      control(Buffer.concat([Buffer.of(0), token]), FLAG.fin),
    ];
    for (const packet of bad) expect(c.receive(9, arriving(9, packet)), (packet.payload as Buffer).toString("hex")).toBeNull();
    expect(answered).toEqual([]);
  });
});
