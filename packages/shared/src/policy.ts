// IAM policy documents (key policies and identity policies) and the evaluation of one
// statement list against one request, with AWS's matching rules: actions and condition keys
// are case-insensitive, `*` and `?` are wildcards, conditions AND across operators and keys
// and OR across a key's values, multi-valued keys need ForAllValues/ForAnyValue.
// Wildcard matching is wildcard-match's; ARN parsing is @aws-sdk/util-arn-parser's.
import wcmatch from "wildcard-match";
import { parse as parseArn, validate as isArn } from "@aws-sdk/util-arn-parser";
import { z } from "zod";
import { AwsError } from "./errors.js";

const stringOrList = z.union([z.string(), z.array(z.string()).min(1)]);
const principal = z.union([
  z.literal("*"),
  z.object({ AWS: stringOrList.optional(), Service: stringOrList.optional() }).strict(),
]);
const conditionValue = z.union([z.string(), z.boolean(), z.number(), z.array(z.union([z.string(), z.boolean(), z.number()]))]);
const statement = z
  .object({
    Sid: z.string().optional(),
    Effect: z.enum(["Allow", "Deny"]),
    Principal: principal.optional(),
    NotPrincipal: principal.optional(),
    Action: stringOrList.optional(),
    NotAction: stringOrList.optional(),
    Resource: stringOrList.optional(),
    NotResource: stringOrList.optional(),
    Condition: z.record(z.string(), z.record(z.string(), conditionValue)).optional(),
  })
  .strict()
  .refine((s) => (s.Action === undefined) !== (s.NotAction === undefined), { message: "each statement needs exactly one of Action or NotAction" });
const document = z
  .object({
    Version: z.enum(["2012-10-17", "2008-10-17"]).optional(),
    Id: z.string().optional(),
    Statement: z.union([statement, z.array(statement).min(1)]),
  })
  .strict();

export type Statement = z.infer<typeof statement>;
export interface PolicyDocument {
  Version?: string;
  Id?: string;
  Statement: Statement[];
}

const parsedPolicies = new Map<string, PolicyDocument>();
const MAX_CACHED_POLICIES = 1000;

/**
 * Parses and checks a policy document; a bad one is MalformedPolicyDocumentException naming
 * the problem. Every call reads its key's policy, so parsed documents are kept by their text.
 */
export function parsePolicy(text: string, maxBytes = 32 * 1024): PolicyDocument {
  const cached = parsedPolicies.get(text);
  if (cached) return cached;
  const doc = parsePolicyText(text, maxBytes);
  if (parsedPolicies.size >= MAX_CACHED_POLICIES) parsedPolicies.delete(parsedPolicies.keys().next().value!);
  parsedPolicies.set(text, doc);
  return doc;
}

function parsePolicyText(text: string, maxBytes: number): PolicyDocument {
  if (Buffer.byteLength(text) > maxBytes) throw new AwsError("MalformedPolicyDocumentException", `The policy is larger than ${maxBytes} bytes.`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new AwsError("MalformedPolicyDocumentException", "The policy is not valid JSON.");
  }
  const parsed = document.safeParse(json);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw new AwsError("MalformedPolicyDocumentException", `The policy is malformed at ${i.path.join(".") || "(document)"}: ${i.message}`);
  }
  const doc = parsed.data;
  return { ...doc, Statement: Array.isArray(doc.Statement) ? doc.Statement : [doc.Statement] };
}

/** What a request looks like to a policy. Condition keys are matched case-insensitively. */
export interface RequestContext {
  /** The caller's ARN (an IAM user or role, the account root, or an STS assumed-role session). */
  principal: string;
  /** e.g. "kms:Decrypt". */
  action: string;
  /** The key ARN, or "*" for actions on no key (ListKeys, CreateKey). */
  resource: string;
  conditions: Record<string, string | boolean | string[]>;
}

const list = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
// Every call matches the same few patterns (kms:*, key ARNs): compile each once.
const compiled = new Map<string, (value: string) => boolean>();
const matcher = (pattern: string, caseInsensitive: boolean) => {
  const key = `${caseInsensitive ? "i" : "s"}:${pattern}`;
  let m = compiled.get(key);
  if (!m) {
    const match = wcmatch(caseInsensitive ? pattern.toLowerCase() : pattern, { separator: false });
    m = caseInsensitive ? (value: string) => match(value.toLowerCase()) : match;
    if (compiled.size > 10_000) compiled.clear();
    compiled.set(key, m);
  }
  return m;
};
const anyMatch = (patterns: string[], value: string, caseInsensitive = false) => patterns.some((p) => matcher(p, caseInsensitive)(value));

