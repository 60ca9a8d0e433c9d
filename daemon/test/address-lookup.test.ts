/**
 * The data plane's UDP lookup (net/address-lookup.ts): IP literals are answered at once, as
 * themselves, whichever came before; names go to the system resolver; and a real socket built
 * with it sends to both.
 */
import { createSocket, type Socket } from "node:dgram";
import { once } from "node:events";
import { describe, expect, it } from "vitest";
import { addressLookup } from "../src/net/address-lookup.ts";

type Answer = { error: NodeJS.ErrnoException | null; address: string; family: number };

/** What `lookup` answers for `host`, and whether it answered before returning. */
async function ask(lookup: ReturnType<typeof addressLookup>, host: string, family = 4): Promise<Answer & { sync: boolean }> {
  let answer: Answer | undefined;
  const settled = new Promise<Answer>((resolve) => {
    lookup(host, family, (error, address, fam) => {
      answer = { error, address, family: fam };
      resolve(answer);
    });
  });
  const sync = answer !== undefined;
  return { ...(await settled), sync };
}

describe("addressLookup", () => {
  it("answers IP literals at once, each as itself, whichever was asked before", async () => {
    const lookup = addressLookup();
    expect(await ask(lookup, "198.51.100.7")).toEqual({ error: null, address: "198.51.100.7", family: 4, sync: true });
    expect(await ask(lookup, "198.51.100.7")).toEqual({ error: null, address: "198.51.100.7", family: 4, sync: true });
    expect(await ask(lookup, "203.0.113.9")).toEqual({ error: null, address: "203.0.113.9", family: 4, sync: true });
    expect(await ask(lookup, "2001:db8::1", 6)).toEqual({ error: null, address: "2001:db8::1", family: 6, sync: true });
    expect(await ask(lookup, "198.51.100.7")).toEqual({ error: null, address: "198.51.100.7", family: 4, sync: true });
  });

  it("hands names to the resolver, and a literal asked after a name is still itself", async () => {
    const lookup = addressLookup();
    const name = await ask(lookup, "localhost");
    expect(name.sync).toBe(false);
    expect(name.error).toBeNull();
    expect(name.address).toBe("127.0.0.1");
    expect(await ask(lookup, "127.0.0.2")).toMatchObject({ address: "127.0.0.2", sync: true });
    // Something that only looks like a literal is a name to the resolver, never the literal last seen.
    let answered = false;
    lookup("127.0.0.2 ", 4, () => (answered = true));
    expect(answered).toBe(false); // the resolver's answer, whatever it is, is not awaited here
  });

  it("serves a real socket that sends to a literal and to a name", async () => {
    const receiver = createSocket("udp4");
    receiver.bind(0, "127.0.0.1");
    await once(receiver, "listening");
    const sender: Socket = createSocket({ type: "udp4", lookup: addressLookup() });
    try {
      const got: string[] = [];
      receiver.on("message", (m: Buffer) => got.push(m.toString()));
      const port = receiver.address().port;
      sender.send("to a literal", port, "127.0.0.1");
      sender.send("to a name", port, "localhost");
      await expect.poll(() => got.sort(), { timeout: 10_000 }).toEqual(["to a literal", "to a name"]);
    } finally {
      sender.close();
      receiver.close();
    }
  });
});
