// Encryption context: a map of non-secret strings bound to a ciphertext as AAD.
import { AwsError } from "@envelope/shared";

export type EncryptionContext = Record<string, string>;

/** Envelope's limit (AWS documents none): 8 KiB of UTF-8 across all keys and values. */
export const MAX_CONTEXT_BYTES = 8192;

/**
 * An unambiguous encoding: pairs sorted by key, each key and value length-prefixed, so
 * {"a":"bc"} and {"ab":"c"} can never produce the same bytes.
 */
export function canonicalContext(context: EncryptionContext): Buffer {
  const parts: Buffer[] = [];
  for (const key of Object.keys(context).sort(compareUtf8)) {
    for (const s of [key, context[key]!]) {
      const b = Buffer.from(s, "utf8");
      const len = Buffer.alloc(4);
      len.writeUInt32BE(b.length);
      parts.push(len, b);
    }
  }
  return Buffer.concat(parts);
}

function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/** Checks a context from the wire: strings only, non-empty keys, within the size limit. */
export function validateContext(value: unknown, member = "EncryptionContext"): EncryptionContext {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new AwsError("ValidationException", `${member} must be a map of string keys to string values.`);
  }
  let bytes = 0;
  const out: EncryptionContext = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== "string") throw new AwsError("ValidationException", `${member} value for key '${k}' must be a string.`);
    if (k.length === 0) throw new AwsError("ValidationException", `${member} keys must not be empty.`);
    bytes += Buffer.byteLength(k) + Buffer.byteLength(v);
    out[k] = v;
  }
  if (bytes > MAX_CONTEXT_BYTES) {
    throw new AwsError("ValidationException", `${member} is ${bytes} bytes; at most ${MAX_CONTEXT_BYTES} bytes of keys and values are allowed.`);
  }
  return out;
}

/** Exact match: the same pairs, in any order (Decrypt and ReEncrypt need this). */
export function contextEquals(a: EncryptionContext, b: EncryptionContext): boolean {
  return canonicalContext(a).equals(canonicalContext(b));
}
