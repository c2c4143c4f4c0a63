// WorkSpaces as AWS has them: ids, the checks a CreateWorkspaces request must pass, the states
// and which operation each state allows, and the encryption context value for a user.
import { randomBytes } from "node:crypto";
import { findBundle, findUser, directoryExists, type DirectoryUser, type Bundle } from "./directory.js";

export type WorkspaceState =
  | "PENDING" | "AVAILABLE" | "IMPAIRED" | "UNHEALTHY" | "REBOOTING" | "STARTING" | "REBUILDING" | "RESTORING" | "MAINTENANCE"
  | "ADMIN_MAINTENANCE" | "TERMINATING" | "TERMINATED" | "SUSPENDED" | "UPDATING" | "STOPPING" | "STOPPED" | "ERROR";

export interface WorkspaceProperties {
  RunningMode: "AUTO_STOP" | "ALWAYS_ON" | "MANUAL";
  RunningModeAutoStopTimeoutInMinutes?: number;
  RootVolumeSizeGib: number;
  UserVolumeSizeGib: number;
  ComputeTypeName: string;
}

/** One CreateWorkspaces request, in the AWS API's shape. */
export interface WorkspaceRequest {
  DirectoryId: string;
  UserName: string;
  BundleId: string;
  VolumeEncryptionKey?: string;
  UserVolumeEncryptionEnabled?: boolean;
  RootVolumeEncryptionEnabled?: boolean;
  WorkspaceProperties?: Partial<WorkspaceProperties>;
  Tags?: { Key: string; Value?: string }[];
  WorkspaceName?: string;
}

export interface WorkspaceRecord {
  workspaceId: string;
  directoryId: string;
  userName: string;
  userSid: string;
  bundleId: string;
  state: WorkspaceState;
  errorCode?: string;
  errorMessage?: string;
  computerName: string;
  ipAddress: string;
  volumeEncryptionKey?: string;
  rootVolumeEncryptionEnabled: boolean;
  userVolumeEncryptionEnabled: boolean;
  workspaceProperties: WorkspaceProperties;
  workspaceName?: string;
  tags: { Key: string; Value?: string }[];
  /** Envelope's view of what backs the WorkSpace. */
  keyArn?: string;
  grantId?: string;
  grantToken?: string;
  rootVolumeId?: string;
  userVolumeId?: string;
  /** How many root volumes this WorkSpace has had (each rebuild makes a new one). */
  rootGeneration?: number;
  createdAt: number;
  /** When the state last changed (epoch seconds), to tell a stuck REBOOTING from a busy one. */
  stateChangedAt?: number;
  /** The workflow under way, if any: stored with the WorkSpace so a restarted service resumes it. */
  workflow?: Workflow;
}

export type WorkflowOperation = "Provision" | ChangeOperation | "Terminate";

/**
 * A durable workflow: each step is recorded before it runs (phase "begin") and after
 * ("end", added to done). Every step is idempotent, so resuming means running again every
 * step not yet done.
 */
export interface Workflow {
  operation: WorkflowOperation;
  step: string;
  phase: "begin" | "end";
  done: string[];
  startedAt: number;
  /** Who asked, for steps taken with their permissions (the WorkSpaces grant is the administrator's). */
  requestedBy: string;
  /** W3C trace context of the request, so resumed work lands in the request's trace. */
  traceparent?: string;
  /** How many times a restarted service has resumed it. */
  resumed?: number;
}

/** The steps of each workflow, in order. */
export const WORKFLOW_STEPS: Record<WorkflowOperation, readonly string[]> = {
  Provision: ["CreateGrant", "CreateRootVolume", "CreateUserVolume", "AttachVolumes"],
  Reboot: ["DetachVolumes", "AttachVolumes"],
  Start: ["AttachVolumes"],
  Stop: ["DetachVolumes"],
  Rebuild: ["DetachVolumes", "DeleteRootVolume", "CreateRootVolume", "AttachVolumes"],
  Terminate: ["ReleaseVolumes", "RetireGrant"],
};

/** The state each workflow ends in when it succeeds, and when a step can't succeed. */
export const WORKFLOW_OUTCOMES: Record<WorkflowOperation, readonly [WorkspaceState, WorkspaceState]> = {
  Provision: ["AVAILABLE", "ERROR"],
  Reboot: ["AVAILABLE", "UNHEALTHY"],
  Start: ["AVAILABLE", "UNHEALTHY"],
  Stop: ["STOPPED", "UNHEALTHY"],
  Rebuild: ["AVAILABLE", "UNHEALTHY"],
  Terminate: ["TERMINATED", "ERROR"],
};

