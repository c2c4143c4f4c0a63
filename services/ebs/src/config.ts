import { z } from "zod";
import { account, loadConfig, port, redisUrl, region, readTlsFiles, type TlsFiles, tlsDir } from "@envelope/shared";

const schema = z.object({
  GRPC_HOST: z.string().default("0.0.0.0"),
  GRPC_PORT: port(50052),
  REDIS_URL: redisUrl,
  TLS_DIR: tlsDir,
  KMS_ADDRESS: z.string().min(1).default("127.0.0.1:50051"),
  AWS_ACCOUNT_ID: account,
  AWS_REGION: region,
  AVAILABILITY_ZONE: z.string().optional(),
  KMS_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(5000),
});

export interface EbsConfig {
  /** This service\'s certificate, key and the CA, when gRPC is mutual TLS. */
  tls?: TlsFiles;
  grpcHost: string;
  grpcPort: number;
  redisUrl: string;
  kmsAddress: string;
  kmsTimeoutMs: number;
  partition: { account: string; region: string };
  availabilityZone: string;
}

export function readConfig(env: NodeJS.ProcessEnv = process.env): EbsConfig {
  const c = loadConfig(schema, env);
  return {
    grpcHost: c.GRPC_HOST,
    grpcPort: c.GRPC_PORT,
    redisUrl: c.REDIS_URL,
    ...(c.TLS_DIR ? { tls: readTlsFiles(c.TLS_DIR, "ebs") } : {}),
    kmsAddress: c.KMS_ADDRESS,
    kmsTimeoutMs: c.KMS_TIMEOUT_MS,
    partition: { account: c.AWS_ACCOUNT_ID, region: c.AWS_REGION },
    availabilityZone: c.AVAILABILITY_ZONE ?? `${c.AWS_REGION}a`,
  };
}
