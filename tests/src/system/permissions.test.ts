// The seed's permission story, through the AWS SDK v3: the default key needs no setup; a
// custom CMK works only for administrators who are key users, because a principal can only
// grant what it has. And the edges check SigV4 signatures for real.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { CreateWorkspacesCommand, DescribeWorkspacesCommand, TerminateWorkspacesCommand, WorkSpacesClient } from "@aws-sdk/client-workspaces";
import { DescribeKeyCommand, GetKeyPolicyCommand, KMSClient, ListGrantsCommand, PutKeyPolicyCommand } from "@aws-sdk/client-kms";
import type { AwsError } from "@envelope/shared";
import type { FinalizeRequestMiddleware, MetadataBearer } from "@smithy/types";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { loadKms } from "@envelope/proto";
import { channelCredentials, mintCertificates, readTlsFiles } from "@envelope/shared";
import { dockerSkipReason, eventually, startStack, type Stack } from "../support/stack.js";
import { DIRECTORY, PARTITION, callUnary, ebsGrpc, ebsSession, kmsClient, kmsGrpc, workspacesClient } from "../support/clients.js";

const skip = dockerSkipReason();
const DEMO_KEY = "alias/workspaces-demo";

describe("permissions: key users, IAM, grants and signatures", { skip, timeout: 15 * 60_000 }, () => {
  let stack: Stack;
  const admin = kmsClient("admin");
  const ws = workspacesClient("wsadmin");
  const nokms = workspacesClient("wsadmin-nokms");

  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack?.down();
  });

  const create = (client: WorkSpacesClient, userName: string, key?: string) =>
    client.send(
      new CreateWorkspacesCommand({
        Workspaces: [{ DirectoryId: DIRECTORY, UserName: userName, BundleId: "wsb-demo0001", ...(key ? { VolumeEncryptionKey: key } : {}), RootVolumeEncryptionEnabled: true, UserVolumeEncryptionEnabled: true }],
      }),
    );
  const available = (id: string) =>
    eventually(`${id} AVAILABLE`, async () => {
      const w = (await ws.send(new DescribeWorkspacesCommand({ WorkspaceIds: [id] }))).Workspaces?.[0];
      if (w?.State === "ERROR") throw new Error(`${w.ErrorCode}: ${w.ErrorMessage}`);
      return w?.State === "AVAILABLE" ? w : undefined;
    });
  const terminated = async (id: string) => {
    await ws.send(new TerminateWorkspacesCommand({ TerminateWorkspaceRequests: [{ WorkspaceId: id }] }));
    await eventually(`${id} TERMINATED`, async () => {
      const w = (await ws.send(new DescribeWorkspacesCommand({ WorkspaceIds: [id] }))).Workspaces?.[0];
      return !w || w.State === "TERMINATED" ? true : undefined;
    });
  };

  test("wsadmin launches with the default key and with the demo CMK (a key user with kms:CreateGrant)", async () => {
    for (const [user, key] of [["user001", undefined], ["user002", DEMO_KEY]] as const) {
      const out = await create(ws, user, key);
      assert.deepEqual(out.FailedRequests, []);
      await available(out.PendingRequests![0]!.WorkspaceId!);
      await terminated(out.PendingRequests![0]!.WorkspaceId!);
    }
  });

  test("wsadmin-nokms: the default key needs no setup; the demo CMK fails with access denied", async () => {
    const ok = await create(nokms, "user003");
    assert.deepEqual(ok.FailedRequests, []);
    await available(ok.PendingRequests![0]!.WorkspaceId!);
    await terminated(ok.PendingRequests![0]!.WorkspaceId!);

    const denied = await create(nokms, "user004", DEMO_KEY);
    assert.deepEqual(denied.PendingRequests, []);
    assert.equal(denied.FailedRequests?.[0]?.ErrorCode, "AccessDeniedException");
    assert.match(denied.FailedRequests![0]!.ErrorMessage!, /user\/wsadmin-nokms is not authorized to perform: kms:/);
  });

  test("removing wsadmin from the key users makes it fail; an explicit deny beats every allow", async () => {
    const keyId = (await admin.send(new DescribeKeyCommand({ KeyId: DEMO_KEY }))).KeyMetadata!.KeyId!;
    const original = (await admin.send(new GetKeyPolicyCommand({ KeyId: keyId, PolicyName: "default" }))).Policy!;
    const doc = JSON.parse(original) as { Statement: { Sid?: string; Principal?: { AWS: string | string[] } }[] };
    try {
      const withoutUsers = { ...doc, Statement: doc.Statement.filter((s) => s.Sid === "Allow access for Key Administrators") };
      await admin.send(new PutKeyPolicyCommand({ KeyId: keyId, PolicyName: "default", Policy: JSON.stringify(withoutUsers) }));
      const out = await create(ws, "user005", DEMO_KEY);
      assert.equal(out.FailedRequests?.[0]?.ErrorCode, "AccessDeniedException", "not a key user: denied");

      const withDeny = {
        ...doc,
        Statement: [...doc.Statement, { Sid: "DenyWsadminGrants", Effect: "Deny", Principal: { AWS: `arn:aws:iam::${PARTITION.account}:user/wsadmin` }, Action: "kms:CreateGrant", Resource: "*" }],
      };
      await admin.send(new PutKeyPolicyCommand({ KeyId: keyId, PolicyName: "default", Policy: JSON.stringify(withDeny) }));
      const denied = await create(ws, "user006", DEMO_KEY);
      assert.equal(denied.FailedRequests?.[0]?.ErrorCode, "AccessDeniedException");
      assert.match(denied.FailedRequests![0]!.ErrorMessage!, /explicit deny in the key policy, statement 'DenyWsadminGrants'/);
    } finally {
      await admin.send(new PutKeyPolicyCommand({ KeyId: keyId, PolicyName: "default", Policy: original }));
    }
    const out = await create(ws, "user007", DEMO_KEY);
    assert.deepEqual(out.FailedRequests, [], "the key user is back");
    await available(out.PendingRequests![0]!.WorkspaceId!);
    await terminated(out.PendingRequests![0]!.WorkspaceId!);
  });

  test("a retired grant stops working at once", async () => {
    const out = await create(ws, "user008");
    const w = await available(out.PendingRequests![0]!.WorkspaceId!);
    const ebs = ebsGrpc();
    const kms = kmsGrpc("ebs");
    try {
      const [v] = (await callUnary(ebs, ebs.DescribeVolumes, { workspaceId: w.WorkspaceId! })).volumes;
      const caller = ebsSession(w.WorkspaceId!);
      const decrypt = () => callUnary(kms, kms.Decrypt, { ciphertextBlob: v!.encryptedDataKey, encryptionContext: v!.encryptionContext }, { caller });
      assert.equal((await decrypt()).plaintext.length, 32);
      await callUnary(kms, kms.RetireGrant, { keyId: v!.kmsKeyId, grantId: v!.grantId }, { caller });
      await assert.rejects(decrypt(), (e: AwsError) => e.code === "AccessDeniedException");
      const keyId = v!.kmsKeyId;
      const grants = (await admin.send(new ListGrantsCommand({ KeyId: keyId, Limit: 100 }))).Grants ?? [];
      assert.ok(!grants.some((g) => g.GrantId === v!.grantId), "gone from ListGrants");
    } finally {
      ebs.close();
      kms.close();
    }
    await terminated(w.WorkspaceId!);
  });

  test("at the data layer each service is its own Redis user, limited to its own keys", async () => {
    const ebsUser = { name: "ebs", password: "ebs-secret" };
    const keyKey = `kms:key:1234abcd-12ab-34cd-56ef-1234567890ab`;
    assert.match(await stack.redisCli(["EXISTS", keyKey]), /1/, "the demo key is stored");
    // redis-cli prints a refused command's error and exits 0.
    assert.match(await stack.redisCli(["GET", keyKey], ebsUser), /NOPERM/, "EBS can't read KMS's wrapped key material");
    assert.match(await stack.redisCli(["HSET", "kms:grants-for:x:y", "g", "{}"], ebsUser), /NOPERM/, "EBS can't write grants");
    assert.match(await stack.redisCli(["KEYS", "*"], ebsUser), /NOPERM/, "nor list keys");
    assert.match(await stack.redisCli(["GET", "ebs:volume:vol-0"], { name: "kms", password: "kms-secret" }), /NOPERM/, "KMS can't read EBS's volumes");
    assert.match(await stack.redisCli(["SET", "ebs:x", "1"]), /NOPERM/, "the inspector only reads");
  });

  test("between services the identity is the certificate: no certificate, another CA, or EBS claiming to be WorkSpaces is refused", async () => {
    const describeKey = (client: ReturnType<typeof kmsGrpc>, caller?: Parameters<typeof callUnary>[3]) =>
      callUnary(client, client.DescribeKey, { keyId: DEMO_KEY }, { timeoutMs: 3000, retries: 0, ...caller });
    const plain = new (loadKms().envelope.kms.v1.KeyManagementService)("127.0.0.1:50051", grpc.credentials.createInsecure());
    await assert.rejects(describeKey(plain, { caller: { principal: `arn:aws:iam::${PARTITION.account}:user/admin` } }), (e: AwsError) => e.retryable, "no TLS, no call");
    plain.close();
    const otherCa = mkdtempSync(path.join(os.tmpdir(), "envelope-other-ca-"));
    await mintCertificates(otherCa, ["ebs"]);
    const forged = new (loadKms().envelope.kms.v1.KeyManagementService)("127.0.0.1:50051", channelCredentials(readTlsFiles(otherCa, "ebs")));
    await assert.rejects(describeKey(forged, { caller: { principal: `arn:aws:iam::${PARTITION.account}:user/admin` } }), (e: AwsError) => e.retryable, "a certificate from another CA");
    forged.close();
    const asEbs = kmsGrpc("ebs");
    const wsSession = `arn:aws:sts::${PARTITION.account}:assumed-role/aws:workspaces-infrastructure/ws-impostor1`;
    await assert.rejects(
      describeKey(asEbs, { caller: { principal: `arn:aws:iam::${PARTITION.account}:user/wsadmin`, viaService: `workspaces.${PARTITION.region}.amazonaws.com` } }),
      (e: AwsError) => e.code === "AccessDeniedException" && /certificate for 'ebs' can't call through workspaces/.test(e.message),
    );
    await assert.rejects(describeKey(kmsGrpc("client"), { caller: { principal: wsSession } }), (e: AwsError) => e.code === "AccessDeniedException");
    const ok = await describeKey(kmsGrpc("client"), { caller: { principal: `arn:aws:iam::${PARTITION.account}:user/admin` } });
    assert.equal(ok.keyMetadata?.keyId, "1234abcd-12ab-34cd-56ef-1234567890ab");
    asEbs.close();
  });

  test("SigV4 is verified: a wrong secret, a tampered body, a skewed clock and an unknown key are refused", async () => {
    const endpoint = "http://127.0.0.1:4571";
    const wrongSecret = new KMSClient({ endpoint, region: PARTITION.region, credentials: { accessKeyId: "AKIAADMIN00000000001", secretAccessKey: "guess" } });
    await assert.rejects(wrongSecret.send(new DescribeKeyCommand({ KeyId: DEMO_KEY })), { name: "InvalidSignatureException" });

    const unknown = new KMSClient({ endpoint, region: PARTITION.region, credentials: { accessKeyId: "AKIAUNKNOWN000000001", secretAccessKey: "x" } });
    await assert.rejects(unknown.send(new DescribeKeyCommand({ KeyId: DEMO_KEY })), { name: "UnrecognizedClientException" });

    // The SDK corrects its clock after a skew error and retries; one attempt shows the error.
    const skewed = new KMSClient({ endpoint, region: PARTITION.region, credentials: { accessKeyId: "AKIAADMIN00000000001", secretAccessKey: "admin-secret" }, systemClockOffset: -10 * 60_000, maxAttempts: 1 });
    await assert.rejects(skewed.send(new DescribeKeyCommand({ KeyId: DEMO_KEY })), { name: "InvalidSignatureException", message: /Signature expired/ });

    const tampering = kmsClient("admin");
    // Changes the body after the SDK has signed it.
    const tamper: FinalizeRequestMiddleware<object, MetadataBearer> = (next) => async (args) => {
      const req = args.request as { body: string };
      req.body = req.body.replace("workspaces-demo", "workspaces-dem0"); // same length: only the signature can tell
      return next(args);
    };
    tampering.middlewareStack.addRelativeTo(tamper as never, { relation: "after", toMiddleware: "httpSigningMiddleware", name: "tamper" });
    await assert.rejects(tampering.send(new DescribeKeyCommand({ KeyId: DEMO_KEY })), { name: "InvalidSignatureException" });
  });
});
