// Clients a user would use: the AWS SDK v3 against the HTTP edges, and gRPC against the services.
import * as grpc from "@grpc/grpc-js";
import { KMSClient } from "@aws-sdk/client-kms";
import { WorkSpacesClient } from "@aws-sdk/client-workspaces";
import { loadEbs, loadKms, type ebs, type kms } from "@envelope/proto";
import { type Caller, callUnary, channelCredentials, clientOptions, readTlsFiles, serviceSessionArn, EBS_ROLE } from "@envelope/shared";

export const PARTITION = { account: "111122223333", region: "us-west-2" };
export const DIRECTORY = "d-1234abcd01";
export const ALICE_SID = "S-1-5-21-277731876-1789304096-451871588-1107";

export const DEMO_USERS = {
  admin: { accessKeyId: "AKIAADMIN00000000001", secretAccessKey: "admin-secret" },
  wsadmin: { accessKeyId: "AKIAWSADMIN000000001", secretAccessKey: "wsadmin-secret" },
  "wsadmin-nokms": { accessKeyId: "AKIAWSNOKMS000000001", secretAccessKey: "wsnokms-secret" },
} as const;

const host = process.env.ENVELOPE_HOST ?? "127.0.0.1";

export const workspacesClient = (user: keyof typeof DEMO_USERS = "wsadmin", endpoint = `http://${host}:4570`) =>
  new WorkSpacesClient({ endpoint, region: PARTITION.region, credentials: DEMO_USERS[user] });
export const kmsClient = (user: keyof typeof DEMO_USERS = "admin", endpoint = `http://${host}:4571`) =>
  new KMSClient({ endpoint, region: PARTITION.region, credentials: DEMO_USERS[user] });

export const ebsSession = (workspaceId: string): Caller => ({
  principal: serviceSessionArn(PARTITION, EBS_ROLE, workspaceId),
  viaService: `ec2.${PARTITION.region}.amazonaws.com`,
});

/** The certificate a gRPC client presents: "client" (a user's tool) or a service's own. */
export type Identity = "client" | "kms" | "ebs" | "workspaces";

/** mTLS credentials from the run's certificates (see testCertificates), or plaintext when there are none. */
export function credentialsFor(identity: Identity): grpc.ChannelCredentials {
  const dir = process.env.ENVELOPE_CERTS_DIR;
  return channelCredentials(dir ? readTlsFiles(dir, identity) : undefined);
}

/** Client options for an address: TLS names the server "localhost" (in every certificate) when dialled by IP. */
export const optionsFor = (address: string): grpc.ClientOptions =>
  /^\d+\.\d+\.\d+\.\d+:/.test(address) ? { ...clientOptions, "grpc.ssl_target_name_override": "localhost" } : clientOptions;

export function kmsGrpc(identity: Identity = "client", address = `${host}:50051`): kms.KeyManagementServiceClient {
  const Ctor = loadKms().envelope.kms.v1.KeyManagementService;
  return new Ctor(address, credentialsFor(identity), optionsFor(address));
}
export function ebsGrpc(identity: Identity = "client", address = `${host}:50052`): ebs.ElasticBlockStoreClient {
  const Ctor = loadEbs().envelope.ebs.v1.ElasticBlockStore;
  return new Ctor(address, credentialsFor(identity), optionsFor(address));
}

export { callUnary };
