/**
 * What pilotctl writes for a terminal to show. Text from strangers reaches its output (a handshake's
 * justification, a message, a reason, an error a registry sent), and a terminal acts on the control
 * characters in what it shows: it sets its title, fills the clipboard (OSC 52), erases and rewrites
 * lines, or shows text in another order than it reads. So every control character but the line
 * break and the tab is written out as a JSON escape (`\u001b`): readable, and inside `--json`
 * output the very same string once parsed.
 */
import { CONTROL } from "../services/peer-text.ts";

const SHOWN_AS_IS = new Set(["\n", "\t"]);
const EVERY_CONTROL = new RegExp(CONTROL, "gu");

export const forTerminal = (text: string): string =>
  text.replace(EVERY_CONTROL, (c) => (SHOWN_AS_IS.has(c) ? c : `\\u${c.codePointAt(0)!.toString(16).padStart(4, "0")}`));
