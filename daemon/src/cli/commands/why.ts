/** `pilotctl why`: what stands between this node and a target, in words or as JSON. */
import { parseNodeRef } from "@pilot/protocol";
import { diagnose, stoppedFacts } from "../../agent/why.ts";
import { PilotError } from "../../errors.ts";
import type { WhyReport } from "../../local-socket/contract.ts";
import { call } from "../daemon-call.ts";
import { port, usage, type Command } from "../command.ts";

const MARK: Record<WhyReport["findings"][number]["severity"], string> = { blocks: "blocks", warns: "warns ", info: "info  " };

/** The answer for people: the verdict, each finding with what to do, and this node's side in one line. */
export function words(r: WhyReport): string {
  const verdict = r.reachable === true ? "reachable, as far as this node can tell" : r.reachable === false ? "not reachable" : "cannot tell";
  const lines = [`${r.target}${r.port === null ? "" : `, port ${r.port}`}: ${verdict}`];
  for (const f of r.findings) lines.push(`  ${MARK[f.severity]}  ${f.message}`, ...(f.hint ? [`          → ${f.hint}`] : []));
  if (r.nat && r.registry) {
    const n = r.nat;
    const endpoint = n.endpoint ? `public endpoint ${n.endpoint}` : "no public endpoint";
    lines.push(
      "",
      `this node: registry ${r.registry.reachable ? "reachable" : "unreachable"} · NAT ${n.nat} · ${endpoint} · LAN ${n.lan_addrs.join(", ") || "none"} · relay ${n.relay_status}${n.turn_addr ? ` · TURN ${n.turn_addr}` : ""}`,
    );
  }
  return lines.join("\n");
}

export const WHY_COMMANDS: Command[] = [
  {
    name: "why",
    group: "node",
    args: [{ name: "node_id|address|hostname" }, { name: "port", optional: true }],
    description:
      "Why this node can or cannot reach a node (on a port): the daemon, the registry, NAT and the path, the last failure, trust, shared networks and their port policies. A node this node may not see gets exactly the answer a missing one gets. Exit code 0 whenever it answers, whatever it finds (read reachable), also when the daemon is stopped.",
    returns:
      "target, port, reachable (true|false|null), findings[{code, severity (blocks|warns|info), message, hint}], daemon{running}, registry{reachable,error}, nat{nat,endpoint,lan_addrs,stun,relay_only,relay_status,turn_addr}, node{node_id,address,hostname,public,online,last_seen}, path{state (direct|turn|relay|opening|none),endpoint,mtu,rtt_ms,last_handshake_at}, last_error{code,message,at}, trust{state (trusted|pending|rejected|none),since,mutual,reason}, incoming_request{node_id,justification,received_at}, networks, policy[{network_id, stream{allowed,rule,reason}, datagram{allowed,rule,reason}}]",
    example: "pilotctl why agent-b 80",
    human: words,
    run: async ({ args }) => {
      const target = args[0]!;
      if (!parseNodeRef(target)) throw usage(`"${target}" is not a node ID, Pilot address or hostname`, "use e.g. 1001, 0:0000.0000.03E9 or my-agent");
      const at = args[1] === undefined ? null : port(args[1]);
      try {
        return await call("why", at === null ? { target } : { target, port: at });
      } catch (e) {
        if (e instanceof PilotError && e.code === "not_running") return diagnose(stoppedFacts(target, at));
        throw e;
      }
    },
  },
];
