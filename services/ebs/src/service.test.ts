// The service's orchestration against an in-memory store and a fake KMS: who calls KMS as
// whom, what is stored, what is undone when a step fails, and where data keys live.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { AwsError, type Caller, createLogger } from "@envelope/shared";
import type { VolumeRecord } from "./domain/volumes.js";
import { ElasticBlockStore, type Kms, type Volumes } from "./service.js";

const p = { account: "111122223333", region: "us-west-2" };
const KEY_ARN = "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const WS = "ws-0123456789";
const wsSession: Caller = { principal: `arn:aws:sts::111122223333:assumed-role/aws:workspaces-infrastructure/${WS}`, viaService: "workspaces.us-west-2.amazonaws.com" };
const ebsSession: Caller = { principal: `arn:aws:sts::111122223333:assumed-role/aws:ec2-infrastructure/${WS}`, viaService: "ec2.us-west-2.amazonaws.com" };
const owner = { workspaceId: WS, userSid: "S-1-5-21-1-2-3-1107", directoryId: "d-1234abcd01" };
const log = createLogger("ebs", "silent");

/** Redis as the service sees it: records go through JSON, blocks are copied. */
function memoryStore(): Volumes & { blocks: Map<string, Map<number, Buffer>> } {
  const records = new Map<string, string>();
  const tokens = new Map<string, string>();
  const blocks = new Map<string, Map<number, Buffer>>();
  const parse = (id: string) => (records.has(id) ? (JSON.parse(records.get(id)!) as VolumeRecord) : undefined);
  return {
    blocks,
    get: async (id) => parse(id),
    many: async (ids) => ids.flatMap((id) => parse(id) ?? []),
    put: async (v) => void records.set(v.volumeId, JSON.stringify(v)),
    delete: async (v) => void (records.delete(v.volumeId), blocks.delete(v.volumeId)),
    idsForWorkspace: async (ws) => [...records.keys()].filter((id) => parse(id)?.workspaceId === ws),
    page: async (offset, limit) => ({ ids: [...records.keys()].slice(offset, offset + limit), total: records.size }),
    claimClientToken: async (token, id) => {
      if (tokens.has(token)) return tokens.get(token);
      tokens.set(token, id);
      return undefined;
    },
    releaseClientToken: async (token) => void tokens.delete(token),
    writeBlocks: async (id, start, bs) => {
      const m = blocks.get(id) ?? new Map<number, Buffer>();
      bs.forEach((b, i) => m.set(start + i, Buffer.from(b)));
      blocks.set(id, m);
    },
    readBlocks: async (id, start, count) => Array.from({ length: count }, (_, i) => blocks.get(id)?.get(start + i) ?? null),
  };
}

/** KMS that checks the encryption context on Decrypt and records every call with its caller. */
function fakeKms(opts: { failGenerate?: boolean } = {}) {
  const calls: { op: string; caller: Caller; req: Record<string, unknown> }[] = [];
  const wrapped = new Map<string, { key: Buffer; context: string }>();
  const plaintexts: Buffer[] = [];
  let gate: Promise<void> | undefined;
  const record = (op: string, caller: Caller, req: object) => void calls.push({ op, caller, req: req as Record<string, unknown> });
  const kms = {
    describeKey: async (caller, keyId) => {
      record("DescribeKey", caller, { keyId });
      return { keyMetadata: { arn: KEY_ARN } } as Awaited<ReturnType<Kms["describeKey"]>>;
    },
    createGrant: async (caller, req) => {
      record("CreateGrant", caller, req);
      return { grantId: "a".repeat(64), grantToken: "token-1" };
    },
    generateDataKeyWithoutPlaintext: async (caller, req) => {
      record("GenerateDataKeyWithoutPlaintext", caller, req);
      if (opts.failGenerate) throw new AwsError("AccessDeniedException", "denied");
      const blob = randomBytes(64);
      wrapped.set(blob.toString("hex"), { key: randomBytes(32), context: JSON.stringify(req.encryptionContext) });
      return { ciphertextBlob: blob, keyId: KEY_ARN };
    },
    decrypt: async (caller, req) => {
      record("Decrypt", caller, req);
      await gate;
      const w = wrapped.get(Buffer.from(req.ciphertextBlob!).toString("hex"));
      if (!w || w.context !== JSON.stringify(req.encryptionContext)) throw new AwsError("InvalidCiphertextException", "bad context");
      const plaintext = Buffer.from(w.key); // a fresh buffer per response, as gRPC gives
      plaintexts.push(plaintext);
      return { plaintext, keyId: KEY_ARN, encryptionAlgorithm: "SYMMETRIC_DEFAULT" };
    },
    retireGrant: async (caller, req) => {
      record("RetireGrant", caller, req);
      return {};
    },
  } satisfies Kms;
  return { kms, calls, plaintexts, hold: (until: Promise<void>) => void (gate = until) };
}

