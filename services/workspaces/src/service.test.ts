// The provisioning flow against an in-memory store and fake KMS and EBS: who calls what as
// whom, the states a WorkSpace goes through, and that nothing is left behind on failure or
// on a terminate that overtakes provisioning.
import { test } from "node:test";
import assert from "node:assert/strict";
import { AwsError, type Caller, IdentityStore, type KmsClient, createLogger } from "@envelope/shared";
import type { EbsClient } from "./clients/ebs.js";
import type { WorkspaceRecord } from "./domain/workspaces.js";
import type { WorkspaceStore } from "./store/workspaces.js";
import { WorkspacesService } from "./service.js";

const p = { account: "111122223333", region: "us-west-2" };
const KEY_ARN = "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const admin: Caller = { principal: "arn:aws:iam::111122223333:user/admin" };
const alice = { DirectoryId: "d-1234abcd01", UserName: "alice", BundleId: "wsb-demo0001", RootVolumeEncryptionEnabled: true, UserVolumeEncryptionEnabled: true };
const identities = new IdentityStore(p.account, {
  account: p.account,
  users: [{ name: "admin", accessKeys: [], policies: [{ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "*", Resource: "*" }] }] }],
  roles: [],
});

/** Redis as the service sees it: records go through JSON. */
function memoryStore() {
  const records = new Map<string, string>();
  const users = new Map<string, string>();
  const userKey = (w: WorkspaceRecord) => `${w.directoryId}:${w.userName.toLowerCase()}`;
  const get = async (id: string) => (records.has(id) ? (JSON.parse(records.get(id)!) as WorkspaceRecord) : undefined);
  return {
    get,
    many: async (ids: string[]) => (await Promise.all(ids.map(get))).filter((w) => w !== undefined),
    all: async () => [...records.keys()].map((id) => JSON.parse(records.get(id)!) as WorkspaceRecord),
    put: async (w: WorkspaceRecord) => void records.set(w.workspaceId, JSON.stringify(w)),
    putTerminated: async (w: WorkspaceRecord) => {
      records.set(w.workspaceId, JSON.stringify(w));
      release(w);
    },
    delete: async (w: WorkspaceRecord) => {
      records.delete(w.workspaceId);
      release(w);
    },
    create: async (w: WorkspaceRecord) => {
      if (users.has(userKey(w))) return false;
      users.set(userKey(w), w.workspaceId);
      records.set(w.workspaceId, JSON.stringify(w));
      return true;
    },
    claimOf: async (directoryId: string, userName: string) => users.get(`${directoryId}:${userName.toLowerCase()}`),
    withWorkflows: async () => [...records.values()].map((r) => JSON.parse(r) as WorkspaceRecord).filter((w) => w.workflow),
  };
  function release(w: WorkspaceRecord) {
    if (users.get(userKey(w)) === w.workspaceId) users.delete(userKey(w));
  }
}

