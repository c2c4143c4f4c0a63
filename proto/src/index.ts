// Loads the Envelope contracts at run time. The TypeScript types beside this file are
// generated from the same .proto files by `npm run generate` (never edited by hand).
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import type { ProtoGrpcType as KmsProto } from "./generated/kms.js";
import type { ProtoGrpcType as EbsProto } from "./generated/ebs.js";
import type { ProtoGrpcType as WorkspacesProto } from "./generated/workspaces.js";

export const PROTO_ROOT = path.resolve(__dirname, "..");

/** The options the generated types were made with (see package.json "generate"). */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
};

function load<T>(file: string): T {
  const definition = protoLoader.loadSync(path.join(PROTO_ROOT, file), LOADER_OPTIONS);
  return grpc.loadPackageDefinition(definition) as unknown as T;
}

let kms: KmsProto | undefined;
let ebs: EbsProto | undefined;
let workspaces: WorkspacesProto | undefined;

export const loadKms = (): KmsProto => (kms ??= load<KmsProto>("envelope/kms/v1/kms.proto"));
export const loadEbs = (): EbsProto => (ebs ??= load<EbsProto>("envelope/ebs/v1/ebs.proto"));
export const loadWorkspaces = (): WorkspacesProto =>
  (workspaces ??= load<WorkspacesProto>("envelope/workspaces/v1/workspaces.proto"));

export type { KmsProto, EbsProto, WorkspacesProto };
export type * as kms from "./generated/envelope/kms/v1/index.js";
export type * as ebs from "./generated/envelope/ebs/v1/index.js";
export type * as workspaces from "./generated/envelope/workspaces/v1/index.js";
