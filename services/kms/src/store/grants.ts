// Grants in Redis (prefix kms:). A grant is one JSON value, indexed by key (for ListGrants);
// a copy sits in a hash per grantee and key, so authorization reads the caller's grants for
// a key in one round trip.
import type { Redis } from "@envelope/shared";
import type { Grant } from "../domain/grants.js";

const grantKey = (grantId: string) => `kms:grant:${grantId}`;
const byKey = (keyId: string) => `kms:grants-by-key:${keyId}`;
const byGranteeAndKey = (principal: string, keyId: string) => `kms:grants-for:${keyId}:${principal}`;
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
    return (await this.redis.hvals(byGranteeAndKey(principal, keyId))).map((r) => JSON.parse(r) as Grant);
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
    const json = JSON.stringify({ ...grant, fingerprint });
    const tx = this.redis
      .multi()
      .set(grantKey(grant.grantId), json)
      .zadd(byKey(grant.keyId), grant.creationDate * 1000, grant.grantId)
      .hset(byGranteeAndKey(grant.granteePrincipal, grant.keyId), grant.grantId, json);
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
      .hdel(byGranteeAndKey(grant.granteePrincipal, grant.keyId), grant.grantId);
    if (grant.retiringPrincipal) tx.srem(byRetiree(grant.retiringPrincipal), grant.grantId);
    if (grant.fingerprint) tx.del(byFingerprint(grant.fingerprint));
    await tx.exec();
  }
}