/** KMS and EBS that keep what exists (grants, volumes, attachments) and record who called. */
function fakes(opts: { failUserVolume?: boolean; unavailableTimes?: number; hangUserVolume?: boolean } = {}) {
  const calls: { op: string; caller: Caller; req: Record<string, unknown> }[] = [];
  const grants = new Set<string>();
  const volumes = new Map<string, { attachedTo?: string; workspaceId?: string }>();
  const byToken = new Map<string, string>();
  let unavailable = opts.unavailableTimes ?? 0;
  let release: () => void = () => {};
  let gate: Promise<void> | undefined;
  const record = (op: string, caller: Caller, req: object) => void calls.push({ op, caller, req: req as Record<string, unknown> });
  const kms = {
    describeKey: async (caller: Caller, keyId: string) => (record("DescribeKey", caller, { keyId }), { keyMetadata: { arn: KEY_ARN } }),
    createGrant: async (caller: Caller, req: object) => {
      record("CreateGrant", caller, req);
      grants.add("g1");
      return { grantId: "g1", grantToken: "token-1" };
    },
    retireGrant: async (caller: Caller, req: { grantId: string }) => {
      record("RetireGrant", caller, req);
      if (!grants.delete(req.grantId)) throw new AwsError("NotFoundException", "no such grant");
      return {};
    },
  };
  const ebs = {
    createVolume: async (caller: Caller, req: { clientToken: string; workspaceId: string }) => {
      record("CreateVolume", caller, req);
      await gate;
      if (unavailable > 0 && unavailable--) throw new AwsError("ServiceUnavailable", "Service unavailable: connection refused");
      if (opts.failUserVolume && req.clientToken.endsWith("-user-0")) throw new AwsError("DisabledException", "The key is disabled.");
      // A process that died mid-call: no answer, ever.
      if (opts.hangUserVolume && req.clientToken.endsWith("-user-0")) return new Promise<never>(() => {});
      const volumeId = byToken.get(req.clientToken) ?? `vol-${String(byToken.size).padStart(17, "0")}`;
      byToken.set(req.clientToken, volumeId);
      if (!volumes.has(volumeId)) volumes.set(volumeId, { workspaceId: req.workspaceId });
      return { volumeId };
    },
    describeVolumes: async (caller: Caller, req: { workspaceId: string }) => {
      record("DescribeVolumes", caller, req);
      return { volumes: [...volumes].filter(([, v]) => v.workspaceId === req.workspaceId).map(([volumeId]) => ({ volumeId })) };
    },
    attachVolume: async (caller: Caller, req: { volumeId: string; instanceId: string }) => {
      record("AttachVolume", caller, req);
      volumes.get(req.volumeId)!.attachedTo = req.instanceId;
      return {};
    },
    detachVolume: async (caller: Caller, req: { volumeId: string }) => {
      record("DetachVolume", caller, req);
      const v = volumes.get(req.volumeId);
      if (!v?.attachedTo) throw new AwsError("IncorrectState", "not attached");
      delete v.attachedTo;
      return {};
    },
    deleteVolume: async (caller: Caller, volumeId: string) => {
      record("DeleteVolume", caller, { volumeId });
      if (volumes.get(volumeId)?.attachedTo) throw new AwsError("VolumeInUse", "attached");
      volumes.delete(volumeId);
      return {};
    },
  };
  return {
    calls, grants, volumes, kms, ebs,
    /** Holds CreateVolume until released. */
    hold: () => void (gate = new Promise((r) => (release = r))),
    release: () => release(),
  };
}

function setup(f: ReturnType<typeof fakes>, store = memoryStore()) {
  const service = () =>
    new WorkspacesService(
      p, store as unknown as WorkspaceStore, f.kms as unknown as KmsClient, f.ebs as unknown as EbsClient, createLogger("workspaces", "silent"), 60, identities, { retryForMs: 5_000 },
    );
  const svc = service();
  /** Waits for the stored WorkSpace to reach a state. */
  const until = async (id: string, state: string) => {
    for (let i = 0; i < 200 && (await store.get(id))?.state !== state; i++) await new Promise((r) => setTimeout(r, 5));
    const w = await store.get(id);
    assert.equal(w?.state, state);
    return w!;
  };
  return { svc, store, until, service };
}

