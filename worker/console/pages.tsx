/** @jsxImportSource hono/jsx */
/** The console's pages. They show data; /console/app.js makes the buttons and the live table work. */
import {
  CUSTOM_JOIN_TOKEN_MIN_LENGTH,
  HOSTNAME_PATTERN,
  HOSTNAME_RULE,
  MAX_JOIN_LINK_USES,
  MAX_LIVE_JOIN_LINKS,
  PASSWORD_MIN_LENGTH,
  type AccountAuditEntry,
  type AuditEntry,
  type Member,
  type Network,
  type NetworkJoinLink,
  type RevocationSummary,
} from "@pilot/protocol";
import type { PlanUsage } from "../accounts/plan.ts";
import type { keyView, tokenView } from "../accounts/views.ts";
import { accountAuditCells, auditCells } from "./audit-line.ts";
import { Columns, Layout } from "./layout.tsx";
import { PolicySections } from "./policy-sections.tsx";
import { pendingLine, revocationLine } from "./revocation-line.ts";
import { isLoopback, LOOPBACK_NOTE } from "../origin.ts";

type KeyRow = ReturnType<typeof keyView>;
type TokenRow = ReturnType<typeof tokenView>;

interface Session {
  csrf: string;
  email: string;
}

const when = (iso: string | null) => (iso ? iso.replace("T", " ").slice(0, 16) + " UTC" : "—");

/** What a person of a suspended account sees instead of the console: the operator's message, and a way to sign out. */
export function SuspendedPage(props: Session & { message: string }) {
  return (
    <Layout title="Account suspended" csrf={props.csrf} email={props.email}>
      <section class="card narrow">
        <h1>Account suspended</h1>
        <p role="alert">{props.message}</p>
      </section>
    </Layout>
  );
}

export function AuthPage(props: { mode: "sign-in" | "sign-up" }) {
  const signUp = props.mode === "sign-up";
  return (
    <Layout title={signUp ? "Sign up" : "Sign in"}>
      <section class="card narrow">
        <h1>{signUp ? "Create your account" : "Sign in"}</h1>
        <form data-action={props.mode} novalidate>
          <label for="email">Email</label>
          <input id="email" name="email" type="email" autocomplete="email" required />
          <label for="password">Password</label>
          <input id="password" name="password" type="password" autocomplete={signUp ? "new-password" : "current-password"} minlength={PASSWORD_MIN_LENGTH} required />
          {signUp ? <p class="hint">{`At least ${PASSWORD_MIN_LENGTH} characters.`}</p> : null}
          <p class="error" role="alert" data-error></p>
          <button type="submit">{signUp ? "Sign up" : "Sign in"}</button>
        </form>
        <p class="muted">
          {signUp ? (
            <>
              Have an account? <a href="/console/sign-in">Sign in</a>
            </>
          ) : (
            <>
              New here? <a href="/console/sign-up">Create an account</a>
            </>
          )}
        </p>
      </section>
    </Layout>
  );
}

/** `howToGetMore`: the operator's words on getting more (worker/accounts/upgrade.ts), shown once the plan is used up. */
export function NetworksPage(props: Session & { networks: Network[]; plan: PlanUsage; howToGetMore: string }) {
  const { plan } = props;
  return (
    <Layout title="Networks" csrf={props.csrf} email={props.email}>
      <h1>Networks</h1>
      <p class="muted" data-plan>
        {`${plan.networks} of ${plan.max_networks} network${plan.max_networks === 1 ? "" : "s"} on the ${plan.plan} plan, up to ${plan.max_members} agents each.`}
      </p>
      {plan.networks >= plan.max_networks ? <p class="hint" data-upgrade>{`Your plan allows no more networks; ${props.howToGetMore}.`}</p> : null}
      {props.networks.length === 0 ? (
        <p class="empty">No networks yet. Create one below, then add your agents to it.</p>
      ) : (
        <ul class="networks">
          {props.networks.map((n) => (
            <li>
              <a href={`/console/networks/${n.network_id}`}>{n.name}</a>
              <span class="muted">{`network ${n.network_id} · ${n.join_rule === "token" ? "token-gated" : "invite only"}`}</span>
              <span class="usage">{`${n.members} of ${n.max_members} agents`}</span>
            </li>
          ))}
        </ul>
      )}
      <section class="card">
        <h2>Create Network</h2>
        <form data-action="create-network" novalidate>
          <label for="name">Name</label>
          <input id="name" name="name" required maxlength={63} pattern={HOSTNAME_PATTERN.source} aria-describedby="name-rule" autocomplete="off" />
          <p id="name-rule" class="hint">
            {HOSTNAME_RULE}, for example <code>research-lab</code>.
          </p>
          <fieldset>
            <legend>Who can join</legend>
            <label class="inline">
              <input type="radio" name="join_rule" value="invite" checked /> Invite only: you add each agent
            </label>
            <label class="inline">
              <input type="radio" name="join_rule" value="token" /> Token-gated: anyone with the join token
            </label>
          </fieldset>
          <p class="error" role="alert" data-error></p>
          <button type="submit">Create network</button>
        </form>
      </section>
    </Layout>
  );
}

