// The transport's ceiling: a bare grpc-js unary server that echoes its request bytes, with
// no protobuf, no handlers and no I/O. Run as its own process, like a service.
import * as grpc from "@grpc/grpc-js";
import { tuneServerSessions, readTlsFiles, serverCredentials } from "@envelope/shared";

export const ECHO_METHOD: grpc.MethodDefinition<Buffer, Buffer> = {
  path: "/envelope.bench.Echo/Echo",
  requestStream: false,
  responseStream: false,
  requestSerialize: (b: Buffer) => b,
  requestDeserialize: (b: Buffer) => b,
  responseSerialize: (b: Buffer) => b,
  responseDeserialize: (b: Buffer) => b,
};

// node echo-server.js <port> [certs dir]: with a certificates folder, mutual TLS like the services.
if (require.main === module) {
  // The same HTTP/2 window as the services: the ceiling is the transport as they use it.
  tuneServerSessions();
  const server = new grpc.Server({ "grpc.max_receive_message_length": 8 << 20, "grpc.max_send_message_length": 8 << 20 });
  server.addService({ Echo: ECHO_METHOD }, { Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, call.request) });
  const certs = process.argv[3];
  server.bindAsync(`127.0.0.1:${process.argv[2] ?? 0}`, serverCredentials(certs ? readTlsFiles(certs, "kms") : undefined), (err, port) => {
    if (err) throw err;
    process.stdout.write(`${port}\n`);
  });
  process.on("SIGTERM", () => server.forceShutdown());
}