test("CreateWorkspaces answers PENDING, then grants, creates and attaches both volumes as the WorkSpace's session", async () => {
  const f = fakes();
  const { svc, until } = setup(f);
  const out = await svc.createWorkspaces([alice], admin);
  assert.equal(out.FailedRequests.length, 0);
  const [pending] = out.PendingRequests;
  assert.equal(pending?.state, "PENDING");
  const id = pending.workspaceId;
  const w = await until(id, "AVAILABLE");
  const session = `arn:aws:sts::111122223333:assumed-role/aws:workspaces-infrastructure/${id}`;

  const grant = f.calls.find((c) => c.op === "CreateGrant")!;
  assert.deepEqual(grant.caller, { principal: admin.principal, viaService: "workspaces.us-west-2.amazonaws.com" });
  assert.deepEqual(grant.req, {
    keyId: KEY_ARN, granteePrincipal: session, retiringPrincipal: session,
    operations: ["Decrypt", "GenerateDataKeyWithoutPlaintext", "CreateGrant", "RetireGrant", "DescribeKey"],
    constraints: { encryptionContextSubset: { "aws:workspaces:sid-directoryid": "[S-1-5-21-277731876-1789304096-451871588-1107]@[d-1234abcd01]" } },
    name: `workspaces-${id}`,
  });
  const ebsCalls = f.calls.filter((c) => c.op === "CreateVolume" || c.op === "AttachVolume");
  assert.ok(ebsCalls.every((c) => c.caller.principal === session));
  assert.deepEqual(ebsCalls.map((c) => [c.op, c.req.size ?? c.req.device]), [["CreateVolume", 80], ["CreateVolume", 50], ["AttachVolume", "/dev/sda1"], ["AttachVolume", "/dev/xvdd"]]);
  assert.ok(ebsCalls.slice(0, 2).every((c) => c.req.encrypted === true && c.req.kmsKeyId === KEY_ARN));
  assert.equal(w.keyArn, KEY_ARN);
  assert.equal(w.grantId, "g1");
  assert.ok(w.rootVolumeId && w.userVolumeId);

  const again = await svc.createWorkspaces([alice], admin);
  assert.equal(again.FailedRequests[0]?.ErrorCode, "ResourceAlreadyExistsException", "one WorkSpace per user and directory");
});

test("a failed step leaves the WorkSpace in ERROR with the error, and releases the volumes and the grant", async () => {
  const f = fakes({ failUserVolume: true });
  const { svc, until } = setup(f);
  const id = (await svc.createWorkspaces([alice], admin)).PendingRequests[0]!.workspaceId;
  const w = await until(id, "ERROR");
  assert.equal(w.errorCode, "DisabledException");
  assert.equal(w.errorMessage, "The key is disabled.");
  assert.equal(f.volumes.size, 0, "the root volume was deleted");
  assert.equal(f.grants.size, 0, "the WorkSpaces grant was retired");
});

test("a terminate that overtakes provisioning waits for it and leaves nothing behind", async () => {
  const f = fakes();
  const { svc, store, until } = setup(f);
  f.hold();
  const id = (await svc.createWorkspaces([alice], admin)).PendingRequests[0]!.workspaceId;
  assert.deepEqual(await svc.terminateWorkspaces(admin, [id]), { FailedRequests: [] });
  assert.equal((await store.get(id))?.state, "TERMINATING");
  assert.equal((await svc.terminateWorkspaces(admin, [id])).FailedRequests[0]?.ErrorCode, "InvalidResourceStateException", "not twice");
  f.release();
  await until(id, "TERMINATED");
  assert.equal(f.volumes.size, 0, "both volumes, made after the terminate arrived, are deleted");
  assert.equal(f.grants.size, 0);
  const retire = f.calls.find((c) => c.op === "RetireGrant")!;
  assert.deepEqual(retire.req, { keyId: KEY_ARN, grantId: "g1" });
  assert.equal(retire.caller.principal, `arn:aws:sts::111122223333:assumed-role/aws:workspaces-infrastructure/${id}`);
  assert.equal((await svc.createWorkspaces([alice], admin)).FailedRequests.length, 0, "the user is free for a new WorkSpace");
});

test("TerminateWorkspaces: unknown ids fail; no caller is AccessDeniedException", async () => {
  const { svc } = setup(fakes());
  assert.equal((await svc.terminateWorkspaces(admin, ["ws-nothere01"])).FailedRequests[0]?.ErrorCode, "ResourceNotFoundException");
  await assert.rejects(svc.terminateWorkspaces(undefined, ["ws-nothere01"]), { name: "AccessDeniedException" });
});

