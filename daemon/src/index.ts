export { Identity } from "./identity.ts";
export { LiveChannel, networkProtocol, nodeProtocol, type ChannelEnd, type ChannelOptions, type ChannelProtocol } from "./live-channel.ts";
export { RegistryClient, RegistryError, type ClientErrorCode, type RegistryClientOptions } from "./registry-client.ts";
export * from "@pilot/protocol";
export { Pilot, PilotConnection, PilotServer, type DaemonEvent, type Datagram, type DatagramSent } from "./sdk/pilot.ts";
export { DaemonClient } from "./sdk/daemon-client.ts";
export type { Args, ArgsIn, CallName, CommandName, Event, OpenerName, Result, WatchName } from "./local-socket/contract.ts";
export { PilotError } from "./errors.ts";
export { tuneGc } from "./gc-tuning.ts";
