// Principals and their credentials, from an identity file loaded at start (see README,
// "Identities"): the account's IAM users and roles, their access keys and their
// identity-based policies.
import { readFileSync } from "node:fs";
import { z } from "zod";
import { AwsError } from "./errors.js";
import { type PolicyDocument, parsePolicy } from "./policy.js";

const accessKey = z.object({
  accessKeyId: z.string().regex(/^[A-Z0-9]{16,128}$/, "an access key id is 16 to 128 upper-case letters and digits"),
  secretAccessKey: z.string().min(1),
});
const principal = z.object({
  name: z.string().regex(/^[\w+=,.@-]{1,64}$/, "an IAM name: letters, digits and +=,.@_-"),
  accessKeys: z.array(accessKey).default([]),
  policies: z.array(z.record(z.string(), z.unknown())).default([]),
});
const identityFile = z.object({
  account: z.string().regex(/^\d{12}$/),
  users: z.array(principal).default([]),
  roles: z.array(principal.omit({ accessKeys: true })).default([]),
});

export interface Identity {
  arn: string;
  name: string;
  kind: "user" | "role";
  policies: PolicyDocument[];
}

export class IdentityStore {
  private readonly byArn = new Map<string, Identity>();
  private readonly byAccessKey = new Map<string, { identity: Identity; secretAccessKey: string }>();

  constructor(readonly account: string, file: z.infer<typeof identityFile>) {
    const add = (kind: "user" | "role", p: { name: string; policies: Record<string, unknown>[] }) => {
      const identity: Identity = {
        arn: `arn:aws:iam::${account}:${kind}/${p.name}`,
        name: p.name,
        kind,
        policies: p.policies.map((doc, i) => {
          try {
            return parsePolicy(JSON.stringify(doc));
          } catch (e) {
            throw new Error(`${kind} ${p.name}, policy ${i}: ${(e as Error).message}`);
          }
        }),
      };
      this.byArn.set(identity.arn, identity);
      return identity;
    };
    for (const u of file.users) {
      const identity = add("user", u);
      for (const k of u.accessKeys) this.byAccessKey.set(k.accessKeyId, { identity, secretAccessKey: k.secretAccessKey });
    }
    for (const r of file.roles) add("role", { ...r, policies: r.policies });
  }

  static load(path: string): IdentityStore {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(path, "utf8"));
    } catch (e) {
      throw new Error(`Invalid configuration:\n  IDENTITIES_FILE: cannot read ${path}: ${(e as Error).message}`);
    }
    const parsed = identityFile.safeParse(json);
    if (!parsed.success) {
      const i = parsed.error.issues[0]!;
      throw new Error(`Invalid configuration:\n  IDENTITIES_FILE: ${path} at ${i.path.join(".")}: ${i.message}`);
    }
    return new IdentityStore(parsed.data.account, parsed.data);
  }

  /** The identity and secret an access key belongs to; UnrecognizedClientException when none. */
  credentials(accessKeyId: string): { identity: Identity; secretAccessKey: string } {
    const found = this.byAccessKey.get(accessKeyId);
    if (!found) throw new AwsError("UnrecognizedClientException", "The security token included in the request is invalid.");
    return found;
  }

  /**
   * Identity-based policies of a principal: a user's or role's own; an assumed-role session
   * has its role's. Service sessions and unknown principals have none.
   */
  policiesFor(principalArn: string): PolicyDocument[] {
    const session = /^arn:aws:sts::(\d{12}):assumed-role\/([^/]+)\//.exec(principalArn);
    const arn = session ? `arn:aws:iam::${session[1]}:role/${session[2]}` : principalArn;
    return this.byArn.get(arn)?.policies ?? [];
  }
}
