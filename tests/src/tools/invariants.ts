// Checks the stored state's invariants through the public APIs, as an operator would after a
// crash: every grant belongs to a live WorkSpace (and an EBS grant to a live volume), every
// WorkSpace volume to a live WorkSpace, every AVAILABLE encrypted WorkSpace has its grants
// and attached volumes, EBS holds the data key of every attached encrypted volume, and every
// WorkSpace in ERROR or UNHEALTHY says why.
import type { KMSClient, GrantListEntry } from "@aws-sdk/client-kms";
import { ListGrantsCommand, ListKeysCommand } from "@aws-sdk/client-kms";
import { loadWorkspaces, type ebs, type workspaces } from "@envelope/proto";
import { type Caller, callUnary } from "@envelope/shared";
import { credentialsFor, ebsGrpc, kmsClient, optionsFor } from "../support/clients.js";

export interface Violation {
  kind:
    | "orphaned-grant"
    | "volume-without-workspace"
    | "workspace-grant-missing"
    | "workspace-volume-missing"
    | "volume-not-attached"
    | "attached-volume-without-data-key"
    | "failed-without-reason";
  detail: string;
}

const SESSION_RE = /:assumed-role\/aws:(workspaces|ec2)-infrastructure\/(ws-[0-9a-z]+)$/;

async function allGrants(kms: KMSClient): Promise<GrantListEntry[]> {
  const grants: GrantListEntry[] = [];
  let keyMarker: string | undefined;
  do {
    const keys = await kms.send(new ListKeysCommand({ Limit: 1000, ...(keyMarker ? { Marker: keyMarker } : {}) }));
    for (const k of keys.Keys ?? []) {
      let marker: string | undefined;
      do {
        const page = await kms.send(new ListGrantsCommand({ KeyId: k.KeyId!, Limit: 100, ...(marker ? { Marker: marker } : {}) }));
        grants.push(...(page.Grants ?? []));
        marker = page.Truncated ? page.NextMarker : undefined;
      } while (marker);
    }
    keyMarker = keys.Truncated ? keys.NextMarker : undefined;
  } while (keyMarker);
  return grants;
}

async function allVolumes(client: ebs.ElasticBlockStoreClient): Promise<ebs.Volume__Output[]> {
  const out: ebs.Volume__Output[] = [];
  let nextToken = "";
  do {
    const page = await callUnary(client, client.DescribeVolumes, { maxResults: 1000, nextToken });
    out.push(...page.volumes);
    nextToken = page.nextToken;
  } while (nextToken);
  return out;
}

async function allWorkspaces(client: workspaces.WorkspacesClient, caller: Caller): Promise<workspaces.Workspace__Output[]> {
  const out: workspaces.Workspace__Output[] = [];
  let nextToken = "";
  do {
    const page = await callUnary(client, client.DescribeWorkspaces, { limit: 25, nextToken }, { caller });
    out.push(...page.workspaces);
    nextToken = page.nextToken;
  } while (nextToken);
  return out;
}

export async function checkInvariants(clients: {
  kms: KMSClient;
  ebs: ebs.ElasticBlockStoreClient;
  workspaces: workspaces.WorkspacesClient;
  caller: Caller;
}): Promise<Violation[]> {
  const [grants, volumes, wss] = await Promise.all([allGrants(clients.kms), allVolumes(clients.ebs), allWorkspaces(clients.workspaces, clients.caller)]);
  const live = new Map(wss.filter((w) => w.state !== "TERMINATED").map((w) => [w.workspaceId, w]));
  const volumeIds = new Set(volumes.map((v) => v.volumeId));
  const grantIds = new Set(grants.map((g) => g.GrantId));
  const violations: Violation[] = [];
  for (const g of grants) {
    const session = SESSION_RE.exec(g.GranteePrincipal ?? "");
    if (!session) continue; // a grant a user made for their own purposes
    const [, service, workspaceId] = session as unknown as [string, string, string];
    const volume = g.Constraints?.EncryptionContextSubset?.["aws:ebs:id"];
    if (!live.has(workspaceId)) violations.push({ kind: "orphaned-grant", detail: `grant ${g.GrantId} (${service}) for ${workspaceId}, which is gone` });
    else if (service === "ec2" && volume && !volumeIds.has(volume)) violations.push({ kind: "orphaned-grant", detail: `grant ${g.GrantId} for ${volume}, which is gone` });
  }
  for (const v of volumes) {
    if (v.workspaceId && !live.has(v.workspaceId)) violations.push({ kind: "volume-without-workspace", detail: `${v.volumeId} of ${v.workspaceId}` });
  }
  for (const v of volumes) {
    if (v.state === "in-use" && v.encrypted && !v.dataKeyInMemory) violations.push({ kind: "attached-volume-without-data-key", detail: `${v.volumeId} of ${v.workspaceId || "no WorkSpace"}` });
  }
  for (const w of live.values()) {
    if ((w.state === "ERROR" || w.state === "UNHEALTHY") && !w.errorCode) violations.push({ kind: "failed-without-reason", detail: `${w.workspaceId} is ${w.state}` });
    if (w.state !== "AVAILABLE") continue;
    if (w.grantId && !grantIds.has(w.grantId)) violations.push({ kind: "workspace-grant-missing", detail: `${w.workspaceId}: grant ${w.grantId}` });
    for (const id of [w.rootVolumeId, w.userVolumeId]) {
      const v = volumes.find((x) => x.volumeId === id);
      if (!v) violations.push({ kind: "workspace-volume-missing", detail: `${w.workspaceId}: ${id}` });
      else if (v.state !== "in-use") violations.push({ kind: "volume-not-attached", detail: `${w.workspaceId}: ${id} is ${v.state}` });
      else if (v.encrypted && !grantIds.has(v.grantId)) violations.push({ kind: "workspace-grant-missing", detail: `${id}: EBS grant ${v.grantId}` });
    }
  }
  return violations;
}

/** The check against a running stack (default: the compose demo on this machine), as the demo admin. */
export async function checkRunningStack(host = process.env.ENVELOPE_HOST ?? "127.0.0.1"): Promise<Violation[]> {
  const Ws = loadWorkspaces().envelope.workspaces.v1.Workspaces;
  const workspaces = new Ws(`${host}:50053`, credentialsFor("client"), optionsFor(`${host}:50053`));
  const ebs = ebsGrpc("client", `${host}:50052`);
  try {
    return await checkInvariants({ kms: kmsClient("admin"), ebs, workspaces, caller: { principal: "arn:aws:iam::111122223333:user/admin" } });
  } finally {
    workspaces.close();
    ebs.close();
  }
}
