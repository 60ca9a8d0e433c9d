/**
 * The registry's HTTP API as zod schemas: the Worker validates requests and generates its OpenAPI
 * document from them, and the daemon's registry client types and checks replies with them.
 */
import { z } from "zod";
import { AddressError, MAX_NETWORK_ID, MAX_NODE_ID, parseAddress } from "./address.ts";
import { ALL_DIGITS, HOSTNAME_PATTERN, HOSTNAME_RULE, RESERVED_HOSTNAMES } from "./hostname.ts";
import { parseNodeRef } from "./node-ref.ts";
import { base64Bytes, beyondSchema, decimalRangeSource, excluding, uniqueItems } from "./schema-rules.ts";

// ── Building blocks ──

export const NodeId = z
  .number()
  .int()
  .min(1)
  .max(MAX_NODE_ID)
  .meta({ description: "32-bit node ID, allocated from 1 and never reused", example: 1001 });

export const Address = z
  .string()
  .max(32)
  .refine(
    (s) => {
      try {
        parseAddress(s);
        return true;
      } catch (e) {
        if (e instanceof AddressError) return false;
        throw e;
      }
    },
    { message: "must be a Pilot address N:NNNN.HHHH.LLLL" },
  )
  .meta({ description: "Pilot address", example: "0:0000.0000.03E9" });

const canonicalBase64 = (length: number, what: string) =>
  z.string().regex(base64Bytes(length), `must be ${length} bytes in canonical padded base64 (${what})`);

export const PublicKey = canonicalBase64(32, "Ed25519 public key").meta({
  description: "Ed25519 public key, 32 bytes, standard padded base64",
  example: "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
});

export const Signature = canonicalBase64(64, "Ed25519 signature").meta({
  description: "Ed25519 signature, 64 bytes, standard padded base64",
});

export const Challenge = z
  .string()
  .regex(/^[A-Za-z0-9_-]{43}$/, "must be a challenge issued by POST /v1/auth/challenge")
  .meta({ description: "Single-use challenge, 32 random bytes in base64url" });

const HostnameShape = z.string().max(63).regex(HOSTNAME_PATTERN, `must be ${HOSTNAME_RULE}`);

/**
 * A hostname as the registry reports one a node holds: the pattern alone, so a name claimed before
 * a word was reserved still reads in every answer that carries it.
 */
export const HeldHostname = HostnameShape.meta({ example: "my-agent" });

/** A hostname a node may claim. */
export const Hostname = excluding(
  HostnameShape,
  { pattern: ALL_DIGITS, message: "must not be all digits, which would read as a node ID" },
  { values: [...RESERVED_HOSTNAMES], message: "is reserved; choose another hostname", code: "hostname_reserved" },
).meta({ example: "my-agent" });

/** A node ID as a path parameter or in a node reference: 1 to 2³²-2 (the all-ones ID is broadcast, and names no node). */
export const NODE_ID_TEXT = decimalRangeSource(1, MAX_NODE_ID - 1);

/** A path parameter carrying a node ID. */
export const NodeIdText = z
  .string()
  .regex(new RegExp(`^${NODE_ID_TEXT}$`), "must be a node ID from 1 to 4294967294")
  .transform(Number)
  .meta({ example: "1001" });

const HEX4 = "[0-9A-Fa-f]{4}";
/** Addresses of no single node: node 0 and broadcast. */
const NO_SINGLE_NODE = /\.(?:0000\.0000|[Ff]{4}\.[Ff]{4})$/;
const NODE_REF_FORMS = {
  id: new RegExp(`^${NODE_ID_TEXT}$`),
  address: new RegExp(`^${decimalRangeSource(0, MAX_NETWORK_ID)}:${HEX4}\\.${HEX4}\\.${HEX4}$`),
  hostname: HOSTNAME_PATTERN,
};
const NODE_REF_RULE = "name the node by its node ID (1001), Pilot address (0:0000.0000.03E9) or hostname";

/**
 * How a request names a node: a node ID, a Pilot address or a hostname (never all digits, which
 * reads as an ID). That an address's hex network equals its decimal one is beyond JSON Schema, so
 * an address that fails only that is refused with 422.
 */
