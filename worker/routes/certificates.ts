import { encodeBase64, formatKeyId, IssuedCertificate, RegistryKeys } from "@pilot/protocol";
import { requireNode } from "../auth/node-auth.ts";
import { issueCertificate } from "../certificates/issue.ts";
import { publishedKeys } from "../certificates/signing-keys.ts";
import { bearer, errors, json, apiRoute, open } from "../openapi.ts";
import { createRouter } from "../router.ts";
import { iso } from "../time.ts";

/** Keys change only when an operator rotates them, and daemons ask again for a key id they do not know. */
const KEYS_MAX_AGE_SECONDS = 60;

export const certificateRoutes = createRouter()
  .openapi(
    apiRoute({
      method: "get",
      path: "/registry/keys",
      operationId: "getRegistryKeys",
      tags: ["certificates"],
      security: open,
      summary: "The keys node certificates are signed with",
      description:
        "The current key signs new certificates; a previous key, during a rotation, is listed until certificates it signed have expired. Daemons fetch this once, keep it, and fetch it again when a certificate names a key they do not know.",
      responses: { 200: json(RegistryKeys, "The registry's certificate keys"), ...errors(503) },
    }),
    async (c) => c.json({ keys: await publishedKeys(c.env) }, 200, { "cache-control": `public, max-age=${KEYS_MAX_AGE_SECONDS}` }),
  )
  .openapi(
    apiRoute({
      method: "post",
      path: "/nodes/self/certificate",
      operationId: "requestCertificate",
      tags: ["certificates"],
      summary: "A short-lived certificate of the calling node's ID and identity key",
      description:
        "Signed by the registry's current key, for CERT_TTL_SECONDS (10 minutes unless the operator changed it). The node presents it in its key exchanges, so peers need not look its key up. A deregistered node gets none.",
      security: bearer,
      middleware: [requireNode] as const,
      responses: { 200: json(IssuedCertificate, "The certificate") },
    }),
    async (c) => {
      const issued = await issueCertificate(c.env, c.var.node);
      return c.json({ certificate: encodeBase64(issued.certificate), expires_at: iso(issued.expiresAt), key_id: formatKeyId(issued.keyId) }, 200);
    },
  );
