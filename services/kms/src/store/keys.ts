// Keys and aliases in Redis (prefix kms:). Only wrapped key material is ever written.
import type { Redis } from "@envelope/shared";
import type { KeyRecord } from "../domain/keys.js";

export interface AliasRecord {
  aliasName: string;
  targetKeyId: string;
  creationDate: number;
  lastUpdatedDate: number;
}

const keyKey = (keyId: string) => `kms:key:${keyId}`;
const aliasKey = (name: string) => `kms:alias:${name}`;
const KEYS_INDEX = "kms:keys";
const ALIASES_INDEX = "kms:aliases";

// Creates a key and its alias together, only if the alias is free; returns the key id the
// alias names afterwards. Makes first-use creation of an AWS managed key race-free.
const CREATE_WITH_ALIAS = `
local existing = redis.call('GET', KEYS[1])
if existing then return cjson.decode(existing)['targetKeyId'] end
redis.call('SET', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
redis.call('SET', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[5])
return ARGV[4]`;

export class KeyStore {
  constructor(private readonly redis: Redis) {}

  async getKey(keyId: string): Promise<KeyRecord | undefined> {
    const raw = await this.redis.get(keyKey(keyId));
    return raw ? (JSON.parse(raw) as KeyRecord) : undefined;
  }

  async putKey(key: KeyRecord): Promise<void> {
    await this.redis.multi().set(keyKey(key.keyId), JSON.stringify(key)).zadd(KEYS_INDEX, key.creationDate * 1000, key.keyId).exec();
  }

  async updateKey(key: KeyRecord): Promise<void> {
    await this.redis.set(keyKey(key.keyId), JSON.stringify(key), "XX");
  }

  /** Stores key and alias atomically unless the alias exists; returns the alias's key id. */
  async createKeyWithAlias(key: KeyRecord, alias: AliasRecord): Promise<string> {
    return (await this.redis.eval(
      CREATE_WITH_ALIAS,
      4,
      aliasKey(alias.aliasName),
      keyKey(key.keyId),
      KEYS_INDEX,
      ALIASES_INDEX,
      JSON.stringify(key),
      JSON.stringify(alias),
      String(key.creationDate * 1000),
      key.keyId,
      alias.aliasName,
    )) as string;
  }

  /** Key ids in creation order, from offset, at most limit. */
  async listKeyIds(offset: number, limit: number): Promise<{ ids: string[]; total: number }> {
    const [ids, total] = await Promise.all([
      this.redis.zrange(KEYS_INDEX, offset, offset + limit - 1),
      this.redis.zcard(KEYS_INDEX),
    ]);
    return { ids, total };
  }

  async getAlias(aliasName: string): Promise<AliasRecord | undefined> {
    const raw = await this.redis.get(aliasKey(aliasName));
    return raw ? (JSON.parse(raw) as AliasRecord) : undefined;
  }

  /** Creates the alias if the name is free; false when it exists. */
  async createAlias(alias: AliasRecord): Promise<boolean> {
    const ok = await this.redis.set(aliasKey(alias.aliasName), JSON.stringify(alias), "NX");
    if (ok) await this.redis.zadd(ALIASES_INDEX, alias.creationDate * 1000, alias.aliasName);
    return ok === "OK";
  }

  async deleteAlias(aliasName: string): Promise<void> {
    await this.redis.multi().del(aliasKey(aliasName)).zrem(ALIASES_INDEX, aliasName).exec();
  }

  async listAliases(): Promise<AliasRecord[]> {
    const names = await this.redis.zrange(ALIASES_INDEX, 0, -1);
    if (names.length === 0) return [];
    const raws = await this.redis.mget(names.map(aliasKey));
    return raws.filter((r): r is string => r !== null).map((r) => JSON.parse(r) as AliasRecord);
  }
}
