output "state_bucket_name" {
  description = "Terraform state bucket (the `TF_STATE_BUCKET` variable of the workflows)"
  value       = aws_s3_bucket.state.id
}

output "plan_role_arn" {
  description = "Role pull-request plans assume (`AWS_PLAN_ROLE_ARN`)"
  value       = aws_iam_role.plan.arn
}

output "apply_role_arn" {
  description = "Role deploys from main assume (`AWS_APPLY_ROLE_ARN`)"
  value       = aws_iam_role.apply.arn
}

output "oidc_audience" {
  description = "Audience the workflows must request (`sts.amazonaws.com`, or `sts.amazonaws.com.cn` in aws-cn)"
  value       = local.audience
}

output "lock_table_name" {
  description = "DynamoDB lock table of the S3 backend, or null"
  value       = try(aws_dynamodb_table.lock[0].name, null)
}
