import { test } from "node:test";
import assert from "node:assert/strict";
import { cloudTrailEvent, matchesFilter, requestParameters, userIdentity } from "./audit.js";

const p = { account: "111122223333", region: "us-west-2" };
const ebs = { principal: "arn:aws:sts::111122223333:assumed-role/aws:ec2-infrastructure/ws-abc123def", viaService: "ec2.us-west-2.amazonaws.com" };

test("request parameters are camelCase, keep the encryption context, and drop blobs and tokens", () => {
  const params = requestParameters({
    KeyId: "alias/aws/workspaces",
    EncryptionContext: { "aws:ebs:id": "vol-1", MixedCase: "Kept" },
    CiphertextBlob: Buffer.from("secret"),
    Plaintext: Buffer.from("secret"),
    GrantTokens: ["token"],
  });
  assert.deepEqual(params, { keyId: "alias/aws/workspaces", encryptionContext: { "aws:ebs:id": "vol-1", MixedCase: "Kept" } });
});

test("a service session shows as an AssumedRole invoked by its service, as CloudTrail shows EBS", () => {
  const id = userIdentity(p, ebs);
  assert.equal(id.type, "AssumedRole");
  assert.equal(id.principalId, "111122223333:aws:ec2-infrastructure:ws-abc123def");
  assert.equal(id.invokedBy, "ec2.amazonaws.com");
  assert.deepEqual((id.sessionContext as { sessionIssuer: { arn: string } }).sessionIssuer.arn, "arn:aws:iam::111122223333:role/aws:ec2-infrastructure");
});

test("an event carries the key, the grant that allowed it, the trace and any error", () => {
  const keyArn = "arn:aws:kms:us-west-2:111122223333:key/k1";
  const e = cloudTrailEvent({ p, eventName: "Decrypt", caller: ebs, input: { EncryptionContext: { a: "b" } }, keyArn, grantId: "g".repeat(64), traceId: "t1", error: { code: "AccessDeniedException", message: "no" } });
  assert.equal(e.eventSource, "kms.amazonaws.com");
  assert.equal(e.readOnly, true);
  assert.deepEqual(e.resources, [{ accountId: p.account, type: "AWS::KMS::Key", ARN: keyArn }]);
  assert.equal(e.additionalEventData?.grantId, "g".repeat(64));
  assert.equal(e.errorCode, "AccessDeniedException");
  assert.equal(matchesFilter(e, { keyArn }), true);
  assert.equal(matchesFilter(e, { keyArn: "k1" }), true, "a key id matches its ARN");
  assert.equal(matchesFilter(e, { eventName: "Encrypt" }), false);
  assert.equal(matchesFilter(e, { principal: ebs.principal }), true);
});
