/** Moving data: datagrams, streams, the echo benchmark, round trips, and this daemon's connections. */
import { call, withPilot } from "../daemon-call.ts";
import { positiveInt, port, required, seconds, type Command, type Flags, type Invocation } from "../command.ts";
import { bench, exchange, MAX_BENCH_MB, readStdin, receive, traceroute } from "../streams.ts";

const TARGET = { name: "node_id|address|hostname" };

const count = (flags: Flags, fallback: number) => (flags.count === undefined ? fallback : positiveInt(flags.count, "--count", 1_000_000));

/**
 * Datagrams arriving on a port. With --count, the first N of them in one answer (or fewer, with
 * `timeout: true`, once --timeout passes); without it, one JSON line per datagram as it arrives,
 * until pilotctl is stopped or --timeout passes, as the reference Pilot's `listen` does. Once the
 * port is bound it says so on stderr, so a script can wait for that line before anything is sent.
 */
async function listen({ args, flags, line, say, signal }: Invocation): Promise<unknown> {
  const on = port(args[0]);
  const wanted = flags.count === undefined ? undefined : count(flags, 1);
  const timeout = flags.timeout === undefined ? undefined : seconds(flags, 30);
  return withPilot(async (pilot) => {
    const messages: Record<string, unknown>[] = [];
    let timedOut = false;
    await new Promise<void>((resolve, reject) => {
      const finish = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", finish);
        resolve();
      };
      const limit = timeout ?? (wanted === undefined ? undefined : 30);
      const timer =
        limit === undefined
          ? undefined
          : setTimeout(() => {
              timedOut = true;
              finish();
            }, limit * 1000);
      signal.addEventListener("abort", finish, { once: true });
      pilot
        .receiveDatagrams(on, (d) => {
          const message = { src_addr: d.from, node_id: d.nodeId, src_port: d.srcPort, data: d.data.toString("utf8"), bytes: d.data.length };
          if (wanted === undefined) return line(JSON.stringify(message));
          if (messages.length >= wanted) return;
          messages.push(message);
          if (messages.length >= wanted) finish();
        })
        .then(() => say(`listening for datagrams on port ${on}`))
        .catch((e: unknown) => {
          clearTimeout(timer);
          reject(e);
        });
    });
    return wanted === undefined ? undefined : { port: on, messages, timeout: timedOut };
  });
}

