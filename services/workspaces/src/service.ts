// The WorkSpaces operations and their workflows (seed steps 1, 2, 5 and 9).
// CreateWorkspaces decides each request and creates the WorkSpaces grant before it answers
// (a key the administrator may not grant fails the request at once); volumes are created and
// attached after the answer, in the background, inside the request's trace. Every workflow
// (provision, reboot, rebuild, start, stop, terminate) is durable: its steps are recorded in
// Redis before and after they run, each step is idempotent, and a restarted service resumes
// what was under way.
import { ROOT_CONTEXT, context, propagation, trace, type Context, type Span, SpanStatusCode } from "@opentelemetry/api";
import { AwsError, type Caller, type IdentityStore, type Logger, type Partition, WORKSPACES_ROLE, isRetryable, serviceSessionArn, viaService } from "@envelope/shared";
import { authorizeWorkspaces } from "./domain/authorize.js";
import {
  type ChangeOperation, type Failure, type WorkflowOperation, type WorkspaceRecord, type WorkspaceRequest, type WorkspaceState, IN_PROGRESS, WORKFLOW_OUTCOMES,
  WORKFLOW_STEPS, changeRefusal, checkRequest, isWorkspaceId, newWorkflow, newWorkspace, sidDirectoryId, terminateRefusal,
} from "./domain/workspaces.js";
import { BUNDLES } from "./domain/directory.js";
import type { WorkspaceStore } from "./store/workspaces.js";
import type { KmsClient } from "@envelope/shared";
import type { EbsClient } from "./clients/ebs.js";

const tracer = trace.getTracer("envelope-workspaces");
/** What the WorkSpaces grant lets the service do with the CMK, for this user only. */
const WORKSPACES_GRANT_OPERATIONS = ["Decrypt", "GenerateDataKeyWithoutPlaintext", "CreateGrant", "RetireGrant", "DescribeKey"];

/** A terminate took over the WorkSpace whose workflow was running: that workflow stops quietly. */
class Overtaken extends Error {}

export interface WorkflowOptions {
  /** How long a workflow step keeps retrying failures that may pass (a service or Redis restarting). */
  retryForMs?: number;
}

export interface DescribeFilter {
  workspaceIds?: string[];
  directoryId?: string;
  userName?: string;
  bundleId?: string;
  limit?: number;
  nextToken?: string;
}

export class WorkspacesService {
  /**
   * Background work per WorkSpace, chained, with the record it works on: a terminate that
   * arrives while provisioning (or a reboot, rebuild, ...) is under way changes that same record,
   * so the running workflow sees it was overtaken and stops, and the terminate follows it and
   * releases every volume it made. Shutdown waits for all of it.
   */
  private readonly live = new Map<string, { w: WorkspaceRecord; done: Promise<void> }>();
  private readonly retryForMs: number;

  constructor(
    private readonly p: Partition,
    private readonly store: WorkspaceStore,
    private readonly kms: KmsClient,
    private readonly ebs: EbsClient,
    private readonly log: Logger,
    private readonly terminatedRetentionSeconds: number,
    private readonly identities: IdentityStore,
    options: WorkflowOptions = {},
  ) {
    this.retryForMs = options.retryForMs ?? 60_000;
  }

  /** The caller's IAM policies must allow workspaces:<operation>. */
  private authorize(caller: Caller | undefined, operation: string): Caller {
    if (!caller) throw new AwsError("AccessDeniedException", `workspaces:${operation} needs a caller.`);
    authorizeWorkspaces(caller, this.identities.policiesFor(caller.principal), operation, "*");
    return caller;
  }

  /** The session WorkSpaces acts as for one WorkSpace (the grantee of its grant). */
  private session(workspaceId: string): Caller {
    return { principal: serviceSessionArn(this.p, WORKSPACES_ROLE, workspaceId), viaService: viaService(this.p, "workspaces") };
  }

