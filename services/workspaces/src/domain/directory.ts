// The seeded AWS Directory Service directory and the bundles WorkSpaces can launch.

export interface DirectoryUser {
  userName: string;
  sid: string;
}

export interface Bundle {
  bundleId: string;
  name: string;
  owner: string;
  description: string;
  imageId: string;
  rootCapacityGib: number;
  userCapacityGib: number;
  computeType: string;
}

export const DIRECTORY_ID = "d-1234abcd01";
/** The domain part of every SID in the directory, from the AWS documentation's example. */
const DOMAIN_SID = "S-1-5-21-277731876-1789304096-451871588";

/** alice has the documentation's SID (RID 1107); the others follow her, in order. */
const USER_NAMES = ["alice", "bob", "carol", ...Array.from({ length: 200 }, (_, i) => `user${String(i + 1).padStart(3, "0")}`)];
const USERS = new Map<string, DirectoryUser>(USER_NAMES.map((userName, i) => [userName.toLowerCase(), { userName, sid: `${DOMAIN_SID}-${1107 + i}` }]));

export function findUser(directoryId: string, userName: string): DirectoryUser | undefined {
  return directoryId === DIRECTORY_ID ? USERS.get(userName.toLowerCase()) : undefined;
}

export const directoryExists = (directoryId: string) => directoryId === DIRECTORY_ID;

export const BUNDLES: Bundle[] = [
  {
    bundleId: "wsb-demo0001",
    name: "Envelope Standard",
    owner: "AMAZON",
    description: "Standard bundle for the Envelope demo: 80 GB root volume, 50 GB user volume",
    imageId: "wsi-demo0001",
    rootCapacityGib: 80,
    userCapacityGib: 50,
    computeType: "STANDARD",
  },
];

export const findBundle = (bundleId: string) => BUNDLES.find((b) => b.bundleId === bundleId);
