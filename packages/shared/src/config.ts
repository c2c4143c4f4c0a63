// Configuration comes from the environment and is validated once, at start, with zod.
import { z } from "zod";

export class ConfigError extends Error {}

export function loadConfig<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => `  ${i.path.join(".") || "(env)"}: ${i.message}`);
  throw new ConfigError(`Invalid configuration:\n${problems.join("\n")}`);
}

/** Shared pieces of every service's schema. */
export const port = (fallback: number) => z.coerce.number().int().min(1).max(65535).default(fallback);
export const account = z.string().regex(/^\d{12}$/, "must be a 12-digit AWS account id").default("111122223333");
export const region = z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, "must be an AWS region like us-west-2").default("us-west-2");
export const redisUrl = z.string().url("must be a redis:// URL").default("redis://127.0.0.1:6379");
export const identitiesFile = z.string().min(1).default("/etc/envelope/identities.json");
/** A folder with ca.crt and <service>.crt/.key: gRPC is then mutual TLS. Unset: plaintext (local development only). */
export const tlsDir = z.string().min(1).optional();
