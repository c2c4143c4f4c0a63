// The benchmark itself never runs in `npm test`; this only checks that `npm run bench` works
// and writes its report, with a tiny budget.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { dockerSkipReason } from "../support/stack.js";

const run = promisify(execFile);

test("npm run bench runs briefly and writes bench.json, REPORT.md and chart.svg", { skip: dockerSkipReason(), timeout: 10 * 60_000 }, async () => {
  const out = mkdtempSync(path.join(os.tmpdir(), "envelope-bench-"));
  await run(process.execPath, [path.join(__dirname, "../bench/run.js")], {
    env: { ...process.env, BENCH_SECONDS: "0.3", BENCH_LEVELS: "1,2", BENCH_OUT: out },
    timeout: 5 * 60_000,
  });
  for (const f of ["bench.json", "REPORT.md", "chart.svg"]) assert.ok(existsSync(path.join(out, f)), `${f} written`);
  const results = JSON.parse(readFileSync(path.join(out, "bench.json"), "utf8")) as {
    measurements: { name: string; throughput: number }[];
    ratios: { name: string; value: number }[];
    perWorkspace: { kmsCalls: number };
    memory: Record<string, { atRestMiB: number; peakMiB: number }>;
  };
  const names = new Set(results.measurements.map((m) => m.name));
  for (const n of ["ceiling: grpc-js unary echo", "kms gRPC Decrypt (grant)", "kms HTTP+SDK GenerateDataKey", "ebs gRPC WriteBlocks (16×64 KiB)"]) assert.ok(names.has(n), `measured ${n}`);
  assert.ok(results.measurements.every((m) => m.throughput > 0));
  assert.ok(results.ratios.some((r) => r.name === "decrypt-vs-echo-1" && r.value > 0));
  assert.equal(results.perWorkspace.kmsCalls, 8, "DescribeKey + 3 CreateGrant + 2 GenerateDataKeyWithoutPlaintext + 2 Decrypt");
  for (const s of ["kms", "ebs", "workspaces"]) assert.ok(results.memory[s]!.atRestMiB > 0);
  assert.match(readFileSync(path.join(out, "chart.svg"), "utf8"), /^<svg/);
});
