// WorkSpaces' calls to EBS for a WorkSpace's volumes, made as the WorkSpace's session.
import { loadEbs, type ebs } from "@envelope/proto";
import { type Caller, callUnary, channelCredentials, clientOptions, type TlsFiles } from "@envelope/shared";

export class EbsClient {
  private readonly client: ebs.ElasticBlockStoreClient;

  constructor(address: string, private readonly timeoutMs: number, tls?: TlsFiles) {
    const Ctor = loadEbs().envelope.ebs.v1.ElasticBlockStore;
    this.client = new Ctor(address, channelCredentials(tls), clientOptions);
  }

  createVolume(caller: Caller, req: ebs.CreateVolumeRequest) {
    return callUnary(this.client, this.client.CreateVolume, req, { caller, timeoutMs: this.timeoutMs });
  }
  attachVolume(caller: Caller, req: ebs.AttachVolumeRequest) {
    return callUnary(this.client, this.client.AttachVolume, req, { caller, timeoutMs: this.timeoutMs });
  }
  detachVolume(caller: Caller, req: ebs.DetachVolumeRequest) {
    return callUnary(this.client, this.client.DetachVolume, req, { caller, timeoutMs: this.timeoutMs });
  }
  deleteVolume(caller: Caller, volumeId: string) {
    return callUnary(this.client, this.client.DeleteVolume, { volumeId }, { caller, timeoutMs: this.timeoutMs });
  }
  describeVolumes(caller: Caller, req: ebs.DescribeVolumesRequest) {
    return callUnary(this.client, this.client.DescribeVolumes, req, { caller, timeoutMs: this.timeoutMs });
  }
  close(): void {
    this.client.close();
  }
}
