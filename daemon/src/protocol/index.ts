export * from "./address.ts";
export * from "./api.ts";
export * from "./auth.ts";
export * from "./encoding.ts";
export * from "./hostname.ts";
export * from "./node-ref.ts";
export * from "./errors.ts";
export * from "./accounts-api.ts";
