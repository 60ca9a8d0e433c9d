/**
 * TURN credentials as the registry hands them to a node (POST /v1/relay/turn, docs/turn.md), and
 * the one kind of TURN URL the daemon uses: `turn:` over UDP (RFC 7065). The registry filters the
 * service's URLs with `parseTurnUrl`; the daemon parses them with it again.
 */
import { z } from "zod";
import { Timestamp } from "./api.ts";

/** The port a `turn:` URL means when it names none (RFC 8656 §3.1). */
export const TURN_DEFAULT_PORT = 3478;

export interface TurnUrl {
  /** A host name, an IPv4 address, or an IPv6 address without its brackets. */
  host: string;
  port: number;
}

/**
 * `turn:host[:port][?transport=udp]`, or undefined for anything else: `turns:` (TLS), TCP,
 * STUN URLs, and malformed ones. UDP is `turn:`'s default transport.
 */
export function parseTurnUrl(url: string): TurnUrl | undefined {
  const m = /^turn:(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+))(?::(\d{1,5}))?(?:\?transport=udp)?$/i.exec(url);
  if (!m) return undefined;
  const port = m[3] === undefined ? TURN_DEFAULT_PORT : Number(m[3]);
  if (port < 1 || port > 65_535) return undefined;
  return { host: m[1] ?? m[2]!, port };
}

export const TurnCredentials = z
  .object({
    urls: z.array(z.string().max(256)).min(1).max(16).meta({ description: "TURN servers, `turn:` over UDP only", example: ["turn:turn.cloudflare.com:3478?transport=udp"] }),
    username: z.string().min(1).max(512),
    credential: z.string().min(1).max(512),
    expires_at: Timestamp.meta({ description: "When the credentials stop working; an allocation made with them ends then too" }),
  })
  .meta({ id: "TurnCredentials", description: "Long-term TURN credentials (RFC 8656), short-lived" });
export type TurnCredentials = z.infer<typeof TurnCredentials>;
