// One CreateWorkspaces request is one trace across WorkSpaces, EBS, KMS and Redis, with the
// security facts of each hop on its spans, and never a data key's plaintext.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { CreateWorkspacesCommand, DescribeWorkspacesCommand, TerminateWorkspacesCommand } from "@aws-sdk/client-workspaces";
import { dockerSkipReason, eventually, ROOT, SERVICES, startStack, type Stack } from "../support/stack.js";
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from "../support/otlp-receiver.js";
import { SPAN_KIND, Trace } from "../support/trace-tree.js";
import { ALICE_SID, DIRECTORY, callUnary, ebsGrpc, ebsSession, kmsGrpc, workspacesClient } from "../support/clients.js";

const skip = dockerSkipReason();

describe("tracing: one trace per request across every service", { skip, timeout: 15 * 60_000 }, () => {
  let stack: Stack;
  let receiver: OtlpReceiver;
  const ws = workspacesClient("wsadmin");

  before(async () => {
    receiver = await startOtlpReceiver("0.0.0.0");
    stack = await startStack({
      OTEL_SDK_DISABLED: "false",
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://host.docker.internal:${receiver.port}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
      OTEL_BSP_SCHEDULE_DELAY: "200",
    });
  });
  after(async () => {
    await stack?.down();
    await receiver?.close();
  });

  test("CreateWorkspaces → grants, volumes, data keys, attach: one trace with the right parents", async () => {
    const created = await ws.send(
      new CreateWorkspacesCommand({
        Workspaces: [{ DirectoryId: DIRECTORY, UserName: "alice", BundleId: "wsb-demo0001", RootVolumeEncryptionEnabled: true, UserVolumeEncryptionEnabled: true }],
      }),
    );
    const workspaceId = created.PendingRequests![0]!.WorkspaceId!;
    await eventually("AVAILABLE", async () => {
      const w = (await ws.send(new DescribeWorkspacesCommand({ WorkspaceIds: [workspaceId] }))).Workspaces?.[0];
      return w?.State === "AVAILABLE" ? w : undefined;
    });

    // The test learns the plaintext data keys, then makes sure no span or log line carries them.
    const ebs = ebsGrpc();
    const kms = kmsGrpc("ebs");
    const { volumes } = await callUnary(ebs, ebs.DescribeVolumes, { workspaceId });
    const secrets: string[] = [];
    for (const v of volumes) {
      const { plaintext } = await callUnary(kms, kms.Decrypt, { ciphertextBlob: v.encryptedDataKey, encryptionContext: v.encryptionContext }, { caller: ebsSession(workspaceId) });
      secrets.push(plaintext.toString("hex"), plaintext.toString("base64"), plaintext.toString("base64url"));
    }
    ebs.close();
    kms.close();

    await ws.send(new TerminateWorkspacesCommand({ TerminateWorkspaceRequests: [{ WorkspaceId: workspaceId }] }));
    await eventually("TERMINATED", async () => {
      const w = (await ws.send(new DescribeWorkspacesCommand({ WorkspaceIds: [workspaceId] }))).Workspaces?.[0];
      return !w || w.State === "TERMINATED" ? true : undefined;
    });

    const traceOf = (operation: string) =>
      eventually(`the ${operation} trace with KMS spans`, async () => {
        const root = receiver.spans.find((s) => s.service === "workspaces" && s.attributes["rpc.method"] === operation);
        if (!root) return undefined;
        const spans = receiver.spans.filter((s) => s.traceId === root.traceId);
        const decrypts = spans.filter((s) => s.service === "kms" && s.name === (operation === "CreateWorkspaces" ? "kms.Decrypt" : "kms.RetireGrant"));
        return decrypts.length >= 2 ? new Trace(spans) : undefined;
      });
    // Let late batches arrive before the whole trace is read.
    await traceOf("CreateWorkspaces");
    await new Promise((r) => setTimeout(r, 1500));
    const t = await traceOf("CreateWorkspaces");

    const services = new Set(t.spans.map((s) => s.service));
    for (const s of ["workspaces", "ebs", "kms"]) assert.ok(services.has(s), `spans from ${s}`);
    assert.ok(t.find((s) => s.attributes["db.system"] === "redis" || s.attributes["db.system.name"] === "redis").length > 0, "Redis spans");
    assert.equal(t.roots().length, 1, "one root: the CreateWorkspaces request");

    const calledFrom = (server: ReceivedSpan, service: string) => {
      const client = t.parent(server);
      return client?.kind === SPAN_KIND.CLIENT && client.service === service;
    };
    const under = (s: ReceivedSpan, ancestor: ReceivedSpan[]) => t.ancestors(s).some((a) => ancestor.includes(a));

    // workspaces → kms CreateGrant (the WorkSpaces grant)
    const kmsGrants = t.grpcServer("kms", "KeyManagementService/CreateGrant");
    assert.ok(kmsGrants.some((s) => calledFrom(s, "workspaces")), "workspaces → kms CreateGrant");
    // workspaces → ebs CreateVolume → kms CreateGrant and GenerateDataKeyWithoutPlaintext
    const createVolumes = t.grpcServer("ebs", "ElasticBlockStore/CreateVolume");
    assert.equal(createVolumes.length, 2, "two CreateVolume calls");
    assert.ok(createVolumes.every((s) => calledFrom(s, "workspaces")), "workspaces → ebs CreateVolume");
    assert.equal(kmsGrants.filter((s) => calledFrom(s, "ebs") && under(s, createVolumes)).length, 2, "ebs CreateVolume → kms CreateGrant");
    const gdks = t.grpcServer("kms", "KeyManagementService/GenerateDataKeyWithoutPlaintext");
    assert.equal(gdks.filter((s) => calledFrom(s, "ebs") && under(s, createVolumes)).length, 2, "ebs CreateVolume → kms GenerateDataKeyWithoutPlaintext");
    // attach → kms Decrypt
    const attaches = t.grpcServer("ebs", "ElasticBlockStore/AttachVolume");
    const decrypts = t.grpcServer("kms", "KeyManagementService/Decrypt");
    assert.equal(decrypts.filter((s) => calledFrom(s, "ebs") && under(s, attaches)).length, 2, "ebs AttachVolume → kms Decrypt");

    // The security facts on the KMS domain spans.
    for (const s of t.find((x) => x.name === "kms.GenerateDataKeyWithoutPlaintext" || x.name === "kms.Decrypt")) {
      assert.equal(s.attributes["aws.kms.encryption_context.aws:workspaces:sid-directoryid"], `[${ALICE_SID}]@[${DIRECTORY}]`);
      assert.match(String(s.attributes["aws.kms.encryption_context.aws:ebs:id"]), /^vol-[0-9a-f]{17}$/);
      assert.match(String(s.attributes["aws.kms.grant_id"]), /^[0-9a-f]{64}$/, "the grant that authorized the call");
      assert.match(String(s.attributes["aws.kms.key_arn"]), /^arn:aws:kms:us-west-2:111122223333:key\//);
      assert.match(String(s.attributes["aws.kms.caller_principal"]), /assumed-role\/aws:ec2-infrastructure\//);
      assert.equal(s.attributes["aws.kms.outcome"], "allowed");
    }
    const wsGrant = t.find((x) => x.name === "kms.CreateGrant" && String(x.attributes["aws.kms.grantee_principal"]).includes("workspaces-infrastructure"));
    assert.equal(wsGrant.length, 1);
    assert.equal(wsGrant[0]!.attributes["aws.kms.caller_principal"], "arn:aws:iam::111122223333:user/wsadmin");
    assert.ok(t.find((x) => x.service === "ebs" && x.attributes["envelope.data_key.source"] === "kms").length >= 2, "attach decrypted through KMS");
    const stateEvents = t.spans.flatMap((s) => s.events).filter((e) => e.name === "workspace.state");
    assert.ok(stateEvents.some((e) => e.attributes.to === "AVAILABLE"), "state transitions are span events");

    // Terminate is its own trace, in which both services retire their grants.
    const term = await traceOf("TerminateWorkspaces");
    assert.equal(term.find((s) => s.name === "kms.RetireGrant").length, 3, "the WorkSpaces grant and two EBS grants retired");

    // No plaintext data key in any span attribute or event, nor in any log line.
    const everything = JSON.stringify(receiver.spans.map((s) => [s.attributes, s.events]));
    for (const secret of secrets) assert.ok(!everything.includes(secret), "no data key plaintext in spans");
    for (const service of SERVICES) {
      const logs = await stack.logs(service);
      for (const secret of secrets) assert.ok(!logs.includes(secret), `no data key plaintext in ${service} logs`);
      if (service !== "redis") {
        const lines = logs.split("\n").filter((l) => l.startsWith("{"));
        const inSpan = lines.filter((l) => (JSON.parse(l) as { trace_id?: string }).trace_id);
        assert.ok(inSpan.length > 0, `${service} logs carry trace_id`);
        assert.ok(inSpan.every((l) => /"span_id":"[0-9a-f]{16}"/.test(l)), `${service} log lines have span_id`);
      }
    }

    const tree = t.render(["aws.kms.key_id", "aws.kms.grant_id", "aws.kms.grantee_principal", "aws.kms.caller_principal", "aws.ebs.volume_id", "aws.ebs.attach_state", "envelope.data_key.source", "aws.workspaces.workspace_id", "db.statement"]);
    const out = path.join(ROOT, "test-results");
    mkdirSync(out, { recursive: true });
    writeFileSync(path.join(out, "provisioning-trace.txt"), `${tree}\n`);
  });
});
