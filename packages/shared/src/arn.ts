// ARNs and principals in the shapes AWS uses for the account Envelope emulates.

export interface Partition {
  account: string;
  region: string;
}

export const accountRootArn = (p: Partition) => `arn:aws:iam::${p.account}:root`;
/** An integrated service's session for one resource, as CloudTrail shows EBS's (aws:ec2-infrastructure). */
export const serviceSessionArn = (p: Partition, role: string, session: string) =>
  `arn:aws:sts::${p.account}:assumed-role/${role}/${session}`;
export const viaService = (p: Partition, service: "ec2" | "workspaces") => `${service}.${p.region}.amazonaws.com`;

/** The role names Envelope's services assume for a WorkSpace, mirroring AWS's infrastructure roles. */
export const WORKSPACES_ROLE = "aws:workspaces-infrastructure";
export const EBS_ROLE = "aws:ec2-infrastructure";
