/** `pilotctl why`'s diagnosis from scripted states: each fact, and the verdict and findings it gives. */
import { describe, expect, it } from "vitest";
import { PeerFailures } from "../src/agent/peer-failures.ts";
import { diagnose, stoppedFacts, trustFacts, type PolicyCheck, type WhyFacts } from "../src/agent/why.ts";
import { words } from "../src/cli/commands/why.ts";
import { PilotError } from "../src/errors.ts";
import { COMMANDS, parseArgs, WhyReport } from "../src/local-socket/contract.ts";
import type { TrustFile } from "../src/store/trust-file.ts";

const NODE = { node_id: 42, address: "0:0000.0000.002A", hostname: "agent-b", public: false, online: true, last_seen: "2026-12-01T03:00:00.000Z" };
const NO_PATH = { state: "none", endpoint: null, mtu: null, rtt_ms: null, last_handshake_at: null } as const;
const NO_TRUST = { state: "none", since: null, mutual: null, reason: null, until: null } as const;

/** A running daemon with a reachable registry that shows agent-b (node 42), with no relation yet. */
function facts(change: Partial<WhyFacts> = {}): WhyFacts {
  return {
    target: "agent-b",
    port: null,
    daemon: { running: true },
    registry: { reachable: true, error: null },
    nat: { nat: "endpoint-independent", endpoint: "198.51.100.7:4000", lan_addrs: ["10.0.0.2:4000"], stun: "ok", relay_only: false, relay_status: "connected", turn_addr: null },
    node: NODE,
    path: NO_PATH,
    last_error: null,
    trust: NO_TRUST,
    incoming_request: null,
    networks: [],
    policy: [],
    ...change,
  };
}

const codes = (r: WhyReport) => r.findings.map((f) => f.code);
const finding = (r: WhyReport, code: string) => r.findings.find((f) => f.code === code);

/** The policy answers of the shared networks, each network's from a scripted check. */
const policyOf = (check: PolicyCheck, networks: number[], port: number): WhyFacts["policy"] =>
  networks.map((id) => ({ network_id: id, stream: check(id, 42, port, "stream"), datagram: check(id, 42, port, "datagram") }));
const DENY: PolicyCheck = () => ({ allowed: false, rule: null, reason: "no_rule" });

