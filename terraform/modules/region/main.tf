data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}
data "aws_region" "current" {
  region = var.region
}

locals {
  partition  = data.aws_partition.current.partition
  dns_suffix = data.aws_partition.current.dns_suffix
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.region

  tags = merge({ Application = var.name }, var.tags)

  lambda_zip_dir = coalesce(var.lambda_zip_dir, "${path.root}/../../../build/lambdas")

  # Images are pushed once to the global root's registry and replicated to every region.
  registry        = "${local.account_id}.dkr.ecr.${local.region}.${local.dns_suffix}"
  images          = { for image in ["gateway", "worker", "edge"] : image => "${local.registry}/${var.name}/${image}:${var.image_tag}" }
  repository_arns = { for image in ["gateway", "worker", "edge"] : image => "arn:${local.partition}:ecr:${local.region}:${local.account_id}:repository/${var.name}/${image}" }

  event_bus_name = var.name

  # Lambda log groups follow Lambda's naming (`/aws/lambda/FUNCTION`); the api and events
  # modules name their functions `NAME-api`, `NAME-ingestauth`, `NAME-scheduler`.
  log_group_names = {
    gateway    = "/ecs/${var.name}/gateway"
    edge       = "/ecs/${var.name}/edge"
    worker     = "/ecs/${var.name}/worker"
    api        = "/aws/lambda/${var.name}-api"
    ingestauth = "/aws/lambda/${var.name}-ingestauth"
    scheduler  = "/aws/lambda/${var.name}-scheduler"
  }

  signed_playback = length(var.playback.public_keys) > 0
}

################################################################################
# Global resources (created by the global root)
################################################################################

# Fails the plan with a clear message if the global root has no replica here yet.
data "aws_dynamodb_table" "this" {
  region = var.region

  name = coalesce(var.table_name, var.name)
}

data "aws_secretsmanager_secret" "push_key" {
  region = var.region

  name = coalesce(var.push_key_secret_name, "${var.name}/push-key")
}

data "aws_secretsmanager_secret" "playback_private_key" {
  count = local.signed_playback ? 1 : 0

  region = var.region

  name = coalesce(var.playback_private_key_secret_name, "${var.name}/playback-private-key")
}

################################################################################
# Network and observability
################################################################################

module "network" {
  source = "../network"

  name   = var.name
  region = var.region
  tags   = local.tags

  cidr_block          = var.network.cidr_block
  az_count            = var.network.az_count
  nat_gateway_mode    = var.network.nat_gateway_mode
  interface_endpoints = var.network.interface_endpoints
}

module "observability" {
  source = "../observability"

  name   = var.name
  region = var.region
  tags   = local.tags

  log_group_names       = local.log_group_names
  log_retention_days    = var.observability.log_retention_days
  alarm_email_addresses = var.observability.alarm_email_addresses

  ecs_cluster_arn  = module.processing.cluster_arn
  ecs_cluster_name = module.processing.cluster_name
  ecs_service_names = {
    gateway = module.ingest.gateway_service_name
    edge    = module.distribution.edge_service_name
  }
  alb_arn_suffix              = module.distribution.alb_arn_suffix
  nlb_arn_suffix              = module.ingest.nlb_arn_suffix
  nlb_target_group_arn_suffix = module.ingest.target_group_arn_suffix
  api_gateway_name            = module.api.rest_api_name
  api_gateway_stage_name      = module.api.stage_name
  lambda_function_names = {
    api        = module.api.function_names["api"]
    ingestauth = module.api.function_names["ingestauth"]
    scheduler  = module.events.scheduler_function_name
  }
  dlq_queue_name      = module.events.dlq_name
  dynamodb_table_name = data.aws_dynamodb_table.this.name
}

################################################################################
# Storage
################################################################################

module "storage" {
  source = "../storage"

  name   = var.name
  region = var.region
  tags   = local.tags

  lifecycle_rules      = var.storage.lifecycle_rules
  cors_allowed_origins = var.storage.cors_allowed_origins
  force_destroy        = var.storage.force_destroy
}

