/**
 * What the console's forms and buttons do, by their data-action: each calls the registry's JSON
 * API and says what happened in words. What they throw, app.ts shows to the person.
 */
import {
  parseNodeRef,
  type AddMemberRequest,
  type AddMemberResponse,
  type CreateApiTokenRequest,
  type CreatedApiToken,
  type CreatedEnrollmentKey,
  type CreateEnrollmentKeyRequest,
  type CreateJoinLinkRequest,
  type CreateNetworkRequest,
  type Credentials,
  type Network,
  type RotateTokenRequest,
} from "@pilot/protocol";
import type { z } from "zod";
import { api } from "./api.ts";
import { data, element, toast } from "./dom.ts";
import { isNetworkName, NAME_RULE } from "./network-name.ts";

type Action<T extends HTMLElement> = (el: T) => Promise<void>;

/** The network page's network: its ID and its name. */
const network = () => {
  const el = element("[data-network-id]", HTMLElement);
  return { id: data(el, "networkId"), name: data(el, "networkName") };
};

/** The form's fields as text; a field the browser leaves out (an unticked box) reads as empty. */
function fields(form: HTMLFormElement): (name: string) => string {
  const values = new FormData(form);
  return (name) => String(values.get(name) ?? "");
}

/** Signs in, or up: either way the registry answers with a session cookie. */
async function startSession(form: HTMLFormElement, path: string) {
  const f = fields(form);
  await api("POST", path, { email: f("email"), password: f("password") } satisfies Credentials);
  location.assign("/console");
}

export const formActions: Record<string, Action<HTMLFormElement>> = {
  "sign-in": (form) => startSession(form, "/v1/sessions"),
  async "sign-up"(form) {
    if (fields(form)("password").length < 10) throw new Error("The password needs at least 10 characters.");
    await startSession(form, "/v1/accounts");
  },
  async "create-network"(form) {
    const f = fields(form);
    const name = f("name");
    if (!isNetworkName(name)) throw new Error(NAME_RULE);
    const body = { name, join_rule: f("join_rule") as CreateNetworkRequest["join_rule"] } satisfies CreateNetworkRequest;
    const net = await api<Network>("POST", "/v1/networks", body);
    location.assign(`/console/networks/${net.network_id}`);
  },
  async "add-node"(form) {
    const node = fields(form)("node").trim();
    if (!node) throw new Error("Enter a node ID, a Pilot address or a hostname.");
    const result = element("[data-result]", HTMLElement, form.parentElement ?? document);
    result.textContent = "";
    const r = await api<AddMemberResponse>("POST", `/v1/networks/${network().id}/members`, { node } satisfies z.input<typeof AddMemberRequest>);
    form.reset();
    if (r.result !== "invited") {
      result.textContent = r.result === "added" ? `Added node ${r.node_id} (${r.address}).` : `Node ${r.node_id} is already a member.`;
      return;
    }
    // The answer is the same whether or not such a node exists, so say only what happens if it does.
    const who = parseNodeRef(node)?.kind === "hostname" ? `an agent named "${node}"` : `node ${node}`;
    result.textContent = `Invitation sent: if ${who} exists, its daemon is told now and it can accept within 7 days. If there is no such node, nothing happens. `;
    const withdraw = document.createElement("button");
    withdraw.type = "button";
    withdraw.className = "secondary";
    withdraw.dataset.action = "withdraw-invitation";
    withdraw.dataset.node = node;
    withdraw.textContent = "Withdraw invitation";
    result.append(withdraw);
  },
  async "delete-network"(form) {
    const { id, name } = network();
    if (fields(form)("confirm") !== name) throw new Error("Type the network's exact name to delete it.");
    await api("DELETE", `/v1/networks/${id}`);
    location.assign("/console");
  },
  async "create-link"(form) {
    const f = fields(form);
    const body: CreateJoinLinkRequest = { label: f("label").trim() };
    if (!body.label) throw new Error("Label the link: say what or whom it is for.");
    if (f("max_uses")) body.max_uses = Number(f("max_uses"));
    if (f("expires_hours")) body.expires_at = new Date(Date.now() + Number(f("expires_hours")) * 3_600_000).toISOString();
    if (f("token")) body.token = f("token");
    await api("POST", `/v1/networks/${network().id}/links`, body);
    location.reload();
  },
  async "create-key"(form) {
    const f = fields(form);
    const body: CreateEnrollmentKeyRequest = { description: f("description").trim(), reusable: f("reusable") === "on" };
    if (!body.description) throw new Error("Describe what the key is for.");
    if (f("max_uses")) body.max_uses = Number(f("max_uses"));
    if (f("expires_days")) body.expires_in_seconds = Number(f("expires_days")) * 86400;
    const key = await api<z.infer<typeof CreatedEnrollmentKey>>("POST", "/v1/account/enrollment-keys", body);
    revealSecret(form, key.key);
  },
  async "create-token"(form) {
    const name = fields(form)("name").trim();
    if (!name) throw new Error("Name the token.");
    const token = await api<z.infer<typeof CreatedApiToken>>("POST", "/v1/account/tokens", { name } satisfies z.input<typeof CreateApiTokenRequest>);
    revealSecret(form, token.token);
  },
};

export const buttonActions: Record<string, Action<HTMLButtonElement>> = {
  async "sign-out"() {
    // Even if the session had already expired, the way out is the sign-in page.
    await api("DELETE", "/v1/session").catch(() => undefined);
    location.assign("/console/sign-in");
  },
  async "withdraw-invitation"(button) {
    const node = data(button, "node");
    await api("DELETE", `/v1/networks/${network().id}/invitations/${encodeURIComponent(node)}`);
    const result = button.closest("[data-result]");
    if (result) result.textContent = `Invitation to ${node} withdrawn.`;
  },
  async "remove-node"(button) {
    const nodeId = data(button, "nodeId");
    await api("DELETE", `/v1/networks/${network().id}/members/${nodeId}`);
    toast(`Removed node ${nodeId}.`);
  },
  async "rotate-token"() {
    await api<Network>("POST", `/v1/networks/${network().id}/token`, {} satisfies z.input<typeof RotateTokenRequest>);
    // The page shows the token in the join card and in the links table: both are read afresh.
    location.reload();
  },
  async "revoke-link"(button) {
    await api("DELETE", `/v1/networks/${network().id}/links/${data(button, "id")}`);
    location.reload();
  },
  async "ask-delete"() {
    element("[data-delete-dialog]", HTMLDialogElement).showModal();
  },
  async "cancel-delete"() {
    element("[data-delete-dialog]", HTMLDialogElement).close();
  },
  async "revoke-key"(button) {
    await api("DELETE", `/v1/account/enrollment-keys/${data(button, "id")}`);
    location.reload();
  },
  async "revoke-token"(button) {
    await api("DELETE", `/v1/account/tokens/${data(button, "id")}`);
    location.reload();
  },
};

/** Shows a new key or token once, in its section's secret box, and says where it will be listed. */
function revealSecret(form: HTMLFormElement, value: string) {
  const section = form.closest("section");
  if (!section) throw new Error("The page lacks the form's section; reload it.");
  const box = element("[data-secret]", HTMLElement, section);
  box.hidden = false;
  element("[data-secret-value]", HTMLInputElement, box).value = value;
  form.reset();
  const empty = section.nextElementSibling;
  if (empty?.classList.contains("empty")) empty.textContent = "Created. Copy it above now; the list shows it (without its value) when you reload.";
}
