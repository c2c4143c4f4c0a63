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
    putTerminated: async (w: WorkspaceRecord) => void records.set(w.workspaceId, JSON.stringify(w)),
    delete: async (w: WorkspaceRecord) => void records.delete(w.workspaceId),
    claimUser: async (w: WorkspaceRecord) => !users.has(userKey(w)) && !!users.set(userKey(w), w.workspaceId),
    releaseUser: async (w: WorkspaceRecord) => void (users.get(userKey(w)) === w.workspaceId && users.delete(userKey(w))),
  };
}

/** KMS and EBS that keep what exists (grants, volumes, attachments) and record who called. */
function fakes(opts: { failUserVolume?: boolean } = {}) {
  const calls: { op: string; caller: Caller; req: Record<string, unknown> }[] = [];
  const grants = new Set<string>();
  const volumes = new Map<string, { attachedTo?: string }>();
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
    createVolume: async (caller: Caller, req: { clientToken: string }) => {
      record("CreateVolume", caller, req);
      await gate;
      if (opts.failUserVolume && req.clientToken.endsWith("-user-0")) throw new AwsError("DisabledException", "The key is disabled.");
      const volumeId = `vol-${String(volumes.size).padStart(17, "0")}`;
      volumes.set(volumeId, {});
      return { volumeId };
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

function setup(f: ReturnType<typeof fakes>) {
  const store = memoryStore();
  const svc = new WorkspacesService(
    p, store as unknown as WorkspaceStore, f.kms as unknown as KmsClient, f.ebs as unknown as EbsClient, createLogger("workspaces", "silent"), 60, identities,
  );
  /** Waits for the stored WorkSpace to reach a state. */
  const until = async (id: string, state: string) => {
    for (let i = 0; i < 200 && (await store.get(id))?.state !== state; i++) await new Promise((r) => setTimeout(r, 5));
    const w = await store.get(id);
    assert.equal(w?.state, state);
    return w!;
  };
  return { svc, store, until };
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
