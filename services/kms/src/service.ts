// The KMS operations. Inputs and outputs are in the AWS KMS API's own shape (PascalCase
// members, Buffers for blobs); the gRPC and HTTP transports translate to and from it.
// This layer reads and writes the stores, asks the domain to decide, and records spans.
import { trace, type Span, SpanStatusCode } from "@opentelemetry/api";
import { AwsError, type Caller, type IdentityStore, type Logger, type Partition, accountRootArn } from "@envelope/shared";
import { type EncryptionContext, validateContext } from "./domain/encryption-context.js";
import { blobKeyId, decryptBlob, encryptBlob, newKeyMaterial, randomDataKey, unwrapKeyMaterial, wrapKeyMaterial } from "./domain/crypto.js";
import {
  AWS_MANAGED_ALIASES, type KeyRecord, type KeyUse, aliasArn, assertNotPendingDeletion, assertUsable, awsManagedKeyPolicy, defaultKeyPolicy, keyArn, keyMetadata, newKeyId,
  parseKeyReference, validateNewAliasName,
} from "./domain/keys.js";
import {
  type Grant, type GrantedRequest, type GrantRequest, grantFingerprint, grantIdFromToken, grantListEntry, isGrantId,
  newGrantId, newGrantToken, validateGrantRequest, validateGrantTokens,
} from "./domain/grants.js";
import { type AuthorizationRequest, type KmsAction, accessDenied, authorize } from "./domain/authorize.js";
import { type PolicyDocument, parsePolicy } from "@envelope/shared";
import type { KeyStore } from "./store/keys.js";
import type { GrantStore } from "./store/grants.js";
import type { AuditStore } from "./store/audit.js";
import { type AuditFilter, cloudTrailEvent } from "./domain/audit.js";

type Input = Record<string, unknown>;
const tracer = trace.getTracer("envelope-kms");
const MAX_GRANTS_PER_KEY = 50_000;
const MAX_PLAINTEXT = 4096;
const MAX_CIPHERTEXT = 6144;

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** What one call learned on its way, for its span and its audit record. */
interface Call {
  span: Span;
  keyArn?: string;
  grantId?: string;
  authorizedBy?: string;
}

/** The response members CloudTrail records for an operation (crypto results never). */
function responseElements(name: string, out: unknown): Record<string, unknown> | null {
  const o = out as Record<string, unknown>;
  switch (name) {
    case "CreateGrant":
      return { grantId: o.GrantId };
    case "CreateKey":
      return { keyMetadata: o.KeyMetadata };
    case "ScheduleKeyDeletion":
      return { keyId: o.KeyId, deletionDate: o.DeletionDate, keyState: o.KeyState, pendingWindowInDays: o.PendingWindowInDays };
    case "CancelKeyDeletion":
      return { keyId: o.KeyId };
    default:
      return null;
  }
}

/** A key the KMS seed file says exists from the start. */
export interface SeedKey {
  keyId: string;
  alias?: string;
  description?: string;
  policy: Record<string, unknown>;
}

/** The request's KMS condition keys, as policies see them. */
function conditionKeys(caller: Caller | undefined, request: GrantedRequest | undefined): Record<string, string | boolean | string[]> {
  if (!request) return {};
  if (request.operation === "CreateGrant") {
    const { child } = request;
    const constraint = child.constraints?.EncryptionContextEquals ?? child.constraints?.EncryptionContextSubset ?? {};
    return {
      "kms:GrantOperations": child.operations,
      "kms:GranteePrincipal": child.granteePrincipal,
      ...(child.retiringPrincipal ? { "kms:RetiringPrincipal": child.retiringPrincipal } : {}),
      // True only when an integrated AWS service creates the grant on the caller's behalf.
      "kms:GrantIsForAWSResource": Boolean(caller?.viaService),
      ...(child.constraints ? { "kms:GrantConstraintType": child.constraints.EncryptionContextEquals ? "EncryptionContextEquals" : "EncryptionContextSubset" } : {}),
      ...Object.fromEntries(Object.entries(constraint).map(([k, v]) => [`kms:EncryptionContext:${k}`, v])),
      "kms:EncryptionContextKeys": Object.keys(constraint),
    };
  }
  if ("context" in request) {
    return {
      ...Object.fromEntries(Object.entries(request.context).map(([k, v]) => [`kms:EncryptionContext:${k}`, v])),
      "kms:EncryptionContextKeys": Object.keys(request.context),
    };
  }
  return {};
}

function blob(value: unknown, member: string, max: number): Buffer {
  if (!Buffer.isBuffer(value) || value.length === 0) {
    throw new AwsError("ValidationException", `1 validation error detected: Value at '${member}' failed to satisfy constraint: Member must not be null or empty`);
  }
  if (value.length > max) {
    throw new AwsError("ValidationException", `1 validation error detected: Value at '${member}' failed to satisfy constraint: Member must have length less than or equal to ${max}`);
  }
  return value;
}

