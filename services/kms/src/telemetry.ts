// Loaded first, with `node --import ./dist/telemetry.js`, so instrumentation is in place
// before grpc-js, express, ioredis or pino are imported.
import { startTelemetry } from "@envelope/shared/telemetry";

startTelemetry("kms");
