/**
 * The machine-readable description of pilotctl that `pilotctl context` prints, for agents. A
 * pilotctl command that is one local-socket command of the same name takes its description and
 * returned fields from the contract (local-socket/contract.ts); the others are described here.
 */
import { COMMANDS, type DocumentedName } from "../local-socket/contract.ts";

export const VERSION = "1";

interface CommandSpec {
  name: string;
  args: string[];
  flags?: string[];
  description: string;
  returns: string;
}

/** A pilotctl command that passes its arguments straight to the local-socket command `name`. */
function direct(name: DocumentedName, args: string[], flags?: string[]): CommandSpec {
  const { description, returns } = COMMANDS[name].doc;
  return { name, args, ...(flags && { flags }), description, returns };
}

export const COMMAND_LIST: CommandSpec[] = [
  { name: "daemon start", args: [], flags: ["--registry URL", "--hostname H", "--public", "--private", "--enroll KEY", "--stun host:port[,host:port]|off", "--listen host:port", "--foreground"], description: "Start the daemon; returns once the node is registered", returns: "pid, node_id, address, hostname, socket, log_file" },
  { name: "daemon stop", args: [], description: "Stop the daemon", returns: "pid, stopped" },
  { name: "daemon status", args: [], flags: ["--check"], description: "Whether the daemon runs, and its state (--check: exit 1 if not)", returns: "running, node_id, address, hostname, registry_status, endpoint, stun{server,status}, peers, networks, uptime_secs" },
  direct("info", []),
  direct("peers", []),
  direct("set-hostname", ["hostname"]),
  direct("clear-hostname", []),
  { name: "set-public", args: [], description: "Let anyone resolve and reach this node", returns: "node_id, visibility" },
  { name: "set-private", args: [], description: "Only trusted peers and co-members may resolve and reach this node", returns: "node_id, visibility" },
  direct("find", ["hostname"]),
  direct("handshake", ["node_id|address|hostname", "justification"]),
  direct("pending", []),
  direct("approve", ["node_id"]),
  direct("reject", ["node_id", "reason"]),
  direct("trust", []),
  direct("untrust", ["node_id"]),
  direct("join-network", ["network_id | join URL"], ["--token T"]),
  direct("leave-network", ["network_id"]),
  direct("networks", []),
  direct("members", ["network_id"]),
  direct("invitations", []),
  direct("accept-invitation", ["network_id"]),
  direct("decline-invitation", ["network_id"]),
  { name: "send-datagram", args: ["node_id|address|hostname", "port"], flags: ["--data TEXT"], description: "Send one encrypted datagram", returns: "target, node_id, port, bytes" },
  { name: "listen", args: ["port"], flags: ["--count N (1)", "--timeout S (30)"], description: "Receive datagrams on a port", returns: "port, messages[{src_addr, node_id, src_port, data, bytes}], timeout" },
  { name: "connect", args: ["node_id|address|hostname", "port (1000)"], flags: ["--message TEXT (else all of stdin)", "--timeout S (30)"], description: "Open a stream, send the message, half-close, and read the reply until the peer ends it or the timeout (timeout: true then)", returns: "target, node_id, port, sent, response, response_bytes, timeout" },
  { name: "send", args: ["node_id|address|hostname", "port"], flags: ["--data TEXT", "--timeout S (30)"], description: "connect with --data as the message", returns: "target, node_id, port, sent, response, response_bytes, timeout" },
  { name: "recv", args: ["port"], flags: ["--count N (1)", "--timeout S (30)"], description: "Accept streams on a port; each connection's bytes, read to its end, are one message (at most 16 MiB)", returns: "messages[{seq, src_addr, node_id, src_port, port, data, bytes}], timeout" },
  { name: "bench", args: ["node_id|address|hostname", "size_mb (1, at most 1024)"], flags: ["--timeout S (120)"], description: "Stream size_mb MiB through the peer's echo port 7 and check the echo (SHA-256); rates in MiB/s; progress on stderr without --json", returns: "target, node_id, sent_bytes, recv_bytes, send_duration_ms, total_duration_ms, send_mbps, total_mbps, verified" },
  { name: "connections", args: [], description: "This daemon's stream connections", returns: "connections[{id, node_id, local_port, remote_port, state, srtt_ms, bytes_sent, bytes_received, and the congestion, window and loss figures}], total" },
  direct("ping", ["node_id|address|hostname"], ["--count N (4)"]),
  { name: "context", args: [], description: "This description", returns: "version, commands, error_codes, global_flags, environment" },
];

export const ERROR_CODES = {
  invalid_argument: "a command or argument is malformed (exit code 2 for the command line, 1 from the daemon)",
  not_running: "no daemon answers on the socket: run pilotctl daemon start",
  already_running: "a daemon already runs for this PILOT_HOME",
  not_found: "the node or network does not exist, or is not visible to this node",
  timeout: "a peer or the daemon did not answer in time",
  no_path: "neither the peer's candidate endpoints nor the relay carried the signed key exchange: it is offline or does not accept this node, or the relay connection is down (pilotctl info: relay_status, nat)",
  connection_failed: "the daemon or a tunnel could not be set up",
  corrupt_file: "a file under PILOT_HOME is damaged; the hint says how to recover",
  insecure_file: "a secret file is readable by others",
  unreachable: "the registry cannot be reached",
  connection_refused: "nothing listens on that port of the peer",
  connection_reset: "the peer (or the daemon) aborted the connection",
  peer_cut_off: "trust or membership with the peer was revoked; its connections were closed",
  port_in_use: "another program already listens on that port of this node",
  too_many_connections: "this daemon holds as many connections as it allows; close some",
  invalid_frame: "a program sent the daemon a malformed frame on its local socket",
  too_slow: "a program left more than 1 MiB of events unread on its local socket, and the daemon closed the connection",
  too_large: "a message or reply is beyond pilotctl's 16 MiB limit; use the SDK for bulk data",
  datagram_too_large: "a datagram is larger than the path's first hop carries unfragmented; the message names the limit (pilotctl peers shows each path's mtu)",
  "(registry codes)": "errors the registry reports keep its code, e.g. join_denied, hostname_taken, no_pending_request",
};
