/** Hostname rules shared by the registry and the daemon. */

export const HOSTNAME_PATTERN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** A name of digits only reads as a node ID, so it is never a hostname. */
export const ALL_DIGITS = /^[0-9]+$/;

/** Names that would be confused with the protocol's own services or the registry's UI. */
export const RESERVED_HOSTNAMES: ReadonlySet<string> = new Set([
  "localhost", "backbone", "broadcast", "registry", "beacon", "nameserver", "relay", "stun",
  "pilot", "pilotctl", "admin", "root", "console", "api", "www", "self", "me", "any", "all", "none",
]);

export const isReservedHostname = (name: string) => RESERVED_HOSTNAMES.has(name);