export function newWorkflow(operation: WorkflowOperation, requestedBy: string, traceparent?: string): Workflow {
  return { operation, step: WORKFLOW_STEPS[operation][0]!, phase: "begin", done: [], startedAt: Date.now() / 1000, requestedBy, ...(traceparent ? { traceparent } : {}) };
}

/** A request that can't be carried out: its FailedRequests entry. */
export interface Failure {
  ErrorCode: string;
  ErrorMessage: string;
}

// FailedRequests error codes AWS doesn't enumerate; Envelope uses the WorkSpaces API's own
// exception names: InvalidParameterValuesException (a value is malformed),
// ResourceNotFoundException (no such directory, user or bundle), ResourceAlreadyExistsException
// (the user already has a WorkSpace in the directory), and KMS's error names when the key
// can't be used (AccessDeniedException, NotFoundException, DisabledException, ...).
const DIRECTORY_RE = /^(d-[0-9a-f]{8,63}$)|(wsd-[0-9a-z]{8,63}$)/;
const BUNDLE_RE = /^wsb-[0-9a-z]{8,63}$/;

export const newWorkspaceId = (): string => `ws-${Array.from(randomBytes(9), (b) => "0123456789abcdefghijklmnopqrstuvwxyz"[b % 36]).join("")}`;
export const isWorkspaceId = (v: unknown): v is string => typeof v === "string" && /^ws-[0-9a-z]{8,63}$/.test(v);

/** The value EBS puts in the encryption context for this user: "[<sid>]@[<directory id>]". */
export const sidDirectoryId = (sid: string, directoryId: string) => `[${sid}]@[${directoryId}]`;

export function checkRequest(r: WorkspaceRequest): { user: DirectoryUser; bundle: Bundle } | Failure {
  const bad = (ErrorMessage: string): Failure => ({ ErrorCode: "InvalidParameterValuesException", ErrorMessage });
  const missing = (ErrorMessage: string): Failure => ({ ErrorCode: "ResourceNotFoundException", ErrorMessage });
  if (typeof r.DirectoryId !== "string" || r.DirectoryId.length < 10 || r.DirectoryId.length > 65 || !DIRECTORY_RE.test(r.DirectoryId)) {
    return bad(`DirectoryId '${String(r.DirectoryId)}' is not valid: it looks like d-1234abcd01.`);
  }
  if (typeof r.UserName !== "string" || r.UserName.length < 1 || r.UserName.length > 63) return bad("UserName must be 1 to 63 characters.");
  if (typeof r.BundleId !== "string" || !BUNDLE_RE.test(r.BundleId)) return bad(`BundleId '${String(r.BundleId)}' is not valid: it looks like wsb-demo0001.`);
  const encrypted = r.RootVolumeEncryptionEnabled === true || r.UserVolumeEncryptionEnabled === true;
  if (r.VolumeEncryptionKey !== undefined && (typeof r.VolumeEncryptionKey !== "string" || r.VolumeEncryptionKey.length === 0 || r.VolumeEncryptionKey.length > 2048)) {
    return bad("VolumeEncryptionKey must be a KMS key id, key ARN, alias name or alias ARN.");
  }
  if (r.VolumeEncryptionKey && !encrypted) {
    return bad("VolumeEncryptionKey is set but neither RootVolumeEncryptionEnabled nor UserVolumeEncryptionEnabled is true.");
  }
  const mode = r.WorkspaceProperties?.RunningMode;
  if (mode !== undefined && !["AUTO_STOP", "ALWAYS_ON", "MANUAL"].includes(mode)) return bad(`RunningMode '${String(mode)}' is not valid: use AUTO_STOP, ALWAYS_ON or MANUAL.`);
  if (!directoryExists(r.DirectoryId)) return missing(`The directory ${r.DirectoryId} could not be found.`);
  const user = findUser(r.DirectoryId, r.UserName);
  if (!user) return missing(`The user ${r.UserName} could not be found in the directory ${r.DirectoryId}.`);
  const bundle = findBundle(r.BundleId);
  if (!bundle) return missing(`The bundle ${r.BundleId} could not be found.`);
  return { user, bundle };
}

