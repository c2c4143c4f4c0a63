// npm run bench: starts Redis (a container, or REDIS_URL), the three services as local
// processes and a bare gRPC echo server; measures Envelope and, in the same run, the
// ceilings it is compared with; writes bench-results/{bench.json,REPORT.md,chart.svg}.
//   BENCH_SECONDS   seconds per measurement (default 3)
//   BENCH_LEVELS    concurrency levels (default 1,16,64)
//   BENCH_OUT       output folder (default bench-results)
import { spawn } from "node:child_process";
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import * as grpc from "@grpc/grpc-js";
import { Redis } from "ioredis";
import { GenericContainer, type StartedTestContainer } from "testcontainers";
import { DecryptCommand, GenerateDataKeyCommand } from "@aws-sdk/client-kms";
import { callUnary, serviceSessionArn, EBS_ROLE, WORKSPACES_ROLE, type Caller } from "@envelope/shared";
import { loadWorkspaces, type workspaces } from "@envelope/proto";
import { ROOT, testCertificates } from "../support/stack.js";
import { DIRECTORY, PARTITION, credentialsFor, ebsGrpc, kmsClient, kmsGrpc, optionsFor } from "../support/clients.js";
import { startOtlpReceiver } from "../support/otlp-receiver.js";
import { ECHO_METHOD } from "./echo-server.js";
import { type Measurement, measure } from "./measure.js";
import { startService, type ServiceProcess } from "./processes.js";
import { type BenchResults, writeReport } from "./report.js";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const LEVELS = (process.env.BENCH_LEVELS ?? "1,16,64").split(",").map(Number);
const OUT = path.resolve(process.env.BENCH_OUT ?? path.join(ROOT, "bench-results"));
const MS = SECONDS * 1000;
const PORTS = { kms: 51151, ebs: 51152, workspaces: 51153, kmsHttp: 54671, wsHttp: 54670 };
const admin: Caller = { principal: `arn:aws:iam::${PARTITION.account}:user/admin` };
const wsadmin: Caller = { principal: `arn:aws:iam::${PARTITION.account}:user/wsadmin` };
const log = (s: string) => process.stderr.write(`[bench] ${s}\n`);

async function startRedis(): Promise<{ url: string; stop: () => Promise<unknown> }> {
  if (process.env.REDIS_URL) return { url: process.env.REDIS_URL, stop: async () => undefined };
  process.env.TESTCONTAINERS_RYUK_DISABLED ??= "true";
  const c: StartedTestContainer = await new GenericContainer("redis:7-bookworm")
    .withCommand(["redis-server", "--appendonly", "yes", "--appendfsync", "always", "--save", ""])
    .withExposedPorts(6379)
    .start();
  // The container's own address where the host can reach it (Linux bridge): the published
  // port goes through docker-proxy, a userland copy that would bill every MiB of blocks twice
  // on a 2-core machine, to Envelope and to the Redis ceiling alike.
  const ip = c.getIpAddress(c.getNetworkNames()[0]!);
  const probe = new Redis({ host: ip, port: 6379, lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  const direct = await probe.connect().then(() => true, () => false);
  probe.disconnect();
  return { url: direct ? `redis://${ip}:6379` : `redis://${c.getHost()}:${c.getMappedPort(6379)}`, stop: () => c.stop() };
}

/** The bare echo server, behind the same mutual TLS as the services, so the ceiling is like for like. */
async function startEcho(certs: string): Promise<{ client: grpc.Client; stop: () => void }> {
  const child = spawn(process.execPath, [path.join(__dirname, "echo-server.js"), "0", certs], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve) => child.stdout!.once("data", (d: Buffer) => resolve(Number(d.toString().trim()))));
  const client = new grpc.Client(`127.0.0.1:${port}`, credentialsFor("client"), optionsFor("127.0.0.1:0"));
  return { client, stop: () => child.kill("SIGTERM") };
}

const echoCall = (client: grpc.Client, payload: Buffer) =>
  new Promise<Buffer>((resolve, reject) =>
    client.makeUnaryRequest(ECHO_METHOD.path, ECHO_METHOD.requestSerialize, ECHO_METHOD.responseDeserialize, payload, (e, r) => (e ? reject(e) : resolve(r!))),
  );

/** AES-256-GCM in this process, with no I/O: MB/s sealing and opening blocks of the given size. */
function aesCeiling(blockBytes: number, seconds: number): Measurement {
  const key = randomBytes(32);
  const block = randomBytes(blockBytes);
  const aad = Buffer.from("vol-0123456789abcdef0|0");
  let ops = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    const iv = randomBytes(12);
    const c = createCipheriv("aes-256-gcm", key, iv).setAAD(aad);
    const ct = Buffer.concat([c.update(block), c.final()]);
    const d = createDecipheriv("aes-256-gcm", key, iv).setAAD(aad).setAuthTag(c.getAuthTag());
    Buffer.concat([d.update(ct), d.final()]);
    ops++;
  }
  const s = (performance.now() - t0) / 1000;
  // One op here is a seal and an open: count the bytes once each way, as a write plus a read.
  return { name: `ceiling: AES-256-GCM seal+open ${blockBytes / 1024} KiB`, concurrency: 1, ops, errors: 0, seconds: s, throughput: ops / s, p50Ms: 0, p99Ms: 0, bytesPerOp: blockBytes * 2, mbPerSec: (ops * blockBytes * 2) / s / 1048576 };
}