export const NodeRefText = z
  .string()
  .max(80)
  .superRefine((s, ctx) => {
    const wellFormed =
      NODE_REF_FORMS.id.test(s) ||
      (NODE_REF_FORMS.address.test(s) && !NO_SINGLE_NODE.test(s)) ||
      (NODE_REF_FORMS.hostname.test(s) && !ALL_DIGITS.test(s));
    if (!wellFormed) ctx.addIssue({ code: "custom", message: NODE_REF_RULE, params: { code: "invalid_target" } });
    else if (!parseNodeRef(s)) ctx.addIssue({ code: "custom", message: `an address's second part is its network in four hex digits; ${NODE_REF_RULE}`, ...beyondSchema("invalid_target") });
  })
  .meta({
    description: "Node ID, Pilot address or hostname",
    example: "my-agent",
    anyOf: [
      { pattern: NODE_REF_FORMS.id.source },
      { pattern: NODE_REF_FORMS.address.source, not: { pattern: NO_SINGLE_NODE.source } },
      { pattern: NODE_REF_FORMS.hostname.source, not: { pattern: ALL_DIGITS.source } },
    ],
  });

const IPV4_OCTET = decimalRangeSource(0, 255);
/** Unicast IPv4: not 0.x.x.x ("this network"), multicast or broadcast. */
const IPV4_UNICAST = `${decimalRangeSource(1, 223)}(?:\\.${IPV4_OCTET}){3}`;
const HEX_GROUP = "[0-9a-fA-F]{1,4}";
/**
 * The six groups before an IPv4 tail (`::ffff:192.0.2.1`): all written, or some elided by `::`
 * with k written before it and at most 5 - k after.
 */
const BEFORE_IPV4_TAIL = [
  `(?:${HEX_GROUP}:){6}`,
  `::(?:${HEX_GROUP}:){0,5}`,
  ...[1, 2, 3, 4, 5].map((k) => `(?:${HEX_GROUP}:){${k}}:(?:${HEX_GROUP}:){0,${5 - k}}`),
].join("|");
/** IPv6 in hex groups (zod's ipv6 pattern) or with an IPv4 tail: the forms an IPv6 URL host takes. */
const IPV6 = `${z.regexes.ipv6.source.slice(1, -1)}|(?:${BEFORE_IPV4_TAIL})${IPV4_OCTET}(?:\\.${IPV4_OCTET}){3}`;
/** IPv6 addresses no peer can send to: unspecified and multicast. */
const UNROUTABLE_IPV6 = /^\[(?:0*:(?:0*:)*:?0*|[Ff][Ff][^\]]*)\]/;

/** `a.b.c.d:port` or `[v6]:port`, the form a UDP socket can be told to send to. */
export const Endpoint = excluding(
  z
    .string()
    .max(64)
    .regex(
      new RegExp(`^(?:${IPV4_UNICAST}|\\[(?:${IPV6})\\]):${decimalRangeSource(1, 65535)}$`),
      "must be a unicast ip:port (IPv4) or [ip]:port (IPv6) with a port from 1 to 65535",
    ),
  { pattern: UNROUTABLE_IPV6, message: "must be a unicast address: not unspecified or multicast" },
).meta({ example: "203.0.113.7:37736" });

export const Capability = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,31}$/, "must be a lowercase flag of at most 32 characters")
  .meta({ example: "relay" });

const isoDateTime = z.iso.datetime();
/** The document states zod's exact pattern too: `date-time` alone would admit offsets other than Z. */
export const Timestamp = isoDateTime.meta({ description: "RFC 3339 time in UTC", pattern: isoDateTime._zod.def.pattern!.source });

// ── Authentication ──

export const ChallengeRequest = z.strictObject({ public_key: PublicKey }).meta({ id: "ChallengeRequest" });
export type ChallengeRequest = z.infer<typeof ChallengeRequest>;

export const ChallengeResponse = z
  .object({ challenge: Challenge, expires_at: Timestamp })
  .meta({ id: "ChallengeResponse" });
export type ChallengeResponse = z.infer<typeof ChallengeResponse>;

/** Proof of possession: the key, a challenge issued for it, and a signature of `authMessage`. */
export const ProofRequest = z
  .strictObject({ public_key: PublicKey, challenge: Challenge, signature: Signature })
  .meta({ id: "ProofOfPossession" });
export type ProofRequest = z.infer<typeof ProofRequest>;

export const EnrollmentKey = z
  .string()
  .regex(/^pek_[A-Za-z0-9_-]{43}$/, "must be an enrollment key (pek_…)")
  .meta({ description: "An enrollment key: the node becomes owned by the key's account" });

/** Registration: proof of possession, and optionally an enrollment key that makes an account the owner. */
export const RegisterRequest = ProofRequest.extend({ enrollment_key: EnrollmentKey.optional() }).meta({ id: "RegisterRequest" });
export type RegisterRequest = z.infer<typeof RegisterRequest>;

