/**
 * The lookup the data plane's UDP sockets use. Node's default sends every datagram through
 * `dns.lookup`, which, even for an address that is already an IP literal, tests it against two
 * regular expressions and answers on the next tick: per packet at 1,500 bytes, a closure, a tick
 * and the tests cost a few percent of a sending daemon. Peers' addresses are literals, so the one
 * seen last is answered at once; anything else (a STUN server given by name) goes to `dns.lookup`.
 */
import { lookup as dnsLookup, type LookupOneOptions } from "node:dns";
import { isIP } from "node:net";

type Answer = (error: NodeJS.ErrnoException | null, address: string, family: number) => void;

export function addressLookup(): (hostname: string, options: LookupOneOptions | number, callback: Answer) => void {
  let literal = "";
  let literalFamily = 0;
  return (hostname, options, callback) => {
    if (hostname !== literal) {
      const family = isIP(hostname);
      if (family === 0) return void dnsLookup(hostname, options as LookupOneOptions, callback);
      literal = hostname;
      literalFamily = family;
    }
    callback(null, literal, literalFamily);
  };
}
