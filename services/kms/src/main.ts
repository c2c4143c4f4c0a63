// Wiring only: configuration, stores, the service, and its two transports.
import { readFileSync } from "node:fs";
import { connectRedis, createLogger, IdentityStore, listenEdge, onShutdown, runMain, startGrpcServer } from "@envelope/shared";
import { readConfig } from "./config.js";
import { KeyStore } from "./store/keys.js";
import { GrantStore } from "./store/grants.js";
import { AuditStore } from "./store/audit.js";
import { KeyManagementService, type SeedKey } from "./service.js";
import { kmsGrpcService } from "./grpc/server.js";
import { kmsHttpEdge } from "./http/edge.js";

const log = createLogger("kms");

runMain(log, async () => {
  const config = readConfig();
  if (!config.tls) log.warn("TLS_DIR is not set: gRPC is plaintext and callers are trusted as they name themselves (local development only)");
  const identities = IdentityStore.load(config.identitiesFile);
  const redis = connectRedis(config.redisUrl, log, "kms");
  const svc = new KeyManagementService(config.partition, config.masterKey, new KeyStore(redis), new GrantStore(redis), new AuditStore(redis), identities, log);
  if (config.seedFile) await svc.seed((JSON.parse(readFileSync(config.seedFile, "utf8")) as { keys: SeedKey[] }).keys);
  const grpcServer = await startGrpcServer({ host: config.grpcHost, port: config.grpcPort, tls: config.tls, services: [kmsGrpcService(svc, log)] });
  const http = listenEdge(kmsHttpEdge(svc, identities, log), config.httpPort);
  log.info({ grpcPort: grpcServer.port, httpPort: config.httpPort, account: config.partition.account, region: config.partition.region }, "kms ready");
  onShutdown(log, [() => grpcServer.shutdown(), () => new Promise((r) => http.close(r)), () => redis.quit()]);
});
