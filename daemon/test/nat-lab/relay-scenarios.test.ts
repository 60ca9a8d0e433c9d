/**
 * Real daemons in the NAT lab when no direct path will do: the registry's relay between symmetric
 * NATs and past a home that drops all UDP, and a tunnel moving between the relay and the direct
 * path while a stream runs. A file of its own beside scenarios.test.ts, with its own lab, so the
 * two halves of the scenarios can run at once. Which path the traffic took is read from the
 * routers' counters, not taken from the daemons' word. A daemon that stops resets its relayed
 * connections before it leaves the relay.
 */
import { describe, expect, it } from "vitest";
import { Pilot, type PilotConnection } from "../../src/sdk/pilot.ts";
import { keepWriting } from "../e2e/live-stream.ts";
import { MiB, pattern, readAll, sha, writeAll } from "../e2e/transfer.ts";
import { waitFor, within } from "../wait.ts";
import type { Home, NatLab } from "./lab.ts";
import { ALL_ANSWERED, connection, datagram, freshPort, labForScenarios, labUnavailable, members, membersOf, ping, pathTo, resetsWhenStopped, routerToRouter, SCENARIO_MS, stream } from "./scenario-kit.ts";

const unavailable = await labUnavailable("NAT lab relay scenarios");

let lab: NatLab;

