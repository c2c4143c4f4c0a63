import { test } from "node:test";
import assert from "node:assert/strict";
import { changeRefusal, checkRequest, isWorkspaceId, newWorkspace, newWorkspaceId, sidDirectoryId, terminateRefusal, type WorkspaceRecord } from "./workspaces.js";
import { findUser, findBundle } from "./directory.js";

const ok = { DirectoryId: "d-1234abcd01", UserName: "alice", BundleId: "wsb-demo0001", RootVolumeEncryptionEnabled: true };

test("WorkSpace ids match ^ws-[0-9a-z]{8,63}$", () => {
  for (let i = 0; i < 200; i++) assert.ok(isWorkspaceId(newWorkspaceId()));
});

test("alice has the SID from the AWS guide; every user has a distinct SID", () => {
  assert.equal(findUser("d-1234abcd01", "alice")?.sid, "S-1-5-21-277731876-1789304096-451871588-1107");
  const sids = new Set(["alice", "bob", "carol", "user001", "user200"].map((u) => findUser("d-1234abcd01", u)?.sid));
  assert.equal(sids.size, 5);
  assert.equal(sidDirectoryId("S-1-5-21-1", "d-1234abcd01"), "[S-1-5-21-1]@[d-1234abcd01]");
});

test("a request names an existing directory, user and bundle in the right formats", () => {
  assert.ok(!("ErrorCode" in checkRequest(ok)));
  assert.equal((checkRequest({ ...ok, DirectoryId: "dir" }) as { ErrorCode: string }).ErrorCode, "InvalidParameterValuesException");
  assert.equal((checkRequest({ ...ok, UserName: "mallory" }) as { ErrorCode: string }).ErrorCode, "ResourceNotFoundException");
  assert.equal((checkRequest({ ...ok, BundleId: "wsb-nothere01" }) as { ErrorCode: string }).ErrorCode, "ResourceNotFoundException");
  assert.match((checkRequest({ ...ok, RootVolumeEncryptionEnabled: false, VolumeEncryptionKey: "alias/x" }) as { ErrorMessage: string }).ErrorMessage, /neither/);
});

const ws = (state: WorkspaceRecord["state"], RunningMode: "AUTO_STOP" | "ALWAYS_ON" = "AUTO_STOP"): WorkspaceRecord => {
  const w = newWorkspace({ ...ok, WorkspaceProperties: { RunningMode } }, findUser("d-1234abcd01", "alice")!, findBundle("wsb-demo0001")!);
  return { ...w, state, stateChangedAt: Date.now() / 1000 };
};

test("state rules for reboot, rebuild, start, stop and terminate", () => {
  assert.equal(changeRefusal("Reboot", ws("AVAILABLE")), undefined);
  assert.equal(changeRefusal("Reboot", ws("STOPPED"))?.ErrorCode, "InvalidResourceStateException");
  assert.equal(changeRefusal("Reboot", ws("REBOOTING"))?.ErrorCode, "InvalidResourceStateException", "not while a reboot is under way");
  assert.equal(changeRefusal("Reboot", { ...ws("REBOOTING"), stateChangedAt: Date.now() / 1000 - 21 * 60 }), undefined, "a stuck reboot may be retried");
  assert.equal(changeRefusal("Rebuild", ws("ERROR")), undefined);
  assert.equal(changeRefusal("Stop", ws("AVAILABLE")), undefined);
  assert.equal(changeRefusal("Stop", ws("AVAILABLE", "ALWAYS_ON"))?.ErrorCode, "OperationNotSupportedException");
  assert.equal(changeRefusal("Start", ws("STOPPED")), undefined);
  assert.equal(changeRefusal("Start", ws("AVAILABLE"))?.ErrorCode, "InvalidResourceStateException");
  assert.equal(terminateRefusal(ws("ERROR")), undefined);
  assert.equal(terminateRefusal(ws("SUSPENDED"))?.ErrorCode, "InvalidResourceStateException");
});
