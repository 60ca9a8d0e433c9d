/**
 * `pilotctl why <target> [port]`: what stands between this node and a target, from this node's side.
 * The daemon gathers the facts (pilot-daemon.ts); this module turns them into findings, without I/O,
 * so every diagnosis can be tested from a scripted state. Facts about a target the registry does
 * not show this node are only those this node holds itself (requests it sent, requests it received,
 * its own tunnels and failures), so such a target reads exactly like one that does not exist.
 */
import type { PolicyAnswer, WhyReport } from "../local-socket/contract.ts";
import type { PendingRecord, TrustFile, TrustedRecord } from "../store/trust-file.ts";

export type Protocol = "stream" | "datagram";

/**
 * What one network's port policy says of this node reaching `peer` on `port`. The destination
 * enforces its networks' policies; this node can read them only for networks it is a member of,
 * which are the only ones whose policy applies to it.
 */
export type PolicyCheck = (networkId: number, peer: number, port: number, protocol: Protocol) => PolicyAnswer;

/** The facts `why` reports; the findings and the verdict follow from them. */
export type WhyFacts = Omit<WhyReport, "findings" | "reachable">;

type Finding = WhyReport["findings"][number];
type OutgoingRecord = TrustFile["outgoing"][number];

/** What this node's trust records say about the target, named as typed and, once resolved, by its node ID and names. */
export function trustFacts(
  records: Readonly<TrustFile>,
  names: { typed: string; nodeId: number | null; others: string[] },
): { trust: WhyReport["trust"]; incoming_request: WhyReport["incoming_request"] } {
  const trusted: TrustedRecord | undefined = names.nodeId === null ? undefined : records.trusted.find((t) => t.node_id === names.nodeId);
  const incoming: PendingRecord | undefined = names.nodeId === null ? undefined : records.pending.find((p) => p.node_id === names.nodeId);
  const outgoing: OutgoingRecord | undefined = records.outgoing.findLast(
    (o) => o.target === names.typed || names.others.includes(o.target) || (names.nodeId !== null && o.node_id === names.nodeId),
  );
  const trust: WhyReport["trust"] = trusted
    ? { state: "trusted", since: trusted.approved_at, mutual: trusted.mutual, reason: null, until: trusted.expires_at }
    : outgoing?.status === "sent"
      ? { state: "pending", since: outgoing.sent_at, mutual: null, reason: null, until: null }
      : outgoing?.status.startsWith("rejected")
        ? { state: "rejected", since: outgoing.sent_at, mutual: null, reason: outgoing.status.replace(/^rejected:? ?/, ""), until: null }
        : { state: "none", since: null, mutual: null, reason: null, until: null };
  return { trust, incoming_request: incoming ? { node_id: incoming.node_id, justification: incoming.justification, received_at: incoming.received_at } : null };
}

/** What a stopped daemon leaves to say: that it is stopped. */
export function stoppedFacts(target: string, port: number | null): WhyFacts {
  return { target, port, daemon: { running: false }, registry: null, nat: null, node: null, path: null, last_error: null, trust: null, incoming_request: null, networks: [], policy: [] };
}

