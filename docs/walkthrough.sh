#!/usr/bin/env bash
# The README's AWS CLI walk-through, as a script: run it against `docker compose up`.
#   bash docs/walkthrough.sh
set -euo pipefail
WS="--endpoint-url http://localhost:4570"
KMS="--endpoint-url http://localhost:4571"
export AWS_DEFAULT_REGION=us-west-2
as_wsadmin() { AWS_ACCESS_KEY_ID=AKIAWSADMIN000000001 AWS_SECRET_ACCESS_KEY=wsadmin-secret "$@"; }
as_admin() { AWS_ACCESS_KEY_ID=AKIAADMIN00000000001 AWS_SECRET_ACCESS_KEY=admin-secret "$@"; }
step() { printf '\n$ %s\n' "$*" | sed -E 's/--endpoint-url http:\/\/localhost:457[01]/--endpoint-url …/'; }
wait_for() { # wait_for <workspace id> <state>
  for _ in $(seq 1 120); do
    s=$(as_wsadmin aws workspaces describe-workspaces $WS --workspace-ids "$1" --query 'Workspaces[0].State' --output text)
    [ "$s" = "$2" ] || { [ "$2" = TERMINATED ] && [ "$s" = None ]; } && return 0
    sleep 0.5
  done
  echo "timed out waiting for $1 to be $2" >&2; return 1
}

step aws workspaces describe-workspace-bundles $WS --query 'Bundles[].[BundleId,Name,RootStorage.Capacity,UserStorage.Capacity]' --output text
as_wsadmin aws workspaces describe-workspace-bundles $WS --query 'Bundles[].[BundleId,Name,RootStorage.Capacity,UserStorage.Capacity]' --output text

# Steps 1–8 with the default key, aws/workspaces: no setup needed.
step aws workspaces create-workspaces $WS --workspaces DirectoryId=d-1234abcd01,UserName=alice,BundleId=wsb-demo0001,RootVolumeEncryptionEnabled=true,UserVolumeEncryptionEnabled=true --query 'PendingRequests[0].[WorkspaceId,State]' --output text
read -r ALICE _ < <(as_wsadmin aws workspaces create-workspaces $WS --workspaces DirectoryId=d-1234abcd01,UserName=alice,BundleId=wsb-demo0001,RootVolumeEncryptionEnabled=true,UserVolumeEncryptionEnabled=true --query 'PendingRequests[0].[WorkspaceId,State]' --output text)
echo "$ALICE	PENDING"
wait_for "$ALICE" AVAILABLE
step aws workspaces describe-workspaces $WS --workspace-ids "$ALICE" --query 'Workspaces[0].[WorkspaceId,UserName,State,VolumeEncryptionKey]' --output text
as_wsadmin aws workspaces describe-workspaces $WS --workspace-ids "$ALICE" --query 'Workspaces[0].[WorkspaceId,UserName,State,VolumeEncryptionKey]' --output text

KEY=$(as_admin aws kms describe-key $KMS --key-id alias/aws/workspaces --query KeyMetadata.KeyId --output text)
step aws kms describe-key $KMS --key-id alias/aws/workspaces --query 'KeyMetadata.[KeyId,KeyManager,KeyState]' --output text
as_admin aws kms describe-key $KMS --key-id alias/aws/workspaces --query 'KeyMetadata.[KeyId,KeyManager,KeyState]' --output text
# The grants: one for WorkSpaces scoped to alice and the directory, one for EBS per volume.
step aws kms list-grants $KMS --key-id "$KEY" --query 'Grants[].{Grantee:GranteePrincipal,Operations:join(\`,\`,Operations),Constraint:Constraints.EncryptionContextSubset}'
as_admin aws kms list-grants $KMS --key-id "$KEY" --query 'Grants[].{Grantee:GranteePrincipal,Operations:join(`,`,Operations),Constraint:Constraints.EncryptionContextSubset}'

# Why was the key used? The audit trail answers as CloudTrail does.
step aws cloudtrail lookup-events $KMS --lookup-attributes AttributeKey=EventName,AttributeValue=Decrypt --max-results 1 --query 'Events[0].CloudTrailEvent' --output text \| python3 -m json.tool
as_admin aws cloudtrail lookup-events $KMS --lookup-attributes AttributeKey=EventName,AttributeValue=Decrypt --max-results 1 --query 'Events[0].CloudTrailEvent' --output text | python3 -m json.tool

