import { z } from "zod";
import { account, identitiesFile, loadConfig, port, redisUrl, region, readTlsFiles, type TlsFiles, tlsDir } from "@envelope/shared";

const schema = z.object({
  GRPC_HOST: z.string().default("0.0.0.0"),
  GRPC_PORT: port(50053),
  HTTP_PORT: port(4570),
  REDIS_URL: redisUrl,
  TLS_DIR: tlsDir,
  KMS_ADDRESS: z.string().min(1).default("127.0.0.1:50051"),
  EBS_ADDRESS: z.string().min(1).default("127.0.0.1:50052"),
  AWS_ACCOUNT_ID: account,
  AWS_REGION: region,
  // How long a TERMINATED WorkSpace still shows in DescribeWorkspaces, as AWS shows it briefly.
  TERMINATED_RETENTION_SECONDS: z.coerce.number().int().min(1).max(86400).default(60),
  CALL_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
  // How long a workflow step retries failures that may pass (KMS, EBS or Redis restarting)
  // before the WorkSpace goes to ERROR (or UNHEALTHY) with the reason.
  WORKFLOW_RETRY_SECONDS: z.coerce.number().int().min(0).max(3600).default(120),
  IDENTITIES_FILE: identitiesFile,
});

export interface WorkspacesConfig {
  /** This service\'s certificate, key and the CA, when gRPC is mutual TLS. */
  tls?: TlsFiles;
  grpcHost: string;
  grpcPort: number;
  httpPort: number;
  redisUrl: string;
  kmsAddress: string;
  ebsAddress: string;
  partition: { account: string; region: string };
  terminatedRetentionSeconds: number;
  callTimeoutMs: number;
  workflowRetryMs: number;
  identitiesFile: string;
}

export function readConfig(env: NodeJS.ProcessEnv = process.env): WorkspacesConfig {
  const c = loadConfig(schema, env);
  return {
    grpcHost: c.GRPC_HOST,
    grpcPort: c.GRPC_PORT,
    httpPort: c.HTTP_PORT,
    redisUrl: c.REDIS_URL,
    ...(c.TLS_DIR ? { tls: readTlsFiles(c.TLS_DIR, "workspaces") } : {}),
    kmsAddress: c.KMS_ADDRESS,
    ebsAddress: c.EBS_ADDRESS,
    partition: { account: c.AWS_ACCOUNT_ID, region: c.AWS_REGION },
    terminatedRetentionSeconds: c.TERMINATED_RETENTION_SECONDS,
    callTimeoutMs: c.CALL_TIMEOUT_MS,
    workflowRetryMs: c.WORKFLOW_RETRY_SECONDS * 1000,
    identitiesFile: c.IDENTITIES_FILE,
  };
}