function paging(input: Input, maxLimit: number, defaultLimit: number): { offset: number; limit: number } {
  const { Limit, Marker } = input;
  if (Limit !== undefined && (!Number.isInteger(Limit) || (Limit as number) < 1 || (Limit as number) > maxLimit)) {
    throw new AwsError("ValidationException", `Limit must be an integer from 1 to ${maxLimit}.`);
  }
  let offset = 0;
  if (Marker !== undefined) {
    if (typeof Marker !== "string" || !/^\d{1,9}$/.test(Marker)) throw new AwsError("InvalidMarkerException", "The marker is not valid: pass the NextMarker of a previous response.");
    offset = Number(Marker);
  }
  return { offset, limit: (Limit as number | undefined) ?? defaultLimit };
}

const page = (offset: number, count: number, total: number) =>
  offset + count < total ? { NextMarker: String(offset + count), Truncated: true } : { Truncated: false };

export class KeyManagementService {
  /** Unwrapped key material, in process memory only: never logged, never stored. */
  private readonly material = new Map<string, Buffer>();

  constructor(
    private readonly p: Partition,
    private readonly masterKey: Buffer,
    private readonly keys: KeyStore,
    private readonly grants: GrantStore,
    private readonly audit: AuditStore,
    private readonly identities: IdentityStore,
    private readonly log: Logger,
  ) {}

  /**
   * Runs one operation in a span named kms.<Operation>, recording its outcome and error code,
   * and records it, allowed or denied, in the audit trail.
   */
  private op<T>(name: string, caller: Caller | undefined, input: Input, fn: (call: Call) => Promise<T>): Promise<T> {
    return tracer.startActiveSpan(`kms.${name}`, async (span) => {
      const call: Call = { span };
      span.setAttribute("rpc.method", name);
      if (caller) {
        span.setAttribute("aws.kms.caller_principal", caller.principal);
        if (caller.viaService) span.setAttribute("aws.kms.via_service", caller.viaService);
      }
      let error: AwsError | undefined;
      let out: T | undefined;
      try {
        out = await fn(call);
        span.setAttribute("aws.kms.outcome", "allowed");
        return out;
      } catch (e) {
        error = e instanceof AwsError ? e : new AwsError("KMSInternalException", "The request processing has failed because of an unknown error.");
        span.setAttribute("aws.kms.outcome", error.code === "AccessDeniedException" ? "denied" : "failed");
        span.setAttribute("aws.kms.error_code", error.code);
        span.setStatus({ code: SpanStatusCode.ERROR, message: error.code });
        if (error.code === "AccessDeniedException") this.log.info({ operation: name, principal: caller?.principal, error: error.code }, "denied");
        throw e;
      } finally {
        const traceId = span.spanContext().traceId;
        const event = cloudTrailEvent({
          p: this.p,
          eventName: name,
          caller,
          input,
          responseElements: out === undefined ? null : responseElements(name, out),
          ...(call.keyArn ? { keyArn: call.keyArn } : {}),
          ...(error ? { error: { code: error.code, message: error.message } } : {}),
          ...(call.grantId ? { grantId: call.grantId } : {}),
          ...(call.authorizedBy ? { authorizedBy: call.authorizedBy } : {}),
          ...(/^0+$/.test(traceId) ? {} : { traceId }),
        });
        this.audit.record(event).catch((err: unknown) => this.log.warn({ err: String(err) }, "audit record failed"));
        span.end();
      }
    });
  }

  lookupEvents(filter: AuditFilter, limit: number, before?: string) {
    return this.audit.lookup(filter, limit, before);
  }

  // ---- keys and aliases ----

  private newKey(keyManager: KeyRecord["keyManager"], description: string, policy: string): KeyRecord {
    const keyId = newKeyId();
    const material = newKeyMaterial();
    const key: KeyRecord = {
      keyId,
      arn: keyArn(this.p, keyId),
      accountId: this.p.account,
      creationDate: nowSeconds(),
      description,
      keyState: "Enabled",
      keyManager,
      policy,
      wrappedMaterial: wrapKeyMaterial(this.masterKey, keyId, material),
    };
    this.material.set(keyId, material);
    return key;
  }

