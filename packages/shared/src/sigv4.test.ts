import { test } from "node:test";
import assert from "node:assert/strict";
import type { Request } from "express";
import { callerFromSigV4, parseSigV4 } from "./sigv4.js";

const req = (headers: Record<string, string>) => ({ header: (n: string) => headers[n.toLowerCase()] }) as unknown as Request;
const auth = (akid: string) =>
  `AWS4-HMAC-SHA256 Credential=${akid}/20261129/us-west-2/kms/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=${"a".repeat(64)}`;
const p = { account: "111122223333", region: "us-west-2" };

test("a well-formed SigV4 header names the caller by its access key", () => {
  const r = req({ authorization: auth("AKIAWSADMIN000000001"), "x-amz-date": "20261129T000000Z" });
  assert.equal(parseSigV4(r).service, "kms");
  assert.deepEqual(callerFromSigV4(r, p), { principal: "arn:aws:iam::111122223333:user/wsadmin" });
});

test("missing or malformed signatures get AWS's errors", () => {
  assert.throws(() => parseSigV4(req({})), { name: "MissingAuthenticationTokenException" });
  assert.throws(() => parseSigV4(req({ authorization: "Bearer x", "x-amz-date": "x" })), { name: "IncompleteSignatureException" });
  assert.throws(() => parseSigV4(req({ authorization: auth("AKIAWSADMIN000000001") })), { name: "IncompleteSignatureException" });
  assert.throws(() => parseSigV4(req({ authorization: auth("lower-case"), "x-amz-date": "x" })), { name: "UnrecognizedClientException" });
});
