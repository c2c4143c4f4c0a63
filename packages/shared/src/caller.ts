// Who is calling. Every internal gRPC call says which principal it is made as and, when a
// service acts on a user's behalf, through which service (kms:ViaService), as AWS records
// in CloudTrail's userIdentity and invokedBy.
import * as grpc from "@grpc/grpc-js";

export interface Caller {
  /** The principal ARN the call is made as, e.g. arn:aws:iam::111122223333:user/alice. */
  principal: string;
  /** The AWS service the call came through, e.g. workspaces.us-west-2.amazonaws.com. */
  viaService?: string;
}

const PRINCIPAL_KEY = "x-envelope-principal";
const VIA_SERVICE_KEY = "x-envelope-via-service";

export function callerMetadata(caller: Caller): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set(PRINCIPAL_KEY, caller.principal);
  if (caller.viaService) md.set(VIA_SERVICE_KEY, caller.viaService);
  return md;
}

/** The caller a gRPC request names; undefined when it names none. */
export function readCaller(md: grpc.Metadata): Caller | undefined {
  const principal = md.get(PRINCIPAL_KEY)[0];
  if (typeof principal !== "string" || principal.length === 0) return undefined;
  const via = md.get(VIA_SERVICE_KEY)[0];
  return { principal, ...(typeof via === "string" && via ? { viaService: via } : {}) };
}
