// Writes the bench results: JSON for machines, Markdown for people, and an SVG chart of
// throughput and p99 latency against concurrency.
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Measurement } from "./measure.js";

export interface BenchResults {
  startedAt: string;
  machine: { cpus: number; node: string; platform: string };
  secondsPerMeasurement: number;
  measurements: Measurement[];
  ratios: { name: string; value: number; ceiling: string; measured: string; target?: number }[];
  memory: Record<string, { atRestMiB: number; peakMiB: number }>;
  perWorkspace?: { kmsCalls: number; redisCalls: number; kmsCallsByOperation: Record<string, number> };
  endToEnd?: { concurrency: number; workspaces: number; perSecond: number; p50Ms: number; p99Ms: number }[];
}

const fmt = (n: number, digits = 1) => (n >= 100 ? n.toFixed(0) : n.toFixed(digits));

function markdown(r: BenchResults): string {
  const rows = r.measurements.map(
    (m) => `| ${m.name} | ${m.concurrency} | ${fmt(m.throughput)} | ${m.mbPerSec !== undefined ? fmt(m.mbPerSec) : ""} | ${fmt(m.p50Ms, 2)} | ${fmt(m.p99Ms, 2)} | ${m.errors} |`,
  );
  const ratios = r.ratios.map(
    (x) => `| ${x.measured} | ${x.ceiling} | ${x.value.toFixed(2)} | ${x.target !== undefined ? `≥ ${x.target} ${x.value >= x.target ? "✓" : "✗"}` : ""} |`,
  );
  const memory = Object.entries(r.memory).map(([s, m]) => `| ${s} | ${fmt(m.atRestMiB)} | ${fmt(m.peakMiB)} |`);
  const e2e = (r.endToEnd ?? []).map((e) => `| ${e.concurrency} | ${e.workspaces} | ${fmt(e.perSecond, 2)} | ${fmt(e.p50Ms)} | ${fmt(e.p99Ms)} |`);
  const calls = r.perWorkspace
    ? [
        `KMS calls per WorkSpace: **${r.perWorkspace.kmsCalls}** (${Object.entries(r.perWorkspace.kmsCallsByOperation).map(([k, v]) => `${k} ${v}`).join(", ")}); Redis calls per WorkSpace: **${r.perWorkspace.redisCalls}**.`,
      ]
    : [];
  return [
    "# Envelope benchmark",
    "",
    `Run ${r.startedAt} on ${r.machine.cpus} CPUs, Node.js ${r.machine.node}; ${r.secondsPerMeasurement}s per measurement, closed loop. Times alone mean little on a shared machine: the ratios to ceilings measured in the same run are what we track.`,
    "",
    "![throughput and p99 latency against concurrency](chart.svg)",
    "",
    "## Ratios to ceilings",
    "",
    "| measured | ceiling | ratio | target |",
    "|---|---|---|---|",
    ...ratios,
    "",
    "## Measurements",
    "",
    "| operation | concurrency | ops/s | MB/s | p50 ms | p99 ms | errors |",
    "|---|---|---|---|---|---|---|",
    ...rows,
    "",
    "## End to end: CreateWorkspaces to AVAILABLE",
    "",
    "| concurrency | WorkSpaces | per second | time to AVAILABLE p50 ms | p99 ms |",
    "|---|---|---|---|---|",
    ...e2e,
    "",
    ...calls,
    "",
    "## Memory (resident, MiB)",
    "",
    "| service | at rest | peak under load |",
    "|---|---|---|",
    ...memory,
    "",
  ].join("\n");
}

/** Two panels: ops/s (log scale) and p99 ms against concurrency, one line per operation. */
function svg(r: BenchResults): string {
  const series = new Map<string, Measurement[]>();
  for (const m of r.measurements) series.set(m.name, [...(series.get(m.name) ?? []), m]);
  const levels = [...new Set(r.measurements.map((m) => m.concurrency))].sort((a, b) => a - b);
  const W = 460, H = 300, pad = 50, gap = 40;
  const colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939"];
  const x = (c: number) => pad + (levels.indexOf(c) / Math.max(1, levels.length - 1)) * (W - 2 * pad);
  const panel = (ox: number, title: string, value: (m: Measurement) => number) => {
    const vals = r.measurements.map(value).filter((v) => v > 0);
    const lo = Math.log10(Math.min(...vals)), hi = Math.log10(Math.max(...vals));
    const y = (v: number) => H - pad - ((Math.log10(Math.max(v, 1e-9)) - lo) / Math.max(1e-9, hi - lo)) * (H - 2 * pad);
    const parts = [`<g transform="translate(${ox},0)">`, `<text x="${W / 2}" y="20" text-anchor="middle" font-weight="bold">${title}</text>`];
    parts.push(`<line x1="${pad}" y1="${H - pad}" x2="${W - pad}" y2="${H - pad}" stroke="#333"/><line x1="${pad}" y1="${pad}" x2="${pad}" y2="${H - pad}" stroke="#333"/>`);
    for (const c of levels) parts.push(`<text x="${x(c)}" y="${H - pad + 16}" text-anchor="middle">${c}</text>`);
    parts.push(`<text x="${W / 2}" y="${H - 12}" text-anchor="middle">concurrency</text>`);
    for (const t of [lo, (lo + hi) / 2, hi]) parts.push(`<text x="${pad - 4}" y="${y(10 ** t) + 4}" text-anchor="end">${fmt(10 ** t)}</text>`);
    [...series.entries()].forEach(([, ms], i) => {
      const pts = ms.map((m) => `${x(m.concurrency).toFixed(1)},${y(value(m)).toFixed(1)}`).join(" ");
      parts.push(`<polyline fill="none" stroke="${colors[i % colors.length]}" stroke-width="2" points="${pts}"/>`);
    });
    parts.push("</g>");
    return parts.join("");
  };
  const legend = [...series.keys()].map((name, i) => `<g transform="translate(${10 + (i % 3) * 310},${H + 10 + Math.floor(i / 3) * 18})"><rect width="12" height="12" fill="${colors[i % colors.length]}"/><text x="16" y="11">${name}</text></g>`);
  const height = H + 20 + Math.ceil(series.size / 3) * 18;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W + gap}" height="${height}" font-family="sans-serif" font-size="11"><rect width="100%" height="100%" fill="white"/>${panel(0, "throughput (ops/s, log)", (m) => m.throughput)}${panel(W + gap, "p99 latency (ms, log)", (m) => m.p99Ms)}${legend.join("")}</svg>\n`;
}

export function writeReport(dir: string, r: BenchResults): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, "bench.json"), `${JSON.stringify(r, null, 2)}\n`);
  writeFileSync(path.join(dir, "REPORT.md"), markdown(r));
  writeFileSync(path.join(dir, "chart.svg"), svg(r));
}
