import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { blobKeyId, decryptBlob, encryptBlob, newKeyMaterial, unwrapKeyMaterial, wrapKeyMaterial } from "./crypto.js";
import { canonicalContext } from "./encryption-context.js";
import { AwsError } from "@envelope/shared";

const keyId = randomUUID();
const material = newKeyMaterial();
const ctx = { "aws:workspaces:sid-directoryid": "[S-1-5-21-1]@[d-1234abcd01]", "aws:ebs:id": "vol-0123456789abcdef0" };

test("a blob decrypts under its key and exact context, in any key order", () => {
  const dataKey = Buffer.from("0123456789abcdef0123456789abcdef");
  const blob = encryptBlob(keyId, material, dataKey, ctx);
  assert.equal(blobKeyId(blob), keyId);
  const reordered = { "aws:ebs:id": ctx["aws:ebs:id"], "aws:workspaces:sid-directoryid": ctx["aws:workspaces:sid-directoryid"] };
  assert.deepEqual(decryptBlob(material, blob, reordered), dataKey);
});

test("another context, a missing pair, an extra pair or another key is InvalidCiphertextException", () => {
  const blob = encryptBlob(keyId, material, Buffer.from("secret"), ctx);
  const bad = (fn: () => unknown) => assert.throws(fn, (e: unknown) => e instanceof AwsError && e.code === "InvalidCiphertextException");
  bad(() => decryptBlob(material, blob, { ...ctx, "aws:ebs:id": "vol-ffffffffffffffff0" }));
  bad(() => decryptBlob(material, blob, { "aws:ebs:id": ctx["aws:ebs:id"] }));
  bad(() => decryptBlob(material, blob, { ...ctx, extra: "x" }));
  bad(() => decryptBlob(newKeyMaterial(), blob, ctx));
  const tampered = Buffer.from(blob);
  tampered[tampered.length - 1]! ^= 1;
  bad(() => decryptBlob(material, tampered, ctx));
  bad(() => blobKeyId(Buffer.from("not a blob")));
});

test("the context encoding is unambiguous: {a:bc} and {ab:c} differ (the flaw other emulators have)", () => {
  assert.notDeepEqual(canonicalContext({ a: "bc" }), canonicalContext({ ab: "c" }));
  const blob = encryptBlob(keyId, material, Buffer.from("x"), { a: "bc" });
  assert.throws(() => decryptBlob(material, blob, { ab: "c" }));
});

test("key material is wrapped under the master key and bound to its key id", () => {
  const master = newKeyMaterial();
  const wrapped = wrapKeyMaterial(master, keyId, material);
  assert.ok(!Buffer.from(wrapped, "base64").includes(material), "wrapped form must not contain the material");
  assert.deepEqual(unwrapKeyMaterial(master, keyId, wrapped), material);
  assert.throws(() => unwrapKeyMaterial(master, randomUUID(), wrapped), /could not be unwrapped/);
  assert.throws(() => unwrapKeyMaterial(newKeyMaterial(), keyId, wrapped), /could not be unwrapped/);
});
