// Malformed and hostile input at both HTTP edges and at every gRPC operation of the three
// services: each gets a 4xx (or the matching gRPC status) with AWS's error name and a message
// saying what is wrong; no 5xx (INTERNAL/UNKNOWN), no hang, no state change.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { SignatureV4 } from "@smithy/signature-v4";
import { Hash } from "@smithy/hash-node";
import { HttpRequest } from "@smithy/protocol-http";
import * as grpc from "@grpc/grpc-js";
import { DescribeKeyCommand, ListKeysCommand, ListAliasesCommand, ListGrantsCommand } from "@aws-sdk/client-kms";
import { loadEbs, loadKms, loadWorkspaces } from "@envelope/proto";
import { callerMetadata } from "@envelope/shared";
import { DescribeWorkspacesCommand } from "@aws-sdk/client-workspaces";
import { dockerSkipReason, startStack, type Stack } from "../support/stack.js";
import { DEMO_USERS, callUnary, credentialsFor, ebsGrpc, kmsClient, optionsFor, workspacesClient } from "../support/clients.js";

const skip = dockerSkipReason();

/** POSTs a body, signed as the SDK signs (the signature is valid: only the content is bad). */
async function send(port: number, service: "kms" | "workspaces", target: string, body: string) {
  const signer = new SignatureV4({ credentials: DEMO_USERS.admin, region: "us-west-2", service, sha256: Hash.bind(null, "sha256") });
  const req = await signer.sign(
    new HttpRequest({
      method: "POST", protocol: "http:", hostname: "127.0.0.1", port, path: "/",
      headers: { host: `127.0.0.1:${port}`, "content-type": "application/x-amz-json-1.1", "x-amz-target": target },
      body,
    }),
  );
  const res = await fetch(`http://127.0.0.1:${port}/`, { method: "POST", headers: req.headers as Record<string, string>, body, signal: AbortSignal.timeout(15_000) });
  return { status: res.status, body: (await res.json()) as { __type?: string; message?: string } };
}

const kms = (op: string, body: unknown) => send(4571, "kms", `TrentService.${op}`, typeof body === "string" ? body : JSON.stringify(body));
const ws = (op: string, body: unknown) => send(4570, "workspaces", `WorkspacesService.${op}`, typeof body === "string" ? body : JSON.stringify(body));
const junkBlob = Buffer.from("definitely not a ciphertext blob").toString("base64");
const bigContext = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`k${i}`, "v".repeat(60)]));

