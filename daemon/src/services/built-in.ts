/**
 * The daemon's built-in services, on their well-known ports as in the Pilot command set: echo (7),
 * data exchange (1001) and the event stream (1002). Each is hosted on the stream layer like any
 * listener (hosting.ts), so only peers that may reach this node reach them.
 */
import { echo, type Streams } from "../dataplane/stream/streams.ts";
import type { HomePaths } from "../store/home.ts";
import { Inbox } from "../store/inbox.ts";
import { ReceivedFiles } from "../store/received-files.ts";
import { ECHO_PORT } from "../wire/packet.ts";
import { dataExchange } from "./data-exchange.ts";
import { DATA_EXCHANGE_PORT } from "./data-frames.ts";
import { EventBroker } from "./event-broker.ts";
import { EVENT_STREAM_PORT } from "./event-frames.ts";
import { FrameBudget } from "./frame-budget.ts";
import { hostService } from "./hosting.ts";

export function hostBuiltInServices(streams: Streams, paths: Pick<HomePaths, "inbox" | "received">, log: (line: string) => void): void {
  streams.listen(ECHO_PORT, (offer) => echo(streams.claim(offer.conn.id, offer.key)));
  // One budget for both: the memory for frames being gathered is the daemon's, whichever service gathers them.
  const budget = new FrameBudget();
  hostService(streams, DATA_EXCHANGE_PORT, dataExchange({ inbox: new Inbox(paths.inbox), received: new ReceivedFiles(paths.received), budget, log }));
  hostService(streams, EVENT_STREAM_PORT, new EventBroker(budget).open);
}
