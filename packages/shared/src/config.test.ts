import { test } from "node:test";
import assert from "node:assert/strict";
import { z } from "zod";
import { ConfigError, loadConfig, port, region } from "./config.js";

const schema = z.object({ GRPC_PORT: port(50051), AWS_REGION: region });

test("defaults apply and values are coerced", () => {
  assert.deepEqual(loadConfig(schema, {}), { GRPC_PORT: 50051, AWS_REGION: "us-west-2" });
  assert.equal(loadConfig(schema, { GRPC_PORT: "6000" }).GRPC_PORT, 6000);
});

test("bad configuration fails at start with a message naming the variable", () => {
  assert.throws(() => loadConfig(schema, { GRPC_PORT: "99999", AWS_REGION: "moon" }), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.match(e.message, /GRPC_PORT/);
    assert.match(e.message, /AWS_REGION: must be an AWS region/);
    return true;
  });
});
