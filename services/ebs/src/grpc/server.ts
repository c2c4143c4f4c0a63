// The EBS gRPC transport: proto messages to ElasticBlockStore calls and back. It translates; the service decides.
import { adaptHandlers, type Logger, type ServiceRegistration } from "@envelope/shared";
import { loadEbs, type ebs } from "@envelope/proto";
import type { VolumeRecord } from "../domain/volumes.js";
import type { AttachResult, ElasticBlockStore } from "../service.js";

function toVolume(v: VolumeRecord, dataKeyInMemory: boolean): ebs.Volume {
  return {
    volumeId: v.volumeId,
    size: v.size,
    availabilityZone: v.availabilityZone,
    state: v.state,
    createTime: v.createTime,
    encrypted: v.encrypted,
    kmsKeyId: v.kmsKeyArn ?? "",
    volumeType: v.volumeType,
    attachments: v.attachment ? [toAttachment({ volumeId: v.volumeId, ...v.attachment })] : [],
    tags: v.tags,
    workspaceId: v.workspaceId ?? "",
    encryptedDataKey: v.encryptedDataKey ? Buffer.from(v.encryptedDataKey, "base64") : Buffer.alloc(0),
    encryptionContext: v.encryptionContext ?? {},
    grantId: v.grantId ?? "",
    dataKeyInMemory,
  };
}

function toAttachment(a: AttachResult): ebs.VolumeAttachment {
  return { volumeId: a.volumeId, instanceId: a.instanceId, device: a.device, state: a.state, attachTime: a.attachTime, dataKeySource: a.dataKeySource ?? "" };
}

export function ebsGrpcService(svc: ElasticBlockStore, log: Logger): ServiceRegistration {
  const describe = (v: VolumeRecord) => toVolume(v, svc.hasDataKey(v.volumeId));
  const impl = adaptHandlers<ebs.ElasticBlockStoreHandlers>(
    {
      CreateVolume: async (r, ctx) =>
        describe(
          await svc.createVolume(
            {
              availabilityZone: r.availabilityZone,
              size: r.size,
              volumeType: r.volumeType,
              encrypted: r.encrypted,
              kmsKeyId: r.kmsKeyId,
              ...(r.workspaceId ? { workspaceId: r.workspaceId, userSid: r.userSid, directoryId: r.directoryId } : {}),
              ...(r.clientToken ? { clientToken: r.clientToken } : {}),
              tags: r.tags,
            },
            ctx.caller,
          ),
        ),
      DescribeVolumes: async (r) => {
        const out = await svc.describeVolumes({ volumeIds: r.volumeIds, workspaceId: r.workspaceId, maxResults: r.maxResults, nextToken: r.nextToken });
        return { volumes: out.volumes.map(describe), nextToken: out.nextToken ?? "" };
      },
      AttachVolume: async (r) => toAttachment(await svc.attachVolume(r.volumeId, r.instanceId, r.device)),
      DetachVolume: async (r) => toAttachment(await svc.detachVolume(r.volumeId, r.instanceId || undefined)),
      DeleteVolume: async (r) => {
        await svc.deleteVolume(r.volumeId);
        return {};
      },
      WriteBlocks: async (r) => ({ blocksWritten: await svc.writeBlocks(r.volumeId, r.startBlock, r.blocks) }),
      ReadBlocks: async (r) => ({ blocks: await svc.readBlocks(r.volumeId, r.startBlock, r.count) }),
    },
    log,
  );
  return { definition: loadEbs().envelope.ebs.v1.ElasticBlockStore.service, implementation: impl as never, healthName: "envelope.ebs.v1.ElasticBlockStore" };
}
