// Seed step 7: the plaintext data key encrypts every block written to the volume and decrypts
// every block read. AES-256-GCM, a fresh IV per write; the additional authenticated data binds
// the volume id and the block index, so a block moved to another index or volume fails to
// decrypt instead of reading back as wrong data.
//   stored block = iv (12) | tag (16) | ciphertext
import { createCipheriv, createDecipheriv, randomFillSync } from "node:crypto";
import { AwsError } from "@envelope/shared";

export const MAX_BLOCK_BYTES = 65536;
export const MAX_BLOCKS_PER_CALL = 256;
/**
 * What one ReadBlocks response may carry: the 8 MiB gRPC message limit (packages/shared
 * grpc.ts), less room for the framing of 256 fields. 256 full blocks would be 16 MiB.
 */
export const MAX_READ_BYTES = 8 * 1024 * 1024 - 16 * 1024;
const IV = 12;
const TAG = 16;

const aad = (volumeId: string, index: number) => Buffer.from(`envelope-ebs-v1|${volumeId}|${index}`);

// Both directions copy each block once and allocate no more than they must: the data plane's
// cost is mostly buffers (a MiB per call), which the profile showed as allocation and GC.
export function encryptBlock(dataKey: Buffer, volumeId: string, index: number, plaintext: Buffer): Buffer {
  const stored = Buffer.allocUnsafe(IV + TAG + plaintext.length);
  const iv = randomFillSync(stored, 0, IV).subarray(0, IV);
  const cipher = createCipheriv("aes-256-gcm", dataKey, iv, { authTagLength: TAG }).setAAD(aad(volumeId, index));
  cipher.update(plaintext).copy(stored, IV + TAG);
  cipher.final(); // GCM is a stream mode: nothing is held back
  cipher.getAuthTag().copy(stored, IV);
  return stored;
}

export function decryptBlock(dataKey: Buffer, volumeId: string, index: number, stored: Buffer): Buffer {
  try {
    // A fixed tag length: GCM would otherwise accept a truncated (weaker) tag.
    const decipher = createDecipheriv("aes-256-gcm", dataKey, stored.subarray(0, IV), { authTagLength: TAG }).setAAD(aad(volumeId, index));
    decipher.setAuthTag(stored.subarray(IV, IV + TAG));
    const plaintext = decipher.update(stored.subarray(IV + TAG));
    decipher.final(); // throws unless the tag matches: only then is the plaintext returned
    return plaintext;
  } catch {
    throw new AwsError("IncorrectState", `Block ${index} of ${volumeId} failed its integrity check: it was not written to this volume at this index.`);
  }
}

export function validateWrite(startBlock: number, blocks: Buffer[]): void {
  if (blocks.length === 0 || blocks.length > MAX_BLOCKS_PER_CALL) {
    throw new AwsError("InvalidParameterValue", `WriteBlocks takes 1 to ${MAX_BLOCKS_PER_CALL} blocks; got ${blocks.length}.`);
  }
  blocks.forEach((b, i) => {
    if (b.length === 0 || b.length > MAX_BLOCK_BYTES) {
      throw new AwsError("InvalidParameterValue", `Block ${startBlock + i} is ${b.length} bytes; each block must be 1 to ${MAX_BLOCK_BYTES} bytes.`);
    }
  });
  validateRange(startBlock, blocks.length);
}

export function validateRange(startBlock: number, count: number): void {
  if (!Number.isInteger(count) || count < 1 || count > MAX_BLOCKS_PER_CALL) {
    throw new AwsError("InvalidParameterValue", `Count must be from 1 to ${MAX_BLOCKS_PER_CALL}; got ${count}.`);
  }
  if (!Number.isInteger(startBlock) || startBlock < 0 || startBlock + count > 2 ** 32) {
    throw new AwsError("InvalidParameterValue", `StartBlock ${startBlock} is out of range.`);
  }
}

/** Stored blocks (ciphertext is 28 bytes longer than plaintext) must fit in one response. */
export function validateReadSize(startBlock: number, stored: readonly (Buffer | null)[]): void {
  const total = stored.reduce((n, b) => n + (b?.length ?? 0), 0);
  if (total > MAX_READ_BYTES) {
    throw new AwsError("InvalidParameterValue", `Blocks ${startBlock} to ${startBlock + stored.length - 1} hold ${total} bytes, more than one response carries (${MAX_READ_BYTES}); read fewer blocks.`);
  }
}
