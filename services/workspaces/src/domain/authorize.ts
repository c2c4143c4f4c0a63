// Who may call the WorkSpaces API: WorkSpaces has no resource policies, so a caller's
// identity-based policies decide, an explicit Deny first.
import { AwsError, type Caller, type PolicyDocument, statementApplies } from "@envelope/shared";

export function authorizeWorkspaces(caller: Caller, policies: PolicyDocument[], operation: string, resource: string): void {
  const ctx = { principal: caller.principal, action: `workspaces:${operation}`, resource, conditions: { "aws:PrincipalArn": caller.principal } };
  const statements = policies.flatMap((d) => d.Statement);
  const denied = statements.some((s) => s.Effect === "Deny" && statementApplies(s, ctx, false));
  const allowed = statements.some((s) => s.Effect === "Allow" && statementApplies(s, ctx, false));
  if (denied || !allowed) {
    throw new AwsError(
      "AccessDeniedException",
      `User: ${caller.principal} is not authorized to perform: workspaces:${operation} on resource: ${resource} because ${denied ? "of an explicit deny in an identity-based policy" : "no identity-based policy allows the workspaces:" + operation + " action"}`,
    );
  }
}
