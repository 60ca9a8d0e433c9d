/**
 * Join tokens: what a token-gated network's join links carry. Any token a link holds is presented
 * and parsed (8-128 characters, the floor before custom tokens had one of their own); a new custom
 * token must be longer, so that it cannot be guessed.
 */
import { z } from "zod";

export const JOIN_TOKEN_PATTERN = /^[A-Za-z0-9._~-]{8,128}$/;
export const JoinToken = z
  .string()
  .regex(JOIN_TOKEN_PATTERN, "must be 8-128 characters of letters, digits and . _ ~ -")
  .meta({ description: "A join link's token" });

/**
 * The shortest custom token accepted, chosen so guessing is hopeless under the network's throttle
 * (WRONG_TOKENS_PER_MINUTE in worker/networks/wrong-tokens.ts: 20 wrong tokens a minute, after
 * which the network compares none until the next minute). In 100 years a network takes at most
 * 20 × 60 × 24 × 365.25 × 100 ≈ 1.052 × 10⁹ guesses. Each guess is tried against every live link,
 * at most MAX_LIVE_JOIN_LINKS = 20, so the chance that any guess hits any link is at most
 * 1.052 × 10⁹ × 20 / 66ⁿ for tokens of n characters drawn from the 66 allowed. For n = 10 that is
 * 1.3 × 10⁻⁸; for n = 11 (66¹¹ ≈ 1.035 × 10²⁰) it is 2.0 × 10⁻¹⁰, below 10⁻⁹. This holds for a
 * token picked at random; a word a person chose can be guessed from a list whatever its length.
 * Generated tokens are 32 characters (192 bits) and meet it by far.
 */
export const CUSTOM_JOIN_TOKEN_MIN_LENGTH = 11;

export const CustomJoinToken = z
  .string()
  .min(CUSTOM_JOIN_TOKEN_MIN_LENGTH, `must be at least ${CUSTOM_JOIN_TOKEN_MIN_LENGTH} characters, so that it cannot be guessed under the network's throttle`)
  .max(128, "must be at most 128 characters")
  // Not starting with -, which a command line takes for an option.
  .regex(/^[A-Za-z0-9._~][A-Za-z0-9._~-]*$/, "must be letters, digits and . _ ~ -, not starting with -")
  .meta({
    description: `A custom join token: ${CUSTOM_JOIN_TOKEN_MIN_LENGTH}-128 characters of letters, digits and . _ ~ -, not starting with -; by default one of 192 random bits is made`,
  });