function MemberRow(props: { m: Member }) {
  const m = props.m;
  // A suspended member is still one (the owner may remove it), but grants nothing until restored.
  const status = m.suspended ? "suspended by the registry's operator" : m.online ? "online" : "offline";
  return (
    <tr data-node-id={String(m.node_id)}>
      <td data-col="online" data-suspended={String(m.suspended === true)}>
        <span class={m.online ? "dot on" : "dot off"} aria-hidden="true"></span>
        <span>{status}</span>
      </td>
      <td data-col="address">
        <code>{m.address}</code>
      </td>
      <td data-col="node_id">{String(m.node_id)}</td>
      <td data-col="hostname">{m.hostname ?? "—"}</td>
      <td data-col="endpoint">{m.endpoint ?? "—"}</td>
      <td data-col="capabilities">{m.capabilities.join(", ") || "—"}</td>
      <td>
        <button type="button" class="danger small" data-action="remove-node" data-node-id={String(m.node_id)} aria-label={`Remove node ${m.node_id}`}>
          Remove
        </button>
      </td>
    </tr>
  );
}

export function NetworkPage(
  props: Session & { network: Network; links: NetworkJoinLink[] | null; members: Member[]; audit: AuditEntry[]; revocations: RevocationSummary[] },
) {
  const n = props.network;
  return (
    <Layout title={n.name} csrf={props.csrf} email={props.email}>
      <div data-network-id={String(n.network_id)} data-network-name={n.name}>
        <p>
          <a href="/console">← Networks</a>
        </p>
        <h1>{n.name}</h1>
        <p class="muted">
          {`Network ${n.network_id} · ${n.join_rule === "token" ? "token-gated" : "invite only"} · `}
          <span data-count>{`${n.members} of ${n.max_members} agents`}</span>
        </p>

        {n.join ? (
          <section class="card" aria-labelledby="join-h">
            <h2 id="join-h">Join token</h2>
            <label for="join-token">Token</label>
            <div class="copyable">
              <input id="join-token" readonly value={n.join.token} />
              <button type="button" data-copy="#join-token">Copy</button>
            </div>
            <label for="join-daemon">On the agent's machine, start its daemon against this registry (if it is not running yet)</label>
            <div class="copyable">
              <input id="join-daemon" readonly value={n.join.daemon} />
              <button type="button" data-copy="#join-daemon">Copy</button>
            </div>
            {isLoopback(n.join.url) ? <p class="hint">{LOOPBACK_NOTE}</p> : null}
            <label for="join-command">Then join</label>
            <div class="copyable">
              <input id="join-command" readonly value={n.join.command} />
              <button type="button" data-copy="#join-command">Copy</button>
            </div>
            <label for="join-url">Join URL</label>
            <div class="copyable">
              <input id="join-url" readonly value={n.join.url} />
              <button type="button" data-copy="#join-url">Copy</button>
            </div>
            <button type="button" data-action="rotate-token" class="secondary">
              Rotate token
            </button>
            <p class="hint">Rotating replaces the default link: its token stops at once; the other join links, and agents already in the network, stay.</p>
          </section>
        ) : null}

        {props.links ? <JoinLinks links={props.links} /> : null}

        <section class="card" aria-labelledby="add-h">
          <h2 id="add-h">Add node</h2>
          <form data-action="add-node" class="row" novalidate>
            <label for="node" class="sr-only">
              Node ID, Pilot address or hostname
            </label>
            <input id="node" name="node" required placeholder="1001, 1:0001.0000.03E9 or my-agent" autocomplete="off" />
            <button type="submit">Add</button>
          </form>
          <p class="hint">
            Agents enrolled with one of your account's keys are added at once, and their running daemons join within moments. Any other agent is
            invited: its daemon announces the invitation, and it joins once it accepts (<code>pilotctl accept-invitation {String(n.network_id)}</code>).
          </p>
          <p class="error" role="alert" data-error></p>
          <p class="result" role="status" data-result></p>
        </section>

        <section aria-labelledby="nodes-h">
          <h2 id="nodes-h">Active Nodes</h2>
          <p class="live muted" data-live>Live updates: connecting…</p>
          <p class="muted" data-more hidden={n.members <= props.members.length}>
            {`Showing the first ${props.members.length} of ${n.members} agents.`}
          </p>
          <p class="empty" data-empty hidden={props.members.length > 0}>
            No agents yet — add one above, or run <code>{n.join ? n.join.command : "pilotctl daemon start"}</code> on the agent.
          </p>
          <div class="scroll">
            <table data-members hidden={props.members.length === 0}>
              <Columns names={["Status", "Pilot address", "Node ID", "Hostname", "Endpoint", "Capabilities"]} actions />
              <tbody>
                {props.members.map((m) => (
                  <MemberRow m={m} />
                ))}
              </tbody>
            </table>
          </div>
        </section>

        <section aria-labelledby="receipts-h">
          <h2 id="receipts-h">Cut-off receipts</h2>
          <p class="muted">
            When a member leaves or is removed, every daemon it concerned confirms to the registry, signed with its key, that it has cut it off;
            the time is the registry's, from its answer to the slowest receipt. A member offline then confirms when it comes back, before it
            accepts any traffic.
          </p>
          <ul class="revocations" data-revocations aria-live="polite">
            {props.revocations.map((r) => (
              <li data-revocation-id={r.revocation_id} data-confirmed={String(r.confirmed)} class={r.pending.length === 0 ? "confirmed" : undefined}>
                <span data-line>{revocationLine(r)}</span>
                <br />
                <span class="muted" data-pending>
                  {pendingLine(r)}
                </span>
              </li>
            ))}
          </ul>
          <p class="muted" data-revocations-empty hidden={props.revocations.length > 0}>
            No removals yet.
          </p>
        </section>
        <PolicySections />

        <section aria-labelledby="audit-h">
          <h2 id="audit-h">Audit log</h2>
          <p class="muted">
            Kept after the network is deleted: <a href={`/console/networks/${n.network_id}/audit`}>the whole trail</a>.
          </p>
          <AuditTable entries={props.audit} />
        </section>

        <section class="card danger-zone" aria-labelledby="delete-h">
          <h2 id="delete-h">Delete network</h2>
          <p>Every agent leaves the network at once. Agents keep their registration and their bilateral trust.</p>
          <button type="button" class="danger" data-action="ask-delete">
            Delete network…
          </button>
          <dialog data-delete-dialog aria-labelledby="confirm-h">
            <form data-action="delete-network" method="dialog" novalidate>
              <h3 id="confirm-h">Delete {n.name}?</h3>
              <label for="confirm-name">Type the network's name to confirm</label>
              <input id="confirm-name" name="confirm" autocomplete="off" required />
              <p class="error" role="alert" data-error></p>
              <div class="row">
                <button type="button" data-action="cancel-delete" class="secondary">
                  Cancel
                </button>
                <button type="submit" class="danger">
                  Delete for good
                </button>
              </div>
            </form>
          </dialog>
        </section>
      </div>
    </Layout>
  );
}

