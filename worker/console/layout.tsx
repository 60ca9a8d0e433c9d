/** @jsxImportSource hono/jsx */
/**
 * The console's page frame. Pages are rendered on the server with hono/jsx, which escapes every
 * interpolated string; the only script is our own /console/app.js, allowed by the CSP below.
 */
import { raw } from "hono/html";
import type { Child } from "hono/jsx";

export const CONSOLE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

export function Layout(props: { title: string; csrf?: string; email?: string; children: Child }) {
  return (
    <>
      {raw("<!doctype html>")}
      <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        {props.csrf ? <meta name="csrf-token" content={props.csrf} /> : null}
        <title>{`${props.title} · Pilot Console`}</title>
        <link rel="stylesheet" href="/console/style.css" />
        <script src="/console/app.js" defer></script>
      </head>
      <body>
        <header class="top">
          <a class="brand" href="/console">
            Pilot Console
          </a>
          {props.email ? (
            <nav aria-label="Account">
              <a href="/console">Networks</a>
              <a href="/console/keys">Keys &amp; tokens</a>
              <a href="/console/account">Account</a>
              <span class="muted">{props.email}</span>
              <button type="button" data-action="sign-out" class="link">
                Sign out
              </button>
            </nav>
          ) : null}
        </header>
        <main>{props.children}</main>
        <div id="toast" role="status" aria-live="polite"></div>
      </body>
      </html>
    </>
  );
}

/** A table's header row; `actions` adds a last column for row buttons, named for screen readers. */
export function Columns(props: { names: string[]; actions?: boolean }) {
  return (
    <thead>
      <tr>
        {props.names.map((name) => (
          <th scope="col">{name}</th>
        ))}
        {props.actions && (
          <th scope="col">
            <span class="sr-only">Actions</span>
          </th>
        )}
      </tr>
    </thead>
  );
}
