import { test } from "node:test";
import assert from "node:assert/strict";
import { checkCallerForPeer } from "./service-identity.js";

const wsSession = "arn:aws:sts::111122223333:assumed-role/aws:workspaces-infrastructure/ws-abc123def";
const ebsSession = "arn:aws:sts::111122223333:assumed-role/aws:ec2-infrastructure/ws-abc123def";
const user = "arn:aws:iam::111122223333:user/wsadmin";
const via = (s: string) => `${s}.us-west-2.amazonaws.com`;

test("each service may act as its own sessions, and for its caller through itself", () => {
  assert.ok(checkCallerForPeer({ principal: wsSession, viaService: via("workspaces") }, "workspaces"));
  assert.ok(checkCallerForPeer({ principal: user, viaService: via("workspaces") }, "workspaces"));
  assert.ok(checkCallerForPeer({ principal: ebsSession, viaService: via("ec2") }, "ebs"));
  assert.ok(checkCallerForPeer({ principal: wsSession, viaService: via("ec2") }, "ebs"), "EBS forwards the WorkSpaces session");
  assert.ok(checkCallerForPeer({ principal: user }, "client"));
});

test("EBS's certificate claiming to be WorkSpaces is refused", () => {
  assert.throws(() => checkCallerForPeer({ principal: wsSession, viaService: via("workspaces") }, "ebs"), { name: "AccessDeniedException" });
  assert.throws(() => checkCallerForPeer({ principal: user, viaService: via("workspaces") }, "ebs"), { name: "AccessDeniedException" });
});

test("WorkSpaces can't act as EBS; a client can't act as any service", () => {
  assert.throws(() => checkCallerForPeer({ principal: ebsSession, viaService: via("ec2") }, "workspaces"), /can't call through ec2/);
  assert.throws(() => checkCallerForPeer({ principal: ebsSession }, "workspaces"), /can't act as/);
  assert.throws(() => checkCallerForPeer({ principal: ebsSession }, "client"), /can't act as/);
  assert.throws(() => checkCallerForPeer({ principal: user, viaService: via("ec2") }, "client"), /can't call through/);
  assert.throws(() => checkCallerForPeer({ principal: user }, "mallory"), /unknown identity/);
});

test("without mTLS there is no peer and the named caller stands", () => {
  assert.deepEqual(checkCallerForPeer({ principal: ebsSession }, undefined), { principal: ebsSession });
});
