// One ioredis connection per service, failing fast rather than queueing forever when Redis is away.
import { Redis } from "ioredis";
import type { Logger } from "./logger.js";

export { Redis };

export function connectRedis(url: string, log: Logger, name: string, opts: { autoPipelining?: boolean } = {}): Redis {
  const redis = new Redis(url, {
    connectionName: name,
    maxRetriesPerRequest: 3,
    enableOfflineQueue: true,
    // Commands issued in the same tick go out as one pipeline: fewer round trips under load.
    // (Not for MiBs of blocks: a pipeline copies every command into one more buffer.)
    enableAutoPipelining: opts.autoPipelining ?? true,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  redis.on("error", (err) => log.warn({ err: err.message }, "redis connection error"));
  return redis;
}