describe("why's diagnosis", () => {
  it("says a stopped daemon is stopped, and what to run, in the answer's full shape", () => {
    const r = diagnose(stoppedFacts("agent-b", 80));
    expect(WhyReport.parse(r)).toEqual(r);
    expect(r).toMatchObject({ reachable: false, daemon: { running: false }, registry: null, nat: null, node: null, path: null, trust: null, networks: [], policy: [] });
    expect(r.findings).toEqual([{ code: "daemon_not_running", severity: "blocks", message: expect.stringContaining("not running"), hint: "run pilotctl daemon start" }]);
    expect(words(r)).toContain("pilotctl daemon start");
  });

  it("calls a trusted peer with a direct tunnel reachable, and shows the path", () => {
    const path = { state: "direct", endpoint: "10.0.0.3:4000", mtu: 1400, rtt_ms: 0.4, last_handshake_at: "2026-12-01T03:01:00.000Z" } as const;
    const r = diagnose(facts({ port: 80, path, trust: { state: "trusted", since: "2026-11-30T10:00:00.000Z", mutual: false, reason: null, until: null } }));
    expect(r.reachable).toBe(true);
    expect(codes(r)).toEqual(["trusted", "tunnel_up"]);
    expect(finding(r, "tunnel_up")!.message).toContain("direct path to 10.0.0.3:4000, MTU 1400");
    expect(WhyReport.parse(r)).toEqual(r);
  });

  it("answers a target the registry does not show as not visible, whatever the reason, with a handshake as the way in", () => {
    const r = diagnose(facts({ node: null }));
    expect(r.reachable).toBe(false);
    expect(r.findings).toEqual([{ code: "not_visible", severity: "blocks", message: expect.stringContaining('no node "agent-b" is visible'), hint: 'ask it for trust: pilotctl handshake agent-b "why"' }]);
  });

  it("says a request is pending and since when, and that a rejection gave its reason", () => {
    const pending = diagnose(facts({ node: null, trust: { state: "pending", since: "2026-12-01T02:00:00.000Z", mutual: null, reason: null, until: null } }));
    expect(codes(pending)).toEqual(["not_visible", "trust_pending"]);
    expect(finding(pending, "trust_pending")!.message).toContain("2026-12-01T02:00:00.000Z");
    // Asking for trust again is not the hint once a request is out.
    expect(finding(pending, "not_visible")!.hint).toBe("");
    const rejected = diagnose(facts({ node: null, trust: { state: "rejected", since: "2026-12-01T02:00:00.000Z", mutual: null, reason: "not expecting you", until: null } }));
    expect(finding(rejected, "trust_rejected")).toMatchObject({ severity: "blocks", message: expect.stringContaining("not expecting you") });
    // A rejection does not block a peer reachable through a shared network.
    expect(finding(diagnose(facts({ networks: [5], trust: rejected.trust })), "trust_rejected")!.severity).toBe("info");
  });

  it("points at approve when the target's own request waits for this node", () => {
    const r = diagnose(facts({ networks: [5], incoming_request: { node_id: 42, justification: "let me in", received_at: "2026-12-01T01:00:00.000Z" } }));
    expect(finding(r, "request_waiting")).toMatchObject({ severity: "info", hint: 'pilotctl approve 42, or pilotctl reject 42 "reason"' });
  });

  it("with the registry down, says so and still reports what this node holds", () => {
    const down = { reachable: false, error: "cannot reach the registry at http://127.0.0.1:1: connection failed" };
    const blind = diagnose(facts({ registry: down, node: null }));
    expect(blind.reachable).toBeNull();
    expect(codes(blind)).toEqual(["registry_unreachable"]);
    expect(blind.nat).toMatchObject({ endpoint: "198.51.100.7:4000" });
    expect(words(blind)).toContain("registry unreachable");
    // A tunnel already up carries on without the registry.
    const path = { state: "relay", endpoint: null, mtu: null, rtt_ms: 12, last_handshake_at: "2026-12-01T03:01:00.000Z" } as const;
    const up = diagnose(facts({ registry: down, node: null, path, trust: { state: "trusted", since: "x", mutual: true, reason: null, until: null } }));
    expect(up.reachable).toBe(true);
    expect(codes(up)).toEqual(["registry_unreachable", "trusted", "tunnel_up"]);
    // A registry that answers with something else (rate limited) is no "not visible".
    const limited = diagnose(facts({ registry: { reachable: true, error: "too many requests" }, node: null }));
    expect(codes(limited)).toEqual(["registry_error"]);
    expect(limited.reachable).toBeNull();
  });

  it("blames a port policy that grants no rule for the port, names the rule that does, and unions networks", () => {
    const denied = diagnose(facts({ port: 5432, networks: [5], policy: policyOf(DENY, [5], 5432) }));
    expect(denied.reachable).toBe(false);
    expect(finding(denied, "port_denied")).toMatchObject({ severity: "blocks", message: expect.stringContaining("port 5432") });
    // One network alone allowing it is enough; the answer names that network's rule.
    const byRule: PolicyCheck = (network, _peer, port) => (network === 7 && port === 443 ? { allowed: true, rule: 2, reason: "rule" } : { allowed: false, rule: null, reason: "no_rule" });
    const union = diagnose(facts({ port: 443, networks: [5, 7], policy: policyOf(byRule, [5, 7], 443) }));
    expect(union.reachable).toBe(true);
    expect(finding(union, "port_allowed")!.message).toContain("rule 2 of network 7");
    // No policy: every port.
    const open = diagnose(facts({ port: 22, networks: [5], policy: policyOf(() => ({ allowed: true, rule: null, reason: "no_policy" }), [5], 22) }));
    expect(finding(open, "port_allowed")!.message).toContain("network 5 has no port policy");
    // Datagrams only.
    const dgram: PolicyCheck = (_n, _p, _port, protocol) => (protocol === "datagram" ? { allowed: true, rule: 0, reason: "rule" } : { allowed: false, rule: null, reason: "no_rule" });
    const partly = diagnose(facts({ port: 53, networks: [5], policy: policyOf(dgram, [5], 53) }));
    expect(finding(partly, "port_partly_allowed")).toMatchObject({ severity: "warns", message: expect.stringContaining("datagrams only") });
  });

  it("lets trust and a public target open every port, whatever a shared network's policy says", () => {
    const policy = policyOf(DENY, [5], 5432);
    const trusted = diagnose(facts({ port: 5432, networks: [5], policy, trust: { state: "trusted", since: "x", mutual: true, reason: null, until: null } }));
    expect(codes(trusted)).not.toContain("port_denied");
    expect(trusted.reachable).toBe(true);
    const pub = diagnose(facts({ port: 5432, networks: [5], policy, node: { ...NODE, public: true } }));
    expect(codes(pub)).not.toContain("port_denied");
  });

  it("reports an offline target, a view not yet in sync, a relay-only node and the last failure", () => {
    expect(finding(diagnose(facts({ networks: [5], node: { ...NODE, online: false } })), "offline")!.severity).toBe("blocks");
    const unsynced = diagnose(facts());
    expect(codes(unsynced)).toContain("not_in_sync");
    expect(unsynced.reachable).toBeNull();
    const nat = { ...facts().nat!, relay_only: true, stun: "unreachable" as const, endpoint: null };
    const lastError = { code: "no_path", message: "no path to node 42", at: "2026-12-01T03:02:00.000Z" };
    const r = diagnose(facts({ networks: [5], nat, last_error: lastError }));
    expect(codes(r)).toEqual(["shared_networks", "no_tunnel", "relay_only", "last_error"]);
    expect(finding(r, "last_error")!.message).toContain("no_path: no path to node 42");
  });
});

