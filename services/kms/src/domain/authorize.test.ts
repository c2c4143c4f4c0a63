import { test } from "node:test";
import assert from "node:assert/strict";
import { authorize } from "./authorize.js";
import type { KeyRecord } from "./keys.js";
import { type Grant, newGrantId } from "./grants.js";

const p = { account: "111122223333", region: "us-west-2" };
const key = (keyManager: "AWS" | "CUSTOMER"): KeyRecord => ({
  keyId: "k1", arn: "arn:aws:kms:us-west-2:111122223333:key/k1", accountId: p.account, creationDate: 0,
  description: "", keyState: "Enabled", keyManager, wrappedMaterial: "",
});
const admin = { principal: "arn:aws:iam::111122223333:user/wsadmin" };
const ebs = { principal: "arn:aws:sts::111122223333:assumed-role/aws:ec2-infrastructure/ws-1", viaService: "ec2.us-west-2.amazonaws.com" };
const ctx = { "aws:ebs:id": "vol-1" };
const grant: Grant = {
  grantId: newGrantId(), keyId: "k1", keyArn: key("AWS").arn, creationDate: 0, granteePrincipal: ebs.principal,
  issuingAccount: "arn:aws:iam::111122223333:root", operations: ["Decrypt"], constraints: { EncryptionContextSubset: ctx },
};

test("no caller is denied", () => {
  const d = authorize(p, undefined, "DescribeKey", key("CUSTOMER"), []);
  assert.equal(d.allowed, false);
});

test("account principals may use a customer managed key (default key policy delegates to IAM)", () => {
  assert.deepEqual(authorize(p, admin, "Decrypt", key("CUSTOMER"), [], { operation: "Decrypt", context: {} }), { allowed: true, via: "policy" });
});

test("another account's principal is denied", () => {
  const d = authorize(p, { principal: "arn:aws:iam::999999999999:user/eve" }, "Decrypt", key("CUSTOMER"), [], { operation: "Decrypt", context: {} });
  assert.equal(d.allowed, false);
});

test("the AWS managed key is usable by the account only through its AWS service (kms:ViaService)", () => {
  const k = key("AWS");
  assert.equal(authorize(p, admin, "GenerateDataKey", k, [], { operation: "GenerateDataKey", context: {} }).allowed, false);
  assert.equal(authorize(p, { ...admin, viaService: "workspaces.us-west-2.amazonaws.com" }, "CreateGrant", k, []).allowed, true);
  assert.equal(authorize(p, { ...admin, viaService: "s3.us-west-2.amazonaws.com" }, "CreateGrant", k, []).allowed, false);
  assert.equal(authorize(p, admin, "DescribeKey", k, []).allowed, true, "metadata is readable directly");
});

test("a service session is allowed only by a matching grant, which the decision names", () => {
  const k = key("AWS");
  const d = authorize(p, ebs, "Decrypt", k, [grant], { operation: "Decrypt", context: ctx });
  assert.deepEqual(d, { allowed: true, via: "grant", grantId: grant.grantId });
  assert.equal(authorize(p, ebs, "Decrypt", k, [grant], { operation: "Decrypt", context: { "aws:ebs:id": "vol-2" } }).allowed, false);
  assert.equal(authorize(p, ebs, "Decrypt", k, [], { operation: "Decrypt", context: ctx }).allowed, false);
  const denied = authorize(p, ebs, "Encrypt", k, [grant], { operation: "Encrypt", context: ctx });
  assert.ok(!denied.allowed && denied.error.code === "AccessDeniedException" && /kms:Encrypt/.test(denied.error.message));
});
