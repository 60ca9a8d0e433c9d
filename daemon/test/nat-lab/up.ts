/**
 * Builds a NAT lab and leaves it up for poking at by hand, until Enter or Ctrl-C; then takes it
 * down. As root, from the repository: `node daemon/test/nat-lab/up.ts [port-preserving|fully-random]`
 * (the NAT of both homes; port-preserving by default). docs/nat-lab.md says what to try.
 */
import { createInterface } from "node:readline";
import { NatLab } from "./lab.ts";
import type { NatKind } from "./router.ts";

const nat = (process.argv[2] ?? "port-preserving") as NatKind;
if (nat !== "port-preserving" && nat !== "fully-random") {
  process.stderr.write("usage: up.ts [port-preserving|fully-random]\n");
  process.exit(2);
}
const unavailable = await NatLab.unavailable();
if (unavailable) {
  process.stderr.write(`${unavailable}\n`);
  process.exit(1);
}

const lab = await NatLab.create();
let closing: Promise<void> | undefined;
const close = () =>
  (closing ??= lab.close().then(() => {
    process.stdout.write("the lab is down\n");
  }));
process.on("SIGINT", () => void close().then(() => process.exit(0)));
try {
  const host = await lab.internetHost();
  const homes = [await lab.home("home1", { nat }), await lab.home("home2", { nat })];
  const agents = [await homes[0]!.agent("agent1", { ipv6: true }), await homes[1]!.agent("agent2", { ipv6: true }), await lab.publicAgent("public1", { ipv6: true })];
  const rows = [
    ["internet", lab.internet.name, `${host.registryUrl} (registry), STUN ${host.stun} ${host.stun2} ${host.stun6}`],
    ...homes.map((h) => [`router ${h.name} (${nat})`, h.router.ns.name, `wan ${h.wan.ipv4} ${h.wan.ipv6}, lan ${h.lan.ipv4} ${h.lan.ipv6}`]),
    ...agents.map((a) => [`agent ${a.name}`, a.ns.name, `${a.ipv4}${a.ipv6 ? ` ${a.ipv6}` : ""}${a.home ? ` behind ${a.home.name}` : " (public)"}`]),
  ];
  for (const [what, ns, addresses] of rows) process.stdout.write(`${what!.padEnd(32)} ${ns!.padEnd(24)} ${addresses}\n`);
  const [a1, router1] = [agents[0]!, homes[0]!.router];
  process.stdout.write(`
The test process reaches the registry at ${host.adminUrl}. Try:
  ip netns exec ${a1.ns.name} ping -c1 ${agents[2]!.ipv4}
  ip netns exec ${router1.ns.name} nft list table inet lab
  ip netns exec ${router1.ns.name} conntrack -L     (with the conntrack package)
  export PATH="$PWD/node_modules/.bin:$PATH" PILOT_HOME=$(mktemp -d)     (the project's Node; a home for one daemon)
  ip netns exec ${a1.ns.name} node daemon/bin/pilotctl.js daemon start --registry ${host.registryUrl} --stun ${host.stun}
  node daemon/bin/pilotctl.js info     (from anywhere: the daemon's socket is a file)
Enter or Ctrl-C takes the lab down (and ends the daemons in it).
`);
  await new Promise((resolve) => createInterface({ input: process.stdin }).once("line", resolve).once("close", resolve));
} finally {
  await close();
}