const CASES: [string, () => ReturnType<typeof send>, string][] = [
  ["KMS: body is not JSON", () => kms("DescribeKey", "{not json"), "SerializationException"],
  ["KMS: body is a JSON array", () => kms("DescribeKey", "[1,2]"), "SerializationException"],
  ["KMS: unknown operation", () => kms("StealKeys", {}), "UnknownOperationException"],
  ["KMS: missing KeyId", () => kms("DescribeKey", {}), "ValidationException"],
  ["KMS: KeyId of the wrong type", () => kms("DescribeKey", { KeyId: 42 }), "ValidationException"],
  ["KMS: KeyId too long", () => kms("DescribeKey", { KeyId: "a".repeat(3000) }), "ValidationException"],
  ["KMS: an ARN of another service", () => kms("DescribeKey", { KeyId: "arn:aws:s3:::bucket" }), "InvalidArnException"],
  ["KMS: unicode alias that doesn't exist", () => kms("DescribeKey", { KeyId: "alias/ключ-🔑" }), "NotFoundException"],
  ["KMS: CiphertextBlob not base64", () => kms("Decrypt", { CiphertextBlob: "%%%" }), "SerializationException"],
  ["KMS: CiphertextBlob not a KMS blob", () => kms("Decrypt", { CiphertextBlob: junkBlob }), "InvalidCiphertextException"],
  ["KMS: encryption context with a non-string value", () => kms("GenerateDataKey", { KeyId: "alias/workspaces-demo", KeySpec: "AES_256", EncryptionContext: { a: 1 } }), "ValidationException"],
  ["KMS: oversized encryption context", () => kms("GenerateDataKey", { KeyId: "alias/workspaces-demo", KeySpec: "AES_256", EncryptionContext: bigContext }), "ValidationException"],
  ["KMS: NumberOfBytes out of range", () => kms("GenerateDataKey", { KeyId: "alias/workspaces-demo", NumberOfBytes: 5000 }), "ValidationException"],
  ["KMS: both NumberOfBytes and KeySpec", () => kms("GenerateDataKey", { KeyId: "alias/workspaces-demo", NumberOfBytes: 32, KeySpec: "AES_256" }), "ValidationException"],
  ["KMS: Plaintext over 4096 bytes", () => kms("Encrypt", { KeyId: "alias/workspaces-demo", Plaintext: Buffer.alloc(5000).toString("base64") }), "ValidationException"],
  ["KMS: Operations not a list", () => kms("CreateGrant", { KeyId: "1234abcd-12ab-34cd-56ef-1234567890ab", GranteePrincipal: "arn:aws:iam::111122223333:user/x", Operations: "Decrypt" }), "ValidationException"],
  ["KMS: a grant operation that doesn't exist", () => kms("CreateGrant", { KeyId: "1234abcd-12ab-34cd-56ef-1234567890ab", GranteePrincipal: "arn:aws:iam::111122223333:user/x", Operations: ["Everything"] }), "ValidationException"],
  ["KMS: a replayed garbage grant token", () => kms("RetireGrant", { GrantToken: "AQ" + "A".repeat(40) }), "InvalidGrantTokenException"],
  ["KMS: GrantId not 64 hex", () => kms("RevokeGrant", { KeyId: "1234abcd-12ab-34cd-56ef-1234567890ab", GrantId: "../../etc/passwd" }), "InvalidGrantIdException"],
  ["KMS: Limit 0", () => kms("ListKeys", { Limit: 0 }), "ValidationException"],
  ["KMS: a Marker that was never issued", () => kms("ListKeys", { Marker: "abc" }), "InvalidMarkerException"],
  ["KMS: a malformed key policy", () => kms("PutKeyPolicy", { KeyId: "1234abcd-12ab-34cd-56ef-1234567890ab", Policy: '{"Statement": "nope"}' }), "MalformedPolicyDocumentException"],
  ["KMS: a reserved alias name", () => kms("CreateAlias", { AliasName: "alias/aws/mine", TargetKeyId: "1234abcd-12ab-34cd-56ef-1234567890ab" }), "InvalidAliasNameException"],
  ["KMS: a body over 1 MiB", () => kms("DescribeKey", JSON.stringify({ KeyId: "x".repeat(1_100_000) })), "RequestEntityTooLargeException"],
  ["WorkSpaces: Workspaces not a list", () => ws("CreateWorkspaces", { Workspaces: "alice" }), "ValidationException"],
  ["WorkSpaces: no Workspaces", () => ws("CreateWorkspaces", { Workspaces: [] }), "ValidationException"],
  ["WorkSpaces: 26 Workspaces", () => ws("CreateWorkspaces", { Workspaces: Array.from({ length: 26 }, () => ({ DirectoryId: "d-1234abcd01", UserName: "alice", BundleId: "wsb-demo0001" })) }), "ValidationException"],
  ["WorkSpaces: a request missing UserName", () => ws("CreateWorkspaces", { Workspaces: [{ DirectoryId: "d-1234abcd01", BundleId: "wsb-demo0001" }] }), "ValidationException"],
  ["WorkSpaces: an encryption flag that isn't a boolean", () => ws("CreateWorkspaces", { Workspaces: [{ DirectoryId: "d-1234abcd01", UserName: "alice", BundleId: "wsb-demo0001", RootVolumeEncryptionEnabled: "yes" }] }), "ValidationException"],
  ["WorkSpaces: Limit of the wrong type", () => ws("DescribeWorkspaces", { Limit: "ten" }), "ValidationException"],
  ["WorkSpaces: Limit out of range", () => ws("DescribeWorkspaces", { Limit: 500 }), "InvalidParameterValuesException"],
  ["WorkSpaces: two filters at once", () => ws("DescribeWorkspaces", { DirectoryId: "d-1234abcd01", BundleId: "wsb-demo0001" }), "InvalidParameterValuesException"],
  ["WorkSpaces: terminate without WorkspaceId", () => ws("TerminateWorkspaces", { TerminateWorkspaceRequests: [{}] }), "ValidationException"],
  ["WorkSpaces: rebuild two at once", () => ws("RebuildWorkspaces", { RebuildWorkspaceRequests: [{ WorkspaceId: "ws-aaaaaaaaa" }, { WorkspaceId: "ws-bbbbbbbbb" }] }), "ValidationException"],
  ["WorkSpaces: unknown operation", () => ws("DeleteEverything", {}), "UnknownOperationException"],
];

