// Grants: who may use a key for which operations under which encryption context.
// Grants are enforced, not merely stored: authorize.ts asks grantAllows() for every call a
// grantee makes.
import { createHash, randomBytes } from "node:crypto";
import { AwsError } from "@envelope/shared";
import { type EncryptionContext, validateContext } from "./encryption-context.js";

export const GRANT_OPERATIONS = [
  "Decrypt",
  "Encrypt",
  "GenerateDataKey",
  "GenerateDataKeyWithoutPlaintext",
  "ReEncryptFrom",
  "ReEncryptTo",
  "CreateGrant",
  "RetireGrant",
  "DescribeKey",
] as const;
export type GrantOperation = (typeof GRANT_OPERATIONS)[number];

export interface GrantConstraints {
  EncryptionContextSubset?: EncryptionContext;
  EncryptionContextEquals?: EncryptionContext;
}

export interface Grant {
  grantId: string;
  keyId: string;
  keyArn: string;
  name?: string;
  creationDate: number;
  granteePrincipal: string;
  retiringPrincipal?: string;
  issuingAccount: string;
  operations: GrantOperation[];
  constraints?: GrantConstraints;
}

/** What CreateGrant asks for, validated. */
export interface GrantRequest {
  granteePrincipal: string;
  retiringPrincipal?: string;
  operations: GrantOperation[];
  constraints?: GrantConstraints;
  name?: string;
}

const PRINCIPAL_RE = /^[\w+=,.@:/-]{1,256}$/;
const NAME_RE = /^[a-zA-Z0-9:/_-]{1,256}$/;
export const MAX_CONSTRAINT_PAIRS = 8;
export const MAX_CONSTRAINT_VALUE = 384;

export function validateGrantRequest(input: {
  granteePrincipal?: unknown;
  retiringPrincipal?: unknown;
  operations?: unknown;
  constraints?: unknown;
  name?: unknown;
}): GrantRequest {
  const { granteePrincipal, retiringPrincipal, operations, constraints, name } = input;
  if (typeof granteePrincipal !== "string" || !PRINCIPAL_RE.test(granteePrincipal)) {
    throw new AwsError("ValidationException", "GranteePrincipal is required: an AWS principal ARN or account id of at most 256 characters.");
  }
  if (retiringPrincipal !== undefined && retiringPrincipal !== "" && (typeof retiringPrincipal !== "string" || !PRINCIPAL_RE.test(retiringPrincipal))) {
    throw new AwsError("ValidationException", "RetiringPrincipal must be an AWS principal ARN or account id of at most 256 characters.");
  }
  if (!Array.isArray(operations) || operations.length === 0) {
    throw new AwsError("ValidationException", `Operations must list at least one of: ${GRANT_OPERATIONS.join(", ")}.`);
  }
  for (const op of operations) {
    if (!(GRANT_OPERATIONS as readonly unknown[]).includes(op)) {
      throw new AwsError("ValidationException", `Operation '${String(op)}' is not a grant operation for a symmetric encryption key; use one of: ${GRANT_OPERATIONS.join(", ")}.`);
    }
  }
  if (name !== undefined && name !== "" && (typeof name !== "string" || !NAME_RE.test(name))) {
    throw new AwsError("ValidationException", "Name must be 1 to 256 characters of alphanumerics, ':', '/', '_' and '-'.");
  }
  return {
    granteePrincipal,
    ...(typeof retiringPrincipal === "string" && retiringPrincipal ? { retiringPrincipal } : {}),
    operations: [...new Set(operations as GrantOperation[])],
    ...(validateConstraints(constraints) ?? {}),
    ...(typeof name === "string" && name ? { name } : {}),
  };
}

function validateConstraints(value: unknown): { constraints: GrantConstraints } | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "object" || Array.isArray(value)) throw new AwsError("ValidationException", "Constraints must be an object.");
  const c = value as Record<string, unknown>;
  const out: GrantConstraints = {};
  for (const member of ["EncryptionContextSubset", "EncryptionContextEquals"] as const) {
    if (c[member] === undefined || c[member] === null) continue;
    const ctx = validateContext(c[member], `Constraints.${member}`);
    const entries = Object.entries(ctx);
    if (entries.length > MAX_CONSTRAINT_PAIRS) throw new AwsError("ValidationException", `Constraints.${member} has ${entries.length} pairs; at most ${MAX_CONSTRAINT_PAIRS} are allowed.`);
    for (const [k, v] of entries) {
      if (v.length > MAX_CONSTRAINT_VALUE) throw new AwsError("ValidationException", `Constraints.${member} value for '${k}' exceeds ${MAX_CONSTRAINT_VALUE} characters.`);
    }
    if (entries.length > 0) out[member] = ctx;
  }
  if (out.EncryptionContextEquals && out.EncryptionContextSubset) {
    throw new AwsError("ValidationException", "Constraints may have EncryptionContextSubset or EncryptionContextEquals, not both.");
  }
  return Object.keys(out).length ? { constraints: out } : undefined;
}

/** Grant ids are 64 lowercase hex characters, as in AWS. */
export const newGrantId = (): string => randomBytes(32).toString("hex");
export const isGrantId = (v: unknown): v is string => typeof v === "string" && /^[0-9a-f]{64}$/.test(v);

