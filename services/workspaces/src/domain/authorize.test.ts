import { test } from "node:test";
import assert from "node:assert/strict";
import { parsePolicy } from "@envelope/shared";
import { authorizeWorkspaces } from "./authorize.js";

const caller = { principal: "arn:aws:iam::111122223333:user/wsadmin" };
const doc = (...Statement: object[]) => parsePolicy(JSON.stringify({ Version: "2012-10-17", Statement }));

test("an identity policy allowing workspaces:* allows CreateWorkspaces", () => {
  assert.doesNotThrow(() => authorizeWorkspaces(caller, [doc({ Effect: "Allow", Action: "workspaces:*", Resource: "*" })], "CreateWorkspaces", "*"));
});

test("no policy, another service's actions, or an explicit deny: AccessDeniedException", () => {
  assert.throws(() => authorizeWorkspaces(caller, [], "CreateWorkspaces", "*"), { name: "AccessDeniedException" });
  assert.throws(() => authorizeWorkspaces(caller, [doc({ Effect: "Allow", Action: "kms:*", Resource: "*" })], "CreateWorkspaces", "*"), { name: "AccessDeniedException" });
  assert.throws(
    () => authorizeWorkspaces(caller, [doc({ Effect: "Allow", Action: "*", Resource: "*" }, { Effect: "Deny", Action: "workspaces:TerminateWorkspaces", Resource: "*" })], "TerminateWorkspaces", "*"),
    { name: "AccessDeniedException", message: /explicit deny/ },
  );
});
