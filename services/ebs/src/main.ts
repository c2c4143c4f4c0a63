// Wiring only: configuration, the store, the KMS client, the service and its gRPC transport.
import { connectRedis, createLogger, KmsClient, onShutdown, runMain, startGrpcServer } from "@envelope/shared";
import { readConfig } from "./config.js";
import { VolumeStore } from "./store/volumes.js";
import { ElasticBlockStore } from "./service.js";
import { ebsGrpcService } from "./grpc/server.js";

const log = createLogger("ebs");

runMain(log, async () => {
  const config = readConfig();
  if (!config.tls) log.warn("TLS_DIR is not set: gRPC is plaintext and callers are trusted as they name themselves (local development only)");
  const redis = connectRedis(config.redisUrl, log, "ebs");
  // Block data on its own connection, without auto-pipelining: a MiB of blocks is one command
  // already, and a pipeline would copy it into one more buffer.
  const blockRedis = connectRedis(config.redisUrl, log, "ebs-blocks", { autoPipelining: false });
  const kms = new KmsClient(config.kmsAddress, config.kmsTimeoutMs, config.tls);
  const svc = new ElasticBlockStore(config.partition, config.availabilityZone, new VolumeStore(redis, blockRedis), kms, log);
  const grpcServer = await startGrpcServer({ host: config.grpcHost, port: config.grpcPort, tls: config.tls, services: [ebsGrpcService(svc, log)] });
  log.info({ grpcPort: grpcServer.port, kms: config.kmsAddress }, "ebs ready");
  // In the background: the service answers meanwhile, and block I/O fetches a missing key itself.
  void svc.restoreAttachedKeys().then(
    (r) => log.info(r, "data keys of attached volumes restored"),
    (e) => log.error({ err: String(e) }, "could not restore the data keys of attached volumes"),
  );
  onShutdown(log, [() => grpcServer.shutdown(), () => svc.forgetAllKeys(), () => kms.close(), () => redis.quit(), () => blockRedis.quit()]);
});
