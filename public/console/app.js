// The Pilot Console's own script: forms and buttons call the registry's JSON API with the
// session's CSRF token, and the network page keeps its Active Nodes table live over a WebSocket.
// Everything shown is set with textContent, never parsed as HTML.
"use strict";

const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";

async function api(method, path, body) {
  const headers = { "x-csrf-token": csrf };
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin" });
  const data = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok) throw new Error(data?.error?.message ?? `request failed (${res.status})`);
  return data;
}

let toastTimer;
function toast(text) {
  const el = document.getElementById("toast");
  el.textContent = text;
  el.classList.add("show");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => el.classList.remove("show"), 2500);
}

function showError(form, message) {
  const el = form.querySelector("[data-error]") ?? form.parentElement.querySelector("[data-error]");
  if (el) el.textContent = message;
}

const NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const NAME_RULE = "Use 1–63 lowercase letters, digits and hyphens, not starting or ending with a hyphen.";

const networkEl = document.querySelector("[data-network-id]");
const networkId = networkEl?.dataset.networkId;

const handlers = {
  async "sign-in"(form) {
    const f = new FormData(form);
    await api("POST", "/v1/sessions", { email: f.get("email"), password: f.get("password") });
    location.assign("/console");
  },
  async "sign-up"(form) {
    const f = new FormData(form);
    if (String(f.get("password")).length < 10) throw new Error("The password needs at least 10 characters.");
    await api("POST", "/v1/accounts", { email: f.get("email"), password: f.get("password") });
    location.assign("/console");
  },
  async "sign-out"() {
    // Even if the session had already expired, the way out is the sign-in page.
    await api("DELETE", "/v1/session").catch(() => undefined);
    location.assign("/console/sign-in");
  },
  async "create-network"(form) {
    const f = new FormData(form);
    const name = String(f.get("name"));
    if (!NAME.test(name)) throw new Error(NAME_RULE);
    const net = await api("POST", "/v1/networks", { name, join_rule: f.get("join_rule") });
    location.assign(`/console/networks/${net.network_id}`);
  },
  async "add-node"(form) {
    const node = String(new FormData(form).get("node")).trim();
    if (!node) throw new Error("Enter a node ID, a Pilot address or a hostname.");
    const result = form.parentElement.querySelector("[data-result]");
    result.textContent = "";
    const r = await api("POST", `/v1/networks/${networkId}/members`, { node });
    form.reset();
    if (r.result !== "invited") {
      result.textContent = r.result === "added" ? `Added node ${r.node_id} (${r.address}).` : `Node ${r.node_id} is already a member.`;
      return;
    }
    // The answer is the same whether or not such a node exists, so say only what happens if it does.
    const who = /^[a-z0-9-]+$/.test(node) && !/^[0-9]+$/.test(node) ? `an agent named "${node}"` : `node ${node}`;
    result.textContent = `Invitation sent: if ${who} exists, its daemon is told now and it can accept within 7 days. If there is no such node, nothing happens. `;
    const withdraw = document.createElement("button");
    withdraw.type = "button";
    withdraw.className = "secondary";
    withdraw.dataset.action = "withdraw-invitation";
    withdraw.dataset.node = node;
    withdraw.textContent = "Withdraw invitation";
    result.append(withdraw);
  },
  async "withdraw-invitation"(button) {
    await api("DELETE", `/v1/networks/${networkId}/invitations/${encodeURIComponent(button.dataset.node)}`);
    button.closest("[data-result]").textContent = `Invitation to ${button.dataset.node} withdrawn.`;
  },
  async "remove-node"(button) {
    await api("DELETE", `/v1/networks/${networkId}/members/${button.dataset.nodeId}`);
    toast(`Removed node ${button.dataset.nodeId}.`);
  },
  async "rotate-token"() {
    const net = await api("POST", `/v1/networks/${networkId}/token`, {});
    document.getElementById("join-token").value = net.join.token;
    document.getElementById("join-command").value = net.join.command;
    document.getElementById("join-url").value = net.join.url;
    toast("New join token: the old one no longer works.");
  },
  async "ask-delete"() {
    document.querySelector("[data-delete-dialog]").showModal();
  },
  async "cancel-delete"() {
    document.querySelector("[data-delete-dialog]").close();
  },
  async "delete-network"(form) {
    if (new FormData(form).get("confirm") !== networkEl.dataset.networkName) throw new Error("Type the network's exact name to delete it.");
    await api("DELETE", `/v1/networks/${networkId}`);
    location.assign("/console");
  },
  async "create-key"(form) {
    const f = new FormData(form);
    const body = { description: String(f.get("description")).trim(), reusable: f.get("reusable") === "on" };
    if (!body.description) throw new Error("Describe what the key is for.");
    if (f.get("max_uses")) body.max_uses = Number(f.get("max_uses"));
    if (f.get("expires_days")) body.expires_in_seconds = Number(f.get("expires_days")) * 86400;
    const key = await api("POST", "/v1/account/enrollment-keys", body);
    revealSecret(form, key.key);
  },
  async "revoke-key"(button) {
    await api("DELETE", `/v1/account/enrollment-keys/${button.dataset.id}`);
    location.reload();
  },
  async "create-token"(form) {
    const name = String(new FormData(form).get("name")).trim();
    if (!name) throw new Error("Name the token.");
    const token = await api("POST", "/v1/account/tokens", { name });
    revealSecret(form, token.token);
  },
  async "revoke-token"(button) {
    await api("DELETE", `/v1/account/tokens/${button.dataset.id}`);
    location.reload();
  },
};