  /** Resolves a KeyId parameter to a key, creating an AWS managed key on its first use. */
  private async resolveKey(value: unknown, member = "KeyId", allowAlias = true): Promise<KeyRecord> {
    const ref = parseKeyReference(this.p, value, member);
    if (ref.kind === "key") {
      const key = await this.keys.getKey(ref.keyId);
      if (!key) throw new AwsError("NotFoundException", `Key '${keyArn(this.p, ref.keyId)}' does not exist`);
      return key;
    }
    if (!allowAlias) throw new AwsError("NotFoundException", `Invalid keyId ${String(value)}: use a key id or key ARN, not an alias.`);
    const alias = await this.keys.getAlias(ref.aliasName);
    if (alias) {
      const key = await this.keys.getKey(alias.targetKeyId);
      if (key) return key;
    }
    const managed = AWS_MANAGED_ALIASES[ref.aliasName];
    if (!managed) throw new AwsError("NotFoundException", `Alias ${aliasArn(this.p, ref.aliasName)} is not found.`);
    const key = this.newKey("AWS", managed.description, awsManagedKeyPolicy(this.p, managed.service));
    const now = key.creationDate;
    const keyId = await this.keys.createKeyWithAlias(key, { aliasName: ref.aliasName, targetKeyId: key.keyId, creationDate: now, lastUpdatedDate: now });
    if (keyId === key.keyId) this.log.info({ keyId, alias: ref.aliasName }, "created AWS managed key on first use");
    else this.material.delete(key.keyId); // another caller won the race; use its key
    return keyId === key.keyId ? key : (await this.keys.getKey(keyId))!;
  }

  private keyMaterial(key: KeyRecord): Buffer {
    let m = this.material.get(key.keyId);
    if (!m) {
      m = unwrapKeyMaterial(this.masterKey, key.keyId, key.wrappedMaterial);
      this.material.set(key.keyId, m);
    }
    return m;
  }

  /** Identity-based (IAM) policies of the caller, from the identity file; none for service sessions. */
  private identityPolicies(caller: Caller | undefined): PolicyDocument[] {
    return caller ? this.identities.policiesFor(caller.principal) : [];
  }

  /** Creates the seed's keys and aliases that don't exist yet (the demo CMK), keeping their ids. */
  async seed(keys: SeedKey[]): Promise<void> {
    for (const k of keys) {
      if (!(await this.keys.getKey(k.keyId))) {
        const policy = JSON.stringify(k.policy);
        parsePolicy(policy);
        const material = newKeyMaterial();
        await this.keys.putKey({
          keyId: k.keyId,
          arn: keyArn(this.p, k.keyId),
          accountId: this.p.account,
          creationDate: nowSeconds(),
          description: k.description ?? "",
          keyState: "Enabled",
          keyManager: "CUSTOMER",
          policy,
          wrappedMaterial: wrapKeyMaterial(this.masterKey, k.keyId, material),
        });
        this.log.info({ keyId: k.keyId }, "seeded key");
      }
      if (k.alias && !(await this.keys.getAlias(k.alias))) {
        const now = nowSeconds();
        await this.keys.createAlias({ aliasName: validateNewAliasName(k.alias), targetKeyId: k.keyId, creationDate: now, lastUpdatedDate: now });
      }
    }
  }

  /**
   * When a KeyId names a key directly (not an alias), the caller's grants for it can be read
   * while the key itself is: one round trip instead of two on the hot path.
   */
  private grantsByKeyId(caller: Caller | undefined, keyIdInput: unknown): Promise<Grant[]> | undefined {
    if (!caller) return undefined;
    let ref;
    try {
      ref = parseKeyReference(this.p, keyIdInput);
    } catch {
      return undefined; // resolveKey reports the problem
    }
    return ref.kind === "key" ? this.grantsFor(caller, ref.keyId) : undefined;
  }

  /** Starts reading the caller's grants for a key, to be awaited by authorize(). */
  private grantsFor(caller: Caller | undefined, keyId: string): Promise<Grant[]> | undefined {
    if (!caller) return undefined;
    const grants = this.grants.forGrantee(caller.principal, keyId);
    grants.catch(() => undefined); // authorize() awaits it; a failure surfaces there
    return grants;
  }

  /** A key's policy, parsed (records written before key policies existed get the default). */
  private keyPolicy(key: KeyRecord): PolicyDocument {
    return parsePolicy(key.policy ?? defaultKeyPolicy(this.p));
  }

  /** Decides an action on no key (CreateKey, ListKeys, ListAliases). */
  private authorizeAccount(caller: Caller | undefined, action: KmsAction): void {
    const decision = authorize(this.p, { caller, identityPolicies: this.identityPolicies(caller), action });
    if (!decision.allowed) throw decision.error;
  }

