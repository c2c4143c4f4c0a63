// A small OTLP/HTTP trace receiver for tests (Jaeger can't be had here): accepts
// POST /v1/traces as http/protobuf or http/json and keeps every span it is sent.
import http from "node:http";
import type { AddressInfo } from "node:net";
import protobuf from "protobufjs";

export interface ReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  startNs: bigint;
  endNs: bigint;
  attributes: Record<string, unknown>;
  events: { name: string; attributes: Record<string, unknown> }[];
  links: { traceId: string; spanId: string }[];
}

// The part of opentelemetry/proto/collector/trace/v1 the tests read; protobuf skips the rest.
const OTLP_SUBSET = `
syntax = "proto3";
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }
message Resource { repeated KeyValue attributes = 1; }
message ScopeSpans { repeated Span spans = 2; }
message Span {
  bytes trace_id = 1; bytes span_id = 2; bytes parent_span_id = 4; string name = 5; int32 kind = 6;
  fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8; repeated KeyValue attributes = 9;
  repeated Event events = 11; repeated Link links = 13;
}
message Event { fixed64 time_unix_nano = 1; string name = 2; repeated KeyValue attributes = 3; }
message Link { bytes trace_id = 1; bytes span_id = 2; }
message KeyValue { string key = 1; AnyValue value = 2; }
message AnyValue {
  oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4; ArrayValue array_value = 5; bytes bytes_value = 7; }
}
message ArrayValue { repeated AnyValue values = 1; }
`;
const ExportRequest = protobuf.parse(OTLP_SUBSET, { keepCase: false }).root.lookupType("ExportTraceServiceRequest");

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const hex = (v: unknown): string => (typeof v === "string" ? v.toLowerCase() : Buffer.from((v as Uint8Array | undefined) ?? []).toString("hex"));

function anyValue(v: Json | undefined): unknown {
  if (!v) return undefined;
  if ("stringValue" in v) return v.stringValue;
  if ("boolValue" in v) return v.boolValue;
  if ("intValue" in v) return Number(v.intValue);
  if ("doubleValue" in v) return v.doubleValue;
  if ("arrayValue" in v) return ((v.arrayValue?.values ?? []) as Json[]).map(anyValue);
  if ("bytesValue" in v) return v.bytesValue;
  return undefined;
}

const attributes = (kvs: Json[] | undefined): Record<string, unknown> =>
  Object.fromEntries((kvs ?? []).map((kv) => [kv.key as string, anyValue(kv.value)]));

/** Both encodings, decoded to the same plain shape (camelCase members, as OTLP/JSON). */
function spansOf(request: Json): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of (request.resourceSpans ?? []) as Json[]) {
    const service = String(attributes(rs.resource?.attributes)["service.name"] ?? "");
    for (const ss of (rs.scopeSpans ?? []) as Json[]) {
      for (const s of (ss.spans ?? []) as Json[]) {
        out.push({
          service,
          traceId: hex(s.traceId),
          spanId: hex(s.spanId),
          parentSpanId: hex(s.parentSpanId),
          name: s.name,
          kind: Number(s.kind ?? 0),
          startNs: BigInt(String(s.startTimeUnixNano ?? 0)),
          endNs: BigInt(String(s.endTimeUnixNano ?? 0)),
          attributes: attributes(s.attributes),
          events: ((s.events ?? []) as Json[]).map((e) => ({ name: e.name, attributes: attributes(e.attributes) })),
          links: ((s.links ?? []) as Json[]).map((l) => ({ traceId: hex(l.traceId), spanId: hex(l.spanId) })),
        });
      }
    }
  }
  return out;
}

export interface OtlpReceiver {
  port: number;
  spans: ReceivedSpan[];
  /** Content types seen, to tell which encoding the exporters used. */
  contentTypes: Set<string>;
  close(): Promise<void>;
}

export async function startOtlpReceiver(host = "0.0.0.0"): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const contentTypes = new Set<string>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim();
      contentTypes.add(type);
      try {
        const decoded =
          type === "application/json"
            ? (JSON.parse(body.toString("utf8")) as Json)
            : (ExportRequest.toObject(ExportRequest.decode(body), { longs: String, bytes: Array, defaults: false }) as Json);
        spans.push(...spansOf(decoded));
        res.writeHead(200, { "content-type": type || "application/json" }).end(type === "application/json" ? "{}" : undefined);
      } catch (e) {
        res.writeHead(400).end(String(e));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  return {
    port: (server.address() as AddressInfo).port,
    spans,
    contentTypes,
    close: () => new Promise((r) => server.close(() => r())),
  };
}
