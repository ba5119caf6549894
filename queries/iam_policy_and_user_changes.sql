-- title: IAM policy and user changes
-- purpose: Changes to IAM users, groups, roles and their policies (CIS CloudWatch.4): the
--   persistence and privilege-escalation moves of an intruder.
-- params: since (time, default 30d), until (time, default now)
-- columns: eventtime, account, principal, eventname, target, policy, errorcode
SELECT eventtime, recipientaccountid AS account, principal, eventname,
       coalesce(json_get_str(requestparameters, 'userName'), json_get_str(requestparameters, 'roleName'),
                json_get_str(requestparameters, 'groupName')) AS target,
       coalesce(json_get_str(requestparameters, 'policyArn'), json_get_str(requestparameters, 'policyName')) AS policy,
       errorcode
FROM events
WHERE eventsource = 'iam.amazonaws.com'
  AND eventname IN ('CreateUser', 'DeleteUser', 'CreateLoginProfile', 'UpdateLoginProfile',
                    'AddUserToGroup', 'RemoveUserFromGroup',
                    'PutUserPolicy', 'PutGroupPolicy', 'PutRolePolicy',
                    'DeleteUserPolicy', 'DeleteGroupPolicy', 'DeleteRolePolicy',
                    'CreatePolicy', 'DeletePolicy', 'CreatePolicyVersion', 'DeletePolicyVersion',
                    'SetDefaultPolicyVersion',
                    'AttachUserPolicy', 'DetachUserPolicy', 'AttachGroupPolicy', 'DetachGroupPolicy',
                    'AttachRolePolicy', 'DetachRolePolicy', 'UpdateAssumeRolePolicy')
  AND eventtime >= $since AND eventtime < $until
ORDER BY eventtime
