// Reads the caller from an AWS Signature Version 4 Authorization header. The header must be
// well formed (algorithm, Credential scope, SignedHeaders, Signature); the access key id in
// its Credential names the caller.
import type { Request } from "express";
import { AwsError } from "./errors.js";
import { iamUserArn, type Partition } from "./arn.js";
import type { Caller } from "./caller.js";

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

/** Demo access keys and the IAM users they belong to (README, "Demo identities"). */
export const DEMO_ACCESS_KEYS: Readonly<Record<string, string>> = {
  AKIAADMIN00000000001: "admin",
  AKIAWSADMIN000000001: "wsadmin",
  AKIAWSNOKMS000000001: "wsadmin-nokms",
};

/**
 * The caller of a signed request: the IAM user its access key belongs to; any other
 * well-formed access key id names a user of that name.
 */
export function callerFromSigV4(req: Request, p: Partition): Caller {
  const { accessKeyId } = parseSigV4(req);
  return { principal: iamUserArn(p, DEMO_ACCESS_KEYS[accessKeyId] ?? accessKeyId) };
}