export function diagnose(facts: WhyFacts): WhyReport {
  const findings: Finding[] = [];
  const add = (code: string, severity: Finding["severity"], message: string, hint = "") => findings.push({ code, severity, message, hint });
  const { target, port, node, path, trust } = facts;
  const name = JSON.stringify(target);

  if (!facts.daemon.running) {
    add("daemon_not_running", "blocks", "this node's daemon is not running, so it reaches no one", "run pilotctl daemon start");
    return verdict(facts, false, findings);
  }
  // Whether the registry answered the target's resolve: only then does "not visible" mean anything.
  const registryUp = facts.registry?.reachable === true && facts.registry.error === null;
  if (facts.registry?.reachable === false) {
    add("registry_unreachable", "warns", `the registry does not answer (${facts.registry.error}): names cannot be resolved, nor new tunnels set up through it; what this node holds itself is shown`, "check it with pilotctl config and pilotctl daemon status");
  } else if (!registryUp) {
    add("registry_error", "warns", `the registry did not say whether ${name} is visible: ${facts.registry?.error}`, "ask again in a minute");
  }
  const tunnelUp = path !== null && path.state !== "opening" && path.state !== "none";

  if (node === null && registryUp) {
    add("not_visible", "blocks", `no node ${name} is visible to this node: it does not exist, or it is private and shares no network or trust with this node`, trust?.state === "none" ? `ask it for trust: pilotctl handshake ${target} "why"` : "");
  }
  if (trust?.state === "trusted") add("trusted", "info", `this node and ${name} trust each other since ${trust.since}${trust.mutual ? " (both asked)" : ""}${trust.until ? `, until ${trust.until}` : ""}: every port is open`);
  if (trust?.state === "pending") add("trust_pending", "info", `this node asked ${name} for trust at ${trust.since}; it has not answered yet`, "its owner approves it with pilotctl approve; asking again changes nothing");
  if (trust?.state === "rejected") add("trust_rejected", node === null ? "blocks" : "info", `${name} rejected this node's request for trust (sent at ${trust.since}): ${trust.reason ? JSON.stringify(trust.reason) : "no reason given"}`);
  if (facts.incoming_request) {
    const r = facts.incoming_request;
    add("request_waiting", "info", `node ${r.node_id} asked this node for trust at ${r.received_at} (${JSON.stringify(r.justification)}); it waits for this node's decision`, `pilotctl approve ${r.node_id}, or pilotctl reject ${r.node_id} "reason"`);
  }

  let cannotTell = !registryUp && !tunnelUp;
  if (node !== null) {
    if (node.public) add("public", "info", `${name} is public: anyone may reach it, on every port`);
    if (facts.networks.length > 0) add("shared_networks", "info", `this node shares network ${facts.networks.join(", ")} with ${name}`);
    if (!node.public && trust?.state !== "trusted" && facts.networks.length === 0) {
      add("not_in_sync", "warns", `the registry shows ${name} to this node, but this node's trust and networks are not in sync with it yet`, "wait a moment and ask again; pilotctl info shows each network's sync");
      cannotTell = true;
    }
    if (!node.online && !tunnelUp) add("offline", "blocks", `${name} is offline${node.last_seen ? ` (last heard from at ${node.last_seen})` : ""}`, "its daemon must be running: pilotctl daemon start on its machine");
  }

  if (port !== null && node !== null) portFindings(facts, port, add);

  if (path?.state === "opening") add("tunnel_opening", "info", `a tunnel to ${name} is being set up`);
  else if (tunnelUp) {
    const where = path.endpoint ? ` to ${path.endpoint}` : "";
    add("tunnel_up", "info", `a tunnel is up: ${path.state} path${where}, MTU ${path.mtu ?? "not yet measured"}, last key exchange at ${path.last_handshake_at}`);
  } else if (node !== null) add("no_tunnel", "info", `no tunnel to ${name} yet: the first connection or datagram sets one up`);
  if (facts.nat?.relay_only) add("relay_only", "warns", "STUN never answered: this node's UDP seems to reach nothing beyond its LAN, so peers are reached through the relay", "check the firewall for outgoing UDP, or the --stun setting");
  if (facts.nat?.relay_status === "connecting" && !tunnelUp) add("relay_down", "warns", "the relay connection is down: a peer no direct path reaches cannot be reached meanwhile", "pilotctl info shows relay_status");
  if (facts.last_error) add("last_error", "info", `the last failure with ${name}, at ${facts.last_error.at}: ${facts.last_error.code}: ${facts.last_error.message}`);

  const blocked = findings.some((f) => f.severity === "blocks");
  return verdict(facts, blocked ? false : cannotTell ? null : true, findings);
}

/** The answer: what was asked, the verdict and the findings first, then the facts they rest on. */
function verdict(facts: WhyFacts, reachable: boolean | null, findings: Finding[]): WhyReport {
  const { target, port, ...rest } = facts;
  return { target, port, reachable, findings, ...rest };
}

/** Whether the port is open to this node: trust and a public target open every port; otherwise some shared network's policy must. */
function portFindings(facts: WhyFacts, port: number, add: (code: string, severity: Finding["severity"], message: string, hint?: string) => void): void {
  const name = JSON.stringify(facts.target);
  if (facts.node?.public || facts.trust?.state === "trusted" || facts.networks.length === 0) return;
  const open = (protocol: Protocol) => facts.policy.find((p) => p[protocol].allowed);
  const [stream, datagram] = [open("stream"), open("datagram")];
  const by = (p: WhyReport["policy"][number], protocol: Protocol) =>
    p[protocol].reason === "no_policy" ? `network ${p.network_id} has no port policy` : `rule ${p[protocol].rule} of network ${p.network_id}'s policy allows it`;
  if (!stream && !datagram) {
    add("port_denied", "blocks", `port ${port} of ${name} is closed to this node: no rule of the port policy of network ${facts.networks.join(", ")} grants it, for streams or datagrams`, "the network's owner can add a rule, or trust (pilotctl handshake) opens every port");
  } else if (stream && datagram) {
    add("port_allowed", "info", `port ${port} is open to this node: ${by(stream, "stream")}`);
  } else {
    const [yes, no] = stream ? (["streams", "datagrams"] as const) : (["datagrams", "streams"] as const);
    add("port_partly_allowed", "warns", `port ${port} of ${name} is open to this node for ${yes} only (${by((stream ?? datagram)!, stream ? "stream" : "datagram")}); no rule grants ${no}`);
  }
}
