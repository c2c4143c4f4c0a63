import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { MAX_READ_BYTES, decryptBlock, encryptBlock, validateRange, validateReadSize, validateWrite } from "./blocks.js";

const key = randomBytes(32);
const vol = "vol-0123456789abcdef0";

test("a block reads back as written and is ciphertext at rest", () => {
  const plain = Buffer.from("the quick brown fox ".repeat(50));
  const stored = encryptBlock(key, vol, 7, plain);
  assert.ok(!stored.includes(Buffer.from("the quick brown fox")));
  assert.equal(stored.length, plain.length + 28);
  assert.deepEqual(decryptBlock(key, vol, 7, stored), plain);
  assert.notDeepEqual(encryptBlock(key, vol, 7, plain), stored, "a fresh IV each write");
});

test("a block swapped to another index or volume, or read with another key, fails its integrity check", () => {
  const stored = encryptBlock(key, vol, 7, Buffer.from("data"));
  assert.throws(() => decryptBlock(key, vol, 8, stored), /integrity check/);
  assert.throws(() => decryptBlock(key, "vol-ffffffffffffffff0", 7, stored), /integrity check/);
  assert.throws(() => decryptBlock(randomBytes(32), vol, 7, stored), /integrity check/);
});

test("a tampered or truncated block fails its integrity check", () => {
  const stored = encryptBlock(key, vol, 7, Buffer.from("data"));
  const flipped = Buffer.from(stored);
  flipped[stored.length - 1]! ^= 1;
  assert.throws(() => decryptBlock(key, vol, 7, flipped), { name: "IncorrectState" });
  assert.throws(() => decryptBlock(key, vol, 7, stored.subarray(0, 20)), { name: "IncorrectState" });
});

test("block sizes and counts have limits with clear messages", () => {
  assert.throws(() => validateWrite(0, []), /1 to 256 blocks/);
  assert.throws(() => validateWrite(0, [Buffer.alloc(65537)]), /1 to 65536 bytes/);
  assert.throws(() => validateWrite(0, [Buffer.alloc(0)]), /1 to 65536 bytes/);
  assert.throws(() => validateRange(0, 257), /1 to 256/);
  assert.throws(() => validateRange(2 ** 32 - 1, 2), /out of range/);
  assert.doesNotThrow(() => validateWrite(10, [Buffer.alloc(4096), Buffer.alloc(1)]));
});

test("a read must fit in one gRPC response", () => {
  const full = Buffer.alloc(65536 + 28);
  assert.doesNotThrow(() => validateReadSize(0, Array.from({ length: 120 }, () => full)));
  assert.doesNotThrow(() => validateReadSize(0, [null, null]));
  assert.throws(() => validateReadSize(0, Array.from({ length: 128 }, () => full)), /read fewer blocks/);
  assert.ok(MAX_READ_BYTES < 8 * 1024 * 1024);
});
