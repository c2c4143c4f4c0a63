// 200 concurrent CreateWorkspaces (one per directory user) end with exactly the expected
// grants and volumes; terminating them all leaves none.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CreateWorkspacesCommand, DescribeWorkspacesCommand, TerminateWorkspacesCommand } from "@aws-sdk/client-workspaces";
import { DescribeKeyCommand, ListGrantsCommand, RevokeGrantCommand, type GrantListEntry } from "@aws-sdk/client-kms";
import { dockerSkipReason, eventually, useStack, type Stack } from "../support/stack.js";
import { DIRECTORY, callUnary, ebsGrpc, kmsClient, workspacesClient } from "../support/clients.js";
import { checkRunningStack } from "../tools/invariants.js";

const skip = dockerSkipReason();
const COUNT = 200;

describe("load: 200 concurrent CreateWorkspaces", { skip, timeout: 20 * 60_000 }, () => {
  let stack: Stack;
  const ws = workspacesClient("wsadmin");
  const admin = kmsClient("admin");
  let ebs: ReturnType<typeof ebsGrpc>;

  useStack((s, e) => {
    stack = s;
    ebs = e;
  });

  async function allGrants(keyId: string): Promise<GrantListEntry[]> {
    const out: GrantListEntry[] = [];
    let marker: string | undefined;
    do {
      const page = await admin.send(new ListGrantsCommand({ KeyId: keyId, Limit: 100, ...(marker ? { Marker: marker } : {}) }));
      out.push(...(page.Grants ?? []));
      marker = page.Truncated ? page.NextMarker : undefined;
    } while (marker);
    return out;
  }
  const volumeCount = async () => {
    let n = 0;
    let nextToken = "";
    do {
      const page = await callUnary(ebs, ebs.DescribeVolumes, { maxResults: 1000, nextToken });
      n += page.volumes.length;
      nextToken = page.nextToken;
    } while (nextToken);
    return n;
  };

  test("exactly one WorkSpaces grant and two EBS grants and volumes per WorkSpace, and none after terminate", async () => {
    const users = Array.from({ length: COUNT }, (_, i) => `user${String(i + 1).padStart(3, "0")}`);
    const results = await Promise.all(
      users.map((UserName) =>
        ws.send(new CreateWorkspacesCommand({ Workspaces: [{ DirectoryId: DIRECTORY, UserName, BundleId: "wsb-demo0001", RootVolumeEncryptionEnabled: true, UserVolumeEncryptionEnabled: true }] })),
      ),
    );
    assert.ok(results.every((r) => (r.FailedRequests ?? []).length === 0), "no failed requests");
    const ids = results.map((r) => r.PendingRequests![0]!.WorkspaceId!);
    assert.equal(new Set(ids).size, COUNT);

    const states = async () => {
      const all = [];
      for (let i = 0; i < ids.length; i += 25) all.push(...((await ws.send(new DescribeWorkspacesCommand({ WorkspaceIds: ids.slice(i, i + 25) }))).Workspaces ?? []));
      return all;
    };
    await eventually("all AVAILABLE", async () => {
      const ws = await states();
      const errors = ws.filter((w) => w.State === "ERROR");
      if (errors.length) throw new Error(`${errors.length} in ERROR: ${errors[0]!.ErrorCode} ${errors[0]!.ErrorMessage}`);
      return ws.length === COUNT && ws.every((w) => w.State === "AVAILABLE") ? true : undefined;
    }, 5 * 60_000, 1000);

    const keyId = (await admin.send(new DescribeKeyCommand({ KeyId: "alias/aws/workspaces" }))).KeyMetadata!.KeyId!;
    const grants = await allGrants(keyId);
    const wsGrants = grants.filter((g) => g.GranteePrincipal!.includes("/aws:workspaces-infrastructure/"));
    const ebsGrants = grants.filter((g) => g.GranteePrincipal!.includes("/aws:ec2-infrastructure/"));
    assert.equal(wsGrants.length, COUNT, "one WorkSpaces grant per WorkSpace");
    assert.equal(ebsGrants.length, 2 * COUNT, "one EBS grant per volume");
    assert.equal(grants.length, 3 * COUNT, "and nothing else");
    assert.deepEqual(new Set(wsGrants.map((g) => g.GranteePrincipal!.split("/").pop())), new Set(ids), "each WorkSpace has its own");
    assert.equal(await volumeCount(), 2 * COUNT);
    assert.deepEqual(await checkRunningStack(), [], "the invariant check finds nothing");
    // ... and does find a grant that went missing behind the services' backs.
    await admin.send(new RevokeGrantCommand({ KeyId: keyId, GrantId: ebsGrants[0]!.GrantId! }));
    const found = await checkRunningStack();
    assert.equal(found.length, 1);
    assert.equal(found[0]!.kind, "workspace-grant-missing");
    assert.match(found[0]!.detail, new RegExp(ebsGrants[0]!.GrantId!));

    for (let i = 0; i < ids.length; i += 25) {
      const out = await ws.send(new TerminateWorkspacesCommand({ TerminateWorkspaceRequests: ids.slice(i, i + 25).map((WorkspaceId) => ({ WorkspaceId })) }));
      assert.deepEqual(out.FailedRequests, []);
    }
    await eventually("all TERMINATED", async () => ((await states()).every((w) => w.State === "TERMINATED") ? true : undefined), 5 * 60_000, 1000);
    assert.equal((await allGrants(keyId)).length, 0, "zero grants (the revoked one's retire found it gone)");
    assert.equal(await volumeCount(), 0, "zero volumes");
    assert.deepEqual(await checkRunningStack(), [], "and nothing after terminate");
  });
});