################################################################################
# Processing (ECS cluster, workers) and events
################################################################################

module "processing" {
  source = "../processing"

  name   = var.name
  region = var.region
  tags   = local.tags

  vpc_id     = module.network.vpc_id
  subnet_ids = module.network.private_subnet_ids

  worker_image          = local.images["worker"]
  worker_repository_arn = local.repository_arns["worker"]
  worker_log_group_name = module.observability.log_group_names["worker"]
  worker_log_group_arn  = module.observability.log_group_arns["worker"]
  cpu_architecture      = var.cpu_architecture

  worker_task_sizes            = var.worker.task_sizes
  record_task_size             = var.worker.record_task_size
  transcode_task_size          = var.worker.transcode_task_size
  default_codec                = var.worker.default_codec
  default_renditions           = var.worker.default_renditions
  worker_capacity_provider     = var.worker.capacity_provider
  worker_ephemeral_storage_gib = var.worker.ephemeral_storage_gib

  table_name     = data.aws_dynamodb_table.this.name
  table_arn      = data.aws_dynamodb_table.this.arn
  bucket_name    = module.storage.bucket_name
  bucket_arn     = module.storage.bucket_arn
  event_bus_name = module.events.event_bus_name
  event_bus_arn  = module.events.event_bus_arn

  push_key_secret_arn = data.aws_secretsmanager_secret.push_key.arn
}

module "events" {
  source = "../events"

  name   = var.name
  region = var.region
  tags   = local.tags

  event_bus_name = local.event_bus_name

  lambda_zip_path = "${local.lambda_zip_dir}/scheduler.zip"
  log_group_name  = module.observability.log_group_names["scheduler"]
  log_group_arn   = module.observability.log_group_arns["scheduler"]

  cluster_arn                     = module.processing.cluster_arn
  cluster_name                    = module.processing.cluster_name
  worker_task_definition_arns     = module.processing.worker_task_definition_arns
  worker_task_definition_families = module.processing.worker_task_definition_families
  worker_task_role_arn            = module.processing.worker_task_role_arn
  worker_execution_role_arn       = module.processing.worker_execution_role_arn
  worker_subnet_ids               = module.processing.worker_subnet_ids
  worker_security_group_id        = module.processing.worker_security_group_id
  worker_capacity_provider        = module.processing.worker_capacity_provider
  record_task_size                = module.processing.record_task_size
  transcode_task_size             = module.processing.transcode_task_size

  table_name = data.aws_dynamodb_table.this.name
  table_arn  = data.aws_dynamodb_table.this.arn
}

################################################################################
# API (REST API, ingestauth, Cognito)
################################################################################

module "api" {
  source = "../api"

  name   = var.name
  region = var.region
  tags   = local.tags

  lambda_zip_dir  = local.lambda_zip_dir
  log_group_names = { for function in ["api", "ingestauth"] : function => module.observability.log_group_names[function] }
  log_group_arns  = { for function in ["api", "ingestauth"] : function => module.observability.log_group_arns[function] }

  table_name     = data.aws_dynamodb_table.this.name
  table_arn      = data.aws_dynamodb_table.this.arn
  bucket_name    = module.storage.bucket_name
  bucket_arn     = module.storage.bucket_arn
  event_bus_name = module.events.event_bus_name
  event_bus_arn  = module.events.event_bus_arn

  push_key_secret_arn             = data.aws_secretsmanager_secret.push_key.arn
  playback_private_key_secret_arn = local.signed_playback ? data.aws_secretsmanager_secret.playback_private_key[0].arn : null
  playback_key_pair_id            = local.signed_playback ? module.distribution.playback_key_pair_ids[var.playback.active_key] : null
  playback_base_url               = "https://${module.distribution.playback_domain_name}"
  push_base_url                   = module.ingest.rtmp_base_url