  /** Decides an action on a key and records the key and what allowed it on the span. */
  private async authorize(
    call: Call,
    caller: Caller | undefined,
    action: KmsAction,
    key: KeyRecord,
    request?: GrantedRequest,
    use: KeyUse = "metadata",
    /** The caller's grants for the key, when the lookup could start early, beside the key's. */
    grants?: Promise<Grant[]>,
  ) {
    const { span } = call;
    call.keyArn = key.arn;
    span.setAttribute("aws.kms.key_id", key.keyId);
    span.setAttribute("aws.kms.key_arn", key.arn);
    span.setAttribute("aws.kms.key_manager", key.keyManager);
    const req: AuthorizationRequest = {
      caller,
      identityPolicies: this.identityPolicies(caller),
      action,
      key,
      keyPolicy: this.keyPolicy(key),
      conditions: conditionKeys(caller, request),
      grants: caller && request ? await (grants ?? this.grants.forGrantee(caller.principal, key.keyId)) : [],
      ...(request ? { grantRequest: request } : {}),
    };
    const decision = authorize(this.p, req);
    if (!decision.allowed) throw decision.error;
    call.authorizedBy = decision.via;
    span.setAttribute("aws.kms.authorized_by", decision.via);
    if (decision.via === "grant") {
      call.grantId = decision.grantId;
      span.setAttribute("aws.kms.grant_id", decision.grantId);
    }
    assertUsable(key, use);
    return decision;
  }

  createKey(input: Input, caller: Caller | undefined) {
    return this.op("CreateKey", caller, input, async () => {
      this.authorizeAccount(caller, "CreateKey");
      if (input.KeySpec !== undefined && input.KeySpec !== "SYMMETRIC_DEFAULT") {
        throw new AwsError("UnsupportedOperationException", "Envelope supports only SYMMETRIC_DEFAULT keys.");
      }
      if (input.KeyUsage !== undefined && input.KeyUsage !== "ENCRYPT_DECRYPT") {
        throw new AwsError("ValidationException", "KeyUsage must be ENCRYPT_DECRYPT for a SYMMETRIC_DEFAULT key.");
      }
      const description = input.Description ?? "";
      if (typeof description !== "string" || description.length > 8192) throw new AwsError("ValidationException", "Description must be a string of at most 8192 characters.");
      const policy = input.Policy === undefined ? defaultKeyPolicy(this.p) : input.Policy;
      if (typeof policy !== "string") throw new AwsError("ValidationException", "Policy must be a JSON policy document, as a string.");
      parsePolicy(policy);
      const key = this.newKey("CUSTOMER", description, policy);
      await this.keys.putKey(key);
      this.log.info({ keyId: key.keyId }, "created customer managed key");
      return { KeyMetadata: keyMetadata(key) };
    });
  }

  describeKey(input: Input, caller: Caller | undefined) {
    return this.op("DescribeKey", caller, input, async (call) => {
      validateGrantTokens(input.GrantTokens);
      const key = await this.resolveKey(input.KeyId);
      await this.authorize(call, caller, "DescribeKey", key, { operation: "DescribeKey" });
      return { KeyMetadata: keyMetadata(key) };
    });
  }

  listKeys(input: Input, caller: Caller | undefined) {
    return this.op("ListKeys", caller, input, async () => {
      this.authorizeAccount(caller, "ListKeys");
      const { offset, limit } = paging(input, 1000, 100);
      const { ids, total } = await this.keys.listKeyIds(offset, limit);
      return { Keys: ids.map((KeyId) => ({ KeyId, KeyArn: keyArn(this.p, KeyId) })), ...page(offset, ids.length, total) };
    });
  }

  createAlias(input: Input, caller: Caller | undefined) {
    return this.op("CreateAlias", caller, input, async (call) => {
      const aliasName = validateNewAliasName(input.AliasName);
      const key = await this.resolveKey(input.TargetKeyId, "TargetKeyId", false);
      await this.authorize(call, caller, "CreateAlias", key);
      assertNotPendingDeletion(key);
      if (key.keyManager === "AWS") throw new AwsError("ValidationException", "An alias cannot point to an AWS managed key.");
      const now = nowSeconds();
      if (!(await this.keys.createAlias({ aliasName, targetKeyId: key.keyId, creationDate: now, lastUpdatedDate: now }))) {
        throw new AwsError("AlreadyExistsException", `An alias with the name ${aliasArn(this.p, aliasName)} already exists`);
      }
      return {};
    });
  }

  listAliases(input: Input, caller: Caller | undefined) {
    return this.op("ListAliases", caller, input, async () => {
      this.authorizeAccount(caller, "ListAliases");
      const { offset, limit } = paging(input, 100, 50);
      let aliases = await this.keys.listAliases();
      if (input.KeyId !== undefined) {
        const key = await this.resolveKey(input.KeyId, "KeyId", false);
        aliases = aliases.filter((a) => a.targetKeyId === key.keyId);
      }
      const slice = aliases.slice(offset, offset + limit);
      return {
        Aliases: slice.map((a) => ({
          AliasName: a.aliasName,
          AliasArn: aliasArn(this.p, a.aliasName),
          TargetKeyId: a.targetKeyId,
          CreationDate: a.creationDate,
          LastUpdatedDate: a.lastUpdatedDate,
        })),
        ...page(offset, slice.length, aliases.length),
      };
    });
  }

  // ---- cryptographic operations ----