const setup = (kmsOpts?: { failGenerate?: boolean }) => {
  const store = memoryStore();
  const k = fakeKms(kmsOpts);
  return { store, ...k, ebs: new ElasticBlockStore(p, "us-west-2a", store, k.kms, log) };
};
const isZero = (b: Buffer) => b.every((x) => x === 0);

test("an encrypted WorkSpace volume: grant and data key, attach, blocks, detach, delete", async () => {
  const { ebs, store, calls, plaintexts } = setup();
  const v = await ebs.createVolume({ size: 80, encrypted: true, kmsKeyId: KEY_ARN, ...owner }, wsSession);
  assert.equal(v.state, "available");
  assert.match(v.volumeId, /^vol-[0-9a-f]{17}$/);
  const context = { "aws:workspaces:sid-directoryid": `[${owner.userSid}]@[${owner.directoryId}]`, "aws:ebs:id": v.volumeId };
  assert.deepEqual(v.encryptionContext, context);
  assert.deepEqual(calls.map((c) => c.op), ["CreateGrant", "GenerateDataKeyWithoutPlaintext"]);
  const [grant, gdk] = calls;
  assert.deepEqual(grant!.caller, { principal: wsSession.principal, viaService: "ec2.us-west-2.amazonaws.com" }, "the caller, through EC2");
  assert.deepEqual(grant!.req, {
    keyId: KEY_ARN, granteePrincipal: ebsSession.principal, retiringPrincipal: ebsSession.principal,
    operations: ["Decrypt", "GenerateDataKeyWithoutPlaintext", "DescribeKey", "RetireGrant"],
    constraints: { encryptionContextSubset: context }, name: `ebs-${v.volumeId}`,
  });
  assert.deepEqual(gdk!.caller, ebsSession);
  assert.deepEqual(gdk!.req, { keyId: KEY_ARN, keySpec: "AES_256", encryptionContext: context, grantTokens: ["token-1"] });
  const stored = await store.get(v.volumeId);
  assert.equal(stored?.state, "available");
  assert.ok(stored?.encryptedDataKey && stored.grantToken === "token-1" && stored.kmsKeyArn === KEY_ARN);

  const attached = await ebs.attachVolume(v.volumeId, WS, "/dev/sda1");
  assert.equal(attached.state, "attached");
  assert.equal(attached.dataKeySource, "kms");
  assert.equal((await store.get(v.volumeId))?.state, "in-use");
  assert.deepEqual(calls.at(-1)!.caller, ebsSession);

  const data = [Buffer.from("hello block ".repeat(100)), randomBytes(1)];
  assert.equal(await ebs.writeBlocks(v.volumeId, 3, data), 2);
  assert.deepEqual(await ebs.readBlocks(v.volumeId, 2, 3), [Buffer.alloc(0), ...data]);
  const atRest = store.blocks.get(v.volumeId)!.get(3)!;
  assert.equal(atRest.length, data[0]!.length + 28, "iv | tag | ciphertext");
  assert.ok(!atRest.includes(Buffer.from("hello block")), "no plaintext at rest");
  assert.equal(calls.filter((c) => c.op === "Decrypt").length, 1, "I/O uses the key in memory");

  await assert.rejects(ebs.deleteVolume(v.volumeId), { name: "VolumeInUse" });
  await assert.rejects(ebs.attachVolume(v.volumeId, WS, "/dev/sdb"), { name: "VolumeInUse" });
  const detached = await ebs.detachVolume(v.volumeId, WS);
  assert.equal(detached.state, "detached");
  assert.ok(isZero(plaintexts[0]!), "the data key is zeroed on detach");
  await assert.rejects(ebs.readBlocks(v.volumeId, 3, 1), { name: "IncorrectState" });

  await ebs.deleteVolume(v.volumeId);
  assert.deepEqual(calls.at(-1), { op: "RetireGrant", caller: ebsSession, req: { keyId: KEY_ARN, grantId: "a".repeat(64) } });
  assert.equal(store.blocks.has(v.volumeId), false);
  await assert.rejects(ebs.describeVolumes({ volumeIds: [v.volumeId] }), { name: "InvalidVolume.NotFound", message: `The volume '${v.volumeId}' does not exist.` });
});

