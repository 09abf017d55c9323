output "state_bucket_name" {
  description = "Terraform state bucket: the TF_STATE_BUCKET (or TF_STATE_BUCKET_CN) repository variable"
  value       = module.deploy_access.state_bucket_name
}

output "plan_role_arn" {
  description = "The AWS_PLAN_ROLE_ARN (or AWS_CN_PLAN_ROLE_ARN) repository variable"
  value       = module.deploy_access.plan_role_arn
}

output "apply_role_arn" {
  description = "The AWS_APPLY_ROLE_ARN (or AWS_CN_APPLY_ROLE_ARN) repository variable"
  value       = module.deploy_access.apply_role_arn
}

output "lock_table_name" {
  description = "DynamoDB lock table, or null"
  value       = module.deploy_access.lock_table_name
}
