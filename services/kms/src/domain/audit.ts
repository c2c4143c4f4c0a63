// CloudTrail-shaped records of KMS calls, so a user can see why a given CMK was used: who
// called, through which service, with which encryption context, allowed by which grant.
// Blobs, plaintext and grant tokens are never recorded.
import { randomUUID } from "node:crypto";
import type { Caller, Partition } from "@envelope/shared";

export interface CloudTrailEvent {
  eventVersion: "1.08";
  userIdentity: Record<string, unknown>;
  eventTime: string;
  eventSource: "kms.amazonaws.com";
  eventName: string;
  awsRegion: string;
  sourceIPAddress: string;
  userAgent: string;
  requestParameters: Record<string, unknown> | null;
  responseElements: Record<string, unknown> | null;
  additionalEventData?: { grantId?: string; authorizedBy?: string; traceId?: string };
  requestID: string;
  eventID: string;
  readOnly: boolean;
  resources?: { accountId: string; type: "AWS::KMS::Key"; ARN: string }[];
  eventType: "AwsApiCall";
  managementEvent: true;
  recipientAccountId: string;
  errorCode?: string;
  errorMessage?: string;
}

const SECRET_MEMBERS = new Set(["Plaintext", "CiphertextBlob", "GrantTokens", "GrantToken", "Policy"]);
const READ_ONLY = new Set(["DescribeKey", "ListKeys", "ListAliases", "ListGrants", "ListRetirableGrants", "GetKeyPolicy", "Decrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "Encrypt"]);
const lowerFirst = (k: string) => k.charAt(0).toLowerCase() + k.slice(1);

/** Request members as CloudTrail logs them: camelCase, encryption context kept verbatim, secrets dropped. */
export function requestParameters(input: Record<string, unknown>): Record<string, unknown> | null {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(input)) {
    if (SECRET_MEMBERS.has(k) || Buffer.isBuffer(v)) continue;
    out[lowerFirst(k)] = k.endsWith("EncryptionContext") || typeof v !== "object" || v === null || Array.isArray(v) ? v : requestParameters(v as Record<string, unknown>);
  }
  return Object.keys(out).length ? out : null;
}

export function userIdentity(p: Partition, caller: Caller | undefined): Record<string, unknown> {
  if (!caller) return { type: "Unknown" };
  const invokedBy = caller.viaService ? { invokedBy: caller.viaService.replace(`.${p.region}.`, ".") } : {};
  const assumed = /^arn:aws:sts::(\d{12}):assumed-role\/([^/]+)\/(.+)$/.exec(caller.principal);
  if (assumed) {
    const [, accountId, role, session] = assumed;
    return {
      type: "AssumedRole",
      principalId: `${accountId}:${role}:${session}`,
      arn: caller.principal,
      accountId,
      sessionContext: { sessionIssuer: { type: "Role", arn: `arn:aws:iam::${accountId}:role/${role}`, accountId, userName: role } },
      ...invokedBy,
    };
  }
  const user = /^arn:aws:iam::(\d{12}):user\/(.+)$/.exec(caller.principal);
  if (user) return { type: "IAMUser", principalId: caller.principal, arn: caller.principal, accountId: user[1], userName: user[2], ...invokedBy };
  return { type: "AWSAccount", principalId: caller.principal, arn: caller.principal, ...invokedBy };
}

export function cloudTrailEvent(e: {
  p: Partition;
  eventName: string;
  caller: Caller | undefined;
  input: Record<string, unknown>;
  responseElements?: Record<string, unknown> | null;
  keyArn?: string;
  error?: { code: string; message: string };
  grantId?: string;
  authorizedBy?: string;
  traceId?: string;
  time?: Date;
}): CloudTrailEvent {
  const extra = { ...(e.grantId ? { grantId: e.grantId } : {}), ...(e.authorizedBy ? { authorizedBy: e.authorizedBy } : {}), ...(e.traceId ? { traceId: e.traceId } : {}) };
  return {
    eventVersion: "1.08",
    userIdentity: userIdentity(e.p, e.caller),
    eventTime: (e.time ?? new Date()).toISOString().replace(/\.\d{3}Z$/, "Z"),
    eventSource: "kms.amazonaws.com",
    eventName: e.eventName,
    awsRegion: e.p.region,
    sourceIPAddress: e.caller?.viaService ? e.caller.viaService.replace(`.${e.p.region}.`, ".") : "127.0.0.1",
    userAgent: e.caller?.viaService ? "AWS Internal" : "envelope",
    requestParameters: requestParameters(e.input),
    responseElements: e.responseElements ?? null,
    ...(Object.keys(extra).length ? { additionalEventData: extra } : {}),
    requestID: randomUUID(),
    eventID: randomUUID(),
    readOnly: READ_ONLY.has(e.eventName),
    ...(e.keyArn ? { resources: [{ accountId: e.p.account, type: "AWS::KMS::Key" as const, ARN: e.keyArn }] } : {}),
    eventType: "AwsApiCall",
    managementEvent: true,
    recipientAccountId: e.p.account,
    ...(e.error ? { errorCode: e.error.code, errorMessage: e.error.message } : {}),
  };
}

export interface AuditFilter {
  keyArn?: string;
  principal?: string;
  eventName?: string;
  startTime?: Date;
  endTime?: Date;
}

export function matchesFilter(e: CloudTrailEvent, f: AuditFilter): boolean {
  if (f.eventName && e.eventName !== f.eventName) return false;
  if (f.keyArn && !e.resources?.some((r) => r.ARN === f.keyArn || r.ARN.endsWith(`/${f.keyArn}`))) return false;
  if (f.principal && e.userIdentity.arn !== f.principal && e.userIdentity.userName !== f.principal) return false;
  return true;
}
