export { Identity } from "./identity.ts";
export { PushChannel, type ChannelEnd, type PushChannelOptions } from "./push-channel.ts";
export { RegistryClient, RegistryError, type ClientErrorCode, type RegistryClientOptions } from "./registry-client.ts";
export * from "./protocol/index.ts";
