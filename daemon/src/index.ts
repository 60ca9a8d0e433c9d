export { Identity } from "./identity.ts";
export { LiveChannel, networkProtocol, nodeProtocol, type ChannelEnd, type ChannelOptions, type ChannelProtocol } from "./live-channel.ts";
export { RegistryClient, RegistryError, type ClientErrorCode, type RegistryClientOptions } from "./registry-client.ts";
export * from "@pilot/protocol";
export { Pilot, PilotConnection, PilotServer, type DaemonEvent, type Datagram } from "./sdk.ts";
export { DaemonClient } from "./ipc/client.ts";
export { PilotError } from "./errors.ts";
