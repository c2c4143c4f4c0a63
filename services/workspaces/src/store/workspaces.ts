// WorkSpaces in Redis (prefix ws:): one JSON value per WorkSpace, an index by creation time,
// and a claim per directory user, since a user has at most one WorkSpace in a directory.
import type { Redis } from "@envelope/shared";
import type { WorkspaceRecord } from "../domain/workspaces.js";

const wsKey = (id: string) => `ws:workspace:${id}`;
const userKey = (dir: string, user: string) => `ws:user:${dir}:${user.toLowerCase()}`;
const INDEX = "ws:workspaces";

export class WorkspaceStore {
  constructor(private readonly redis: Redis) {}

  async get(id: string): Promise<WorkspaceRecord | undefined> {
    const raw = await this.redis.get(wsKey(id));
    return raw ? (JSON.parse(raw) as WorkspaceRecord) : undefined;
  }

  async many(ids: string[]): Promise<WorkspaceRecord[]> {
    if (ids.length === 0) return [];
    const raws = await this.redis.mget(ids.map(wsKey));
    return raws.filter((r): r is string => r !== null).map((r) => JSON.parse(r) as WorkspaceRecord);
  }

  /** Claims the user for a new WorkSpace; false when the user has one already (race-free). */
  async claimUser(w: WorkspaceRecord): Promise<boolean> {
    return (await this.redis.set(userKey(w.directoryId, w.userName), w.workspaceId, "NX")) === "OK";
  }

  async releaseUser(w: WorkspaceRecord): Promise<void> {
    // Only this WorkSpace's claim: compare-and-delete.
    await this.redis.eval("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0", 1, userKey(w.directoryId, w.userName), w.workspaceId);
  }

  async put(w: WorkspaceRecord): Promise<void> {
    await this.redis.multi().set(wsKey(w.workspaceId), JSON.stringify(w)).zadd(INDEX, w.createdAt * 1000, w.workspaceId).exec();
  }

  /** A TERMINATED WorkSpace stays visible for a while, then vanishes, as in AWS. */
  async putTerminated(w: WorkspaceRecord, retentionSeconds: number): Promise<void> {
    await this.redis.multi().set(wsKey(w.workspaceId), JSON.stringify(w), "EX", retentionSeconds).zadd(INDEX, w.createdAt * 1000, w.workspaceId).exec();
  }

  async delete(w: WorkspaceRecord): Promise<void> {
    await this.redis.multi().del(wsKey(w.workspaceId)).zrem(INDEX, w.workspaceId).exec();
  }

  /** Every WorkSpace still stored, oldest first; index entries of expired ones are dropped on the way. */
  async all(): Promise<WorkspaceRecord[]> {
    const ids = await this.redis.zrange(INDEX, 0, -1);
    const found = await this.many(ids);
    const gone = ids.filter((id) => !found.some((w) => w.workspaceId === id));
    if (gone.length) await this.redis.zrem(INDEX, ...gone);
    return found;
  }
}
