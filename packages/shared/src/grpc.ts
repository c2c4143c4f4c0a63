// gRPC wiring shared by the three services: a server with the standard health service and
// graceful shutdown, handlers that turn AwsErrors into statuses, and clients with deadlines.
import * as grpc from "@grpc/grpc-js";
import { subscribe } from "node:diagnostics_channel";
import type { Http2Session, ServerHttp2Stream } from "node:http2";
import type { TLSSocket } from "node:tls";
import { HealthImplementation } from "grpc-health-check";
import { AwsError, asAwsError, fromGrpcError, toGrpcError } from "./errors.js";
import { type Caller, callerMetadata, readCaller } from "./caller.js";
import type { Logger } from "./logger.js";
import type { TlsFiles } from "./certs.js";
import { checkCallerForPeer } from "./service-identity.js";

export interface CallContext {
  /** The caller named in metadata, if any, already checked against the peer's certificate. */
  caller: Caller | undefined;
  /** The calling service, from its TLS client certificate (undefined without mTLS). */
  peer: string | undefined;
  metadata: grpc.Metadata;
}

type UnaryImpl<H> = H extends grpc.handleUnaryCall<infer Req, infer Res>
  ? (request: Req, ctx: CallContext) => Promise<Res>
  : never;

/** The async form of a generated `...Handlers` interface. */
export type AsyncHandlers<H> = { [K in keyof H]: UnaryImpl<H[K]> };

/**
 * Adapts async handlers to grpc-js: each resolves with the response or rejects with an
 * AwsError, which becomes the matching status; any other failure is logged and INTERNAL.
 */
export function adaptHandlers<H>(impl: AsyncHandlers<H>, log: Logger): H {
  const out: Record<string, grpc.handleUnaryCall<unknown, unknown>> = {};
  for (const [name, fn] of Object.entries(impl) as [string, (req: unknown, ctx: CallContext) => Promise<unknown>][]) {
    out[name] = (call, callback) => {
      const malformed = (call.request as { [MALFORMED]?: string } | null)?.[MALFORMED];
      if (malformed !== undefined) {
        callback(toGrpcError(new AwsError("SerializationException", `The request is not a valid ${name} message: ${malformed}.`)) as grpc.ServiceError);
        return;
      }
      let ctx: CallContext;
      try {
        const cn = call.getAuthContext().sslPeerCertificate?.subject?.CN;
        const peer = Array.isArray(cn) ? cn[0] : cn;
        ctx = { caller: checkCallerForPeer(readCaller(call.metadata), peer), peer, metadata: call.metadata };
      } catch (e) {
        callback(toGrpcError(asAwsError(e)) as grpc.ServiceError);
        return;
      }
      fn(call.request, ctx).then(
        (res) => callback(null, res),
        (e: unknown) => {
          if (!(e instanceof AwsError)) log.error({ err: e, method: name }, "unexpected failure");
          callback(toGrpcError(asAwsError(e)) as grpc.ServiceError);
        },
      );
    };
  }
  return out as H;
}

/** Marks a request whose bytes are not the method's message (see tolerant()). */
const MALFORMED = Symbol("malformed request");

/**
 * The service definition with request decoding that never throws: bytes that are not the
 * method's message reach the handler marked, and are answered INVALID_ARGUMENT with
 * SerializationException, where grpc-js alone would answer INTERNAL.
 */
function tolerant(definition: grpc.ServiceDefinition): grpc.ServiceDefinition {
  return Object.fromEntries(
    Object.entries(definition).map(([name, method]) => [
      name,
      {
        ...method,
        requestDeserialize: (bytes: Buffer) => {
          try {
            return method.requestDeserialize(bytes);
          } catch (e) {
            return { [MALFORMED]: e instanceof Error ? e.message : String(e) };
          }
        },
      },
    ]),
  ) as grpc.ServiceDefinition;
}

export interface ServiceRegistration {
  definition: grpc.ServiceDefinition;
  implementation: grpc.UntypedServiceImplementation;
  /** Fully qualified name reported by grpc.health.v1, e.g. envelope.kms.v1.KeyManagementService. */
  healthName: string;
}

export interface RunningGrpcServer {
  server: grpc.Server;
  health: HealthImplementation;
  port: number;
  /** Stops taking calls, lets calls in flight finish (up to graceMs), then closes. */
  shutdown(graceMs?: number): Promise<void>;
}

const MAX_MESSAGE_BYTES = 8 * 1024 * 1024;

let sessionsTuned = false;

/**
 * Tunes every HTTP/2 session this process serves, on the first stream of each (Node announces
 * new server streams on a diagnostics channel; grpc-js has no server option for either):
 * - its receive window becomes as large as a message. Node's default (64 KiB for the
 *   connection and each stream) makes a client sending a MiB of blocks wait for a window
 *   update every 64 KiB, which capped uploads at about a third of what the transport does;
 * - it remembers its peer certificate (see rememberPeerCertificate).
 * Idempotent. The bench's echo server (the ceiling) calls it too, so it is like for like.
 */
