// The AWS JSON 1.1 edge (X-Amz-Target dispatch) shared by the KMS and WorkSpaces HTTP APIs,
// so that the AWS SDK v3 and the AWS CLI work against Envelope with --endpoint-url.
import { randomUUID } from "node:crypto";
import type { Server } from "node:http";
import express, { type Request, type Response } from "express";
import { trace } from "@opentelemetry/api";
import { AwsError, asAwsError, toHttpError } from "./errors.js";
import type { Caller } from "./caller.js";
import type { Logger } from "./logger.js";

export type Operation = (input: Record<string, unknown>, caller: Caller) => Promise<unknown>;

export interface AwsJsonEdgeOptions {
  /**
   * Operations by X-Amz-Target prefix: "TrentService" for KMS, "WorkspacesService" for
   * WorkSpaces (and CloudTrail's for the audit trail's LookupEvents).
   */
  targets: Record<string, Record<string, Operation>>;
  /** Decides who signed the request; throws an AwsError when it can't. */
  authenticate: (req: Request, body: Buffer) => Caller | Promise<Caller>;
  log: Logger;
  /** Largest request body accepted. */
  maxBodyBytes?: number;
}

export function awsJsonEdge(opts: AwsJsonEdgeOptions): express.Express {
  const app = express();
  app.disable("x-powered-by");
  const limit = opts.maxBodyBytes ?? 1024 * 1024;
  app.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  app.post("/", express.raw({ type: () => true, limit }), async (req: Request, res: Response) => {
    const requestId = randomUUID();
    res.setHeader("x-amzn-RequestId", requestId);
    const target = req.header("x-amz-target") ?? "";
    const dot = target.lastIndexOf(".");
    const operations = dot > 0 && Object.hasOwn(opts.targets, target.slice(0, dot)) ? opts.targets[target.slice(0, dot)]! : {};
    const operation = target.slice(dot + 1);
    const span = trace.getActiveSpan();
    span?.setAttribute("rpc.system", "aws-api");
    span?.setAttribute("rpc.method", operation || target);
    span?.setAttribute("aws.request_id", requestId);
    try {
      const handler = Object.hasOwn(operations, operation) ? operations[operation] : undefined;
      if (!handler) throw new AwsError("UnknownOperationException", `Unknown operation ${target || "(no X-Amz-Target header)"}`);
      const body: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const caller = await opts.authenticate(req, body);
      let input: unknown = {};
      if (body.length > 0) {
        try {
          input = JSON.parse(body.toString("utf8"));
        } catch {
          throw new AwsError("SerializationException", "The request body is not valid JSON.");
        }
      }
      if (typeof input !== "object" || input === null || Array.isArray(input)) {
        throw new AwsError("SerializationException", "The request body must be a JSON object.");
      }
      const output = await handler(input as Record<string, unknown>, caller);
      res.status(200).type("application/x-amz-json-1.1").send(JSON.stringify(output ?? {}));
    } catch (e) {
      const err = asAwsError(e);
      if (err.httpStatus >= 500) opts.log.error({ err: e, operation }, "request failed");
      const { status, body } = toHttpError(err);
      span?.setAttribute("aws.error_code", err.code);
      res.status(status).type("application/x-amz-json-1.1").send(JSON.stringify(body));
    }
  });
  // Body too large or unreadable: answer in AWS's shape, never with express's HTML page.
  app.use((err: { type?: string; status?: number }, _req: Request, res: Response, _next: unknown) => {
    const e =
      err.type === "entity.too.large"
        ? new AwsError("RequestEntityTooLargeException", `Request body exceeds the ${limit} byte limit.`)
        : new AwsError("SerializationException", "The request body could not be read.");
    const { status, body } = toHttpError(e);
    res.status(status).type("application/x-amz-json-1.1").send(JSON.stringify(body));
  });
  return app;
}

/**
 * Serves an edge with request timeouts, so a client that stops sending mid-request (a body
 * shorter than its Content-Length, say) is cut off instead of holding a socket for minutes.
 */
export function listenEdge(app: express.Express, port: number): Server {
  const server = app.listen(port);
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  return server;
}
