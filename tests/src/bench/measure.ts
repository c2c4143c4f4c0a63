// Closed-loop load: `concurrency` workers each call fn back to back until the time is up.
import { performance } from "node:perf_hooks";

export interface Measurement {
  name: string;
  concurrency: number;
  ops: number;
  errors: number;
  seconds: number;
  throughput: number; // ops per second
  p50Ms: number;
  p99Ms: number;
  /** Bytes moved per op, when the op moves data (then mbPerSec is set). */
  bytesPerOp?: number;
  mbPerSec?: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export async function measure(
  name: string,
  concurrency: number,
  durationMs: number,
  fn: (worker: number, i: number) => Promise<unknown>,
  bytesPerOp?: number,
): Promise<Measurement> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: unknown;
  const start = performance.now();
  const until = start + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      for (let i = 0; performance.now() < until; i++) {
        const t0 = performance.now();
        try {
          await fn(worker, i);
          latencies.push(performance.now() - t0);
        } catch (e) {
          errors++;
          firstError ??= e;
          if (errors > 1000) throw e;
        }
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  if (latencies.length === 0) throw new Error(`${name}: no operation succeeded: ${String(firstError)}`);
  latencies.sort((a, b) => a - b);
  const throughput = latencies.length / seconds;
  return {
    name,
    concurrency,
    ops: latencies.length,
    errors,
    seconds,
    throughput,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    ...(bytesPerOp ? { bytesPerOp, mbPerSec: (throughput * bytesPerOp) / (1024 * 1024) } : {}),
  };
}
