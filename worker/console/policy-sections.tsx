/** @jsxImportSource hono/jsx */
/**
 * The network page's tags and port policy: the editor with its preview, the members' tags, and the
 * owner's "why" check. The page renders the frame; /console/app.js (policy-editor.ts) loads the
 * policy and the members' tags through the JSON API and fills it.
 */
import { MAX_PORT, TAG_RULE } from "@pilot/protocol";
import { Columns } from "./layout.tsx";

export function PolicySections() {
  return (
    <div data-policy>
      <section class="card" aria-labelledby="policy-h">
        <h2 id="policy-h">Port policy</h2>
        <p class="hint">
          With no rules, members reach every port of each other, stream and datagram. With rules, a member reaches another through this network only on
          what some rule grants: a member tagged <em>from</em> may open the listed ports of a member tagged <em>to</em>. <code>*</code> means any member.
          Trust made by handshake, and public agents, still reach every port; another network two agents share may allow what this one does not.
        </p>
        <p class="muted" role="status" data-policy-status>
          Loading the policy…
        </p>
        <form data-policy-form novalidate>
          <label class="inline">
            <input type="checkbox" name="self_tagging" data-self-tagging /> Count the tags agents ask for themselves (<code>pilotctl set-tags</code>)
          </label>
          <p class="hint">Off by default: an agent that could tag itself could give itself whatever a rule opens to that tag.</p>
          <p class="empty" data-rules-empty>
            No rules: every member reaches every port of every other member. Add a rule to allow only what it names.
          </p>
          <div class="scroll">
            <table data-rules hidden>
              <Columns names={["#", "From tag", "To tag", `Ports (1-${MAX_PORT}, ranges as 8000-8999)`, "Stream", "Datagram"]} actions />
              <tbody></tbody>
            </table>
          </div>
          <datalist id="policy-tags"></datalist>
          <button type="button" class="secondary" data-policy-add>
            Add rule
          </button>
          <p class="warning" role="status" data-policy-warning></p>
          <p class="error" role="alert" data-policy-error></p>

          <h3>Before you save: who may reach whom</h3>
          <p class="muted" data-preview-note></p>
          <div class="scroll">
            <table class="matrix" data-matrix hidden>
              <thead></thead>
              <tbody></tbody>
            </table>
          </div>
          <label for="preview-node">What each member may open to</label>
          <select id="preview-node" data-preview-node></select>
          <div class="scroll">
            <table data-toward hidden>
              <Columns names={["Member", "Its tags", "May open"]} />
              <tbody></tbody>
            </table>
          </div>
          <button type="submit" data-policy-save>
            Save policy
          </button>
        </form>
      </section>

      <section class="card" aria-labelledby="tags-h">
        <h2 id="tags-h">Member tags</h2>
        <p class="hint">
          Tags are seen only by the network's members. Each is {TAG_RULE}; separate them with spaces. What an agent asks for itself counts only when the
          policy lets agents tag themselves.
        </p>
        <p class="error" role="alert" data-tags-error></p>
        <p class="result" role="status" data-tags-result></p>
        <div class="scroll">
          <table data-member-tags hidden>
            <Columns names={["Member", "Tags you assign", "Asked for by the agent", "In effect"]} actions />
            <tbody></tbody>
          </table>
        </div>
      </section>

      <section class="card" aria-labelledby="why-h">
        <h2 id="why-h">Why can't one member reach another?</h2>
        <p class="hint">Asks the registry what the saved policy allows between two members of this network.</p>
        <form data-why-form class="row" novalidate>
          <div>
            <label for="why-from">From</label>
            <select id="why-from" name="from" data-member-select></select>
          </div>
          <div>
            <label for="why-to">To</label>
            <select id="why-to" name="to" data-member-select></select>
          </div>
          <div>
            <label for="why-port">Port</label>
            <input id="why-port" name="port" type="number" min={1} max={MAX_PORT} required value="80" />
          </div>
          <div>
            <label for="why-protocol">Protocol</label>
            <select id="why-protocol" name="protocol">
              <option value="stream">stream</option>
              <option value="datagram">datagram</option>
            </select>
          </div>
          <button type="submit">Check</button>
        </form>
        <p class="error" role="alert" data-why-error></p>
        <p class="result" role="status" data-why-result></p>
      </section>
    </div>
  );
}
