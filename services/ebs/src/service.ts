// The EBS operations: volumes whose data keys come from KMS (seed steps 2–8). This layer
// calls KMS and the store, asks the domain to decide, and records spans. The plaintext data
// key of an attached volume lives only in this process's memory.
import { trace, type Span, SpanStatusCode } from "@opentelemetry/api";
import { AwsError, type Caller, EBS_ROLE, type Logger, type Partition, serviceSessionArn, viaService } from "@envelope/shared";
import {
  type Attachment, type VolumeRecord, VOLUME_TYPES, assertCanAttach, assertCanDelete, assertCanDetach, assertReadyForIo,
  newVolumeId, notFound, validateVolumeId, volumeEncryptionContext,
} from "./domain/volumes.js";
import { decryptBlock, encryptBlock, validateRange, validateWrite } from "./domain/blocks.js";
import type { VolumeStore } from "./store/volumes.js";
import type { KmsClient } from "@envelope/shared";

const tracer = trace.getTracer("envelope-ebs");
const KEY_ARN_RE = /^arn:aws:kms:[a-z0-9-]+:\d{12}:key\//;
/** What EBS's grant lets it do with the CMK: no more than the volume needs. */
const EBS_GRANT_OPERATIONS = ["Decrypt", "GenerateDataKeyWithoutPlaintext", "DescribeKey", "RetireGrant"];

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

const nowSeconds = () => Date.now() / 1000;

export class ElasticBlockStore {
  /** Plaintext data keys of attached volumes. Never logged, traced or stored. */
  private readonly dataKeys = new Map<string, Buffer>();

  constructor(
    private readonly p: Partition,
    private readonly availabilityZone: string,
    private readonly volumes: VolumeStore,
    private readonly kms: KmsClient,
    private readonly log: Logger,
  ) {}

