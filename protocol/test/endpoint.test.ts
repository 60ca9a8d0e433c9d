import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { Endpoint } from "../src/index.ts";

/** The rule Endpoint stated before its pattern: zod's IPv6 check, minus unspecified and multicast addresses. */
const unicastIPv6 = (ip: string) => z.ipv6().safeParse(ip).success && !/^(::|0*:(0*:)*:?0*)$/.test(ip) && !/^ff/i.test(ip);

const group = fc.integer({ min: 0, max: 0xffff }).chain((n) => fc.integer({ min: n.toString(16).length, max: 4 }).map((w) => n.toString(16).padStart(w, "0")));
const octet = fc.integer({ min: 0, max: 255 }).map(String);

/** IPv6 text in every written form: eight groups or six and an IPv4 tail, any run of them elided by ::, either case. */
const ipv6Text = fc
  .record({ groups: fc.array(group, { minLength: 8, maxLength: 8 }), tail: fc.option(fc.array(octet, { minLength: 4, maxLength: 4 })), cut: fc.option(fc.tuple(fc.nat(8), fc.nat(8))), upper: fc.boolean() })
  .map(({ groups, tail, cut, upper }) => {
    const parts = tail ? [...groups.slice(0, 6), tail.join(".")] : groups;
    let text = parts.join(":");
    if (cut) {
      const [a, b] = [Math.min(...cut), Math.max(...cut)];
      if (b > a && b <= parts.length) text = `${parts.slice(0, a).join(":")}::${parts.slice(b).join(":")}`;
    }
    return upper ? text.toUpperCase() : text;
  });

/** Near misses: a character added, dropped or changed. */
const nearMiss = fc.tuple(ipv6Text, fc.nat(), fc.constantFrom("", ":", ".", "0", "g", "::")).map(([t, at, ch]) => {
  const i = at % (t.length + 1);
  return `${t.slice(0, i)}${ch}${t.slice(i + (ch === "" ? 1 : 0))}`;
});

describe("Endpoint's IPv6 pattern", () => {
  it("accepts exactly the unicast IPv6 addresses zod's check does, in every written form", () => {
    fc.assert(
      fc.property(fc.oneof(ipv6Text, nearMiss), (ip) => {
        expect(Endpoint.safeParse(`[${ip}]:443`).success, ip).toBe(unicastIPv6(ip));
      }),
      { numRuns: 5000 },
    );
  });

  it.each([["[::ffff:192.0.2.1]:443", true], ["[2001:db8::1]:1", true], ["[::]:1", false], ["[ff02::1]:1", false], ["[::ffff:192.0.2.01]:1", false], ["[1::2::3]:1", false]])(
    "%s: %s",
    (endpoint, ok) => expect(Endpoint.safeParse(endpoint).success).toBe(ok),
  );
});
