/**
 * Text that peers send (file names, topics, error messages): what is taken as a name, and how it
 * is shown. A name must not make a terminal act when it is listed, nor read otherwise than it is.
 */
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
/** Control characters (C0, NUL among them, DEL and C1) and the bidirectional overrides and isolates. */
export const CONTROL = "[\\p{Cc}\\u202a-\\u202e\\u2066-\\u2069]";
const HAS_CONTROL = new RegExp(CONTROL, "u");
const EVERY_CONTROL = new RegExp(CONTROL, "gu");

/**
 * `bytes` as text, if they are UTF-8 without control characters (C0, NUL among them, DEL and C1:
 * what a terminal would act on when the text is shown) or the bidirectional overrides that make
 * text show in another order than it reads (`report\u202Efdp.exe`); else why not, naming it `what`.
 */
export function plainText(bytes: Buffer, what: string): { text: string } | { problem: string } {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { problem: `${what} is not UTF-8` };
  }
  if (HAS_CONTROL.test(text)) return { problem: `${what} holds a control character` };
  return { text };
}

/** Text from a peer, safe to show: cut to `max` characters, its control characters shown as "?". */
export const showable = (text: string, max = 1000) => text.slice(0, max).replace(EVERY_CONTROL, "?");
