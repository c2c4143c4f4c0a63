// The audit trail in a Redis stream (kms:audit), newest last, capped at about 100,000
// events. Stream ids are millisecond timestamps, so time filters are range reads.
import type { Redis } from "@envelope/shared";
import { type AuditFilter, type CloudTrailEvent, matchesFilter } from "../domain/audit.js";

const STREAM = "kms:audit";
const MAX_EVENTS = 100_000;

export class AuditStore {
  constructor(private readonly redis: Redis) {}

  async record(event: CloudTrailEvent): Promise<void> {
    await this.redis.xadd(STREAM, "MAXLEN", "~", MAX_EVENTS, "*", "event", JSON.stringify(event));
  }

  /** Newest first, matching the filter, at most limit, starting below the `before` stream id. */
  async lookup(filter: AuditFilter, limit: number, before?: string): Promise<{ events: CloudTrailEvent[]; next?: string }> {
    const end = before ? `(${before}` : filter.endTime ? String(filter.endTime.getTime()) : "+";
    const start = filter.startTime ? String(filter.startTime.getTime()) : "-";
    const events: CloudTrailEvent[] = [];
    let cursor = end;
    for (;;) {
      const batch = await this.redis.xrevrange(STREAM, cursor, start, "COUNT", 500);
      for (const [id, fields] of batch) {
        const event = JSON.parse(fields[1]!) as CloudTrailEvent;
        if (!matchesFilter(event, filter)) continue;
        events.push(event);
        if (events.length === limit) return { events, next: id };
      }
      if (batch.length < 500) return { events };
      cursor = `(${batch[batch.length - 1]![0]}`;
    }
  }
}
