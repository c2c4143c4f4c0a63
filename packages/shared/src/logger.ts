// Structured JSON logs. With telemetry on, the pino instrumentation adds trace_id and
// span_id to every line written inside a span.
import { pino, type Logger } from "pino";

export type { Logger };

export function createLogger(service: string, level = process.env.LOG_LEVEL ?? "info"): Logger {
  return pino({
    level,
    base: { service },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    // Defence in depth: these fields must never be logged, so pino drops them if a caller slips.
    redact: { paths: ["plaintext", "*.plaintext", "dataKey", "*.dataKey", "keyMaterial", "*.keyMaterial"], remove: true },
  });
}
