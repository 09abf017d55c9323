data "aws_region" "current" {
  region = var.region
}

data "aws_ec2_managed_prefix_list" "cloudfront" {
  count = var.restrict_alb_to_cloudfront ? 1 : 0

  region = var.region

  name = "com.amazonaws.global.cloudfront.origin-facing"
}

locals {
  region    = data.aws_region.current.region
  http_port = 8080

  alb_https     = var.alb_certificate_arn != null
  listener_port = local.alb_https ? 443 : 80

  origin_verify_header = "X-Origin-Verify"

  use_default_certificate = var.acm_certificate_arn == null && var.iam_certificate_id == null
}

################################################################################
# Origin secret
################################################################################

# CloudFront sends this header to the ALB; the ALB forwards only requests carrying it, so
# the edge cannot be reached around CloudFront (its caching, signed URLs and WAF).
resource "random_password" "origin_verify" {
  length  = 48
  special = false

  keepers = {
    version = var.origin_verify_secret_version
  }
}

################################################################################
# Security groups
################################################################################

resource "aws_security_group" "alb" {
  region = var.region

  name_prefix = "${var.name}-playback-alb-"
  description = "Playback ALB: from CloudFront"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-playback-alb" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "alb_from_cloudfront" {
  region = var.region

  security_group_id = aws_security_group.alb.id
  description       = var.restrict_alb_to_cloudfront ? "CloudFront origin-facing addresses" : "Anywhere (the origin header is checked)"
  ip_protocol       = "tcp"
  from_port         = local.listener_port
  to_port           = local.listener_port
  prefix_list_id    = var.restrict_alb_to_cloudfront ? data.aws_ec2_managed_prefix_list.cloudfront[0].id : null
  cidr_ipv4         = var.restrict_alb_to_cloudfront ? null : "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "alb_to_edge" {
  region = var.region

  security_group_id            = aws_security_group.alb.id
  description                  = "To the edge tasks"
  ip_protocol                  = "tcp"
  from_port                    = local.http_port
  to_port                      = local.http_port
  referenced_security_group_id = aws_security_group.edge.id
}

resource "aws_security_group" "edge" {
  region = var.region

  name_prefix = "${var.name}-edge-"
  description = "Edge tasks: HTTP from the playback ALB"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-edge" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "edge_from_alb" {
  region = var.region

  security_group_id            = aws_security_group.edge.id
  description                  = "From the playback ALB"
  ip_protocol                  = "tcp"
  from_port                    = local.http_port
  to_port                      = local.http_port
  referenced_security_group_id = aws_security_group.alb.id
}

resource "aws_vpc_security_group_egress_rule" "edge_all" {
  region = var.region

  security_group_id = aws_security_group.edge.id
  description       = "Gateways (pull) and AWS APIs"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
}

################################################################################
# Application Load Balancer
################################################################################

resource "aws_lb" "this" {
  region = var.region

  name                       = "${var.name}-playback"
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = var.public_subnet_ids
  security_groups            = [aws_security_group.alb.id]
  drop_invalid_header_fields = true
  idle_timeout               = 120
  desync_mitigation_mode     = "defensive"

  tags = var.tags
}

resource "aws_lb_target_group" "edge" {
  region = var.region

  name                          = "${var.name}-edge"
  target_type                   = "ip"
  protocol                      = "HTTP"
  port                          = local.http_port
  vpc_id                        = var.vpc_id
  deregistration_delay          = 30
  load_balancing_algorithm_type = "least_outstanding_requests"

  health_check {
    protocol            = "HTTP"
    path                = "/healthz"
    matcher             = "200"
    interval            = 10
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_lb_listener" "this" {
  region = var.region

  load_balancer_arn = aws_lb.this.arn
  port              = local.listener_port
  protocol          = local.alb_https ? "HTTPS" : "HTTP"
  certificate_arn   = var.alb_certificate_arn
  ssl_policy        = local.alb_https ? "ELBSecurityPolicy-TLS13-1-2-2021-06" : null

  default_action {
    type = "fixed-response"

    fixed_response {
      content_type = "text/plain"
      message_body = "forbidden"
      status_code  = "403"
    }
  }

  tags = var.tags
}

resource "aws_lb_listener_rule" "from_cloudfront" {
  region = var.region

  listener_arn = aws_lb_listener.this.arn
  priority     = 1

  condition {
    http_header {
      http_header_name = local.origin_verify_header
      values           = [random_password.origin_verify.result]
    }
  }

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.edge.arn
  }

  tags = var.tags
}

################################################################################
# Edge service
################################################################################

data "aws_iam_policy_document" "edge" {
  statement {
    sid = "FindGateways"
    actions = [
      "dynamodb:BatchGetItem",
      "dynamodb:GetItem",
      "dynamodb:Query",
    ]
    resources = [var.table_arn, "${var.table_arn}/index/*"]
  }
}