  private op<T>(name: string, fn: (span: Span) => Promise<T>): Promise<T> {
    return tracer.startActiveSpan(`ebs.${name}`, async (span) => {
      try {
        return await fn(span);
      } catch (e) {
        const code = e instanceof AwsError ? e.code : "InternalError";
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

  private async load(volumeId: string): Promise<VolumeRecord> {
    const v = await this.volumes.get(validateVolumeId(volumeId));
    if (!v || v.state === "deleted") throw notFound(volumeId);
    return v;
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

      const volumeId = newVolumeId();
      if (input.clientToken) {
        const existing = await this.volumes.claimClientToken(input.clientToken, volumeId);
        if (existing) return this.load(existing);
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
      await this.volumes.put(v);
      try {
        if (input.encrypted) await this.provisionDataKey(span, v, input.kmsKeyId || "alias/aws/ebs", caller, owner);
        v.state = "available";
        await this.volumes.put(v);
        this.log.info({ volumeId, encrypted: v.encrypted, workspaceId: v.workspaceId, grantId: v.grantId }, "volume available");
        return v;
      } catch (e) {
        await this.discard(v);
        throw e;
      }
    });
  }

  /** Steps 2–4 and 8: the grant scoped to this WorkSpace and volume, then the encrypted data key. */
  private async provisionDataKey(span: Span, v: VolumeRecord, keyId: string, caller: Caller, owner?: { userSid: string; directoryId: string }) {
    const asCaller: Caller = { principal: caller.principal, viaService: viaService(this.p, "ec2") };
    // A key ARN needs no lookup; an alias or key id is resolved as EC2 does, with DescribeKey.
    const keyArn = KEY_ARN_RE.test(keyId) ? keyId : (await this.kms.describeKey(asCaller, keyId)).keyMetadata!.arn;
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
    span.setAttribute("aws.kms.key_id", keyArn);
    span.setAttribute("aws.kms.grant_id", grant.grantId);
    const dataKey = await this.kms.generateDataKeyWithoutPlaintext(session, {
      keyId: keyArn,
      keySpec: "AES_256",
      encryptionContext: context,
      grantTokens: [grant.grantToken],
    });
    v.encryptedDataKey = dataKey.ciphertextBlob.toString("base64");
  }

  /** Undo a volume that never became available: retire its grant, forget it. */
  private async discard(v: VolumeRecord): Promise<void> {
    if (v.grantToken) {
      await this.kms.retireGrant(this.session(v), { grantToken: v.grantToken }).catch((err: unknown) =>
        this.log.warn({ volumeId: v.volumeId, grantId: v.grantId, err: String(err) }, "could not retire the grant of a failed volume"),
      );
    }
    await this.volumes.delete(v);
  }

  /** Seed steps 5–6: Decrypt the stored data key with the volume's context; keep it in memory only. */
  private async unwrapDataKey(v: VolumeRecord): Promise<Buffer> {
    const { plaintext } = await this.kms.decrypt(this.session(v), {
      ciphertextBlob: Buffer.from(v.encryptedDataKey!, "base64"),
      encryptionContext: v.encryptionContext!,
      grantTokens: v.grantToken ? [v.grantToken] : [],
    });
    this.dataKeys.set(v.volumeId, plaintext);
    return plaintext;
  }

  /** The data key for I/O: from memory, or — after a restart of EBS — from KMS again. */
  private async dataKeyFor(span: Span, v: VolumeRecord): Promise<Buffer> {
    const cached = this.dataKeys.get(v.volumeId);
    span.setAttribute("envelope.data_key.source", cached ? "memory" : "kms");
    return cached ?? this.unwrapDataKey(v);
  }

  attachVolume(volumeId: string, instanceId: string, device: string): Promise<Attachment & { volumeId: string; dataKeySource: string }> {
    return this.op("AttachVolume", async (span) => {
      span.setAttribute("aws.ebs.volume_id", volumeId);
      if (!instanceId) throw new AwsError("MissingParameter", "The request must contain the parameter InstanceId.");
      if (!device) throw new AwsError("MissingParameter", "The request must contain the parameter Device.");
      const v = await this.load(volumeId);
      assertCanAttach(v);
      let source = "none";
      if (v.encrypted) {
        await this.unwrapDataKey(v);
        source = "kms";
      }
      span.setAttribute("envelope.data_key.source", source);
      v.attachment = { instanceId, device, state: "attached", attachTime: nowSeconds() };
      v.state = "in-use";
      await this.volumes.put(v);
      span.setAttribute("aws.ebs.attach_state", "attached");
      this.log.info({ volumeId, instanceId, device }, "volume attached");
      return { ...v.attachment, volumeId, dataKeySource: source };
    });
  }

  detachVolume(volumeId: string, instanceId?: string): Promise<Attachment & { volumeId: string }> {
    return this.op("DetachVolume", async (span) => {
      span.setAttribute("aws.ebs.volume_id", volumeId);
      const v = await this.load(volumeId);
      const attachment = assertCanDetach(v, instanceId);
      this.dropDataKey(volumeId);
      delete v.attachment;
      v.state = "available";
      await this.volumes.put(v);
      span.setAttribute("aws.ebs.attach_state", "detached");
      this.log.info({ volumeId, instanceId: attachment.instanceId }, "volume detached");
      return { ...attachment, state: "detached", volumeId };
    });
  }

  private dropDataKey(volumeId: string): void {
    this.dataKeys.get(volumeId)?.fill(0);
    this.dataKeys.delete(volumeId);
  }

  /** Deletes a detached volume and retires the grant that let EBS use the CMK for it (seed step 9). */
  deleteVolume(volumeId: string): Promise<void> {
    return this.op("DeleteVolume", async (span) => {
      span.setAttribute("aws.ebs.volume_id", volumeId);
      const v = await this.load(volumeId);
      assertCanDelete(v);
      v.state = "deleting";
      await this.volumes.put(v);
      if (v.grantId && v.kmsKeyArn) {
        span.setAttribute("aws.kms.grant_id", v.grantId);
        try {
          await this.kms.retireGrant(this.session(v), { keyId: v.kmsKeyArn, grantId: v.grantId });
        } catch (e) {
          // Already retired (a retry after a crash): the volume can still go.
          if (!(e instanceof AwsError && e.code === "NotFoundException")) throw e;
        }
      }
      await this.volumes.delete(v);
      this.log.info({ volumeId, grantId: v.grantId }, "volume deleted, grant retired");
    });
  }

  describeVolumes(input: { volumeIds: string[]; workspaceId?: string; maxResults?: number; nextToken?: string }): Promise<{ volumes: VolumeRecord[]; nextToken?: string }> {
    return this.op("DescribeVolumes", async () => {
      if (input.volumeIds.length > 0) {
        const ids = input.volumeIds.map(validateVolumeId);
        const found = await this.volumes.many(ids);
        const missing = ids.find((id) => !found.some((v) => v.volumeId === id));
        if (missing) throw notFound(missing);
        return { volumes: found };
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
      span.setAttribute("aws.ebs.volume_id", volumeId);
      validateWrite(startBlock, blocks);
      const v = await this.load(volumeId);
      assertReadyForIo(v);
      const stored = v.encrypted ? await this.encryptAll(span, v, startBlock, blocks) : blocks;
      await this.volumes.writeBlocks(volumeId, startBlock, stored);
      span.setAttribute("aws.ebs.blocks", blocks.length);
      return blocks.length;
    });
  }

  private async encryptAll(span: Span, v: VolumeRecord, startBlock: number, blocks: Buffer[]): Promise<Buffer[]> {
    const key = await this.dataKeyFor(span, v);
    return blocks.map((b, i) => encryptBlock(key, v.volumeId, startBlock + i, b));
  }

  readBlocks(volumeId: string, startBlock: number, count: number): Promise<Buffer[]> {
    return this.op("ReadBlocks", async (span) => {
      span.setAttribute("aws.ebs.volume_id", volumeId);
      validateRange(startBlock, count);
      const v = await this.load(volumeId);
      assertReadyForIo(v);
      const stored = await this.volumes.readBlocks(volumeId, startBlock, count);
      span.setAttribute("aws.ebs.blocks", count);
      if (!v.encrypted) return stored.map((b) => b ?? Buffer.alloc(0));
      const key = await this.dataKeyFor(span, v);
      return stored.map((b, i) => (b ? decryptBlock(key, volumeId, startBlock + i, b) : Buffer.alloc(0)));
    });
  }

  /** On shutdown: zero every plaintext data key. */
  forgetAllKeys(): void {
    for (const id of [...this.dataKeys.keys()]) this.dropDataKey(id);
  }
}
