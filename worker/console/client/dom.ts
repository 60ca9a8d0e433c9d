/** Finding the page's elements by what they must be, and the toast and error lines that talk to the person. */

/** The element the selector names, or an error saying the page lacks it (shown like any failed action). */
export function element<T extends Element>(selector: string, type: { new (): T; prototype: T }, root: ParentNode = document): T {
  const found = root.querySelector(selector);
  if (!(found instanceof type)) throw new Error(`The page lacks ${selector}; reload it.`);
  return found;
}

let toastTimer: ReturnType<typeof setTimeout> | undefined;

export function toast(text: string): void {
  const el = element("#toast", HTMLElement);
  el.textContent = text;
  el.classList.add("show");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => el.classList.remove("show"), 2500);
}

/** Says what went wrong in the form's own alert line (or its section's, for forms laid out in a row). */
export function showError(form: HTMLFormElement, message: string): void {
  const el = form.querySelector("[data-error]") ?? form.parentElement?.querySelector("[data-error]");
  if (el) el.textContent = message;
}

/** An element's data-* value that the page always sets, or an error saying it is missing. */
export function data(el: HTMLElement, key: string): string {
  const value = el.dataset[key];
  if (value === undefined) throw new Error(`The page lacks data-${key}; reload it.`);
  return value;
}
