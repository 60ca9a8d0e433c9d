/**
 * The network page's port policy: the editor and its preview, the members' tags, and the owner's
 * "why" check. It holds the members (with their tags) and the saved policy as the registry sent
 * them; the draft lives in the form. What the preview shows comes from policy-preview.ts. A
 * registry that cannot answer the policy routes leaves the rest of the page working: the section
 * says so, and drafting and the preview still work. Everything shown is set with textContent.
 */
import {
  evaluate,
  POLICY_PROTOCOLS,
  MAX_PORT,
  type MemberPage,
  type TagsRequest,
  type Policy,
  type PolicyCheckRequest,
  type PolicyProtocol,
  type PolicyRequest,
  type Rule,
  type Verdict,
} from "@pilot/protocol";
import { api } from "./api.ts";
import { element } from "./dom.ts";
import { SHOWN } from "./live-members.ts";
import {
  describeGrant,
  describeRule,
  DraftError,
  formatPorts,
  memberName,
  parsePorts,
  parseRuleTag,
  parseTags,
  portsToward,
  tagMatrix,
  tagsOf,
  unknownTags,
  type Grant,
  type TaggedMember,
} from "./policy-preview.ts";

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));
const tagWords = (tags: readonly string[]) => (tags.length ? tags.join(", ") : "no tags");

/** A cell, row or option with its text set, never parsed as HTML. */
function make<K extends keyof HTMLElementTagNameMap>(tag: K, text = "", props: Partial<HTMLElementTagNameMap[K]> = {}): HTMLElementTagNameMap[K] {
  const el = Object.assign(document.createElement(tag), props);
  if (text) el.textContent = text;
  return el;
}

export interface PolicyEditor {
  /** Told of the network's live events: members, tags and the policy may have changed. */
  changed(type: string): void;
}

