// Starts the Envelope stack from compose.yaml with testcontainers: only the services the
// tests need (never Jaeger), each waited on until its healthcheck passes.
import { chmodSync, existsSync, mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { mintCertificates } from "@envelope/shared";
import { after, before } from "node:test";
import { DockerComposeEnvironment, type StartedDockerComposeEnvironment, Wait } from "testcontainers";
import { ebsGrpc } from "./clients.js";

export const ROOT = path.resolve(__dirname, "../../..");
export const SERVICES = ["redis", "kms", "ebs", "workspaces"] as const;

process.env.TESTCONTAINERS_RYUK_DISABLED ??= "true";

/**
 * Why Docker tests can't run here, or undefined when they can. With REQUIRE_DOCKER=1 a
 * missing engine is a failure, not a skip.
 */
export function dockerSkipReason(): string | undefined {
  const socket = process.env.DOCKER_HOST ?? "/var/run/docker.sock";
  const reachable = process.env.DOCKER_HOST !== undefined || existsSync(socket);
  if (reachable) return undefined;
  const why = `no Docker engine reachable (${socket}); start one (../shared/docker/engine-up.sh) to run the system tests`;
  if (process.env.REQUIRE_DOCKER === "1") throw new Error(`REQUIRE_DOCKER=1 but ${why}`);
  return why;
}

export interface Stack {
  env: StartedDockerComposeEnvironment;
  /** Runs a command in a service's container and returns its output. */
  exec(service: (typeof SERVICES)[number], command: string[]): Promise<string>;
  logs(service: (typeof SERVICES)[number]): Promise<string>;
  /** redis-cli in the Redis container, as the given ACL user (default: the read-only inspector). */
  redisCli(args: string[], user?: { name: string; password: string }): Promise<string>;
  down(): Promise<void>;
}

/**
 * Mints this test run's own CA and certificates (kms, ebs, workspaces, client) into a
 * folder the containers can read, and points ENVELOPE_CERTS_DIR at it.
 */
export async function testCertificates(): Promise<string> {
  if (process.env.ENVELOPE_CERTS_DIR) return process.env.ENVELOPE_CERTS_DIR;
  const dir = mkdtempSync(path.join(os.tmpdir(), "envelope-certs-"));
  await mintCertificates(dir, ["kms", "ebs", "workspaces", "client"]);
  chmodSync(dir, 0o755); // the containers' user reads it
  process.env.ENVELOPE_CERTS_DIR = dir;
  return dir;
}

export async function startStack(environment: Record<string, string> = {}): Promise<Stack> {
  const certs = await testCertificates();
  let compose = new DockerComposeEnvironment(ROOT, "compose.yaml").withBuild().withEnvironment({
    OTEL_SDK_DISABLED: "true",
    ENVELOPE_CERTS_DIR: certs,
    ...environment,
  });
  for (const s of SERVICES) compose = compose.withWaitStrategy(`${s}-1`, Wait.forHealthCheck());
  const env = await compose.up([...SERVICES]);
  const exec = async (service: (typeof SERVICES)[number], command: string[]) => {
    const { output, exitCode } = await env.getContainer(`${service}-1`).exec(command);
    if (exitCode !== 0) throw new Error(`${command.join(" ")} exited ${exitCode}: ${output}`);
    return output;
  };
  return {
    env,
    exec,
    redisCli: (args, user = { name: "inspector", password: "inspector-secret" }) =>
      exec("redis", ["redis-cli", "--user", user.name, "--pass", user.password, "--no-auth-warning", ...args]),
    async logs(service) {
      const stream = await env.getContainer(`${service}-1`).logs();
      // A finished read of what the container has logged so far.
      return new Promise<string>((resolve) => {
        let out = "";
        stream.on("data", (d: Buffer | string) => (out += d.toString()));
        const done = () => resolve(out);
        stream.on("end", done);
        setTimeout(() => {
          stream.destroy();
          done();
        }, 2000);
      });
    },
    async down() {
      await env.down({ removeVolumes: true, timeout: 10_000 });
    },
  };
}

/**
 * For a suite: starts the stack (and an EBS gRPC client as the "client" certificate) before its
 * tests, hands both over, and stops them after.
 */
export function useStack(started: (stack: Stack, ebs: ReturnType<typeof ebsGrpc>) => void, environment: Record<string, string> = {}): void {
  let stack: Stack | undefined;
  let ebs: ReturnType<typeof ebsGrpc> | undefined;
  before(async () => {
    stack = await startStack(environment);
    ebs = ebsGrpc();
    started(stack, ebs);
  });
  after(async () => {
    ebs?.close();
    await stack?.down();
  });
}

/** Polls fn until it returns a value, or fails after timeoutMs. */
export async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000, everyMs = 250): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ""}`);
}