export function tuneServerSessions(bytes = MAX_MESSAGE_BYTES): void {
  if (sessionsTuned) return;
  sessionsTuned = true;
  const tuned = new WeakSet<Http2Session>();
  subscribe("http2.server.stream.created", (message) => {
    const session = (message as { stream: ServerHttp2Stream }).stream.session;
    if (!session || tuned.has(session) || session.destroyed) return;
    tuned.add(session);
    session.setLocalWindowSize(bytes);
    session.settings({ initialWindowSize: bytes });
    rememberPeerCertificate(session);
  });
}

/**
 * grpc-js reads the client's certificate for every call (getAuthContext), and Node builds it
 * anew each time: the largest single cost of a KMS call in the profile. A session's peer
 * certificate can't change (TLS 1.3 has no renegotiation), so the session's socket keeps the
 * first one it built.
 */
function rememberPeerCertificate(session: Http2Session): void {
  const socket = session.socket as TLSSocket;
  if (typeof socket.getPeerCertificate !== "function") return; // plaintext
  const read = socket.getPeerCertificate.bind(socket);
  let first: ReturnType<TLSSocket["getPeerCertificate"]> | undefined;
  socket.getPeerCertificate = ((detailed?: boolean) => (detailed ? read(true) : (first ??= read()))) as TLSSocket["getPeerCertificate"];
}

export async function startGrpcServer(opts: {
  host: string;
  port: number;
  services: ServiceRegistration[];
  /** With certificates, gRPC is mutual TLS: every client must present one from the same CA. */
  tls?: TlsFiles | undefined;
}): Promise<RunningGrpcServer> {
  tuneServerSessions();
  const server = new grpc.Server({
    "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
    "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
  });
  const status: Record<string, "SERVING" | "NOT_SERVING"> = { "": "SERVING" };
  for (const s of opts.services) {
    server.addService(tolerant(s.definition), s.implementation);
    status[s.healthName] = "SERVING";
  }
  const health = new HealthImplementation(status);
  health.addToServer(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${opts.host}:${opts.port}`, serverCredentials(opts.tls), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return {
    server,
    health,
    port,
    shutdown: (graceMs = 5000) =>
      new Promise<void>((resolve) => {
        for (const name of Object.keys(status)) health.setStatus(name, "NOT_SERVING");
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}

export function serverCredentials(tls?: TlsFiles): grpc.ServerCredentials {
  return tls ? grpc.ServerCredentials.createSsl(tls.ca, [{ private_key: tls.key, cert_chain: tls.cert }], true) : grpc.ServerCredentials.createInsecure();
}

/** Mutual TLS with the identity's certificate when there are certificates; plaintext otherwise. */
export function channelCredentials(tls?: TlsFiles): grpc.ChannelCredentials {
  return tls ? grpc.credentials.createSsl(tls.ca, tls.key, tls.cert) : grpc.credentials.createInsecure();
}

export const clientOptions: grpc.ClientOptions = {
  "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
  "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
  "grpc.keepalive_time_ms": 30_000,
  // A receive window as large as a message: block reads of a MiB need no flow-control stalls.
  "grpc-node.flow_control_window": MAX_MESSAGE_BYTES,
};

export interface CallOptions {
  caller?: Caller;
  /** Deadline for one attempt. Every call has one. */
  timeoutMs?: number;
  /** Retries after the first attempt, for failures that are retryable (UNAVAILABLE and the like). */
  retries?: number;
}

type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (err: grpc.ServiceError | null, res?: Res) => void,
) => grpc.ClientUnaryCall;

/**
 * Calls one unary method with a deadline and the caller's identity; a failure comes back as
 * the AwsError the server sent. Only retryable failures are retried, with backoff.
 */
// The last overload of a generated client method is (argument, callback): infer from it.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type GeneratedMethod = (argument: any, callback: grpc.requestCallback<any>) => grpc.ClientUnaryCall;
type ResponseOf<M> = M extends (argument: never, callback: grpc.requestCallback<infer R>) => grpc.ClientUnaryCall ? R : never;

export function callUnary<M extends GeneratedMethod>(client: grpc.Client, method: M, request: Parameters<M>[0], opts?: CallOptions): Promise<ResponseOf<M>>;
export function callUnary<Req, Res>(client: grpc.Client, method: UnaryMethod<Req, Res>, request: Req, opts?: CallOptions): Promise<Res>;
export async function callUnary<Req, Res>(
  client: grpc.Client,
  method: UnaryMethod<Req, Res>,
  request: Req,
  opts: CallOptions = {},
): Promise<Res> {
  const attempts = 1 + (opts.retries ?? 2);
  for (let attempt = 1; ; attempt++) {
    try {
      return await new Promise<Res>((resolve, reject) => {
        const md = opts.caller ? callerMetadata(opts.caller) : new grpc.Metadata();
        const deadline = new Date(Date.now() + (opts.timeoutMs ?? 10_000));
        method.call(client, request, md, { deadline }, (err, res) => (err ? reject(err) : resolve(res as Res)));
      });
    } catch (e) {
      const err = fromGrpcError(e);
      // UNAVAILABLE means the request never reached a handler, so retrying cannot repeat it.
      const safeToRetry = (e as grpc.ServiceError).code === grpc.status.UNAVAILABLE;
      if (attempt >= attempts || !safeToRetry) throw err;
      await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** (attempt - 1)) * (0.5 + Math.random())));
    }
  }
}