export function policyEditor(networkId: string, root: HTMLElement): PolicyEditor {
  const find = <T extends Element>(selector: string, type: { new (): T; prototype: T }) => element(selector, type, root);
  const form = find("[data-policy-form]", HTMLFormElement);
  const rules = find("[data-rules]", HTMLTableElement);
  const rulesBody = find("[data-rules] tbody", HTMLTableSectionElement);
  const selfTagging = find("[data-self-tagging]", HTMLInputElement);
  const status = find("[data-policy-status]", HTMLElement);
  const policyError = find("[data-policy-error]", HTMLElement);
  const previewNode = find("[data-preview-node]", HTMLSelectElement);
  const tagsTable = find("[data-member-tags]", HTMLTableElement);
  const tagsError = find("[data-tags-error]", HTMLElement);
  const tagsResult = find("[data-tags-result]", HTMLElement);
  const base = `/v1/networks/${networkId}`;

  let members: TaggedMember[] = [];
  /** Whether the tags' error line says the members could not be loaded (the next load clears it). */
  let membersUnloaded = false;
  /** The policy as saved, or null while the registry has not given it. */
  let saved: (PolicyRequest & { revision: number }) | null = null;
  let loadProblem = "";
  /** The draft as the form read right after the saved policy was put in it: unchanged means not dirty. */
  let savedDraft = "";
  /** The revision this page itself saved last: its status says so until another change replaces it. */
  let savedHere: number | null = null;

  // ── The draft, in the form ──

  function addRuleRow(rule?: Rule): HTMLTableRowElement {
    const row = make("tr");
    const input = (field: string, value: string, label: string) => {
      const td = make("td");
      td.append(make("input", "", { name: field, value, autocomplete: "off", ariaLabel: label }));
      if (field !== "ports") td.querySelector("input")?.setAttribute("list", "policy-tags");
      return td;
    };
    row.append(make("th", "", { scope: "row" }));
    row.append(input("from", rule?.from ?? "", "From tag"), input("to", rule?.to ?? "", "To tag"), input("ports", rule ? formatPorts(rule.ports) : "", "Ports"));
    for (const protocol of POLICY_PROTOCOLS) {
      const td = make("td");
      td.append(make("input", "", { type: "checkbox", name: protocol, checked: rule ? rule.protocols.includes(protocol) : true, ariaLabel: protocol }));
      row.append(td);
    }
    const td = make("td");
    td.append(make("button", "Remove", { type: "button", className: "danger small", ariaLabel: "Remove rule" }));
    td.querySelector("button")?.setAttribute("data-remove-rule", "");
    row.append(td);
    rulesBody.append(row);
    return row;
  }

  /** The form's rules, or what keeps each from being one, in words. */
  function readDraft(): { draft: PolicyRequest; problems: string[] } {
    const problems: string[] = [];
    const draft: PolicyRequest = { self_tagging: selfTagging.checked, rules: [] };
    [...rulesBody.rows].forEach((row, i) => {
      const field = (name: string) => element(`input[name="${name}"]`, HTMLInputElement, row);
      const read = <T>(name: string, parse: (text: string) => T): T | undefined => {
        field(name).removeAttribute("aria-invalid");
        try {
          return parse(field(name).value);
        } catch (err) {
          if (!(err instanceof DraftError)) throw err;
          field(name).setAttribute("aria-invalid", "true");
          problems.push(`Rule ${i + 1}: ${err.message}.`);
          return undefined;
        }
      };
      const from = read("from", (t) => parseRuleTag(t, "from"));
      const to = read("to", (t) => parseRuleTag(t, "to"));
      const ports = read("ports", parsePorts);
      const protocols = POLICY_PROTOCOLS.filter((p) => field(p).checked);
      if (protocols.length === 0) problems.push(`Rule ${i + 1}: tick stream, datagram or both.`);
      if (from !== undefined && to !== undefined && ports !== undefined && protocols.length > 0) draft.rules.push({ from, to, ports, protocols });
    });
    return { draft, problems };
  }

  function fillForm(policy: PolicyRequest) {
    selfTagging.checked = policy.self_tagging;
    rulesBody.replaceChildren();
    for (const rule of policy.rules) addRuleRow(rule);
  }

  // ── What the draft allows ──

  function renderMatrix(draft: PolicyRequest) {
    const matrix = find("[data-matrix]", HTMLTableElement);
    const { tags, cells } = tagMatrix(draft, members);
    matrix.hidden = draft.rules.length === 0 || tags.length === 0;
    const head = make("tr");
    head.append(make("th", "From ↓ · to →", { scope: "col" }), ...tags.map((t) => make("th", t, { scope: "col" })));
    matrix.tHead?.replaceChildren(head);
    matrix.tBodies[0]?.replaceChildren(
      ...tags.map((from, i) => {
        const row = make("tr");
        row.dataset.from = from;
        row.append(make("th", from, { scope: "row" }), ...tags.map((to, j) => grantCell(cells[i]![j]!, { to })));
        return row;
      }),
    );
  }

  function grantCell(grant: Grant, data: Record<string, string>) {
    const words = describeGrant(grant);
    const td = make("td", words === "nothing" ? "—" : words, words === "nothing" ? { className: "deny" } : {});
    Object.assign(td.dataset, data);
    return td;
  }

  function renderToward(draft: PolicyRequest) {
    const table = find("[data-toward]", HTMLTableElement);
    const chosen = Number(previewNode.value);
    const rows = portsToward(draft, members, chosen);
    table.hidden = rows.length === 0;
    table.tBodies[0]?.replaceChildren(
      ...rows.map(({ member, grant }) => {
        const row = make("tr");
        row.dataset.nodeId = String(member.node_id);
        row.append(make("td", memberName(member)), make("td", tagWords(tagsOf(member, draft))), grantCell(grant, { col: "may-open" }));
        return row;
      }),
    );
  }

  /** Everything that follows the draft: validity, warnings, the preview, tags in effect. */
  function render() {
    const { draft, problems } = readDraft();
    rules.hidden = rulesBody.rows.length === 0;
    find("[data-rules-empty]", HTMLElement).hidden = rulesBody.rows.length > 0;
    [...rulesBody.rows].forEach((row, i) => {
      row.cells[0]!.textContent = String(i + 1);
      row.querySelector("[data-remove-rule]")?.setAttribute("aria-label", `Remove rule ${i + 1}`);
    });
    policyError.textContent = problems.join(" ");
    const dirty = JSON.stringify(draft) !== savedDraft || problems.length > 0;
    status.textContent = saved
      ? dirty
        ? "Unsaved changes: the preview shows the draft; the registry enforces the saved policy until you save."
        : saved.revision === savedHere
          ? `Saved (revision ${saved.revision}): connected agents apply it now.`
          : `Saved (revision ${saved.revision}). The preview shows what is enforced now.`
      : loadProblem;

    const unknown = unknownTags(draft, members);
    find("[data-policy-warning]", HTMLElement).textContent = unknown.length
      ? `No member carries ${unknown.map((t) => `"${t}"`).join(", ")} yet: rules naming ${unknown.length === 1 ? "it" : "them"} grant nothing until a member has ${unknown.length === 1 ? "it" : "them"}.`
      : "";
    const known = new Set([...members.flatMap((m) => tagsOf(m, draft)), ...draft.rules.flatMap((r) => [r.from, r.to])]);
    find("#policy-tags", HTMLDataListElement).replaceChildren(...[...known].sort().map((t) => make("option", "", { value: t })));

    const note = find("[data-preview-note]", HTMLElement);
    note.textContent =
      problems.length > 0
        ? "Fix the rules above to see the preview."
        : draft.rules.length === 0
          ? "No rules: every member may open every port of every other member, stream and datagram."
          : "A member with several tags may open what any of its tags may.";
    find("[data-matrix]", HTMLTableElement).hidden = true;
    find("[data-toward]", HTMLTableElement).hidden = true;
    if (problems.length === 0) {
      renderMatrix(draft);
      renderToward(draft);
    }
    for (const row of tagsTable.tBodies[0]?.rows ?? []) {
      const m = members.find((x) => String(x.node_id) === row.dataset.nodeId);
      const cell = row.querySelector("[data-effective]");
      if (m && cell) cell.textContent = tagWords(tagsOf(m, draft));
    }
  }

  // ── Members and their tags ──

  function renderMembers() {
    const options = () => members.map((m) => make("option", `${memberName(m)} (node ${m.node_id})`, { value: String(m.node_id) }));
    for (const select of [previewNode, ...root.querySelectorAll<HTMLSelectElement>("[data-member-select]")]) {
      const chosen = select.value;
      select.replaceChildren(...options());
      if (members.some((m) => String(m.node_id) === chosen)) select.value = chosen;
    }
    const whyTo = find("#why-to", HTMLSelectElement);
    if (whyTo.value === find("#why-from", HTMLSelectElement).value && whyTo.options.length > 1) whyTo.selectedIndex = 1;

    // A live change rebuilds the rows: what the owner is typing there survives it, keeps focus,
    // and stays marked invalid if it was refused.
    const typed = new Map<string, { value: string; invalid: boolean }>();
    for (const input of tagsTable.querySelectorAll<HTMLInputElement>('input[name="tags"]')) {
      if (input.value !== input.defaultValue) {
        typed.set(input.closest("tr")?.dataset.nodeId ?? "", { value: input.value, invalid: input.getAttribute("aria-invalid") === "true" });
      }
    }
    const active = document.activeElement instanceof HTMLElement && tagsTable.contains(document.activeElement) ? document.activeElement : null;
    const focused = active && `tr[data-node-id="${active.closest("tr")?.dataset.nodeId}"] ${active instanceof HTMLInputElement ? "input" : "button"}`;
    tagsTable.hidden = members.length === 0;
    tagsTable.tBodies[0]?.replaceChildren(
      ...members.map((m) => {
        const row = make("tr");
        row.dataset.nodeId = String(m.node_id);
        const assignedTags = (m.tags ?? []).join(" ");
        const input = make("input", "", { name: "tags", defaultValue: assignedTags, autocomplete: "off", ariaLabel: `Tags of ${memberName(m)}` });
        const kept = typed.get(String(m.node_id));
        input.value = kept?.value ?? assignedTags;
        if (kept?.invalid) input.setAttribute("aria-invalid", "true");
        const assigned = make("td");
        assigned.append(input);
        const button = make("button", "Save tags", { type: "button", className: "secondary small", ariaLabel: `Save tags of ${memberName(m)}` });
        button.dataset.saveTags = String(m.node_id);
        const action = make("td");
        action.append(button);
        const effective = make("td");
        effective.dataset.effective = "";
        row.append(make("th", memberName(m), { scope: "row" }), assigned, make("td", tagWords(m.requested_tags ?? [])), effective, action);
        return row;
      }),
    );
    if (focused) tagsTable.querySelector<HTMLElement>(focused)?.focus();
  }

  async function loadMembers() {
    try {
      members = (await api<MemberPage>("GET", `${base}/members?limit=${SHOWN}`)).members;
      // Only a failed load's own message goes: tags the owner was refused stay on screen through live changes.
      if (membersUnloaded) tagsError.textContent = "";
      membersUnloaded = false;
    } catch (err) {
      tagsError.textContent = `The members could not be loaded: ${message(err)}`;
      membersUnloaded = true;
    }
    renderMembers();
    render();
  }

  function applyPolicy(policy: Policy) {
    saved = { self_tagging: policy.self_tagging, rules: policy.rules, revision: policy.revision };
    fillForm(saved);
    savedDraft = JSON.stringify(readDraft().draft);
    render();
  }

  async function loadPolicy() {
    try {
      const policy = await api<Policy>("GET", `${base}/policy`);
      // The push for this page's own save can come after its answer: the same revision changes nothing.
      if (saved?.revision === policy.revision) return;
      applyPolicy(policy);
    } catch (err) {
      loadProblem = `The policy could not be loaded (${message(err)}). You can still draft rules and see what they would allow; saving says whether the registry accepts them.`;
      render();
    }
  }

  async function saveTags(nodeId: string) {
    const row = element(`tr[data-node-id="${nodeId}"]`, HTMLTableRowElement, tagsTable);
    const input = element('input[name="tags"]', HTMLInputElement, row);
    tagsError.textContent = tagsResult.textContent = "";
    membersUnloaded = false;
    input.removeAttribute("aria-invalid");
    try {
      const tags = parseTags(input.value);
      const updated = await api<TaggedMember>("PUT", `${base}/members/${nodeId}/tags`, { tags } satisfies TagsRequest);
      // Saved, the field no longer counts as being typed in.
      input.defaultValue = input.value = (updated.tags ?? tags).join(" ");
      members = members.map((m) => (m.node_id === updated.node_id ? { ...m, ...updated } : m));
      renderMembers();
      render();
      tagsResult.textContent = `Tags of ${memberName(updated)} saved: ${tagWords(updated.tags ?? tags)}.`;
    } catch (err) {
      input.setAttribute("aria-invalid", "true");
      tagsError.textContent = err instanceof DraftError ? err.message : `Not saved: ${message(err)}`;
    }
  }

  // ── Saving, and the owner's check ──

  async function save() {
    const { draft, problems } = readDraft();
    if (problems.length > 0) return;
    find("[data-policy-save]", HTMLButtonElement).disabled = true;
    try {
      const policy = await api<Policy>("PUT", `${base}/policy`, draft);
      savedHere = policy.revision;
      applyPolicy(policy);
    } catch (err) {
      policyError.textContent = `Not saved: ${message(err)}`;
    } finally {
      find("[data-policy-save]", HTMLButtonElement).disabled = false;
    }
  }

  /** The registry's answer in words, and what the unsaved draft would answer if it differs. */
  function explain(check: Verdict, from: TaggedMember, to: TaggedMember, port: number, protocol: PolicyProtocol): string {
    const what = `${memberName(from)} → ${memberName(to)}, ${protocol} port ${port}`;
    const policy = saved ?? { self_tagging: false, rules: [] };
    const rule = check.rule === null ? undefined : policy.rules[check.rule];
    let words =
      check.reason === "no_policy"
        ? `Allowed: ${what}. This network has no rules, so its members reach every port of each other.`
        : check.allowed
          ? `Allowed: ${what}, by rule ${(check.rule ?? 0) + 1}${rule ? ` (${describeRule(rule)})` : ""}.`
          : `Not allowed through this network: ${what}. No rule lets ${tagWords(tagsOf(from, policy))} open it on ${tagWords(tagsOf(to, policy))}. Trust made by handshake, or another network they share, may still let it through.`;
    const { draft, problems } = readDraft();
    if (problems.length === 0 && JSON.stringify(draft) !== savedDraft) {
      const v = evaluate(draft, tagsOf(from, draft), tagsOf(to, draft), port, protocol);
      words += ` With your unsaved changes it would be ${v.reason === "rule" ? `allowed by rule ${(v.rule ?? 0) + 1}` : v.allowed ? "allowed (no rules)" : "not allowed"}.`;
    }
    return words;
  }

  async function why(whyForm: HTMLFormElement) {
    const values = new FormData(whyForm);
    const [from, to] = [String(values.get("from") ?? ""), String(values.get("to") ?? "")];
    const port = Number(values.get("port"));
    const protocol = String(values.get("protocol")) as PolicyProtocol;
    const errorLine = find("[data-why-error]", HTMLElement);
    const result = find("[data-why-result]", HTMLElement);
    errorLine.textContent = result.textContent = "";
    const [a, b] = [from, to].map((id) => members.find((m) => String(m.node_id) === id));
    if (!a || !b) return void (errorLine.textContent = "Pick two members.");
    if (a === b) return void (errorLine.textContent = "Pick two different members.");
    if (!Number.isInteger(port) || port < 1 || port > MAX_PORT) return void (errorLine.textContent = `A port is a whole number from 1 to ${MAX_PORT}.`);
    try {
      const check = await api<Verdict>("POST", `${base}/policy/check`, { from, to, port, protocol } satisfies PolicyCheckRequest);
      result.textContent = explain(check, a, b, port, protocol);
      result.className = check.allowed ? "result" : "warning";
    } catch (err) {
      errorLine.textContent = `The registry could not check it: ${message(err)}`;
    }
  }

  // ── Wiring ──

  form.addEventListener("input", render);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void save();
  });
  root.addEventListener("click", (e) => {
    const target = e.target instanceof Element ? e.target : null;
    if (target?.closest("[data-policy-add]")) {
      addRuleRow().querySelector("input")?.focus();
      render();
    }
    const remove = target?.closest("[data-remove-rule]");
    if (remove) {
      remove.closest("tr")?.remove();
      render();
    }
    const saveButton = target?.closest<HTMLElement>("[data-save-tags]");
    if (saveButton?.dataset.saveTags) void saveTags(saveButton.dataset.saveTags);
  });
  const whyForm = find("[data-why-form]", HTMLFormElement);
  whyForm.addEventListener("submit", (e) => {
    e.preventDefault();
    void why(whyForm);
  });

  loadProblem = "Loading the policy…";
  void loadMembers().then(loadPolicy);

  return {
    changed(type) {
      if (!["member_added", "member_removed", "member_updated", "policy_updated", "resync"].includes(type)) return;
      void loadMembers();
      // A policy changed elsewhere replaces the form only if nobody is editing it here.
      if (type === "policy_updated" && saved && JSON.stringify(readDraft().draft) === savedDraft) void loadPolicy();
    },
  };
}