function RevokeButton(props: { action: string; id: number; what: string }) {
  return (
    <button type="button" class="danger small" data-action={props.action} data-id={String(props.id)} aria-label={`Revoke ${props.what}`}>
      Revoke
    </button>
  );
}

const usesLeft = (l: NetworkJoinLink) => (l.uses_left === null ? "no limit" : String(l.uses_left));

/** The network's join links: each joins until it expires, runs out of uses or is revoked. */
function JoinLinks(props: { links: NetworkJoinLink[] }) {
  return (
    <section class="card" aria-labelledby="links-h">
      <h2 id="links-h">Join links</h2>
      <p class="hint">
        {`Each link joins agents on its own until it expires, runs out of uses or is revoked; revoking one leaves the others working. Up to ${MAX_LIVE_JOIN_LINKS} live links.`}
      </p>
      <form data-action="create-link" novalidate>
        <label for="link-label">Label</label>
        <input id="link-label" name="label" required maxlength={64} placeholder="onboarding batch 3" autocomplete="off" />
        <label for="link-uses">Use limit (optional)</label>
        <input id="link-uses" name="max_uses" type="number" min={1} max={MAX_JOIN_LINK_USES} inputmode="numeric" />
        <label for="link-hours">Expires after hours (optional)</label>
        <input id="link-hours" name="expires_hours" type="number" min={1} max={87_600} inputmode="numeric" />
        <label for="link-token">{`Custom token (optional, at least ${CUSTOM_JOIN_TOKEN_MIN_LENGTH} characters; a random one otherwise)`}</label>
        <input id="link-token" name="token" minlength={CUSTOM_JOIN_TOKEN_MIN_LENGTH} maxlength={128} autocomplete="off" />
        <p class="error" role="alert" data-error></p>
        <button type="submit">Create link</button>
      </form>
      <div class="scroll">
        <table data-links>
          <Columns names={["Label", "Join URL", "Uses", "Uses left", "Expires", "State"]} actions />
          <tbody>
            {props.links.map((l) => (
              <tr data-link-id={String(l.link_id)}>
                <td data-col="label">{l.default ? `${l.label} (shown above)` : l.label}</td>
                <td>
                  <div class="copyable">
                    <input id={`link-url-${l.link_id}`} readonly value={l.url} aria-label={`Join URL of ${l.label}`} />
                    <button type="button" data-copy={`#link-url-${l.link_id}`}>
                      Copy
                    </button>
                  </div>
                </td>
                <td data-col="uses">{l.max_uses === null ? String(l.uses) : `${l.uses} of ${l.max_uses}`}</td>
                <td data-col="left">{usesLeft(l)}</td>
                <td data-col="expires">{when(l.expires_at)}</td>
                <td data-col="state">{l.state.replace("_", " ")}</td>
                <td>{l.state === "revoked" ? null : <RevokeButton action="revoke-link" id={l.link_id} what={`link ${l.label}`} />}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

/** A secret shown exactly once after creation; app.js fills and reveals it. */
function SecretBox(props: { what: string; id: string; label: string }) {
  return (
    <div class="secret" data-secret hidden>
      <p>
        <strong>{`Copy this ${props.what} now;`}</strong> it will not be shown again.
      </p>
      <div class="copyable">
        <input id={props.id} readonly data-secret-value aria-label={props.label} />
        <button type="button" data-copy={`#${props.id}`}>
          Copy
        </button>
      </div>
    </div>
  );
}

export function KeysPage(props: Session & { keys: KeyRow[]; tokens: TokenRow[] }) {
  return (
    <Layout title="Keys & tokens" csrf={props.csrf} email={props.email}>
      <h1>Enrollment keys</h1>
      <p class="muted">
        An agent started with <code>pilotctl daemon start --enroll &lt;key&gt;</code> becomes yours, and your networks add it without an invitation.
      </p>
      <section class="card">
        <form data-action="create-key" novalidate>
          <label for="key-description">Description</label>
          <input id="key-description" name="description" required maxlength={100} placeholder="build fleet" />
          <label class="inline">
            <input type="checkbox" name="reusable" /> Reusable
          </label>
          <label for="key-uses">Usage limit (reusable keys, optional)</label>
          <input id="key-uses" name="max_uses" type="number" min={1} inputmode="numeric" />
          <label for="key-days">Expires after days (optional)</label>
          <input id="key-days" name="expires_days" type="number" min={1} max={365} inputmode="numeric" />
          <p class="error" role="alert" data-error></p>
          <button type="submit">Create key</button>
        </form>
        <SecretBox what="key" id="new-key" label="New enrollment key" />
      </section>
      {props.keys.length === 0 ? (
        <p class="empty">No enrollment keys yet.</p>
      ) : (
        <div class="scroll">
          <table data-keys>
            <Columns names={["Description", "Kind", "Uses", "Expires", "State"]} actions />
            <tbody>
              {props.keys.map((k) => (
                <tr>
                  <td>{k.description}</td>
                  <td>{k.reusable ? "reusable" : "single-use"}</td>
                  <td>{`${k.uses}${k.max_uses !== null ? ` of ${k.max_uses}` : ""}`}</td>
                  <td>{when(k.expires_at)}</td>
                  <td>{k.revoked_at ? "revoked" : "active"}</td>
                  <td>{k.revoked_at ? null : <RevokeButton action="revoke-key" id={k.id} what={`key ${k.description}`} />}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      <h1>API tokens</h1>
      <p class="muted">
        For automation: send <code>Authorization: Bearer &lt;token&gt;</code> to the registry's API.
      </p>
      <section class="card">
        <form data-action="create-token" class="row" novalidate>
          <label for="token-name" class="sr-only">
            Token name
          </label>
          <input id="token-name" name="name" required maxlength={100} placeholder="deploy bot" />
          <button type="submit">Create token</button>
        </form>
        <p class="error" role="alert" data-error></p>
        <SecretBox what="token" id="new-token" label="New API token" />
      </section>
      {props.tokens.length === 0 ? (
        <p class="empty">No API tokens yet.</p>
      ) : (
        <ul class="tokens">
          {props.tokens.map((t) => (
            <li>
              <span>{t.name}</span>
              <span class="muted">{`created ${when(t.created_at)}${t.revoked_at ? " · revoked" : ""}`}</span>
              {t.revoked_at ? null : <RevokeButton action="revoke-token" id={t.id} what={`token ${t.name}`} />}
            </li>
          ))}
        </ul>
      )}
    </Layout>
  );
}

/** A network's trail, newest first; the network page's script keeps it live (rows carry their entry's ID to merge by). */
function AuditTable(props: { entries: AuditEntry[] }) {
  return (
    <div class="scroll">
      <table class="audit" data-audit>
        <Columns names={["When", "Who", "What", "Target"]} />
        <tbody>
          {props.entries.map((e) => (
            <tr data-audit-id={String(e.id)}>
              {auditCells(e).map((text) => (
                <td>{text}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      <p class="muted" data-audit-empty hidden={props.entries.length > 0}>
        No entries.
      </p>
    </div>
  );
}

/** A network's whole trail, page by page: also after the network was deleted, until its entries age out. */
export function TrailPage(props: Session & { networkId: number; entries: AuditEntry[]; next: string | null }) {
  return (
    <Layout title={`Network ${props.networkId}: audit log`} csrf={props.csrf} email={props.email}>
      <p>
        <a href="/console/account">← Account</a>
      </p>
      <h1>{`Network ${props.networkId}: audit log`}</h1>
      <AuditTable entries={props.entries} />
      {props.next === null ? null : <a href={`/console/networks/${props.networkId}/audit?cursor=${props.next}`}>Older entries →</a>}
    </Layout>
  );
}

/** The account's own trail: sign-ins, credentials, networks made and deleted (each linking to its trail). */
export function AccountPage(props: Session & { plan: PlanUsage; entries: AccountAuditEntry[]; next: string | null; retentionDays: number }) {
  return (
    <Layout title="Account" csrf={props.csrf} email={props.email}>
      <h1>Account</h1>
      <p class="muted">{`${props.email} · ${props.plan.plan} plan`}</p>
      <section aria-labelledby="account-audit-h">
        <h2 id="account-audit-h">Account activity</h2>
        <p class="muted">
          {`Sign-ins (failed ones too, with the address they came from), keys, tokens and networks. Kept ${props.retentionDays} days. `}
          <a href="/console/account">Refresh</a>
        </p>
        <div class="scroll">
          <table class="audit" data-account-audit>
            <Columns names={["When", "Who", "What", "About", "From"]} />
            <tbody>
              {props.entries.map((e) => {
                const cells = accountAuditCells(e);
                return (
                  <tr data-audit-id={String(e.id)}>
                    {cells.map((text, i) =>
                      i === 3 && e.network_id !== null ? (
                        <td>
                          <a href={`/console/networks/${e.network_id}/audit`}>{text}</a>
                        </td>
                      ) : (
                        <td>{text}</td>
                      ),
                    )}
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
        {props.next === null ? null : <a href={`/console/account?cursor=${props.next}`}>Older entries →</a>}
      </section>
    </Layout>
  );
}