describe("why's trust facts", () => {
  const records: TrustFile = {
    version: 1,
    trusted: [{ node_id: 7, mutual: true, network: 0, approved_at: "2026-11-01T00:00:00.000Z", expires_at: "2026-12-01T00:00:00.000Z" }],
    pending: [{ node_id: 9, justification: "hello", received_at: "2026-11-02T00:00:00.000Z", ttl_seconds: null }],
    outgoing: [
      { target: "agent-b", node_id: null, justification: "a", sent_at: "2026-11-03T00:00:00.000Z", status: "sent" },
      { target: "agent-c", node_id: null, justification: "b", sent_at: "2026-11-04T00:00:00.000Z", status: "rejected: not expecting you" },
      { target: "7", node_id: 7, justification: "c", sent_at: "2026-11-05T00:00:00.000Z", status: "approved" },
    ],
  };

  it("finds a request by the name it was sent to, or by the resolved node's names", () => {
    expect(trustFacts(records, { typed: "agent-b", nodeId: null, others: [] }).trust).toEqual({ state: "pending", since: "2026-11-03T00:00:00.000Z", mutual: null, reason: null, until: null });
    expect(trustFacts(records, { typed: "44", nodeId: 44, others: ["agent-b"] }).trust!.state).toBe("pending");
    expect(trustFacts(records, { typed: "agent-c", nodeId: null, others: [] }).trust).toMatchObject({ state: "rejected", reason: "not expecting you", until: null });
    expect(trustFacts(records, { typed: "agent-d", nodeId: null, others: [] })).toEqual({ trust: { state: "none", since: null, mutual: null, reason: null, until: null }, incoming_request: null });
  });

  it("puts trust before any request, and finds a request waiting for this node by node ID", () => {
    expect(trustFacts(records, { typed: "7", nodeId: 7, others: [] }).trust).toEqual({ state: "trusted", since: "2026-11-01T00:00:00.000Z", mutual: true, reason: null, until: "2026-12-01T00:00:00.000Z" });
    expect(trustFacts(records, { typed: "9", nodeId: 9, others: [] }).incoming_request).toEqual({ node_id: 9, justification: "hello", received_at: "2026-11-02T00:00:00.000Z" });
  });
});

describe("the last failure per peer", () => {
  it("keeps the latest failure of each of the most recent peers", async () => {
    const failures = new PeerFailures();
    await expect(failures.watch(3, Promise.reject(new PilotError("no_path", "no path to node 3", "")))).rejects.toThrow("no path");
    expect(failures.of(3)).toMatchObject({ code: "no_path", message: "no path to node 3" });
    expect(await failures.watch(3, Promise.resolve(1))).toBe(1);
    expect(failures.of(3)!.code).toBe("no_path");
    for (let peer = 100; peer < 100 + 256; peer++) failures.note(peer, "connection_refused", "refused");
    expect(failures.of(3)).toBeNull();
    expect(failures.of(100)).not.toBeNull();
  });
});

describe("why on the local socket", () => {
  it("takes a node name and an optional port 1-65535, and nothing else", () => {
    expect(parseArgs("why", COMMANDS.why.args, { target: "agent-b", port: 80 })).toEqual({ target: "agent-b", port: 80 });
    expect(parseArgs("why", COMMANDS.why.args, { target: "agent-b" })).toEqual({ target: "agent-b" });
    for (const bad of [{ target: "agent-b", port: 0 }, { target: "agent-b", port: 65536 }, { target: "agent-b", port: "80" }, { target: "agent-b", port: 1.5 }, { target: "" }, { target: "x".repeat(81) }, {}, { target: "agent-b", extra: 1 }]) {
      expect(() => parseArgs("why", COMMANDS.why.args, bad), JSON.stringify(bad)).toThrow(expect.objectContaining({ code: "invalid_argument" }));
    }
  });
});
