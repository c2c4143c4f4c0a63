// npm run check-invariants: after a crash, check that Envelope's stored state holds together.
// Talks to the running stack (default: the compose demo on localhost) with the demo admin and
// the client certificate in ENVELOPE_CERTS_DIR (docker compose cp certs:/certs ./certs).
// Prints each violation; exits 1 when there is any.
import { checkRunningStack } from "./invariants.js";

checkRunningStack()
  .then((violations) => {
    for (const v of violations) console.log(`${v.kind}: ${v.detail}`);
    console.log(violations.length === 0 ? "no violations" : `${violations.length} violations`);
    process.exit(violations.length === 0 ? 0 : 1);
  })
  .catch((e: unknown) => {
    console.error(`check failed: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(2);
  });
