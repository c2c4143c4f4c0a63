// Customer master keys: identifiers, metadata and the key states that decide what a key may do.
import { randomUUID } from "node:crypto";
import { AwsError, type Partition } from "@envelope/shared";

export type KeyState = "Enabled" | "Disabled" | "PendingDeletion";
export type KeyManager = "AWS" | "CUSTOMER";

export interface KeyRecord {
  keyId: string;
  arn: string;
  accountId: string;
  creationDate: number; // epoch seconds
  description: string;
  keyState: KeyState;
  keyManager: KeyManager;
  deletionDate?: number;
  /** The key policy document, as JSON text. */
  policy: string;
  /** The key material, wrapped under the KMS master key (never the plaintext material). */
  wrappedMaterial: string;
}

/** The key policy CreateKey gives a key when the request has none (KMS API default). */
export function defaultKeyPolicy(p: Partition): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Id: "key-default-1",
    Statement: [{ Sid: "Enable IAM User Permissions", Effect: "Allow", Principal: { AWS: `arn:aws:iam::${p.account}:root` }, Action: "kms:*", Resource: "*" }],
  });
}

/**
 * The policy of an AWS managed key: every principal of the account may use it, but only
 * through its AWS service (kms:ViaService); the account may read its metadata directly.
 */
export function awsManagedKeyPolicy(p: Partition, service: "workspaces" | "ec2"): string {
  const name = service === "ec2" ? "EBS" : "WorkSpaces";
  return JSON.stringify({
    Version: "2012-10-17",
    Id: `auto-${service === "ec2" ? "ebs" : "workspaces"}-2`,
    Statement: [
      {
        Sid: `Allow access through ${name} for all principals in the account that are authorized to use ${name}`,
        Effect: "Allow",
        Principal: { AWS: "*" },
        Action: ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey"],
        Resource: "*",
        Condition: { StringEquals: { "kms:CallerAccount": p.account, "kms:ViaService": `${service}.${p.region}.amazonaws.com` } },
      },
      {
        Sid: "Allow direct access to key metadata to the account",
        Effect: "Allow",
        Principal: { AWS: `arn:aws:iam::${p.account}:root` },
        Action: ["kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"],
        Resource: "*",
      },
    ],
  });
}

/** The AWS managed keys Envelope creates on first use, as AWS does. */
export const AWS_MANAGED_ALIASES: Record<string, { description: string; service: "workspaces" | "ec2" }> = {
  "alias/aws/workspaces": { description: "Default key that protects my WorkSpaces when no other key is defined", service: "workspaces" },
  "alias/aws/ebs": { description: "Default key that protects my EBS volumes when no other key is defined", service: "ec2" },
};

const KEY_ID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ALIAS_NAME_RE = /^alias\/[a-zA-Z0-9:/_-]+$/;

export const newKeyId = (): string => randomUUID();
export const keyArn = (p: Partition, keyId: string) => `arn:aws:kms:${p.region}:${p.account}:key/${keyId}`;
export const aliasArn = (p: Partition, aliasName: string) => `arn:aws:kms:${p.region}:${p.account}:${aliasName}`;

/** What a KeyId parameter names: a key (by id or ARN) or an alias (by name or ARN). */
export type KeyReference = { kind: "key"; keyId: string } | { kind: "alias"; aliasName: string };

export function parseKeyReference(p: Partition, value: unknown, member = "KeyId"): KeyReference {
  if (typeof value !== "string" || value.length === 0) {
    throw new AwsError("ValidationException", `1 validation error detected: Value at '${lowerFirst(member)}' failed to satisfy constraint: Member must not be null`);
  }
  if (value.length > 2048) {
    throw new AwsError("ValidationException", `Value at '${lowerFirst(member)}' failed to satisfy constraint: Member must have length less than or equal to 2048`);
  }
  if (value.startsWith("arn:")) {
    const m = /^arn:aws:kms:([a-z0-9-]+):(\d{12}):(key\/.+|alias\/.+)$/.exec(value);
    if (!m) throw new AwsError("InvalidArnException", `${member} ${value} is not a valid ARN.`);
    const [, region, account, resource] = m as unknown as [string, string, string, string];
    if (region !== p.region || account !== p.account) {
      throw new AwsError("NotFoundException", `Key '${value}' does not exist`);
    }
    return parseKeyReference(p, resource.startsWith("key/") ? resource.slice(4) : resource, member);
  }
  if (value.startsWith("alias/")) {
    if (!ALIAS_NAME_RE.test(value)) throw new AwsError("NotFoundException", `Alias ${aliasArn(p, value)} is not found.`);
    return { kind: "alias", aliasName: value };
  }
  if (!KEY_ID_RE.test(value)) throw new AwsError("NotFoundException", `Invalid keyId '${value}'`);
  return { kind: "key", keyId: value };
}

/** Alias names a customer may create (CreateAlias). */
export function validateNewAliasName(name: unknown): string {
  if (typeof name !== "string" || !ALIAS_NAME_RE.test(name) || name.length > 256) {
    throw new AwsError("ValidationException", "AliasName must start with 'alias/' and contain only alphanumerics, '/', '_', '-' and ':' (at most 256 characters).");
  }
  if (name.startsWith("alias/aws/")) {
    throw new AwsError("InvalidAliasNameException", `Cannot create alias with prefix 'alias/aws/': it is reserved for AWS managed keys.`);
  }
  return name;
}

export type KeyUse = "cryptographic" | "create-grant" | "metadata";

/** A key pending deletion refuses use and most changes (enable, disable, aliases, a second schedule). */
export function assertNotPendingDeletion(key: KeyRecord): void {
  if (key.keyState === "PendingDeletion") throw new AwsError("KMSInvalidStateException", `${key.arn} is pending deletion.`);
}

/** Key state rules (KMS Developer Guide, key-state.md): disabled keys refuse crypto and CreateGrant. */
export function assertUsable(key: KeyRecord, use: KeyUse): void {
  if (use === "metadata") return;
  if (key.keyState === "Disabled") throw new AwsError("DisabledException", `${key.arn} is disabled.`);
  assertNotPendingDeletion(key);
}

export interface KeyMetadata {
  KeyId: string;
  Arn: string;
  AWSAccountId: string;
  CreationDate: number;
  Enabled: boolean;
  Description: string;
  KeyUsage: "ENCRYPT_DECRYPT";
  KeyState: KeyState;
  Origin: "AWS_KMS";
  KeyManager: KeyManager;
  KeySpec: "SYMMETRIC_DEFAULT";
  CustomerMasterKeySpec: "SYMMETRIC_DEFAULT";
  EncryptionAlgorithms: ["SYMMETRIC_DEFAULT"];
  MultiRegion: false;
  DeletionDate?: number;
}

export function keyMetadata(key: KeyRecord): KeyMetadata {
  return {
    KeyId: key.keyId,
    Arn: key.arn,
    AWSAccountId: key.accountId,
    CreationDate: key.creationDate,
    Enabled: key.keyState === "Enabled",
    Description: key.description,
    KeyUsage: "ENCRYPT_DECRYPT",
    KeyState: key.keyState,
    Origin: "AWS_KMS",
    KeyManager: key.keyManager,
    KeySpec: "SYMMETRIC_DEFAULT",
    CustomerMasterKeySpec: "SYMMETRIC_DEFAULT",
    EncryptionAlgorithms: ["SYMMETRIC_DEFAULT"],
    MultiRegion: false,
    ...(key.deletionDate ? { DeletionDate: key.deletionDate } : {}),
  };
}

const lowerFirst = (s: string) => s.charAt(0).toLowerCase() + s.slice(1);