describe.skipIf(unavailable !== undefined)("the daemon in the NAT lab", () => {
  labForScenarios((built) => (lab = built));

  describe("the relay", () => {
    /** No UDP got from either home into the other: whatever they exchanged went another way. */
    async function noDirectPath(h1: Home, h2: Home): Promise<void> {
      expect((await h1.router.countFrom(h2.wan.ipv4)).packets, `${h2.name} to ${h1.name}`).toBe(0);
      expect((await h2.router.countFrom(h1.wan.ipv4)).packets, `${h1.name} to ${h2.name}`).toBe(0);
    }

    it("carries two agents behind symmetric NATs: pings, datagrams, and a 16 MiB stream each way at once, intact", async () => {
      const [h1, h2] = [await lab.home("sym-a", { nat: "fully-random" }), await lab.home("sym-b", { nat: "fully-random" })];
      const [dx, dy] = await members(lab, [await h1.agent("sym-x"), "sym-x"], [await h2.agent("sym-y"), "sym-y"]);
      expect((await dx.run("info"))["nat"]).toBe("endpoint-dependent");
      expect(await ping(dx, dy)).toEqual(ALL_ANSWERED);
      expect([await pathTo(dx, dy), await pathTo(dy, dx)]).toEqual(["relay", "relay"]);
      expect(((await dx.run("peers"))["peers"] as { endpoint: string | null }[])[0]?.endpoint).toBeNull();
      await datagram(dy, dx, "back through the relay");
      const [px, py] = [await Pilot.connect(dx.home), await Pilot.connect(dy.home)];
      try {
        await Promise.all([stream(px, py, dy.nodeId, 16 * MiB, 21), stream(py, px, dx.nodeId, 16 * MiB, 22)]);
      } finally {
        px.close();
        py.close();
      }
      // A daemon that stops resets its connections before it closes the relay they go through.
      await resetsWhenStopped(dx, dy);
      await noDirectPath(h1, h2);
    }, SCENARIO_MS);

    it("serves an agent whose network drops all UDP: it registers, says it is relay-only, and exchanges datagrams and streams", async () => {
      const [walled, open] = [await lab.home("no-udp", { nat: "port-preserving", udpBlocked: true }), await lab.home("udp-ok", { nat: "port-preserving" })];
      const [dw, dopen] = await members(lab, [await walled.agent("walled"), "walled"], [await open.agent("free"), "free"]);
      const info = await dw.run("info");
      expect({ stun: info["stun"]["status"], endpoint: info["endpoint"], registry: info["registry_status"], relay: info["relay_status"], only: info["relay_only"] }).toEqual({
        stun: "unreachable",
        endpoint: null,
        registry: "connected",
        relay: "connected",
        only: true,
      });
      expect((await dopen.run("info"))["relay_only"]).toBe(false);
      expect(await ping(dw, dopen)).toEqual(ALL_ANSWERED);
      expect(await ping(dopen, dw)).toEqual(ALL_ANSWERED);
      await datagram(dw, dopen, "out through the relay");
      await datagram(dopen, dw, "in through the relay");
      const [pw, po] = [await Pilot.connect(dw.home), await Pilot.connect(dopen.home)];
      try {
        await Promise.all([stream(pw, po, dopen.nodeId, 8 * MiB, 31), stream(po, pw, dw.nodeId, 8 * MiB, 32)]);
      } finally {
        pw.close();
        po.close();
      }
      expect([await pathTo(dw, dopen), await pathTo(dopen, dw)]).toEqual(["relay", "relay"]);
      // Not one UDP packet left or entered the walled home: its router dropped them all.
      const counters = await walled.router.counters();
      expect({ out: counters.out.packets, in: counters.in.packets }).toEqual({ out: 0, in: 0 });
      expect(counters.blocked.packets).toBeGreaterThan(0);
    }, SCENARIO_MS);

    it("moves a relayed stream to the direct path when both NATs start preserving ports, without a reset or a lost byte", async () => {
      const [h1, h2] = [await lab.home("up-a", { nat: "fully-random" }), await lab.home("up-b", { nat: "fully-random" })];
      const [dx, dy] = await members(lab, [await h1.agent("up-x"), "up-x"], [await h2.agent("up-y"), "up-y"]);
      const [px, py] = [await Pilot.connect(dx.home), await Pilot.connect(dy.home)];
      const errors: unknown[] = [];
      try {
        const data = pattern(32 * MiB, 41);
        const { writer, reader } = await connection(px, py, dy.nodeId, errors);
        const writing = writeAll(writer, data);
        let switched = false;
        const read = readAll(reader, 0, (bytes) => {
          if (bytes >= 8 * MiB && !switched) reader.pause();
        });
        await waitFor(() => reader.isPaused(), "8 MiB to arrive through the relay");
        expect([await pathTo(dx, dy), await pathTo(dy, dx)]).toEqual(["relay", "relay"]);
        await noDirectPath(h1, h2);
        await Promise.all([h1.router.setNat("port-preserving"), h2.router.setNat("port-preserving")]);
        switched = true;
        // Each daemon learns its new mapping (its next STUN answer) and tries again, within a minute or so.
        await waitFor(async () => (await pathTo(dx, dy)) === "direct" && (await pathTo(dy, dx)) === "direct", "both sides to move to the direct path", 180_000, 500);
        reader.resume();
        expect(await within("the rest of the stream", read, 120_000)).toEqual({ hash: sha(data), bytes: 32 * MiB });
        await writing;
        expect(errors).toEqual([]);
        await routerToRouter(h1, h2);
      } finally {
        px.close();
        py.close();
      }
    }, SCENARIO_MS);

    it("falls back to the relay when one home starts dropping UDP mid-stream, without a reset or a lost byte", async () => {
      const [h1, h2] = [await lab.home("down-a", { nat: "port-preserving" }), await lab.home("down-b", { nat: "port-preserving" })];
      const [dx, dy] = await members(lab, [await h1.agent("down-x"), "down-x"], [await h2.agent("down-y"), "down-y"]);
      const [px, py] = [await Pilot.connect(dx.home), await Pilot.connect(dy.home)];
      const errors: unknown[] = [];
      try {
        const data = pattern(32 * MiB, 51);
        const { writer, reader } = await connection(px, py, dy.nodeId, errors);
        expect([await pathTo(dx, dy), await pathTo(dy, dx)]).toEqual(["direct", "direct"]);
        const writing = writeAll(writer, data);
        let blocking: Promise<void> | undefined;
        const read = readAll(reader, 0, (bytes) => {
          if (bytes >= 8 * MiB) blocking ??= h1.router.blockUdp(true);
        });
        expect(await within("the whole stream", read, 180_000)).toEqual({ hash: sha(data), bytes: 32 * MiB });
        await writing;
        await blocking;
        expect(errors).toEqual([]);
        expect([await pathTo(dx, dy), await pathTo(dy, dx)]).toEqual(["relay", "relay"]);
        expect((await h1.router.counters()).blocked.packets).toBeGreaterThan(0);
      } finally {
        px.close();
        py.close();
      }
    }, SCENARIO_MS);

    it("lets a private agent send to a public agent it shares nothing with, both behind symmetric NATs, as a direct path would", async () => {
      const [h1, h2] = [await lab.home("pub-a", { nat: "fully-random" }), await lab.home("pub-b", { nat: "fully-random" })];
      const caller = await lab.daemon(await h1.agent("caller"), "caller");
      const service = await lab.daemon(await h2.agent("service"), "service");
      await service.run("set-public");
      // The key exchange's answer comes back through the relay although the public agent may not
      // see the private one: the relay carries answers to whoever wrote first.
      await datagram(caller, service, "to a public service, through the relay");
      expect(await pathTo(caller, service)).toBe("relay");
      await noDirectPath(h1, h2);
    }, SCENARIO_MS);

    it("cuts a relayed stream when the operator removes one end from the network, and delivers nothing after", async () => {
      const operator = await lab.operator();
      const net = await operator.createNetwork();
      const [h1, h2] = [await lab.home("cut-a", { nat: "fully-random" }), await lab.home("cut-b", { nat: "fully-random" })];
      const [dx, dy] = await membersOf(lab, net, [await h1.agent("cut-x"), "cut-x"], [await h2.agent("cut-y"), "cut-y"]);
      const [px, py] = [await Pilot.connect(dx.home), await Pilot.connect(dy.home)];
      try {
        const port = freshPort();
        const accepted: PilotConnection[] = [];
        await py.listen(port, (c) => accepted.push(c));
        const conn = await px.dial(dy.nodeId, port);
        await waitFor(() => accepted.length === 1, "the far end to accept");
        expect(await pathTo(dx, dy)).toBe("relay");
        const { cut, writing } = keepWriting(conn, accepted[0]!, 64 * 1024);
        await waitFor(() => cut.received > 4 * MiB, "4 MiB to arrive through the relay");
        await operator.request("DELETE", `/v1/networks/${net.network_id}/members/${dx.nodeId}`);
        await waitFor(() => cut.near !== undefined && cut.far !== undefined, "both ends to fail");
        expect(cut.near).toMatchObject({ code: "peer_cut_off" });
        expect(cut.far).toMatchObject({ code: "peer_cut_off" });
        await writing;
        expect(cut.received).toBe(cut.receivedAtCut);
        await expect(px.dial(dy.nodeId, port)).rejects.toMatchObject({ code: "not_found" });
      } finally {
        px.close();
        py.close();
      }
    }, SCENARIO_MS);
  });
});
