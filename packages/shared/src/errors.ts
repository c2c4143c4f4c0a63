// Errors are values with AWS names. This file is the one place that maps an AWS error
// name to a gRPC status code and to an HTTP status; every transport goes through it.
import * as grpc from "@grpc/grpc-js";

interface ErrorShape {
  grpc: grpc.status;
  http: number;
  /** A caller may retry the same request and expect it to succeed. */
  retryable?: boolean;
}

const S = grpc.status;

/** AWS error name → transport codes. HTTP statuses follow the services' Smithy models. */
const ERRORS: Record<string, ErrorShape> = {
  // KMS (TrentService)
  NotFoundException: { grpc: S.NOT_FOUND, http: 404 },
  AlreadyExistsException: { grpc: S.ALREADY_EXISTS, http: 409 },
  DisabledException: { grpc: S.FAILED_PRECONDITION, http: 409 },
  KMSInvalidStateException: { grpc: S.FAILED_PRECONDITION, http: 409 },
  InvalidCiphertextException: { grpc: S.INVALID_ARGUMENT, http: 400 },
  IncorrectKeyException: { grpc: S.INVALID_ARGUMENT, http: 400 },
  InvalidArnException: { grpc: S.INVALID_ARGUMENT, http: 400 },
  InvalidAliasNameException: { grpc: S.INVALID_ARGUMENT, http: 400 },
  InvalidGrantTokenException: { grpc: S.INVALID_ARGUMENT, http: 400 },
  InvalidGrantIdException: { grpc: S.INVALID_ARGUMENT, http: 400 },
  InvalidMarkerException: { grpc: S.INVALID_ARGUMENT, http: 400 },
  InvalidKeyUsageException: { grpc: S.INVALID_ARGUMENT, http: 400 },
  MalformedPolicyDocumentException: { grpc: S.INVALID_ARGUMENT, http: 400 },
  UnsupportedOperationException: { grpc: S.FAILED_PRECONDITION, http: 400 },
  LimitExceededException: { grpc: S.RESOURCE_EXHAUSTED, http: 400 },
  KMSInternalException: { grpc: S.INTERNAL, http: 500, retryable: true },
  DependencyTimeoutException: { grpc: S.UNAVAILABLE, http: 503, retryable: true },
  // Common to AWS JSON services
  AccessDeniedException: { grpc: S.PERMISSION_DENIED, http: 400 },
  ValidationException: { grpc: S.INVALID_ARGUMENT, http: 400 },
  SerializationException: { grpc: S.INVALID_ARGUMENT, http: 400 },
  UnknownOperationException: { grpc: S.UNIMPLEMENTED, http: 400 },
  MissingAuthenticationTokenException: { grpc: S.UNAUTHENTICATED, http: 403 },
  IncompleteSignatureException: { grpc: S.UNAUTHENTICATED, http: 400 },
  InvalidSignatureException: { grpc: S.UNAUTHENTICATED, http: 400 },
  UnrecognizedClientException: { grpc: S.UNAUTHENTICATED, http: 400 },
  RequestEntityTooLargeException: { grpc: S.INVALID_ARGUMENT, http: 413 },
  InternalFailure: { grpc: S.INTERNAL, http: 500, retryable: true },
  ServiceUnavailable: { grpc: S.UNAVAILABLE, http: 503, retryable: true },
  // CloudTrail (LookupEvents over the KMS audit trail)
  InvalidLookupAttributesException: { grpc: S.INVALID_ARGUMENT, http: 400 },
  InvalidTimeRangeException: { grpc: S.INVALID_ARGUMENT, http: 400 },
  InvalidMaxResultsException: { grpc: S.INVALID_ARGUMENT, http: 400 },
  InvalidNextTokenException: { grpc: S.INVALID_ARGUMENT, http: 400 },
  // WorkSpaces (WorkspacesService)
  InvalidParameterValuesException: { grpc: S.INVALID_ARGUMENT, http: 400 },
  ResourceNotFoundException: { grpc: S.NOT_FOUND, http: 400 },
  ResourceLimitExceededException: { grpc: S.RESOURCE_EXHAUSTED, http: 400 },
  ResourceUnavailableException: { grpc: S.FAILED_PRECONDITION, http: 400 },
  InvalidResourceStateException: { grpc: S.FAILED_PRECONDITION, http: 400 },
  OperationNotSupportedException: { grpc: S.FAILED_PRECONDITION, http: 400 },
  // EC2 / EBS (query-protocol error codes)
  "InvalidVolume.NotFound": { grpc: S.NOT_FOUND, http: 400 },
  "InvalidAttachment.NotFound": { grpc: S.NOT_FOUND, http: 400 },
  IncorrectState: { grpc: S.FAILED_PRECONDITION, http: 400 },
  VolumeInUse: { grpc: S.FAILED_PRECONDITION, http: 400 },
  InvalidParameterValue: { grpc: S.INVALID_ARGUMENT, http: 400 },
  MissingParameter: { grpc: S.INVALID_ARGUMENT, http: 400 },
  InvalidParameterDependency: { grpc: S.INVALID_ARGUMENT, http: 400 },
  IdempotentParameterMismatch: { grpc: S.ALREADY_EXISTS, http: 400 },
  "KMS.DisabledException": { grpc: S.FAILED_PRECONDITION, http: 400 },
};

