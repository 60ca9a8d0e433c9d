/** Schemas of join links: the several tokens a token-gated network is joined with, each of which may end. */
import { z } from "zod";
import { Timestamp } from "./api.ts";
import { textOfLength } from "./schema-rules.ts";
import { CustomJoinToken } from "./join-token.ts";

/** Live links (not revoked, expired or used up) a network may hold at once. */
export const MAX_LIVE_JOIN_LINKS = 20;

/** The most joins one link may be limited to: more than any plan's members, less than a typo's worth. */
export const MAX_JOIN_LINK_USES = 100_000;

/** How far ahead a link's expiry may be set: ten years (a link that should not end needs no expiry). */
export const MAX_JOIN_LINK_LIFETIME_MS = 10 * 366 * 86_400_000;

const LABEL_PATTERN = /^[^\p{C}\s](?:[^\p{C}]*[^\p{C}\s])?$/u;
export const JoinLinkLabel = textOfLength(1, 64, "must be 1 to 64 characters")
  .regex(LABEL_PATTERN, "must be printable text without leading or trailing spaces")
  // JSON Schema patterns are read with the u flag; the document needs the source without it.
  .meta({ description: "What the link is for, shown to the owner", example: "onboarding batch 3", pattern: LABEL_PATTERN.source });

export const JoinLinkState = z
  .enum(["live", "expired", "used_up", "revoked"])
  .meta({ description: "live links join; the others answer exactly like a wrong token" });
export type JoinLinkState = z.infer<typeof JoinLinkState>;

export const NetworkJoinLink = z
  .object({
    link_id: z.number().int(),
    label: JoinLinkLabel,
    default: z.boolean().meta({ description: "The link the network's `join` shows and that rotating the token replaces" }),
    state: JoinLinkState,
    token: z.string(),
    command: z.string().meta({ example: "pilotctl join-network 1 --token 3q2-…" }),
    url: z.url().meta({ description: "Join URL; the token rides in the fragment, which browsers never send to a server" }),
    uses: z.number().int().meta({ description: "Joins this link has made" }),
    max_uses: z.number().int().nullable().meta({ description: "null: no limit" }),
    uses_left: z.number().int().nullable().meta({ description: "null: no limit" }),
    expires_at: Timestamp.nullable(),
    created_at: Timestamp,
    revoked_at: Timestamp.nullable(),
  })
  .meta({ id: "JoinLink" });
export type NetworkJoinLink = z.infer<typeof NetworkJoinLink>;

export const JoinLinkList = z
  .object({ links: z.array(NetworkJoinLink), max_live: z.number().int().meta({ description: "Live links the network may hold at once" }) })
  .meta({ id: "JoinLinkList", description: "The network's links, newest first: every live one, and the 100 newest that ended" });
export type JoinLinkList = z.infer<typeof JoinLinkList>;

export const CreateJoinLinkRequest = z
  .strictObject({
    label: JoinLinkLabel,
    token: CustomJoinToken.optional(),
    expires_at: Timestamp.optional().meta({ description: "When the link stops joining; omitted: never" }),
    max_uses: z.number().int().min(1).max(MAX_JOIN_LINK_USES).optional().meta({ description: "How many joins the link makes; omitted: no limit" }),
  })
  .meta({ id: "CreateJoinLinkRequest" });
export type CreateJoinLinkRequest = z.infer<typeof CreateJoinLinkRequest>;
