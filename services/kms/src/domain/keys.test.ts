import { test } from "node:test";
import assert from "node:assert/strict";
import { parseKeyReference, validateNewAliasName, assertUsable, type KeyRecord } from "./keys.js";

const p = { account: "111122223333", region: "us-west-2" };
const id = "1234abcd-12ab-34cd-56ef-1234567890ab";

test("a KeyId may be a key id, key ARN, alias name or alias ARN", () => {
  assert.deepEqual(parseKeyReference(p, id), { kind: "key", keyId: id });
  assert.deepEqual(parseKeyReference(p, `arn:aws:kms:us-west-2:111122223333:key/${id}`), { kind: "key", keyId: id });
  assert.deepEqual(parseKeyReference(p, "alias/aws/workspaces"), { kind: "alias", aliasName: "alias/aws/workspaces" });
  assert.deepEqual(parseKeyReference(p, "arn:aws:kms:us-west-2:111122223333:alias/workspaces-demo"), { kind: "alias", aliasName: "alias/workspaces-demo" });
});

test("bad key references get AWS's errors", () => {
  assert.throws(() => parseKeyReference(p, "arn:aws:s3:::bucket"), { name: "InvalidArnException" });
  assert.throws(() => parseKeyReference(p, "not-a-key"), { name: "NotFoundException" });
  assert.throws(() => parseKeyReference(p, `arn:aws:kms:eu-west-1:111122223333:key/${id}`), { name: "NotFoundException" });
  assert.throws(() => parseKeyReference(p, 42), { name: "ValidationException" });
});

test("alias/aws/ is reserved for AWS managed keys", () => {
  assert.equal(validateNewAliasName("alias/workspaces-demo"), "alias/workspaces-demo");
  assert.throws(() => validateNewAliasName("alias/aws/mine"), { name: "InvalidAliasNameException" });
  assert.throws(() => validateNewAliasName("workspaces-demo"), { name: "ValidationException" });
});

test("disabled and pending-deletion keys refuse cryptographic use but not metadata", () => {
  const k = { arn: "arn:k", keyState: "Disabled" } as KeyRecord;
  assert.throws(() => assertUsable(k, "cryptographic"), { name: "DisabledException" });
  assert.doesNotThrow(() => assertUsable(k, "metadata"));
  assert.throws(() => assertUsable({ ...k, keyState: "PendingDeletion" }, "create-grant"), { name: "KMSInvalidStateException" });
});
