// The WorkSpaces gRPC transport: proto messages to WorkspacesService calls and back.
import { adaptHandlers, type Logger, type ServiceRegistration } from "@envelope/shared";
import { loadWorkspaces, type workspaces } from "@envelope/proto";
import type { WorkspaceRecord, WorkspaceRequest } from "../domain/workspaces.js";
import type { WorkspacesService } from "../service.js";

function fromProtoRequest(r: workspaces.WorkspaceRequest__Output): WorkspaceRequest {
  const p = r.workspaceProperties;
  return {
    DirectoryId: r.directoryId,
    UserName: r.userName,
    BundleId: r.bundleId,
    ...(r.volumeEncryptionKey ? { VolumeEncryptionKey: r.volumeEncryptionKey } : {}),
    RootVolumeEncryptionEnabled: r.rootVolumeEncryptionEnabled,
    UserVolumeEncryptionEnabled: r.userVolumeEncryptionEnabled,
    ...(p
      ? {
          WorkspaceProperties: {
            ...(p.runningMode ? { RunningMode: p.runningMode as "AUTO_STOP" } : {}),
            ...(p.runningModeAutoStopTimeoutInMinutes ? { RunningModeAutoStopTimeoutInMinutes: p.runningModeAutoStopTimeoutInMinutes } : {}),
            ...(p.rootVolumeSizeGib ? { RootVolumeSizeGib: p.rootVolumeSizeGib } : {}),
            ...(p.userVolumeSizeGib ? { UserVolumeSizeGib: p.userVolumeSizeGib } : {}),
            ...(p.computeTypeName ? { ComputeTypeName: p.computeTypeName } : {}),
          },
        }
      : {}),
    Tags: r.tags.map((t) => ({ Key: t.key, Value: t.value })),
    ...(r.workspaceName ? { WorkspaceName: r.workspaceName } : {}),
  };
}

function toProtoRequest(r: WorkspaceRequest): workspaces.WorkspaceRequest {
  return {
    directoryId: r.DirectoryId,
    userName: r.UserName,
    bundleId: r.BundleId,
    volumeEncryptionKey: r.VolumeEncryptionKey ?? "",
    rootVolumeEncryptionEnabled: r.RootVolumeEncryptionEnabled === true,
    userVolumeEncryptionEnabled: r.UserVolumeEncryptionEnabled === true,
  };
}

function toProtoWorkspace(w: WorkspaceRecord): workspaces.Workspace {
  const p = w.workspaceProperties;
  return {
    workspaceId: w.workspaceId,
    directoryId: w.directoryId,
    userName: w.userName,
    ipAddress: w.ipAddress,
    state: w.state,
    bundleId: w.bundleId,
    errorMessage: w.errorMessage ?? "",
    errorCode: w.errorCode ?? "",
    computerName: w.computerName,
    volumeEncryptionKey: w.volumeEncryptionKey ?? "",
    userVolumeEncryptionEnabled: w.userVolumeEncryptionEnabled,
    rootVolumeEncryptionEnabled: w.rootVolumeEncryptionEnabled,
    workspaceProperties: {
      runningMode: p.RunningMode,
      runningModeAutoStopTimeoutInMinutes: p.RunningModeAutoStopTimeoutInMinutes ?? 0,
      rootVolumeSizeGib: p.RootVolumeSizeGib,
      userVolumeSizeGib: p.UserVolumeSizeGib,
      computeTypeName: p.ComputeTypeName,
    },
    workspaceName: w.workspaceName ?? "",
    rootVolumeId: w.rootVolumeId ?? "",
    userVolumeId: w.userVolumeId ?? "",
    grantId: w.grantId ?? "",
  };
}

function changeResponse(out: { FailedRequests: { WorkspaceId: string; ErrorCode: string; ErrorMessage: string }[] }) {
  return { failedRequests: out.FailedRequests.map((f) => ({ workspaceId: f.WorkspaceId, errorCode: f.ErrorCode, errorMessage: f.ErrorMessage })) };
}

export function workspacesGrpcService(svc: WorkspacesService, log: Logger): ServiceRegistration {
  const impl = adaptHandlers<workspaces.WorkspacesHandlers>(
    {
      CreateWorkspaces: async (r, ctx) => {
        const out = await svc.createWorkspaces(r.workspaces.map(fromProtoRequest), ctx.caller);
        return {
          failedRequests: out.FailedRequests.map((f) => ({ workspaceRequest: toProtoRequest(f.WorkspaceRequest), errorCode: f.ErrorCode, errorMessage: f.ErrorMessage })),
          pendingRequests: out.PendingRequests.map(toProtoWorkspace),
        };
      },
      DescribeWorkspaces: async (r, ctx) => {
        const out = await svc.describeWorkspaces(ctx.caller, {
          workspaceIds: r.workspaceIds,
          ...(r.directoryId ? { directoryId: r.directoryId } : {}),
          ...(r.userName ? { userName: r.userName } : {}),
          ...(r.bundleId ? { bundleId: r.bundleId } : {}),
          ...(r.limit ? { limit: r.limit } : {}),
          ...(r.nextToken ? { nextToken: r.nextToken } : {}),
        });
        return { workspaces: out.Workspaces.map(toProtoWorkspace), nextToken: out.NextToken ?? "" };
      },
      TerminateWorkspaces: async (r, ctx) => changeResponse(await svc.terminateWorkspaces(ctx.caller, r.terminateWorkspaceRequests.map((t) => t.workspaceId))),
      RebootWorkspaces: async (r, ctx) => changeResponse(await svc.changeWorkspaces("Reboot", ctx.caller, r.workspaceIds)),
      RebuildWorkspaces: async (r, ctx) => changeResponse(await svc.changeWorkspaces("Rebuild", ctx.caller, r.workspaceIds)),
      StartWorkspaces: async (r, ctx) => changeResponse(await svc.changeWorkspaces("Start", ctx.caller, r.workspaceIds)),
      StopWorkspaces: async (r, ctx) => changeResponse(await svc.changeWorkspaces("Stop", ctx.caller, r.workspaceIds)),
      DescribeWorkspaceBundles: async (r, ctx) => ({
        bundles: svc.describeWorkspaceBundles(ctx.caller, r.bundleIds.length ? r.bundleIds : undefined, r.owner || undefined).map((b) => ({
          bundleId: b.bundleId, name: b.name, owner: b.owner, description: b.description, imageId: b.imageId,
          rootStorage: { capacity: String(b.rootCapacityGib) }, userStorage: { capacity: String(b.userCapacityGib) }, computeType: { name: b.computeType },
        })),
        nextToken: "",
      }),
    },
    log,
  );
  return { definition: loadWorkspaces().envelope.workspaces.v1.Workspaces.service, implementation: impl as never, healthName: "envelope.workspaces.v1.Workspaces" };
}
