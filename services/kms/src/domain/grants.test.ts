import { test } from "node:test";
import assert from "node:assert/strict";
import {
  type Grant, childWithinParent, contextSatisfies, grantAllows, grantIdFromToken, newGrantId, newGrantToken, validateGrantRequest,
} from "./grants.js";

const sidDir = { "aws:workspaces:sid-directoryid": "[S-1-5-21-277731876-1789304096-451871588-1107]@[d-1234abcd01]" };
const wsGrantee = "arn:aws:sts::111122223333:assumed-role/aws:workspaces-infrastructure/ws-abc123def";
const wsGrant: Grant = {
  grantId: newGrantId(),
  keyId: "k1",
  keyArn: "arn:aws:kms:us-west-2:111122223333:key/k1",
  creationDate: 0,
  granteePrincipal: wsGrantee,
  issuingAccount: "arn:aws:iam::111122223333:root",
  operations: ["Decrypt", "GenerateDataKeyWithoutPlaintext", "CreateGrant", "RetireGrant", "DescribeKey"],
  constraints: { EncryptionContextSubset: sidDir },
};

test("grant ids are 64 lowercase hex; tokens name their grant", () => {
  const id = newGrantId();
  assert.match(id, /^[0-9a-f]{64}$/);
  assert.equal(grantIdFromToken(newGrantToken(id)), id);
  assert.notEqual(newGrantToken(id), newGrantToken(id), "each CreateGrant returns a fresh token");
  assert.throws(() => grantIdFromToken("garbage"), /grant token is not valid/);
});

test("EncryptionContextSubset: the request context must include the pairs; extra pairs are fine", () => {
  const c = { EncryptionContextSubset: sidDir };
  assert.equal(contextSatisfies(c, { ...sidDir, "aws:ebs:id": "vol-1" }), true);
  assert.equal(contextSatisfies(c, {}), false);
  assert.equal(contextSatisfies(c, { "aws:workspaces:sid-directoryid": "[S-1-5-21-9]@[d-1234abcd01]" }), false);
});

test("EncryptionContextEquals: exactly these pairs; keys case-insensitive, values case-sensitive", () => {
  const c = { EncryptionContextEquals: { Purpose: "Test" } };
  assert.equal(contextSatisfies(c, { purpose: "Test" }), true);
  assert.equal(contextSatisfies(c, { Purpose: "test" }), false);
  assert.equal(contextSatisfies(c, { Purpose: "Test", more: "x" }), false);
});

test("a grant allows only its grantee, its key, its operations, under its constraints", () => {
  const ctx = { ...sidDir, "aws:ebs:id": "vol-1" };
  assert.equal(grantAllows(wsGrant, wsGrantee, "k1", { operation: "Decrypt", context: ctx }), true);
  assert.equal(grantAllows(wsGrant, "arn:aws:sts::111122223333:assumed-role/x/other", "k1", { operation: "Decrypt", context: ctx }), false);
  assert.equal(grantAllows(wsGrant, wsGrantee, "k2", { operation: "Decrypt", context: ctx }), false);
  assert.equal(grantAllows(wsGrant, wsGrantee, "k1", { operation: "Encrypt", context: ctx }), false);
  assert.equal(grantAllows(wsGrant, wsGrantee, "k1", { operation: "Decrypt", context: { "aws:ebs:id": "vol-1" } }), false);
  assert.equal(grantAllows(wsGrant, wsGrantee, "k1", { operation: "DescribeKey" }), true, "DescribeKey ignores constraints");
});

test("CreateGrant through a grant: the child must be no wider than the parent", () => {
  const ebsChild = validateGrantRequest({
    granteePrincipal: "arn:aws:sts::111122223333:assumed-role/aws:ec2-infrastructure/ws-abc123def",
    operations: ["Decrypt", "GenerateDataKeyWithoutPlaintext"],
    constraints: { EncryptionContextSubset: { ...sidDir, "aws:ebs:id": "vol-1" } },
  });
  assert.equal(childWithinParent(wsGrant, ebsChild), true, "adding pairs to a subset narrows it");
  assert.equal(childWithinParent(wsGrant, { ...ebsChild, operations: ["Encrypt"] }), false, "operations the parent lacks");
  assert.equal(childWithinParent(wsGrant, { ...ebsChild, constraints: undefined }), false, "dropping the constraint widens it");
  assert.equal(
    childWithinParent(wsGrant, { ...ebsChild, constraints: { EncryptionContextSubset: { "aws:workspaces:sid-directoryid": "[S-1-5-21-9]@[d-1234abcd01]" } } }),
    false,
    "another user's context",
  );
  assert.equal(childWithinParent(wsGrant, { ...ebsChild, constraints: { EncryptionContextEquals: { ...sidDir, "aws:ebs:id": "vol-1" } } }), true, "subset may become equals");
  const equalsParent: Grant = { ...wsGrant, constraints: { EncryptionContextEquals: sidDir } };
  assert.equal(childWithinParent(equalsParent, ebsChild), false, "equals may not become subset");
});

test("CreateGrant input is validated with messages that say what to fix", () => {
  assert.throws(() => validateGrantRequest({ operations: ["Decrypt"] }), /GranteePrincipal is required/);
  assert.throws(() => validateGrantRequest({ granteePrincipal: "a", operations: [] }), /at least one/);
  assert.throws(() => validateGrantRequest({ granteePrincipal: "a", operations: ["Sign"] }), /not a grant operation/);
  assert.throws(
    () => validateGrantRequest({ granteePrincipal: "a", operations: ["Decrypt"], constraints: { EncryptionContextSubset: { a: "1" }, EncryptionContextEquals: { a: "1" } } }),
    /not both/,
  );
  const nine = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`k${i}`, "v"]));
  assert.throws(() => validateGrantRequest({ granteePrincipal: "a", operations: ["Decrypt"], constraints: { EncryptionContextSubset: nine } }), /at most 8/);
});
