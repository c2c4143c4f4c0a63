// One-shot: mints the CA and the services' certificates into a folder, unless it has them.
//   node packages/shared/dist/mint-certs.js <dir> [name ...]   (default: kms ebs workspaces client)
import { mintCertificates } from "./certs.js";

const [dir = "/certs", ...names] = process.argv.slice(2);
mintCertificates(dir, names.length ? names : ["kms", "ebs", "workspaces", "client"]).then(
  (minted) => {
    console.log(minted ? `minted certificates in ${dir}` : `certificates already in ${dir}; kept`);
  },
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
