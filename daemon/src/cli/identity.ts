/**
 * pilotctl's commands about node identities: rotate-key and deregister (this node's) and lookup
 * (another's), through the SDK. Each returns the command's `data`; arguments arrive validated.
 */
import { callDaemon } from "./call-daemon.ts";

/**
 * `rotate-key [node_id]`: this node moves to a new identity key. Proof is by keys (the daemon signs
 * with the old and the new), so there is no owner argument; a node ID, if given, must be this node's.
 */
export const rotateKey = (nodeId?: number) => callDaemon("rotate-key", nodeId === undefined ? {} : { node_id: nodeId });

/** `deregister`: this node leaves the registry, and its daemon stops. */
export const deregister = () => callDaemon("deregister");

/** `lookup <node_id|address|hostname>`: a node as this node may see it. */
export const lookup = (target: string) => callDaemon("lookup", { target });
