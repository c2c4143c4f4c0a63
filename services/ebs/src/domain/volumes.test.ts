import { test } from "node:test";
import assert from "node:assert/strict";
import { type VolumeRecord, assertCanAttach, assertCanDelete, assertCanDetach, assertReadyForIo, newVolumeId, notFound, validateVolumeId, volumeEncryptionContext } from "./volumes.js";

test("volume ids are vol- and 17 lowercase hex, and unique", () => {
  const ids = new Set(Array.from({ length: 1000 }, newVolumeId));
  assert.equal(ids.size, 1000);
  for (const id of ids) assert.match(id, /^vol-[0-9a-f]{17}$/);
  assert.throws(() => validateVolumeId("vol-123"), { name: "InvalidParameterValue" });
  assert.throws(() => validateVolumeId(""), { name: "MissingParameter" });
  assert.throws(() => { throw notFound("vol-0123456789abcdef0"); }, { name: "InvalidVolume.NotFound", message: "The volume 'vol-0123456789abcdef0' does not exist." });
});

test("a WorkSpace volume's encryption context is exactly the seed's", () => {
  assert.deepEqual(volumeEncryptionContext("vol-1234abcd", { userSid: "S-1-5-21-277731876-1789304096-451871588-1107", directoryId: "d-1234abcd01" }), {
    "aws:workspaces:sid-directoryid": "[S-1-5-21-277731876-1789304096-451871588-1107]@[d-1234abcd01]",
    "aws:ebs:id": "vol-1234abcd",
  });
  assert.deepEqual(volumeEncryptionContext("vol-1234abcd"), { "aws:ebs:id": "vol-1234abcd" });
});

test("state rules: attach when available, I/O when attached, delete when detached", () => {
  const v: VolumeRecord = { volumeId: "vol-0123456789abcdef0", size: 1, availabilityZone: "us-west-2a", volumeType: "gp2", state: "available", createTime: 0, encrypted: true, tags: [] };
  assert.doesNotThrow(() => assertCanAttach(v));
  assert.throws(() => assertReadyForIo(v), { name: "IncorrectState" });
  assert.throws(() => assertCanDetach(v), { name: "IncorrectState" });
  assert.doesNotThrow(() => assertCanDelete(v));
  const attached: VolumeRecord = { ...v, state: "in-use", attachment: { instanceId: "ws-1", device: "/dev/sda1", state: "attached", attachTime: 0 } };
  assert.throws(() => assertCanAttach(attached), { name: "VolumeInUse" });
  assert.throws(() => assertCanDelete(attached), { name: "VolumeInUse" });
  assert.doesNotThrow(() => assertReadyForIo(attached));
  assert.throws(() => assertCanDetach(attached, "ws-2"), { name: "InvalidAttachment.NotFound" });
  assert.throws(() => assertCanAttach({ ...v, state: "creating" }), { name: "IncorrectState" });
  assert.throws(() => assertCanDelete({ ...v, state: "error" }), { name: "IncorrectState" });
  assert.doesNotThrow(() => assertCanDelete({ ...v, state: "creating" }), "a creation cut short by a restart can be given up");
  assert.doesNotThrow(() => assertCanDelete({ ...v, state: "deleting" }), "a delete cut short can be finished");
});
