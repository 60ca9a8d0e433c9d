/** `host:port` and `[v6]:port`, as flags, config and the registry write them. */
export interface HostPort {
  host: string;
  port: number;
}

/** Parses `host:port`; port 0 ("any free port") only where `allowZero` says so. Throws on anything else. */
export function parseHostPort(text: string, allowZero = false): HostPort {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):([0-9]{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : -1;
  if (!m || port > 65535 || port < (allowZero ? 0 : 1)) throw new Error(`expected host:port, got "${text}"`);
  return { host: m[1] ?? m[2]!, port };
}
