import { createSocket } from "node:dgram";
import { describe, expect, it } from "vitest";
import { bindingRequest, bindingSuccess, decodeStun, mappedAddress, StunError, verifyFingerprint, verifyIntegrity } from "../src/net/stun.ts";
import { parseHostPort } from "../src/net/host-port.ts";
import { queryStun, startStunResponder } from "../src/net/stun-client.ts";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

// RFC 5769 §2.1–2.3 (test vectors; short-term password below).
const PASSWORD = "VOkJxbRl1RmTxUk/WvJxBt";
const REQUEST = hex(`00 01 00 58 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae 80 22 00 10 53 54 55 4e 20 74 65 73 74 20 63 6c 69 65 6e 74
  00 24 00 04 6e 00 01 ff 80 29 00 08 93 2f f9 b1 51 26 3b 36 00 06 00 09 65 76 74 6a 3a 68 36 76 59 20 20 20
  00 08 00 14 9a ea a7 0c bf d8 cb 56 78 1e f2 b5 b2 d3 f2 49 c1 b5 71 a2 80 28 00 04 e5 7a 3b cf`);
const IPV4_RESPONSE = hex(`01 01 00 3c 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae 80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
  00 20 00 08 00 01 a1 47 e1 12 a6 43 00 08 00 14 2b 91 f5 99 fd 9e 90 c3 8c 74 89 f9 2a f9 ba 53 f0 6b e7 d7 80 28 00 04 c0 7d 4c 96`);
const IPV6_RESPONSE = hex(`01 01 00 48 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae 80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
  00 20 00 14 00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9
  00 08 00 14 a3 82 95 4e 4b e6 7b f1 17 84 c9 7c 82 92 c2 75 bf e3 ed 41 80 28 00 04 c8 fb 0b 4c`);

describe("the STUN codec against RFC 5769", () => {
  it("decodes the sample request and checks its fingerprint and integrity", () => {
    const m = decodeStun(REQUEST);
    expect(m.class).toBe("request");
    expect(m.method).toBe(1);
    expect(verifyFingerprint(m)).toBe(true);
    expect(verifyIntegrity(m, PASSWORD)).toBe(true);
    expect(verifyIntegrity(m, "wrong password")).toBe(false);
  });

  it("decodes the IPv4 response: 192.0.2.1:32853", () => {
    const m = decodeStun(IPV4_RESPONSE);
    expect(m.class).toBe("success");
    expect(verifyFingerprint(m)).toBe(true);
    expect(verifyIntegrity(m, PASSWORD)).toBe(true);
    expect(mappedAddress(m)).toEqual({ address: "192.0.2.1", port: 32853, family: 4 });
  });

  it("decodes the IPv6 response: [2001:db8:1234:5678:11:2233:4455:6677]:32853", () => {
    const m = decodeStun(IPV6_RESPONSE);
    expect(verifyFingerprint(m)).toBe(true);
    expect(verifyIntegrity(m, PASSWORD)).toBe(true);
    expect(mappedAddress(m)).toEqual({ address: "2001:db8:1234:5678:11:2233:4455:6677", port: 32853, family: 6 });
  });

  it("notices a single flipped bit", () => {
    for (const vector of [REQUEST, IPV4_RESPONSE, IPV6_RESPONSE]) {
      const bent = Buffer.from(vector);
      bent[30] = bent[30]! ^ 0x01;
      const m = decodeStun(bent);
      expect(verifyFingerprint(m)).toBe(false);
      expect(verifyIntegrity(m, PASSWORD)).toBe(false);
    }
  });

  it("encodes what it decodes: our response carries the RFC's XOR-MAPPED-ADDRESS bytes", () => {
    const txid = IPV4_RESPONSE.subarray(8, 20);
    const ours = decodeStun(bindingSuccess(txid, { address: "192.0.2.1", port: 32853, family: 4 }));
    expect(verifyFingerprint(ours)).toBe(true);
    expect(ours.attributes[0]!.value).toEqual(hex("00 01 a1 47 e1 12 a6 43"));
    const v6 = decodeStun(bindingSuccess(txid, { address: "2001:db8:1234:5678:11:2233:4455:6677", port: 32853, family: 6 }));
    expect(v6.attributes[0]!.value).toEqual(hex("00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9"));
    const request = decodeStun(bindingRequest());
    expect(request.class).toBe("request");
    expect(verifyFingerprint(request)).toBe(true);
  });

  it.each([
    ["an empty datagram", Buffer.alloc(0)],
    ["a header only half there", REQUEST.subarray(0, 10)],
    ["a wrong magic cookie", Buffer.concat([REQUEST.subarray(0, 4), Buffer.from("deadbeef", "hex"), REQUEST.subarray(8)])],
    ["a length that disagrees with the datagram", REQUEST.subarray(0, REQUEST.length - 4)],
    ["an attribute running past the end", (() => { const b = Buffer.from(REQUEST); b.writeUInt16BE(0x00ff, 22); return b; })()],
    ["random bytes", Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 37) & 0xff))],
  ])("refuses %s", (_, bytes) => {
    expect(() => decodeStun(bytes)).toThrow(StunError);
  });
});

describe("STUN over UDP", () => {
  it("learns the mapped endpoint from a local responder", async () => {
    const responder = await startStunResponder();
    const socket = createSocket("udp4");
    await new Promise<void>((r) => socket.bind(0, "127.0.0.1", r));
    const query = queryStun(socket, { host: "127.0.0.1", port: responder.port });
    socket.on("message", query.onDatagram);
    expect(await query.result).toEqual({ address: "127.0.0.1", port: socket.address().port, family: 4 });
    socket.close();
    await responder.close();
  });

  it("gives up quietly when no server answers", async () => {
    const socket = createSocket("udp4");
    await new Promise<void>((r) => socket.bind(0, "127.0.0.1", r));
    const silent = createSocket("udp4");
    await new Promise<void>((r) => silent.bind(0, "127.0.0.1", r));
    const query = queryStun(socket, { host: "127.0.0.1", port: silent.address().port }, 300);
    socket.on("message", query.onDatagram);
    expect(await query.result).toBeNull();
    socket.close();
    silent.close();
  });

  it("reads host:port, with IPv6 in brackets, and port 0 only where allowed", () => {
    expect(parseHostPort("stun.cloudflare.com:3478")).toEqual({ host: "stun.cloudflare.com", port: 3478 });
    expect(parseHostPort("[::1]:3478")).toEqual({ host: "::1", port: 3478 });
    expect(parseHostPort("0.0.0.0:0", true)).toEqual({ host: "0.0.0.0", port: 0 });
    for (const bad of ["stun.cloudflare.com", "host:70000", "::1:3478", "host:0", ":80", "a:b:c"]) expect(() => parseHostPort(bad)).toThrow();
  });
});