  /**
   * Every state change: a span event, a log line, the time of the change, one write (with the
   * workflow it starts, or without the one it ends).
   */
  private async setState(span: Span | undefined, w: WorkspaceRecord, to: WorkspaceState, change: { error?: AwsError; workflow?: WorkspaceRecord["workflow"] | null } = {}): Promise<void> {
    const { error } = change;
    span?.addEvent("workspace.state", { from: w.state, to, "aws.workspaces.workspace_id": w.workspaceId, ...(error ? { "error.code": error.code } : {}) });
    this.log.info({ workspaceId: w.workspaceId, from: w.state, to, ...(error ? { errorCode: error.code } : {}) }, "workspace state");
    w.state = to;
    w.stateChangedAt = Date.now() / 1000;
    if (change.workflow) w.workflow = change.workflow;
    else if (change.workflow === null) delete w.workflow;
    if (error) Object.assign(w, { errorCode: error.code, errorMessage: error.message });
    else if (to === "AVAILABLE" || to === "STOPPED") {
      delete w.errorCode;
      delete w.errorMessage;
    }
    if (to === "TERMINATED") await this.store.putTerminated(w, this.terminatedRetentionSeconds);
    else await this.store.put(w);
  }

  /** The request's trace context, stored with a workflow so resumed work joins the same trace. */
  private traceparent(): string | undefined {
    const carrier: Record<string, string> = {};
    propagation.inject(context.active(), carrier);
    return carrier.traceparent;
  }

  /**
   * Runs background work, after any work already running for the WorkSpace, in a span under
   * the request's context, so it stays in the request's trace.
   */
  private background(name: string, parent: Context, w: WorkspaceRecord, work: (span: Span) => Promise<void>): void {
    const attributes = {
      "aws.workspaces.workspace_id": w.workspaceId,
      "aws.workspaces.directory_id": w.directoryId,
      "aws.workspaces.user_name": w.userName,
      ...(w.keyArn ? { "aws.kms.key_id": w.keyArn } : {}),
      ...(w.grantId ? { "aws.kms.grant_id": w.grantId } : {}),
    };
    const before = this.live.get(w.workspaceId)?.done ?? Promise.resolve();
    const done = before.then(() =>
      tracer.startActiveSpan(name, { attributes }, parent, async (span) => {
        try {
          await work(span);
        } catch (e) {
          if (e instanceof Overtaken) return;
          span.setStatus({ code: SpanStatusCode.ERROR, message: e instanceof AwsError ? e.code : String(e) });
          this.log.error({ workspaceId: w.workspaceId, err: e instanceof Error ? e.message : String(e) }, `${name} failed`);
        } finally {
          span.end();
        }
      }),
    );
    this.live.set(w.workspaceId, { w, done });
    void done.finally(() => {
      if (this.live.get(w.workspaceId)?.done === done) this.live.delete(w.workspaceId);
    });
  }

  /** Runs the WorkSpace's workflow in the background, in the trace of parent (by default the request's). */
  private startWorkflow(w: WorkspaceRecord, operation: WorkflowOperation, parent: Context = context.active()): void {
    this.background(`workspaces.${operation}`, parent, w, (span) => this.runWorkflow(span, w, operation));
  }

  /** A WorkSpace as stored, or the very record its running background work holds. */
  private async find(id: string): Promise<WorkspaceRecord | undefined> {
    const stored = isWorkspaceId(id) ? await this.store.get(id) : undefined;
    return this.live.get(id)?.w ?? stored;
  }

  async createWorkspaces(requests: WorkspaceRequest[], who: Caller | undefined) {
    const caller = this.authorize(who, "CreateWorkspaces");
    const failed: { WorkspaceRequest: WorkspaceRequest; ErrorCode: string; ErrorMessage: string }[] = [];
    const pending: WorkspaceRecord[] = [];
    for (const request of requests) {
      const outcome = await tracer.startActiveSpan("workspaces.CreateWorkspace", async (span) => {
        try {
          return await this.createOne(span, request, caller);
        } finally {
          span.end();
        }
      });
      if ("ErrorCode" in outcome) failed.push({ WorkspaceRequest: request, ...outcome });
      else pending.push(outcome);
    }
    return { FailedRequests: failed, PendingRequests: pending };
  }