module "edge" {
  source = "../service"

  name   = "${var.name}-edge"
  region = var.region
  tags   = var.tags

  cluster_arn        = var.cluster_arn
  cluster_name       = var.cluster_name
  subnet_ids         = var.private_subnet_ids
  security_group_ids = [aws_security_group.edge.id]
  capacity_provider_strategy = var.edge.use_spot ? [
    { capacity_provider = "FARGATE", base = var.edge.min_capacity, weight = 1 },
    { capacity_provider = "FARGATE_SPOT", base = 0, weight = 3 },
  ] : [{ capacity_provider = "FARGATE", base = 1, weight = 1 }]

  image            = var.image
  repository_arn   = var.repository_arn
  cpu              = var.edge.cpu
  memory           = var.edge.memory
  cpu_architecture = var.cpu_architecture
  container_name   = "edge"
  port_mappings    = { http = local.http_port }
  stop_timeout     = 30
  log_group_name   = var.log_group_name
  log_group_arn    = var.log_group_arn

  environment = merge({
    AWS_REGION                     = local.region
    LIVESTACK_HTTP_ADDR            = ":${local.http_port}"
    LIVESTACK_TABLE                = var.table_name
    LIVESTACK_PLAYBACK_PUBLIC_KEYS = jsonencode({ for key_name, key in aws_cloudfront_public_key.playback : key.id => key.encoded_key })
  }, var.environment)

  task_role_policy_json = data.aws_iam_policy_document.edge.json

  load_balancers = [{
    target_group_arn = aws_lb_target_group.edge.arn
    container_port   = local.http_port
  }]

  desired_count                = var.edge.desired_count
  min_capacity                 = var.edge.min_capacity
  max_capacity                 = var.edge.max_capacity
  cpu_target_utilization       = var.edge.cpu_target_utilization
  request_count_target         = var.edge.requests_per_target
  request_count_resource_label = "${aws_lb.this.arn_suffix}/${aws_lb_target_group.edge.arn_suffix}"
  scale_in_cooldown            = 300
}

################################################################################
# CloudFront: signed playback keys
################################################################################

resource "aws_cloudfront_public_key" "playback" {
  for_each = var.playback_public_keys

  name        = "${var.name}-${local.region}-${each.key}"
  comment     = "livestack playback signing key ${each.key}"
  encoded_key = each.value
}

resource "aws_cloudfront_key_group" "playback" {
  count = length(var.playback_public_keys) > 0 ? 1 : 0

  name    = "${var.name}-${local.region}-playback"
  comment = "Keys whose signed URLs CloudFront accepts for ${var.name} playback"
  items   = [for key in aws_cloudfront_public_key.playback : key.id]
}

################################################################################
# CloudFront: policies per kind of path
################################################################################

# Live playlists: a second at most, keyed on the LL-HLS delivery directives only.
resource "aws_cloudfront_cache_policy" "playlists" {
  name        = "${var.name}-${local.region}-playlists"
  comment     = "Live playlists: ${var.playlist_ttl_seconds}s, LL-HLS query strings in the key"
  min_ttl     = 0
  default_ttl = var.playlist_ttl_seconds
  max_ttl     = var.playlist_ttl_seconds

  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_gzip   = true
    enable_accept_encoding_brotli = true

    cookies_config {
      cookie_behavior = "none"
    }

    headers_config {
      header_behavior = "none"
    }

    query_strings_config {
      query_string_behavior = "whitelist"

      query_strings {
        items = var.hls_query_strings
      }
    }
  }
}

# Segments and parts: immutable, cached long, no query string in the key.
resource "aws_cloudfront_cache_policy" "segments" {
  name        = "${var.name}-${local.region}-segments"
  comment     = "Media segments: immutable"
  min_ttl     = 1
  default_ttl = var.segment_ttl_seconds
  max_ttl     = 31536000

  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_gzip   = false
    enable_accept_encoding_brotli = false

    cookies_config {
      cookie_behavior = "none"
    }

    headers_config {
      header_behavior = "none"
    }

    query_strings_config {
      query_string_behavior = "none"
    }
  }
}

# HTTP-FLV and everything else: a never-ending response, never cached.
resource "aws_cloudfront_cache_policy" "no_cache" {
  name        = "${var.name}-${local.region}-no-cache"
  comment     = "HTTP-FLV and API-like paths: not cached"
  min_ttl     = 0
  default_ttl = 0
  max_ttl     = 0

  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_gzip   = false
    enable_accept_encoding_brotli = false

    cookies_config {
      cookie_behavior = "none"
    }

    headers_config {
      header_behavior = "none"
    }

    query_strings_config {
      query_string_behavior = "none"
    }
  }
}

