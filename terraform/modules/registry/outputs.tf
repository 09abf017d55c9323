output "repository_urls" {
  description = "Repository URLs in the source region, by image"
  value       = { for image, repository in aws_ecr_repository.this : image => repository.repository_url }
}

output "repository_names" {
  description = "Repository names (the same in every replica region), by image"
  value       = { for image, repository in aws_ecr_repository.this : image => repository.name }
}

output "registry_id" {
  description = "ID (account) of the registry"
  value       = data.aws_caller_identity.current.account_id
}

output "replica_regions" {
  description = "Regions images are replicated to"
  value       = var.replica_regions
}
