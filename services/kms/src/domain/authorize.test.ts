// The decision engine, table-driven: each case names the AWS rule it checks.
import { test } from "node:test";
import assert from "node:assert/strict";
import { type AuthorizationRequest, type KmsAction, authorize } from "./authorize.js";
import { type KeyRecord, awsManagedKeyPolicy, defaultKeyPolicy } from "./keys.js";
import { type Grant, newGrantId } from "./grants.js";
import { type PolicyDocument, parsePolicy } from "@envelope/shared";

const p = { account: "111122223333", region: "us-west-2" };
const ACCT = p.account;
const keyArn = `arn:aws:kms:us-west-2:${ACCT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
const key = (keyManager: "AWS" | "CUSTOMER" = "CUSTOMER"): KeyRecord => ({
  keyId: "1234abcd-12ab-34cd-56ef-1234567890ab", arn: keyArn, accountId: ACCT, creationDate: 0, description: "",
  keyState: "Enabled", keyManager, policy: "", wrappedMaterial: "",
});
const user = (name: string) => ({ principal: `arn:aws:iam::${ACCT}:user/${name}` });
const wsadmin = user("wsadmin");
const viaWorkspaces = { ...wsadmin, viaService: "workspaces.us-west-2.amazonaws.com" };
const ebsSession = { principal: `arn:aws:sts::${ACCT}:assumed-role/aws:ec2-infrastructure/ws-abc123def`, viaService: "ec2.us-west-2.amazonaws.com" };
const wsSession = { principal: `arn:aws:sts::${ACCT}:assumed-role/aws:workspaces-infrastructure/ws-abc123def`, viaService: "ec2.us-west-2.amazonaws.com" };
const sidDir = { "aws:workspaces:sid-directoryid": "[S-1-5-21-277731876-1789304096-451871588-1107]@[d-1234abcd01]" };
const volCtx = { ...sidDir, "aws:ebs:id": "vol-0123456789abcdef0" };

const doc = (...Statement: object[]): PolicyDocument => parsePolicy(JSON.stringify({ Version: "2012-10-17", Statement }));
const allow = (Action: string | string[], extra: object = {}) => ({ Effect: "Allow", Action, Resource: "*", ...extra });
const deny = (Action: string | string[], extra: object = {}) => ({ Effect: "Deny", Action, Resource: "*", ...extra });
const ADMIN = doc(allow("*"));
const SEED_IAM = doc(
  { Effect: "Allow", Action: "kms:CreateGrant", Resource: keyArn },
  { Effect: "Allow", Action: ["kms:ListAliases", "kms:ListKeys"], Resource: "*" },
);
const DEFAULT = parsePolicy(defaultKeyPolicy(p));
const MANAGED = parsePolicy(awsManagedKeyPolicy(p, "workspaces"));
// The console's default key policy, with wsadmin as a key user and no root delegation of use.
const keyUsers = (principals: string[]) =>
  doc(
    { Sid: "Allow access for Key Administrators", Effect: "Allow", Principal: { AWS: `arn:aws:iam::${ACCT}:user/admin` }, Action: ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion"], Resource: "*" },
    { Sid: "Allow use of the key", Effect: "Allow", Principal: { AWS: principals }, Action: ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"], Resource: "*" },
    { Sid: "Allow attachment of persistent resources", Effect: "Allow", Principal: { AWS: principals }, Action: ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"], Resource: "*", Condition: { Bool: { "kms:GrantIsForAWSResource": true } } },
  );
const grant = (over: Partial<Grant> = {}): Grant => ({
  grantId: newGrantId(), keyId: key().keyId, keyArn, creationDate: 0, granteePrincipal: ebsSession.principal,
  issuingAccount: `arn:aws:iam::${ACCT}:root`, operations: ["Decrypt", "GenerateDataKeyWithoutPlaintext"],
  constraints: { EncryptionContextSubset: volCtx }, ...over,
});
const decryptCtx = (context: Record<string, string>) => ({ operation: "Decrypt" as const, context });
const childGrant = (ops: string[], constraints?: object) => ({
  operation: "CreateGrant" as const,
  child: { granteePrincipal: ebsSession.principal, operations: ops as never, ...(constraints ? { constraints } : {}) },
});

interface Case {
  rule: string;
  req: Partial<AuthorizationRequest> & { action: KmsAction };
  expect: "key-policy" | "iam-policy" | "grant" | "deny";
  because?: RegExp;
}

const cases: Case[] = [
  // Who is calling
  { rule: "a request that names no caller is denied", req: { action: "DescribeKey", caller: undefined, key: key(), keyPolicy: DEFAULT }, expect: "deny", because: /names no caller/ },
  // Key policy delegation to IAM
  { rule: "the default key policy's root statement delegates to IAM: an IAM allow is enough", req: { action: "Decrypt", caller: user("admin"), identityPolicies: [ADMIN], key: key(), keyPolicy: DEFAULT }, expect: "iam-policy" },
  { rule: "the root statement allows nothing by itself: no IAM policy, no access", req: { action: "Decrypt", caller: user("nobody"), identityPolicies: [], key: key(), keyPolicy: DEFAULT }, expect: "deny" },
  { rule: "an IAM allow without a key policy that delegates is not enough", req: { action: "Decrypt", caller: user("admin"), identityPolicies: [ADMIN], key: key(), keyPolicy: keyUsers([wsadmin.principal]) }, expect: "deny" },
  { rule: "a key policy naming the principal allows without any IAM policy", req: { action: "Decrypt", caller: wsadmin, identityPolicies: [], key: key(), keyPolicy: keyUsers([wsadmin.principal]) }, expect: "key-policy" },
  { rule: "a key policy naming a role allows that role's assumed-role sessions", req: { action: "Decrypt", caller: { principal: `arn:aws:sts::${ACCT}:assumed-role/Ops/alice` }, identityPolicies: [], key: key(), keyPolicy: keyUsers([`arn:aws:iam::${ACCT}:role/Ops`]) }, expect: "key-policy" },
  { rule: "a key policy naming one user does not allow another", req: { action: "Decrypt", caller: user("bob"), identityPolicies: [], key: key(), keyPolicy: keyUsers([wsadmin.principal]) }, expect: "deny" },
  { rule: "the account id as Principal is the account root (delegation)", req: { action: "Encrypt", caller: user("admin"), identityPolicies: [ADMIN], key: key(), keyPolicy: doc({ Effect: "Allow", Principal: { AWS: ACCT }, Action: "kms:*", Resource: "*" }) }, expect: "iam-policy" },
  { rule: "IAM policies of another account's principal do not count in this account", req: { action: "Decrypt", caller: { principal: "arn:aws:iam::999988887777:user/eve" }, identityPolicies: [ADMIN], key: key(), keyPolicy: DEFAULT }, expect: "deny" },
  // Actions and resources
  { rule: "action wildcards: kms:Create* covers kms:CreateGrant", req: { action: "CreateGrant", caller: user("admin"), identityPolicies: [], key: key(), keyPolicy: keyUsers([wsadmin.principal]) }, expect: "key-policy" },
  { rule: "action names are case-insensitive", req: { action: "Decrypt", caller: user("ops"), identityPolicies: [doc(allow("KMS:decrypt"))], key: key(), keyPolicy: DEFAULT }, expect: "iam-policy" },
  { rule: "NotAction allows every action but those listed", req: { action: "Decrypt", caller: user("ops"), identityPolicies: [doc({ Effect: "Allow", NotAction: "kms:ScheduleKeyDeletion", Resource: "*" })], key: key(), keyPolicy: DEFAULT }, expect: "iam-policy" },
  { rule: "NotAction does not allow the actions it lists", req: { action: "Decrypt", caller: user("ops"), identityPolicies: [doc({ Effect: "Allow", NotAction: "kms:Decrypt", Resource: "*" })], key: key(), keyPolicy: DEFAULT }, expect: "deny" },
  { rule: "an IAM allow on another key's ARN does not cover this key", req: { action: "CreateGrant", caller: wsadmin, identityPolicies: [doc({ Effect: "Allow", Action: "kms:CreateGrant", Resource: `arn:aws:kms:us-west-2:${ACCT}:key/other` })], key: key(), keyPolicy: DEFAULT }, expect: "deny" },
  { rule: "resource wildcards match key ARNs", req: { action: "CreateGrant", caller: wsadmin, identityPolicies: [doc({ Effect: "Allow", Action: "kms:CreateGrant", Resource: `arn:aws:kms:us-west-2:${ACCT}:key/*` })], key: key(), keyPolicy: DEFAULT }, expect: "iam-policy" },
  { rule: "the seed's IAM policy allows kms:CreateGrant on its key", req: { action: "CreateGrant", caller: wsadmin, identityPolicies: [SEED_IAM], key: key(), keyPolicy: DEFAULT }, expect: "iam-policy" },
  { rule: "the seed's IAM policy does not allow Decrypt", req: { action: "Decrypt", caller: wsadmin, identityPolicies: [SEED_IAM], key: key(), keyPolicy: DEFAULT }, expect: "deny" },
  { rule: "actions on no key (ListKeys) need only an IAM allow", req: { action: "ListKeys", caller: wsadmin, identityPolicies: [SEED_IAM] }, expect: "iam-policy" },
  { rule: "actions on no key are denied without an IAM allow", req: { action: "CreateKey", caller: wsadmin, identityPolicies: [SEED_IAM] }, expect: "deny" },
  // Explicit deny
  { rule: "an explicit deny in an identity policy beats a key policy allow", req: { action: "Decrypt", caller: wsadmin, identityPolicies: [doc(deny("kms:Decrypt"))], key: key(), keyPolicy: keyUsers([wsadmin.principal]) }, expect: "deny", because: /explicit deny in an identity-based policy/ },
  { rule: "an explicit deny in the key policy beats an IAM allow", req: { action: "Decrypt", caller: user("admin"), identityPolicies: [ADMIN], key: key(), keyPolicy: doc(...DEFAULT.Statement, { Sid: "NoDecrypt", ...deny("kms:Decrypt", { Principal: "*" }) }) }, expect: "deny", because: /statement 'NoDecrypt'/ },
  { rule: "an explicit deny beats a grant", req: { action: "Decrypt", caller: ebsSession, identityPolicies: [], key: key(), keyPolicy: doc(...DEFAULT.Statement, deny("kms:Decrypt", { Principal: { AWS: "*" } })), grants: [grant()], grantRequest: decryptCtx(volCtx) }, expect: "deny" },
  { rule: "a deny for another action does not apply", req: { action: "Decrypt", caller: user("admin"), identityPolicies: [ADMIN, doc(deny("kms:ScheduleKeyDeletion"))], key: key(), keyPolicy: DEFAULT }, expect: "iam-policy" },
  { rule: "a key-policy deny for another principal does not apply", req: { action: "Decrypt", caller: user("admin"), identityPolicies: [ADMIN], key: key(), keyPolicy: doc(...DEFAULT.Statement, deny("kms:*", { Principal: { AWS: `arn:aws:iam::${ACCT}:user/eve` } })) }, expect: "iam-policy" },
  // AWS managed key: kms:ViaService and kms:CallerAccount
  { rule: "aws/workspaces: the account may use it through WorkSpaces (kms:ViaService)", req: { action: "CreateGrant", caller: viaWorkspaces, identityPolicies: [], key: key("AWS"), keyPolicy: MANAGED }, expect: "key-policy" },
  { rule: "aws/workspaces: not directly, without the service", req: { action: "GenerateDataKey", caller: user("admin"), identityPolicies: [ADMIN], key: key("AWS"), keyPolicy: MANAGED }, expect: "deny" },
  { rule: "aws/workspaces: not through another service", req: { action: "CreateGrant", caller: { ...wsadmin, viaService: "s3.us-west-2.amazonaws.com" }, identityPolicies: [ADMIN], key: key("AWS"), keyPolicy: MANAGED }, expect: "deny" },
  { rule: "aws/workspaces: kms:CallerAccount must be the key's account", req: { action: "CreateGrant", caller: { principal: "arn:aws:iam::999988887777:user/eve", viaService: "workspaces.us-west-2.amazonaws.com" }, identityPolicies: [], key: key("AWS"), keyPolicy: MANAGED }, expect: "deny" },
  { rule: "aws/workspaces: the account reads metadata directly (Describe*), via IAM", req: { action: "DescribeKey", caller: user("admin"), identityPolicies: [ADMIN], key: key("AWS"), keyPolicy: MANAGED }, expect: "iam-policy" },
  // Condition operators and keys
  { rule: "kms:GrantIsForAWSResource: key users may create grants only for AWS services", req: { action: "CreateGrant", caller: wsadmin, identityPolicies: [], key: key(), keyPolicy: keyUsers([wsadmin.principal]), grantRequest: childGrant(["Decrypt"]) }, expect: "deny" },
  { rule: "kms:GrantIsForAWSResource is true when a service creates the grant for the user", req: { action: "CreateGrant", caller: viaWorkspaces, identityPolicies: [], key: key(), keyPolicy: keyUsers([wsadmin.principal]), conditions: { "kms:GrantIsForAWSResource": true } }, expect: "key-policy" },
  { rule: "kms:EncryptionContext:<key> with StringEquals", req: { action: "Decrypt", caller: user("ops"), identityPolicies: [doc(allow("kms:Decrypt", { Condition: { StringEquals: { "kms:EncryptionContext:aws:ebs:id": "vol-0123456789abcdef0" } } }))], key: key(), keyPolicy: DEFAULT, conditions: { "kms:EncryptionContext:aws:ebs:id": "vol-0123456789abcdef0" } }, expect: "iam-policy" },
  { rule: "kms:EncryptionContext:<key> mismatch denies", req: { action: "Decrypt", caller: user("ops"), identityPolicies: [doc(allow("kms:Decrypt", { Condition: { StringEquals: { "kms:EncryptionContext:aws:ebs:id": "vol-0123456789abcdef0" } } }))], key: key(), keyPolicy: DEFAULT, conditions: { "kms:EncryptionContext:aws:ebs:id": "vol-ffffffffffffffff0" } }, expect: "deny" },
  { rule: "condition keys are case-insensitive", req: { action: "Decrypt", caller: user("ops"), identityPolicies: [doc(allow("kms:Decrypt", { Condition: { StringEquals: { "KMS:CALLERACCOUNT": ACCT } } }))], key: key(), keyPolicy: DEFAULT }, expect: "iam-policy" },
  { rule: "a missing condition key fails StringEquals", req: { action: "Decrypt", caller: user("ops"), identityPolicies: [doc(allow("kms:Decrypt", { Condition: { StringEquals: { "kms:ViaService": "ec2.us-west-2.amazonaws.com" } } }))], key: key(), keyPolicy: DEFAULT }, expect: "deny" },
  { rule: "...IfExists passes when the key is absent", req: { action: "Decrypt", caller: user("ops"), identityPolicies: [doc(allow("kms:Decrypt", { Condition: { StringEqualsIfExists: { "kms:ViaService": "ec2.us-west-2.amazonaws.com" } } }))], key: key(), keyPolicy: DEFAULT }, expect: "iam-policy" },
  { rule: "ForAllValues:StringEquals on kms:EncryptionContextKeys", req: { action: "Decrypt", caller: user("ops"), identityPolicies: [doc(allow("kms:Decrypt", { Condition: { "ForAllValues:StringEquals": { "kms:EncryptionContextKeys": ["aws:ebs:id", "aws:workspaces:sid-directoryid"] } } }))], key: key(), keyPolicy: DEFAULT, conditions: { "kms:EncryptionContextKeys": Object.keys(volCtx) } }, expect: "iam-policy" },
  { rule: "ForAllValues fails when one value is outside the set", req: { action: "Decrypt", caller: user("ops"), identityPolicies: [doc(allow("kms:Decrypt", { Condition: { "ForAllValues:StringEquals": { "kms:EncryptionContextKeys": ["aws:ebs:id"] } } }))], key: key(), keyPolicy: DEFAULT, conditions: { "kms:EncryptionContextKeys": Object.keys(volCtx) } }, expect: "deny" },
  { rule: "ForAnyValue:StringEquals on kms:GrantOperations", req: { action: "CreateGrant", caller: user("ops"), identityPolicies: [doc(allow("kms:CreateGrant", { Condition: { "ForAnyValue:StringEquals": { "kms:GrantOperations": "Decrypt" } } }))], key: key(), keyPolicy: DEFAULT, conditions: { "kms:GrantOperations": ["Decrypt", "RetireGrant"] } }, expect: "iam-policy" },
  { rule: "ForAllValues on kms:GrantOperations limits what may be granted", req: { action: "CreateGrant", caller: user("ops"), identityPolicies: [doc(allow("kms:CreateGrant", { Condition: { "ForAllValues:StringEquals": { "kms:GrantOperations": ["Decrypt"] } } }))], key: key(), keyPolicy: DEFAULT, conditions: { "kms:GrantOperations": ["Decrypt", "Encrypt"] } }, expect: "deny" },
  { rule: "aws:PrincipalArn with StringLike", req: { action: "Decrypt", caller: user("ws-ops-1"), identityPolicies: [], key: key(), keyPolicy: doc({ Effect: "Allow", Principal: { AWS: "*" }, Action: "kms:Decrypt", Resource: "*", Condition: { StringLike: { "aws:PrincipalArn": `arn:aws:iam::${ACCT}:user/ws-ops-*` } } }) }, expect: "key-policy" },
  { rule: "StringNotEquals denies the listed value", req: { action: "Decrypt", caller: user("ops"), identityPolicies: [doc(allow("kms:Decrypt", { Condition: { StringNotEquals: { "kms:CallerAccount": ACCT } } }))], key: key(), keyPolicy: DEFAULT }, expect: "deny" },
  { rule: "Null: true requires the key to be absent", req: { action: "Decrypt", caller: user("ops"), identityPolicies: [doc(allow("kms:Decrypt", { Condition: { Null: { "kms:ViaService": "true" } } }))], key: key(), keyPolicy: DEFAULT }, expect: "iam-policy" },
  { rule: "an unknown condition operator never matches (fails closed)", req: { action: "Decrypt", caller: user("ops"), identityPolicies: [doc(allow("kms:Decrypt", { Condition: { StringSortOf: { "kms:CallerAccount": ACCT } } }))], key: key(), keyPolicy: DEFAULT }, expect: "deny" },
  // Grants
  { rule: "a grant allows its grantee its operations when the context satisfies EncryptionContextSubset", req: { action: "Decrypt", caller: ebsSession, identityPolicies: [], key: key(), keyPolicy: DEFAULT, grants: [grant()], grantRequest: decryptCtx(volCtx) }, expect: "grant" },
  { rule: "a grant's constraint refuses another volume's context", req: { action: "Decrypt", caller: ebsSession, identityPolicies: [], key: key(), keyPolicy: DEFAULT, grants: [grant()], grantRequest: decryptCtx({ ...sidDir, "aws:ebs:id": "vol-ffffffffffffffff0" }) }, expect: "deny" },
  { rule: "a grant does not allow operations it lacks", req: { action: "Encrypt", caller: ebsSession, identityPolicies: [], key: key(), keyPolicy: DEFAULT, grants: [grant()], grantRequest: { operation: "Encrypt", context: volCtx } }, expect: "deny" },
  { rule: "a grant allows only its grantee", req: { action: "Decrypt", caller: { principal: `arn:aws:sts::${ACCT}:assumed-role/aws:ec2-infrastructure/ws-other0001` }, identityPolicies: [], key: key(), keyPolicy: DEFAULT, grants: [grant()], grantRequest: decryptCtx(volCtx) }, expect: "deny" },
  { rule: "a grant for another key does not apply", req: { action: "Decrypt", caller: ebsSession, identityPolicies: [], key: key(), keyPolicy: DEFAULT, grants: [grant({ keyId: "other" })], grantRequest: decryptCtx(volCtx) }, expect: "deny" },
  { rule: "EncryptionContextEquals refuses extra pairs", req: { action: "Decrypt", caller: ebsSession, identityPolicies: [], key: key(), keyPolicy: DEFAULT, grants: [grant({ constraints: { EncryptionContextEquals: sidDir } })], grantRequest: decryptCtx(volCtx) }, expect: "deny" },
  { rule: "CreateGrant through a grant: a narrower child is allowed", req: { action: "CreateGrant", caller: wsSession, identityPolicies: [], key: key(), keyPolicy: DEFAULT, grants: [grant({ granteePrincipal: wsSession.principal, operations: ["Decrypt", "CreateGrant"], constraints: { EncryptionContextSubset: sidDir } })], grantRequest: childGrant(["Decrypt"], { EncryptionContextSubset: volCtx }) }, expect: "grant" },
  { rule: "CreateGrant through a grant: a child wider than its parent is refused", req: { action: "CreateGrant", caller: wsSession, identityPolicies: [], key: key(), keyPolicy: DEFAULT, grants: [grant({ granteePrincipal: wsSession.principal, operations: ["Decrypt", "CreateGrant"], constraints: { EncryptionContextSubset: sidDir } })], grantRequest: childGrant(["Decrypt", "Encrypt"], { EncryptionContextSubset: volCtx }) }, expect: "deny" },
  { rule: "DescribeKey through a grant ignores its constraints", req: { action: "DescribeKey", caller: ebsSession, identityPolicies: [], key: key(), keyPolicy: DEFAULT, grants: [grant({ operations: ["DescribeKey"] })], grantRequest: { operation: "DescribeKey" } }, expect: "grant" },
];

for (const c of cases) {
  test(`authorize: ${c.rule}`, () => {
    const d = authorize(p, { identityPolicies: [], caller: undefined, ...c.req });
    if (c.expect === "deny") {
      assert.equal(d.allowed, false, "expected a denial");
      if (!d.allowed) {
        assert.equal(d.error.code, "AccessDeniedException");
        assert.match(d.error.message, new RegExp(`kms:${c.req.action}`));
        if (c.because) assert.match(d.error.message, c.because);
      }
    } else {
      assert.equal(d.allowed, true, `expected an allow, got: ${!d.allowed ? d.error.message : ""}`);
      if (d.allowed) assert.equal(d.via, c.expect);
    }
  });
}

test("the table covers at least 40 rules", () => assert.ok(cases.length >= 40, `${cases.length} cases`));
