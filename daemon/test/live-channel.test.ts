/** The live-channel client against peers that misbehave: silence, refusal, a node that is gone. */
import { describe, expect, it } from "vitest";
import { LiveChannel, networkProtocol, type ChannelEnd } from "../src/live-channel.ts";
import { RegistryError } from "../src/registry-client.ts";
import { waitFor } from "./wait.ts";
import { startWsStub } from "./ws-stub.ts";

describe("the push channel client", () => {
  /** A channel to a stub that greets and then stays silent, counting its resyncs. */
  async function toSilentStub(pingIntervalMs: number) {
    const stub = await startWsStub("silent");
    const counts = { resyncs: 0 };
    const channel = new LiveChannel({
      protocol: networkProtocol,
      url: stub.url,
      token: async () => "token",
      onEvent: () => undefined,
      onResync: () => {
        counts.resyncs++;
      },
      pingIntervalMs,
      initialBackoffMs: 10,
    }).start();
    return { stub, counts, channel };
  }

  it("drops a connection that stops answering pings, and connects again", async () => {
    const { stub, counts, channel } = await toSilentStub(50);
    await waitFor(() => counts.resyncs >= 3, "three greetings");
    expect(stub.connections).toBeGreaterThanOrEqual(3);
    channel.close();
    await stub.close();
  });

  it("checks a connection at once when asked, and remakes one that does not answer", async () => {
    // The keep-alive alone would take two minutes to notice.
    const { stub, counts, channel } = await toSilentStub(60_000);
    await waitFor(() => channel.connected, "the first connection");
    channel.checkAlive(100);
    await waitFor(() => counts.resyncs >= 2, "a second connection", 10_000);
    expect(stub.connections).toBe(2);
    channel.close();
    await stub.close();
  });

  it("drops a connection whose resync failed and connects again, until a resync succeeds", async () => {
    const stub = await startWsStub("silent");
    let attempts = 0;
    const channel = new LiveChannel({
      protocol: networkProtocol,
      url: stub.url,
      token: async () => "token",
      onEvent: () => undefined,
      // The member list cannot be read twice (a registry hiccup), then it can.
      onResync: () => {
        if (++attempts <= 2) throw new Error("503 from the registry");
      },
      initialBackoffMs: 10,
      pingIntervalMs: 60_000,
    }).start();
    await waitFor(() => channel.connected, "a connection whose resync succeeded");
    expect(attempts).toBe(3);
    expect(stub.connections).toBe(3);
    channel.close();
    await stub.close();
  });

  it("stops for good on close(), even while it is checking membership", async () => {
    /** A channel to a refusing stub whose membership checks wait until the test answers them. */
    const refused = async () => {
      const stub = await startWsStub("refuse");
      const checks: ((member: boolean) => void)[] = [];
      const ends: ChannelEnd[] = [];
      const channel = new LiveChannel({
        protocol: networkProtocol,
        url: stub.url,
        token: async () => "token",
        onEvent: () => undefined,
        onEnd: (why) => ends.push(why),
        stillMember: () => new Promise<boolean>((resolve) => checks.push(resolve)),
        initialBackoffMs: 5,
      }).start();
      return { stub, checks, ends, channel };
    };
    // Two channels in the same state: one is closed, the other shows when a reconnect would be due.
    const [closing, control] = [await refused(), await refused()];
    await waitFor(() => closing.checks.length === 1 && control.checks.length === 1, "both channels to check membership after a second refusal");
    closing.channel.close();
    const attempts = closing.stub.connections;
    closing.checks[0]!(true);
    control.checks[0]!(true);
    // The control channel reconnects, is refused and checks again: the closed one had the time to do as much.
    await waitFor(() => control.checks.length === 2, "the control channel to reconnect and check again");
    expect(closing.stub.connections).toBe(attempts);
    expect(closing.checks).toHaveLength(1);
    expect(closing.ends).toEqual(["closed"]);
    control.channel.close();
    await Promise.all([closing.stub.close(), control.stub.close()]);
  });

  it("ends with 'deregistered' when the registry no longer knows the node", async () => {
    const stub = await startWsStub("refuse");
    let ended: ChannelEnd | undefined;
    let attempts = 0;
    new LiveChannel({
      protocol: networkProtocol,
      url: stub.url,
      token: async () => {
        if (++attempts > 1) throw new RegistryError(401, "token_revoked", "gone", "register again");
        return "token";
      },
      isFatal: (e) => e instanceof RegistryError && e.code === "token_revoked",
      onEvent: () => undefined,
      onEnd: (why) => {
        ended = why;
      },
      initialBackoffMs: 5,
    }).start();
    await waitFor(() => ended !== undefined, "the end");
    expect(ended).toBe("deregistered");
    expect(attempts).toBe(2);
    await stub.close();
  });
});