  /**
   * One WorkSpace: stored with its provisioning workflow (step CreateGrant begun) before any
   * grant exists, so a crash at any point leaves something a restart resumes. Safe to retry:
   * a second request for the same user never makes a second WorkSpace, grant or volume; it
   * names the WorkSpace the user has.
   */
  private async createOne(span: Span, request: WorkspaceRequest, caller: Caller): Promise<WorkspaceRecord | Failure> {
    const checked = checkRequest(request);
    if ("ErrorCode" in checked) return checked;
    const w = newWorkspace(request, checked.user, checked.bundle);
    span.setAttributes({ "aws.workspaces.workspace_id": w.workspaceId, "aws.workspaces.directory_id": w.directoryId, "aws.workspaces.user_name": w.userName });
    const workflow = (w.workflow = newWorkflow("Provision", caller.principal, this.traceparent()));
    if (!(await this.store.create(w))) {
      const existing = await this.store.claimOf(w.directoryId, w.userName);
      return { ErrorCode: "ResourceAlreadyExistsException", ErrorMessage: `The user ${w.userName} already has a WorkSpace in the directory ${w.directoryId}${existing ? `: ${existing}` : ""}.` };
    }
    try {
      if (w.volumeEncryptionKey) await this.createGrant(span, w, caller);
    } catch (e) {
      await this.store.delete(w);
      const err = e instanceof AwsError ? e : new AwsError("InternalFailure", "The WorkSpace could not be created.");
      span.setAttribute("aws.workspaces.error_code", err.code);
      return { ErrorCode: err.code, ErrorMessage: err.message };
    }
    // Recorded by the workflow's next write (the first volume step's), as every step's end is.
    Object.assign(workflow, { phase: "end", done: ["CreateGrant"] });
    span.addEvent("workspace.state", { from: "", to: "PENDING" });
    this.startWorkflow(w, "Provision");
    return w;
  }

  /**
   * Seed step 1: the grant that lets WorkSpaces use the CMK only for this user and directory.
   * It is created with the administrator's own permissions, through WorkSpaces: a principal
   * can only grant what it has. Its name is the WorkSpace's, so a retry gets the same grant.
   */
  private async createGrant(span: Span, w: WorkspaceRecord, admin: Caller): Promise<void> {
    const asAdmin: Caller = { principal: admin.principal, viaService: viaService(this.p, "workspaces") };
    const key = (await this.kms.describeKey(asAdmin, w.volumeEncryptionKey!)).keyMetadata!;
    const session = this.session(w.workspaceId);
    const grant = await this.kms.createGrant(asAdmin, {
      keyId: key.arn,
      granteePrincipal: session.principal,
      retiringPrincipal: session.principal,
      operations: WORKSPACES_GRANT_OPERATIONS,
      constraints: { encryptionContextSubset: { "aws:workspaces:sid-directoryid": sidDirectoryId(w.userSid, w.directoryId) } },
      name: `workspaces-${w.workspaceId}`,
    });
    Object.assign(w, { keyArn: key.arn, grantId: grant.grantId, grantToken: grant.grantToken });
    span.setAttributes({ "aws.kms.key_id": key.arn, "aws.kms.grant_id": grant.grantId });
  }

  /** Seed step 2: EBS creates one of the WorkSpace's volumes (encrypted as asked). */
  private async createVolume(w: WorkspaceRecord, kind: "root" | "user"): Promise<string> {
    const encrypted = kind === "root" ? w.rootVolumeEncryptionEnabled : w.userVolumeEncryptionEnabled;
    const volume = await this.ebs.createVolume(this.session(w.workspaceId), {
      size: kind === "root" ? w.workspaceProperties.RootVolumeSizeGib : w.workspaceProperties.UserVolumeSizeGib,
      encrypted,
      ...(encrypted ? { kmsKeyId: w.keyArn! } : {}),
      workspaceId: w.workspaceId,
      userSid: w.userSid,
      directoryId: w.directoryId,
      // A retried call gets the same volume; a rebuild's new root volume gets a new token.
      clientToken: `${w.workspaceId}-${kind}-${kind === "root" ? (w.rootGeneration ?? 0) : 0}`,
    });
    return volume.volumeId;
  }

  /** Seed step 5: attach both volumes; EBS decrypts each data key again from its stored copy. */
  private async attachAll(w: WorkspaceRecord): Promise<void> {
    const session = this.session(w.workspaceId);
    for (const [volumeId, device] of [[w.rootVolumeId, "/dev/sda1"], [w.userVolumeId, "/dev/xvdd"]] as const) {
      if (volumeId) await this.ebs.attachVolume(session, { volumeId, instanceId: w.workspaceId, device }).catch(ignore("VolumeInUse"));
    }
  }

