// Certificates for mutual TLS between Envelope's services: one CA, and one certificate per
// service whose common name is the service's identity (kms, ebs, workspaces, client).
// Minted with @peculiar/x509 over Node's WebCrypto: ECDSA P-256, valid for a year.
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import * as x509 from "@peculiar/x509";

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const YEAR_MS = 365 * 86_400_000;

async function pemKey(key: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await crypto.subtle.exportKey("pkcs8", key));
  return `-----BEGIN PRIVATE KEY-----\n${der.toString("base64").replace(/.{64}/g, "$&\n")}\n-----END PRIVATE KEY-----\n`;
}

/**
 * Writes ca.crt and <name>.crt/<name>.key for each name into dir, unless ca.crt is there
 * already (so a restart, or certificates a test minted itself, are kept).
 */
export async function mintCertificates(dir: string, names: string[], hostnames: string[] = []): Promise<boolean> {
  if (existsSync(path.join(dir, "ca.crt"))) return false;
  x509.cryptoProvider.set(globalThis.crypto);
  mkdirSync(dir, { recursive: true });
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(Date.now() + YEAR_MS);
  const caKeys = await crypto.subtle.generateKey(ALG, true, ["sign", "verify"]);
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: "CN=Envelope demo CA",
    notBefore,
    notAfter,
    keys: caKeys,
    signingAlgorithm: ALG,
    extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
  });
  for (const [i, name] of names.entries()) {
    const keys = await crypto.subtle.generateKey(ALG, true, ["sign", "verify"]);
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: (i + 2).toString(16).padStart(2, "0"),
      subject: `CN=${name}`,
      issuer: ca.subject,
      notBefore,
      notAfter,
      publicKey: keys.publicKey,
      signingKey: caKeys.privateKey,
      signingAlgorithm: ALG,
      extensions: [
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
        new x509.SubjectAlternativeNameExtension([
          ...[name, "localhost", ...hostnames].map((value) => ({ type: "dns" as const, value })),
          { type: "ip", value: "127.0.0.1" },
        ]),
      ],
    });
    writeFileSync(path.join(dir, `${name}.crt`), cert.toString("pem"));
    writeFileSync(path.join(dir, `${name}.key`), await pemKey(keys.privateKey!), { mode: 0o644 });
  }
  writeFileSync(path.join(dir, "ca.crt"), ca.toString("pem"));
  return true;
}

export interface TlsFiles {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

/** The CA and one identity's certificate and key from a certificates folder. */
export function readTlsFiles(dir: string, name: string): TlsFiles {
  const read = (f: string) => {
    try {
      return readFileSync(path.join(dir, f));
    } catch {
      throw new Error(`Invalid configuration:\n  TLS_DIR: ${path.join(dir, f)} is missing (mint certificates with: node packages/shared/dist/mint-certs.js ${dir})`);
    }
  };
  return { ca: read("ca.crt"), cert: read(`${name}.crt`), key: read(`${name}.key`) };
}
