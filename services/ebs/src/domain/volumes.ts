// Volumes as EC2 has them: ids, states, and the encryption context KMS binds their data key to.
import { randomBytes } from "node:crypto";
import { AwsError } from "@envelope/shared";

export type VolumeState = "creating" | "available" | "in-use" | "deleting" | "deleted" | "error";
export type AttachState = "attaching" | "attached" | "detaching" | "detached";

export interface Attachment {
  instanceId: string;
  device: string;
  state: AttachState;
  attachTime: number;
}

export interface VolumeRecord {
  volumeId: string;
  size: number;
  availabilityZone: string;
  volumeType: string;
  state: VolumeState;
  createTime: number;
  encrypted: boolean;
  tags: { key: string; value: string }[];
  workspaceId?: string;
  /** Set when encrypted. */
  kmsKeyArn?: string;
  encryptedDataKey?: string; // base64 CiphertextBlob from KMS (seed step 8); not secret
  encryptionContext?: Record<string, string>;
  grantId?: string;
  grantToken?: string;
  attachment?: Attachment;
}

export const VOLUME_TYPES = ["standard", "io1", "io2", "gp2", "sc1", "st1", "gp3"] as const;
const VOLUME_ID_RE = /^vol-[0-9a-f]{17}$/;

/** Volume ids are `vol-` and 17 lowercase hex characters, as EC2's. */
export const newVolumeId = (): string => `vol-${randomBytes(9).toString("hex").slice(0, 17)}`;

export function validateVolumeId(value: unknown): string {
  if (typeof value !== "string" || value.length === 0) throw new AwsError("MissingParameter", "The request must contain the parameter VolumeId.");
  if (!VOLUME_ID_RE.test(value)) throw new AwsError("InvalidParameterValue", `Invalid id: "${value}" (expecting "vol-" followed by 17 hexadecimal characters)`);
  return value;
}

export const notFound = (volumeId: string) => new AwsError("InvalidVolume.NotFound", `The volume '${volumeId}' does not exist.`);

/**
 * The encryption context EBS gives KMS for a WorkSpace's volume, exactly as the AWS
 * documentation shows it; a volume with no WorkSpace gets only its id.
 */
export function volumeEncryptionContext(volumeId: string, owner?: { userSid: string; directoryId: string }): Record<string, string> {
  return owner
    ? { "aws:workspaces:sid-directoryid": `[${owner.userSid}]@[${owner.directoryId}]`, "aws:ebs:id": volumeId }
    : { "aws:ebs:id": volumeId };
}

/** Which state changes each operation may make (EC2's rules). */
export function assertCanAttach(v: VolumeRecord): void {
  if (v.state === "in-use" || v.attachment) throw new AwsError("VolumeInUse", `${v.volumeId} is already attached to an instance`);
  if (v.state !== "available") throw new AwsError("IncorrectState", `The volume '${v.volumeId}' is '${v.state}' and cannot be attached.`);
}

export function assertCanDetach(v: VolumeRecord, instanceId?: string): Attachment {
  if (!v.attachment) throw new AwsError("IncorrectState", `Volume '${v.volumeId}' is in the '${v.state}' state.`);
  if (instanceId && v.attachment.instanceId !== instanceId) {
    throw new AwsError("InvalidAttachment.NotFound", `Volume '${v.volumeId}' is not attached to instance '${instanceId}'.`);
  }
  return v.attachment;
}

/** A volume left `deleting` (EBS stopped mid-delete) may be deleted again, which finishes the job. */
export function assertCanDelete(v: VolumeRecord): void {
  if (v.attachment || v.state === "in-use") throw new AwsError("VolumeInUse", `Volume ${v.volumeId} is currently attached to ${v.attachment?.instanceId ?? "an instance"}`);
  // "creating" too: a creation cut short by a restart that its caller gave up on.
  if (v.state !== "available" && v.state !== "deleting" && v.state !== "creating") throw new AwsError("IncorrectState", `The volume '${v.volumeId}' is '${v.state}' and cannot be deleted.`);
}

export function assertReadyForIo(v: VolumeRecord): void {
  if (v.state !== "in-use" || v.attachment?.state !== "attached") {
    throw new AwsError("IncorrectState", `Volume '${v.volumeId}' must be attached for block I/O; it is '${v.state}'.`);
  }
}
