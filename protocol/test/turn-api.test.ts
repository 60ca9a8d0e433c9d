import { describe, expect, it } from "vitest";
import { parseTurnUrl } from "../src/turn-api.ts";

describe("TURN URLs", () => {
  it.each([
    ["turn:turn.cloudflare.com:3478?transport=udp", { host: "turn.cloudflare.com", port: 3478 }],
    ["turn:turn.cloudflare.com:53?transport=udp", { host: "turn.cloudflare.com", port: 53 }],
    ["turn:203.0.113.1:3480", { host: "203.0.113.1", port: 3480 }],
    ["turn:[2001:db8::1]:3478?transport=UDP", { host: "2001:db8::1", port: 3478 }],
    ["turn:turn.example.net", { host: "turn.example.net", port: 3478 }],
  ])("reads %s", (url, expected) => {
    expect(parseTurnUrl(url)).toEqual(expected);
  });

  it.each([
    ["TCP", "turn:turn.cloudflare.com:3478?transport=tcp"],
    ["TLS", "turns:turn.cloudflare.com:5349?transport=tcp"],
    ["STUN", "stun:stun.cloudflare.com:3478"],
    ["port 0", "turn:turn.example.net:0"],
    ["a port past 65535", "turn:turn.example.net:70000"],
    ["credentials in the URL", "turn:user@turn.example.net:3478"],
    ["another parameter", "turn:turn.example.net:3478?transport=udp&x=1"],
    ["an empty host", "turn::3478"],
    ["nothing", ""],
  ])("refuses %s", (_, url) => {
    expect(parseTurnUrl(url)).toBeUndefined();
  });
});
