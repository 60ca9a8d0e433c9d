/**
 * Moving this node to a new identity key (`pilotctl rotate-key`), without ever losing the node.
 *
 * The new key is written to the home (identity.next.json) before the registry is asked, and becomes
 * identity.json only once the registry has taken it. Whatever stops the daemon in between, the key
 * the registry now holds for the node is on disk, and the next start (or the next attempt) settles
 * which one it is by asking the registry for a token with the pending key: a token means the
 * rotation was made and the pending key is the node's; `node_not_registered` means it never was.
 * Until that is known the daemon never registers with either key, since registering a key the
 * registry no longer holds for this node would make a new node of it.
 */
import type { SelfNode } from "@pilot/protocol";
import { Identity } from "../identity.ts";
import { RegistryClient, RegistryError } from "../registry-client.ts";
import type { HomePaths } from "../store/home.ts";
import { commitPendingIdentity, discardPendingIdentity, loadOrCreateIdentity, loadPendingIdentity, savePendingIdentity } from "../store/identity-file.ts";

/** Whether the registry holds this key for a node: it issues a token for it, or says no node has it. Anything else throws. */
async function registryHolds(registryUrl: string, key: Identity): Promise<boolean> {
  try {
    await new RegistryClient({ url: registryUrl, identity: key }).authenticate();
    return true;
  } catch (e) {
    if (e instanceof RegistryError && e.code === "node_not_registered") return false;
    throw e;
  }
}

/**
 * Settles a rotation left half done: the pending key becomes the identity if the registry holds it,
 * and is dropped otherwise. Returns the identity to run with. Throws, keeping both files, when the
 * registry cannot say.
 */
async function settle(paths: HomePaths, registryUrl: string, current: Identity, log: (line: string) => void): Promise<Identity> {
  const pending = loadPendingIdentity(paths);
  if (!pending) return current;
  if (pending.publicKey !== current.publicKey && (await registryHolds(registryUrl, pending))) {
    commitPendingIdentity(paths);
    log(`a key rotation was interrupted after the registry made it; this node's identity key is now ${pending.publicKey}`);
    return pending;
  }
  discardPendingIdentity(paths);
  log("a key rotation was interrupted before the registry made it; this node keeps its identity key");
  return current;
}

/** The identity a starting daemon runs with: identity.json (made if missing), after settling a rotation left half done. */
export async function startingIdentity(paths: HomePaths, registryUrl: string, log: (line: string) => void): Promise<Identity> {
  const { identity, created } = loadOrCreateIdentity(paths.identity);
  if (created) log(`made a new identity in ${paths.identity}`);
  return settle(paths, registryUrl, identity, log);
}

export interface KeyRotationHost {
  readonly registry: RegistryClient;
  readonly registryUrl: string;
  readonly paths: HomePaths;
  /** The identity the node runs with now. */
  identity(): Identity;
  nodeId(): number;
  /** The registry holds `next` for this node now, and identity.json is it: every part of the daemon moves to it. */
  adopt(next: Identity): void;
  log(line: string): void;
}

export class KeyRotation {
  readonly #host: KeyRotationHost;
  /** Rotations and settlements, one at a time: a settlement must never judge a key whose rotation is still in flight. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(host: KeyRotationHost) {
    this.#host = host;
  }

  /**
   * Moves the node to a freshly made key; resolves, once every part of the daemon uses it, with the
   * node as the registry holds it now and when the registry made the change (or, if its answer was
   * lost and the daemon learnt of the change afterwards, when it learnt of it).
   */
  rotate(): Promise<{ node: SelfNode; rotatedAt: string }> {
    return this.#serially(async () => {
      await this.#settle();
      const host = this.#host;
      const next = Identity.generate();
      savePendingIdentity(host.paths, next);
      let reply;
      try {
        reply = await host.registry.rotateKey(host.nodeId(), next);
      } catch (e) {
        // An error the registry answered with: it changed nothing.
        if (e instanceof RegistryError && e.status >= 400 && e.status < 500) {
          discardPendingIdentity(host.paths);
          throw e;
        }
        // The answer was lost, and the change may have been made: settle it now if the registry
        // can say; if it cannot, the pending key waits for the next attempt or the next start.
        await this.#settle().catch(() => undefined);
        if (host.identity().publicKey !== next.publicKey) throw e;
        return { node: await host.registry.self(), rotatedAt: new Date().toISOString() };
      }
      commitPendingIdentity(host.paths);
      host.adopt(next);
      host.log(`moved to a new identity key ${next.publicKey}; the registry told the nodes that trust this one or share a network with it`);
      return { node: reply.node, rotatedAt: reply.rotated_at };
    });
  }

  /** Settles a rotation left half done, if there is one (before the daemon registers again). */
  settle(): Promise<void> {
    return this.#serially(() => this.#settle());
  }

  async #settle(): Promise<void> {
    const host = this.#host;
    const current = host.identity();
    const settled = await settle(host.paths, host.registryUrl, current, host.log);
    if (settled !== current) {
      host.registry.useIdentity(settled);
      host.adopt(settled);
    }
  }

  #serially<T>(step: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(step, step);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}
