// Starts Envelope's services as local processes (as `npm start` would), each with its own
// environment, and reads their resident memory from /proc.
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { ROOT } from "../support/stack.js";
import { credentialsFor, optionsFor } from "../support/clients.js";

export interface ServiceProcess {
  name: string;
  child: ChildProcess;
  rssMiB(): number;
  stop(): Promise<void>;
}

export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

async function waitServing(port: number, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const client = new grpc.Client(`127.0.0.1:${port}`, credentialsFor("client"), optionsFor("127.0.0.1:0"));
      client.waitForReady(Date.now() + 500, (err) => {
        client.close();
        resolve(!err);
      });
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`service on port ${port} did not start`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function startService(name: "kms" | "ebs" | "workspaces", grpcPort: number, env: Record<string, string>): Promise<ServiceProcess> {
  const dir = path.join(ROOT, "services", name);
  const child = spawn(process.execPath, ["--import", "./dist/telemetry.js", "dist/main.js"], {
    cwd: dir,
    env: { PATH: process.env.PATH, LOG_LEVEL: "warn", ...env, GRPC_PORT: String(grpcPort) },
    stdio: ["ignore", "ignore", "inherit"],
  });
  let exited = false;
  child.once("exit", () => (exited = true));
  await waitServing(grpcPort);
  return {
    name,
    child,
    rssMiB: () => rssMiB(child.pid!),
    stop: () =>
      new Promise<void>((resolve) => {
        if (exited) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
        setTimeout(() => child.kill("SIGKILL"), 5000).unref();
      }),
  };
}