const DEFAULT_SHAPE: ErrorShape = { grpc: S.UNKNOWN, http: 400 };

/** An error a caller can act on, named as AWS names it (the JSON `__type`). */
export class AwsError extends Error {
  constructor(
    /** The AWS error name, e.g. "NotFoundException". */
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = code;
  }
  get grpcStatus(): grpc.status {
    return (ERRORS[this.code] ?? DEFAULT_SHAPE).grpc;
  }
  get httpStatus(): number {
    return (ERRORS[this.code] ?? DEFAULT_SHAPE).http;
  }
  get retryable(): boolean {
    return (ERRORS[this.code] ?? DEFAULT_SHAPE).retryable === true;
  }
}


/**
 * Whether a failed call may succeed if made again: a retryable AWS error, or a failure that
 * is not an AWS answer at all (a dropped connection, Redis restarting).
 */
export function isRetryable(e: unknown): boolean {
  return e instanceof AwsError ? e.retryable : true;
}

/** Anything thrown becomes an AwsError; an unexpected one is an internal failure. */
export function asAwsError(e: unknown, internalName = "InternalFailure"): AwsError {
  if (e instanceof AwsError) return e;
  return new AwsError(internalName, "The request processing has failed because of an unknown error, exception or failure.");
}

const ERROR_TYPE_KEY = "x-aws-error-type";

/** AwsError → a gRPC ServiceError the server callback can send. */
export function toGrpcError(e: AwsError): Partial<grpc.ServiceError> {
  const metadata = new grpc.Metadata();
  metadata.set(ERROR_TYPE_KEY, e.code);
  return { code: e.grpcStatus, details: e.message, metadata };
}

/** A gRPC client failure → AwsError, keeping the AWS name the server sent. */
export function fromGrpcError(e: unknown): AwsError {
  const err = e as Partial<grpc.ServiceError>;
  const named = err.metadata?.get(ERROR_TYPE_KEY)[0];
  if (typeof named === "string") return new AwsError(named, err.details ?? "");
  switch (err.code) {
    case S.UNAVAILABLE:
      return new AwsError("ServiceUnavailable", `Service unavailable: ${err.details ?? "no connection"}`);
    case S.DEADLINE_EXCEEDED:
      return new AwsError("DependencyTimeoutException", `The service did not answer in time: ${err.details ?? ""}`);
    case S.INVALID_ARGUMENT:
      return new AwsError("ValidationException", err.details ?? "Invalid request");
    case S.RESOURCE_EXHAUSTED:
      return new AwsError("LimitExceededException", err.details ?? "Request too large");
    default:
      return new AwsError("InternalFailure", err.details ?? String(e));
  }
}

/** AwsError → the AWS JSON 1.1 error response. */
export function toHttpError(e: AwsError): { status: number; body: { __type: string; message: string } } {
  return { status: e.httpStatus, body: { __type: e.code, message: e.message } };
}
