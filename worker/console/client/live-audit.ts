/**
 * The network page's audit log, kept live: after each change the owner's socket carries the trail's
 * newest entries, and those the table lacks go on top, in order. Everything shown is set with
 * textContent.
 */
import type { AuditEntry, AuditPage } from "@pilot/protocol";
import { auditCells } from "../audit-line.ts";
import { api } from "./api.ts";
import { element } from "./dom.ts";
import type { LiveSection } from "./live-view.ts";

/** As many rows as the page shows; the server renders the same newest page. */
const SHOWN = 50;

export function liveAudit(networkId: string, tbody: HTMLTableSectionElement): LiveSection {
  const empty = element("[data-audit-empty]", HTMLElement);
  const newest = () => Number(tbody.rows[0]?.dataset.auditId ?? 0);

  function rowOf(e: AuditEntry): HTMLTableRowElement {
    const row = document.createElement("tr");
    row.dataset.auditId = String(e.id);
    for (const text of auditCells(e)) {
      const td = document.createElement("td");
      td.textContent = text;
      row.append(td);
    }
    return row;
  }

  /** Puts the entries newer than the table's newest on top (entries come newest first), and keeps SHOWN rows. */
  function merge(entries: AuditEntry[]) {
    const fresh = entries.filter((e) => e.id > newest());
    tbody.prepend(...fresh.map(rowOf));
    while (tbody.rows.length > SHOWN) tbody.rows[tbody.rows.length - 1]!.remove();
    empty.hidden = tbody.rows.length > 0;
  }

  return {
    async resync() {
      const page = await api<AuditPage>("GET", `/v1/networks/${networkId}/audit?limit=${SHOWN}`);
      tbody.replaceChildren();
      merge(page.entries);
    },
    apply(message) {
      if (message.type === "audit" && String(message.network_id) === networkId) merge(message.entries);
    },
  };
}