/**
 * The IAM identities a caller is, for matching a Principal element: an assumed-role session
 * is also its role; every principal of an account is matched by that account's root.
 */
export function principalIdentities(principal: string): string[] {
  if (!isArn(principal)) return [principal];
  const arn = parseArn(principal);
  const ids = [principal];
  if (arn.service === "sts" && arn.resource.startsWith("assumed-role/")) {
    const role = arn.resource.split("/")[1];
    ids.push(`arn:${arn.partition}:iam::${arn.accountId}:role/${role}`);
  }
  return ids;
}

/** The account a principal ARN belongs to. */
export const principalAccount = (principal: string): string | undefined => (isArn(principal) ? parseArn(principal).accountId : undefined);

/** Is this a Principal element that names the account itself (delegating to IAM)? */
export function isAccountPrincipal(value: string, account: string): boolean {
  return value === account || value === `arn:aws:iam::${account}:root`;
}

function principalMatches(p: Statement["Principal"], caller: string): boolean {
  if (p === undefined) return true; // identity policies have no Principal: they apply to their owner
  if (p === "*") return true;
  const aws = list(p.AWS);
  if (aws.includes("*")) return true;
  const ids = principalIdentities(caller);
  const account = principalAccount(caller);
  // The account (root or bare id) stands for every principal in it.
  return aws.some((a) => ids.includes(a) || (account !== undefined && isAccountPrincipal(a, account)));
}

function conditionValues(v: unknown): string[] {
  return (Array.isArray(v) ? v : [v]).map((x) => String(x));
}

/** Evaluates one condition operator over one key. Unknown operators never match (fail closed). */
function conditionHolds(operator: string, key: string, expected: unknown, conditions: RequestContext["conditions"]): boolean {
  let op = operator;
  let set: "all" | "any" | undefined;
  if (op.startsWith("ForAllValues:")) [set, op] = ["all", op.slice("ForAllValues:".length)];
  else if (op.startsWith("ForAnyValue:")) [set, op] = ["any", op.slice("ForAnyValue:".length)];
  const ifExists = op.endsWith("IfExists");
  if (ifExists) op = op.slice(0, -"IfExists".length);

  const actualKey = Object.keys(conditions).find((k) => k.toLowerCase() === key.toLowerCase());
  const actual = actualKey === undefined ? undefined : conditions[actualKey];
  const wanted = conditionValues(expected);
  if (op === "Null") return wanted.includes(String(actual === undefined));
  if (actual === undefined) return set === "all" || ifExists;
  const values = Array.isArray(actual) ? actual : [String(actual)];

  const test = (value: string): boolean => {
    switch (op) {
      case "StringEquals":
      case "ArnEquals":
        return wanted.includes(value);
      case "StringNotEquals":
      case "ArnNotEquals":
        return !wanted.includes(value);
      case "StringEqualsIgnoreCase":
        return wanted.some((w) => w.toLowerCase() === value.toLowerCase());
      case "StringNotEqualsIgnoreCase":
        return !wanted.some((w) => w.toLowerCase() === value.toLowerCase());
      case "StringLike":
      case "ArnLike":
        return anyMatch(wanted, value);
      case "StringNotLike":
      case "ArnNotLike":
        return !anyMatch(wanted, value);
      case "Bool":
        return wanted.some((w) => w.toLowerCase() === value.toLowerCase());
      default:
        return false;
    }
  };
  if (set === "all") return values.every(test);
  if (set === "any") return values.some(test);
  // A negated operator on a single-valued key must hold for the value; a positive one for any value.
  return values.length === 1 ? test(values[0]!) : values.some(test);
}

export function statementApplies(s: Statement, ctx: RequestContext, checkPrincipal: boolean): boolean {
  if (checkPrincipal) {
    if (s.Principal !== undefined && !principalMatches(s.Principal, ctx.principal)) return false;
    if (s.NotPrincipal !== undefined && principalMatches(s.NotPrincipal, ctx.principal)) return false;
  }
  if (s.Action !== undefined && !anyMatch(list(s.Action), ctx.action, true)) return false;
  if (s.NotAction !== undefined && anyMatch(list(s.NotAction), ctx.action, true)) return false;
  // In a key policy, "*" means "this key"; in an identity policy it means every resource.
  if (s.Resource !== undefined && !anyMatch(list(s.Resource), ctx.resource)) return false;
  if (s.NotResource !== undefined && anyMatch(list(s.NotResource), ctx.resource)) return false;
  for (const [operator, keys] of Object.entries(s.Condition ?? {})) {
    for (const [key, expected] of Object.entries(keys)) {
      if (!conditionHolds(operator, key, expected, ctx.conditions)) return false;
    }
  }
  return true;
}
