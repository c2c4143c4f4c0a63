// The cryptography of a symmetric KMS key, with node:crypto AES-256-GCM.
//
// Ciphertext blob (what Encrypt and GenerateDataKey* return, what Decrypt takes):
//   version (1) | key id (36, ASCII) | iv (12) | tag (16) | ciphertext
// The blob names its key, so Decrypt needs no KeyId. The additional authenticated data binds
// the key id and the encryption context, so a blob decrypts only under its own key and the
// exact context it was made with.
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { AwsError } from "@envelope/shared";
import type { EncryptionContext } from "./encryption-context.js";
import { canonicalContext } from "./encryption-context.js";

const BLOB_VERSION = 1;
const KEY_ID_LENGTH = 36;
const IV_LENGTH = 12;
const TAG_LENGTH = 16;
const HEADER_LENGTH = 1 + KEY_ID_LENGTH + IV_LENGTH + TAG_LENGTH;

function seal(key: Buffer, plaintext: Buffer, aad: Buffer): { iv: Buffer; tag: Buffer; ciphertext: Buffer } {
  const iv = randomBytes(IV_LENGTH);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { iv, tag: cipher.getAuthTag(), ciphertext };
}

function open(key: Buffer, iv: Buffer, tag: Buffer, ciphertext: Buffer, aad: Buffer): Buffer | undefined {
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, iv);
    decipher.setAAD(aad);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch {
    return undefined;
  }
}

const blobAad = (keyId: string, context: EncryptionContext) =>
  Buffer.concat([Buffer.from(`envelope-kms-v1|${keyId}|`), canonicalContext(context)]);

export function encryptBlob(keyId: string, keyMaterial: Buffer, plaintext: Buffer, context: EncryptionContext): Buffer {
  const { iv, tag, ciphertext } = seal(keyMaterial, plaintext, blobAad(keyId, context));
  return Buffer.concat([Buffer.from([BLOB_VERSION]), Buffer.from(keyId, "ascii"), iv, tag, ciphertext]);
}

/** The key id a blob names, without decrypting it. */
export function blobKeyId(blob: Buffer): string {
  if (blob.length <= HEADER_LENGTH || blob[0] !== BLOB_VERSION) {
    throw new AwsError("InvalidCiphertextException", "The ciphertext is not a valid AWS KMS ciphertext blob.");
  }
  return blob.subarray(1, 1 + KEY_ID_LENGTH).toString("ascii");
}

export function decryptBlob(keyMaterial: Buffer, blob: Buffer, context: EncryptionContext): Buffer {
  const keyId = blobKeyId(blob);
  let at = 1 + KEY_ID_LENGTH;
  const iv = blob.subarray(at, (at += IV_LENGTH));
  const tag = blob.subarray(at, (at += TAG_LENGTH));
  const plaintext = open(keyMaterial, iv, tag, blob.subarray(at), blobAad(keyId, context));
  if (!plaintext) {
    // The same answer for a wrong context and a tampered blob, as AWS gives.
    throw new AwsError("InvalidCiphertextException", "The ciphertext is invalid or the encryption context does not match.");
  }
  return plaintext;
}

/** Wraps a CMK's key material under the service master key, bound to the key id. */
export function wrapKeyMaterial(masterKey: Buffer, keyId: string, material: Buffer): string {
  const { iv, tag, ciphertext } = seal(masterKey, material, Buffer.from(`envelope-kms-wrap-v1|${keyId}`));
  return Buffer.concat([iv, tag, ciphertext]).toString("base64");
}

export function unwrapKeyMaterial(masterKey: Buffer, keyId: string, wrapped: string): Buffer {
  const buf = Buffer.from(wrapped, "base64");
  const material = open(
    masterKey,
    buf.subarray(0, IV_LENGTH),
    buf.subarray(IV_LENGTH, IV_LENGTH + TAG_LENGTH),
    buf.subarray(IV_LENGTH + TAG_LENGTH),
    Buffer.from(`envelope-kms-wrap-v1|${keyId}`),
  );
  if (!material) throw new AwsError("KMSInternalException", `Key material for ${keyId} could not be unwrapped: wrong master key?`);
  return material;
}

export const newKeyMaterial = (): Buffer => randomBytes(32);
export const randomDataKey = (bytes: number): Buffer => randomBytes(bytes);
