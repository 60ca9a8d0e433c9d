/**
 * Errors the daemon and pilotctl report: a stable code, a message, and a hint that says what to do
 * next. Registry errors keep the registry's code.
 */
export class PilotError extends Error {
  override name = "PilotError";
  readonly code: string;
  readonly hint: string;

  constructor(code: string, message: string, hint: string) {
    super(message);
    this.code = code;
    this.hint = hint;
  }
}
