/**
 * TURN credentials as coturn's `--use-auth-secret` mode checks them (the "TURN REST API" scheme):
 * the username is `<expiry in Unix seconds>:<anything>`, the password the base64 HMAC-SHA1 of the
 * username under the secret the server shares with whoever mints them. Both the lab's coturn and
 * its stand-in for Cloudflare's credential API use this.
 */
import { createHmac } from "node:crypto";

export interface TurnCredential {
  username: string;
  credential: string;
}

export function restCredentials(secret: string, ttlSeconds: number, user = "pilot", now = Date.now()): TurnCredential {
  const username = `${Math.floor(now / 1000) + ttlSeconds}:${user}`;
  return { username, credential: createHmac("sha1", secret).update(username).digest("base64") };
}
