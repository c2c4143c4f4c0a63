// The EBS operations: volumes whose data keys come from KMS (seed steps 2–8). This layer
// calls KMS and the store, asks the domain to decide, and records spans. The plaintext data
// key of an attached volume lives only in this process's memory.
import { trace, type Span, SpanStatusCode } from "@opentelemetry/api";
import { AwsError, type Caller, EBS_ROLE, isRetryable, type KmsClient, type Logger, type Partition, serviceSessionArn, viaService } from "@envelope/shared";
import {
  type Attachment, type VolumeRecord, type VolumeState, VOLUME_TYPES, assertCanAttach, assertCanDelete, assertCanDetach,
  assertReadyForIo, newVolumeId, notFound, validateVolumeId, volumeEncryptionContext,
} from "./domain/volumes.js";
import { decryptBlock, encryptBlock, validateRange, validateReadSize, validateWrite } from "./domain/blocks.js";
import type { VolumeStore } from "./store/volumes.js";

const tracer = trace.getTracer("envelope-ebs");
const KEY_ARN_RE = /^arn:aws:kms:[a-z0-9-]+:\d{12}:key\//;
/** What EBS's grant lets it do with the CMK: no more than the volume needs. */
const EBS_GRANT_OPERATIONS = ["Decrypt", "GenerateDataKeyWithoutPlaintext", "DescribeKey", "RetireGrant"];
/** EC2's default for Encrypted without KmsKeyId: the account's AWS managed key for EBS. */
const DEFAULT_EBS_KEY = "alias/aws/ebs";

/** The KMS calls EBS makes (the shared KmsClient; a fake in unit tests). */
export type Kms = Pick<KmsClient, "describeKey" | "createGrant" | "generateDataKeyWithoutPlaintext" | "decrypt" | "retireGrant">;
export type Volumes = Pick<VolumeStore, keyof VolumeStore>;

export interface CreateVolumeInput {
  availabilityZone?: string;
  size: number;
  volumeType?: string;
  encrypted: boolean;
  kmsKeyId?: string;
  workspaceId?: string;
  userSid?: string;
  directoryId?: string;
  clientToken?: string;
  tags?: { key: string; value: string }[];
}

export type DataKeySource = "kms" | "memory";
export type AttachResult = Attachment & { volumeId: string; dataKeySource?: DataKeySource };

const nowSeconds = () => Date.now() / 1000;

/** Names the volume on the span, with its WorkSpace and key. */
function named(span: Span, v: VolumeRecord): VolumeRecord {
  span.setAttribute("aws.ebs.volume_id", v.volumeId);
  if (v.workspaceId) span.setAttribute("envelope.workspace_id", v.workspaceId);
  if (v.kmsKeyArn) span.setAttribute("aws.kms.key_id", v.kmsKeyArn);
  return v;
}

export class ElasticBlockStore {
  /** Plaintext data keys of attached volumes. Never logged, traced or stored. */
  private readonly dataKeys = new Map<string, Buffer>();

  constructor(
    private readonly p: Partition,
    private readonly availabilityZone: string,
    private readonly volumes: Volumes,
    private readonly kms: Kms,
    private readonly log: Logger,
  ) {}

  private op<T>(name: string, fn: (span: Span) => Promise<T>): Promise<T> {
    return tracer.startActiveSpan(`ebs.${name}`, async (span) => {
      try {
        return await fn(span);
      } catch (e) {
        const code = e instanceof AwsError ? e.code : "InternalFailure";
        span.setAttribute("aws.ebs.error_code", code);
        span.setStatus({ code: SpanStatusCode.ERROR, message: code });
        throw e;
      } finally {
        span.end();
      }
    });
  }

  /** The session EBS acts as for one WorkSpace (or one volume), as CloudTrail shows aws:ec2-infrastructure. */
  private session(v: Pick<VolumeRecord, "workspaceId" | "volumeId">): Caller {
    return { principal: serviceSessionArn(this.p, EBS_ROLE, v.workspaceId ?? v.volumeId), viaService: viaService(this.p, "ec2") };
  }

  /** A volume that exists, named on the span with its WorkSpace and key. */
  private async load(span: Span, volumeId: string): Promise<VolumeRecord> {
    const id = validateVolumeId(volumeId);
    span.setAttribute("aws.ebs.volume_id", id);
    const v = await this.volumes.get(id);
    if (!v) throw notFound(id);
    return named(span, v);
  }

  /** Every state change is one write and one log line. */
  private async setState(v: VolumeRecord, state: VolumeState, detail: Record<string, unknown> = {}): Promise<void> {
    v.state = state;
    await this.volumes.put(v);
    this.log.info({ volumeId: v.volumeId, state, ...detail }, `volume ${state}`);
  }

