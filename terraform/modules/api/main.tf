data "aws_region" "current" {
  region = var.region
}

data "aws_service_principal" "this" {
  for_each = toset(["lambda", "apigateway"])

  region = var.region

  service_name = each.key
}

locals {
  region = data.aws_region.current.region

  functions = {
    api = {
      description = "livestack REST API (/api/v1 and the legacy /videostream routes)"
      memory_size = var.api_memory_size
      timeout     = 29
    }
    ingestauth = {
      description = "Publish and unpublish callbacks from the gateways"
      memory_size = var.ingestauth_memory_size
      timeout     = 10
    }
  }

  zip_paths  = { for function in keys(local.functions) : function => "${var.lambda_zip_dir}/${function}.zip" }
  zip_exists = { for function, path in local.zip_paths : function => fileexists(path) }

  secret_arns = [for arn in [var.push_key_secret_arn, var.playback_private_key_secret_arn] : arn if arn != null]

  use_cognito = var.authorizer_type == "COGNITO_USER_POOLS"
}

################################################################################
# IAM
################################################################################

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = [data.aws_service_principal.this["lambda"].name]
    }
  }
}

resource "aws_iam_role" "this" {
  for_each = local.functions

  name               = "${var.name}-${each.key}-${local.region}"
  description        = "Role of the ${each.key} function"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json

  tags = var.tags
}

data "aws_iam_policy_document" "api" {
  statement {
    sid = "Channels"
    actions = [
      "dynamodb:BatchGetItem",
      "dynamodb:BatchWriteItem",
      "dynamodb:ConditionCheckItem",
      "dynamodb:DeleteItem",
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:Query",
      "dynamodb:UpdateItem",
    ]
    resources = [var.table_arn, "${var.table_arn}/index/*"]
  }

  statement {
    sid       = "Recordings"
    actions   = ["s3:DeleteObject", "s3:GetObject"]
    resources = [for prefix in var.media_prefixes : "${var.bucket_arn}/${prefix}*"]
  }

  statement {
    sid       = "ListRecordings"
    actions   = ["s3:ListBucket"]
    resources = [var.bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [for prefix in var.media_prefixes : "${prefix}*"]
    }
  }

  statement {
    sid       = "SigningKeys"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = local.secret_arns
  }

  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${var.log_group_arns["api"]}:log-stream:*"]
  }
}

data "aws_iam_policy_document" "ingestauth" {
  statement {
    sid = "Sessions"
    actions = [
      "dynamodb:ConditionCheckItem",
      "dynamodb:DeleteItem",
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:Query",
      "dynamodb:UpdateItem",
    ]
    resources = [var.table_arn, "${var.table_arn}/index/*"]
  }

  statement {
    sid       = "StreamEvents"
    actions   = ["events:PutEvents"]
    resources = [var.event_bus_arn]
  }

  statement {
    sid       = "PushKey"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.push_key_secret_arn]
  }

  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${var.log_group_arns["ingestauth"]}:log-stream:*"]
  }
}

locals {
  policies = {
    api        = data.aws_iam_policy_document.api.json
    ingestauth = data.aws_iam_policy_document.ingestauth.json
  }
}

resource "aws_iam_role_policy" "this" {
  for_each = local.functions

  name   = each.key
  role   = aws_iam_role.this[each.key].id
  policy = local.policies[each.key]
}

################################################################################
# Functions
################################################################################

locals {
  environment = {
    api = {
      LIVESTACK_TABLE                       = var.table_name
      LIVESTACK_BUCKET                      = var.bucket_name
      LIVESTACK_PUSH_KEY_SECRET             = var.push_key_secret_arn
      LIVESTACK_PUSH_BASE_URL               = var.push_base_url
      LIVESTACK_PLAYBACK_BASE_URL           = var.playback_base_url
      LIVESTACK_PLAYBACK_PRIVATE_KEY_SECRET = var.playback_private_key_secret_arn == null ? "" : var.playback_private_key_secret_arn
      LIVESTACK_PLAYBACK_KEY_PAIR_ID        = var.playback_key_pair_id == null ? "" : var.playback_key_pair_id
      LIVESTACK_AUTH                        = local.use_cognito ? "cognito" : "iam"
    }
    ingestauth = {
      LIVESTACK_TABLE           = var.table_name
      LIVESTACK_EVENT_BUS       = var.event_bus_name
      LIVESTACK_PUSH_KEY_SECRET = var.push_key_secret_arn
    }
  }
}