export const AccessToken = z
  .object({ access_token: z.string(), token_type: z.literal("Bearer"), expires_at: Timestamp })
  .meta({ id: "AccessToken" });
export type AccessToken = z.infer<typeof AccessToken>;

// ── Nodes ──

export const SelfNode = z
  .object({
    node_id: NodeId,
    address: Address,
    public_key: PublicKey,
    hostname: HeldHostname.nullable(),
    public: z.boolean(),
    endpoint: Endpoint.nullable(),
    lan_addrs: z.array(Endpoint),
    capabilities: z.array(Capability),
    registered_at: Timestamp,
  })
  .meta({ id: "SelfNode", description: "The calling node as the registry holds it" });
export type SelfNode = z.infer<typeof SelfNode>;

export const RegisterResponse = z
  .object({ created: z.boolean(), node: SelfNode, token: AccessToken })
  .meta({ id: "RegisterResponse" });
export type RegisterResponse = z.infer<typeof RegisterResponse>;

export const UpdateSelfRequest = z
  .strictObject({
    hostname: Hostname.nullable().optional().meta({ description: "null clears the hostname" }),
    public: z.boolean().optional(),
  })
  .refine((u) => u.hostname !== undefined || u.public !== undefined, {
    message: "give at least one of hostname, public",
  })
  .meta({ id: "UpdateSelfRequest", minProperties: 1 });
export type UpdateSelfRequest = z.infer<typeof UpdateSelfRequest>;

/**
 * Moving a node to a new identity key: the new key, a challenge issued for it, and the rotation
 * statement (`keyRotationMessage`) signed by the new key and by the node's current one. The access
 * token says which node; the current key's signature proves more than a token can (a token may
 * leak, the key in the daemon's home does not travel).
 */
export const RotateKeyRequest = z
  .strictObject({
    public_key: PublicKey.meta({ description: "The new Ed25519 public key" }),
    challenge: Challenge.meta({ description: "Issued by POST /v1/auth/challenge for the new key" }),
    signature: Signature.meta({ description: "The rotation statement signed by the new key" }),
    previous_signature: Signature.meta({ description: "The same statement signed by the node's current key" }),
  })
  .meta({ id: "RotateKeyRequest" });
export type RotateKeyRequest = z.infer<typeof RotateKeyRequest>;

export const RotateKeyResponse = z
  .object({
    node: SelfNode,
    token: AccessToken.meta({ description: "A token for the new key: every token issued before the rotation is revoked" }),
    rotated_at: Timestamp,
  })
  .meta({ id: "RotateKeyResponse" });
export type RotateKeyResponse = z.infer<typeof RotateKeyResponse>;

export const MAX_LAN_ADDRS = 8;
export const MAX_CAPABILITIES = 16;
export const HEARTBEAT_INTERVAL_SECONDS = 30;
export const OFFLINE_AFTER_SECONDS = 90;

export const HeartbeatRequest = z
  .strictObject({
    endpoint: Endpoint.nullable().optional().meta({ description: "Public endpoint found by STUN" }),
    lan_addrs: uniqueItems(z.array(Endpoint).max(MAX_LAN_ADDRS)).optional(),
    capabilities: uniqueItems(z.array(Capability).max(MAX_CAPABILITIES)).optional(),
  })
  .meta({ id: "HeartbeatRequest", description: "Fields left out keep their stored value" });
export type HeartbeatRequest = z.infer<typeof HeartbeatRequest>;

export const HeartbeatResponse = z
  .object({
    changed: z.boolean().meta({ description: "whether the report changed what the registry stores" }),
    interval_seconds: z.number().int(),
    offline_after_seconds: z.number().int(),
  })
  .meta({ id: "HeartbeatResponse" });
export type HeartbeatResponse = z.infer<typeof HeartbeatResponse>;

// ── Resolve ──

export const ResolvedNode = z
  .object({
    node_id: NodeId,
    address: Address,
    public_key: PublicKey,
    hostname: HeldHostname.nullable(),
    public: z.boolean(),
    endpoint: Endpoint.nullable(),
    lan_addrs: z.array(Endpoint),
    capabilities: z.array(Capability),
    online: z.boolean(),
    last_seen: Timestamp.nullable(),
  })
  .meta({ id: "ResolvedNode" });
export type ResolvedNode = z.infer<typeof ResolvedNode>;

export const Health = z.object({ status: z.literal("ok") }).meta({ id: "Health" });
