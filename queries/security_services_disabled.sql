-- title: Security services disabled
-- purpose: GuardDuty, AWS Config, Security Hub, Access Analyzer and Macie turned off or their
--   findings suppressed (CIS CloudWatch.9 and the usual defence-evasion set).
-- params: since (time, default 30d), until (time, default now)
-- columns: eventtime, account, awsregion, principal, eventsource, eventname, errorcode
SELECT eventtime, recipientaccountid AS account, awsregion, principal,
       eventsource, eventname, errorcode
FROM events
-- The two lists let page statistics skip every other API; the pairs below keep the exact ones.
WHERE eventsource IN ('guardduty.amazonaws.com', 'config.amazonaws.com', 'securityhub.amazonaws.com',
                      'access-analyzer.amazonaws.com', 'macie2.amazonaws.com')
  AND eventname IN ('DeleteDetector', 'UpdateDetector', 'DisassociateFromMasterAccount',
                    'DisassociateFromAdministratorAccount', 'CreateFilter', 'DeleteMembers',
                    'StopMonitoringMembers', 'StopConfigurationRecorder', 'DeleteConfigurationRecorder',
                    'DeleteDeliveryChannel', 'DeleteConfigRule', 'DisableSecurityHub',
                    'BatchDisableStandards', 'DeleteInsight', 'DisableImportFindingsForProduct',
                    'DeleteAnalyzer', 'DisableMacie')
  AND ((eventsource = 'guardduty.amazonaws.com' AND eventname IN ('DeleteDetector', 'UpdateDetector', 'DisassociateFromMasterAccount', 'DisassociateFromAdministratorAccount', 'CreateFilter', 'DeleteMembers', 'StopMonitoringMembers'))
    OR (eventsource = 'config.amazonaws.com' AND eventname IN ('StopConfigurationRecorder', 'DeleteConfigurationRecorder', 'DeleteDeliveryChannel', 'DeleteConfigRule'))
    OR (eventsource = 'securityhub.amazonaws.com' AND eventname IN ('DisableSecurityHub', 'BatchDisableStandards', 'DeleteInsight', 'DisableImportFindingsForProduct'))
    OR (eventsource = 'access-analyzer.amazonaws.com' AND eventname = 'DeleteAnalyzer')
    OR (eventsource = 'macie2.amazonaws.com' AND eventname = 'DisableMacie'))
  AND eventtime >= $since AND eventtime < $until
ORDER BY eventtime