resource "aws_lambda_function" "this" {
  for_each = local.functions

  region = var.region

  function_name    = "${var.name}-${each.key}"
  description      = each.value.description
  role             = aws_iam_role.this[each.key].arn
  filename         = local.zip_paths[each.key]
  source_code_hash = local.zip_exists[each.key] ? filebase64sha256(local.zip_paths[each.key]) : null
  handler          = "bootstrap"
  runtime          = "provided.al2023"
  architectures    = ["arm64"]
  memory_size      = each.value.memory_size
  timeout          = each.value.timeout

  logging_config {
    log_format = "JSON"
    log_group  = var.log_group_names[each.key]
  }

  environment {
    variables = local.environment[each.key]
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy.this]
}

# The gateway's callback. AWS_IAM auth and no resource-based grant: only identities of this
# account whose own policy allows lambda:InvokeFunctionUrl on it (the gateway task role)
# can call it.
resource "aws_lambda_function_url" "ingestauth" {
  count = var.enable_ingestauth_function_url ? 1 : 0

  region = var.region

  function_name      = aws_lambda_function.this["ingestauth"].function_name
  authorization_type = "AWS_IAM"
}

check "lambda_artifacts" {
  assert {
    condition     = alltrue(values(local.zip_exists))
    error_message = "Missing Lambda zips in ${var.lambda_zip_dir}: run `make lambdas` before plan or apply."
  }
}

################################################################################
# Cognito (console users)
################################################################################

resource "aws_cognito_user_pool" "this" {
  count = local.use_cognito ? 1 : 0

  region = var.region

  name                     = var.name
  deletion_protection      = "ACTIVE"
  mfa_configuration        = "OPTIONAL"
  username_attributes      = ["email"]
  auto_verified_attributes = ["email"]

  admin_create_user_config {
    allow_admin_create_user_only = true
  }

  password_policy {
    minimum_length                   = 12
    require_lowercase                = true
    require_uppercase                = true
    require_numbers                  = true
    require_symbols                  = false
    temporary_password_validity_days = 3
  }

  software_token_mfa_configuration {
    enabled = true
  }

  account_recovery_setting {
    recovery_mechanism {
      name     = "verified_email"
      priority = 1
    }
  }

  tags = var.tags
}

resource "aws_cognito_user_group" "admins" {
  count = local.use_cognito ? 1 : 0

  region = var.region

  name         = "admins"
  description  = "May change domains and delete channels"
  user_pool_id = aws_cognito_user_pool.this[0].id
}

resource "aws_cognito_user_pool_client" "console" {
  count = local.use_cognito ? 1 : 0

  region = var.region

  name                                 = "${var.name}-console"
  user_pool_id                         = aws_cognito_user_pool.this[0].id
  generate_secret                      = false
  allowed_oauth_flows_user_pool_client = true
  allowed_oauth_flows                  = ["code"]
  allowed_oauth_scopes                 = ["openid", "email", "profile"]
  callback_urls                        = var.cognito_callback_urls
  logout_urls                          = var.cognito_callback_urls
  supported_identity_providers         = ["COGNITO"]
  explicit_auth_flows                  = ["ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_SRP_AUTH"]
  prevent_user_existence_errors        = "ENABLED"
  enable_token_revocation              = true
  access_token_validity                = 60
  id_token_validity                    = 60
  refresh_token_validity               = 30

  token_validity_units {
    access_token  = "minutes"
    id_token      = "minutes"
    refresh_token = "days"
  }
}

resource "aws_cognito_user_pool_domain" "this" {
  count = local.use_cognito && var.cognito_domain_prefix != null ? 1 : 0

  region = var.region

  domain       = var.cognito_domain_prefix
  user_pool_id = aws_cognito_user_pool.this[0].id
}

################################################################################
# REST API
################################################################################

resource "aws_api_gateway_rest_api" "this" {
  region = var.region

  name               = var.name
  description        = "livestack REST API"
  api_key_source     = "HEADER"
  binary_media_types = ["image/png"]

  endpoint_configuration {
    types = ["REGIONAL"]
  }

  tags = var.tags
}

resource "aws_api_gateway_resource" "api" {
  region = var.region

  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_rest_api.this.root_resource_id
  path_part   = "api"
}

resource "aws_api_gateway_resource" "v1" {
  region = var.region

  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_resource.api.id
  path_part   = "v1"
}

resource "aws_api_gateway_resource" "v1_proxy" {
  region = var.region

  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_resource.v1.id
  path_part   = "{proxy+}"
}

# The earlier solution's routes, kept for its users' scripts.
resource "aws_api_gateway_resource" "videostream" {
  region = var.region

  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_rest_api.this.root_resource_id
  path_part   = "videostream"
}

resource "aws_api_gateway_resource" "videostream_id" {
  region = var.region

  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_resource.videostream.id
  path_part   = "{id}"
}