  createVolume(input: CreateVolumeInput, caller: Caller | undefined): Promise<VolumeRecord> {
    return this.op("CreateVolume", async (span) => {
      if (!caller) throw new AwsError("AccessDeniedException", "CreateVolume needs a caller: the principal the volume is created for.");
      const volumeType = input.volumeType || "gp2";
      if (!(VOLUME_TYPES as readonly string[]).includes(volumeType)) throw new AwsError("InvalidParameterValue", `Value (${volumeType}) for parameter volumeType is invalid. Use one of: ${VOLUME_TYPES.join(", ")}.`);
      if (!Number.isInteger(input.size) || input.size < 1 || input.size > 65536) throw new AwsError("InvalidParameterValue", `Size must be from 1 to 65536 GiB; got ${input.size}.`);
      if (input.kmsKeyId && !input.encrypted) throw new AwsError("InvalidParameterDependency", "The parameter KmsKeyId requires the parameter Encrypted to be set.");
      const owner = input.workspaceId ? { workspaceId: input.workspaceId, userSid: input.userSid ?? "", directoryId: input.directoryId ?? "" } : undefined;
      if (owner && (!owner.userSid || !owner.directoryId)) throw new AwsError("MissingParameter", "A WorkSpace's volume needs the user's SID and the directory id.");

      let volumeId = newVolumeId();
      if (input.clientToken) {
        const existing = await this.volumes.claimClientToken(input.clientToken, volumeId);
        if (existing) {
          // A retry. A volume that became available is the answer; one whose creation was cut
          // short (EBS restarted mid-way) is created again under the same id: every step is
          // idempotent (KMS returns the same grant for the same name and parameters).
          const found = await this.volumes.get(existing);
          if (found && found.state !== "creating") return named(span, found);
          volumeId = existing;
          span.setAttribute("envelope.resumed", true);
        }
      }
      span.setAttribute("aws.ebs.volume_id", volumeId);
      if (owner) span.setAttribute("envelope.workspace_id", owner.workspaceId);
      const v: VolumeRecord = {
        volumeId,
        size: input.size,
        availabilityZone: input.availabilityZone || this.availabilityZone,
        volumeType,
        state: "creating",
        createTime: nowSeconds(),
        encrypted: input.encrypted,
        tags: input.tags ?? [],
        ...(owner ? { workspaceId: owner.workspaceId } : {}),
      };
      try {
        await this.setState(v, "creating", { encrypted: v.encrypted, workspaceId: v.workspaceId });
        if (input.encrypted) await this.provisionDataKey(span, v, input.kmsKeyId || DEFAULT_EBS_KEY, caller, owner);
        await this.setState(v, "available", { kmsKeyId: v.kmsKeyArn, grantId: v.grantId });
        return v;
      } catch (e) {
        // A failure that may pass (KMS or Redis restarting) keeps the volume "creating" under its
        // client token: the caller's retry resumes it with the same id and grant. Anything else
        // is undone.
        if (!(input.clientToken && isRetryable(e))) await this.discard(v, input.clientToken);
        throw e;
      }
    });
  }

  /** Steps 2–4 and 8: the grant scoped to this WorkSpace and volume, then the encrypted data key. */
  private async provisionDataKey(span: Span, v: VolumeRecord, keyId: string, caller: Caller, owner?: { userSid: string; directoryId: string }) {
    // EBS acts for the caller through EC2: KMS sees kms:ViaService = ec2.<region>.amazonaws.com.
    const asCaller: Caller = { principal: caller.principal, viaService: viaService(this.p, "ec2") };
    // A key ARN needs no lookup; an alias or key id is resolved as EC2 does, with DescribeKey.
    const keyArn = KEY_ARN_RE.test(keyId) ? keyId : (await this.kms.describeKey(asCaller, keyId)).keyMetadata!.arn;
    span.setAttribute("aws.kms.key_id", keyArn);
    const context = volumeEncryptionContext(v.volumeId, owner);
    const session = this.session(v);
    const grant = await this.kms.createGrant(asCaller, {
      keyId: keyArn,
      granteePrincipal: session.principal,
      retiringPrincipal: session.principal,
      operations: EBS_GRANT_OPERATIONS,
      constraints: { encryptionContextSubset: context },
      name: `ebs-${v.volumeId}`,
    });
    Object.assign(v, { kmsKeyArn: keyArn, encryptionContext: context, grantId: grant.grantId, grantToken: grant.grantToken });
    span.setAttribute("aws.kms.grant_id", grant.grantId);
    // Recorded at once, so a restart between here and "available" still knows which grant to retire.
    await this.volumes.put(v);
    const dataKey = await this.kms.generateDataKeyWithoutPlaintext(session, {
      keyId: keyArn,
      keySpec: "AES_256",
      encryptionContext: context,
      // The grant may not have reached every KMS host yet (eventual consistency); the token says it exists.
      grantTokens: [grant.grantToken],
    });
    v.encryptedDataKey = dataKey.ciphertextBlob.toString("base64");
  }

