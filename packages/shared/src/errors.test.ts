import { test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { AwsError, asAwsError, fromGrpcError, toGrpcError, toHttpError } from "./errors.js";

test("AWS error names map to gRPC statuses and HTTP statuses in one table", () => {
  assert.equal(new AwsError("NotFoundException", "x").grpcStatus, grpc.status.NOT_FOUND);
  assert.equal(new AwsError("NotFoundException", "x").httpStatus, 404);
  assert.equal(new AwsError("AccessDeniedException", "x").grpcStatus, grpc.status.PERMISSION_DENIED);
  assert.equal(new AwsError("DisabledException", "x").httpStatus, 409);
  assert.equal(new AwsError("InvalidVolume.NotFound", "x").grpcStatus, grpc.status.NOT_FOUND);
  assert.deepEqual(toHttpError(new AwsError("InvalidCiphertextException", "bad")), { status: 400, body: { __type: "InvalidCiphertextException", message: "bad" } });
});

test("an AwsError survives a gRPC hop with its AWS name and message", () => {
  const sent = toGrpcError(new AwsError("InvalidCiphertextException", "context mismatch"));
  const back = fromGrpcError(sent);
  assert.equal(back.code, "InvalidCiphertextException");
  assert.equal(back.message, "context mismatch");
});

test("transport failures without an AWS name become retryable AWS errors", () => {
  const e = fromGrpcError({ code: grpc.status.UNAVAILABLE, details: "connect ECONNREFUSED" });
  assert.equal(e.code, "ServiceUnavailable");
  assert.equal(e.retryable, true);
  assert.equal(fromGrpcError({ code: grpc.status.DEADLINE_EXCEEDED }).code, "DependencyTimeoutException");
});

test("an unexpected throw is an internal failure that reveals nothing", () => {
  const e = asAwsError(new Error("secret detail"));
  assert.equal(e.code, "InternalFailure");
  assert.ok(!e.message.includes("secret detail"));
});