  private context(span: Span, value: unknown): EncryptionContext {
    const context = validateContext(value);
    // Encryption context is not secret: AWS writes it to CloudTrail so people can see why a key was used.
    for (const [k, v] of Object.entries(context)) span.setAttribute(`aws.kms.encryption_context.${k}`, v);
    return context;
  }

  encrypt(input: Input, caller: Caller | undefined) {
    return this.op("Encrypt", caller, input, async (call) => {
      validateGrantTokens(input.GrantTokens);
      const plaintext = blob(input.Plaintext, "plaintext", MAX_PLAINTEXT);
      const context = this.context(call.span, input.EncryptionContext);
      const key = await this.resolveKey(input.KeyId);
      await this.authorize(call, caller, "Encrypt", key, { operation: "Encrypt", context }, "cryptographic");
      return { CiphertextBlob: encryptBlob(key.keyId, this.keyMaterial(key), plaintext, context), KeyId: key.arn, EncryptionAlgorithm: "SYMMETRIC_DEFAULT" };
    });
  }

  decrypt(input: Input, caller: Caller | undefined) {
    return this.op("Decrypt", caller, input, async (call) => {
      validateGrantTokens(input.GrantTokens);
      const ciphertext = blob(input.CiphertextBlob, "ciphertextBlob", MAX_CIPHERTEXT);
      const context = this.context(call.span, input.EncryptionContext);
      const keyId = blobKeyId(ciphertext);
      // The blob names its key: read the key and the caller's grants for it at once.
      const grants = this.grantsFor(caller, keyId);
      const key = await this.keys.getKey(keyId);
      if (!key) throw new AwsError("InvalidCiphertextException", "The ciphertext refers to a key that does not exist.");
      if (input.KeyId !== undefined && input.KeyId !== "" && (await this.resolveKey(input.KeyId)).keyId !== key.keyId) {
        throw new AwsError("IncorrectKeyException", "The key ID in the request does not identify the key that encrypted the ciphertext.");
      }
      await this.authorize(call, caller, "Decrypt", key, { operation: "Decrypt", context }, "cryptographic", grants);
      return { KeyId: key.arn, Plaintext: decryptBlob(this.keyMaterial(key), ciphertext, context), EncryptionAlgorithm: "SYMMETRIC_DEFAULT" };
    });
  }

  private dataKeyLength(input: Input): number {
    const { NumberOfBytes, KeySpec } = input;
    if (NumberOfBytes !== undefined && KeySpec !== undefined) throw new AwsError("ValidationException", "Specify either NumberOfBytes or KeySpec, not both.");
    if (NumberOfBytes !== undefined) {
      if (!Number.isInteger(NumberOfBytes) || (NumberOfBytes as number) < 1 || (NumberOfBytes as number) > 1024) {
        throw new AwsError("ValidationException", "NumberOfBytes must be an integer from 1 to 1024.");
      }
      return NumberOfBytes as number;
    }
    if (KeySpec === "AES_256") return 32;
    if (KeySpec === "AES_128") return 16;
    if (KeySpec === undefined) throw new AwsError("ValidationException", "Please specify either number of bytes or key spec.");
    throw new AwsError("ValidationException", `KeySpec '${String(KeySpec)}' is not valid: use AES_256 or AES_128.`);
  }

  private async generate(name: "GenerateDataKey" | "GenerateDataKeyWithoutPlaintext", call: Call, input: Input, caller: Caller | undefined) {
    validateGrantTokens(input.GrantTokens);
    const length = this.dataKeyLength(input);
    const context = this.context(call.span, input.EncryptionContext);
    const grants = this.grantsByKeyId(caller, input.KeyId);
    const key = await this.resolveKey(input.KeyId);
    await this.authorize(call, caller, name, key, { operation: name, context }, "cryptographic", grants);
    const plaintext = randomDataKey(length);
    return { key, plaintext, ciphertext: encryptBlob(key.keyId, this.keyMaterial(key), plaintext, context) };
  }

  generateDataKey(input: Input, caller: Caller | undefined) {
    return this.op("GenerateDataKey", caller, input, async (call) => {
      const { key, plaintext, ciphertext } = await this.generate("GenerateDataKey", call, input, caller);
      return { CiphertextBlob: ciphertext, Plaintext: plaintext, KeyId: key.arn };
    });
  }

  generateDataKeyWithoutPlaintext(input: Input, caller: Caller | undefined) {
    return this.op("GenerateDataKeyWithoutPlaintext", caller, input, async (call) => {
      const { key, plaintext, ciphertext } = await this.generate("GenerateDataKeyWithoutPlaintext", call, input, caller);
      plaintext.fill(0);
      return { CiphertextBlob: ciphertext, KeyId: key.arn };
    });
  }

  // ---- grants ----