  authorizer_type       = var.api.authorizer_type
  stage_name            = var.api.stage_name
  cognito_callback_urls = var.api.cognito_callback_urls
  cognito_domain_prefix = var.api.cognito_domain_prefix
  api_key_names         = var.api.api_key_names

  enable_ingestauth_function_url = var.api.enable_ingestauth_function_url
}

################################################################################
# Playback (ALB, edge, CloudFront)
################################################################################

module "distribution" {
  source = "../distribution"

  name   = var.name
  region = var.region
  tags   = local.tags

  vpc_id                     = module.network.vpc_id
  public_subnet_ids          = module.network.public_subnet_ids
  private_subnet_ids         = module.network.private_subnet_ids
  restrict_alb_to_cloudfront = var.playback.restrict_alb_to_cloudfront
  alb_certificate_arn        = var.playback.alb_certificate_arn
  origin_domain_name         = var.playback.origin_domain_name

  cluster_arn      = module.processing.cluster_arn
  cluster_name     = module.processing.cluster_name
  image            = local.images["edge"]
  repository_arn   = local.repository_arns["edge"]
  cpu_architecture = var.cpu_architecture
  edge             = var.playback.edge
  log_group_name   = module.observability.log_group_names["edge"]
  log_group_arn    = module.observability.log_group_arns["edge"]
  table_name       = data.aws_dynamodb_table.this.name
  table_arn        = data.aws_dynamodb_table.this.arn

  aliases              = var.playback.aliases
  acm_certificate_arn  = var.playback.acm_certificate_arn
  iam_certificate_id   = var.playback.iam_certificate_id
  price_class          = var.playback.price_class
  origin_shield_region = var.playback.origin_shield_region
  http_version         = var.playback.http_version
  playback_public_keys = var.playback.public_keys
  require_signed_urls  = var.playback.require_signed_urls

  origin_verify_secret_version = var.playback.origin_verify_secret_version
}

################################################################################
# Ingest (NLB, gateway)
################################################################################

module "ingest" {
  source = "../ingest"

  name   = var.name
  region = var.region
  tags   = local.tags

  vpc_id                       = module.network.vpc_id
  public_subnet_ids            = module.network.public_subnet_ids
  private_subnet_ids           = module.network.private_subnet_ids
  allowed_ingest_cidrs         = var.ingest.allowed_cidrs
  certificate_arn              = var.ingest.certificate_arn
  deregistration_delay_seconds = var.ingest.deregistration_delay_seconds
  route53_zone_id              = var.ingest.route53_zone_id
  push_domain_name             = var.ingest.push_domain_name
  media_client_security_group_ids = {
    edge   = module.distribution.edge_security_group_id
    worker = module.processing.worker_security_group_id
  }

  cluster_arn      = module.processing.cluster_arn
  cluster_name     = module.processing.cluster_name
  image            = local.images["gateway"]
  repository_arn   = local.repository_arns["gateway"]
  cpu_architecture = var.cpu_architecture
  gateway          = var.ingest.gateway
  log_group_name   = module.observability.log_group_names["gateway"]
  log_group_arn    = module.observability.log_group_arns["gateway"]

  table_name              = data.aws_dynamodb_table.this.name
  table_arn               = data.aws_dynamodb_table.this.arn
  bucket_name             = module.storage.bucket_name
  bucket_arn              = module.storage.bucket_arn
  event_bus_name          = module.events.event_bus_name
  event_bus_arn           = module.events.event_bus_arn
  ingestauth_function_arn = module.api.ingestauth_function_arn
  ingestauth_function_url = module.api.ingestauth_function_url
  push_key_secret_arn     = data.aws_secretsmanager_secret.push_key.arn
}

################################################################################
# Console
################################################################################

module "frontend" {
  source = "../frontend"
  count  = var.console.enabled ? 1 : 0

  name   = var.name
  region = var.region
  tags   = local.tags

  aliases             = var.console.aliases
  acm_certificate_arn = var.console.acm_certificate_arn
  iam_certificate_id  = var.console.iam_certificate_id
  price_class         = var.console.price_class
}
