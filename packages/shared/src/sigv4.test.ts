import { test } from "node:test";
import assert from "node:assert/strict";
import type { Request } from "express";
import { SignatureV4 } from "@smithy/signature-v4";
import { Hash } from "@smithy/hash-node";
import { HttpRequest } from "@smithy/protocol-http";
import { parseSigV4, verifySigV4 } from "./sigv4.js";
import { IdentityStore } from "./identity.js";

const identities = new IdentityStore("111122223333", {
  account: "111122223333",
  users: [{ name: "wsadmin", accessKeys: [{ accessKeyId: "AKIAWSADMIN000000001", secretAccessKey: "wsadmin-secret" }], policies: [] }],
  roles: [],
});

/** A request signed as the AWS SDK signs it, seen the way express shows it to the edge. */
async function signed(opts: { secret?: string; body?: string; date?: Date; akid?: string; applyChecksum?: boolean } = {}) {
  const body = opts.body ?? '{"KeyId":"alias/aws/workspaces"}';
  const signer = new SignatureV4({
    credentials: { accessKeyId: opts.akid ?? "AKIAWSADMIN000000001", secretAccessKey: opts.secret ?? "wsadmin-secret" },
    region: "us-west-2",
    service: "kms",
    sha256: Hash.bind(null, "sha256"),
    applyChecksum: opts.applyChecksum ?? true,
  });
  const out = await signer.sign(
    new HttpRequest({
      method: "POST", protocol: "http:", hostname: "localhost", port: 4571, path: "/",
      headers: { host: "localhost:4571", "content-type": "application/x-amz-json-1.1", "x-amz-target": "TrentService.DescribeKey" },
      body,
    }),
    { signingDate: opts.date ?? new Date() },
  );
  const headers = Object.fromEntries(Object.entries(out.headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
  return { req: { method: "POST", originalUrl: "/", headers, header: (n: string) => headers[n.toLowerCase()] } as unknown as Request, body: Buffer.from(body) };
}

test("a request signed with the right secret names its IAM user", async () => {
  const { req, body } = await signed();
  assert.deepEqual(await verifySigV4(req, body, identities), { principal: "arn:aws:iam::111122223333:user/wsadmin" });
});

test("a request signed as the AWS CLI signs it (no x-amz-content-sha256 header) verifies too", async () => {
  const { req, body } = await signed({ applyChecksum: false });
  assert.equal(req.header("x-amz-content-sha256"), undefined);
  assert.deepEqual(await verifySigV4(req, body, identities), { principal: "arn:aws:iam::111122223333:user/wsadmin" });
});

test("a wrong secret is InvalidSignatureException", async () => {
  const { req, body } = await signed({ secret: "not-the-secret" });
  await assert.rejects(verifySigV4(req, body, identities), { name: "InvalidSignatureException", message: /does not match/ });
});

test("a body changed after signing is InvalidSignatureException", async () => {
  const { req } = await signed();
  await assert.rejects(verifySigV4(req, Buffer.from('{"KeyId":"alias/other"}'), identities), { name: "InvalidSignatureException" });
});

test("a request signed outside the allowed clock skew has an expired signature", async () => {
  const { req, body } = await signed({ date: new Date(Date.now() - 6 * 60 * 1000) });
  await assert.rejects(verifySigV4(req, body, identities), { name: "InvalidSignatureException", message: /Signature expired/ });
});

test("an access key nobody has is UnrecognizedClientException", async () => {
  const { req, body } = await signed({ akid: "AKIAUNKNOWN000000001" });
  await assert.rejects(verifySigV4(req, body, identities), { name: "UnrecognizedClientException" });
});

test("missing or malformed Authorization headers get AWS's errors", () => {
  const req = (headers: Record<string, string>) => ({ header: (n: string) => headers[n.toLowerCase()] }) as unknown as Request;
  assert.throws(() => parseSigV4(req({})), { name: "MissingAuthenticationTokenException" });
  assert.throws(() => parseSigV4(req({ authorization: "Bearer x", "x-amz-date": "x" })), { name: "IncompleteSignatureException" });
});