  /** Undoes a volume that never became available. Best effort: the caller sees the original error. */
  private async discard(v: VolumeRecord, clientToken: string | undefined): Promise<void> {
    const warn = (what: string) => (err: unknown) => this.log.warn({ volumeId: v.volumeId, grantId: v.grantId, err: String(err) }, `could not ${what} of a failed volume`);
    await this.retireGrant(v).catch(warn("retire the grant"));
    await this.volumes.delete(v).catch(warn("delete the record"));
    if (clientToken) await this.volumes.releaseClientToken(clientToken).catch(warn("release the client token"));
    this.log.info({ volumeId: v.volumeId, state: "deleted" }, "volume deleted: creation failed");
  }

  /** Retires EBS's grant for the volume as the EBS session, its retiring principal (seed step 9). */
  private async retireGrant(v: VolumeRecord): Promise<void> {
    if (!v.grantId || !v.kmsKeyArn) return;
    try {
      await this.kms.retireGrant(this.session(v), { keyId: v.kmsKeyArn, grantId: v.grantId });
    } catch (e) {
      // Already retired (a delete finished after a crash): nothing left to undo.
      if (!(e instanceof AwsError && e.code === "NotFoundException")) throw e;
    }
  }

  /** Seed steps 5–6: KMS decrypts the stored data key under the volume's context, for the EBS session. */
  private async decryptDataKey(v: VolumeRecord): Promise<Buffer> {
    const { plaintext } = await this.kms.decrypt(this.session(v), {
      ciphertextBlob: Buffer.from(v.encryptedDataKey!, "base64"),
      encryptionContext: v.encryptionContext!,
      grantTokens: v.grantToken ? [v.grantToken] : [],
    });
    return plaintext;
  }

  private dropDataKey(volumeId: string): void {
    this.dataKeys.get(volumeId)?.fill(0);
    this.dataKeys.delete(volumeId);
  }

  /** The data key for block I/O: from memory, or — after EBS restarted — from KMS again. */
  private async dataKeyFor(span: Span, v: VolumeRecord): Promise<Buffer> {
    const cached = this.dataKeys.get(v.volumeId);
    span.setAttribute("envelope.data_key.source", cached ? "memory" : "kms");
    if (cached) return cached;
    const key = await this.decryptDataKey(v);
    // A detach may have finished while KMS answered; a detached volume's key must not stay behind.
    // (Detach drops the key after its write, on the same Redis connection, so this read settles it.)
    const now = await this.volumes.get(v.volumeId);
    if (!now?.attachment) {
      key.fill(0);
      throw new AwsError("IncorrectState", `Volume '${v.volumeId}' was detached during the request.`);
    }
    this.dataKeys.set(v.volumeId, key);
    return key;
  }

  attachVolume(volumeId: string, instanceId: string, device: string): Promise<AttachResult> {
    return this.op("AttachVolume", async (span) => {
      if (!instanceId) throw new AwsError("MissingParameter", "The request must contain the parameter InstanceId.");
      if (!device) throw new AwsError("MissingParameter", "The request must contain the parameter Device.");
      const v = await this.load(span, volumeId);
      assertCanAttach(v);
      if (v.encrypted) {
        this.dataKeys.set(v.volumeId, await this.decryptDataKey(v));
        span.setAttribute("envelope.data_key.source", "kms");
      }
      v.attachment = { instanceId, device, state: "attached", attachTime: nowSeconds() };
      try {
        await this.setState(v, "in-use", { instanceId, device });
      } catch (e) {
        this.dropDataKey(v.volumeId);
        throw e;
      }
      span.setAttribute("aws.ebs.attach_state", "attached");
      return { ...v.attachment, volumeId: v.volumeId, dataKeySource: v.encrypted ? "kms" : undefined };
    });
  }

  detachVolume(volumeId: string, instanceId?: string): Promise<AttachResult> {
    return this.op("DetachVolume", async (span) => {
      const v = await this.load(span, volumeId);
      const attachment = assertCanDetach(v, instanceId);
      delete v.attachment;
      await this.setState(v, "available", { instanceId: attachment.instanceId });
      this.dropDataKey(v.volumeId);
      span.setAttribute("aws.ebs.attach_state", "detached");
      return { ...attachment, state: "detached", volumeId: v.volumeId };
    });
  }

  /** Deletes a detached volume, its blocks, and the grant that let EBS use the CMK for it (seed step 9). */
  deleteVolume(volumeId: string): Promise<void> {
    return this.op("DeleteVolume", async (span) => {
      const v = await this.load(span, volumeId);
      assertCanDelete(v);
      await this.setState(v, "deleting");
      if (v.grantId) span.setAttribute("aws.kms.grant_id", v.grantId);
      await this.retireGrant(v);
      await this.volumes.delete(v);
      this.log.info({ volumeId: v.volumeId, state: "deleted", grantId: v.grantId }, "volume deleted");
    });
  }

