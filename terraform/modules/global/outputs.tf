output "table_name" {
  description = "Name of the DynamoDB global table"
  value       = module.metadata.table_name
}

output "table_regions" {
  description = "Regions holding the table (primary first)"
  value       = concat([module.metadata.primary_region], module.metadata.replica_regions)
}

output "repository_urls" {
  description = "ECR repository URLs in the primary region, by image (the deploy workflow pushes here)"
  value       = module.registry.repository_urls
}

output "registry_id" {
  description = "ECR registry ID (the account)"
  value       = module.registry.registry_id
}

output "push_key_secret_name" {
  description = "Name of the push key secret"
  value       = module.secrets.push_key_secret_name
}

output "playback_private_key_secret_name" {
  description = "Name of the playback private key secret (put the PEM private key here)"
  value       = module.secrets.playback_private_key_secret_name
}

output "route53_zone_id" {
  description = "ID of the hosted zone, or null"
  value       = try(aws_route53_zone.this[0].zone_id, null)
}

output "route53_name_servers" {
  description = "Name servers to delegate the domain to, or null"
  value       = try(aws_route53_zone.this[0].name_servers, null)
}