resource "aws_api_gateway_authorizer" "cognito" {
  count = local.use_cognito ? 1 : 0

  region = var.region

  name            = "${var.name}-cognito"
  rest_api_id     = aws_api_gateway_rest_api.this.id
  type            = "COGNITO_USER_POOLS"
  identity_source = "method.request.header.Authorization"
  provider_arns   = [aws_cognito_user_pool.this[0].arn]
}

locals {
  # /api/v1: console users (Cognito JWT) or SigV4 callers. Preflight requests carry no
  # credentials, so OPTIONS goes to the function unauthenticated (it answers CORS only).
  # /videostream: scripts with an API key (the earlier API had no authentication at all).
  methods = {
    v1_any = {
      resource_id      = aws_api_gateway_resource.v1_proxy.id
      http_method      = "ANY"
      authorization    = var.authorizer_type
      api_key_required = false
    }
    v1_options = {
      resource_id      = aws_api_gateway_resource.v1_proxy.id
      http_method      = "OPTIONS"
      authorization    = "NONE"
      api_key_required = false
    }
    videostream = {
      resource_id      = aws_api_gateway_resource.videostream.id
      http_method      = "ANY"
      authorization    = "NONE"
      api_key_required = true
    }
    videostream_id = {
      resource_id      = aws_api_gateway_resource.videostream_id.id
      http_method      = "ANY"
      authorization    = "NONE"
      api_key_required = true
    }
  }
}

resource "aws_api_gateway_method" "this" {
  for_each = local.methods

  region = var.region

  rest_api_id      = aws_api_gateway_rest_api.this.id
  resource_id      = each.value.resource_id
  http_method      = each.value.http_method
  authorization    = each.value.authorization
  authorizer_id    = each.value.authorization == "COGNITO_USER_POOLS" ? aws_api_gateway_authorizer.cognito[0].id : null
  api_key_required = each.value.api_key_required
}

resource "aws_api_gateway_integration" "this" {
  for_each = local.methods

  region = var.region

  rest_api_id             = aws_api_gateway_rest_api.this.id
  resource_id             = each.value.resource_id
  http_method             = aws_api_gateway_method.this[each.key].http_method
  type                    = "AWS_PROXY"
  integration_http_method = "POST"
  uri                     = aws_lambda_function.this["api"].invoke_arn
}

resource "aws_lambda_permission" "api_gateway" {
  region = var.region

  statement_id  = "apigateway"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this["api"].function_name
  principal     = data.aws_service_principal.this["apigateway"].name
  source_arn    = "${aws_api_gateway_rest_api.this.execution_arn}/*"
}

resource "aws_api_gateway_deployment" "this" {
  region = var.region

  rest_api_id = aws_api_gateway_rest_api.this.id
  description = "${var.name} API"

  triggers = {
    redeployment = sha1(jsonencode([
      [for method in aws_api_gateway_method.this : [method.id, method.authorization, method.api_key_required]],
      [for integration in aws_api_gateway_integration.this : [integration.id, integration.uri]],
    ]))
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_api_gateway_stage" "this" {
  region = var.region

  rest_api_id   = aws_api_gateway_rest_api.this.id
  deployment_id = aws_api_gateway_deployment.this.id
  stage_name    = var.stage_name

  tags = var.tags
}

resource "aws_api_gateway_method_settings" "all" {
  region = var.region

  rest_api_id = aws_api_gateway_rest_api.this.id
  stage_name  = aws_api_gateway_stage.this.stage_name
  method_path = "*/*"

  settings {
    metrics_enabled        = true
    throttling_rate_limit  = var.usage_plan.stage_rate_limit
    throttling_burst_limit = var.usage_plan.stage_burst_limit
  }
}

################################################################################
# Usage plan and API keys
################################################################################

resource "aws_api_gateway_usage_plan" "this" {
  region = var.region

  name        = var.name
  description = "Scripts using API keys"

  api_stages {
    api_id = aws_api_gateway_rest_api.this.id
    stage  = aws_api_gateway_stage.this.stage_name
  }

  throttle_settings {
    rate_limit  = var.usage_plan.rate_limit
    burst_limit = var.usage_plan.burst_limit
  }

  quota_settings {
    limit  = var.usage_plan.quota_limit
    period = var.usage_plan.quota_period
  }

  tags = var.tags
}

resource "aws_api_gateway_api_key" "this" {
  for_each = toset(var.api_key_names)

  region = var.region

  name        = "${var.name}-${each.key}"
  description = "livestack API key ${each.key}"
  enabled     = true

  tags = var.tags
}

resource "aws_api_gateway_usage_plan_key" "this" {
  for_each = aws_api_gateway_api_key.this

  region = var.region

  key_id        = each.value.id
  key_type      = "API_KEY"
  usage_plan_id = aws_api_gateway_usage_plan.this.id
}
