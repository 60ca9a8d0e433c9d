import { encodeBase64Url } from "@pilot/protocol";

/**
 * A generated join token: 192 random bits, URL- and shell-safe. Never one that starts with "-",
 * which a command line (`pilotctl join-network 7 --token -x…`) would take for an option: one token
 * in 64 did, and is drawn again.
 */
export function generateJoinToken(): string {
  for (;;) {
    const token = encodeBase64Url(crypto.getRandomValues(new Uint8Array(24)));
    if (!token.startsWith("-")) return token;
  }
}
