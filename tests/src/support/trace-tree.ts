// Reads a trace the way a person reads it in Jaeger: as a tree of spans.
import type { ReceivedSpan } from "./otlp-receiver.js";

export const SPAN_KIND = { INTERNAL: 1, SERVER: 2, CLIENT: 3 } as const;

export class Trace {
  readonly byId = new Map<string, ReceivedSpan>();
  constructor(readonly spans: ReceivedSpan[]) {
    for (const s of spans) this.byId.set(s.spanId, s);
  }
  parent(s: ReceivedSpan): ReceivedSpan | undefined {
    return this.byId.get(s.parentSpanId);
  }
  ancestors(s: ReceivedSpan): ReceivedSpan[] {
    const out: ReceivedSpan[] = [];
    for (let p = this.parent(s); p; p = this.parent(p)) out.push(p);
    return out;
  }
  find(pred: (s: ReceivedSpan) => boolean): ReceivedSpan[] {
    return this.spans.filter(pred);
  }
  /** gRPC server spans for a method, e.g. ("kms", "KeyManagementService/CreateGrant"). */
  grpcServer(service: string, method: string): ReceivedSpan[] {
    return this.find((s) => s.service === service && s.kind === SPAN_KIND.SERVER && s.name.endsWith(method));
  }
  roots(): ReceivedSpan[] {
    return this.spans.filter((s) => !this.byId.has(s.parentSpanId));
  }

  /** An indented tree: service, span name, duration and the attributes worth reading. */
  render(keys: string[]): string {
    const children = new Map<string, ReceivedSpan[]>();
    for (const s of this.spans) children.set(s.parentSpanId, [...(children.get(s.parentSpanId) ?? []), s]);
    for (const list of children.values()) list.sort((a, b) => (a.startNs < b.startNs ? -1 : 1));
    const lines: string[] = [];
    const walk = (s: ReceivedSpan, depth: number) => {
      const ms = Number(s.endNs - s.startNs) / 1e6;
      const attrs = keys.filter((k) => s.attributes[k] !== undefined).map((k) => `${k}=${String(s.attributes[k])}`);
      const ctx = Object.entries(s.attributes)
        .filter(([k]) => k.startsWith("aws.kms.encryption_context."))
        .map(([k, v]) => `${k.slice("aws.kms.encryption_context.".length)}=${String(v)}`);
      const events = s.events.filter((e) => e.name === "workspace.state").map((e) => `${String(e.attributes.from)}→${String(e.attributes.to)}`);
      const extra = [...attrs, ...(ctx.length ? [`context{${ctx.join(", ")}}`] : []), ...(events.length ? [`states[${events.join(" ")}]`] : [])];
      lines.push(`${"  ".repeat(depth)}[${s.service}] ${s.name} ${ms.toFixed(1)}ms${extra.length ? `  ${extra.join(" ")}` : ""}`);
      for (const c of children.get(s.spanId) ?? []) walk(c, depth + 1);
    };
    for (const r of this.roots().sort((a, b) => (a.startNs < b.startNs ? -1 : 1))) walk(r, 0);
    return lines.join("\n");
  }
}
