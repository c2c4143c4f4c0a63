// Container healthcheck: asks the service's own grpc.health.v1 endpoint whether it serves.
//   node dist/healthcheck.js [port]
// Exits 0 when SERVING, 1 otherwise. Uses the standard health proto shipped with grpc-health-check.
import { readFileSync } from "node:fs";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { protoPath } from "grpc-health-check";

const port = Number(process.argv[2] ?? process.env.GRPC_PORT ?? 50051);
const def = protoLoader.loadSync(protoPath, { keepCase: true, enums: String });
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const pkg = grpc.loadPackageDefinition(def) as any;
// With mTLS the check presents the service's own certificate (TLS_DIR, SERVICE_NAME).
const tlsDir = process.env.TLS_DIR;
const credentials = tlsDir
  ? grpc.credentials.createSsl(
      readFileSync(path.join(tlsDir, "ca.crt")),
      readFileSync(path.join(tlsDir, `${process.env.SERVICE_NAME ?? "client"}.key`)),
      readFileSync(path.join(tlsDir, `${process.env.SERVICE_NAME ?? "client"}.crt`)),
    )
  : grpc.credentials.createInsecure();
const client = new pkg.grpc.health.v1.Health(`127.0.0.1:${port}`, credentials);
client.Check({ service: "" }, { deadline: new Date(Date.now() + 3000) }, (err: Error | null, res?: { status: string }) => {
  const ok = !err && res?.status === "SERVING";
  if (!ok) console.error(err ? err.message : `status ${res?.status}`);
  process.exit(ok ? 0 : 1);
});
