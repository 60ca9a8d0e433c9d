/** Hostname rules shared by the registry and the daemon. */

/**
 * The hyphen is escaped so that the source also works as an HTML `pattern` attribute (the console's
 * form uses it), which browsers compile with the `v` flag, where a bare `-` in a class is an error.
 */
// oxlint-disable-next-line no-useless-escape -- needed under the v flag, as said above
export const HOSTNAME_PATTERN = /^[a-z0-9]([a-z0-9\-]{0,61}[a-z0-9])?$/;

/** The pattern in words, for error messages and forms; network names follow it too. */
export const HOSTNAME_RULE = "1-63 lowercase letters, digits or hyphens, not starting or ending with a hyphen";

/** A name of digits only reads as a node ID, so it is never a hostname. */
export const ALL_DIGITS = /^[0-9]+$/;

/** Names that would be confused with the protocol's own services or the registry's UI. */
export const RESERVED_HOSTNAMES: ReadonlySet<string> = new Set([
  "localhost", "backbone", "broadcast", "registry", "beacon", "nameserver", "relay", "stun",
  "pilot", "pilotctl", "admin", "root", "console", "api", "www", "self", "me", "any", "all", "none",
]);
