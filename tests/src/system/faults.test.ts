// Faults: while 50 WorkSpaces are being created, kms, ebs, workspaces and redis are killed
// (SIGKILL) and started again, in turn. Afterwards every WorkSpace is AVAILABLE or in ERROR
// with a reason, the invariant check finds nothing, data written before the faults reads back
// intact, and terminating everything leaves no grant and no volume. Each loop is bounded.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { CreateWorkspacesCommand, DescribeWorkspacesCommand, TerminateWorkspacesCommand, type Workspace } from "@aws-sdk/client-workspaces";
import { DescribeKeyCommand, ListGrantsCommand } from "@aws-sdk/client-kms";
import { getContainerRuntimeClient } from "testcontainers";
import { ROOT, SERVICES, dockerSkipReason, eventually, useStack, type Stack } from "../support/stack.js";
import { DIRECTORY, callUnary, ebsGrpc, kmsClient, workspacesClient } from "../support/clients.js";
import { checkRunningStack } from "../tools/invariants.js";

const skip = dockerSkipReason();
const TARGETS = ["kms", "ebs", "workspaces", "redis"] as const satisfies readonly (typeof SERVICES)[number][];
const COUNT = 50;
const SEEDED = 4;
const BLOCKS_PER_VOLUME = 16;
/** Failures a caller retries: the service or one it needs is restarting. */
const RETRYABLE = new Set(["ServiceUnavailable", "InternalFailure", "KMSInternalException", "DependencyTimeoutException"]);
/** The JSON log lines with this message. */
const lines = (logs: string, msg: string) => logs.split("\n").filter((l) => l.includes(`"msg":"${msg}"`)).map((l) => l.slice(l.indexOf("{")));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("faults: kill and restart each service while 50 WorkSpaces are created", { skip, timeout: 20 * 60_000 }, () => {
  let stack: Stack;
  const ws = workspacesClient("wsadmin");
  const admin = kmsClient("admin");
  let ebs: ReturnType<typeof ebsGrpc>;
  const figures = { faults: [] as { service: string; downMs: number; wave: number }[], createRetries: 0, refusedWhileDown: {} as Record<string, number> };

  useStack((s, e) => {
    stack = s;
    ebs = e;
  });

  /** SIGKILL, then start again (unless the restart policy already did) and wait for healthy. */
  async function crash(service: (typeof TARGETS)[number]): Promise<number> {
    const client = await getContainerRuntimeClient();
    const container = client.container.getById(stack.env.getContainer(`${service}-1`).getId());
    const t0 = Date.now();
    await container.kill({ signal: "SIGKILL" });
    await sleep(300);
    if (!(await container.inspect()).State.Running) await container.start().catch(() => undefined);
    await eventually(`${service} healthy again`, async () => ((await container.inspect()).State.Health?.Status === "healthy" ? true : undefined), 120_000, 250);
    return Date.now() - t0;
  }

  const findByUser = async (userName: string) => (await ws.send(new DescribeWorkspacesCommand({ DirectoryId: DIRECTORY, UserName: userName }))).Workspaces?.[0];

  /**
   * CreateWorkspaces as a careful caller makes it: an answer lost to a dropped connection, or a
   * retryable failure, is retried; CreateWorkspaces is safe to retry (a retry never makes a
   * second WorkSpace: it names the one the user has).
   */
  async function createSafely(userName: string): Promise<string> {
    for (let attempt = 0; attempt < 120; attempt++) {
      try {
        const out = await ws.send(
          new CreateWorkspacesCommand({ Workspaces: [{ DirectoryId: DIRECTORY, UserName: userName, BundleId: "wsb-demo0001", RootVolumeEncryptionEnabled: true, UserVolumeEncryptionEnabled: true }] }),
        );
        const pending = out.PendingRequests?.[0]?.WorkspaceId;
        if (pending) return pending;
        const failure = out.FailedRequests![0]!;
        if (failure.ErrorCode === "ResourceAlreadyExistsException" && attempt > 0) {
          const existing = await findByUser(userName);
          if (existing?.WorkspaceId) return existing.WorkspaceId;
        }
        if (!RETRYABLE.has(failure.ErrorCode!)) throw new Error(`${userName}: ${failure.ErrorCode} ${failure.ErrorMessage}`);
        figures.refusedWhileDown[failure.ErrorCode!] = (figures.refusedWhileDown[failure.ErrorCode!] ?? 0) + 1;
      } catch (e) {
        if (e instanceof Error && e.message.startsWith(`${userName}:`)) throw e;
      }
      figures.createRetries++;
      await sleep(500);
    }
    throw new Error(`${userName}: no answer after 120 attempts`);
  }

  async function describeAll(ids: string[]): Promise<Workspace[]> {
    const out: Workspace[] = [];
    for (let i = 0; i < ids.length; i += 25) out.push(...((await ws.send(new DescribeWorkspacesCommand({ WorkspaceIds: ids.slice(i, i + 25) }))).Workspaces ?? []));
    return out;
  }

  const volumesOf = async (workspaceId: string) => (await callUnary(ebs, ebs.DescribeVolumes, { workspaceId })).volumes;

  test("every WorkSpace ends AVAILABLE or ERROR with a reason; no orphans; data intact; terminate leaves nothing", async () => {
    // Data written before any fault, on both volumes of a few WorkSpaces.
    const seededIds = await Promise.all(Array.from({ length: SEEDED }, (_, i) => createSafely(`user${190 + i}`)));
    await eventually("seeded WorkSpaces AVAILABLE", async () => ((await describeAll(seededIds)).every((w) => w.State === "AVAILABLE") ? true : undefined), 120_000, 500);
    const written = new Map<string, Buffer[]>();
    for (const id of seededIds) {
      for (const v of await volumesOf(id)) {
        const blocks = Array.from({ length: BLOCKS_PER_VOLUME }, () => randomBytes(4096));
        await callUnary(ebs, ebs.WriteBlocks, { volumeId: v.volumeId, startBlock: 0, blocks });
        written.set(v.volumeId, blocks);
      }
    }

    // Four waves of CreateWorkspaces; during each, one service is killed and started again.
    const users = Array.from({ length: COUNT }, (_, i) => `user${String(i + 1).padStart(3, "0")}`);
    const waves = TARGETS.map((_, i) => users.filter((__, j) => j % TARGETS.length === i));
    const created: Promise<string>[] = [];
    for (const [i, service] of TARGETS.entries()) {
      created.push(...waves[i]!.map(createSafely));
      // The wave is under way: grants made, volumes being created. WorkSpaces itself goes down
      // sooner, while CreateWorkspaces requests are still in flight.
      await sleep(service === "workspaces" ? 20 : 150);
      figures.faults.push({ service, wave: waves[i]!.length, downMs: await crash(service) });
    }
    const ids = await Promise.all(created);
    assert.equal(new Set(ids).size, COUNT, "one WorkSpace per user, none twice");

    let last: Workspace[] = [];
    const settled = await eventually(
      "every WorkSpace AVAILABLE or ERROR",
      async () => {
        last = await describeAll(ids);
        return last.length === COUNT && last.every((w) => w.State === "AVAILABLE" || w.State === "ERROR") ? last : undefined;
      },
      5 * 60_000,
      1000,
    ).catch(async (e: unknown) => {
      const states = last.reduce<Record<string, number>>((m, w) => ({ ...m, [w.State!]: (m[w.State!] ?? 0) + 1 }), {});
      const stuck = last.filter((w) => w.State !== "AVAILABLE" && w.State !== "ERROR").map((w) => w.WorkspaceId);
      const logs = (await stack.logs("workspaces")).split("\n").filter((l) => stuck.some((id) => id && l.includes(id))).slice(-30);
      throw new Error(`${String(e)}; states ${JSON.stringify(states)} of ${last.length}; the stuck ones' log:\n${logs.join("\n")}`);
    });
    const errors = settled.filter((w) => w.State === "ERROR");
    for (const w of errors) assert.ok(w.ErrorCode && w.ErrorMessage, `${w.WorkspaceId} is in ERROR with a reason`);
    assert.deepEqual(await checkRunningStack(), [], "the invariant check finds nothing after the faults");

    // Written before the faults, read back after all four.
    let blocksVerified = 0;
    for (const [volumeId, blocks] of written) {
      const read = await callUnary(ebs, ebs.ReadBlocks, { volumeId, startBlock: 0, count: blocks.length });
      assert.deepEqual(read.blocks, blocks, `${volumeId} reads back what was written`);
      blocksVerified += blocks.length;
    }

    const everything = [...ids, ...seededIds];
    for (let i = 0; i < everything.length; i += 25) {
      const out = await ws.send(new TerminateWorkspacesCommand({ TerminateWorkspaceRequests: everything.slice(i, i + 25).map((WorkspaceId) => ({ WorkspaceId })) }));
      assert.deepEqual(out.FailedRequests, []);
    }
    await eventually("all TERMINATED", async () => ((await describeAll(everything)).every((w) => w.State === "TERMINATED") ? true : undefined), 3 * 60_000, 1000);
    const keyId = (await admin.send(new DescribeKeyCommand({ KeyId: "alias/aws/workspaces" }))).KeyMetadata!.KeyId!;
    const grants = await admin.send(new ListGrantsCommand({ KeyId: keyId, Limit: 100 }));
    assert.equal(grants.Grants?.length, 0, "no grant left");
    assert.equal((await callUnary(ebs, ebs.DescribeVolumes, { maxResults: 1000 })).volumes.length, 0, "no volume left");
    assert.deepEqual(await checkRunningStack(), [], "and nothing after terminate");

    const logs = await stack.logs("workspaces");
    const report = {
      ...figures,
      workspaces: COUNT,
      available: settled.length - errors.length,
      error: errors.map((w) => `${w.WorkspaceId}: ${w.ErrorCode} ${w.ErrorMessage}`),
      workflowsResumed: lines(logs, "resuming workflow").length,
      workflowStepRetries: lines(logs, "retrying a workflow step").length,
      // WorkSpaces whose workflow a fault touched: resumed after a restart, or a step retried.
      workspacesAffected: new Set([...lines(logs, "resuming workflow"), ...lines(logs, "retrying a workflow step")].map((l) => (JSON.parse(l) as { workspaceId: string }).workspaceId)).size,
      blocksVerified,
      orphansAfterFaults: 0,
      grantsAfterTerminate: 0,
    };
    mkdirSync(path.join(ROOT, "test-results"), { recursive: true });
    writeFileSync(path.join(ROOT, "test-results", "faults.json"), `${JSON.stringify(report, null, 2)}\n`);
    console.log(`faults: ${JSON.stringify(report)}`);
  });
});