test("after a restart, block I/O decrypts the data key again, lazily", async () => {
  const { ebs, store, kms, calls } = setup();
  const v = await ebs.createVolume({ size: 10, encrypted: true, kmsKeyId: KEY_ARN, ...owner }, wsSession);
  await ebs.attachVolume(v.volumeId, WS, "/dev/xvdd");
  await ebs.writeBlocks(v.volumeId, 0, [Buffer.from("survives")]);
  ebs.forgetAllKeys();
  const restarted = new ElasticBlockStore(p, "us-west-2a", store, kms, log);
  assert.deepEqual(await restarted.readBlocks(v.volumeId, 0, 1), [Buffer.from("survives")]);
  await restarted.readBlocks(v.volumeId, 0, 1);
  assert.equal(calls.filter((c) => c.op === "Decrypt").length, 2, "attach, then once after the restart");
});

test("a detach during a lazy Decrypt leaves no key behind", async () => {
  const { ebs, store, kms, plaintexts, hold } = setup();
  const v = await ebs.createVolume({ size: 10, encrypted: true, kmsKeyId: KEY_ARN, ...owner }, wsSession);
  await ebs.attachVolume(v.volumeId, WS, "/dev/xvdd");
  const restarted = new ElasticBlockStore(p, "us-west-2a", store, kms, log);
  let release!: () => void;
  hold(new Promise<void>((r) => (release = r)));
  const read = restarted.readBlocks(v.volumeId, 0, 1);
  await restarted.detachVolume(v.volumeId);
  release();
  await assert.rejects(read, { name: "IncorrectState" });
  assert.ok(isZero(plaintexts.at(-1)!));
});

test("a failed CreateVolume retires its grant, leaves no volume, and frees its client token", async () => {
  const { ebs, store, calls } = setup({ failGenerate: true });
  const input = { size: 10, encrypted: true, kmsKeyId: KEY_ARN, clientToken: "retry-me", ...owner };
  await assert.rejects(ebs.createVolume(input, wsSession), { name: "AccessDeniedException" });
  assert.deepEqual(calls.map((c) => c.op), ["CreateGrant", "GenerateDataKeyWithoutPlaintext", "RetireGrant"]);
  assert.deepEqual(calls.at(-1)!.caller, ebsSession);
  assert.deepEqual((await ebs.describeVolumes({ volumeIds: [] })).volumes, []);
  assert.equal(await store.claimClientToken("retry-me", "vol-00000000000000000"), undefined, "the token is free again");
});

test("a client token makes CreateVolume idempotent", async () => {
  const { ebs, calls } = setup();
  const input = { size: 10, encrypted: true, kmsKeyId: "alias/workspaces-demo", clientToken: "once", ...owner };
  const a = await ebs.createVolume(input, wsSession);
  const b = await ebs.createVolume(input, wsSession);
  assert.equal(a.volumeId, b.volumeId);
  assert.equal(calls.filter((c) => c.op === "CreateGrant").length, 1);
  assert.equal(calls[0]!.op, "DescribeKey", "an alias is resolved to the key ARN first");
  assert.equal(a.kmsKeyArn, KEY_ARN);
});