  /** Detaches a volume from the WorkSpace (EBS drops its plaintext data key); one already detached or gone is fine. */
  private async detach(w: WorkspaceRecord, volumeId: string): Promise<void> {
    await this.ebs.detachVolume(this.session(w.workspaceId), { volumeId, instanceId: w.workspaceId }).catch(ignore("IncorrectState", "InvalidVolume.NotFound"));
  }

  /** Detach both volumes: EBS drops the plaintext data keys from memory. */
  private async detachAll(w: WorkspaceRecord): Promise<void> {
    for (const volumeId of [w.rootVolumeId, w.userVolumeId]) {
      if (volumeId) await this.detach(w, volumeId);
    }
  }

  /**
   * Detaches and deletes every volume of the WorkSpace (EBS retires its grants): those it
   * records and any EBS holds for it, such as one whose creation a restart cut short.
   */
  private async releaseVolumes(w: WorkspaceRecord): Promise<void> {
    const session = this.session(w.workspaceId);
    const held = (await this.ebs.describeVolumes(session, { volumeIds: [], workspaceId: w.workspaceId, maxResults: 0, nextToken: "" })).volumes.map((v) => v.volumeId);
    for (const volumeId of new Set([w.rootVolumeId, w.userVolumeId, ...held].filter((id): id is string => !!id))) {
      await this.detach(w, volumeId);
      await this.ebs.deleteVolume(session, volumeId).catch(ignore("InvalidVolume.NotFound"));
    }
    delete w.rootVolumeId;
    delete w.userVolumeId;
  }

  /** Seed step 9: the WorkSpace's session retires the WorkSpaces grant (its retiring principal). */
  private async retireGrant(w: WorkspaceRecord): Promise<void> {
    if (w.grantId && w.keyArn) await this.kms.retireGrant(this.session(w.workspaceId), { keyId: w.keyArn, grantId: w.grantId }).catch(ignore("NotFoundException"));
    delete w.grantToken;
  }

  /** What each workflow step does. Every one is idempotent: running it again is harmless. */
  private runStep(span: Span, w: WorkspaceRecord, name: string): Promise<void> {
    switch (name) {
      case "CreateGrant":
        // Done in the request; here only when a restart cut the request short.
        return w.volumeEncryptionKey && !w.grantId ? this.createGrant(span, w, { principal: w.workflow!.requestedBy }) : Promise.resolve();
      case "CreateRootVolume":
        return this.createVolume(w, "root").then((id) => void (w.rootVolumeId = id));
      case "CreateUserVolume":
        return this.createVolume(w, "user").then((id) => void (w.userVolumeId = id));
      case "AttachVolumes":
        span.setAttributes({ "aws.ebs.root_volume_id": w.rootVolumeId ?? "", "aws.ebs.user_volume_id": w.userVolumeId ?? "" });
        return this.attachAll(w);
      case "DetachVolumes":
        return this.detachAll(w);
      case "DeleteRootVolume":
        // Rebuild: the root volume is recreated from the bundle (new volume, new grant, new data
        // key); the user volume and its data stay.
        return (async () => {
          const old = w.rootVolumeId;
          if (old) await this.ebs.deleteVolume(this.session(w.workspaceId), old).catch(ignore("InvalidVolume.NotFound"));
          span.setAttribute("aws.ebs.replaced_root_volume_id", old ?? "");
          w.rootGeneration = (w.rootGeneration ?? 0) + 1;
          delete w.rootVolumeId;
        })();
      case "ReleaseVolumes":
        return this.releaseVolumes(w);
      case "RetireGrant":
        return this.retireGrant(w);
      default:
        throw new Error(`unknown workflow step ${name}`);
    }
  }

