/**
 * In this repository the commands run their TypeScript sources as they are, which Node does only
 * from 22.18. On an older Node (the machine's own, say, rather than the one `npm ci` installs) the
 * import fails with a bare stack trace; this says instead which Node to use and how. The installed
 * package runs compiled JavaScript on Node 20, so there the import never fails this way.
 */
import { fileURLToPath } from "node:url";

export function sourcesNeedNewerNode(error) {
  if (error?.code !== "ERR_UNKNOWN_FILE_EXTENSION") throw error;
  const checkout = fileURLToPath(new URL("../../", import.meta.url));
  process.stderr.write(
    `error: this checkout's pilotctl and pilot-daemon run their TypeScript sources, which needs Node 22.18 or newer, and this is Node ${process.versions.node}\n` +
      `hint: put the Node that npm ci installed first: export PATH="${checkout}node_modules/.bin:$PATH" (or build the package, which runs on Node 20: npm run build:package)\n`,
  );
  process.exit(1);
}
