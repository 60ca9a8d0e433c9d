/**
 * Join URLs: `<registry origin>/join/<network id>#token=<join token>`. The token rides in the
 * fragment so that a browser opening the link never sends it to a server.
 */
import { JOIN_TOKEN_PATTERN } from "./join-token.ts";

export interface JoinLink {
  registry: string;
  networkId: number;
  token: string;
}

export class JoinUrlError extends Error {
  override name = "JoinUrlError";
}

export const formatJoinUrl = ({ registry, networkId, token }: JoinLink) =>
  `${registry}/join/${networkId}#token=${encodeURIComponent(token)}`;

export function parseJoinUrl(text: string): JoinLink {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new JoinUrlError("not a URL; a join URL looks like https://registry.example/join/7#token=…");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new JoinUrlError("a join URL must be http(s)");
  const path = /^\/join\/([1-9][0-9]{0,4})$/.exec(url.pathname);
  const networkId = path ? Number(path[1]) : 0;
  if (!path || networkId > 0xffff) throw new JoinUrlError("a join URL's path is /join/<network id>");
  const token = new URLSearchParams(url.hash.slice(1)).get("token");
  if (!token || !JOIN_TOKEN_PATTERN.test(token)) throw new JoinUrlError("the join URL carries no valid #token=…; copy the whole link from the console");
  return { registry: url.origin, networkId, token };
}
