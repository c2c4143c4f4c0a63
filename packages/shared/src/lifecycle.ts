// Graceful shutdown: on SIGTERM or SIGINT, run each closer once, in order, then exit.
import type { Logger } from "./logger.js";
import { shutdownTelemetry } from "./telemetry.js";

export function onShutdown(log: Logger, closers: Array<() => Promise<unknown> | unknown>): void {
  let closing = false;
  const close = async (signal: string) => {
    if (closing) return;
    closing = true;
    log.info({ signal }, "shutting down");
    for (const c of closers) {
      try {
        await c();
      } catch (err) {
        log.warn({ err }, "error while shutting down");
      }
    }
    await shutdownTelemetry();
    process.exit(0);
  };
  process.once("SIGTERM", () => void close("SIGTERM"));
  process.once("SIGINT", () => void close("SIGINT"));
}

/** Runs main(); a failure to start is logged in one clear line and exits 1. */
export function runMain(log: Logger, main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    log.fatal({ err: err instanceof Error ? { message: err.message } : err }, "failed to start");
    process.exit(1);
  });
}
