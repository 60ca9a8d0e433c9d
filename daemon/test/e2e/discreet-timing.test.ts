/**
 * Answers that must not tell whether a private node exists must not tell it by their timing
 * either. Against a real local registry over real sockets, each check alternates probes of an
 * existing private node and of a name nobody has (in random order each round) and compares the two
 * distributions of answer times (Mann-Whitney U): a fixed threshold far above what noise gives, and
 * no single timing compared, so a busy machine slows both alike.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Identity } from "../../src/identity.ts";
import { RegistryClient } from "../../src/registry-client.ts";
import { Operator, startLocalRegistry, type LocalRegistry } from "../local-registry.ts";

const PROBES = 80;
/** |z| beyond this is a difference noise gives about once in two thousand runs. */
const Z_LIMIT = 3.5;

let registry: LocalRegistry;
beforeAll(async () => {
  registry = await startLocalRegistry();
}, 60_000);
afterAll(() => registry?.close(), 60_000);

/** The Mann-Whitney z of `a` against `b`: about 0 when both come from one distribution. */
function mannWhitneyZ(a: number[], b: number[]): number {
  const all = [...a.map((v) => ({ v, first: true })), ...b.map((v) => ({ v, first: false }))].sort((x, y) => x.v - y.v);
  let rankSum = 0;
  all.forEach((x, i) => {
    if (x.first) rankSum += i + 1;
  });
  const [n1, n2] = [a.length, b.length];
  return (rankSum - (n1 * (n1 + 1)) / 2 - (n1 * n2) / 2) / Math.sqrt((n1 * n2 * (n1 + n2 + 1)) / 12);
}

/**
 * Times each probe (existing, then missing, or the other way round, by round) and checks both
 * answers alike, but for what the prober named itself (a node ID) and the invitation's expiry.
 */
async function zOf(probe: (existing: boolean, round: number) => Promise<Response[]>): Promise<number> {
  const times = { existing: [] as number[], missing: [] as number[] };
  for (let round = 0; round < PROBES; round++) {
    const answers: string[] = [];
    for (const existing of Math.random() < 0.5 ? [true, false] : [false, true]) {
      const started = performance.now();
      const replies = await probe(existing, round);
      const text = (await Promise.all(replies.map(async (r) => `${r.status} ${(await r.text()).replace(/"expires_at":"[^"]+"|"node_id":\d+/g, "")}`))).join(" | ");
      times[existing ? "existing" : "missing"].push(performance.now() - started);
      answers.push(text);
    }
    expect(answers[0]).toBe(answers[1]);
  }
  return mannWhitneyZ(times.existing, times.missing);
}

async function node(hostname?: string): Promise<{ client: RegistryClient; id: number; token: string }> {
  const client = new RegistryClient({ url: registry.url, identity: Identity.generate() });
  const { node, token } = await client.register();
  if (hostname) await client.update({ hostname });
  return { client, id: node.node_id, token: token.access_token };
}

describe("answers that must not reveal a private node, timed", () => {
  it("a handshake request", async () => {
    const target = await node();
    // A fresh sender each round, so every request to the target is new and does all its work.
    const senders: Awaited<ReturnType<typeof node>>[] = [];
    for (let i = 0; i < PROBES; i++) senders.push(await node());
    const z = await zOf(async (existing, round) => {
      const sender = senders[round]!;
      const body = JSON.stringify({ target: existing ? String(target.id) : "4000000000", justification: `probe ${round}` });
      return [await fetch(`${registry.url}/v1/handshakes`, { method: "POST", headers: { authorization: `Bearer ${sender.token}`, "content-type": "application/json" }, body })];
    });
    expect(Math.abs(z)).toBeLessThan(Z_LIMIT);
  }, 120_000);

  it("an owner's invitation and its withdrawal", async () => {
    const hostname = `timed-${process.pid}`;
    await node(hostname);
    // Each account may invite or withdraw 60 times a minute: a fresh owner every ten rounds.
    // Made before the timing starts, so no probe's time includes making them.
    const owners: { owner: Operator; networkId: number }[] = [];
    for (let i = 0; i < PROBES / 10; i++) {
      const owner = await Operator.signUp(registry.url);
      owners.push({ owner, networkId: (await owner.createNetwork("invite")).network_id });
    }
    const z = await zOf(async (existing, round) => {
      const { owner, networkId } = owners[Math.floor(round / 10)]!;
      const name = existing ? hostname : `nobody-${process.pid}`;
      const headers = { authorization: `Bearer ${owner.apiToken}`, "content-type": "application/json" };
      const invited = await fetch(`${registry.url}/v1/networks/${networkId}/members`, { method: "POST", headers, body: JSON.stringify({ node: name }) });
      const text = await invited.text();
      const withdrawn = await fetch(`${registry.url}/v1/networks/${networkId}/invitations/${name}`, { method: "DELETE", headers });
      return [new Response(text, { status: invited.status }), withdrawn];
    });
    expect(Math.abs(z)).toBeLessThan(Z_LIMIT);
  }, 120_000);

  it("a resolve", async () => {
    const [requester, target] = [await node(), await node()];
    const z = await zOf(async (existing) => [
      await fetch(`${registry.url}/v1/resolve/${existing ? target.id : 4000000000}`, { headers: { authorization: `Bearer ${requester.token}` } }),
    ]);
    expect(Math.abs(z)).toBeLessThan(Z_LIMIT);
  }, 120_000);

  it("a join with a wrong token", async () => {
    // A network refuses token joins for the rest of a minute after 20 wrong ones, and a node may try
    // 10 times a minute: a fresh network (and a fresh missing ID) every 8 rounds, a fresh node each.
    const joiners: Awaited<ReturnType<typeof node>>[] = [];
    for (let i = 0; i < PROBES; i++) joiners.push(await node());
    const networks: number[] = [];
    for (let i = 0; i < PROBES / 8; i++) networks.push((await (await Operator.signUp(registry.url)).createNetwork("token")).network_id);
    const z = await zOf(async (isExisting, round) => {
      const id = isExisting ? networks[Math.floor(round / 8)]! : 60000 + Math.floor(round / 8);
      return [
        await fetch(`${registry.url}/v1/networks/${id}/join`, {
          method: "POST",
          headers: { authorization: `Bearer ${joiners[round]!.token}`, "content-type": "application/json" },
          body: JSON.stringify({ token: "wrong-token-123" }),
        }),
      ];
    });
    expect(Math.abs(z)).toBeLessThan(Z_LIMIT);
  }, 120_000);
});