test("a retry completes a volume whose creation was cut short, under the same id and grant name", async () => {
  const { ebs, store, calls } = setup();
  const input = { size: 10, encrypted: true, kmsKeyId: KEY_ARN, clientToken: "cut-short", ...owner };
  // What a crash leaves behind: the token claimed and the record "creating", nothing after.
  await store.claimClientToken("cut-short", "vol-0123456789abcdef0");
  await store.put({ volumeId: "vol-0123456789abcdef0", size: 10, availabilityZone: "us-west-2a", volumeType: "gp2", state: "creating", createTime: 1, encrypted: true, tags: [], workspaceId: WS });
  const v = await ebs.createVolume(input, wsSession);
  assert.equal(v.volumeId, "vol-0123456789abcdef0");
  assert.equal(v.state, "available");
  assert.ok(v.encryptedDataKey);
  assert.equal(calls.find((c) => c.op === "CreateGrant")!.req.name, "ebs-vol-0123456789abcdef0", "the same grant name, so KMS answers with the same grant");
  assert.equal((await store.get(v.volumeId))!.state, "available");
});

test("a token whose volume record was never written creates that volume", async () => {
  const { ebs, store } = setup();
  await store.claimClientToken("no-record", "vol-0fedcba9876543210");
  const v = await ebs.createVolume({ size: 10, encrypted: true, kmsKeyId: KEY_ARN, clientToken: "no-record", ...owner }, wsSession);
  assert.equal(v.volumeId, "vol-0fedcba9876543210");
  assert.equal(v.state, "available");
});

test("after a restart the attached volumes get their data keys back, and only they", async () => {
  const { ebs, store, kms, calls } = setup();
  const attached = await ebs.createVolume({ size: 10, encrypted: true, kmsKeyId: KEY_ARN, ...owner }, wsSession);
  const detached = await ebs.createVolume({ size: 10, encrypted: true, kmsKeyId: KEY_ARN, ...owner }, wsSession);
  await ebs.attachVolume(attached.volumeId, WS, "/dev/sda1");
  const restarted = new ElasticBlockStore(p, "us-west-2a", store, kms, log);
  assert.equal(restarted.hasDataKey(attached.volumeId), false);
  const before = calls.length;
  assert.deepEqual(await restarted.restoreAttachedKeys(), { restored: 1, failed: 0 });
  assert.deepEqual(calls.slice(before).map((c) => c.op), ["Decrypt"]);
  assert.equal(restarted.hasDataKey(attached.volumeId), true);
  assert.equal(restarted.hasDataKey(detached.volumeId), false);
});

test("an unencrypted volume stores blocks as given and never calls KMS", async () => {
  const { ebs, store, calls } = setup();
  const v = await ebs.createVolume({ size: 1, encrypted: false }, wsSession);
  const attached = await ebs.attachVolume(v.volumeId, "i-1", "/dev/sdf");
  assert.equal(attached.dataKeySource, undefined);
  await ebs.writeBlocks(v.volumeId, 5, [Buffer.from("plain")]);
  assert.deepEqual(store.blocks.get(v.volumeId)!.get(5), Buffer.from("plain"));
  assert.deepEqual(await ebs.readBlocks(v.volumeId, 5, 1), [Buffer.from("plain")]);
  assert.deepEqual(calls, []);
});

test("CreateVolume and DescribeVolumes reject what EC2 rejects", async () => {
  const { ebs } = setup();
  await assert.rejects(ebs.createVolume({ size: 1, encrypted: true }, undefined), { name: "AccessDeniedException" });
  await assert.rejects(ebs.createVolume({ size: 0, encrypted: false }, wsSession), { name: "InvalidParameterValue" });
  await assert.rejects(ebs.createVolume({ size: 1, encrypted: false, volumeType: "ssd" }, wsSession), { name: "InvalidParameterValue" });
  await assert.rejects(ebs.createVolume({ size: 1, encrypted: false, kmsKeyId: KEY_ARN }, wsSession), { name: "InvalidParameterDependency" });
  await assert.rejects(ebs.createVolume({ size: 1, encrypted: true, workspaceId: WS }, wsSession), { name: "MissingParameter" });
  await assert.rejects(ebs.describeVolumes({ volumeIds: ["vol-0123456789abcdef0"] }), { name: "InvalidVolume.NotFound" });
  await assert.rejects(ebs.describeVolumes({ volumeIds: ["vol-1"] }), { name: "InvalidParameterValue" });
  await assert.rejects(ebs.attachVolume("vol-0123456789abcdef0", "", "/dev/sdf"), { name: "MissingParameter" });
});
