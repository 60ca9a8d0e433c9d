/** The live-channel client against peers that misbehave: silence, refusal, a node that is gone. */
import { describe, expect, it } from "vitest";
import { LiveChannel, networkProtocol, type ChannelEnd } from "../src/live-channel.ts";
import { RegistryError } from "../src/registry-client.ts";
import { startWsStub } from "./ws-stub.ts";

const until = async (probe: () => boolean, what: string, ms = 5_000) => {
  const deadline = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe("the push channel client", () => {
  it("drops a connection that stops answering pings, and connects again", async () => {
    const stub = await startWsStub("silent");
    let resyncs = 0;
    const channel = new LiveChannel({
      protocol: networkProtocol,
      url: stub.url,
      token: async () => "token",
      onEvent: () => undefined,
      onResync: () => {
        resyncs++;
      },
      pingIntervalMs: 50,
      initialBackoffMs: 10,
    }).start();
    await until(() => resyncs >= 3, "three greetings");
    expect(stub.connections).toBeGreaterThanOrEqual(3);
    channel.close();
    await stub.close();
  });

  it("stops for good on close(), even while it is checking membership", async () => {
    const stub = await startWsStub("refuse");
    let checking: (value: boolean) => void = () => undefined;
    let ended: ChannelEnd | undefined;
    const channel = new LiveChannel({
      protocol: networkProtocol,
      url: stub.url,
      token: async () => "token",
      onEvent: () => undefined,
      onEnd: (why) => {
        ended = why;
      },
      stillMember: () => new Promise<boolean>((resolve) => (checking = resolve)),
      initialBackoffMs: 5,
    }).start();
    await until(() => stub.connections >= 2, "a second attempt");
    channel.close();
    checking(true);
    const attempts = stub.connections;
    await new Promise((r) => setTimeout(r, 200));
    expect(stub.connections).toBe(attempts);
    expect(ended).toBe("closed");
    await stub.close();
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
    await until(() => ended !== undefined, "the end");
    expect(ended).toBe("deregistered");
    expect(attempts).toBe(2);
    await stub.close();
  });
});
