// The WorkSpace lifecycle the seed implies: the encrypted data key is stored with the volume
// "for future use in case you reboot or rebuild the WorkSpace", and the plaintext key lives
// in memory only while the volume is attached.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import {
  CreateWorkspacesCommand, DescribeWorkspacesCommand, RebootWorkspacesCommand, RebuildWorkspacesCommand, StartWorkspacesCommand,
  StopWorkspacesCommand, TerminateWorkspacesCommand, type Workspace,
} from "@aws-sdk/client-workspaces";
import { CancelKeyDeletionCommand, DisableKeyCommand, EnableKeyCommand, ListGrantsCommand, ScheduleKeyDeletionCommand } from "@aws-sdk/client-kms";
import type { AwsError } from "@envelope/shared";
import { dockerSkipReason, eventually, useStack, type Stack } from "../support/stack.js";
import { DIRECTORY, callUnary, ebsGrpc, kmsClient, workspacesClient } from "../support/clients.js";

const skip = dockerSkipReason();
const DEMO_KEY = "1234abcd-12ab-34cd-56ef-1234567890ab";

describe("lifecycle: reboot, rebuild, stop/start, key state", { skip, timeout: 15 * 60_000 }, () => {
  let stack: Stack;
  const ws = workspacesClient("wsadmin");
  const admin = kmsClient("admin");
  let ebs: ReturnType<typeof ebsGrpc>;

  useStack((s, e) => {
    stack = s;
    ebs = e;
  });

  const describeOne = async (id: string) => (await ws.send(new DescribeWorkspacesCommand({ WorkspaceIds: [id] }))).Workspaces![0]!;
  const reach = (id: string, state: string) =>
    eventually(`${id} ${state}`, async () => {
      const w = await describeOne(id);
      return w.State === state ? w : undefined;
    });
  const volumes = async (workspaceId: string) => {
    const { volumes: vs } = await callUnary(ebs, ebs.DescribeVolumes, { workspaceId });
    return { root: vs.find((v) => v.attachments[0]?.device === "/dev/sda1" || v.size === 80)!, user: vs.find((v) => v.size === 50)! };
  };
  const decryptsOf = async (volumeId: string) => {
    // The audit trail tells how many times KMS decrypted this volume's data key.
    const lines = await stack.redisCli(["--raw", "XRANGE", "kms:audit", "-", "+"]);
    return lines.split("\n").filter((l) => l.includes('"eventName":"Decrypt"') && l.includes(volumeId) && !l.includes('"errorCode"')).length;
  };

  async function launch(userName: string, key?: string): Promise<Workspace> {
    const out = await ws.send(
      new CreateWorkspacesCommand({
        Workspaces: [{
          DirectoryId: DIRECTORY, UserName: userName, BundleId: "wsb-demo0001", ...(key ? { VolumeEncryptionKey: key } : {}),
          RootVolumeEncryptionEnabled: true, UserVolumeEncryptionEnabled: true, WorkspaceProperties: { RunningMode: "AUTO_STOP" },
        }],
      }),
    );
    assert.deepEqual(out.FailedRequests, []);
    return reach(out.PendingRequests![0]!.WorkspaceId!, "AVAILABLE");
  }

  test("reboot, stop/start and rebuild keep the user's data; each attach decrypts once, no block does", async () => {
    const w = await launch("alice");
    const id = w.WorkspaceId!;
    const { root, user } = await volumes(id);
    const data = [randomBytes(4096), randomBytes(100)];
    await callUnary(ebs, ebs.WriteBlocks, { volumeId: user.volumeId, startBlock: 0, blocks: data });
    const before = await decryptsOf(user.volumeId);
    for (let i = 0; i < 20; i++) await callUnary(ebs, ebs.ReadBlocks, { volumeId: user.volumeId, startBlock: 0, count: 2 });
    assert.equal(await decryptsOf(user.volumeId), before, "no KMS Decrypt per block: the key is in memory");

    await ws.send(new RebootWorkspacesCommand({ RebootWorkspaceRequests: [{ WorkspaceId: id }] }));
    await reach(id, "AVAILABLE");
    assert.equal(await decryptsOf(user.volumeId), before + 1, "one Decrypt per volume per attach");
    assert.deepEqual((await callUnary(ebs, ebs.ReadBlocks, { volumeId: user.volumeId, startBlock: 0, count: 2 })).blocks, data);

    await ws.send(new StopWorkspacesCommand({ StopWorkspaceRequests: [{ WorkspaceId: id }] }));
    await reach(id, "STOPPED");
    await assert.rejects(callUnary(ebs, ebs.ReadBlocks, { volumeId: user.volumeId, startBlock: 0, count: 1 }), (e: AwsError) => e.code === "IncorrectState", "detached: no key, no I/O");
    const started = await ws.send(new StartWorkspacesCommand({ StartWorkspaceRequests: [{ WorkspaceId: id }] }));
    assert.deepEqual(started.FailedRequests, []);
    await reach(id, "AVAILABLE");
    assert.deepEqual((await callUnary(ebs, ebs.ReadBlocks, { volumeId: user.volumeId, startBlock: 0, count: 2 })).blocks, data);

    await ws.send(new RebuildWorkspacesCommand({ RebuildWorkspaceRequests: [{ WorkspaceId: id }] }));
    await reach(id, "AVAILABLE");
    const after = await volumes(id);
    assert.notEqual(after.root.volumeId, root.volumeId, "a new root volume");
    assert.notEqual(after.root.grantId, root.grantId, "with a new grant");
    assert.notDeepEqual(after.root.encryptedDataKey, root.encryptedDataKey, "and a new data key");
    assert.equal(after.user.volumeId, user.volumeId, "the user volume survives");
    assert.deepEqual((await callUnary(ebs, ebs.ReadBlocks, { volumeId: user.volumeId, startBlock: 0, count: 2 })).blocks, data);
    await assert.rejects(callUnary(ebs, ebs.DescribeVolumes, { volumeIds: [root.volumeId] }), (e: AwsError) => e.code === "InvalidVolume.NotFound");

    const wrong = await ws.send(new StartWorkspacesCommand({ StartWorkspaceRequests: [{ WorkspaceId: id }] }));
    assert.equal(wrong.FailedRequests?.[0]?.ErrorCode, "InvalidResourceStateException", "start needs STOPPED");
    await ws.send(new TerminateWorkspacesCommand({ TerminateWorkspaceRequests: [{ WorkspaceId: id }] }));
  });

  test("a disabled CMK makes the next attach fail with the key's error; enabling it and a reboot bring the data back", async () => {
    const w = await launch("bob", "alias/workspaces-demo");
    const id = w.WorkspaceId!;
    const { user } = await volumes(id);
    const data = [randomBytes(512)];
    await callUnary(ebs, ebs.WriteBlocks, { volumeId: user.volumeId, startBlock: 3, blocks: data });
    await admin.send(new DisableKeyCommand({ KeyId: "1234abcd-12ab-34cd-56ef-1234567890ab" }));
    try {
      await ws.send(new RebootWorkspacesCommand({ RebootWorkspaceRequests: [{ WorkspaceId: id }] }));
      const broken = await reach(id, "UNHEALTHY");
      assert.equal(broken.ErrorCode, "DisabledException");
      assert.match(broken.ErrorMessage!, /key\/1234abcd-12ab-34cd-56ef-1234567890ab is disabled/);
    } finally {
      await admin.send(new EnableKeyCommand({ KeyId: "1234abcd-12ab-34cd-56ef-1234567890ab" }));
    }
    await ws.send(new RebootWorkspacesCommand({ RebootWorkspaceRequests: [{ WorkspaceId: id }] }));
    const back = await reach(id, "AVAILABLE");
    assert.equal(back.ErrorCode, undefined, "the error is cleared");
    assert.deepEqual((await callUnary(ebs, ebs.ReadBlocks, { volumeId: user.volumeId, startBlock: 3, count: 1 })).blocks, data);
    await ws.send(new TerminateWorkspacesCommand({ TerminateWorkspaceRequests: [{ WorkspaceId: id }] }));
  });
  test("a CMK pending deletion makes the next attach fail; CancelKeyDeletion, EnableKey and a reboot bring the data back", async () => {
    const w = await launch("user140", "alias/workspaces-demo");
    const id = w.WorkspaceId!;
    const { user } = await volumes(id);
    const data = [randomBytes(2048)];
    await callUnary(ebs, ebs.WriteBlocks, { volumeId: user.volumeId, startBlock: 7, blocks: data });
    await admin.send(new ScheduleKeyDeletionCommand({ KeyId: DEMO_KEY, PendingWindowInDays: 7 }));
    try {
      await ws.send(new RebootWorkspacesCommand({ RebootWorkspaceRequests: [{ WorkspaceId: id }] }));
      const broken = await reach(id, "UNHEALTHY");
      assert.equal(broken.ErrorCode, "KMSInvalidStateException");
      assert.match(broken.ErrorMessage!, /key\/1234abcd-12ab-34cd-56ef-1234567890ab is pending deletion/);
      const { volumes: vs } = await callUnary(ebs, ebs.DescribeVolumes, { workspaceId: id });
      assert.ok(vs.every((v) => !v.dataKeyInMemory), "no plaintext data key stays in EBS's memory");
    } finally {
      await admin.send(new CancelKeyDeletionCommand({ KeyId: DEMO_KEY }));
      // As in AWS, a key whose deletion is cancelled is Disabled until enabled.
      await admin.send(new EnableKeyCommand({ KeyId: DEMO_KEY }));
    }
    await ws.send(new RebootWorkspacesCommand({ RebootWorkspaceRequests: [{ WorkspaceId: id }] }));
    await reach(id, "AVAILABLE");
    assert.deepEqual((await callUnary(ebs, ebs.ReadBlocks, { volumeId: user.volumeId, startBlock: 7, count: 1 })).blocks, data);
    await ws.send(new TerminateWorkspacesCommand({ TerminateWorkspaceRequests: [{ WorkspaceId: id }] }));
    await reach(id, "TERMINATED");
  });

  test("TerminateWorkspaces from any state leaves no grant, no volume and no plaintext key", async () => {
    const create = async (userName: string) => {
      const out = await ws.send(
        new CreateWorkspacesCommand({
          Workspaces: [{ DirectoryId: DIRECTORY, UserName: userName, BundleId: "wsb-demo0001", VolumeEncryptionKey: "alias/workspaces-demo", RootVolumeEncryptionEnabled: true, UserVolumeEncryptionEnabled: true, WorkspaceProperties: { RunningMode: "AUTO_STOP" } }],
        }),
      );
      return out.PendingRequests![0]!.WorkspaceId!;
    };
    // PENDING: terminated at once, while its volumes are being created.
    const pending = await create("user150");
    // STOPPED.
    const stopped = (await launch("user151", "alias/workspaces-demo")).WorkspaceId!;
    await ws.send(new StopWorkspacesCommand({ StopWorkspaceRequests: [{ WorkspaceId: stopped }] }));
    await reach(stopped, "STOPPED");
    // UNHEALTHY: a reboot while the key is disabled.
    const unhealthy = (await launch("user152", "alias/workspaces-demo")).WorkspaceId!;
    await admin.send(new DisableKeyCommand({ KeyId: DEMO_KEY }));
    try {
      await ws.send(new RebootWorkspacesCommand({ RebootWorkspaceRequests: [{ WorkspaceId: unhealthy }] }));
      await reach(unhealthy, "UNHEALTHY");
    } finally {
      await admin.send(new EnableKeyCommand({ KeyId: DEMO_KEY }));
    }
    // REBOOTING: terminated mid-reboot.
    const rebooting = (await launch("user153", "alias/workspaces-demo")).WorkspaceId!;
    await ws.send(new RebootWorkspacesCommand({ RebootWorkspaceRequests: [{ WorkspaceId: rebooting }] }));
    const ids = [pending, stopped, unhealthy, rebooting];
    const out = await ws.send(new TerminateWorkspacesCommand({ TerminateWorkspaceRequests: ids.map((WorkspaceId) => ({ WorkspaceId })) }));
    assert.deepEqual(out.FailedRequests, []);
    for (const id of ids) await reach(id, "TERMINATED");
    const grants = (await admin.send(new ListGrantsCommand({ KeyId: DEMO_KEY }))).Grants ?? [];
    for (const id of ids) {
      assert.deepEqual(grants.filter((g) => g.GranteePrincipal?.endsWith(`/${id}`)), [], `no grant left for ${id}`);
      assert.deepEqual((await callUnary(ebs, ebs.DescribeVolumes, { workspaceId: id })).volumes, [], `no volume left for ${id}`);
    }
  });
});