# The edge sees every query string (signed-URL parameters, LL-HLS directives) and the
# viewer's address, whatever the cache key holds.
resource "aws_cloudfront_origin_request_policy" "playback" {
  name    = "${var.name}-${local.region}-playback"
  comment = "All query strings and the viewer address to the edge"

  cookies_config {
    cookie_behavior = "none"
  }

  headers_config {
    header_behavior = "whitelist"

    headers {
      items = ["CloudFront-Viewer-Address", "CloudFront-Viewer-Country"]
    }
  }

  query_strings_config {
    query_string_behavior = "all"
  }
}

# Players on other sites fetch playlists and segments with XHR.
resource "aws_cloudfront_response_headers_policy" "playback" {
  name    = "${var.name}-${local.region}-playback"
  comment = "CORS for web players"

  cors_config {
    access_control_allow_credentials = false
    access_control_max_age_sec       = 86400
    origin_override                  = true

    access_control_allow_headers {
      items = ["*"]
    }

    access_control_allow_methods {
      items = ["GET", "HEAD", "OPTIONS"]
    }

    access_control_allow_origins {
      items = ["*"]
    }

    access_control_expose_headers {
      items = ["Content-Length", "Content-Range"]
    }
  }
}

################################################################################
# CloudFront: distribution
################################################################################

locals {
  origin_id = "edge"

  trusted_key_groups = var.require_signed_urls ? aws_cloudfront_key_group.playback[*].id : []

  ordered_behaviors = concat(
    [{ path = "*.m3u8", cache_policy_id = aws_cloudfront_cache_policy.playlists.id, compress = true }],
    [for pattern in ["*.ts", "*.m4s", "*.mp4", "*.m4a", "*.aac"] : { path = pattern, cache_policy_id = aws_cloudfront_cache_policy.segments.id, compress = false }],
    [{ path = "*.flv", cache_policy_id = aws_cloudfront_cache_policy.no_cache.id, compress = false }],
  )
}

resource "aws_cloudfront_distribution" "this" {
  enabled         = true
  comment         = "${var.name} playback (${local.region})"
  aliases         = var.aliases
  price_class     = var.price_class
  http_version    = var.http_version
  is_ipv6_enabled = true
  web_acl_id      = var.web_acl_id

  origin {
    origin_id   = local.origin_id
    domain_name = local.alb_https ? coalesce(var.origin_domain_name, aws_lb.this.dns_name) : aws_lb.this.dns_name

    custom_origin_config {
      http_port                = 80
      https_port               = 443
      origin_protocol_policy   = local.alb_https ? "https-only" : "http-only"
      origin_ssl_protocols     = ["TLSv1.2"]
      origin_read_timeout      = 60
      origin_keepalive_timeout = 60
    }

    custom_header {
      name  = local.origin_verify_header
      value = random_password.origin_verify.result
    }

    dynamic "origin_shield" {
      for_each = var.origin_shield_region == null ? [] : [var.origin_shield_region]

      content {
        enabled              = true
        origin_shield_region = origin_shield.value
      }
    }
  }

  default_cache_behavior {
    target_origin_id           = local.origin_id
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD", "OPTIONS"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = false
    cache_policy_id            = aws_cloudfront_cache_policy.no_cache.id
    origin_request_policy_id   = aws_cloudfront_origin_request_policy.playback.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.playback.id
    trusted_key_groups         = local.trusted_key_groups
  }

  dynamic "ordered_cache_behavior" {
    for_each = local.ordered_behaviors

    content {
      path_pattern               = ordered_cache_behavior.value.path
      target_origin_id           = local.origin_id
      viewer_protocol_policy     = "redirect-to-https"
      allowed_methods            = ["GET", "HEAD", "OPTIONS"]
      cached_methods             = ["GET", "HEAD"]
      compress                   = ordered_cache_behavior.value.compress
      cache_policy_id            = ordered_cache_behavior.value.cache_policy_id
      origin_request_policy_id   = aws_cloudfront_origin_request_policy.playback.id
      response_headers_policy_id = aws_cloudfront_response_headers_policy.playback.id
      trusted_key_groups         = local.trusted_key_groups
    }
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    cloudfront_default_certificate = local.use_default_certificate
    acm_certificate_arn            = var.acm_certificate_arn
    iam_certificate_id             = var.iam_certificate_id
    ssl_support_method             = local.use_default_certificate ? null : "sni-only"
    minimum_protocol_version       = local.use_default_certificate ? "TLSv1" : "TLSv1.2_2021"
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = !(var.acm_certificate_arn != null && var.iam_certificate_id != null)
      error_message = "Set acm_certificate_arn or iam_certificate_id, not both."
    }

    precondition {
      condition     = length(var.aliases) == 0 || !local.use_default_certificate
      error_message = "aliases need a certificate: set acm_certificate_arn (or iam_certificate_id in aws-cn)."
    }

    precondition {
      condition     = !var.require_signed_urls || length(var.playback_public_keys) > 0
      error_message = "require_signed_urls needs at least one key in playback_public_keys."
    }
  }
}
