/** The rule for network names, which the registry applies to hostnames too; checked here before asking. */
import { HOSTNAME_PATTERN, HOSTNAME_RULE } from "@pilot/protocol";
import { showError } from "./dom.ts";

export const NAME_RULE = `Use ${HOSTNAME_RULE}.`;

export const isNetworkName = (name: string) => HOSTNAME_PATTERN.test(name);

/** Create Network: says as the name is typed whether the registry would take it. */
export function checkAsTyped(input: HTMLInputElement): void {
  input.addEventListener("input", () => {
    const ok = input.value === "" || isNetworkName(input.value);
    input.setAttribute("aria-invalid", String(!ok));
    if (input.form) showError(input.form, ok ? "" : NAME_RULE);
  });
}