function revealSecret(form, value) {
  const section = form.closest("section");
  const box = section.querySelector("[data-secret]");
  box.hidden = false;
  box.querySelector("[data-secret-value]").value = value;
  form.reset();
  const empty = section.nextElementSibling;
  if (empty?.classList.contains("empty")) empty.textContent = "Created. Copy it above now; the list shows it (without its value) when you reload.";
}

document.addEventListener("submit", async (e) => {
  const form = e.target.closest("form[data-action]");
  if (!form) return;
  e.preventDefault();
  showError(form, "");
  try {
    await handlers[form.dataset.action](form);
  } catch (err) {
    showError(form, err.message);
  }
});

document.addEventListener("click", async (e) => {
  const copy = e.target.closest("[data-copy]");
  if (copy) {
    const input = document.querySelector(copy.dataset.copy);
    input.select();
    try {
      await navigator.clipboard.writeText(input.value);
      toast("Copied.");
    } catch {
      toast("Selected: press Ctrl+C to copy.");
    }
    return;
  }
  const button = e.target.closest("button[data-action]");
  if (!button || button.type === "submit") return;
  try {
    await handlers[button.dataset.action](button);
  } catch (err) {
    toast(err.message);
  }
});

// Create Network: check the name as it is typed.
const nameInput = document.querySelector('form[data-action="create-network"] input[name="name"]');
nameInput?.addEventListener("input", () => {
  const ok = nameInput.value === "" || NAME.test(nameInput.value);
  nameInput.setAttribute("aria-invalid", String(!ok));
  showError(nameInput.form, ok ? "" : NAME_RULE);
});

// ── The live Active Nodes table ──

const tbody = document.querySelector("[data-members] tbody");

function cell(row, col, text) {
  row.querySelector(`[data-col="${col}"]`).textContent = text;
}

function setOnline(row, online) {
  const td = row.querySelector('[data-col="online"]');
  td.replaceChildren();
  const dot = document.createElement("span");
  dot.className = online ? "dot on" : "dot off";
  dot.setAttribute("aria-hidden", "true");
  const label = document.createElement("span");
  label.textContent = online ? "online" : "offline";
  td.append(dot, label);
}

const SHOWN = 500;
let memberCount = Number(document.querySelector("[data-count]")?.textContent.match(/^\d+/)?.[0] ?? 0);