export const DATA_COMMANDS: Command[] = [
  {
    name: "send-datagram",
    group: "data",
    args: [TARGET, { name: "port" }],
    flags: { data: "the datagram's content (required)" },
    description: "Send one encrypted datagram to a port of a node. Unreliable: no answer, no retry.",
    returns: "target, node_id, port, bytes",
    example: 'pilotctl send-datagram agent-b 1001 --data "hello"',
    differs: "The reference Pilot has no command that sends a datagram; `listen` receives them in both.",
    async run({ args, flags }) {
      const [target, to, data] = [args[0]!, port(args[1]), required(flags, "data", this)];
      const sent = await withPilot((pilot) => pilot.sendDatagram(target, to, data));
      return { target, node_id: sent.nodeId, port: to, bytes: sent.bytes };
    },
  },
  {
    name: "listen",
    group: "data",
    args: [{ name: "port" }],
    flags: { count: "answer once N datagrams have arrived (without it: one JSON line per datagram, until stopped)", timeout: "stop after SECONDS (with --count: 30)" },
    description: "Receive datagrams on a port. Without --count, prints each as one JSON line (NDJSON) as it arrives, until Ctrl-C or --timeout.",
    returns: "with --count: port, messages[{src_addr, node_id, src_port, data, bytes}], timeout; without: one {src_addr, node_id, src_port, data, bytes} per line",
    example: "pilotctl listen 1001 --count 1",
    untilStopped: true,
    run: listen,
  },
  {
    name: "connect",
    group: "data",
    args: [TARGET, { name: "port", optional: true }],
    flags: { message: "what to send (default: all of stdin)", timeout: "give up after SECONDS (default 30)" },
    description: "Open a stream, send a message, and print the reply. The port is 1000 unless given; pilotctl half-closes after the message and reads the reply until the peer ends it or the timeout (timeout: true then).",
    returns: "target, node_id, port, sent, response, response_bytes, timeout",
    example: 'echo "hello" | pilotctl connect agent-b 1000',
    run: async ({ args, flags }) => {
      const [target, to, timeout] = [args[0]!, args[1] === undefined ? 1000 : port(args[1]), seconds(flags, 30)];
      return exchange(target, to, flags.message === undefined ? await readStdin() : Buffer.from(flags.message), timeout);
    },
  },
  {
    name: "send",
    group: "data",
    args: [TARGET, { name: "port" }],
    flags: { data: "what to send (required)", timeout: "give up after SECONDS (default 30)" },
    description: "Send --data over a stream and print the reply. The same as connect with --data as the message.",
    returns: "target, node_id, port, sent, response, response_bytes, timeout",
    example: 'pilotctl send agent-b 1000 --data "hello"',
    async run({ args, flags }) {
      const [to, timeout, data] = [port(args[1]), seconds(flags, 30), required(flags, "data", this)];
      return exchange(args[0]!, to, Buffer.from(data), timeout);
    },
  },
  {
    name: "recv",
    group: "data",
    args: [{ name: "port" }],
    flags: { count: "how many messages to wait for (default 1)", timeout: "stop after SECONDS (default 30)" },
    description: "Accept streams on a port and print what each carried. Each connection's bytes, read to its end, are one message (at most 16 MiB); pilotctl says on stderr when the port is bound.",
    returns: "messages[{seq, src_addr, node_id, src_port, port, data, bytes}], timeout",
    example: "pilotctl recv 1000 --count 2",
    run: ({ args, flags, say }) => receive(port(args[0]), count(flags, 1), seconds(flags, 30), say),
  },
  {
    name: "bench",
    group: "data",
    args: [TARGET, { name: `size_mb (1, at most ${MAX_BENCH_MB})`, optional: true }],
    flags: { timeout: "give up after SECONDS (default 120)" },
    description: "Measure a stream through the peer's echo port. Sends size_mb MiB to port 7, checks the echo (SHA-256), gives rates in MiB/s and progress on stderr.",
    returns: "target, node_id, sent_bytes, recv_bytes, send_duration_ms, total_duration_ms, send_mbps, total_mbps, verified",
    example: "pilotctl bench agent-b 64",
    run: ({ args, flags, say }) => {
      const [size, timeout] = [args[1] === undefined ? 1 : positiveInt(args[1], "size_mb", MAX_BENCH_MB), seconds(flags, 120)];
      return bench(args[0]!, size, timeout, say);
    },
  },
  {
    name: "ping",
    group: "data",
    args: [TARGET],
    flags: { count: "how many round trips (default 4, at most 100)" },
    description: "Measure round trips through the encrypted tunnel.",
    returns: "target, node_id, results[{seq, rtt_ms | error}]",
    example: "pilotctl ping agent-b --count 10",
    run: ({ args, flags }) => call("ping", { target: args[0]!, count: flags.count === undefined ? 4 : positiveInt(flags.count, "--count", 100) }),
  },
  {
    name: "traceroute",
    group: "data",
    args: [TARGET],
    flags: { count: "how many round trips (default 3, at most 100)", timeout: "give up after SECONDS (default 30)" },
    description: "Time opening a stream to a node, then round trips over it. Through the peer's echo port 7; the overlay has one hop, the tunnel, so there is no list of hops.",
    returns: "target, node_id, setup_ms, rtt_samples[{rtt_ms, bytes}]",
    example: "pilotctl traceroute agent-b",
    run: ({ args, flags }) => traceroute(args[0]!, flags.count === undefined ? 3 : positiveInt(flags.count, "--count", 100), seconds(flags, 30)),
  },
  {
    name: "connections",
    group: "data",
    args: [],
    description: "This daemon's stream connections.",
    returns: "connections[{id, node_id, local_port, remote_port, state, srtt_ms, bytes_sent, bytes_received, and the congestion, window and loss figures}], total",
    example: "pilotctl connections",
    run: async () => {
      const connections = await withPilot((pilot) => pilot.connections());
      return { connections, total: connections.length };
    },
  },
  {
    name: "disconnect",
    group: "data",
    args: [{ name: "conn_id" }],
    description: "Close one of this daemon's stream connections, by its id in pilotctl connections. The peer sees the stream end; the program here gets connection_reset.",
    returns: "conn_id",
    example: "pilotctl disconnect 3",
    run: ({ args }) => call("disconnect", { conn_id: positiveInt(args[0], "conn_id", Number.MAX_SAFE_INTEGER) }),
  },
];
