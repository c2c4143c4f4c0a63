// The services' telemetry entry, exporting through the standard OTEL_* variables only.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { startOtlpReceiver, type OtlpReceiver } from "../support/otlp-receiver.js";
import { ROOT } from "../support/stack.js";

const run = promisify(execFile);
const telemetryEntry = path.join(ROOT, "services/kms/dist/telemetry.js");
const emitter = path.join(__dirname, "../fixtures/emit-span.js");

let receiver: OtlpReceiver;
before(async () => {
  receiver = await startOtlpReceiver("127.0.0.1");
});
after(() => receiver.close());

async function emit(marker: string, env: Record<string, string>) {
  await run(process.execPath, ["--import", telemetryEntry, emitter, marker], {
    env: { PATH: process.env.PATH, OTEL_BSP_SCHEDULE_DELAY: "100", ...env },
    timeout: 30_000,
  });
}

for (const [protocol, contentType] of [
  ["http/protobuf", "application/x-protobuf"],
  ["http/json", "application/json"],
] as const) {
  test(`OTEL_EXPORTER_OTLP_PROTOCOL=${protocol} exports spans with the service's name`, async () => {
    const marker = `m-${protocol}-${Date.now()}`;
    await emit(marker, { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiver.port}`, OTEL_EXPORTER_OTLP_PROTOCOL: protocol });
    const span = receiver.spans.find((s) => s.attributes["test.marker"] === marker);
    assert.ok(span, `span received over ${protocol}`);
    assert.equal(span.service, "kms");
    assert.ok(receiver.contentTypes.has(contentType));
  });
}

test("OTEL_SDK_DISABLED=true exports nothing", async () => {
  const marker = `m-disabled-${Date.now()}`;
  await emit(marker, { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiver.port}`, OTEL_SDK_DISABLED: "true" });
  assert.equal(receiver.spans.filter((s) => s.attributes["test.marker"] === marker).length, 0);
});

test("OTEL_TRACES_SAMPLER=always_off samples nothing", async () => {
  const marker = `m-off-${Date.now()}`;
  await emit(marker, { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiver.port}`, OTEL_TRACES_SAMPLER: "always_off" });
  assert.equal(receiver.spans.filter((s) => s.attributes["test.marker"] === marker).length, 0);
});

test("a collector that can't be reached does not fail the process", async () => {
  // Port 9 (discard) on loopback: nothing listens, the export fails, the program still exits 0.
  await emit("m-unreachable", { OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:9" });
});
