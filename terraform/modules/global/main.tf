locals {
  tags = merge({ Application = var.name }, var.tags)
}

module "metadata" {
  source = "../metadata"

  name   = var.name
  region = var.region
  tags   = local.tags

  replica_regions               = var.replica_regions
  table_class                   = var.table.table_class
  enable_point_in_time_recovery = var.table.enable_point_in_time_recovery
  enable_deletion_protection    = var.table.enable_deletion_protection
}

module "registry" {
  source = "../registry"

  name   = var.name
  region = var.region
  tags   = local.tags

  replica_regions    = var.replica_regions
  keep_tagged_images = var.keep_tagged_images
}

module "secrets" {
  source = "../secrets"

  name   = var.name
  region = var.region
  tags   = local.tags

  replica_regions  = var.replica_regions
  push_key_version = var.push_key_version
}

# Region roots add latency records for the push domain to this zone (ingest.route53_zone_id).
resource "aws_route53_zone" "this" {
  count = var.route53_domain_name == null ? 0 : 1

  name    = var.route53_domain_name
  comment = "${var.name} push, playback and console names"

  tags = local.tags
}
