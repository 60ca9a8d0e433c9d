/**
 * trust.json: what this node knows of bilateral trust, so it survives restarts — the peers it
 * trusts (each with the end of its trust, or null), requests waiting for its decision, and requests
 * it has sent. Written atomically with mode 0600 on every change. The registry is the authority;
 * this file is its local copy.
 */
import { z } from "zod";
import { readJson, writeJson } from "./home.ts";

const Trusted = z.object({
  node_id: z.number().int(),
  mutual: z.boolean(),
  network: z.number().int(),
  approved_at: z.string(),
  // Files written before trust could end have no end: permanent, as they were.
  expires_at: z.iso.datetime().nullable().default(null),
});
const Pending = z.object({
  node_id: z.number().int(),
  justification: z.string(),
  received_at: z.string(),
  // How long the requester asks the trust to last (null: without end; absent in older files).
  ttl_seconds: z.number().int().positive().nullable().default(null),
});
const Outgoing = z.object({ target: z.string(), node_id: z.number().int().nullable(), justification: z.string(), sent_at: z.string(), status: z.string() });

export const TrustFile = z.object({
  version: z.literal(1),
  trusted: z.array(Trusted),
  pending: z.array(Pending),
  outgoing: z.array(Outgoing),
});
export type TrustFile = z.infer<typeof TrustFile>;
export type TrustedRecord = z.infer<typeof Trusted>;
export type PendingRecord = z.infer<typeof Pending>;

export class TrustStore {
  readonly #path: string;
  #state: TrustFile;

  constructor(path: string) {
    this.#path = path;
    this.#state = readJson(path, TrustFile, "the trust file") ?? { version: 1, trusted: [], pending: [], outgoing: [] };
  }

  get state(): Readonly<TrustFile> {
    return this.#state;
  }

  trusts(nodeId: number): boolean {
    return this.#state.trusted.some((t) => t.node_id === nodeId);
  }

  update(change: (state: TrustFile) => void): void {
    const next = structuredClone(this.#state);
    change(next);
    writeJson(this.#path, next);
    this.#state = next;
  }
}