export function newWorkspace(r: WorkspaceRequest, user: DirectoryUser, bundle: Bundle): WorkspaceRecord {
  const workspaceId = newWorkspaceId();
  const encrypted = r.RootVolumeEncryptionEnabled === true || r.UserVolumeEncryptionEnabled === true;
  const props = r.WorkspaceProperties ?? {};
  const n = Number.parseInt(workspaceId.slice(3, 9), 36);
  return {
    workspaceId,
    directoryId: r.DirectoryId,
    userName: user.userName,
    userSid: user.sid,
    bundleId: bundle.bundleId,
    state: "PENDING",
    computerName: `WSAMZN-${workspaceId.slice(3, 11).toUpperCase()}`,
    ipAddress: `10.0.${(n >> 8) % 256}.${(n % 254) + 1}`,
    ...(encrypted ? { volumeEncryptionKey: r.VolumeEncryptionKey ?? "alias/aws/workspaces" } : {}),
    rootVolumeEncryptionEnabled: r.RootVolumeEncryptionEnabled === true,
    userVolumeEncryptionEnabled: r.UserVolumeEncryptionEnabled === true,
    workspaceProperties: {
      RunningMode: props.RunningMode ?? "ALWAYS_ON",
      ...(props.RunningMode === "AUTO_STOP" ? { RunningModeAutoStopTimeoutInMinutes: props.RunningModeAutoStopTimeoutInMinutes ?? 60 } : {}),
      RootVolumeSizeGib: props.RootVolumeSizeGib ?? bundle.rootCapacityGib,
      UserVolumeSizeGib: props.UserVolumeSizeGib ?? bundle.userCapacityGib,
      ComputeTypeName: props.ComputeTypeName ?? bundle.computeType,
    },
    ...(r.WorkspaceName ? { workspaceName: r.WorkspaceName } : {}),
    tags: r.Tags ?? [],
    createdAt: Date.now() / 1000,
  };
}

/** TerminateWorkspaces works on a WorkSpace in any state but SUSPENDED (and not twice). */
export function terminateRefusal(w: WorkspaceRecord): Failure | undefined {
  if (w.state === "SUSPENDED") return { ErrorCode: "InvalidResourceStateException", ErrorMessage: `WorkSpace ${w.workspaceId} is SUSPENDED and can't be terminated.` };
  if (w.state === "TERMINATING" || w.state === "TERMINATED") return { ErrorCode: "InvalidResourceStateException", ErrorMessage: `WorkSpace ${w.workspaceId} is already ${w.state}.` };
  return undefined;
}

export type ChangeOperation = "Reboot" | "Rebuild" | "Start" | "Stop";

/** The states each operation may start from (the WorkSpaces API reference). */
const ALLOWED_FROM: Record<ChangeOperation, WorkspaceState[]> = {
  Reboot: ["AVAILABLE", "UNHEALTHY", "REBOOTING"],
  Rebuild: ["AVAILABLE", "ERROR", "UNHEALTHY", "STOPPED", "REBOOTING"],
  Start: ["STOPPED"],
  Stop: ["AVAILABLE", "IMPAIRED", "UNHEALTHY", "ERROR"],
};
export const IN_PROGRESS: Record<ChangeOperation, WorkspaceState> = { Reboot: "REBOOTING", Rebuild: "REBUILDING", Start: "STARTING", Stop: "STOPPING" };
/** A WorkSpace REBOOTING for longer than this is stuck and may be rebooted or rebuilt again. */
export const STUCK_REBOOT_SECONDS = 20 * 60;

export function changeRefusal(op: ChangeOperation, w: WorkspaceRecord, now = Date.now() / 1000): Failure | undefined {
  const stuck = w.state === "REBOOTING" && now - (w.stateChangedAt ?? now) > STUCK_REBOOT_SECONDS;
  if (!ALLOWED_FROM[op].includes(w.state) || (w.state === "REBOOTING" && !stuck)) {
    return {
      ErrorCode: "InvalidResourceStateException",
      ErrorMessage: `WorkSpace ${w.workspaceId} is ${w.state}; ${op}Workspaces needs it ${ALLOWED_FROM[op].filter((s) => s !== "REBOOTING").join(", ")}${ALLOWED_FROM[op].includes("REBOOTING") ? " (or REBOOTING for more than 20 minutes)" : ""}.`,
    };
  }
  if ((op === "Start" || op === "Stop") && w.workspaceProperties.RunningMode === "ALWAYS_ON") {
    return { ErrorCode: "OperationNotSupportedException", ErrorMessage: `WorkSpace ${w.workspaceId} runs ALWAYS_ON; only AUTO_STOP and MANUAL WorkSpaces can be started and stopped.` };
  }
  return undefined;
}