  createGrant(input: Input, caller: Caller | undefined) {
    return this.op("CreateGrant", caller, input, async (call) => {
      validateGrantTokens(input.GrantTokens);
      const request: GrantRequest = validateGrantRequest({
        granteePrincipal: input.GranteePrincipal,
        retiringPrincipal: input.RetiringPrincipal,
        operations: input.Operations,
        constraints: input.Constraints,
        name: input.Name,
      });
      call.span.setAttribute("aws.kms.grantee_principal", request.granteePrincipal);
      call.span.setAttribute("aws.kms.grant_operations", request.operations);
      const constraint = request.constraints?.EncryptionContextEquals ?? request.constraints?.EncryptionContextSubset ?? {};
      for (const [k, v] of Object.entries(constraint)) call.span.setAttribute(`aws.kms.grant_constraint.${k}`, v);
      const key = await this.resolveKey(input.KeyId, "KeyId", false);
      await this.authorize(call, caller, "CreateGrant", key, { operation: "CreateGrant", child: request }, "create-grant");
      if (key.keyManager === "CUSTOMER" && (await this.grants.countForKey(key.keyId)) >= MAX_GRANTS_PER_KEY) {
        throw new AwsError("LimitExceededException", `Key ${key.arn} has ${MAX_GRANTS_PER_KEY} grants, the most a key may have.`);
      }
      const grant: Grant = {
        grantId: newGrantId(),
        keyId: key.keyId,
        keyArn: key.arn,
        creationDate: nowSeconds(),
        issuingAccount: accountRootArn(this.p),
        ...request,
      };
      const grantId = await this.grants.create(grant, request.name ? grantFingerprint(key.keyId, request) : undefined);
      call.span.setAttribute("aws.kms.created_grant_id", grantId);
      if (grantId === grant.grantId) this.log.info({ grantId, keyId: key.keyId, grantee: request.granteePrincipal }, "created grant");
      return { GrantId: grantId, GrantToken: newGrantToken(grantId) };
    });
  }

  listGrants(input: Input, caller: Caller | undefined) {
    return this.op("ListGrants", caller, input, async (call) => {
      const key = await this.resolveKey(input.KeyId, "KeyId", false);
      await this.authorize(call, caller, "ListGrants", key);
      if (input.GrantId !== undefined && !isGrantId(input.GrantId)) throw new AwsError("InvalidGrantIdException", "GrantId must be 64 hexadecimal characters.");
      if (input.GranteePrincipal !== undefined && typeof input.GranteePrincipal !== "string") throw new AwsError("ValidationException", "GranteePrincipal must be a string.");
      const { offset, limit } = paging(input, 100, 50);
      if (input.GrantId !== undefined || input.GranteePrincipal !== undefined) {
        const all = (await this.grants.listForKey(key.keyId, 0, MAX_GRANTS_PER_KEY)).grants.filter(
          (g) => (input.GrantId === undefined || g.grantId === input.GrantId) && (input.GranteePrincipal === undefined || g.granteePrincipal === input.GranteePrincipal),
        );
        const slice = all.slice(offset, offset + limit);
        return { Grants: slice.map(grantListEntry), ...page(offset, slice.length, all.length) };
      }
      const { grants, total } = await this.grants.listForKey(key.keyId, offset, limit);
      return { Grants: grants.map(grantListEntry), ...page(offset, grants.length, total) };
    });
  }

  retireGrant(input: Input, caller: Caller | undefined) {
    return this.op("RetireGrant", caller, input, async (call) => {
      let grantId: string;
      if (input.GrantToken !== undefined) {
        grantId = grantIdFromToken(input.GrantToken);
      } else {
        if (input.KeyId === undefined || input.GrantId === undefined) {
          throw new AwsError("ValidationException", "RetireGrant needs a GrantToken, or both KeyId (the key ARN) and GrantId.");
        }
        if (!isGrantId(input.GrantId)) throw new AwsError("InvalidGrantIdException", "GrantId must be 64 hexadecimal characters.");
        grantId = input.GrantId;
      }
      const grant = await this.grants.get(grantId);
      if (!grant) throw new AwsError("NotFoundException", `Grant ID ${grantId} not found`);
      if (input.KeyId !== undefined && (await this.resolveKey(input.KeyId, "KeyId", false)).keyId !== grant.keyId) {
        throw new AwsError("NotFoundException", `Grant ID ${grantId} not found for key ${String(input.KeyId)}`);
      }
      call.span.setAttribute("aws.kms.retired_grant_id", grantId);
      const key = await this.keys.getKey(grant.keyId);
      if (key) {
        call.span.setAttribute("aws.kms.key_id", key.keyId);
        call.span.setAttribute("aws.kms.key_arn", key.arn);
      }
      // Who may retire: the retiring principal; the grantee if the grant includes RetireGrant;
      // principals of the issuing account by policy.
      const asRetiree = caller && grant.retiringPrincipal === caller.principal;
      if (!asRetiree) {
        const decision = key
          ? authorize(this.p, { caller, identityPolicies: this.identityPolicies(caller), action: "RetireGrant", key, keyPolicy: this.keyPolicy(key), grants: [grant], grantRequest: { operation: "RetireGrant" } })
          : undefined;
        if (!decision?.allowed) throw accessDenied(caller, "RetireGrant", grant.keyArn, "the caller is neither the grant's retiring principal nor a grantee allowed to retire it");
      }
      await this.grants.delete(grant);
      this.log.info({ grantId, keyId: grant.keyId }, "retired grant");
      return {};
    });
  }

