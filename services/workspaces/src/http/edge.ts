// The WorkSpaces HTTP edge: AWS JSON 1.1 (X-Amz-Target: WorkspacesService.<Operation>), so the
// AWS SDK and CLI work against Envelope. Inputs are checked here for shape (types, required
// members, list sizes); the service decides everything else.
import { AwsError, awsJsonEdge, type IdentityStore, type Logger, verifySigV4 } from "@envelope/shared";
import type { WorkspaceRecord, WorkspaceRequest } from "../domain/workspaces.js";
import type { WorkspacesService } from "../service.js";

type Input = Record<string, unknown>;
const invalid = (message: string) => new AwsError("ValidationException", message);

function list(input: Input, member: string, min: number, max: number, required = true): unknown[] | undefined {
  const v = input[member];
  if (v === undefined && !required) return undefined;
  if (!Array.isArray(v)) throw invalid(`${member} is required: a list of ${min} to ${max} items.`);
  if (v.length < min || v.length > max) throw invalid(`${member} has ${v.length} items; it takes ${min} to ${max}.`);
  return v;
}

/** The WorkspaceIds of a batch request's list of {WorkspaceId} members. */
function workspaceIds(input: Input, member: string, max: number): string[] {
  return list(input, member, 1, max)!.map((r, i) => {
    const id = (r as Input | null)?.WorkspaceId;
    if (typeof id !== "string") throw invalid(`${member}[${i}].WorkspaceId is required and must be a string.`);
    return id;
  });
}

function optionalString(input: Input, member: string): string | undefined {
  const v = input[member];
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw invalid(`${member} must be a string.`);
  return v;
}

function workspaceRequest(v: unknown, i: number): WorkspaceRequest {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw invalid(`Workspaces[${i}] must be an object.`);
  const r = v as Input;
  for (const m of ["DirectoryId", "UserName", "BundleId"]) if (typeof r[m] !== "string") throw invalid(`Workspaces[${i}].${m} is required and must be a string.`);
  for (const m of ["RootVolumeEncryptionEnabled", "UserVolumeEncryptionEnabled"]) if (r[m] !== undefined && typeof r[m] !== "boolean") throw invalid(`Workspaces[${i}].${m} must be a boolean.`);
  if (r.VolumeEncryptionKey !== undefined && typeof r.VolumeEncryptionKey !== "string") throw invalid(`Workspaces[${i}].VolumeEncryptionKey must be a string.`);
  if (r.WorkspaceProperties !== undefined && (typeof r.WorkspaceProperties !== "object" || r.WorkspaceProperties === null)) throw invalid(`Workspaces[${i}].WorkspaceProperties must be an object.`);
  if (r.Tags !== undefined && (!Array.isArray(r.Tags) || !r.Tags.every((t) => typeof t === "object" && t !== null && typeof (t as Input).Key === "string"))) {
    throw invalid(`Workspaces[${i}].Tags must be a list of {Key, Value}.`);
  }
  return r as unknown as WorkspaceRequest;
}

/** A WorkSpace as the AWS API shows it: Envelope's own fields stay on gRPC. */
function workspace(w: WorkspaceRecord) {
  return {
    WorkspaceId: w.workspaceId,
    DirectoryId: w.directoryId,
    UserName: w.userName,
    IpAddress: w.ipAddress,
    State: w.state,
    BundleId: w.bundleId,
    ...(w.errorMessage ? { ErrorMessage: w.errorMessage } : {}),
    ...(w.errorCode ? { ErrorCode: w.errorCode } : {}),
    ComputerName: w.computerName,
    ...(w.volumeEncryptionKey ? { VolumeEncryptionKey: w.volumeEncryptionKey } : {}),
    UserVolumeEncryptionEnabled: w.userVolumeEncryptionEnabled,
    RootVolumeEncryptionEnabled: w.rootVolumeEncryptionEnabled,
    WorkspaceProperties: w.workspaceProperties,
    ...(w.workspaceName ? { WorkspaceName: w.workspaceName } : {}),
  };
}

export function workspacesHttpEdge(svc: WorkspacesService, identities: IdentityStore, log: Logger) {
  return awsJsonEdge({
    log,
    authenticate: (req, body) => verifySigV4(req, body, identities),
    targets: {
      WorkspacesService: {
        CreateWorkspaces: async (input, caller) => {
          const requests = list(input, "Workspaces", 1, 25)!.map(workspaceRequest);
          const out = await svc.createWorkspaces(requests, caller);
          return { FailedRequests: out.FailedRequests, PendingRequests: out.PendingRequests.map(workspace) };
        },
        DescribeWorkspaces: async (input, caller) => {
          const ids = list(input, "WorkspaceIds", 1, 25, false);
          if (ids && !ids.every((id) => typeof id === "string")) throw invalid("WorkspaceIds must be a list of strings.");
          const limit = input.Limit;
          if (limit !== undefined && typeof limit !== "number") throw invalid("Limit must be a number from 1 to 25.");
          const directoryId = optionalString(input, "DirectoryId");
          const userName = optionalString(input, "UserName");
          const bundleId = optionalString(input, "BundleId");
          const nextToken = optionalString(input, "NextToken");
          const out = await svc.describeWorkspaces(caller, {
            ...(ids ? { workspaceIds: ids as string[] } : {}),
            ...(directoryId ? { directoryId } : {}),
            ...(userName ? { userName } : {}),
            ...(bundleId ? { bundleId } : {}),
            ...(limit !== undefined ? { limit } : {}),
            ...(nextToken ? { nextToken } : {}),
          });
          return { Workspaces: out.Workspaces.map(workspace), ...(out.NextToken ? { NextToken: out.NextToken } : {}) };
        },
        TerminateWorkspaces: async (input, caller) => svc.terminateWorkspaces(caller, workspaceIds(input, "TerminateWorkspaceRequests", 25)),
        RebootWorkspaces: async (input, caller) => svc.changeWorkspaces("Reboot", caller, workspaceIds(input, "RebootWorkspaceRequests", 25)),
        RebuildWorkspaces: async (input, caller) => svc.changeWorkspaces("Rebuild", caller, workspaceIds(input, "RebuildWorkspaceRequests", 1)),
        StartWorkspaces: async (input, caller) => svc.changeWorkspaces("Start", caller, workspaceIds(input, "StartWorkspaceRequests", 25)),
        StopWorkspaces: async (input, caller) => svc.changeWorkspaces("Stop", caller, workspaceIds(input, "StopWorkspaceRequests", 25)),
        DescribeWorkspaceBundles: async (input, caller) => {
          const ids = list(input, "BundleIds", 1, 25, false);
          if (ids && !ids.every((id) => typeof id === "string")) throw invalid("BundleIds must be a list of strings.");
          const bundles = svc.describeWorkspaceBundles(caller, ids as string[] | undefined, optionalString(input, "Owner"));
          return {
            Bundles: bundles.map((b) => ({
              BundleId: b.bundleId, Name: b.name, Owner: b.owner, Description: b.description, ImageId: b.imageId,
              RootStorage: { Capacity: String(b.rootCapacityGib) }, UserStorage: { Capacity: String(b.userCapacityGib) }, ComputeType: { Name: b.computeType },
            })),
          };
        },
      },
    },
  });
}
