/**
 * Pilot addresses: `N:NNNN.HHHH.LLLL` — the network in decimal, the network again as four hex
 * digits, then the 32-bit node ID as two groups of four hex digits. Printed in upper case.
 *
 * Parsing is strict so that every address has exactly one meaning: exactly four hex digits per
 * group, the hex network equal to the decimal one, no leading zeros in the decimal part. The
 * reference SPEC's own example `1:00A3.F291.0004` fails the network check and is refused.
 */

export const MAX_NETWORK_ID = 0xffff;
export const MAX_NODE_ID = 0xffffffff;
export const BACKBONE = 0;

export interface PilotAddress {
  readonly network: number;
  readonly node: number;
}

export class AddressError extends Error {
  override name = "AddressError";
}

const ADDRESS = /^(0|[1-9][0-9]{0,4}):([0-9A-Fa-f]{4})\.([0-9A-Fa-f]{4})\.([0-9A-Fa-f]{4})$/;

const hex4 = (n: number) => n.toString(16).toUpperCase().padStart(4, "0");

export function formatAddress({ network, node }: PilotAddress): string {
  if (!Number.isInteger(network) || network < 0 || network > MAX_NETWORK_ID) {
    throw new AddressError(`network ${network} is outside 0..${MAX_NETWORK_ID}`);
  }
  if (!Number.isInteger(node) || node < 0 || node > MAX_NODE_ID) {
    throw new AddressError(`node ${node} is outside 0..${MAX_NODE_ID}`);
  }
  return `${network}:${hex4(network)}.${hex4(node >>> 16)}.${hex4(node & 0xffff)}`;
}

export function parseAddress(text: string): PilotAddress {
  const m = ADDRESS.exec(text);
  if (!m) {
    throw new AddressError(
      `"${text.slice(0, 40)}" is not a Pilot address (expected N:NNNN.HHHH.LLLL, e.g. 1:0001.0000.03E9)`,
    );
  }
  const network = Number(m[1]);
  if (network > MAX_NETWORK_ID) throw new AddressError(`network ${network} is outside 0..${MAX_NETWORK_ID}`);
  if (parseInt(m[2]!, 16) !== network) {
    throw new AddressError(`network mismatch: ${m[2]} is not ${hex4(network)} (the decimal network in hex)`);
  }
  const node = parseInt(m[3]!, 16) * 0x10000 + parseInt(m[4]!, 16);
  return { network, node };
}
