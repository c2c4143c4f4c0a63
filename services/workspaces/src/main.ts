// Wiring only: configuration, the store, the KMS and EBS clients, the service and its two transports.
import { connectRedis, createLogger, IdentityStore, listenEdge, KmsClient, onShutdown, runMain, startGrpcServer } from "@envelope/shared";
import { readConfig } from "./config.js";
import { WorkspaceStore } from "./store/workspaces.js";

import { EbsClient } from "./clients/ebs.js";
import { WorkspacesService } from "./service.js";
import { workspacesGrpcService } from "./grpc/server.js";
import { workspacesHttpEdge } from "./http/edge.js";

const log = createLogger("workspaces");

runMain(log, async () => {
  const config = readConfig();
  if (!config.tls) log.warn("TLS_DIR is not set: gRPC is plaintext and callers are trusted as they name themselves (local development only)");
  const identities = IdentityStore.load(config.identitiesFile);
  const redis = connectRedis(config.redisUrl, log, "workspaces");
  const kms = new KmsClient(config.kmsAddress, config.callTimeoutMs, config.tls);
  const ebs = new EbsClient(config.ebsAddress, config.callTimeoutMs, config.tls);
  const svc = new WorkspacesService(config.partition, new WorkspaceStore(redis), kms, ebs, log, config.terminatedRetentionSeconds, identities, {
    retryForMs: config.workflowRetryMs,
  });
  // Before serving: workflows a previous run left under way carry on (in the background).
  const resumed = await svc.resumeWorkflows();
  if (resumed) log.info({ resumed }, "resumed workflows left under way");
  const grpcServer = await startGrpcServer({ host: config.grpcHost, port: config.grpcPort, tls: config.tls, services: [workspacesGrpcService(svc, log)] });
  const http = listenEdge(workspacesHttpEdge(svc, identities, log), config.httpPort);
  log.info({ grpcPort: grpcServer.port, httpPort: config.httpPort }, "workspaces ready");
  onShutdown(log, [
    () => new Promise((r) => http.close(r)),
    () => grpcServer.shutdown(),
    () => svc.drain(),
    () => kms.close(),
    () => ebs.close(),
    () => redis.quit(),
  ]);
});
