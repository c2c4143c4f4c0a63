// WorkSpaces in Redis (prefix ws:): one JSON value per WorkSpace, an index by creation time,
// and a claim per directory user, since a user has at most one WorkSpace in a directory.
import type { Redis } from "@envelope/shared";
import type { WorkspaceRecord } from "../domain/workspaces.js";

const wsKey = (id: string) => `ws:workspace:${id}`;
const userKey = (dir: string, user: string) => `ws:user:${dir}:${user.toLowerCase()}`;
const INDEX = "ws:workspaces";
/** WorkSpaces with a workflow under way: what a restarted service resumes. */
const WORKFLOWS = "ws:workflows";

// Claims the user and stores the new WorkSpace in one step, so a crash can't leave a claim
// without a WorkSpace (which would block the user for good).
const CREATE = `if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  redis.call('SET', KEYS[2], ARGV[2]); redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1]); redis.call('SADD', KEYS[4], ARGV[1]); return 1
end return 0`;

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

  /** Stores a new WorkSpace and claims its user; false when the user has one already (race-free). */
  async create(w: WorkspaceRecord): Promise<boolean> {
    const keys = [userKey(w.directoryId, w.userName), wsKey(w.workspaceId), INDEX, WORKFLOWS];
    return (await this.redis.eval(CREATE, keys.length, ...keys, w.workspaceId, JSON.stringify(w), w.createdAt * 1000)) === 1;
  }

  /** The WorkSpace id the user's claim names, if any. */
  async claimOf(directoryId: string, userName: string): Promise<string | undefined> {
    return (await this.redis.get(userKey(directoryId, userName))) ?? undefined;
  }

  /** WorkSpaces whose workflow a restarted service must resume. */
  async withWorkflows(): Promise<WorkspaceRecord[]> {
    return this.many(await this.redis.smembers(WORKFLOWS));
  }

  async releaseUser(w: WorkspaceRecord): Promise<void> {
    // Only this WorkSpace's claim: compare-and-delete.
    await this.redis.eval("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0", 1, userKey(w.directoryId, w.userName), w.workspaceId);
  }

  /** The WorkSpace and whether its workflow is under way, in one transaction. */
  async put(w: WorkspaceRecord): Promise<void> {
    const tx = this.redis.multi().set(wsKey(w.workspaceId), JSON.stringify(w)).zadd(INDEX, w.createdAt * 1000, w.workspaceId);
    await (w.workflow ? tx.sadd(WORKFLOWS, w.workspaceId) : tx.srem(WORKFLOWS, w.workspaceId)).exec();
  }

  /**
   * A TERMINATED WorkSpace stays visible for a while, then vanishes, as in AWS; its user is
   * free for a new one.
   */
  async putTerminated(w: WorkspaceRecord, retentionSeconds: number): Promise<void> {
    await this.redis
      .multi()
      .set(wsKey(w.workspaceId), JSON.stringify(w), "EX", retentionSeconds)
      .zadd(INDEX, w.createdAt * 1000, w.workspaceId)
      .srem(WORKFLOWS, w.workspaceId)
      .exec();
    await this.releaseUser(w);
  }

  /** A WorkSpace that never came to be (its request failed): gone, and its user free. */
  async delete(w: WorkspaceRecord): Promise<void> {
    await this.redis.multi().del(wsKey(w.workspaceId)).zrem(INDEX, w.workspaceId).srem(WORKFLOWS, w.workspaceId).exec();
    await this.releaseUser(w);
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
