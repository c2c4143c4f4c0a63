// npm run check-invariants: after a crash, check that Envelope's stored state holds together.
// Talks to the running stack (default: the compose demo on localhost) with the demo admin and
// the client certificate in ENVELOPE_CERTS_DIR (docker compose cp certs:/certs ./certs).
// Prints each violation; exits 1 when there is any.
import { loadWorkspaces } from "@envelope/proto";
import { checkInvariants } from "./invariants.js";
import { credentialsFor, ebsGrpc, kmsClient, optionsFor } from "../support/clients.js";

const host = process.env.ENVELOPE_HOST ?? "127.0.0.1";
const Ws = loadWorkspaces().envelope.workspaces.v1.Workspaces;
const workspaces = new Ws(`${host}:50053`, credentialsFor("client"), optionsFor(`${host}:50053`));
const ebs = ebsGrpc();

checkInvariants({ kms: kmsClient("admin"), ebs, workspaces, caller: { principal: "arn:aws:iam::111122223333:user/admin" } })
  .then((violations) => {
    for (const v of violations) console.log(`${v.kind}: ${v.detail}`);
    console.log(violations.length === 0 ? "no violations" : `${violations.length} violations`);
    process.exit(violations.length === 0 ? 0 : 1);
  })
  .catch((e: unknown) => {
    console.error(`check failed: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(2);
  });
