/**
 * Time-boxed trust end to end: real daemons, a real registry whose shortest TTL is lowered to a
 * second (TRUST_TTL_MIN_SECONDS, an operator setting), and a live stream that the trust's end cuts
 * while the registry is stopped, so the cut can only come from the daemons' own clocks.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Pilot, type PilotConnection } from "../../src/sdk/pilot.ts";
import { SLOW_TEST_MS, trusts, waitFor } from "../wait.ts";
import { Cluster, pilotctl } from "./cluster.ts";
import { keepWriting } from "./live-stream.ts";
import { MiB } from "./transfer.ts";

/** Long enough to set up a flowing stream and stop the registry on a busy machine, short enough to wait for. */
const TTL = "20s";

const cluster = new Cluster();
beforeAll(() => cluster.start({ vars: { TRUST_TTL_MIN_SECONDS: "1" } }), 60_000);
afterAll(() => cluster.stop(), 60_000);

describe("time-boxed trust", () => {
  it("refuses a malformed --ttl as a usage error (exit 2), before it even looks for a daemon", async () => {
    // No daemon runs in this home: a command that got past its flags would fail with exit 1.
    const home = mkdtempSync(join(tmpdir(), "pilot-ttl-usage-"));
    // Every malformed value is tried against the parser in trust.test.ts; one goes through pilotctl here.
    const malformed = await pilotctl(home, ["approve", "7", "--ttl", "0s"]);
    expect([malformed.code, malformed.error?.code]).toEqual([2, "invalid_argument"]);
    const reject = await pilotctl(home, ["reject", "7", "no", "--ttl", "1h"]);
    expect([reject.code, reject.error?.message]).toEqual([2, "pilotctl reject takes no --ttl"]);
    const unreachable = await pilotctl(home, ["handshake", "7", "why", "--ttl", "365d"]);
    expect(unreachable.code).toBe(1);
    rmSync(home, { recursive: true, force: true });
  });

  it(
    "ends by itself at the shorter TTL: a live stream is cut at the expiry with the registry stopped, and trust shows it",
    async () => {
      const [a, b] = [await cluster.daemon("ttl-a"), await cluster.daemon("ttl-b")];
      expect(await a.run("handshake", String(b.nodeId), "a short job", "--ttl", "1h")).toEqual({ status: "sent", node_id: b.nodeId, expires_at: null });
      const approved = await b.run("approve", String(a.nodeId), "--ttl", TTL);
      expect(approved).toEqual({ status: "approved", node_id: a.nodeId, expires_at: expect.any(String) });
      const expiresAt: string = approved["expires_at"];
      await waitFor(() => trusts(a, b), "A to hear of the approval");
      for (const [me, peer] of [[a, b], [b, a]] as const) {
        expect(await me.run("trust")).toEqual({ trusted: [{ node_id: peer.nodeId, mutual: false, network: 0, approved_at: expect.any(String), expires_at: expiresAt }] });
      }

      const [pa, pb] = [await Pilot.connect(a.home), await Pilot.connect(b.home)];
      const accepted: PilotConnection[] = [];
      const server = await pb.listen(7001, (conn) => accepted.push(conn));
      const conn = await pa.dial(b.nodeId, 7001);
      await waitFor(() => accepted.length === 1, "B to accept the connection");
      const { cut, writing } = keepWriting(conn, accepted[0]!, 64 * 1024);
      await waitFor(() => cut.received > MiB, "a MiB to arrive");

      await cluster.stopRegistry();
      // The stream was still flowing with the registry gone: the end comes from the expiry itself.
      const stoppedWith = cut.received;
      await waitFor(() => cut.received > stoppedWith, "the stream to flow on without the registry");
      expect(cut.far).toBeUndefined();
      await waitFor(() => cut.far !== undefined && cut.near !== undefined, "both ends to be cut at the expiry", 60_000);
      expect(cut.far).toMatchObject({ code: "peer_cut_off", message: expect.stringContaining("trust expired") });
      expect(cut.near).toMatchObject({ code: "peer_cut_off", message: expect.stringContaining("trust expired") });
      expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(expiresAt));
      await writing;

      // With the registry unreachable, both sides answer from trust.json, which no longer holds the peer.
      expect(await a.run("trust")).toEqual({ trusted: [] });
      expect(await b.run("trust")).toEqual({ trusted: [] });
      expect((await pb.connections()).filter((x) => x.node_id === a.nodeId)).toEqual([]);
      server.close();
      pa.close();
      pb.close();
    },
    SLOW_TEST_MS,
  );
});
