/**
 * The reference Pilot's message, file and event services, which every daemon hosts on their
 * well-known ports (1001 data exchange, 1002 event stream) over encrypted streams, enforced like
 * every connection.
 */
import { inbox, MESSAGE_TYPES, received, sendFile, sendMessage, type MessageType } from "../messages.ts";
import { publish, subscribe, subscribeLines } from "../events.ts";
import { positiveInt, required, seconds, usage, type Command } from "../command.ts";

const TARGET = { name: "node_id|address|hostname" };

export const SERVICE_COMMANDS: Command[] = [
  {
    name: "send-message",
    group: "services",
    args: [TARGET],
    flags: { data: "the message (required)", type: "text, json (checked here first) or binary (default text)", timeout: "give up after SECONDS (default 60)" },
    description: "Send a message to a node's inbox, through its data exchange (port 1001). It answers once the message is saved.",
    returns: "target, type, bytes, ack",
    example: 'pilotctl send-message agent-b --data "report ready"',
    async run({ args, flags }) {
      const data = required(flags, "data", this);
      const type = (flags.type ?? "text") as MessageType;
      if (!MESSAGE_TYPES.includes(type)) throw usage(`--type is ${MESSAGE_TYPES.join(", ")}, not ${JSON.stringify(flags.type)}`);
      return sendMessage(args[0]!, Buffer.from(data), type, { seconds: seconds(flags, 60) });
    },
  },
  {
    name: "send-file",
    group: "services",
    args: [TARGET, { name: "path" }],
    flags: { timeout: "give up after SECONDS (default 60)" },
    description: "Send a file to a node, which saves it in its received files. At most 16 MiB; a name it already has gets -1, -2, … rather than replacing it.",
    returns: "filename, bytes, destination, ack",
    example: "pilotctl send-file agent-b ./report.pdf",
    run: ({ args, flags }) => sendFile(args[0]!, args[1]!, { seconds: seconds(flags, 60) }),
  },
  {
    name: "inbox",
    group: "services",
    args: [],
    flags: { clear: "delete them all" },
    description: "Messages peers sent this node, oldest first. Needs no running daemon.",
    returns: "messages[{type, from, data, bytes, received_at}], total, dir; with --clear: cleared",
    example: "pilotctl inbox",
    run: async ({ flags }) => inbox({ clear: flags.clear }),
  },
  {
    name: "received",
    group: "services",
    args: [],
    flags: { clear: "delete them all" },
    description: "Files peers sent this node. Needs no running daemon.",
    returns: "files[{name, bytes, modified, path}], total, dir; with --clear: cleared",
    example: "pilotctl received",
    run: async ({ flags }) => received({ clear: flags.clear }),
  },
  {
    name: "subscribe",
    group: "services",
    args: [TARGET, { name: "topic" }],
    flags: { count: "answer once N events have arrived (without it: one JSON line per event, until stopped)", timeout: "stop after SECONDS (with --count: 30)" },
    description: "Subscribe to a topic (or * for all) on a node's event broker (port 1002). Without --count, prints each event as one JSON line (NDJSON) until Ctrl-C or --timeout.",
    returns: "with --count: events[{topic, data, bytes}], timeout; without: one {topic, data, bytes} per line",
    example: "pilotctl subscribe agent-b alerts --count 1",
    untilStopped: true,
    run: async ({ args, flags, line, signal }) => {
      const [target, topic] = [args[0]!, args[1]!];
      if (flags.count !== undefined) return subscribe(target, topic, { count: positiveInt(flags.count, "--count", 1_000_000), seconds: seconds(flags, 30) });
      // --timeout ends the subscription as Ctrl-C would.
      const until = flags.timeout === undefined ? signal : AbortSignal.any([signal, AbortSignal.timeout(seconds(flags, 30) * 1000)]);
      await subscribeLines(target, topic, line, until);
      return undefined;
    },
  },
  {
    name: "publish",
    group: "services",
    args: [TARGET, { name: "topic" }],
    flags: { data: "the event (required)", timeout: "give up after SECONDS (default 30)" },
    description: "Publish an event on a topic of a node's event broker. Its subscribers get it; the publisher does not.",
    returns: "target, topic, bytes",
    example: 'pilotctl publish agent-b alerts --data "disk full"',
    async run({ args, flags }) {
      return publish(args[0]!, args[1]!, Buffer.from(required(flags, "data", this)), { seconds: seconds(flags, 30) });
    },
  },
];
