// Every KMS call is decided here, from the caller, the key and the request.
//
// Two routes allow a call, as in AWS:
//  - policy: principals of the key's account. A customer managed key's default policy
//    delegates to the account (IAM); an AWS managed key (aws/workspaces, aws/ebs) lets the
//    account use it only through the AWS service it belongs to (kms:ViaService).
//  - grant: any other principal, such as the WorkSpaces and EBS service sessions, only when
//    a live grant names it as grantee, includes the operation and its constraints hold.
import { AwsError, type Caller, type Partition } from "@envelope/shared";
import type { KeyRecord } from "./keys.js";
import { type Grant, type GrantedRequest, grantAllows } from "./grants.js";

export type KmsAction =
  | "CreateKey" | "DescribeKey" | "ListKeys" | "CreateAlias" | "ListAliases"
  | "Encrypt" | "Decrypt" | "GenerateDataKey" | "GenerateDataKeyWithoutPlaintext" | "ReEncryptFrom" | "ReEncryptTo"
  | "CreateGrant" | "ListGrants" | "RetireGrant" | "RevokeGrant";

export type Decision =
  | { allowed: true; via: "policy" }
  | { allowed: true; via: "grant"; grantId: string }
  | { allowed: false; error: AwsError };

/** Actions the AWS managed key policy allows the account to take directly, not via a service. */
const MANAGED_KEY_DIRECT = new Set<KmsAction>(["DescribeKey", "ListGrants", "RevokeGrant"]);

const accountOf = (principal: string): string | undefined => /^arn:aws:(?:iam|sts)::(\d{12}):/.exec(principal)?.[1];
const isIamIdentity = (principal: string) => /^arn:aws:iam::\d{12}:(root|user\/.+|role\/.+)$/.test(principal);

export function accessDenied(caller: Caller | undefined, action: string, resource: string, reason: string): AwsError {
  const who = caller?.principal ?? "anonymous";
  return new AwsError("AccessDeniedException", `User: ${who} is not authorized to perform: kms:${action} on resource: ${resource} because ${reason}`);
}

function policyAllows(p: Partition, caller: Caller, key: KeyRecord | undefined, action: KmsAction): boolean {
  if (!isIamIdentity(caller.principal) || accountOf(caller.principal) !== p.account) return false;
  if (!key || key.keyManager === "CUSTOMER") return true;
  // AWS managed key policy: kms:CallerAccount is the account and kms:ViaService its service.
  if (MANAGED_KEY_DIRECT.has(action)) return true;
  const via = caller.viaService ?? "";
  return via === `workspaces.${p.region}.amazonaws.com` || via === `ec2.${p.region}.amazonaws.com`;
}

export function authorize(
  p: Partition,
  caller: Caller | undefined,
  action: KmsAction,
  key: KeyRecord | undefined,
  grants: Grant[],
  request?: GrantedRequest,
): Decision {
  const resource = key?.arn ?? "*";
  if (!caller) return { allowed: false, error: accessDenied(caller, action, resource, "the request names no caller") };
  if (policyAllows(p, caller, key, action)) return { allowed: true, via: "policy" };
  if (key && request) {
    const grant = grants.find((g) => grantAllows(g, caller.principal, key.keyId, request));
    if (grant) return { allowed: true, via: "grant", grantId: grant.grantId };
  }
  const reason =
    key?.keyManager === "AWS" && isIamIdentity(caller.principal)
      ? `the key policy allows kms:${action} only through an AWS service (kms:ViaService)`
      : `no identity-based policy, resource-based policy or grant allows the kms:${action} action`;
  return { allowed: false, error: accessDenied(caller, action, resource, reason) };
}
