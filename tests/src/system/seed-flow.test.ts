// The seed's nine steps, driven from outside as a user would: the AWS SDK v3 against the
// WorkSpaces and KMS edges, gRPC against EBS and KMS.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import {
  CreateWorkspacesCommand, DescribeWorkspaceBundlesCommand, DescribeWorkspacesCommand, TerminateWorkspacesCommand, type Workspace,
} from "@aws-sdk/client-workspaces";
import { DecryptCommand, DescribeKeyCommand, ListGrantsCommand, type GrantListEntry } from "@aws-sdk/client-kms";
import type { ebs, kms } from "@envelope/proto";
import { AwsError } from "@envelope/shared";
import { dockerSkipReason, eventually, startStack, type Stack } from "../support/stack.js";
import {
  ALICE_SID, DIRECTORY, PARTITION, callUnary, ebsGrpc, ebsSession, kmsClient, kmsGrpc, workspacesClient,
} from "../support/clients.js";

const skip = dockerSkipReason();

describe("seed flow: WorkSpaces → EBS → KMS, steps 1 to 9", { skip, timeout: 15 * 60_000 }, () => {
  let stack: Stack;
  const ws = workspacesClient("wsadmin");
  const kmsHttp = kmsClient("admin");
  let ebsClient: ebs.ElasticBlockStoreClient;
  let kmsRpc: kms.KeyManagementServiceClient; // presents EBS's certificate: it acts as EBS's sessions

  const describeVolumes = (workspaceId: string) =>
    callUnary<ebs.DescribeVolumesRequest, ebs.DescribeVolumesResponse__Output>(ebsClient, ebsClient.DescribeVolumes, { workspaceId });

  async function createWorkspace(userName: string, key?: string): Promise<Workspace> {
    const out = await ws.send(
      new CreateWorkspacesCommand({
        Workspaces: [
          {
            DirectoryId: DIRECTORY, UserName: userName, BundleId: "wsb-demo0001",
            ...(key ? { VolumeEncryptionKey: key } : {}),
            RootVolumeEncryptionEnabled: true, UserVolumeEncryptionEnabled: true,
          },
        ],
      }),
    );
    assert.deepEqual(out.FailedRequests ?? [], [], "no failed requests");
    const id = out.PendingRequests?.[0]?.WorkspaceId;
    assert.match(id ?? "", /^ws-[0-9a-z]{8,63}$/);
    assert.equal(out.PendingRequests?.[0]?.State, "PENDING");
    return eventually(`${userName}'s WorkSpace AVAILABLE`, async () => {
      const w = (await ws.send(new DescribeWorkspacesCommand({ WorkspaceIds: [id!] }))).Workspaces?.[0];
      if (w?.State === "ERROR") throw new Error(`ERROR: ${w.ErrorCode} ${w.ErrorMessage}`);
      return w?.State === "AVAILABLE" ? w : undefined;
    });
  }

  const grantsOn = async (keyId: string): Promise<GrantListEntry[]> => (await kmsHttp.send(new ListGrantsCommand({ KeyId: keyId, Limit: 100 }))).Grants ?? [];
  const sidDir = (sid: string) => `[${sid}]@[${DIRECTORY}]`;

  before(async () => {
    stack = await startStack();
    ebsClient = ebsGrpc();
    kmsRpc = kmsGrpc("ebs");
  });
  after(async () => {
    ebsClient.close();
    kmsRpc.close();
    await stack?.down();
  });

  test("the bundle the demo uses is listed", async () => {
    const out = await ws.send(new DescribeWorkspaceBundlesCommand({ BundleIds: ["wsb-demo0001"] }));
    assert.equal(out.Bundles?.[0]?.BundleId, "wsb-demo0001");
  });

  test("steps 1–9 with the default key aws/workspaces", async (t) => {
    const w = await createWorkspace("alice");
    const workspaceId = w.WorkspaceId!;
    const managedKey = (await kmsHttp.send(new DescribeKeyCommand({ KeyId: "alias/aws/workspaces" }))).KeyMetadata!;
    assert.equal(managedKey.KeyManager, "AWS", "aws/workspaces is an AWS managed key, created on first use");

    // Steps 1–2: a WorkSpaces grant scoped to alice and the directory; an EBS grant per volume.
    const grants = await grantsOn(managedKey.KeyId!);
    const mine = grants.filter((g) => g.GranteePrincipal?.endsWith(`/${workspaceId}`));
    const wsGrant = mine.find((g) => g.GranteePrincipal!.includes(":assumed-role/aws:workspaces-infrastructure/"));
    assert.ok(wsGrant, "WorkSpaces has a grant for this WorkSpace");
    assert.deepEqual(wsGrant.Constraints?.EncryptionContextSubset, { "aws:workspaces:sid-directoryid": sidDir(ALICE_SID) });
    assert.match(wsGrant.GrantId!, /^[0-9a-f]{64}$/);

    const { volumes } = await describeVolumes(workspaceId);
    assert.equal(volumes.length, 2, "root and user volumes");
    for (const v of volumes) {
      assert.match(v.volumeId, /^vol-[0-9a-f]{17}$/);
      assert.equal(v.encrypted, true);
      assert.equal(v.kmsKeyId, managedKey.Arn);
      assert.equal(v.state, "in-use", "attached to the WorkSpace");
      // Step 3: the context EBS used, exactly as the seed shows it.
      assert.deepEqual(v.encryptionContext, { "aws:workspaces:sid-directoryid": sidDir(ALICE_SID), "aws:ebs:id": v.volumeId });
      const ebsGrant = mine.find((g) => g.GrantId === v.grantId);
      assert.ok(ebsGrant, `EBS has a grant for ${v.volumeId}`);
      assert.ok(ebsGrant.GranteePrincipal!.includes(":assumed-role/aws:ec2-infrastructure/"));
      assert.deepEqual(ebsGrant.Constraints?.EncryptionContextSubset, v.encryptionContext, "scoped to this WorkSpace and this volume");
      // Step 8: the encrypted data key is stored with the volume.
      assert.ok(v.encryptedDataKey.length > 32);
    }

    await t.test("the encrypted data key decrypts only with its own volume's context", async () => {
      const [a, b] = volumes as [ebs.Volume__Output, ebs.Volume__Output];
      const caller = ebsSession(workspaceId);
      const decrypt = (blob: Buffer, encryptionContext: Record<string, string>) =>
        callUnary(kmsRpc, kmsRpc.Decrypt, { ciphertextBlob: blob, encryptionContext }, { caller });
      const plain = await decrypt(a.encryptedDataKey, a.encryptionContext);
      assert.equal(plain.plaintext.length, 32, "a 256-bit data key");
      await assert.rejects(decrypt(a.encryptedDataKey, b.encryptionContext), (e: AwsError) => e.code === "InvalidCiphertextException");
      await assert.rejects(decrypt(a.encryptedDataKey, {}), (e: AwsError) => e.code === "AccessDeniedException", "no grant allows an empty context");
    });

    await t.test("step 7: blocks are ciphertext at rest and read back as written", async () => {
      const v = volumes[0]!;
      const marker = `envelope-plaintext-${randomBytes(8).toString("hex")}`;
      const blocks = [Buffer.from(marker.repeat(20)), randomBytes(4096), Buffer.from(marker)];
      const written = await callUnary(ebsClient, ebsClient.WriteBlocks, { volumeId: v.volumeId, startBlock: 7, blocks });
      assert.equal(written.blocksWritten, 3);
      const read = await callUnary(ebsClient, ebsClient.ReadBlocks, { volumeId: v.volumeId, startBlock: 7, count: 4 });
      assert.deepEqual(read.blocks.slice(0, 3), blocks);
      assert.equal(read.blocks[3]!.length, 0, "a block never written reads back empty");
      const atRest = await stack.redisCli(["--no-raw", "HGETALL", `ebs:blocks:${v.volumeId}`]);
      assert.ok(atRest.length > 3 * 28, "blocks are stored in Redis");
      assert.ok(!atRest.includes(marker), "no plaintext at rest");
    });

    await t.test("one WorkSpace's grants don't let EBS use the key for another WorkSpace's volume", async () => {
      const other = await createWorkspace("carol");
      const { volumes: theirs } = await describeVolumes(other.WorkspaceId!);
      const target = theirs[0]!;
      const caller = ebsSession(workspaceId); // alice's EBS session
      await assert.rejects(
        callUnary(kmsRpc, kmsRpc.Decrypt, { ciphertextBlob: target.encryptedDataKey, encryptionContext: target.encryptionContext }, { caller }),
        (e: AwsError) => e.code === "AccessDeniedException",
      );
      await assert.rejects(
        callUnary(kmsRpc, kmsRpc.GenerateDataKeyWithoutPlaintext, { keyId: managedKey.Arn!, keySpec: "AES_256", encryptionContext: target.encryptionContext }, { caller }),
        (e: AwsError) => e.code === "AccessDeniedException",
      );
      await terminate(other.WorkspaceId!);
    });

    // Step 9: terminate retires every grant and deletes the volumes.
    await terminate(workspaceId);
    const left = (await grantsOn(managedKey.KeyId!)).filter((g) => g.GranteePrincipal?.endsWith(`/${workspaceId}`));
    assert.deepEqual(left, [], "every grant for the WorkSpace is retired");
    for (const v of volumes) {
      await assert.rejects(
        callUnary(ebsClient, ebsClient.DescribeVolumes, { volumeIds: [v.volumeId] }),
        (e: AwsError) => e.code === "InvalidVolume.NotFound",
      );
    }
  });

  test("the demo custom CMK alias/workspaces-demo: its data keys decrypt with their own context only", async () => {
    const key = (await kmsHttp.send(new DescribeKeyCommand({ KeyId: "alias/workspaces-demo" }))).KeyMetadata!;
    assert.equal(key.KeyId, "1234abcd-12ab-34cd-56ef-1234567890ab", "the seed's example key id");
    assert.equal(key.KeyManager, "CUSTOMER");
    const w = await createWorkspace("bob", "alias/workspaces-demo");
    assert.equal(w.VolumeEncryptionKey, "alias/workspaces-demo", "the WorkSpace names its key as it was given");
    const { volumes } = await describeVolumes(w.WorkspaceId!);
    assert.ok(volumes.every((v) => v.kmsKeyId === key.Arn));
    const [a, b] = volumes as [ebs.Volume__Output, ebs.Volume__Output];
    const caller = ebsSession(w.WorkspaceId!);
    const decrypt = (blob: Buffer, encryptionContext: Record<string, string>) =>
      callUnary(kmsRpc, kmsRpc.Decrypt, { ciphertextBlob: blob, encryptionContext }, { caller });
    assert.equal((await decrypt(a.encryptedDataKey, a.encryptionContext)).keyId, key.Arn);
    await assert.rejects(decrypt(a.encryptedDataKey, b.encryptionContext), (e: AwsError) => e.code === "InvalidCiphertextException");
    // The key administrator may not use the key: the demo key policy gives use to wsadmin only.
    await assert.rejects(
      kmsHttp.send(new DecryptCommand({ CiphertextBlob: a.encryptedDataKey, EncryptionContext: a.encryptionContext })),
      (e: Error) => e.name === "AccessDeniedException",
    );
    assert.equal((await grantsOn(key.KeyId!)).filter((g) => g.GranteePrincipal!.endsWith(`/${w.WorkspaceId}`)).length, 3, "one WorkSpaces grant and two EBS grants");
    await terminate(w.WorkspaceId!);
    assert.equal((await grantsOn(key.KeyId!)).filter((g) => g.GranteePrincipal!.endsWith(`/${w.WorkspaceId}`)).length, 0, "all retired on terminate");
  });

  async function terminate(workspaceId: string) {
    const out = await ws.send(new TerminateWorkspacesCommand({ TerminateWorkspaceRequests: [{ WorkspaceId: workspaceId }] }));
    assert.deepEqual(out.FailedRequests ?? [], []);
    await eventually(`${workspaceId} TERMINATED`, async () => {
      const w = (await ws.send(new DescribeWorkspacesCommand({ WorkspaceIds: [workspaceId] }))).Workspaces?.[0];
      return !w || w.State === "TERMINATED" ? true : undefined;
    });
  }
});