# A custom CMK: the demo key alias/workspaces-demo (key id as in the AWS guide), with wsadmin
# as a key user (Part 1) and the seed's IAM policy allowing kms:CreateGrant on it (Part 2).
CMK=$(as_admin aws kms describe-key $KMS --key-id alias/workspaces-demo --query KeyMetadata.KeyId --output text)
step aws kms get-key-policy $KMS --key-id "$CMK" --policy-name default "# each statement's Sid and principals"
as_admin aws kms get-key-policy $KMS --key-id "$CMK" --policy-name default --query Policy --output text | python3 -c 'import json,sys; p=json.load(sys.stdin); [print(s["Sid"], "->", s["Principal"]["AWS"]) for s in p["Statement"]]'
step aws workspaces create-workspaces $WS --workspaces DirectoryId=d-1234abcd01,UserName=bob,BundleId=wsb-demo0001,VolumeEncryptionKey=alias/workspaces-demo,RootVolumeEncryptionEnabled=true,UserVolumeEncryptionEnabled=true --query 'PendingRequests[0].[WorkspaceId,State,VolumeEncryptionKey]' --output text
read -r BOB _ < <(as_wsadmin aws workspaces create-workspaces $WS --workspaces "DirectoryId=d-1234abcd01,UserName=bob,BundleId=wsb-demo0001,VolumeEncryptionKey=alias/workspaces-demo,RootVolumeEncryptionEnabled=true,UserVolumeEncryptionEnabled=true" --query 'PendingRequests[0].[WorkspaceId,State]' --output text)
echo "$BOB	PENDING	alias/workspaces-demo"
wait_for "$BOB" AVAILABLE
step aws kms list-grants $KMS --key-id "$CMK" --query 'length(Grants)'
as_admin aws kms list-grants $KMS --key-id "$CMK" --query 'length(Grants)'

# wsadmin-nokms is neither a key user nor allowed kms:CreateGrant: the default key still works,
# the custom CMK fails, because a principal can only grant what it has.
step "AWS_ACCESS_KEY_ID=AKIAWSNOKMS000000001 AWS_SECRET_ACCESS_KEY=wsnokms-secret" aws workspaces create-workspaces $WS --workspaces DirectoryId=d-1234abcd01,UserName=carol,BundleId=wsb-demo0001,VolumeEncryptionKey=alias/workspaces-demo,RootVolumeEncryptionEnabled=true,UserVolumeEncryptionEnabled=true
AWS_ACCESS_KEY_ID=AKIAWSNOKMS000000001 AWS_SECRET_ACCESS_KEY=wsnokms-secret aws workspaces create-workspaces $WS --workspaces "DirectoryId=d-1234abcd01,UserName=carol,BundleId=wsb-demo0001,VolumeEncryptionKey=alias/workspaces-demo,RootVolumeEncryptionEnabled=true,UserVolumeEncryptionEnabled=true"

# Part 1 with the AWS CLI: an administrator of the key adds wsadmin-nokms to its key users
# (get-key-policy, edit, put-key-policy); then wsadmin-nokms can use the custom CMK too.
step aws kms get-key-policy $KMS --key-id "$CMK" --policy-name default --query Policy --output text \> policy.json "# then add the user to both key-user statements"
POLICY=$(as_admin aws kms get-key-policy $KMS --key-id "$CMK" --policy-name default --query Policy --output text | python3 -c '
import json, sys
p = json.load(sys.stdin)
for s in p["Statement"]:
    if s["Sid"] in ("Allow use of the key", "Allow attachment of persistent resources"):
        s["Principal"]["AWS"] = list(s["Principal"]["AWS"]) + ["arn:aws:iam::111122223333:user/wsadmin-nokms"]
print(json.dumps(p))')
step aws kms put-key-policy $KMS --key-id "$CMK" --policy-name default --policy file://policy.json
as_admin aws kms put-key-policy $KMS --key-id "$CMK" --policy-name default --policy "$POLICY"
step "AWS_ACCESS_KEY_ID=AKIAWSNOKMS000000001 AWS_SECRET_ACCESS_KEY=wsnokms-secret" aws workspaces create-workspaces $WS --workspaces DirectoryId=d-1234abcd01,UserName=carol,BundleId=wsb-demo0001,VolumeEncryptionKey=alias/workspaces-demo,RootVolumeEncryptionEnabled=true,UserVolumeEncryptionEnabled=true --query 'FailedRequests' --output json
read -r CAROL < <(AWS_ACCESS_KEY_ID=AKIAWSNOKMS000000001 AWS_SECRET_ACCESS_KEY=wsnokms-secret aws workspaces create-workspaces $WS --workspaces "DirectoryId=d-1234abcd01,UserName=carol,BundleId=wsb-demo0001,VolumeEncryptionKey=alias/workspaces-demo,RootVolumeEncryptionEnabled=true,UserVolumeEncryptionEnabled=true" --query 'PendingRequests[0].WorkspaceId' --output text)
echo "[]   ($CAROL is PENDING)"
wait_for "$CAROL" AVAILABLE
as_wsadmin aws workspaces terminate-workspaces $WS --terminate-workspace-requests "$CAROL" >/dev/null
wait_for "$CAROL" TERMINATED

# Step 9: terminate retires every grant.
step aws workspaces terminate-workspaces $WS --terminate-workspace-requests "$ALICE" "$BOB"
as_wsadmin aws workspaces terminate-workspaces $WS --terminate-workspace-requests "$ALICE" "$BOB"
wait_for "$ALICE" TERMINATED
wait_for "$BOB" TERMINATED
step aws kms list-grants $KMS --key-id "$CMK" --query 'length(Grants)'
as_admin aws kms list-grants $KMS --key-id "$CMK" --query 'length(Grants)'
step aws kms list-grants $KMS --key-id "$KEY" --query 'length(Grants)'
as_admin aws kms list-grants $KMS --key-id "$KEY" --query 'length(Grants)'