  /**
   * Runs a workflow's steps not yet done, each recorded before and after it runs, then ends it
   * in its outcome state. A step that fails in a way that may pass is retried with backoff; a
   * step that can't succeed ends the workflow in its failure state, with the reason (and a
   * failed provisioning leaves no volume and no grant behind).
   */
  private async runWorkflow(span: Span, w: WorkspaceRecord, operation: WorkflowOperation): Promise<void> {
    const [succeeded, failedState] = WORKFLOW_OUTCOMES[operation];
    const workflow = w.workflow;
    span.setAttribute("envelope.workflow.operation", operation);
    if (workflow?.resumed) span.setAttributes({ "envelope.workflow.resumed": workflow.resumed, "envelope.workflow.step": workflow.step });
    try {
      for (const name of WORKFLOW_STEPS[operation]) {
        if (w.workflow !== workflow || workflow?.operation !== operation) throw new Overtaken();
        if (workflow.done.includes(name)) continue;
        // One write per step boundary: it records the step before as done (and what it made,
        // such as a volume id) and this one as begun; the last step's end is recorded with the
        // outcome. Nothing happens between the two, so one write says both.
        Object.assign(workflow, { step: name, phase: "begin" });
        await this.persistently(w, () => this.store.put(w));
        await this.persistently(w, () => this.runStep(span, w, name));
        if (w.workflow !== workflow) throw new Overtaken();
        Object.assign(workflow, { phase: "end", done: [...workflow.done, name] });
      }
      await this.persistently(w, () => this.setState(span, w, succeeded, { workflow: null }));
    } catch (e) {
      if (e instanceof Overtaken || w.workflow !== workflow) return;
      const err = e instanceof AwsError ? e : new AwsError("InternalFailure", `${operation} failed: ${e instanceof Error ? e.message : String(e)}`);
      if (operation === "Provision") {
        // Nothing is left behind: the volumes and the grant go, the WorkSpace says why.
        await this.persistently(w, async () => {
          await this.releaseVolumes(w);
          await this.retireGrant(w);
        }).catch((c) => this.log.error({ workspaceId: w.workspaceId, err: String(c) }, "could not release a failed WorkSpace's resources"));
        if (w.workflow !== workflow) return;
      }
      await this.persistently(w, () => this.setState(span, w, failedState, { error: err, workflow: null }));
    }
  }

