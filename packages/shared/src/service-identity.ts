// Which callers each service's certificate may claim. A service acts as its own sessions and,
// through itself only (kms:ViaService), on behalf of the principal that called it; it can
// never claim another service's sessions or another service as the way in. The "client"
// certificate (tests, tools, a trusted front end) may claim IAM users and roles, nothing else.
import { AwsError } from "./errors.js";
import type { Caller } from "./caller.js";
import { EBS_ROLE, WORKSPACES_ROLE } from "./arn.js";

interface Rule {
  /** The service name in kms:ViaService (ec2.<region>.amazonaws.com, ...), if it may claim one. */
  via?: string;
  /** Infrastructure roles whose sessions it may claim. */
  roles: string[];
}

const RULES: Record<string, Rule> = {
  workspaces: { via: "workspaces", roles: [WORKSPACES_ROLE] },
  // EBS forwards the WorkSpaces session that called CreateVolume when it creates its grant.
  ebs: { via: "ec2", roles: [EBS_ROLE, WORKSPACES_ROLE] },
  kms: { roles: [] },
  client: { roles: [] },
};

const IAM_IDENTITY = /^arn:aws:iam::\d{12}:(user|role)\/[\w+=,.@/-]+$/;

/** Checks the caller a request names against its peer certificate; without mTLS (no peer) it is trusted as named. */
export function checkCallerForPeer(caller: Caller | undefined, peer: string | undefined): Caller | undefined {
  if (peer === undefined || caller === undefined) return caller;
  const rule = RULES[peer];
  const refuse = (why: string) =>
    new AwsError("AccessDeniedException", `The certificate for '${peer}' can't ${why}: a service is authenticated by its certificate, not by what it claims.`);
  if (!rule) throw refuse("call Envelope's services (unknown identity)");
  if (caller.viaService !== undefined) {
    const service = /^([a-z0-9-]+)\.[a-z0-9-]+\.amazonaws\.com$/.exec(caller.viaService)?.[1];
    if (!rule.via || service !== rule.via) throw refuse(`call through ${caller.viaService}`);
  }
  if (IAM_IDENTITY.test(caller.principal)) return caller;
  const session = /^arn:aws:sts::\d{12}:assumed-role\/([^/]+)\//.exec(caller.principal)?.[1];
  if (session && rule.roles.includes(session)) return caller;
  throw refuse(`act as ${caller.principal}`);
}