async function main() {
  const results: BenchResults = {
    startedAt: new Date().toISOString(),
    machine: { cpus: os.cpus().length, node: process.version, platform: `${os.platform()} ${os.arch()}` },
    secondsPerMeasurement: SECONDS,
    measurements: [],
    ratios: [],
    memory: {},
  };
  const add = (m: Measurement) => {
    results.measurements.push(m);
    log(`${m.name} c=${m.concurrency}: ${m.throughput.toFixed(0)} ops/s${m.mbPerSec ? ` ${m.mbPerSec.toFixed(1)} MB/s` : ""} p50 ${m.p50Ms.toFixed(2)} ms p99 ${m.p99Ms.toFixed(2)} ms`);
    return m;
  };
  const at = (name: string, c: number) => results.measurements.find((m) => m.name === name && m.concurrency === c);

  const certs = await testCertificates();
  const redis = await startRedis();
  const echo = await startEcho(certs);
  const env = (extra: Record<string, string> = {}) => ({
    REDIS_URL: redis.url,
    KMS_MASTER_KEY: randomBytes(32).toString("base64"),
    KMS_ADDRESS: `127.0.0.1:${PORTS.kms}`,
    EBS_ADDRESS: `127.0.0.1:${PORTS.ebs}`,
    OTEL_SDK_DISABLED: "true",
    TLS_DIR: certs,
    IDENTITIES_FILE: path.join(ROOT, "deploy/identities.json"),
    KMS_SEED_FILE: path.join(ROOT, "deploy/kms-seed.json"),
    ...extra,
  });
  const masterKey = randomBytes(32).toString("base64");
  const startAll = async (extra: Record<string, string> = {}): Promise<ServiceProcess[]> => [
    await startService("kms", PORTS.kms, { ...env(extra), KMS_MASTER_KEY: masterKey, HTTP_PORT: String(PORTS.kmsHttp) }),
    await startService("ebs", PORTS.ebs, env(extra)),
    await startService("workspaces", PORTS.workspaces, { ...env(extra), HTTP_PORT: String(PORTS.wsHttp) }),
  ];
  let services = await startAll();
  const peak: Record<string, number> = {};
  await new Promise((r) => setTimeout(r, 1000));
  for (const s of services) results.memory[s.name] = { atRestMiB: s.rssMiB(), peakMiB: 0 };
  const sampler = setInterval(() => {
    for (const s of services) peak[s.name] = Math.max(peak[s.name] ?? 0, s.rssMiB());
  }, 200);

  process.env.ENVELOPE_HOST = "127.0.0.1";
  const kms = kmsGrpc("client", `127.0.0.1:${PORTS.kms}`);
  // Calls made as EBS's sessions present EBS's certificate, as EBS itself does.
  const kmsAsEbs = kmsGrpc("ebs", `127.0.0.1:${PORTS.kms}`);
  const ebs = ebsGrpc("client", `127.0.0.1:${PORTS.ebs}`);
  const Ws = loadWorkspaces().envelope.workspaces.v1.Workspaces;
  const ws: workspaces.WorkspacesClient = new Ws(`127.0.0.1:${PORTS.workspaces}`, credentialsFor("client"), optionsFor("127.0.0.1:0"));
  const ioredis = new Redis(redis.url);

  try {
    // ---- ceilings ----
    // (The echo and AES ceilings are measured right beside what they are compared with, below:
    // on a shared machine, ratios of measurements taken minutes apart swing with the neighbours.)
    const payload = randomBytes(200);
    // The transport's limit for the data plane's message size (16 blocks of 64 KiB). An echo
    // carries its MiB both ways, so it moves 2 MiB per call; a block write or read moves one.
    const mib = randomBytes(1024 * 1024);
    for (const c of LEVELS) add(await measure("ceiling: grpc-js unary echo 1 MiB", c, MS, () => echoCall(echo.client, mib), 2 * mib.length));
    for (const c of LEVELS) add(await measure("ceiling: ioredis GET round trip", c, MS, () => ioredis.get("bench:none")));

    // ---- KMS over gRPC ----
    const key = (await callUnary(kms, kms.CreateKey, { description: "bench" }, { caller: admin })).keyMetadata!;
    const grantKey = (await callUnary(kms, kms.CreateKey, { description: "bench grants" }, { caller: admin })).keyMetadata!;
    const ebsCaller: Caller = { principal: serviceSessionArn(PARTITION, EBS_ROLE, "ws-bench0001"), viaService: `ec2.${PARTITION.region}.amazonaws.com` };
    const context = { "aws:workspaces:sid-directoryid": `[S-1-5-21-1]@[${DIRECTORY}]`, "aws:ebs:id": "vol-0123456789abcdef0" };
    const grant = await callUnary(
      kms, kms.CreateGrant,
      { keyId: key.arn, granteePrincipal: ebsCaller.principal, operations: ["Decrypt", "GenerateDataKeyWithoutPlaintext"], constraints: { encryptionContextSubset: context } },
      { caller: admin },
    );
    const dataKey = await callUnary(kmsAsEbs, kmsAsEbs.GenerateDataKeyWithoutPlaintext, { keyId: key.arn, keySpec: "AES_256", encryptionContext: context, grantTokens: [grant.grantToken] }, { caller: ebsCaller });
    for (const c of LEVELS) {
      add(await measure("ceiling: grpc-js unary echo", c, MS, () => echoCall(echo.client, payload)));
      add(await measure("kms gRPC Decrypt (grant)", c, MS, () => callUnary(kmsAsEbs, kmsAsEbs.Decrypt, { ciphertextBlob: dataKey.ciphertextBlob, encryptionContext: context }, { caller: ebsCaller })));
      add(await measure("kms gRPC GenerateDataKeyWithoutPlaintext", c, MS, () => callUnary(kmsAsEbs, kmsAsEbs.GenerateDataKeyWithoutPlaintext, { keyId: key.arn, keySpec: "AES_256", encryptionContext: context }, { caller: ebsCaller })));
      add(await measure("kms gRPC CreateGrant", c, MS, (w, i) =>
        callUnary(kms, kms.CreateGrant, { keyId: grantKey.arn, granteePrincipal: serviceSessionArn(PARTITION, WORKSPACES_ROLE, `ws-b${c}w${w}i${i}`), operations: ["Decrypt"] }, { caller: admin })));
    }

    // ---- KMS through the AWS-compatible HTTP edge, with the AWS SDK v3 ----
    const sdk = kmsClient("admin", `http://127.0.0.1:${PORTS.kmsHttp}`);
    const sdkKey = await sdk.send(new GenerateDataKeyCommand({ KeyId: key.arn, KeySpec: "AES_256", EncryptionContext: context }));
    for (const c of LEVELS) {
      add(await measure("kms HTTP+SDK GenerateDataKey", c, MS, () => sdk.send(new GenerateDataKeyCommand({ KeyId: key.arn, KeySpec: "AES_256", EncryptionContext: context }))));
      add(await measure("kms HTTP+SDK Decrypt", c, MS, () => sdk.send(new DecryptCommand({ CiphertextBlob: sdkKey.CiphertextBlob, EncryptionContext: context }))));
    }

    // ---- End to end: CreateWorkspaces to AVAILABLE ----
    results.endToEnd = [];
    let nextUser = 1;
    const volumesForData: string[] = [];
    for (const c of LEVELS) {
      const count = Math.min(c * 2, 200 - nextUser + 1);
      const users = Array.from({ length: count }, () => `user${String(nextUser++).padStart(3, "0")}`);
      const times: number[] = [];
      const ids: string[] = [];
      const t0 = performance.now();
      let cursor = 0;
      await Promise.all(
        Array.from({ length: Math.min(c, count) }, async () => {
          while (cursor < users.length) {
            const userName = users[cursor++]!;
            const s = performance.now();
            const out = await callUnary(ws, ws.CreateWorkspaces, { workspaces: [{ directoryId: DIRECTORY, userName, bundleId: "wsb-demo0001", rootVolumeEncryptionEnabled: true, userVolumeEncryptionEnabled: true }] }, { caller: wsadmin });
            const id = out.pendingRequests[0]?.workspaceId;
            if (!id) throw new Error(`CreateWorkspaces failed: ${JSON.stringify(out.failedRequests)}`);
            ids.push(id);
            for (;;) {
              const w = (await callUnary(ws, ws.DescribeWorkspaces, { workspaceIds: [id] }, { caller: wsadmin })).workspaces[0];
              if (w?.state === "AVAILABLE") break;
              if (w?.state === "ERROR") throw new Error(`${id} ERROR: ${w.errorCode} ${w.errorMessage}`);
              await new Promise((r) => setTimeout(r, 20));
            }
            times.push(performance.now() - s);
          }
        }),
      );
      const elapsed = (performance.now() - t0) / 1000;
      times.sort((a, b) => a - b);
      const e2e = { concurrency: c, workspaces: ids.length, perSecond: ids.length / elapsed, p50Ms: times[Math.floor(times.length / 2)]!, p99Ms: times[Math.min(times.length - 1, Math.floor(times.length * 0.99))]! };
      results.endToEnd.push(e2e);
      log(`e2e c=${c}: ${e2e.workspaces} WorkSpaces, ${e2e.perSecond.toFixed(2)}/s, p50 ${e2e.p50Ms.toFixed(0)} ms`);
      const root = (await callUnary(ws, ws.DescribeWorkspaces, { workspaceIds: [ids[0]!] }, { caller: wsadmin })).workspaces[0]!.rootVolumeId;
      volumesForData.push(root);
    }

    // ---- EBS data plane: encrypted writes and reads through gRPC ----
    const volumeId = volumesForData[0]!;
    const blocks = Array.from({ length: 16 }, () => randomBytes(64 * 1024));
    const perCall = blocks.length * 64 * 1024;
    const aesBlock = add(aesCeiling(64 * 1024, SECONDS));
    for (const c of LEVELS) {
      add(await measure("ebs gRPC WriteBlocks (16×64 KiB)", c, MS, (w) => callUnary(ebs, ebs.WriteBlocks, { volumeId, startBlock: (w % 64) * 16, blocks }), perCall));
      add(await measure("ebs gRPC ReadBlocks (16×64 KiB)", c, MS, (w) => callUnary(ebs, ebs.ReadBlocks, { volumeId, startBlock: (w % 64) * 16, count: 16 }), perCall));
    }

    for (const s of services) results.memory[s.name]!.peakMiB = peak[s.name] ?? 0;

    // ---- Calls per WorkSpace, read from a trace of each provisioning ----
    clearInterval(sampler);
    for (const s of services) await s.stop();
    const receiver = await startOtlpReceiver("127.0.0.1");
    services = await startAll({ OTEL_SDK_DISABLED: "false", OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiver.port}`, OTEL_BSP_SCHEDULE_DELAY: "100" });
    const probeUsers = ["alice", "bob", "carol"];
    const probeIds: string[] = [];
    for (const userName of probeUsers) {
      const out = await callUnary(ws, ws.CreateWorkspaces, { workspaces: [{ directoryId: DIRECTORY, userName, bundleId: "wsb-demo0001", rootVolumeEncryptionEnabled: true, userVolumeEncryptionEnabled: true }] }, { caller: wsadmin });
      probeIds.push(out.pendingRequests[0]!.workspaceId);
    }
    for (const id of probeIds) {
      for (;;) {
        const w = (await callUnary(ws, ws.DescribeWorkspaces, { workspaceIds: [id] }, { caller: wsadmin })).workspaces[0];
        if (w?.state === "AVAILABLE" || w?.state === "ERROR") break;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    await new Promise((r) => setTimeout(r, 1500));
    const roots = receiver.spans.filter((s) => s.service === "workspaces" && s.kind === 2 && s.name.endsWith("Workspaces/CreateWorkspaces"));
    const traces = new Set(roots.map((s) => s.traceId));
    const inTraces = receiver.spans.filter((s) => traces.has(s.traceId));
    const kmsServer = inTraces.filter((s) => s.service === "kms" && s.kind === 2);
    const byOp: Record<string, number> = {};
    for (const s of kmsServer) {
      const op = s.name.split("/").pop()!;
      byOp[op] = (byOp[op] ?? 0) + 1;
    }
    for (const op of Object.keys(byOp)) byOp[op] = byOp[op]! / traces.size;
    results.perWorkspace = {
      kmsCalls: kmsServer.length / traces.size,
      redisCalls: inTraces.filter((s) => s.attributes["db.system"] === "redis" || s.attributes["db.system.name"] === "redis").length / traces.size,
      kmsCallsByOperation: byOp,
    };
    await receiver.close();

    // ---- Ratios ----
    const ratio = (name: string, measured: Measurement | undefined, ceiling: Measurement | undefined, value: (m: Measurement) => number, target?: number) => {
      if (measured && ceiling) results.ratios.push({ name, measured: `${measured.name} c=${measured.concurrency}`, ceiling: `${ceiling.name} c=${ceiling.concurrency}`, value: value(measured) / value(ceiling), ...(target ? { target } : {}) });
    };
    for (const c of LEVELS) {
      ratio(`decrypt-vs-echo-${c}`, at("kms gRPC Decrypt (grant)", c), at("ceiling: grpc-js unary echo", c), (m) => m.throughput, c === 16 ? 0.5 : undefined);
      ratio(`gdk-vs-echo-${c}`, at("kms gRPC GenerateDataKeyWithoutPlaintext", c), at("ceiling: grpc-js unary echo", c), (m) => m.throughput);
      ratio(`decrypt-vs-redis-${c}`, at("kms gRPC Decrypt (grant)", c), at("ceiling: ioredis GET round trip", c), (m) => m.throughput);
    }
    const bestWrite = results.measurements.filter((m) => m.name.startsWith("ebs gRPC WriteBlocks")).sort((a, b) => b.mbPerSec! - a.mbPerSec!)[0];
    const bestRead = results.measurements.filter((m) => m.name.startsWith("ebs gRPC ReadBlocks")).sort((a, b) => b.mbPerSec! - a.mbPerSec!)[0];
    // The AES ceiling's MB/s counts a seal and an open; halve it to compare one direction.
    ratio("ebs-write-vs-aes", bestWrite, aesBlock, (m) => (m === aesBlock ? m.mbPerSec! / 2 : m.mbPerSec!), 0.5);
    ratio("ebs-read-vs-aes", bestRead, aesBlock, (m) => (m === aesBlock ? m.mbPerSec! / 2 : m.mbPerSec!), 0.5);
    const bestEcho = results.measurements.filter((m) => m.name === "ceiling: grpc-js unary echo 1 MiB").sort((a, b) => b.mbPerSec! - a.mbPerSec!)[0];
    ratio("ebs-write-vs-transport", bestWrite, bestEcho, (m) => m.mbPerSec!);
    ratio("ebs-read-vs-transport", bestRead, bestEcho, (m) => m.mbPerSec!);
    writeReport(OUT, results);
    log(`wrote ${path.join(OUT, "REPORT.md")}, bench.json and chart.svg`);
  } finally {
    clearInterval(sampler);
    kms.close();
    kmsAsEbs.close();
    ebs.close();
    ws.close();
    ioredis.disconnect();
    echo.stop();
    for (const s of services) await s.stop();
    await redis.stop();
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
