// Volumes and their blocks in Redis (prefix ebs:). A volume is one JSON value; its blocks are
// a hash of block index → encrypted block. The plaintext data key is never written here.
import type { Redis } from "@envelope/shared";
import type { VolumeRecord } from "../domain/volumes.js";

const volumeKey = (id: string) => `ebs:volume:${id}`;
const blocksKey = (id: string) => `ebs:blocks:${id}`;
const byWorkspace = (ws: string) => `ebs:volumes-by-workspace:${ws}`;
const clientTokenKey = (token: string) => `ebs:client-token:${token}`;
const INDEX = "ebs:volumes";

export class VolumeStore {
  /** blocks: the connection for block data (by default the same one). */
  constructor(
    private readonly redis: Redis,
    private readonly blocks: Redis = redis,
  ) {}

  async get(volumeId: string): Promise<VolumeRecord | undefined> {
    const raw = await this.redis.get(volumeKey(volumeId));
    return raw ? (JSON.parse(raw) as VolumeRecord) : undefined;
  }

  async many(ids: string[]): Promise<VolumeRecord[]> {
    if (ids.length === 0) return [];
    const raws = await this.redis.mget(ids.map(volumeKey));
    return raws.filter((r): r is string => r !== null).map((r) => JSON.parse(r) as VolumeRecord);
  }

  async put(v: VolumeRecord): Promise<void> {
    const tx = this.redis.multi().set(volumeKey(v.volumeId), JSON.stringify(v)).zadd(INDEX, v.createTime * 1000, v.volumeId);
    if (v.workspaceId) tx.sadd(byWorkspace(v.workspaceId), v.volumeId);
    await tx.exec();
  }

  async delete(v: VolumeRecord): Promise<void> {
    const tx = this.redis.multi().del(volumeKey(v.volumeId), blocksKey(v.volumeId)).zrem(INDEX, v.volumeId);
    if (v.workspaceId) tx.srem(byWorkspace(v.workspaceId), v.volumeId);
    await tx.exec();
  }

  async idsForWorkspace(workspaceId: string): Promise<string[]> {
    return this.redis.smembers(byWorkspace(workspaceId));
  }

  async page(offset: number, limit: number): Promise<{ ids: string[]; total: number }> {
    const [ids, total] = await Promise.all([this.redis.zrange(INDEX, offset, offset + limit - 1), this.redis.zcard(INDEX)]);
    return { ids, total };
  }

  /** Claims a client token for a volume id; returns the id it already names, if any. */
  async claimClientToken(token: string, volumeId: string): Promise<string | undefined> {
    const ok = await this.redis.set(clientTokenKey(token), volumeId, "EX", 86400, "NX");
    return ok === "OK" ? undefined : ((await this.redis.get(clientTokenKey(token))) ?? undefined);
  }

  /** Frees a client token whose volume was never created, so a retry can create it. */
  async releaseClientToken(token: string): Promise<void> {
    await this.redis.del(clientTokenKey(token));
  }

  async writeBlocks(volumeId: string, start: number, blocks: Buffer[]): Promise<void> {
    const fields: (string | Buffer)[] = [];
    blocks.forEach((b, i) => fields.push(String(start + i), b));
    await this.blocks.hset(blocksKey(volumeId), ...fields);
  }

  async readBlocks(volumeId: string, start: number, count: number): Promise<(Buffer | null)[]> {
    const fields = Array.from({ length: count }, (_, i) => String(start + i));
    return this.blocks.hmgetBuffer(blocksKey(volumeId), ...fields);
  }
}
