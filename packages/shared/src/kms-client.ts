// The KMS calls EBS and WorkSpaces make, each as the caller it names (a service session, or
// a user through a service), with a deadline on every call.
import { loadKms, type kms } from "@envelope/proto";
import type { Caller } from "./caller.js";
import { callUnary, channelCredentials, clientOptions } from "./grpc.js";
import type { TlsFiles } from "./certs.js";

export class KmsClient {
  private readonly client: kms.KeyManagementServiceClient;

  constructor(address: string, private readonly timeoutMs: number, tls?: TlsFiles) {
    const Ctor = loadKms().envelope.kms.v1.KeyManagementService;
    this.client = new Ctor(address, channelCredentials(tls), clientOptions);
  }

  private opts(caller: Caller) {
    return { caller, timeoutMs: this.timeoutMs };
  }

  describeKey(caller: Caller, keyId: string) {
    return callUnary(this.client, this.client.DescribeKey, { keyId }, this.opts(caller));
  }
  createGrant(caller: Caller, req: kms.CreateGrantRequest) {
    return callUnary(this.client, this.client.CreateGrant, req, this.opts(caller));
  }
  retireGrant(caller: Caller, req: kms.RetireGrantRequest) {
    return callUnary(this.client, this.client.RetireGrant, req, this.opts(caller));
  }
  generateDataKeyWithoutPlaintext(caller: Caller, req: kms.GenerateDataKeyRequest) {
    return callUnary(this.client, this.client.GenerateDataKeyWithoutPlaintext, req, this.opts(caller));
  }
  decrypt(caller: Caller, req: kms.DecryptRequest) {
    return callUnary(this.client, this.client.Decrypt, req, this.opts(caller));
  }
  close(): void {
    this.client.close();
  }
}
