output "cluster_name" {
  description = "Name of the ECS cluster"
  value       = module.region.cluster_name
}

output "gateway_service_name" {
  description = "Name of the gateway ECS service"
  value       = module.region.gateway_service_name
}

output "edge_service_name" {
  description = "Name of the edge ECS service"
  value       = module.region.edge_service_name
}

output "push_base_url" {
  description = "Base push URL over RTMP"
  value       = module.region.push_base_url
}

output "rtmps_base_url" {
  description = "Base push URL over RTMPS, or null"
  value       = module.region.rtmps_base_url
}

output "playback_base_url" {
  description = "Base of play URLs"
  value       = module.region.playback_base_url
}

output "playback_distribution_id" {
  description = "ID of the playback CloudFront distribution"
  value       = module.region.playback_distribution_id
}

output "api_url" {
  description = "Invoke URL of the REST API"
  value       = module.region.api_url
}

output "cognito_user_pool_id" {
  description = "Cognito user pool of console users, or null"
  value       = module.region.cognito_user_pool_id
}

output "cognito_client_id" {
  description = "Cognito app client of the console, or null"
  value       = module.region.cognito_client_id
}

output "frontend_bucket_name" {
  description = "Bucket the console is uploaded to, or null"
  value       = module.region.frontend_bucket_name
}

output "frontend_distribution_id" {
  description = "CloudFront distribution of the console, or null"
  value       = module.region.frontend_distribution_id
}

output "console_url" {
  description = "URL of the console, or null"
  value       = module.region.console_url
}

output "alarm_topic_arn" {
  description = "SNS topic the alarms notify"
  value       = module.region.alarm_topic_arn
}
