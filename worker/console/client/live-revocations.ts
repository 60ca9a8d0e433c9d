/**
 * The network page's cut-off receipts: each recent removal with how many daemons confirmed it and
 * which have not, kept live by the owner's WebSocket view (live-members.ts holds the socket).
 * Everything shown is set with textContent.
 */
import type { RevocationList, RevocationSummary } from "@pilot/protocol";
import { pendingLine, revocationLine } from "../revocation-line.ts";
import { api } from "./api.ts";
import { element } from "./dom.ts";
import type { LiveSection } from "./live-view.ts";

export function liveRevocations(networkId: string, list: HTMLUListElement): LiveSection {
  const empty = element("[data-revocations-empty]", HTMLElement);

  /** The revocation's item, made (newest first) if the page has none yet. */
  function itemOf(r: RevocationSummary): HTMLLIElement {
    const found = [...list.children].find((li) => li instanceof HTMLLIElement && li.dataset.revocationId === r.revocation_id);
    if (found instanceof HTMLLIElement) return found;
    const li = document.createElement("li");
    li.dataset.revocationId = r.revocation_id;
    const line = document.createElement("span");
    line.dataset.line = "";
    const pending = document.createElement("span");
    pending.className = "muted";
    pending.dataset.pending = "";
    li.append(line, document.createElement("br"), pending);
    list.prepend(li);
    return li;
  }

  function show(r: RevocationSummary) {
    const li = itemOf(r);
    // Updates may cross on the way (each receipt sends one): receipts only add, so an older one is dropped.
    if (Number(li.dataset.confirmed ?? -1) > r.confirmed) return;
    li.dataset.confirmed = String(r.confirmed);
    element("[data-line]", HTMLElement, li).textContent = revocationLine(r);
    const pending = element("[data-pending]", HTMLElement, li);
    pending.textContent = pendingLine(r);
    li.classList.toggle("confirmed", r.pending.length === 0);
    empty.hidden = true;
  }

  return {
    async resync() {
      const { revocations } = await api<RevocationList>("GET", `/v1/networks/${networkId}/revocations`);
      list.replaceChildren();
      // Oldest first, each prepended: the newest ends on top.
      for (const r of [...revocations].reverse()) show(r);
      empty.hidden = revocations.length > 0;
    },
    apply(message) {
      if (message.type === "revocation" && String(message.network_id) === networkId) show(message.revocation);
    },
  };
}
