// The KMS gRPC transport: proto messages (camelCase, proto defaults) to the AWS-shaped
// operations in service.ts and back. It translates; the service decides.
import { adaptHandlers, type Logger, type ServiceRegistration } from "@envelope/shared";
import { loadKms, type kms } from "@envelope/proto";
import type { KeyManagementService } from "../service.js";

/** Maps whose keys are user data (encryption context): copied verbatim, never renamed. */
const MAPS = new Set(["encryptionContext", "encryptionContextSubset", "encryptionContextEquals", "sourceEncryptionContext", "destinationEncryptionContext"]);
const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);

const toPascal = (k: string) => (k === "awsAccountId" ? "AWSAccountId" : k.charAt(0).toUpperCase() + k.slice(1));
const toCamel = (k: string) => (k === "AWSAccountId" ? "awsAccountId" : k.charAt(0).toLowerCase() + k.slice(1));

/** A proto request → AWS input. Proto3 defaults ("" / 0 / empty) mean "not given". */
export function fromProto(msg: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(msg)) {
    if (v === null || v === undefined || v === "" || v === 0) continue;
    if (Array.isArray(v) && v.length === 0) continue;
    if (Buffer.isBuffer(v)) {
      if (v.length > 0) out[toPascal(k)] = v;
    } else if (isPlainObject(v)) {
      if (MAPS.has(k)) {
        if (Object.keys(v).length > 0) out[toPascal(k)] = v;
      } else {
        const nested = fromProto(v);
        if (Object.keys(nested).length > 0) out[toPascal(k)] = nested;
      }
    } else out[toPascal(k)] = v;
  }
  return out;
}

/** AWS output → a proto response. */
export function toProto(value: unknown, key?: string): unknown {
  if (Array.isArray(value)) return value.map((v) => toProto(v));
  if (!isPlainObject(value) || (key !== undefined && MAPS.has(key))) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[toCamel(k)] = toProto(v, toCamel(k));
  return out;
}

export function kmsGrpcService(svc: KeyManagementService, log: Logger): ServiceRegistration {
  type H = kms.KeyManagementServiceHandlers;
  const call =
    (fn: (input: Record<string, unknown>, caller: Parameters<KeyManagementService["describeKey"]>[1]) => Promise<unknown>) =>
    async (req: object, ctx: { caller: Parameters<KeyManagementService["describeKey"]>[1] }) =>
      toProto(await fn(fromProto(req as Record<string, unknown>), ctx.caller)) as never;
  const impl = adaptHandlers<H>(
    {
      CreateKey: call((i, c) => svc.createKey(i, c)),
      DescribeKey: call((i, c) => svc.describeKey(i, c)),
      ListKeys: call((i, c) => svc.listKeys(i, c)),
      CreateAlias: call((i, c) => svc.createAlias(i, c)),
      ListAliases: call((i, c) => svc.listAliases(i, c)),
      Encrypt: call((i, c) => svc.encrypt(i, c)),
      Decrypt: call((i, c) => svc.decrypt(i, c)),
      GenerateDataKey: call((i, c) => svc.generateDataKey(i, c)),
      GenerateDataKeyWithoutPlaintext: call((i, c) => svc.generateDataKeyWithoutPlaintext(i, c)),
      CreateGrant: call((i, c) => svc.createGrant(i, c)),
      ListGrants: call((i, c) => svc.listGrants(i, c)),
      RetireGrant: call((i, c) => svc.retireGrant(i, c)),
      RevokeGrant: call((i, c) => svc.revokeGrant(i, c)),
      ListRetirableGrants: call((i, c) => svc.listRetirableGrants(i, c)),
      DeleteAlias: call((i, c) => svc.deleteAlias(i, c)),
      GetKeyPolicy: call((i, c) => svc.getKeyPolicy(i, c)),
      PutKeyPolicy: call((i, c) => svc.putKeyPolicy(i, c)),
      EnableKey: call((i, c) => svc.enableKey(i, c)),
      DisableKey: call((i, c) => svc.disableKey(i, c)),
      ScheduleKeyDeletion: call((i, c) => svc.scheduleKeyDeletion(i, c)),
      CancelKeyDeletion: call((i, c) => svc.cancelKeyDeletion(i, c)),
      ReEncrypt: call((i, c) => svc.reEncrypt(i, c)),
    },
    log,
  );
  return {
    definition: loadKms().envelope.kms.v1.KeyManagementService.service,
    implementation: impl as never,
    healthName: "envelope.kms.v1.KeyManagementService",
  };
}