  /**
   * Runs fn, retrying failures that may pass (a service or Redis restarting) with backoff for
   * up to retryForMs; an AWS error that won't pass (access denied, key disabled) fails at once.
   */
  private async persistently<T>(w: WorkspaceRecord, fn: () => Promise<T>): Promise<T> {
    const until = Date.now() + this.retryForMs;
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        if (!isRetryable(e) || Date.now() >= until) throw e;
        this.log.warn({ workspaceId: w.workspaceId, step: w.workflow?.step, err: e instanceof Error ? e.message : String(e), attempt }, "retrying a workflow step");
        await new Promise((r) => setTimeout(r, Math.min(5_000, 200 * 2 ** attempt) * (0.5 + Math.random())));
      }
    }
  }

  /** After a restart: every workflow that was under way runs its remaining steps, in the trace it began in. */
  async resumeWorkflows(): Promise<number> {
    let resumed = 0;
    for (const w of await this.store.withWorkflows()) {
      const workflow = w.workflow;
      if (!workflow || this.live.has(w.workspaceId)) continue;
      workflow.resumed = (workflow.resumed ?? 0) + 1;
      const parent = workflow.traceparent ? propagation.extract(ROOT_CONTEXT, { traceparent: workflow.traceparent }) : ROOT_CONTEXT;
      this.log.info({ workspaceId: w.workspaceId, operation: workflow.operation, step: workflow.step, phase: workflow.phase }, "resuming workflow");
      this.startWorkflow(w, workflow.operation, parent);
      resumed++;
    }
    return resumed;
  }

  /**
   * Reboot, rebuild, start or stop WorkSpaces: each allowed one moves to its in-progress state
   * at once and finishes in the background, in the request's trace.
   */
  async changeWorkspaces(op: ChangeOperation, caller: Caller | undefined, ids: string[]) {
    const who = this.authorize(caller, `${op}Workspaces`);
    if (op === "Rebuild" && ids.length !== 1) throw new AwsError("InvalidParameterValuesException", "RebuildWorkspaces takes exactly one WorkSpace.");
    const failed: { WorkspaceId: string; ErrorCode: string; ErrorMessage: string }[] = [];
    for (const id of ids) {
      const w = await this.find(id);
      const refusal = w ? changeRefusal(op, w) : { ErrorCode: "ResourceNotFoundException", ErrorMessage: `The WorkSpace ${id} could not be found.` };
      if (refusal || !w) {
        failed.push({ WorkspaceId: id, ...refusal! });
        continue;
      }
      await this.setState(trace.getActiveSpan(), w, IN_PROGRESS[op], { workflow: newWorkflow(op, who.principal, this.traceparent()) });
      this.startWorkflow(w, op);
    }
    return { FailedRequests: failed };
  }

  async terminateWorkspaces(caller: Caller | undefined, ids: string[]) {
    const who = this.authorize(caller, "TerminateWorkspaces");
    const failed: { WorkspaceId: string; ErrorCode: string; ErrorMessage: string }[] = [];
    for (const id of ids) {
      const w = await this.find(id);
      if (!w) {
        failed.push({ WorkspaceId: id, ErrorCode: "ResourceNotFoundException", ErrorMessage: `The WorkSpace ${id} could not be found.` });
        continue;
      }
      const refusal = terminateRefusal(w);
      if (refusal) {
        failed.push({ WorkspaceId: id, ...refusal });
        continue;
      }
      // Takes over from any workflow under way: that one stops at its next step.
      await this.setState(trace.getActiveSpan(), w, "TERMINATING", { workflow: newWorkflow("Terminate", who.principal, this.traceparent()) });
      this.startWorkflow(w, "Terminate");
    }
    return { FailedRequests: failed };
  }

  async describeWorkspaces(caller: Caller | undefined, f: DescribeFilter): Promise<{ Workspaces: WorkspaceRecord[]; NextToken?: string }> {
    this.authorize(caller, "DescribeWorkspaces");
    const limit = f.limit ?? 25;
    if (!Number.isInteger(limit) || limit < 1 || limit > 25) throw new AwsError("InvalidParameterValuesException", "Limit must be from 1 to 25.");
    if (f.nextToken !== undefined && !/^\d{1,9}$/.test(f.nextToken)) throw new AwsError("InvalidParameterValuesException", "NextToken is not valid: pass the NextToken of a previous response.");
    if (f.userName && !f.directoryId) throw new AwsError("InvalidParameterValuesException", "UserName can only be used together with DirectoryId.");
    const filters = [f.workspaceIds?.length ? 1 : 0, f.directoryId ? 1 : 0, f.bundleId ? 1 : 0].reduce((a, b) => a + b, 0);
    if (filters > 1) throw new AwsError("InvalidParameterValuesException", "Use only one filter: WorkspaceIds, DirectoryId (with UserName) or BundleId.");
    let found: WorkspaceRecord[];
    if (f.workspaceIds?.length) {
      if (f.workspaceIds.length > 25) throw new AwsError("InvalidParameterValuesException", "WorkspaceIds takes 1 to 25 ids.");
      found = await this.store.many(f.workspaceIds.filter(isWorkspaceId));
    } else {
      found = (await this.store.all()).filter(
        (w) =>
          (!f.directoryId || w.directoryId === f.directoryId) &&
          (!f.userName || w.userName.toLowerCase() === f.userName.toLowerCase()) &&
          (!f.bundleId || w.bundleId === f.bundleId),
      );
    }
    const offset = Number(f.nextToken ?? 0);
    const page = found.slice(offset, offset + limit);
    return { Workspaces: page, ...(offset + page.length < found.length ? { NextToken: String(offset + page.length) } : {}) };
  }

  describeWorkspaceBundles(caller: Caller | undefined, bundleIds: string[] | undefined, owner: string | undefined) {
    this.authorize(caller, "DescribeWorkspaceBundles");
    if (bundleIds && (bundleIds.length < 1 || bundleIds.length > 25)) throw new AwsError("InvalidParameterValuesException", "BundleIds takes 1 to 25 ids.");
    if (bundleIds && owner) throw new AwsError("InvalidParameterValuesException", "Use BundleIds or Owner, not both.");
    return BUNDLES.filter((b) => (!bundleIds || bundleIds.includes(b.bundleId)) && (!owner || b.owner === owner));
  }

  /** Waits (up to a grace period) for background provisioning and termination to finish. */
  async drain(graceMs = 10_000): Promise<void> {
    await Promise.race([Promise.allSettled([...this.live.values()].map((j) => j.done)), new Promise((r) => setTimeout(r, graceMs))]);
  }
}

/** Swallows the named AWS errors (the thing is already gone); rethrows anything else. */
function ignore(...codes: string[]) {
  return (e: unknown) => {
    if (e instanceof AwsError && codes.includes(e.code)) return undefined;
    throw e;
  };
}