  revokeGrant(input: Input, caller: Caller | undefined) {
    return this.op("RevokeGrant", caller, input, async (call) => {
      const key = await this.resolveKey(input.KeyId, "KeyId", false);
      await this.authorize(call, caller, "RevokeGrant", key);
      if (!isGrantId(input.GrantId)) throw new AwsError("InvalidGrantIdException", "GrantId must be 64 hexadecimal characters.");
      const grant = await this.grants.get(input.GrantId);
      if (!grant || grant.keyId !== key.keyId) throw new AwsError("NotFoundException", `Grant ID ${input.GrantId} not found`);
      call.span.setAttribute("aws.kms.revoked_grant_id", grant.grantId);
      await this.grants.delete(grant);
      this.log.info({ grantId: grant.grantId, keyId: key.keyId }, "revoked grant");
      return {};
    });
  }

  listRetirableGrants(input: Input, caller: Caller | undefined) {
    return this.op("ListRetirableGrants", caller, input, async () => {
      this.authorizeAccount(caller, "ListRetirableGrants");
      const principal = input.RetiringPrincipal;
      if (typeof principal !== "string" || principal.length === 0 || principal.length > 256) {
        throw new AwsError("ValidationException", "RetiringPrincipal is required: the ARN of the principal whose retirable grants to list.");
      }
      const { offset, limit } = paging(input, 100, 50);
      const all = await this.grants.listRetirable(principal);
      all.sort((a, b) => a.creationDate - b.creationDate || a.grantId.localeCompare(b.grantId));
      const slice = all.slice(offset, offset + limit);
      return { Grants: slice.map(grantListEntry), ...page(offset, slice.length, all.length) };
    });
  }

  // ---- key administration ----

  deleteAlias(input: Input, caller: Caller | undefined) {
    return this.op("DeleteAlias", caller, input, async (call) => {
      const name = input.AliasName;
      if (typeof name !== "string" || !name.startsWith("alias/")) throw new AwsError("ValidationException", "AliasName must be an alias name that starts with 'alias/'.");
      if (name.startsWith("alias/aws/")) throw new AwsError("InvalidAliasNameException", "Aliases of AWS managed keys (alias/aws/...) cannot be deleted.");
      const alias = await this.keys.getAlias(name);
      const key = alias && (await this.keys.getKey(alias.targetKeyId));
      if (!alias || !key) throw new AwsError("NotFoundException", `Alias ${aliasArn(this.p, name)} is not found.`);
      await this.authorize(call, caller, "DeleteAlias", key);
      await this.keys.deleteAlias(name);
      return {};
    });
  }

  private policyName(value: unknown): "default" {
    if (value !== undefined && value !== "default") throw new AwsError("NotFoundException", `Policy ${String(value)} not found: the only key policy name is 'default'.`);
    return "default";
  }

  getKeyPolicy(input: Input, caller: Caller | undefined) {
    return this.op("GetKeyPolicy", caller, input, async (call) => {
      const key = await this.resolveKey(input.KeyId, "KeyId", false);
      await this.authorize(call, caller, "GetKeyPolicy", key);
      return { Policy: key.policy ?? defaultKeyPolicy(this.p), PolicyName: this.policyName(input.PolicyName) };
    });
  }

  putKeyPolicy(input: Input, caller: Caller | undefined) {
    return this.op("PutKeyPolicy", caller, input, async (call) => {
      const key = await this.resolveKey(input.KeyId, "KeyId", false);
      this.policyName(input.PolicyName);
      if (typeof input.Policy !== "string") throw new AwsError("ValidationException", "Policy is required: a JSON key policy document, as a string.");
      const policy = parsePolicy(input.Policy);
      await this.authorize(call, caller, "PutKeyPolicy", key);
      // The policy lockout safety check: the caller must still be able to change the policy.
      if (input.BypassPolicyLockoutSafetyCheck !== true) {
        const after = authorize(this.p, { caller, identityPolicies: this.identityPolicies(caller), action: "PutKeyPolicy", key, keyPolicy: policy });
        if (!after.allowed) {
          throw new AwsError("MalformedPolicyDocumentException", "The new key policy will not allow you to update the key policy in the future.");
        }
      }
      await this.keys.updateKey({ ...key, policy: input.Policy });
      this.log.info({ keyId: key.keyId }, "key policy replaced");
      return {};
    });
  }

