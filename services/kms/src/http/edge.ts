// The KMS HTTP edge: AWS JSON 1.1 (X-Amz-Target: TrentService.<Operation>), so the AWS SDK
// and CLI work against Envelope. Blobs are base64 on the wire and Buffers inside.
import { AwsError, awsJsonEdge, type Caller, callerFromSigV4, type Logger, type Operation, type Partition } from "@envelope/shared";
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

export function kmsHttpEdge(svc: KeyManagementService, p: Partition, log: Logger) {
  const op =
    (fn: (input: Record<string, unknown>, caller: Caller) => Promise<unknown>): Operation =>
    async (input, caller) =>
      encodeBlobs(await fn(decodeBlobs(input), caller));
  return awsJsonEdge({
    targetPrefix: "TrentService",
    log,
    authenticate: (req) => callerFromSigV4(req, p),
    operations: {
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
  });
}
