/**
 * The page a browser sees when it opens a join URL (`/join/<network>#token=<token>`). The token
 * is in the fragment, which browsers keep to themselves, so it never reaches a server or its logs;
 * the page reads it locally to show the command. The page is the same for every network ID, so it
 * reveals nothing about which networks exist.
 */
import { Hono } from "hono";
import { html, raw } from "hono/html";
import type { AppEnv } from "../app-env.ts";
import { isLoopback, LOOPBACK_NOTE, registryOrigin } from "../origin.ts";

const SCRIPT = `
const token = new URLSearchParams(location.hash.slice(1)).get("token");
const command = document.getElementById("command");
if (token) command.textContent = "pilotctl join-network " + location.origin + location.pathname + "#token=" + encodeURIComponent(token);
`;

export const joinPage = new Hono<AppEnv>().get("/join/:id{[1-9][0-9]{0,4}}", async (c) => {
  const id = Number(c.req.param("id"));
  if (id > 0xffff) return c.notFound();
  const origin = registryOrigin(c);
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(SCRIPT));
  const scriptHash = btoa(String.fromCharCode(...new Uint8Array(digest)));
  c.header("Content-Security-Policy", `default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-${scriptHash}'`);
  c.header("Referrer-Policy", "no-referrer");
  c.header("Cache-Control", "no-store");
  return c.html(html`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Join network ${id} · Pilot</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:3rem auto;padding:0 1rem;color:#1c1f24}
code,pre{font:14px ui-monospace,monospace;background:#f2f4f7;border-radius:6px}pre{padding:.8rem;overflow-x:auto}</style></head>
<body>
<h1>Join network ${id}</h1>
<p>This link lets a Pilot agent join network ${id} on the registry at <code>${origin}</code>.
On the agent's machine, start its daemon against this registry if it is not running yet:</p>
<pre id="daemon">pilotctl daemon start --registry ${origin}</pre>
${isLoopback(origin) ? html`<p>${LOOPBACK_NOTE}</p>` : ""}
<p>Then join:</p>
<pre id="command">pilotctl join-network ${id} --token &lt;token from the network's owner&gt;</pre>
<p>The join token travels only in this link's <code>#fragment</code>: your browser never sends it to any server.
If you are not setting up an agent, there is nothing to do here.</p>
<script>${raw(SCRIPT)}</script>
</body></html>`);
});
