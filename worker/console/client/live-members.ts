/**
 * The network page's Active Nodes table, kept live over a WebSocket: a read-only view of the
 * network's events for its owner's session. Everything shown is set with textContent.
 */
import { CHANNEL_CLOSE, type Member, type MemberPage, type Network } from "@pilot/protocol";
import { api } from "./api.ts";
import { element } from "./dom.ts";
import type { LiveMessage, LiveSection } from "./live-view.ts";

/** As many rows as the page shows; the server renders the same first page. */
export const SHOWN = 500;
const COLUMNS = ["online", "address", "node_id", "hostname", "endpoint", "capabilities"] as const;
/** The status of a member the registry's operator suspended (as the server renders it). */
const SUSPENDED = "suspended by the registry's operator";

/**
 * Keeps the table live, and the page's other live sections (receipts, the audit log) with it, over
 * one socket. `onChange` hears each event's type, and "resync" after the page was rebuilt from the registry.
 */
export function liveMembers(
  networkId: string,
  tbody: HTMLTableSectionElement,
  sections: LiveSection[],
  onChange: (type: string) => void = () => undefined,
): void {
  const count = element("[data-count]", HTMLElement);
  let memberCount = Number(count.textContent?.match(/^\d+/)?.[0] ?? 0);

  const rowOf = (nodeId: number) => tbody.querySelector<HTMLTableRowElement>(`tr[data-node-id="${nodeId}"]`);

  function cell(row: HTMLTableRowElement, col: (typeof COLUMNS)[number]) {
    return element(`[data-col="${col}"]`, HTMLTableCellElement, row);
  }

  function setOnline(row: HTMLTableRowElement, online: boolean, suspended = false) {
    const td = cell(row, "online");
    td.replaceChildren();
    td.dataset.suspended = String(suspended);
    const dot = document.createElement("span");
    dot.className = online ? "dot on" : "dot off";
    dot.setAttribute("aria-hidden", "true");
    const label = document.createElement("span");
    label.textContent = suspended ? SUSPENDED : online ? "online" : "offline";
    td.append(dot, label);
  }

  /** A new row, in node order, with its Remove button; the cells are filled by upsertRow. */
  function insertRow(nodeId: number): HTMLTableRowElement {
    const row = document.createElement("tr");
    row.dataset.nodeId = String(nodeId);
    for (const col of COLUMNS) {
      const td = document.createElement("td");
      td.dataset.col = col;
      row.append(td);
    }
    const td = document.createElement("td");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "danger small";
    button.dataset.action = "remove-node";
    button.dataset.nodeId = String(nodeId);
    button.setAttribute("aria-label", `Remove node ${nodeId}`);
    button.textContent = "Remove";
    td.append(button);
    row.append(td);
    const after = [...tbody.rows].find((r) => Number(r.dataset.nodeId) > nodeId);
    tbody.insertBefore(row, after ?? null);
    return row;
  }

  /** Updates the member's row; adds one only if `insert` (the table may be full). */
  function upsertRow(m: Member, insert: boolean) {
    const row = rowOf(m.node_id) ?? (insert ? insertRow(m.node_id) : null);
    if (!row) return;
    setOnline(row, m.online, m.suspended);
    cell(row, "address").textContent = m.address;
    cell(row, "node_id").textContent = String(m.node_id);
    cell(row, "hostname").textContent = m.hostname ?? "—";
    cell(row, "endpoint").textContent = m.endpoint ?? "—";
    cell(row, "capabilities").textContent = m.capabilities.join(", ") || "—";
    refreshEmpty();
  }

  function removeRow(nodeId: number) {
    const row = rowOf(nodeId);
    if (row) {
      // Keep keyboard focus in the table: on the next row's Remove button, if there is one.
      const next = row.nextElementSibling?.querySelector("button") ?? row.previousElementSibling?.querySelector("button");
      const hadFocus = row.contains(document.activeElement);
      row.remove();
      if (hadFocus) next?.focus();
    }
    refreshEmpty();
  }

  function refreshEmpty() {
    const shown = tbody.rows.length;
    element("[data-members]", HTMLTableElement).hidden = shown === 0;
    element("[data-empty]", HTMLElement).hidden = memberCount > 0;
    count.textContent = (count.textContent ?? "").replace(/^\d+/, String(memberCount));
    const more = element("[data-more]", HTMLElement);
    more.hidden = memberCount <= shown;
    more.textContent = `Showing the first ${shown} of ${memberCount} agents.`;
  }

  /** Rebuilds the table from the registry: events sent while the page was not listening are not replayed. */
  async function resync() {
    const [net, page] = await Promise.all([
      api<Network>("GET", `/v1/networks/${networkId}`),
      api<MemberPage>("GET", `/v1/networks/${networkId}/members?limit=${SHOWN}`),
    ]);
    memberCount = net.members;
    tbody.replaceChildren();
    for (const m of page.members) upsertRow(m, true);
    refreshEmpty();
    await Promise.all(sections.map((s) => s.resync()));
  }

  function apply(event: LiveMessage) {
    if (String(event.network_id) !== networkId) return;
    for (const section of sections) section.apply(event);
    switch (event.type) {
      case "member_added":
        if (!rowOf(event.member.node_id)) memberCount++;
        upsertRow(event.member, tbody.rows.length < SHOWN);
        break;
      case "member_updated":
        upsertRow(event.member, false);
        break;
      case "member_removed": {
        // Suspended, it is still a member (it counts, and the owner may remove it): marked, not gone.
        const row = rowOf(event.node_id);
        if (event.reason === "suspended") {
          if (row) setOnline(row, false, true);
          break;
        }
        memberCount = Math.max(0, memberCount - 1);
        removeRow(event.node_id);
        break;
      }
      case "presence": {
        const row = rowOf(event.node_id);
        // Its channel closing as it is suspended says "offline" after the suspension: it stays marked.
        if (row) setOnline(row, event.online, cell(row, "online").dataset.suspended === "true");
        break;
      }
      case "network_deleted":
        location.assign("/console");
        break;
    }
  }

  /** After a socket could not open: signed out, or the network is gone? Then go there and stop. */
  async function stillWelcome(): Promise<boolean> {
    const session = await fetch("/v1/session", { credentials: "same-origin" }).catch(() => null);
    if (session?.status === 401) {
      location.assign("/console/sign-in");
      return false;
    }
    const net = await fetch(`/v1/networks/${networkId}`, { credentials: "same-origin" }).catch(() => null);
    if (net?.status === 404) {
      location.assign("/console");
      return false;
    }
    return true;
  }

  function connect(retry = 500) {
    const status = element("[data-live]", HTMLElement);
    const ws = new WebSocket(`${location.origin.replace(/^http/, "ws")}/console/networks/${networkId}/live`);
    let opened = false;
    ws.addEventListener("open", () => {
      opened = true;
      retry = 500;
      resync()
        .then(() => {
          status.textContent = "Live: changes appear as they happen.";
          onChange("resync");
        })
        .catch(() => (status.textContent = "Live, but the table could not be refreshed; reload the page."));
    });
    ws.addEventListener("message", (e) => {
      const event = JSON.parse(String(e.data)) as LiveMessage;
      apply(event);
      if (String(event.network_id) === networkId) onChange(event.type);
    });
    ws.addEventListener("close", async (e) => {
      status.textContent = "Live updates paused; reconnecting…";
      const signedOut = e.code === CHANNEL_CLOSE.signedOut;
      if (signedOut || (!opened && !(await stillWelcome()))) {
        status.textContent = "Signed out: live updates stopped.";
        if (signedOut) location.assign("/console/sign-in");
        return;
      }
      setTimeout(() => connect(Math.min(retry * 2, 15000)), retry);
    });
  }

  connect();
}
