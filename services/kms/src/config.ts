import { readFileSync } from "node:fs";
import { z } from "zod";
import { account, identitiesFile, loadConfig, port, redisUrl, region, readTlsFiles, type TlsFiles, tlsDir } from "@envelope/shared";

const schema = z
  .object({
    GRPC_HOST: z.string().default("0.0.0.0"),
    GRPC_PORT: port(50051),
    HTTP_PORT: port(4571),
    REDIS_URL: redisUrl,
    TLS_DIR: tlsDir,
    AWS_ACCOUNT_ID: account,
    AWS_REGION: region,
    // The master key that wraps every CMK's key material: 32 bytes, base64. Give it inline
    // or as a file (a Docker secret, say); never both.
    KMS_MASTER_KEY: z.string().optional(),
    KMS_MASTER_KEY_FILE: z.string().optional(),
    IDENTITIES_FILE: identitiesFile,
    // Keys (with their ids, aliases and key policies) that exist from the start, such as the demo CMK.
    KMS_SEED_FILE: z.string().optional(),
  })
  .refine((c) => Boolean(c.KMS_MASTER_KEY) !== Boolean(c.KMS_MASTER_KEY_FILE), {
    message: "set exactly one of KMS_MASTER_KEY (base64, 32 bytes) or KMS_MASTER_KEY_FILE",
    path: ["KMS_MASTER_KEY"],
  });

export interface KmsConfig {
  /** This service\'s certificate, key and the CA, when gRPC is mutual TLS. */
  tls?: TlsFiles;
  grpcHost: string;
  grpcPort: number;
  httpPort: number;
  redisUrl: string;
  partition: { account: string; region: string };
  masterKey: Buffer;
  identitiesFile: string;
  seedFile?: string;
}

export function readConfig(env: NodeJS.ProcessEnv = process.env): KmsConfig {
  const c = loadConfig(schema, env);
  const encoded = c.KMS_MASTER_KEY ?? readFileSync(c.KMS_MASTER_KEY_FILE!, "utf8").trim();
  const masterKey = Buffer.from(encoded, "base64");
  if (masterKey.length !== 32) {
    throw new Error("Invalid configuration:\n  KMS_MASTER_KEY: must be 32 bytes, base64-encoded (openssl rand -base64 32)");
  }
  return {
    grpcHost: c.GRPC_HOST,
    grpcPort: c.GRPC_PORT,
    httpPort: c.HTTP_PORT,
    redisUrl: c.REDIS_URL,
    ...(c.TLS_DIR ? { tls: readTlsFiles(c.TLS_DIR, "kms") } : {}),
    partition: { account: c.AWS_ACCOUNT_ID, region: c.AWS_REGION },
    masterKey,
    identitiesFile: c.IDENTITIES_FILE,
    ...(c.KMS_SEED_FILE ? { seedFile: c.KMS_SEED_FILE } : {}),
  };
}
