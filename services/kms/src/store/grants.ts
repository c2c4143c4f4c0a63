// Grants in Redis (prefix kms:). A grant is one JSON value, indexed by key (for ListGrants)
// and by grantee (so authorization reads only the caller's grants).
import type { Redis } from "@envelope/shared";
import type { Grant } from "../domain/grants.js";

const grantKey = (grantId: string) => `kms:grant:${grantId}`;
const byKey = (keyId: string) => `kms:grants-by-key:${keyId}`;
const byGrantee = (principal: string) => `kms:grants-by-grantee:${principal}`;
const byRetiree = (principal: string) => `kms:grants-by-retiree:${principal}`;
const byFingerprint = (fp: string) => `kms:grant-name:${fp}`;

export class GrantStore {
  constructor(private readonly redis: Redis) {}

  async get(grantId: string): Promise<Grant | undefined> {
    const raw = await this.redis.get(grantKey(grantId));
    return raw ? (JSON.parse(raw) as Grant) : undefined;
  }

  /** The live grants whose grantee is this principal, for one key. */
  async forGrantee(principal: string, keyId: string): Promise<Grant[]> {
    const ids = await this.redis.smembers(byGrantee(principal));
    return (await this.many(ids)).filter((g) => g.keyId === keyId);
  }

  async many(ids: string[]): Promise<Grant[]> {
    if (ids.length === 0) return [];
    const raws = await this.redis.mget(ids.map(grantKey));
    return raws.filter((r): r is string => r !== null).map((r) => JSON.parse(r) as Grant);
  }

  async countForKey(keyId: string): Promise<number> {
    return this.redis.zcard(byKey(keyId));
  }

  async listForKey(keyId: string, offset: number, limit: number): Promise<{ grants: Grant[]; total: number }> {
    const [ids, total] = await Promise.all([this.redis.zrange(byKey(keyId), offset, offset + limit - 1), this.redis.zcard(byKey(keyId))]);
    return { grants: await this.many(ids), total };
  }

  async listRetirable(principal: string): Promise<Grant[]> {
    return this.many(await this.redis.smembers(byRetiree(principal)));
  }

  /**
   * Stores a new grant unless one with the same name and parameters exists (the idempotent
   * retry); returns the grant id that now stands for the request.
   */
  async create(grant: Grant, fingerprint: string | undefined): Promise<string> {
    if (fingerprint) {
      const claimed = await this.redis.set(byFingerprint(fingerprint), grant.grantId, "NX");
      if (claimed !== "OK") {
        const existing = await this.redis.get(byFingerprint(fingerprint));
        if (existing && (await this.redis.exists(grantKey(existing)))) return existing;
        await this.redis.set(byFingerprint(fingerprint), grant.grantId);
      }
    }
    const tx = this.redis
      .multi()
      .set(grantKey(grant.grantId), JSON.stringify({ ...grant, fingerprint }))
      .zadd(byKey(grant.keyId), grant.creationDate * 1000, grant.grantId)
      .sadd(byGrantee(grant.granteePrincipal), grant.grantId);
    if (grant.retiringPrincipal) tx.sadd(byRetiree(grant.retiringPrincipal), grant.grantId);
    await tx.exec();
    return grant.grantId;
  }

  /** Deletes a grant and its index entries at once: a retired grant stops working immediately. */
  async delete(grant: Grant & { fingerprint?: string }): Promise<void> {
    const tx = this.redis
      .multi()
      .del(grantKey(grant.grantId))
      .zrem(byKey(grant.keyId), grant.grantId)
      .srem(byGrantee(grant.granteePrincipal), grant.grantId);
    if (grant.retiringPrincipal) tx.srem(byRetiree(grant.retiringPrincipal), grant.grantId);
    if (grant.fingerprint) tx.del(byFingerprint(grant.fingerprint));
    await tx.exec();
  }
}
