import { encodeBase64Url } from "@pilot/protocol";

/** A generated join token: 192 random bits, URL- and shell-safe. */
export const generateJoinToken = () => encodeBase64Url(crypto.getRandomValues(new Uint8Array(24)));
