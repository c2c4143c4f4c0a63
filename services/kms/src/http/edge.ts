// The KMS HTTP edge: AWS JSON 1.1 (X-Amz-Target: TrentService.<Operation>), so the AWS SDK
// and CLI work against Envelope. Blobs are base64 on the wire and Buffers inside.
import { AwsError, awsJsonEdge, type Caller, type IdentityStore, type Logger, type Operation, verifySigV4 } from "@envelope/shared";
import type { KeyManagementService } from "../service.js";

const BLOB_MEMBERS = new Set(["CiphertextBlob", "Plaintext"]);
const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

function decodeBlobs(input: Record<string, unknown>): Record<string, unknown> {
  const out = { ...input };
  for (const member of BLOB_MEMBERS) {
    const v = out[member];
    if (v === undefined) continue;
    if (typeof v !== "string" || v.length % 4 !== 0 || !BASE64_RE.test(v)) {
      throw new AwsError("SerializationException", `${member} must be a base64-encoded string.`);
    }
    out[member] = Buffer.from(v, "base64");
  }
  return out;
}

function encodeBlobs(output: unknown): unknown {
  if (Buffer.isBuffer(output)) return output.toString("base64");
  if (Array.isArray(output)) return output.map(encodeBlobs);
  if (typeof output !== "object" || output === null) return output;
  return Object.fromEntries(Object.entries(output).map(([k, v]) => [k, encodeBlobs(v)]));
}

export function kmsHttpEdge(svc: KeyManagementService, identities: IdentityStore, log: Logger) {
  const op =
    (fn: (input: Record<string, unknown>, caller: Caller) => Promise<unknown>): Operation =>
    async (input, caller) =>
      encodeBlobs(await fn(decodeBlobs(input), caller));
  return awsJsonEdge({
    log,
    authenticate: (req, body) => verifySigV4(req, body, identities),
    targets: {
      TrentService: {
      CreateKey: op((i, c) => svc.createKey(i, c)),
      DescribeKey: op((i, c) => svc.describeKey(i, c)),
      ListKeys: op((i, c) => svc.listKeys(i, c)),
      CreateAlias: op((i, c) => svc.createAlias(i, c)),
      ListAliases: op((i, c) => svc.listAliases(i, c)),
      Encrypt: op((i, c) => svc.encrypt(i, c)),
      Decrypt: op((i, c) => svc.decrypt(i, c)),
      GenerateDataKey: op((i, c) => svc.generateDataKey(i, c)),
      GenerateDataKeyWithoutPlaintext: op((i, c) => svc.generateDataKeyWithoutPlaintext(i, c)),
      CreateGrant: op((i, c) => svc.createGrant(i, c)),
      ListGrants: op((i, c) => svc.listGrants(i, c)),
      RetireGrant: op((i, c) => svc.retireGrant(i, c)),
      RevokeGrant: op((i, c) => svc.revokeGrant(i, c)),
      ListRetirableGrants: op((i, c) => svc.listRetirableGrants(i, c)),
      DeleteAlias: op((i, c) => svc.deleteAlias(i, c)),
      GetKeyPolicy: op((i, c) => svc.getKeyPolicy(i, c)),
      PutKeyPolicy: op((i, c) => svc.putKeyPolicy(i, c)),
      EnableKey: op((i, c) => svc.enableKey(i, c)),
      DisableKey: op((i, c) => svc.disableKey(i, c)),
      ScheduleKeyDeletion: op((i, c) => svc.scheduleKeyDeletion(i, c)),
      CancelKeyDeletion: op((i, c) => svc.cancelKeyDeletion(i, c)),
      ReEncrypt: op((i, c) => svc.reEncrypt(i, c)),
      },
      // The audit trail, read the way CloudTrail is: aws cloudtrail lookup-events --endpoint-url ...
      "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101": {
        LookupEvents: async (input) => lookupEvents(svc, input),
      },
    },
  });
}

const CLOUDTRAIL_ATTRIBUTES = ["EventName", "Username", "ResourceName"] as const;

/** CloudTrail's LookupEvents over the KMS audit trail: one lookup attribute, a time range, paging. */
async function lookupEvents(svc: KeyManagementService, input: Record<string, unknown>) {
  const attrs = input.LookupAttributes;
  if (attrs !== undefined && (!Array.isArray(attrs) || attrs.length > 1)) {
    throw new AwsError("InvalidLookupAttributesException", "LookupAttributes takes at most one attribute.");
  }
  const attr = (attrs as { AttributeKey?: unknown; AttributeValue?: unknown }[] | undefined)?.[0];
  if (attr && (!CLOUDTRAIL_ATTRIBUTES.includes(attr.AttributeKey as never) || typeof attr.AttributeValue !== "string")) {
    throw new AwsError("InvalidLookupAttributesException", `AttributeKey must be one of ${CLOUDTRAIL_ATTRIBUTES.join(", ")}, with a string AttributeValue.`);
  }
  const time = (v: unknown, name: string) => {
    if (v === undefined) return undefined;
    if (typeof v !== "number") throw new AwsError("InvalidTimeRangeException", `${name} must be a timestamp.`);
    return new Date(v * 1000);
  };
  const limit = input.MaxResults ?? 50;
  if (!Number.isInteger(limit) || (limit as number) < 1 || (limit as number) > 50) throw new AwsError("InvalidMaxResultsException", "MaxResults must be from 1 to 50.");
  if (input.NextToken !== undefined && (typeof input.NextToken !== "string" || !/^\d+-\d+$/.test(input.NextToken))) {
    throw new AwsError("InvalidNextTokenException", "NextToken is not valid: pass the NextToken of a previous response.");
  }
  const startTime = time(input.StartTime, "StartTime");
  const endTime = time(input.EndTime, "EndTime");
  const { events, next } = await svc.lookupEvents(
    {
      ...(attr?.AttributeKey === "EventName" ? { eventName: attr.AttributeValue as string } : {}),
      ...(attr?.AttributeKey === "Username" ? { principal: attr.AttributeValue as string } : {}),
      ...(attr?.AttributeKey === "ResourceName" ? { keyArn: attr.AttributeValue as string } : {}),
      ...(startTime ? { startTime } : {}),
      ...(endTime ? { endTime } : {}),
    },
    limit as number,
    input.NextToken as string | undefined,
  );
  return {
    Events: events.map((e) => ({
      EventId: e.eventID,
      EventName: e.eventName,
      ReadOnly: String(e.readOnly),
      EventTime: Date.parse(e.eventTime) / 1000,
      EventSource: e.eventSource,
      Username: (e.userIdentity.userName as string | undefined) ?? (e.userIdentity.arn as string | undefined),
      Resources: (e.resources ?? []).map((r) => ({ ResourceType: r.type, ResourceName: r.ARN })),
      CloudTrailEvent: JSON.stringify(e),
    })),
    ...(next ? { NextToken: next } : {}),
  };
}
