// Reads the caller from an AWS Signature Version 4 Authorization header. The header must be
// well formed (algorithm, Credential scope, SignedHeaders, Signature); the access key id in
// its Credential names the caller.
import type { Request } from "express";
import { AwsError } from "./errors.js";
import { createHash, timingSafeEqual } from "node:crypto";
import { SignatureV4 } from "@smithy/signature-v4";
import { Hash } from "@smithy/hash-node";
import { HttpRequest } from "@smithy/protocol-http";
import type { Caller } from "./caller.js";
import type { IdentityStore } from "./identity.js";

export interface SigV4Credential {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

const AUTH_RE =
  /^AWS4-HMAC-SHA256\s+Credential=([^/\s,]+)\/(\d{8})\/([a-z0-9-]+)\/([a-z0-9-]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$/;

export function parseSigV4(req: Request): SigV4Credential {
  const header = req.header("authorization");
  if (!header) throw new AwsError("MissingAuthenticationTokenException", "Missing Authentication Token");
  const m = AUTH_RE.exec(header.trim());
  if (!m) {
    throw new AwsError(
      "IncompleteSignatureException",
      "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters with algorithm AWS4-HMAC-SHA256.",
    );
  }
  const [, accessKeyId, date, region, service, signedHeaders, signature] = m as unknown as string[];
  if (!/^[A-Z0-9]{16,128}$/.test(accessKeyId!)) {
    throw new AwsError("UnrecognizedClientException", "The security token included in the request is invalid.");
  }
  if (!req.header("x-amz-date") && !req.header("date")) {
    throw new AwsError("IncompleteSignatureException", "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
  }
  return {
    accessKeyId: accessKeyId!,
    date: date!,
    region: region!,
    service: service!,
    signedHeaders: signedHeaders!.split(";"),
    signature: signature!,
  };
}

/** How far a request's X-Amz-Date may be from the server's clock, as AWS allows. */
export const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;

function amzDate(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  return m ? new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!)) : undefined;
}

/**
 * Verifies a request's SigV4 signature for real: the signature is computed again with the
 * caller's secret key, over the headers the caller signed and the exact body, by
 * @smithy/signature-v4 (the AWS SDK's own signer), and compared in constant time.
 * Returns the caller the access key belongs to.
 */
export async function verifySigV4(req: Request, body: Buffer, identities: IdentityStore, now = new Date()): Promise<Caller> {
  const cred = parseSigV4(req);
  const { identity, secretAccessKey } = identities.credentials(cred.accessKeyId);
  const dateHeader = req.header("x-amz-date") ?? "";
  const signedAt = amzDate(dateHeader);
  if (!signedAt || signedAt.toISOString().slice(0, 10).replaceAll("-", "") !== cred.date) {
    throw new AwsError("IncompleteSignatureException", "X-Amz-Date must be a timestamp like 20261129T120000Z whose date matches the credential scope.");
  }
  if (Math.abs(now.getTime() - signedAt.getTime()) > MAX_CLOCK_SKEW_MS) {
    throw new AwsError(
      "InvalidSignatureException",
      `Signature expired: ${dateHeader} is now earlier than ${formatAmzDate(new Date(now.getTime() - MAX_CLOCK_SKEW_MS))} (${formatAmzDate(now)} - 5 min.)`,
    );
  }
  // A signed payload hash must be the body's: otherwise the signature would not cover the body.
  const claimedHash = req.header("x-amz-content-sha256");
  if (claimedHash !== undefined && claimedHash !== createHash("sha256").update(body).digest("hex")) {
    throw new AwsError("InvalidSignatureException", "The provided 'x-amz-content-sha256' header does not match what was computed.");
  }
  const headers: Record<string, string> = {};
  for (const name of cred.signedHeaders) {
    const value = req.headers[name];
    if (value === undefined) throw new AwsError("IncompleteSignatureException", `Signed header '${name}' is missing from the request.`);
    headers[name] = Array.isArray(value) ? value.join(",") : value;
  }
  const [path, search = ""] = req.originalUrl.split("?", 2) as [string, string?];
  const query: Record<string, string | string[]> = {};
  for (const [k, v] of new URLSearchParams(search)) query[k] = query[k] === undefined ? v : [...[query[k]!].flat(), v];
  const signer = new SignatureV4({
    credentials: { accessKeyId: cred.accessKeyId, secretAccessKey },
    region: cred.region,
    service: cred.service,
    sha256: Hash.bind(null, "sha256"),
    // Sign exactly the headers the caller signed: never add x-amz-content-sha256 of our own.
    applyChecksum: false,
  });
  const signed = await signer.sign(
    new HttpRequest({ method: req.method, protocol: "http:", hostname: headers.host ?? "", path, query, headers, body: new Uint8Array(body) }),
    { signingDate: signedAt, signableHeaders: new Set(cred.signedHeaders), unsignableHeaders: new Set() },
  );
  const expected = /Signature=([0-9a-f]{64})/.exec(String(signed.headers.authorization ?? signed.headers.Authorization))?.[1] ?? "";
  const ok = expected.length === 64 && timingSafeEqual(Buffer.from(expected), Buffer.from(cred.signature));
  if (!ok) {
    throw new AwsError(
      "InvalidSignatureException",
      "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
    );
  }
  return { principal: identity.arn };
}

const formatAmzDate = (d: Date) => d.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
