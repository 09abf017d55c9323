output "log_group_names" {
  description = "Names of the log groups created, by key"
  value       = { for key, group in aws_cloudwatch_log_group.this : key => group.name }
}

output "log_group_arns" {
  description = "ARNs of the log groups created, by key"
  value       = { for key, group in aws_cloudwatch_log_group.this : key => group.arn }
}

output "alarm_topic_arn" {
  description = "ARN of the SNS topic every alarm notifies"
  value       = aws_sns_topic.alarms.arn
}

output "alarm_names" {
  description = "Names of the CloudWatch alarms"
  value       = [for alarm in aws_cloudwatch_metric_alarm.this : alarm.alarm_name]
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard"
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}
