// OpenTelemetry for one Envelope service. Each service's own src/telemetry.ts calls
// startTelemetry() and is loaded with `node --import ./dist/telemetry.js` so the SDK patches
// grpc-js, http, express, ioredis and pino before anything imports them.
//
// Export is configured only by the standard OTEL_* variables, read by the SDK itself:
// OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL (http/protobuf or http/json),
// OTEL_TRACES_SAMPLER, OTEL_SDK_DISABLED. Spans leave through a batch processor, so a
// collector that can't be reached never slows or fails a request.
import { NodeSDK } from "@opentelemetry/sdk-node";
import { GrpcInstrumentation } from "@opentelemetry/instrumentation-grpc";
import { HttpInstrumentation } from "@opentelemetry/instrumentation-http";
import { ExpressInstrumentation } from "@opentelemetry/instrumentation-express";
import { IORedisInstrumentation } from "@opentelemetry/instrumentation-ioredis";
import { PinoInstrumentation } from "@opentelemetry/instrumentation-pino";

const KEY = Symbol.for("envelope.telemetry");
type Holder = { [KEY]?: NodeSDK };

export function startTelemetry(serviceName: string): void {
  // Disabled means no SDK at all: nothing is patched, no request pays for tracing.
  if (process.env.OTEL_SDK_DISABLED?.trim().toLowerCase() === "true") return;
  process.env.OTEL_SERVICE_NAME ??= serviceName;
  // Traces only: metrics and logs exporters stay off unless asked for.
  process.env.OTEL_METRICS_EXPORTER ??= "none";
  process.env.OTEL_LOGS_EXPORTER ??= "none";
  const sdk = new NodeSDK({
    instrumentations: [
      new HttpInstrumentation(),
      new ExpressInstrumentation(),
      new GrpcInstrumentation(),
      // Only the command and its key reach a span: values (wrapped keys, blocks) never do.
      new IORedisInstrumentation({
        dbStatementSerializer: (cmd, args) =>
          /^eval/i.test(cmd) ? cmd : `${cmd} ${typeof args[0] === "string" ? args[0] : ""}`.trim(),
      }),
      new PinoInstrumentation({ disableLogSending: true }),
    ],
  });
  sdk.start();
  (globalThis as Holder)[KEY] = sdk;
}

/** Flushes and stops the SDK if one was started in this process. */
export async function shutdownTelemetry(): Promise<void> {
  const sdk = (globalThis as Holder)[KEY];
  if (!sdk) return;
  await Promise.race([sdk.shutdown().catch(() => undefined), new Promise((r) => setTimeout(r, 3000))]);
}