test("a restarted service resumes a provisioning cut short, without a second grant or volume", async () => {
  const f = fakes({ hangUserVolume: true });
  const { svc, store, until, service } = setup(f);
  const id = (await svc.createWorkspaces([alice], admin)).PendingRequests[0]!.workspaceId;
  // The first service "dies" inside CreateUserVolume: the step is recorded as begun, not done.
  for (let i = 0; i < 100 && (await store.get(id))?.workflow?.step !== "CreateUserVolume"; i++) await new Promise((r) => setTimeout(r, 5));
  const cut = (await store.get(id))!;
  assert.deepEqual([cut.state, cut.workflow?.step, cut.workflow?.phase, cut.workflow?.done], ["PENDING", "CreateUserVolume", "begin", ["CreateGrant", "CreateRootVolume"]]);

  const fixed = fakes();
  Object.assign(f.ebs, { createVolume: fixed.ebs.createVolume.bind(fixed.ebs) }); // the same EBS, answering again
  assert.equal(await service().resumeWorkflows(), 1);
  const w = await until(id, "AVAILABLE");
  assert.equal(w.workflow, undefined, "the workflow is over");
  assert.deepEqual(await store.withWorkflows(), []);
  assert.equal(f.calls.filter((c) => c.op === "CreateGrant").length, 1, "the grant was made once, in the request");
  assert.equal(f.calls.filter((c) => c.op === "CreateVolume" && String(c.req.clientToken).endsWith("-root-0")).length, 1, "the root volume, done before the crash, was not made again");
  assert.equal(w.rootVolumeId, cut.rootVolumeId);
  assert.ok(w.userVolumeId);
});

test("a request cut short before its grant was recorded is resumed with the administrator's permissions", async () => {
  const f = fakes();
  const { store, until, service } = setup(f);
  const stored = { ...(await (async () => {
    const probe = setup(fakes()).svc; // a WorkSpace record as the request would store it
    return (await probe.createWorkspaces([alice], admin)).PendingRequests[0]!;
  })()) };
  const w: WorkspaceRecord = { ...stored, state: "PENDING", workflow: { operation: "Provision", step: "CreateGrant", phase: "begin", done: [], startedAt: 0, requestedBy: admin.principal } };
  delete w.grantId;
  delete w.keyArn;
  delete w.rootVolumeId;
  delete w.userVolumeId;
  await store.create(w);
  assert.equal(await service().resumeWorkflows(), 1);
  const done = await until(w.workspaceId, "AVAILABLE");
  const grant = f.calls.find((c) => c.op === "CreateGrant")!;
  assert.equal(grant.caller.principal, admin.principal);
  assert.equal(grant.req.name, `workspaces-${w.workspaceId}`, "the same name: KMS answers a retry with the same grant");
  assert.equal(done.grantId, "g1");
});

test("failures that may pass (EBS restarting) are retried with backoff; the WorkSpace still ends AVAILABLE", async () => {
  const f = fakes({ unavailableTimes: 2 });
  const { svc, until } = setup(f);
  const id = (await svc.createWorkspaces([alice], admin)).PendingRequests[0]!.workspaceId;
  await until(id, "AVAILABLE");
  assert.equal(f.calls.filter((c) => c.op === "CreateVolume").length, 4, "two refused, then root and user");
  assert.equal(f.volumes.size, 2);
});

test("a terminate resumed after a restart finds volumes the record never named", async () => {
  const f = fakes({ hangUserVolume: true });
  const { svc, store, until, service } = setup(f);
  const id = (await svc.createWorkspaces([alice], admin)).PendingRequests[0]!.workspaceId;
  for (let i = 0; i < 100 && (await store.get(id))?.workflow?.step !== "CreateUserVolume"; i++) await new Promise((r) => setTimeout(r, 5));
  // EBS made the user volume, but the answer never reached the WorkSpace's record.
  await f.ebs.createVolume({ principal: "x" }, { clientToken: `${id}-user-x`, workspaceId: id });
  const w = (await store.get(id))!;
  await store.put({ ...w, state: "TERMINATING", workflow: { operation: "Terminate", step: "ReleaseVolumes", phase: "begin", done: [], startedAt: 0, requestedBy: admin.principal } });
  assert.equal(await service().resumeWorkflows(), 1);
  await until(id, "TERMINATED");
  assert.equal(f.volumes.size, 0, "root and the unrecorded user volume are deleted");
  assert.equal(f.grants.size, 0);
});
