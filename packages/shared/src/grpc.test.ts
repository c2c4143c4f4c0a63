// The shared gRPC server against a real grpc-js client on 127.0.0.1: bytes that are not the
// method's message get INVALID_ARGUMENT and an AWS error name, not INTERNAL; a valid
// request still reaches its handler; an AwsError keeps its name across the wire.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { loadEbs } from "@envelope/proto";
import { AwsError } from "./errors.js";
import { adaptHandlers, callUnary, startGrpcServer, type RunningGrpcServer } from "./grpc.js";
import { createLogger } from "./logger.js";

const Ebs = loadEbs().envelope.ebs.v1.ElasticBlockStore;
let server: RunningGrpcServer;
let client: InstanceType<typeof Ebs>;

before(async () => {
  const log = createLogger("test", "silent");
  const implementation = adaptHandlers<Record<string, grpc.handleUnaryCall<unknown, unknown>>>(
    {
      DeleteVolume: async (req) => {
        if ((req as { volumeId: string }).volumeId !== "vol-0123456789abcdef0") throw new AwsError("InvalidVolume.NotFound", "no such volume");
        return {};
      },
    },
    log,
  );
  server = await startGrpcServer({ host: "127.0.0.1", port: 0, services: [{ definition: Ebs.service, implementation, healthName: "envelope.ebs.v1.ElasticBlockStore" }] });
  client = new Ebs(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
});
after(async () => {
  client.close();
  await server.shutdown(100);
});

/** Sends raw bytes as the request of a method. */
function sendRaw(method: string, bytes: Buffer): Promise<grpc.ServiceError | undefined> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(`/envelope.ebs.v1.ElasticBlockStore/${method}`, (b: Buffer) => b, (b: Buffer) => b, bytes, new grpc.Metadata(), {}, (err) => resolve(err ?? undefined));
  });
}

test("bytes that are not the message: INVALID_ARGUMENT, SerializationException, a message naming the method", async () => {
  // A tag varint that never ends: no protobuf message.
  const err = await sendRaw("DeleteVolume", Buffer.from([0xff, 0xff, 0xff]));
  assert.equal(err?.code, grpc.status.INVALID_ARGUMENT);
  assert.equal(err?.metadata.get("x-aws-error-type")[0], "SerializationException");
  assert.match(err!.details, /not a valid DeleteVolume message/);
});

test("a valid request still reaches its handler, and an AWS error keeps its name", async () => {
  assert.deepEqual(await callUnary(client, client.DeleteVolume, { volumeId: "vol-0123456789abcdef0" }), {});
  await assert.rejects(callUnary(client, client.DeleteVolume, { volumeId: "vol-00000000000000000" }), { name: "InvalidVolume.NotFound" });
});