  /** Changes a customer managed key's state; AWS managed keys refuse (their policy allows none of this). */
  private async setKeyState(
    name: "EnableKey" | "DisableKey" | "ScheduleKeyDeletion" | "CancelKeyDeletion",
    call: Call,
    input: Input,
    caller: Caller | undefined,
    change: (key: KeyRecord) => KeyRecord,
  ): Promise<KeyRecord> {
    const key = await this.resolveKey(input.KeyId, "KeyId", false);
    await this.authorize(call, caller, name, key);
    const next = change(key);
    await this.keys.updateKey(next);
    call.span.setAttribute("aws.kms.key_state", next.keyState);
    this.log.info({ keyId: key.keyId, from: key.keyState, to: next.keyState }, "key state changed");
    return next;
  }

  enableKey(input: Input, caller: Caller | undefined) {
    return this.setEnabled("EnableKey", "Enabled", input, caller);
  }

  disableKey(input: Input, caller: Caller | undefined) {
    return this.setEnabled("DisableKey", "Disabled", input, caller);
  }

  private setEnabled(name: "EnableKey" | "DisableKey", keyState: "Enabled" | "Disabled", input: Input, caller: Caller | undefined) {
    return this.op(name, caller, input, async (call) => {
      await this.setKeyState(name, call, input, caller, (k) => {
        assertNotPendingDeletion(k);
        return { ...k, keyState };
      });
      return {};
    });
  }

  scheduleKeyDeletion(input: Input, caller: Caller | undefined) {
    return this.op("ScheduleKeyDeletion", caller, input, async (call) => {
      const days = input.PendingWindowInDays ?? 30;
      if (!Number.isInteger(days) || (days as number) < 7 || (days as number) > 30) {
        throw new AwsError("ValidationException", "PendingWindowInDays must be an integer from 7 to 30.");
      }
      const key = await this.setKeyState("ScheduleKeyDeletion", call, input, caller, (k) => {
        assertNotPendingDeletion(k);
        return { ...k, keyState: "PendingDeletion", deletionDate: nowSeconds() + (days as number) * 86400 };
      });
      return { KeyId: key.arn, DeletionDate: key.deletionDate, KeyState: key.keyState, PendingWindowInDays: days };
    });
  }

  cancelKeyDeletion(input: Input, caller: Caller | undefined) {
    return this.op("CancelKeyDeletion", caller, input, async (call) => {
      const key = await this.setKeyState("CancelKeyDeletion", call, input, caller, (k) => {
        if (k.keyState !== "PendingDeletion") throw new AwsError("KMSInvalidStateException", `${k.arn} is not pending deletion.`);
        const { deletionDate: _, ...rest } = k;
        return { ...rest, keyState: "Disabled" }; // AWS leaves a key Disabled after CancelKeyDeletion
      });
      return { KeyId: key.arn };
    });
  }

  reEncrypt(input: Input, caller: Caller | undefined) {
    return this.op("ReEncrypt", caller, input, async (call) => {
      validateGrantTokens(input.GrantTokens);
      const ciphertext = blob(input.CiphertextBlob, "ciphertextBlob", MAX_CIPHERTEXT);
      const sourceContext = validateContext(input.SourceEncryptionContext, "SourceEncryptionContext");
      const destinationContext = this.context(call.span, input.DestinationEncryptionContext);
      const source = await this.keys.getKey(blobKeyId(ciphertext));
      if (!source) throw new AwsError("InvalidCiphertextException", "The ciphertext refers to a key that does not exist.");
      if (input.SourceKeyId !== undefined && (await this.resolveKey(input.SourceKeyId, "SourceKeyId")).keyId !== source.keyId) {
        throw new AwsError("IncorrectKeyException", "The source key ID does not identify the key that encrypted the ciphertext.");
      }
      const destination = await this.resolveKey(input.DestinationKeyId, "DestinationKeyId");
      await this.authorize(call, caller, "ReEncryptFrom", source, { operation: "ReEncryptFrom", context: sourceContext }, "cryptographic");
      await this.authorize(call, caller, "ReEncryptTo", destination, { operation: "ReEncryptTo", context: destinationContext }, "cryptographic");
      const plaintext = decryptBlob(this.keyMaterial(source), ciphertext, sourceContext);
      try {
        return {
          CiphertextBlob: encryptBlob(destination.keyId, this.keyMaterial(destination), plaintext, destinationContext),
          SourceKeyId: source.arn,
          KeyId: destination.arn,
          SourceEncryptionAlgorithm: "SYMMETRIC_DEFAULT",
          DestinationEncryptionAlgorithm: "SYMMETRIC_DEFAULT",
        };
      } finally {
        plaintext.fill(0);
      }
    });
  }
}