/**
 * A grant token names its grant and is otherwise opaque (base64url, like AWS's). Every
 * CreateGrant call returns a fresh one; all tokens for a grant are interchangeable.
 */
export function newGrantToken(grantId: string): string {
  return Buffer.concat([Buffer.from([1]), Buffer.from(grantId, "hex"), randomBytes(32)]).toString("base64url");
}

export function grantIdFromToken(token: unknown): string {
  if (typeof token === "string" && token.length <= 8192) {
    const buf = Buffer.from(token, "base64url");
    if (buf.length === 65 && buf[0] === 1) return buf.subarray(1, 33).toString("hex");
  }
  throw new AwsError("InvalidGrantTokenException", "The provided grant token is not valid.");
}

export function validateGrantTokens(tokens: unknown): string[] {
  if (tokens === undefined || tokens === null) return [];
  if (!Array.isArray(tokens) || tokens.length > 10) {
    throw new AwsError("ValidationException", "GrantTokens must be a list of at most 10 grant tokens.");
  }
  return tokens.map(grantIdFromToken);
}

/** Same name and same parameters → the same grant (CreateGrant's idempotent retry). */
export function grantFingerprint(keyId: string, req: GrantRequest): string {
  const stable = JSON.stringify([
    keyId,
    req.name,
    req.granteePrincipal,
    req.retiringPrincipal ?? "",
    [...req.operations].sort(),
    sortedPairs(req.constraints?.EncryptionContextSubset),
    sortedPairs(req.constraints?.EncryptionContextEquals),
  ]);
  return createHash("sha256").update(stable).digest("hex");
}

const sortedPairs = (ctx?: EncryptionContext) =>
  ctx ? Object.entries(ctx).map(([k, v]) => [k.toLowerCase(), v]).sort() : null;

/** In a constraint keys are case-insensitive and values case-sensitive. */
function lookup(ctx: EncryptionContext, key: string): string | undefined {
  const want = key.toLowerCase();
  for (const [k, v] of Object.entries(ctx)) if (k.toLowerCase() === want) return v;
  return undefined;
}

function containsPairs(ctx: EncryptionContext, pairs: EncryptionContext): boolean {
  return Object.entries(pairs).every(([k, v]) => lookup(ctx, k) === v);
}

function samePairs(a: EncryptionContext, b: EncryptionContext): boolean {
  return Object.keys(a).length === Object.keys(b).length && containsPairs(a, b);
}

/** Does a request's encryption context satisfy a grant's constraints? */
export function contextSatisfies(constraints: GrantConstraints | undefined, context: EncryptionContext): boolean {
  if (!constraints) return true;
  if (constraints.EncryptionContextEquals) return samePairs(context, constraints.EncryptionContextEquals);
  if (constraints.EncryptionContextSubset) return containsPairs(context, constraints.EncryptionContextSubset);
  return true;
}

/**
 * A grant that allows CreateGrant allows only children no wider than itself: operations a
 * subset of its own, and constraints equal or stricter (pairs may be added to a subset, and a
 * subset may become equals, not the reverse).
 */
export function childWithinParent(parent: Grant, child: GrantRequest): boolean {
  if (!child.operations.every((op) => parent.operations.includes(op))) return false;
  const p = parent.constraints;
  if (!p) return true;
  const c = child.constraints;
  if (p.EncryptionContextEquals) return !!c?.EncryptionContextEquals && samePairs(c.EncryptionContextEquals, p.EncryptionContextEquals);
  if (p.EncryptionContextSubset) {
    const childPairs = c?.EncryptionContextEquals ?? c?.EncryptionContextSubset;
    return !!childPairs && containsPairs(childPairs, p.EncryptionContextSubset);
  }
  return true;
}

/** Constraints apply to cryptographic operations and CreateGrant; DescribeKey and RetireGrant ignore them. */
export type GrantedRequest =
  | { operation: "DescribeKey" | "RetireGrant" }
  | { operation: Exclude<GrantOperation, "DescribeKey" | "RetireGrant" | "CreateGrant">; context: EncryptionContext }
  | { operation: "CreateGrant"; child: GrantRequest };

export function grantAllows(grant: Grant, principal: string, keyId: string, req: GrantedRequest): boolean {
  if (grant.granteePrincipal !== principal || grant.keyId !== keyId) return false;
  if (!grant.operations.includes(req.operation)) return false;
  switch (req.operation) {
    case "DescribeKey":
    case "RetireGrant":
      return true;
    case "CreateGrant":
      return childWithinParent(grant, req.child);
    default:
      return contextSatisfies(grant.constraints, req.context);
  }
}

export function grantListEntry(g: Grant) {
  return {
    KeyId: g.keyArn,
    GrantId: g.grantId,
    ...(g.name ? { Name: g.name } : {}),
    CreationDate: g.creationDate,
    GranteePrincipal: g.granteePrincipal,
    ...(g.retiringPrincipal ? { RetiringPrincipal: g.retiringPrincipal } : {}),
    IssuingAccount: g.issuingAccount,
    Operations: g.operations,
    ...(g.constraints ? { Constraints: g.constraints } : {}),
  };
}
