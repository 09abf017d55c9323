output "region" {
  description = "Region of this deployment"
  value       = local.region
}

output "cluster_name" {
  description = "Name of the ECS cluster (gateway, edge, workers)"
  value       = module.processing.cluster_name
}

output "gateway_service_name" {
  description = "Name of the gateway ECS service"
  value       = module.ingest.gateway_service_name
}

output "edge_service_name" {
  description = "Name of the edge ECS service"
  value       = module.distribution.edge_service_name
}

output "push_base_url" {
  description = "Base push URL over RTMP (`/{channelId}?sign=...` follows)"
  value       = module.ingest.rtmp_base_url
}

output "rtmps_base_url" {
  description = "Base push URL over RTMPS, or null without an ingest certificate"
  value       = module.ingest.rtmps_base_url
}

output "ingest_dns_name" {
  description = "DNS name of the ingest NLB"
  value       = module.ingest.nlb_dns_name
}

output "playback_base_url" {
  description = "Base of play URLs (CloudFront)"
  value       = "https://${module.distribution.playback_domain_name}"
}

output "playback_distribution_id" {
  description = "ID of the playback CloudFront distribution"
  value       = module.distribution.cloudfront_distribution_id
}

output "api_url" {
  description = "Invoke URL of the REST API stage"
  value       = module.api.api_url
}

output "cognito_user_pool_id" {
  description = "Cognito user pool of console users, or null with AWS_IAM auth"
  value       = module.api.cognito_user_pool_id
}

output "cognito_client_id" {
  description = "Cognito app client of the console, or null"
  value       = module.api.cognito_client_id
}

output "cognito_domain" {
  description = "Cognito hosted sign-in domain prefix, or null"
  value       = module.api.cognito_domain
}

output "frontend_bucket_name" {
  description = "Bucket the console is uploaded to, or null when the console is not created here"
  value       = try(module.frontend[0].bucket_name, null)
}

output "frontend_distribution_id" {
  description = "CloudFront distribution of the console, or null"
  value       = try(module.frontend[0].distribution_id, null)
}

output "console_url" {
  description = "URL of the console, or null"
  value       = try("https://${module.frontend[0].domain_name}", null)
}

output "assets_bucket_name" {
  description = "Bucket of recordings, VOD, snapshots and motion clips"
  value       = module.storage.bucket_name
}

output "event_bus_name" {
  description = "Name of the event bus"
  value       = module.events.event_bus_name
}

output "alarm_topic_arn" {
  description = "SNS topic the alarms notify"
  value       = module.observability.alarm_topic_arn
}

output "dashboard_name" {
  description = "CloudWatch dashboard of this region"
  value       = module.observability.dashboard_name
}

output "nat_public_ips" {
  description = "Source addresses of relays to external platforms (allow-list them there if needed)"
  value       = module.network.nat_public_ips
}
