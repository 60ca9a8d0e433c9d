/**
 * How people and programs name a node: a decimal node ID, a Pilot address or a hostname.
 * Used by the registry's resolve route and by pilotctl arguments alike.
 */
import { AddressError, MAX_NODE_ID, parseAddress, type PilotAddress } from "./address.ts";
import { ALL_DIGITS, HOSTNAME_PATTERN } from "./hostname.ts";

export type NodeRef =
  | { kind: "id"; node: number }
  | { kind: "address"; address: PilotAddress }
  | { kind: "hostname"; hostname: string };

export function parseNodeRef(text: string): NodeRef | null {
  if (ALL_DIGITS.test(text)) {
    const node = Number(text);
    // Node 0 and the broadcast ID name no single node, as in the address form below.
    return text.length <= 10 && node >= 1 && node < MAX_NODE_ID && !text.startsWith("0") ? { kind: "id", node } : null;
  }
  if (text.includes(":")) {
    try {
      const address = parseAddress(text);
      // The zero address and broadcast name no single node.
      return address.node >= 1 && address.node < MAX_NODE_ID ? { kind: "address", address } : null;
    } catch (e) {
      if (e instanceof AddressError) return null;
      throw e;
    }
  }
  return HOSTNAME_PATTERN.test(text) ? { kind: "hostname", hostname: text } : null;
}