function upsertRow(m, insert) {
  let row = tbody.querySelector(`tr[data-node-id="${m.node_id}"]`);
  if (!row && !insert) return;
  if (!row) {
    row = document.createElement("tr");
    row.dataset.nodeId = String(m.node_id);
    for (const col of ["online", "address", "node_id", "hostname", "endpoint", "capabilities"]) {
      const td = document.createElement("td");
      td.dataset.col = col;
      row.append(td);
    }
    const td = document.createElement("td");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "danger small";
    button.dataset.action = "remove-node";
    button.dataset.nodeId = String(m.node_id);
    button.setAttribute("aria-label", `Remove node ${m.node_id}`);
    button.textContent = "Remove";
    td.append(button);
    row.append(td);
    const after = [...tbody.rows].find((r) => Number(r.dataset.nodeId) > m.node_id);
    tbody.insertBefore(row, after ?? null);
  }
  setOnline(row, m.online);
  cell(row, "address", m.address);
  cell(row, "node_id", String(m.node_id));
  cell(row, "hostname", m.hostname ?? "—");
  cell(row, "endpoint", m.endpoint ?? "—");
  cell(row, "capabilities", m.capabilities.join(", ") || "—");
  refreshEmpty();
}

function removeRow(nodeId) {
  const row = tbody.querySelector(`tr[data-node-id="${nodeId}"]`);
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
  document.querySelector("[data-members]").hidden = shown === 0;
  document.querySelector("[data-empty]").hidden = memberCount > 0;
  const counter = document.querySelector("[data-count]");
  counter.textContent = counter.textContent.replace(/^\d+/, String(memberCount));
  const more = document.querySelector("[data-more]");
  more.hidden = memberCount <= shown;
  more.textContent = `Showing the first ${shown} of ${memberCount} agents.`;
}

/** Rebuilds the table from the registry: events sent while the page was not listening are not replayed. */
async function resync() {
  const [net, page] = await Promise.all([api("GET", `/v1/networks/${networkId}`), api("GET", `/v1/networks/${networkId}/members?limit=${SHOWN}`)]);
  memberCount = net.members;
  tbody.replaceChildren();
  for (const m of page.members) upsertRow(m, true);
  refreshEmpty();
}

/** After a socket could not open: signed out, or the network is gone? Then say so and stop. */
async function stillWelcome() {
  const session = await fetch("/v1/session", { credentials: "same-origin" }).catch(() => null);
  if (session?.status === 401) return location.assign("/console/sign-in"), false;
  const net = await fetch(`/v1/networks/${networkId}`, { credentials: "same-origin" }).catch(() => null);
  if (net?.status === 404) return location.assign("/console"), false;
  return true;
}

function live(retry = 500) {
  const status = document.querySelector("[data-live]");
  const ws = new WebSocket(`${location.origin.replace(/^http/, "ws")}/console/networks/${networkId}/live`);
  let opened = false;
  ws.addEventListener("open", () => {
    opened = true;
    retry = 500;
    resync()
      .then(() => (status.textContent = "Live: changes appear as they happen."))
      .catch(() => (status.textContent = "Live, but the table could not be refreshed; reload the page."));
  });
  ws.addEventListener("message", (e) => {
    const event = JSON.parse(e.data);
    if (event.network_id !== undefined && String(event.network_id) !== networkId) return;
    if (event.type === "member_added") {
      if (!tbody.querySelector(`tr[data-node-id="${event.member.node_id}"]`)) memberCount++;
      upsertRow(event.member, tbody.rows.length < SHOWN);
    } else if (event.type === "member_updated") upsertRow(event.member, false);
    else if (event.type === "member_removed") {
      memberCount = Math.max(0, memberCount - 1);
      removeRow(event.node_id);
    } else if (event.type === "presence") {
      const row = tbody.querySelector(`tr[data-node-id="${event.node_id}"]`);
      if (row) setOnline(row, event.online);
    } else if (event.type === "network_deleted") location.assign("/console");
  });
  ws.addEventListener("close", async (e) => {
    status.textContent = "Live updates paused; reconnecting…";
    if (e.code === 4003 || (!opened && !(await stillWelcome()))) {
      status.textContent = "Signed out: live updates stopped.";
      if (e.code === 4003) location.assign("/console/sign-in");
      return;
    }
    setTimeout(() => live(Math.min(retry * 2, 15000)), retry);
  });
}

if (networkId && tbody) live();
