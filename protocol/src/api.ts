/**
 * The registry's HTTP API as zod schemas: the Worker validates requests and generates its OpenAPI
 * document from them, and the daemon's registry client types and checks replies with them.
 */
import { z } from "zod";
import { AddressError, MAX_NODE_ID, parseAddress } from "./address.ts";
import { decodeBase64 } from "./encoding.ts";
import { ALL_DIGITS, HOSTNAME_PATTERN, HOSTNAME_RULE } from "./hostname.ts";

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

const base64Bytes = (length: number, what: string) =>
  z
    .string()
    .max(128)
    .refine((s) => decodeBase64(s, length) !== null, {
      message: `must be ${length} bytes in canonical padded base64 (${what})`,
    });

export const PublicKey = base64Bytes(32, "Ed25519 public key").meta({
  description: "Ed25519 public key, 32 bytes, standard padded base64",
  example: "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
});

export const Signature = base64Bytes(64, "Ed25519 signature").meta({
  description: "Ed25519 signature, 64 bytes, standard padded base64",
});

export const Challenge = z
  .string()
  .regex(/^[A-Za-z0-9_-]{43}$/, "must be a challenge issued by POST /v1/auth/challenge")
  .meta({ description: "Single-use challenge, 32 random bytes in base64url" });

export const Hostname = z
  .string()
  .max(63)
  .regex(HOSTNAME_PATTERN, `must be ${HOSTNAME_RULE}`)
  .refine((s) => !ALL_DIGITS.test(s), "must not be all digits, which would read as a node ID")
  .meta({ example: "my-agent" });

const IPV4 = z.ipv4();
const IPV6 = z.ipv6();

/** Addresses no peer can send to: unspecified, "this network", multicast and broadcast. */
const unroutable = (ip: string, v6: boolean) =>
  v6 ? /^(::|0*:(0*:)*:?0*)$/.test(ip) || /^ff/i.test(ip) : Number(ip.split(".")[0]) === 0 || Number(ip.split(".")[0]) >= 224;

/** `a.b.c.d:port` or `[v6]:port`, the form a UDP socket can be told to send to. */
export const Endpoint = z
  .string()
  .max(64)
  .refine(
    (s) => {
      const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([0-9.]+)):([0-9]{1,5})$/.exec(s);
      if (!m) return false;
      const port = Number(m[3]);
      if (port < 1 || port > 65535 || m[3]!.startsWith("0")) return false;
      const v6 = m[1] !== undefined;
      const ip = (v6 ? m[1] : m[2])!;
      return (v6 ? IPV6 : IPV4).safeParse(ip).success && !unroutable(ip, v6);
    },
    { message: "must be a unicast ip:port (IPv4) or [ip]:port (IPv6) with a port from 1 to 65535" },
  )
  .meta({ example: "203.0.113.7:37736" });

export const Capability = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,31}$/, "must be a lowercase flag of at most 32 characters")
  .meta({ example: "relay" });

const unique = <T>(items: readonly T[]) => new Set(items).size === items.length;

export const Timestamp = z.iso.datetime().meta({ description: "RFC 3339 time in UTC" });

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
    hostname: Hostname.nullable(),
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
  .meta({ id: "UpdateSelfRequest" });
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
    lan_addrs: z.array(Endpoint).max(MAX_LAN_ADDRS).refine(unique, "must not repeat").optional(),
    capabilities: z.array(Capability).max(MAX_CAPABILITIES).refine(unique, "must not repeat").optional(),
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
    hostname: Hostname.nullable(),
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
