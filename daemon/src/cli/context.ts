/**
 * The machine-readable description of pilotctl that `pilotctl context` prints, for agents, in the
 * reference Pilot's shape: commands keyed by name, the error codes, global flags, environment and
 * config file. An agent's tool description built from the reference's works unchanged.
 */
import { argUsage, flagUsage, synopsis, type Command, type FlagName } from "./command.ts";
import { EXIT_CODES } from "./help.ts";
import { VERSION } from "./version.ts";

export const ERROR_CODES = {
  invalid_argument: "a command or argument is malformed (exit code 2 for the command line, 1 from the daemon)",
  not_running: "no daemon answers on the socket: run pilotctl daemon start",
  already_running: "a daemon already runs for this PILOT_HOME",
  address_in_use: "the UDP address --listen names is another program's: start with another (port 0 takes any free one)",
  no_registry: "no registry is configured: run pilotctl init --registry URL (or set PILOT_REGISTRY)",
  not_found: "the node, network or connection does not exist, or the node is not visible to this node",
  timeout: "a peer or the daemon did not answer in time",
  no_path: "neither the peer's candidate endpoints nor the relay carried the signed key exchange: it is offline or does not accept this node, or the relay connection is down (pilotctl info: relay_status, nat)",
  connection_failed: "the daemon or a tunnel could not be set up",
  corrupt_file: "a file under PILOT_HOME is damaged; the hint says how to recover",
  insecure_file: "a secret file, the home or the local socket is another user's, or open to others",
  unreachable: "the registry cannot be reached",
  connection_refused: "nothing listens on that port of the peer",
  connection_reset: "the peer (or the daemon) aborted the connection",
  peer_cut_off: "trust or membership with the peer was revoked, or a network's port policy no longer allows the connection; its connections were closed",
  port_in_use: "another program already listens on that port of this node",
  too_many_connections: "this daemon holds as many connections as it allows; close some",
  invalid_frame: "a program sent the daemon a malformed frame on its local socket",
  too_slow: "a program left more than 1 MiB of events unread on its local socket, and the daemon closed the connection",
  too_large: "a message or reply is beyond pilotctl's 16 MiB limit; use the SDK for bulk data",
  datagram_too_large: "a datagram is larger than the path's first hop carries unfragmented; the message names the limit (pilotctl peers shows each path's mtu)",
  inbox_full: "the peer's inbox holds as many messages as it keeps; its owner frees room with pilotctl inbox --clear",
  received_full: "the peer holds as many received files as it keeps; its owner frees room with pilotctl received --clear",
  invalid_json: "a --type json message is not JSON",
  invalid_text: "a text message is not UTF-8",
  invalid_file: "the peer could not read the file frame",
  invalid_file_name: "the file's name is empty, too long, hidden (a leading dot), or holds a slash or control characters: rename it",
  unknown_type: "the peer's data exchange does not know that message type",
  frame_too_large: "a message, file or event is beyond 16 MiB",
  save_failed: "the peer could not save what was sent",
  truncated: "the connection ended partway through a frame",
  bad_answer: "the peer's service answered with neither ACK nor ERR",
  "(registry codes)": "errors the registry reports keep its code, e.g. join_denied, hostname_taken, no_pending_request",
};

export function describe(commands: Command[]) {
  return {
    version: VERSION,
    commands: Object.fromEntries(
      commands.map((c) => [
        c.name,
        {
          usage: synopsis(c),
          args: c.args.map(argUsage),
          flags: Object.fromEntries(Object.entries(c.flags ?? {}).map(([name, what]) => [flagUsage(name as FlagName), what])),
          description: c.description,
          returns: c.returns,
          example: c.example,
          ...(c.aliases && { aliases: c.aliases }),
          ...(c.untilStopped && { streams: "NDJSON until stopped, as its description says" }),
          ...(c.differs && { differs_from_reference: c.differs }),
        },
      ]),
    ),
    error_codes: ERROR_CODES,
    exit_codes: EXIT_CODES,
    global_flags: { "--json": 'print {"status":"ok","data":{…}} on stdout, or {"status":"error","code","message","hint"} on stderr', "--help": "the command's usage, flags and an example" },
    environment: {
      PILOT_HOME: "directory of identity, config, trust, log and socket (default ~/.pilot)",
      PILOT_REGISTRY: "the registry's URL; outranks config.json, outranked by --registry",
      PILOT_SOCKET: "the daemon's local socket (default $PILOT_HOME/pilot.sock)",
    },
    config_file: "$PILOT_HOME/config.json (pilotctl init, pilotctl config)",
  };
}
