export { Identity } from "./identity.ts";
export { RegistryClient, RegistryError, type ClientErrorCode, type RegistryClientOptions } from "./registry-client.ts";
export * from "./protocol/index.ts";
