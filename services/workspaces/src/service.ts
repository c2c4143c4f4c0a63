// The WorkSpaces operations and the provisioning flow (seed steps 1, 2, 5 and 9).
// CreateWorkspaces decides each request and creates the WorkSpaces grant before it answers
// (a key the administrator may not grant fails the request at once); volumes are created and
// attached after the answer, in the background, inside the request's trace.
import { context, trace, type Context, type Span, SpanStatusCode } from "@opentelemetry/api";
import { AwsError, type Caller, type IdentityStore, type Logger, type Partition, WORKSPACES_ROLE, serviceSessionArn, viaService } from "@envelope/shared";
import { authorizeWorkspaces } from "./domain/authorize.js";
import {
  type ChangeOperation, type Failure, type WorkspaceRecord, type WorkspaceRequest, type WorkspaceState, IN_PROGRESS, changeRefusal, checkRequest, isWorkspaceId,
  newWorkspace, sidDirectoryId, terminateRefusal,
} from "./domain/workspaces.js";
import { BUNDLES } from "./domain/directory.js";
import type { WorkspaceStore } from "./store/workspaces.js";
import type { KmsClient } from "@envelope/shared";
import type { EbsClient } from "./clients/ebs.js";

const tracer = trace.getTracer("envelope-workspaces");
/** What the WorkSpaces grant lets the service do with the CMK, for this user only. */
const WORKSPACES_GRANT_OPERATIONS = ["Decrypt", "GenerateDataKeyWithoutPlaintext", "CreateGrant", "RetireGrant", "DescribeKey"];

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
   * so the running work stores TERMINATING rather than its own state, and the terminate waits
   * for it and then releases every volume it made. Shutdown waits for all of it.
   */
  private readonly live = new Map<string, { w: WorkspaceRecord; done: Promise<void> }>();

  constructor(
    private readonly p: Partition,
    private readonly store: WorkspaceStore,
    private readonly kms: KmsClient,
    private readonly ebs: EbsClient,
    private readonly log: Logger,
    private readonly terminatedRetentionSeconds: number,
    private readonly identities: IdentityStore,
  ) {}

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

  /** Every state change: a span event, a log line, the time of the change, one write. */
  private async setState(span: Span | undefined, w: WorkspaceRecord, to: WorkspaceState, error?: AwsError): Promise<void> {
    // Work overtaken by a terminate ends quietly: the terminate's own work follows and cleans up.
    if (w.state === "TERMINATING" && to !== "TERMINATED") return;
    span?.addEvent("workspace.state", { from: w.state, to, "aws.workspaces.workspace_id": w.workspaceId, ...(error ? { "error.code": error.code } : {}) });
    this.log.info({ workspaceId: w.workspaceId, from: w.state, to, ...(error ? { errorCode: error.code } : {}) }, "workspace state");
    w.state = to;
    w.stateChangedAt = Date.now() / 1000;
    if (error) Object.assign(w, { errorCode: error.code, errorMessage: error.message });
    else if (to === "AVAILABLE" || to === "STOPPED") {
      delete w.errorCode;
      delete w.errorMessage;
    }
    if (to === "TERMINATED") {
      await this.store.putTerminated(w, this.terminatedRetentionSeconds);
      await this.store.releaseUser(w);
    } else await this.store.put(w);
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

  private async createOne(span: Span, request: WorkspaceRequest, caller: Caller): Promise<WorkspaceRecord | Failure> {
    const checked = checkRequest(request);
    if ("ErrorCode" in checked) return checked;
    const w = newWorkspace(request, checked.user, checked.bundle);
    span.setAttributes({ "aws.workspaces.workspace_id": w.workspaceId, "aws.workspaces.directory_id": w.directoryId, "aws.workspaces.user_name": w.userName });
    if (!(await this.store.claimUser(w))) {
      return { ErrorCode: "ResourceAlreadyExistsException", ErrorMessage: `The user ${w.userName} already has a WorkSpace in the directory ${w.directoryId}.` };
    }
    try {
      if (w.volumeEncryptionKey) await this.createGrant(span, w, caller);
    } catch (e) {
      await this.store.releaseUser(w);
      const err = e instanceof AwsError ? e : new AwsError("InternalFailure", "The WorkSpace could not be created.");
      span.setAttribute("aws.workspaces.error_code", err.code);
      return { ErrorCode: err.code, ErrorMessage: err.message };
    }
    span.addEvent("workspace.state", { from: "", to: "PENDING" });
    await this.store.put(w);
    this.background("workspaces.Provision", context.active(), w, (s) => this.provision(s, w));
    return w;
  }

  /**
   * Seed step 1: the grant that lets WorkSpaces use the CMK only for this user and directory.
   * It is created with the administrator's own permissions, through WorkSpaces: a principal
   * can only grant what it has.
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

  /** Detach both volumes: EBS drops the plaintext data keys from memory. */
  private async detachAll(w: WorkspaceRecord): Promise<void> {
    const session = this.session(w.workspaceId);
    for (const volumeId of [w.rootVolumeId, w.userVolumeId]) {
      if (volumeId) await this.ebs.detachVolume(session, { volumeId, instanceId: w.workspaceId }).catch(ignore("IncorrectState"));
    }
  }

  /** Seed steps 2 and 5: EBS creates the encrypted volumes and attaches them. */
  private async provision(span: Span, w: WorkspaceRecord): Promise<void> {
    try {
      w.rootVolumeId = await this.createVolume(w, "root");
      await this.store.put(w);
      w.userVolumeId = await this.createVolume(w, "user");
      await this.store.put(w);
      span.setAttributes({ "aws.ebs.root_volume_id": w.rootVolumeId, "aws.ebs.user_volume_id": w.userVolumeId });
      await this.attachAll(w);
      await this.setState(span, w, "AVAILABLE");
    } catch (e) {
      const err = e instanceof AwsError ? e : new AwsError("InternalFailure", "Provisioning failed.");
      // Nothing is left behind: the volumes and the grant go, the WorkSpace says why.
      await this.releaseResources(w);
      await this.setState(span, w, "ERROR", err);
    }
  }

  /**
   * Reboot, rebuild, start or stop WorkSpaces: each allowed one moves to its in-progress state
   * at once and finishes in the background, in the request's trace.
   */
  async changeWorkspaces(op: ChangeOperation, caller: Caller | undefined, ids: string[]) {
    this.authorize(caller, `${op}Workspaces`);
    if (op === "Rebuild" && ids.length !== 1) throw new AwsError("InvalidParameterValuesException", "RebuildWorkspaces takes exactly one WorkSpace.");
    const failed: { WorkspaceId: string; ErrorCode: string; ErrorMessage: string }[] = [];
    for (const id of ids) {
      const w = await this.find(id);
      const refusal = w ? changeRefusal(op, w) : { ErrorCode: "ResourceNotFoundException", ErrorMessage: `The WorkSpace ${id} could not be found.` };
      if (refusal || !w) {
        failed.push({ WorkspaceId: id, ...refusal! });
        continue;
      }
      await this.setState(trace.getActiveSpan(), w, IN_PROGRESS[op]);
      this.background(`workspaces.${op}`, context.active(), w, (span) => this.runChange(op, span, w));
    }
    return { FailedRequests: failed };
  }

  private async runChange(op: ChangeOperation, span: Span, w: WorkspaceRecord): Promise<void> {
    try {
      await this.detachAll(w);
      if (op === "Stop") return await this.setState(span, w, "STOPPED");
      if (op === "Rebuild") {
        // The root volume is recreated from the bundle (new volume, new grant, new data key);
        // the user volume and its data stay.
        const old = w.rootVolumeId;
        if (old) await this.ebs.deleteVolume(this.session(w.workspaceId), old).catch(ignore("InvalidVolume.NotFound"));
        w.rootGeneration = (w.rootGeneration ?? 0) + 1;
        delete w.rootVolumeId;
        w.rootVolumeId = await this.createVolume(w, "root");
        await this.store.put(w);
        span.setAttributes({ "aws.ebs.replaced_root_volume_id": old ?? "", "aws.ebs.root_volume_id": w.rootVolumeId });
      }
      await this.attachAll(w);
      await this.setState(span, w, "AVAILABLE");
    } catch (e) {
      // Most often the key: disabled or pending deletion, so EBS can't decrypt the data key.
      const err = e instanceof AwsError ? e : new AwsError("InternalFailure", `${op} failed.`);
      await this.setState(span, w, "UNHEALTHY", err);
    }
  }

  /** Detaches and deletes the volumes (EBS retires its grants), then retires the WorkSpaces grant. */
  private async releaseResources(w: WorkspaceRecord): Promise<void> {
    const session = this.session(w.workspaceId);
    for (const volumeId of [w.rootVolumeId, w.userVolumeId]) {
      if (!volumeId) continue;
      await this.ebs.detachVolume(session, { volumeId, instanceId: w.workspaceId }).catch(ignore("IncorrectState", "InvalidVolume.NotFound"));
      await this.ebs.deleteVolume(session, volumeId).catch(ignore("InvalidVolume.NotFound"));
    }
    delete w.rootVolumeId;
    delete w.userVolumeId;
    if (w.grantId && w.keyArn) {
      await this.kms.retireGrant(session, { keyId: w.keyArn, grantId: w.grantId }).catch(ignore("NotFoundException"));
      delete w.grantToken;
    }
  }

  async terminateWorkspaces(caller: Caller | undefined, ids: string[]) {
    this.authorize(caller, "TerminateWorkspaces");
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
      await this.setState(trace.getActiveSpan(), w, "TERMINATING");
      this.background("workspaces.Terminate", context.active(), w, async (s) => {
        await this.releaseResources(w);
        await this.setState(s, w, "TERMINATED");
      });
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
