output "table_name" {
  description = "Name of the DynamoDB global table"
  value       = module.global.table_name
}

output "table_regions" {
  description = "Regions holding the table"
  value       = module.global.table_regions
}

output "repository_urls" {
  description = "ECR repository URLs in the primary region, by image"
  value       = module.global.repository_urls
}

output "registry_id" {
  description = "ECR registry ID"
  value       = module.global.registry_id
}

output "push_key_secret_name" {
  description = "Name of the push key secret"
  value       = module.global.push_key_secret_name
}

output "playback_private_key_secret_name" {
  description = "Name of the playback private key secret"
  value       = module.global.playback_private_key_secret_name
}

output "route53_zone_id" {
  description = "Hosted zone ID, or null"
  value       = module.global.route53_zone_id
}