/** What malformed input must not change: keys and their states, aliases, grants, volumes, WorkSpaces. */
async function stateSnapshot() {
  const admin = kmsClient("admin");
  const keys = (await admin.send(new ListKeysCommand({}))).Keys ?? [];
  const keyStates = await Promise.all(keys.map(async (k) => `${k.KeyId}:${(await admin.send(new DescribeKeyCommand({ KeyId: k.KeyId! }))).KeyMetadata!.KeyState}`));
  const grants = await Promise.all(keys.map(async (k) => (await admin.send(new ListGrantsCommand({ KeyId: k.KeyId! }))).Grants?.length ?? 0));
  const ebs = ebsGrpc();
  const volumes = (await callUnary(ebs, ebs.DescribeVolumes, { maxResults: 1000 })).volumes.length;
  ebs.close();
  return {
    keyStates: keyStates.sort(),
    aliases: (await admin.send(new ListAliasesCommand({}))).Aliases?.length,
    grants,
    volumes,
    workspaces: (await workspacesClient("wsadmin").send(new DescribeWorkspacesCommand({}))).Workspaces?.length,
  };
}

describe("bad input: AWS errors, never a 5xx, a hang or a state change", { skip, timeout: 15 * 60_000 }, () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack?.down();
  });

  test(`${CASES.length} malformed requests`, async (t) => {
    const admin = kmsClient("admin");
    const before = { keys: (await admin.send(new ListKeysCommand({}))).Keys?.length, aliases: (await admin.send(new ListAliasesCommand({}))).Aliases?.length };
    for (const [name, call, expected] of CASES) {
      await t.test(name, async () => {
        const { status, body } = await call();
        assert.ok(status >= 400 && status < 500, `a 4xx, got ${status}`);
        assert.equal(body.__type, expected);
        assert.ok((body.message ?? "").length > 10, "a message that says what is wrong");
      });
    }
    const afterState = { keys: (await admin.send(new ListKeysCommand({}))).Keys?.length, aliases: (await admin.send(new ListAliasesCommand({}))).Aliases?.length };
    assert.deepEqual(afterState, before, "no state change");
    assert.deepEqual((await workspacesClient("wsadmin").send(new DescribeWorkspacesCommand({}))).Workspaces, [], "no WorkSpace was created");
  });

  test("generated hostile bodies for every operation: always a 4xx with an AWS error name", async (t) => {
    // Members of the right names with values of any type, plus junk members, unicode and deep nesting.
    const value = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.string({ unit: "binary", maxLength: 300 }), fc.constant(null));
    const kmsMembers = ["KeyId", "CiphertextBlob", "Plaintext", "EncryptionContext", "GrantTokens", "NumberOfBytes", "KeySpec", "Limit", "Marker", "GranteePrincipal", "Operations", "Constraints", "Name", "GrantId", "GrantToken", "AliasName", "TargetKeyId", "Policy"];
    const wsMembers = ["Workspaces", "WorkspaceIds", "DirectoryId", "UserName", "BundleId", "Limit", "NextToken", "TerminateWorkspaceRequests", "RebootWorkspaceRequests", "BundleIds"];
    const body = (members: string[]) => fc.dictionary(fc.oneof(fc.constantFrom(...members), fc.string({ maxLength: 10 })), value, { maxKeys: 5 });
    const kmsOps = ["DescribeKey", "Encrypt", "Decrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncrypt", "CreateGrant", "ListGrants", "RetireGrant", "RevokeGrant", "CreateAlias", "DeleteAlias", "GetKeyPolicy", "ListAliases", "ListKeys", "ListRetirableGrants", "DisableKey"];
    const wsOps = ["DescribeWorkspaces", "TerminateWorkspaces", "RebootWorkspaces", "RebuildWorkspaces", "StartWorkspaces", "StopWorkspaces", "DescribeWorkspaceBundles"];
    let tried = 0;
    const answered = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.tuple(fc.constant("kms" as const), fc.constantFrom(...kmsOps), body(kmsMembers)),
          fc.tuple(fc.constant("ws" as const), fc.constantFrom(...wsOps), body(wsMembers)),
        ),
        async ([edge, op, input]) => {
          tried++;
          const { status, body: out } = await (edge === "kms" ? kms(op, input) : ws(op, input));
          // A generated body may happen to be valid (ListKeys {} is): then 200. Never a 5xx.
          if (status === 200) return;
          assert.ok(status >= 400 && status < 500, `${edge} ${op} ${JSON.stringify(input).slice(0, 200)} → ${status} ${JSON.stringify(out)}`);
          assert.ok(out.__type && out.message, "AWS error name and message");
          answered.set(out.__type, (answered.get(out.__type) ?? 0) + 1);
        },
      ),
      { numRuns: 400, seed: 20261129 },
    );
    t.diagnostic?.(`tried ${tried}: ${JSON.stringify(Object.fromEntries(answered))}`);
    console.log(`generated inputs tried: ${tried}; answered: ${JSON.stringify(Object.fromEntries(answered))}`);
    const keys = (await kmsClient("admin").send(new ListKeysCommand({}))).Keys?.length;
    assert.ok(keys !== undefined && keys <= 3, "no key was created by the generated input");
  });
  test("generated malformed and hostile gRPC requests for every operation of kms, ebs and workspaces", async (t) => {
    const services = [
      { address: "127.0.0.1:50051", Ctor: loadKms().envelope.kms.v1.KeyManagementService },
      { address: "127.0.0.1:50052", Ctor: loadEbs().envelope.ebs.v1.ElasticBlockStore },
      { address: "127.0.0.1:50053", Ctor: loadWorkspaces().envelope.workspaces.v1.Workspaces },
    ].map(({ address, Ctor }) => ({ client: new Ctor(address, credentialsFor("client"), optionsFor(address)), methods: Object.values(Ctor.service) }));
    const before = await stateSnapshot();

    // Values by protobuf field type: the right type, hostile content.
    const hostileString = fc.oneof(
      fc.string({ unit: "grapheme", maxLength: 40 }),
      fc.string({ unit: "binary", maxLength: 300 }),
      fc.constantFrom("", " ", "../../etc/passwd", "arn:aws:kms:us-west-2:999999999999:key/nope", "arn:aws:s3:::bucket", "alias/", "vol-", "ws-", "d-", "\u0000", "🔑".repeat(500), "x".repeat(70_000)),
    );
    const byType: Record<string, fc.Arbitrary<unknown>> = {
      TYPE_STRING: hostileString,
      TYPE_INT32: fc.oneof(fc.integer(), fc.constantFrom(0, -1, 2 ** 31 - 1, -(2 ** 31))),
      TYPE_INT64: fc.oneof(fc.integer(), fc.constantFrom(0, -1)),
      TYPE_UINT32: fc.nat(),
      TYPE_BOOL: fc.boolean(),
      TYPE_DOUBLE: fc.oneof(fc.double(), fc.constantFrom(Number.NaN, Infinity, -1)),
      TYPE_BYTES: fc.oneof(fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)), fc.constant(Buffer.alloc(2 * 1024 * 1024, 7))),
      TYPE_ENUM: fc.integer({ min: -1, max: 20 }),
    };
    type Field = { name: string; type: string; label: string; typeName: string };
    const valueFor = (f: Field): fc.Arbitrary<unknown> => {
      if (f.type === "TYPE_MESSAGE") {
        // Maps (encryption contexts, tags): too many pairs, huge or non-ASCII keys and values.
        if (f.typeName.endsWith("Entry")) return fc.dictionary(hostileString, hostileString, { maxKeys: 80 });
        return fc.constant({});
      }
      const one = byType[f.type] ?? fc.constant(undefined);
      return f.label === "LABEL_REPEATED" ? fc.array(one, { maxLength: 40 }) : one;
    };
    const requestFor = (method: { requestType: { type: { field: Field[] } } }) =>
      fc.record(Object.fromEntries(method.requestType.type.field.map((f) => [f.name, valueFor(f)])), { requiredKeys: [] });
    const callerArb = fc.constantFrom(
      { principal: "arn:aws:iam::111122223333:user/admin" },
      undefined,
      { principal: "not an arn" },
      // A service session a user's certificate may not claim.
      { principal: "arn:aws:sts::111122223333:assumed-role/aws:ec2-infrastructure/ws-abcdefghi", viaService: "ec2.us-west-2.amazonaws.com" },
    );

    let tried = 0;
    const answered = new Map<string, number>();
    const succeeded: string[] = [];
    const call = (client: grpc.Client, path: string, serialize: (v: unknown) => Buffer, value: unknown, caller: (typeof callerArb extends fc.Arbitrary<infer C> ? C : never)) =>
      new Promise<grpc.ServiceError | undefined>((resolve) => {
        const md = caller ? callerMetadata(caller) : new grpc.Metadata();
        client.makeUnaryRequest(path, serialize, (b: Buffer) => b, value, md, { deadline: Date.now() + 15_000 }, (err) => resolve(err ?? undefined));
      });
    const cases = fc.oneof(
      // Typed: every field of the method's request, each with a hostile value of its type.
      fc.constantFrom(...services).chain(({ client, methods }) =>
        fc.constantFrom(...methods).chain((m) => fc.tuple(fc.constant(client), fc.constant(m), requestFor(m as never), fc.constant("typed" as const))),
      ),
      // Raw: bytes that may not be a protobuf message at all.
      fc.constantFrom(...services).chain(({ client, methods }) =>
        fc.constantFrom(...methods).chain((m) => fc.tuple(fc.constant(client), fc.constant(m), fc.uint8Array({ minLength: 1, maxLength: 200 }).map((b) => Buffer.from(b)), fc.constant("raw" as const))),
      ),
    );
    await fc.assert(
      fc.asyncProperty(cases, callerArb, async ([client, method, value, kind], caller) => {
        let bytes: Buffer;
        try {
          bytes = kind === "raw" ? (value as Buffer) : method.requestSerialize(value);
        } catch {
          return; // not expressible as the message: the client's own serializer refuses it
        }
        tried++;
        const err = await call(client, method.path, (b) => b as Buffer, bytes, caller);
        const op = method.path.split("/").pop()!;
        if (!err) {
          succeeded.push(op); // a generated request that happens to be valid
          return;
        }
        const label = `${grpc.status[err.code]}/${String(err.metadata?.get("x-aws-error-type")[0] ?? "-")}`;
        answered.set(label, (answered.get(label) ?? 0) + 1);
        const where = `${kind} ${method.path} → ${label}: ${err.details}`;
        assert.ok(![grpc.status.INTERNAL, grpc.status.UNKNOWN, grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED, grpc.status.DATA_LOSS].includes(err.code), where);
        if (err.code !== grpc.status.RESOURCE_EXHAUSTED) {
          assert.ok(err.metadata.get("x-aws-error-type")[0], `an AWS error name: ${where}`);
          assert.ok(err.details.length > 10, `a message that says what is wrong: ${where}`);
        }
      }),
      { numRuns: 600, seed: 20261129 },
    );
    for (const s of services) s.client.close();
    const summary = `gRPC inputs tried: ${tried}; answered: ${JSON.stringify(Object.fromEntries(answered))}; valid by chance: ${JSON.stringify(succeeded)}`;
    t.diagnostic?.(summary);
    console.log(summary);
    assert.deepEqual(await stateSnapshot(), before, "no state change");
  });
});
