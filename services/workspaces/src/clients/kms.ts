// WorkSpaces' calls to KMS: resolving the key and creating and retiring its grant.
import * as grpc from "@grpc/grpc-js";
import { loadKms, type kms } from "@envelope/proto";
import { type Caller, callUnary, clientOptions } from "@envelope/shared";

export class KmsClient {
  private readonly client: kms.KeyManagementServiceClient;

  constructor(address: string, private readonly timeoutMs: number) {
    const Ctor = loadKms().envelope.kms.v1.KeyManagementService;
    this.client = new Ctor(address, grpc.credentials.createInsecure(), clientOptions);
  }

  describeKey(caller: Caller, keyId: string) {
    return callUnary(this.client, this.client.DescribeKey, { keyId }, { caller, timeoutMs: this.timeoutMs });
  }
  createGrant(caller: Caller, req: kms.CreateGrantRequest) {
    return callUnary(this.client, this.client.CreateGrant, req, { caller, timeoutMs: this.timeoutMs });
  }
  retireGrant(caller: Caller, req: kms.RetireGrantRequest) {
    return callUnary(this.client, this.client.RetireGrant, req, { caller, timeoutMs: this.timeoutMs });
  }
  close(): void {
    this.client.close();
  }
}
