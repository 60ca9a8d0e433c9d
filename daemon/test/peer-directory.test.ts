/** What the tunnel layer asks the registry, and when it does not: a counting registry and a hand-turned clock. */
import { describe, expect, it } from "vitest";
import { PeerDirectory, type PeerInfo } from "../src/dataplane/tunnel/peer-directory.ts";

const info = (nodeId: number): PeerInfo => ({ nodeId, publicKey: Buffer.alloc(32, nodeId), endpoints: [{ address: "127.0.0.1", port: 4000 + nodeId }] });

/** A directory over a registry that knows `known`, counting what it is asked; `hold` keeps lookups under way until released. */
function setup(known: number[] = []) {
  const clock = { now: 0 };
  const asked: number[] = [];
  /** Which of those were path requests (our own contact), which the peer hears of. */
  const paths: number[] = [];
  let held: (() => void)[] | undefined;
  // The registry answers as things stand when it is asked; a held answer is only late in arriving.
  const lookup = async (peer: number) => {
    asked.push(peer);
    const found = known.includes(peer);
    if (held) await new Promise<void>((r) => held!.push(r));
    return found ? info(peer) : null;
  };
  const requestPath = (peer: number) => {
    paths.push(peer);
    return lookup(peer);
  };
  const directory = new PeerDirectory({ lookup, requestPath }, () => clock.now);
  return {
    clock,
    asked,
    paths,
    directory,
    hold: () => (held = []),
    release: () => {
      const waiting = held ?? [];
      held = undefined;
      waiting.forEach((r) => r());
    },
  };
}

const signed = () => true;
const unsigned = () => false;

describe("the peer directory", () => {
  it("looks a peer up afresh at every exchange it starts, however recently it was seen", async () => {
    const { directory, asked } = setup([5]);
    await directory.contact(5);
    expect(await directory.initiator(5, signed)).toEqual(info(5));
    expect(await directory.initiator(5, signed)).toEqual(info(5));
    expect(asked).toEqual([5, 5, 5]);
  });

  it("shares one lookup among everyone waiting on the same peer", async () => {
    const { directory, asked, hold, release } = setup([5]);
    hold();
    const all = Promise.all([directory.contact(5), directory.contact(5), directory.initiator(5, unsigned)]);
    release();
    expect(await all).toEqual([info(5), info(5), info(5)]);
    expect(asked).toEqual([5]);
  });

  it("serves first contact from a resolution handed over, once, and only while it is fresh", async () => {
    const { directory, paths, clock } = setup([5, 6]);
    directory.learn(info(5));
    expect(await directory.contact(5)).toEqual(info(5));
    // Its key checks the answer to that contact's exchange.
    expect(await directory.responderKey(5)).toEqual(info(5).publicKey);
    // The path request still goes out, so that the peer probes back, but nothing waited for it.
    expect(paths).toEqual([5]);
    // Used once: the next contact asks the registry, and waits for the answer.
    await directory.contact(5);
    expect(paths).toEqual([5, 5]);
    directory.learn(info(6));
    clock.now += 5_001;
    await directory.contact(6);
    expect(paths).toEqual([5, 5, 6]);
  });

  it("never lets a resolution handed over stand in for the lookup of an exchange the peer starts", async () => {
    const { directory, asked } = setup([5]);
    directory.learn(info(5));
    await directory.initiator(5, signed);
    expect(asked).toEqual([5]);
  });

  it("checks an answer with the key looked up within the last minute, and asks again after", async () => {
    const { directory, asked, clock } = setup([5]);
    await directory.contact(5);
    clock.now += 59_000;
    expect(await directory.responderKey(5)).toEqual(info(5).publicKey);
    expect(asked).toEqual([5]);
    clock.now += 2_000;
    expect(await directory.responderKey(5)).toEqual(info(5).publicKey);
    expect(asked).toEqual([5, 5]);
    directory.forget(5);
    await directory.responderKey(5);
    expect(asked).toEqual([5, 5, 5]);
  });

  it("asks again after forgetting a peer whose lookup was under way, and keeps nothing of that lookup's answer", async () => {
    const known = [5];
    const { directory, asked, hold, release } = setup(known);
    hold();
    const before = directory.contact(5);
    // The peer is cut off while that lookup is on its way back: the registry no longer shows it.
    known.length = 0;
    directory.forget(5);
    const after = directory.contact(5);
    release();
    expect(await before).toEqual(info(5));
    expect(await after).toBeNull();
    expect(asked).toEqual([5, 5]);
    expect(directory.cachedKey(5)).toBeNull();
  });

  it("does not ask again for 10 s about a stranger not found, unless it is granted access or this node contacts it", async () => {
    const { directory, asked, clock } = setup();
    expect(await directory.initiator(9, unsigned)).toBeNull();
    expect(await directory.initiator(9, unsigned)).toBeNull();
    expect(await directory.responderKey(9)).toBeNull();
    expect(asked).toEqual([9]);
    await directory.contact(9);
    expect(asked).toEqual([9, 9]);
    clock.now += 10_001;
    await directory.initiator(9, unsigned);
    expect(asked).toEqual([9, 9, 9]);
    directory.granted(9);
    await directory.initiator(9, unsigned);
    expect(asked).toEqual([9, 9, 9, 9]);
  });

  it("has at most 16 prompted lookups under way, while a known peer's signed exchange still looks", async () => {
    const { directory, asked, hold, release } = setup([5]);
    await directory.contact(5);
    hold();
    const strangers = Array.from({ length: 20 }, (_, i) => directory.initiator(100 + i, unsigned));
    const known = directory.initiator(5, signed);
    release();
    expect((await Promise.all(strangers)).filter((s) => s === null)).toHaveLength(20);
    expect(await known).toEqual(info(5));
    expect(asked.filter((p) => p >= 100)).toHaveLength(16);
  });

  it("budgets prompted lookups at a burst of 40 then 20 a second, which a known peer's signed exchange does not spend", async () => {
    const { directory, asked, clock } = setup([5]);
    await directory.contact(5);
    const flood = async (count: number, from: number) => {
      for (let i = 0; i < count; i++) await directory.initiator(from + i, unsigned);
    };
    await flood(50, 1000);
    expect(asked.filter((p) => p >= 1000)).toHaveLength(40);
    expect(await directory.initiator(5, signed)).toEqual(info(5));
    clock.now += 1000;
    await flood(50, 2000);
    expect(asked.filter((p) => p >= 2000)).toHaveLength(20);
    // A forger using the known peer's ID, with another key, spends the budget like any stranger.
    expect(await directory.initiator(5, unsigned)).toBeNull();
  });
});