  describeVolumes(input: { volumeIds: string[]; workspaceId?: string; maxResults?: number; nextToken?: string }): Promise<{ volumes: VolumeRecord[]; nextToken?: string }> {
    return this.op("DescribeVolumes", async (span) => {
      if (input.workspaceId) span.setAttribute("envelope.workspace_id", input.workspaceId);
      if (input.volumeIds.length > 0) {
        const ids = input.volumeIds.map(validateVolumeId);
        const found = await this.volumes.many(ids);
        const missing = ids.find((id) => !found.some((v) => v.volumeId === id));
        if (missing) throw notFound(missing);
        // The WorkSpace acts as a filter on the named volumes, as EC2's filters do.
        return { volumes: input.workspaceId ? found.filter((v) => v.workspaceId === input.workspaceId) : found };
      }
      if (input.workspaceId) return { volumes: await this.volumes.many(await this.volumes.idsForWorkspace(input.workspaceId)) };
      const limit = input.maxResults || 1000;
      if (limit < 5 || limit > 1000) throw new AwsError("InvalidParameterValue", "MaxResults must be from 5 to 1000.");
      if (input.nextToken && !/^\d{1,9}$/.test(input.nextToken)) throw new AwsError("InvalidParameterValue", "NextToken is not valid: pass the NextToken of a previous response.");
      const offset = Number(input.nextToken || 0);
      const { ids, total } = await this.volumes.page(offset, limit);
      return { volumes: await this.volumes.many(ids), ...(offset + ids.length < total ? { nextToken: String(offset + ids.length) } : {}) };
    });
  }

  writeBlocks(volumeId: string, startBlock: number, blocks: Buffer[]): Promise<number> {
    return this.op("WriteBlocks", async (span) => {
      validateWrite(startBlock, blocks);
      const v = await this.load(span, volumeId);
      assertReadyForIo(v);
      span.setAttribute("aws.ebs.blocks", blocks.length);
      let stored = blocks;
      if (v.encrypted) {
        const key = await this.dataKeyFor(span, v);
        stored = blocks.map((b, i) => encryptBlock(key, v.volumeId, startBlock + i, b));
      }
      await this.volumes.writeBlocks(v.volumeId, startBlock, stored);
      return blocks.length;
    });
  }

  readBlocks(volumeId: string, startBlock: number, count: number): Promise<Buffer[]> {
    return this.op("ReadBlocks", async (span) => {
      validateRange(startBlock, count);
      const v = await this.load(span, volumeId);
      assertReadyForIo(v);
      span.setAttribute("aws.ebs.blocks", count);
      const stored = await this.volumes.readBlocks(v.volumeId, startBlock, count);
      validateReadSize(startBlock, stored);
      if (!v.encrypted) return stored.map((b) => b ?? Buffer.alloc(0));
      const key = await this.dataKeyFor(span, v);
      return stored.map((b, i) => (b ? decryptBlock(key, v.volumeId, startBlock + i, b) : Buffer.alloc(0)));
    });
  }

  /** Whether the plaintext data key of a volume is in this process's memory (never the key itself). */
  hasDataKey(volumeId: string): boolean {
    return this.dataKeys.has(volumeId);
  }

  /**
   * After a restart: the attached encrypted volumes get their data keys back from KMS, as a
   * host re-attaching its volumes would, so no attached volume is left without its key.
   * A volume whose key KMS refuses (disabled, pending deletion) stays without one and says why.
   */
  async restoreAttachedKeys(): Promise<{ restored: number; failed: number }> {
    let restored = 0;
    let failed = 0;
    for (let offset = 0; ; offset += 500) {
      const { ids } = await this.volumes.page(offset, 500);
      if (ids.length === 0) break;
      const attached = (await this.volumes.many(ids)).filter((v) => v.encrypted && v.attachment && !this.dataKeys.has(v.volumeId));
      await Promise.all(
        attached.map(async (v) => {
          try {
            const key = await this.decryptDataKey(v);
            if (this.dataKeys.has(v.volumeId)) key.fill(0);
            else this.dataKeys.set(v.volumeId, key);
            restored++;
          } catch (e) {
            failed++;
            this.log.warn({ volumeId: v.volumeId, errorCode: e instanceof AwsError ? e.code : "InternalFailure" }, "could not restore the data key of an attached volume");
          }
        }),
      );
    }
    return { restored, failed };
  }

  /** On shutdown: zero every plaintext data key. */
  forgetAllKeys(): void {
    for (const id of [...this.dataKeys.keys()]) this.dropDataKey(id);
  }
}
