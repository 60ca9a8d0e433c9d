/** What the network page's live socket carries, and the sections that follow it (live-members.ts holds the socket). */
import type { AuditUpdate, PresenceUpdate, PushEvent, RevocationUpdate } from "@pilot/protocol";

/** What the owner's view receives: the network's push events, its members' presence, its revocations' receipts and its trail's newest entries, after a greeting of its own. */
export type LiveMessage = PushEvent | PresenceUpdate | RevocationUpdate | AuditUpdate | { type: "watching"; network_id: number };

/** A section of the page kept live by the socket. */
export interface LiveSection {
  /** Re-reads the section from the registry: messages sent while the page was not listening are not replayed. */
  resync(): Promise<void>;
  /** Takes the messages meant for it (each section checks the type). */
  apply(message: LiveMessage): void;
}
