/**
 * The Pilot Console's own script, served as /console/app.js (scripts/build-console.ts bundles it):
 * forms and buttons call the registry's JSON API with the session's CSRF token, and the network
 * page keeps its Active Nodes table, its receipts and its audit log live over a WebSocket. Everything shown is set with
 * textContent, never parsed as HTML.
 */
import { buttonActions, formActions } from "./actions.ts";
import { data, element, showError, toast } from "./dom.ts";
import { liveAudit } from "./live-audit.ts";
import { liveMembers } from "./live-members.ts";
import { liveRevocations } from "./live-revocations.ts";
import { checkAsTyped } from "./network-name.ts";
import { policyEditor } from "./policy-editor.ts";

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

document.addEventListener("submit", async (e) => {
  const form = e.target instanceof Element ? e.target.closest<HTMLFormElement>("form[data-action]") : null;
  if (!form) return;
  e.preventDefault();
  showError(form, "");
  try {
    await formActions[form.dataset.action ?? ""]?.(form);
  } catch (err) {
    showError(form, message(err));
  }
});

document.addEventListener("click", async (e) => {
  if (!(e.target instanceof Element)) return;
  const copy = e.target.closest<HTMLElement>("[data-copy]");
  if (copy) {
    const input = element(data(copy, "copy"), HTMLInputElement);
    input.select();
    try {
      await navigator.clipboard.writeText(input.value);
      toast("Copied.");
    } catch {
      toast("Selected: press Ctrl+C to copy.");
    }
    return;
  }
  const button = e.target.closest<HTMLButtonElement>("button[data-action]");
  if (!button || button.type === "submit") return;
  try {
    await buttonActions[button.dataset.action ?? ""]?.(button);
  } catch (err) {
    toast(message(err));
  }
});

const nameInput = document.querySelector<HTMLInputElement>('form[data-action="create-network"] input[name="name"]');
if (nameInput) checkAsTyped(nameInput);

const networkId = document.querySelector<HTMLElement>("[data-network-id]")?.dataset.networkId;
const members = document.querySelector<HTMLTableSectionElement>("[data-members] tbody");
const revocations = document.querySelector<HTMLUListElement>("[data-revocations]");
const policyRoot = document.querySelector<HTMLElement>("[data-policy]");
const audit = document.querySelector<HTMLTableSectionElement>("[data-audit] tbody");
const policy = networkId && policyRoot ? policyEditor(networkId, policyRoot) : undefined;
if (networkId && members && revocations && audit) {
  liveMembers(networkId, members, [liveRevocations(networkId, revocations), liveAudit(networkId, audit)], (type) => policy?.changed(type));
}
