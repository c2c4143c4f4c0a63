// Every KMS call is decided here, as AWS decides it:
//  1. an explicit Deny in the key policy or the caller's identity policies wins;
//  2. the key policy allows the caller directly, or names the account and so delegates to
//     IAM, where an identity policy must allow;
//  3. otherwise a grant whose grantee is the caller, which includes the operation and whose
//     constraints hold for this request;
//  4. otherwise the call is denied.
import { AwsError, type Caller, type Partition } from "@envelope/shared";
import type { KeyRecord } from "./keys.js";
import { type Grant, type GrantedRequest, grantAllows } from "./grants.js";
import { type PolicyDocument, type RequestContext, isAccountPrincipal, principalAccount, statementApplies } from "@envelope/shared";

export type KmsAction =
  | "CreateKey" | "DescribeKey" | "ListKeys" | "CreateAlias" | "ListAliases"
  | "Encrypt" | "Decrypt" | "GenerateDataKey" | "GenerateDataKeyWithoutPlaintext" | "ReEncryptFrom" | "ReEncryptTo"
  | "CreateGrant" | "ListGrants" | "RetireGrant" | "RevokeGrant" | "ListRetirableGrants"
  | "DeleteAlias" | "GetKeyPolicy" | "PutKeyPolicy" | "EnableKey" | "DisableKey" | "ScheduleKeyDeletion" | "CancelKeyDeletion";

export type Decision =
  | { allowed: true; via: "key-policy" | "iam-policy"; statement?: string }
  | { allowed: true; via: "grant"; grantId: string }
  | { allowed: false; error: AwsError };

export interface AuthorizationRequest {
  caller: Caller | undefined;
  /** The caller's identity-based (IAM) policies; none for service sessions. */
  identityPolicies: PolicyDocument[];
  action: KmsAction;
  key?: KeyRecord;
  keyPolicy?: PolicyDocument;
  /** Request-specific condition keys (kms:EncryptionContext:*, kms:GrantOperations, ...). */
  conditions?: RequestContext["conditions"];
  grants?: Grant[];
  grantRequest?: GrantedRequest;
}

export function accessDenied(caller: Caller | undefined, action: string, resource: string, reason: string): AwsError {
  const who = caller?.principal ?? "anonymous";
  return new AwsError("AccessDeniedException", `User: ${who} is not authorized to perform: kms:${action} on resource: ${resource} because ${reason}`);
}

const sid = (s: { Sid?: string | undefined }) => (s.Sid ? `'${s.Sid}'` : "(no Sid)");

export function authorize(p: Partition, req: AuthorizationRequest): Decision {
  const { caller, action, key } = req;
  const resource = key?.arn ?? "*";
  const deny = (reason: string): Decision => ({ allowed: false, error: accessDenied(caller, action, resource, reason) });
  if (!caller) return deny("the request names no caller");

  const ctx: RequestContext = {
    principal: caller.principal,
    action: `kms:${action}`,
    resource,
    conditions: {
      "aws:PrincipalArn": caller.principal,
      ...(principalAccount(caller.principal) ? { "kms:CallerAccount": principalAccount(caller.principal)! } : {}),
      ...(caller.viaService ? { "kms:ViaService": caller.viaService } : {}),
      ...req.conditions,
    },
  };
  const keyStatements = req.keyPolicy?.Statement ?? [];
  const identityStatements = req.identityPolicies.flatMap((d) => d.Statement);

  const denyingKey = keyStatements.find((s) => s.Effect === "Deny" && statementApplies(s, ctx, true));
  if (denyingKey) return deny(`of an explicit deny in the key policy, statement ${sid(denyingKey)}`);
  const denyingIam = identityStatements.find((s) => s.Effect === "Deny" && statementApplies(s, ctx, false));
  if (denyingIam) return deny(`of an explicit deny in an identity-based policy, statement ${sid(denyingIam)}`);

  const sameAccount = principalAccount(caller.principal) === p.account;
  const iamAllows = sameAccount ? identityStatements.find((s) => s.Effect === "Allow" && statementApplies(s, ctx, false)) : undefined;
  if (key) {
    for (const s of keyStatements) {
      if (s.Effect !== "Allow" || !statementApplies(s, ctx, true)) continue;
      const named = s.Principal === "*" ? ["*"] : typeof s.Principal === "object" ? [s.Principal.AWS ?? []].flat() : [];
      // A statement for the account root enables IAM policies; it allows nothing by itself.
      const delegatesOnly = named.every((n) => isAccountPrincipal(n, p.account));
      if (!delegatesOnly) return { allowed: true, via: "key-policy", ...(s.Sid ? { statement: s.Sid } : {}) };
      if (iamAllows) return { allowed: true, via: "iam-policy", ...(iamAllows.Sid ? { statement: iamAllows.Sid } : {}) };
    }
  } else if (iamAllows) {
    return { allowed: true, via: "iam-policy", ...(iamAllows.Sid ? { statement: iamAllows.Sid } : {}) };
  }

  if (key && req.grantRequest) {
    const grant = (req.grants ?? []).find((g) => grantAllows(g, caller.principal, key.keyId, req.grantRequest!));
    if (grant) return { allowed: true, via: "grant", grantId: grant.grantId };
  }
  return deny(`no identity-based policy, key policy or grant allows the kms:${action} action`);
}
