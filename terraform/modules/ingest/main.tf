data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}
data "aws_region" "current" {
  region = var.region
}

locals {
  partition  = data.aws_partition.current.partition
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.region

  rtmp_port = 1935
  http_port = 8080

  enable_rtmps = var.certificate_arn != null

  listener_ports = local.enable_rtmps ? { rtmp = local.rtmp_port, rtmps = 443 } : { rtmp = local.rtmp_port }

  push_host = coalesce(var.push_domain_name, aws_lb.this.dns_name)
}

################################################################################
# Security groups
################################################################################

resource "aws_security_group" "nlb" {
  region = var.region

  name_prefix = "${var.name}-ingest-nlb-"
  description = "Ingest NLB: RTMP and RTMPS from encoders"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-ingest-nlb" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "nlb_listeners" {
  for_each = {
    for pair in setproduct(keys(local.listener_ports), var.allowed_ingest_cidrs) : "${pair[0]}-${pair[1]}" => {
      port = local.listener_ports[pair[0]]
      cidr = pair[1]
    }
  }

  region = var.region

  security_group_id = aws_security_group.nlb.id
  description       = "Encoders"
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
  cidr_ipv4         = each.value.cidr
}

resource "aws_vpc_security_group_egress_rule" "nlb_to_gateway" {
  for_each = toset([tostring(local.rtmp_port), tostring(local.http_port)])

  region = var.region

  security_group_id            = aws_security_group.nlb.id
  description                  = "Traffic and health checks to the gateways"
  ip_protocol                  = "tcp"
  from_port                    = tonumber(each.key)
  to_port                      = tonumber(each.key)
  referenced_security_group_id = aws_security_group.gateway.id
}

resource "aws_security_group" "gateway" {
  region = var.region

  name_prefix = "${var.name}-gateway-"
  description = "Gateway tasks: RTMP from the NLB, RTMP and HTTP from edges and workers"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-gateway" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "gateway_from_nlb" {
  for_each = toset([tostring(local.rtmp_port), tostring(local.http_port)])

  region = var.region

  security_group_id            = aws_security_group.gateway.id
  description                  = "From the ingest NLB (publishers on 1935, health checks on 8080)"
  ip_protocol                  = "tcp"
  from_port                    = tonumber(each.key)
  to_port                      = tonumber(each.key)
  referenced_security_group_id = aws_security_group.nlb.id
}

resource "aws_vpc_security_group_ingress_rule" "gateway_from_media_clients" {
  for_each = {
    for pair in setproduct(keys(var.media_client_security_group_ids), [local.rtmp_port, local.http_port]) : "${pair[0]}-${pair[1]}" => {
      security_group_id = var.media_client_security_group_ids[pair[0]]
      port              = pair[1]
    }
  }

  region = var.region

  security_group_id            = aws_security_group.gateway.id
  description                  = "Stream pulls and rendition pushes (${each.key})"
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
  referenced_security_group_id = each.value.security_group_id
}

resource "aws_vpc_security_group_egress_rule" "gateway_all" {
  region = var.region

  security_group_id = aws_security_group.gateway.id
  description       = "AWS APIs, ingestauth, relays to external RTMP servers"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
}

################################################################################
# Network Load Balancer
################################################################################

resource "aws_lb" "this" {
  region = var.region

  name                             = "${var.name}-ingest"
  load_balancer_type               = "network"
  internal                         = false
  subnets                          = var.public_subnet_ids
  security_groups                  = [aws_security_group.nlb.id]
  enable_cross_zone_load_balancing = var.enable_cross_zone_load_balancing

  tags = var.tags
}

# One target group for both listeners: RTMP on 1935 passes through, RTMPS on 443 is
# decrypted by the NLB and arrives as plain RTMP on 1935 too.
resource "aws_lb_target_group" "rtmp" {
  region = var.region

  name                   = "${var.name}-rtmp"
  target_type            = "ip"
  protocol               = "TCP"
  port                   = local.rtmp_port
  vpc_id                 = var.vpc_id
  deregistration_delay   = var.deregistration_delay_seconds
  connection_termination = false
  preserve_client_ip     = false

  health_check {
    protocol            = "HTTP"
    port                = tostring(local.http_port)
    path                = "/healthz"
    matcher             = "200"
    interval            = 10
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_lb_listener" "rtmp" {
  region = var.region

  load_balancer_arn = aws_lb.this.arn
  port              = local.rtmp_port
  protocol          = "TCP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.rtmp.arn
  }

  tags = var.tags
}

resource "aws_lb_listener" "rtmps" {
  count = local.enable_rtmps ? 1 : 0

  region = var.region

  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "TLS"
  certificate_arn   = var.certificate_arn
  ssl_policy        = var.tls_policy

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.rtmp.arn
  }

  tags = var.tags
}

################################################################################
# Gateway task permissions
################################################################################

data "aws_iam_policy_document" "gateway" {
  statement {
    sid = "UploadRecordings"
    actions = [
      "s3:AbortMultipartUpload",
      "s3:PutObject",
    ]
    resources = [
      "${var.bucket_arn}/recordings/*",
      "${var.bucket_arn}/vod/*",
    ]
  }

  statement {
    sid = "StreamState"
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

  # The publish/unpublish callback: through the IAM-authenticated function URL, or the
  # Lambda Invoke API. Function URLs need both actions.
  statement {
    sid       = "IngestAuth"
    actions   = ["lambda:InvokeFunction", "lambda:InvokeFunctionUrl"]
    resources = [var.ingestauth_function_arn]
  }

  statement {
    sid       = "PushKey"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.push_key_secret_arn]
  }

  # A gateway protects itself from scale-in while it holds publishers (ECS task
  # scale-in protection, through the agent endpoint).
  statement {
    sid       = "ScaleInProtection"
    actions   = ["ecs:GetTaskProtection", "ecs:UpdateTaskProtection"]
    resources = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:task/${var.cluster_name}/*"]
  }
}

################################################################################
# Gateway service
################################################################################

module "gateway" {
  source = "../service"

  name   = "${var.name}-gateway"
  region = var.region
  tags   = var.tags

  cluster_arn        = var.cluster_arn
  cluster_name       = var.cluster_name
  subnet_ids         = var.private_subnet_ids
  security_group_ids = [aws_security_group.gateway.id]

  image            = var.image
  repository_arn   = var.repository_arn
  cpu              = var.gateway.cpu
  memory           = var.gateway.memory
  cpu_architecture = var.cpu_architecture
  container_name   = "gateway"
  port_mappings    = { rtmp = local.rtmp_port, http = local.http_port }
  stop_timeout     = 120
  log_group_name   = var.log_group_name
  log_group_arn    = var.log_group_arn

  environment = merge({
    AWS_REGION                    = local.region
    LIVESTACK_RTMP_ADDR           = ":${local.rtmp_port}"
    LIVESTACK_HTTP_ADDR           = ":${local.http_port}"
    LIVESTACK_TABLE               = var.table_name
    LIVESTACK_BUCKET              = var.bucket_name
    LIVESTACK_EVENT_BUS           = var.event_bus_name
    LIVESTACK_INGESTAUTH_FUNCTION = var.ingestauth_function_arn
    LIVESTACK_INGESTAUTH_URL      = var.ingestauth_function_url == null ? "" : var.ingestauth_function_url
    LIVESTACK_PUSH_KEY_SECRET     = var.push_key_secret_arn
  }, var.environment)

  task_role_policy_json = data.aws_iam_policy_document.gateway.json

  load_balancers = [{
    target_group_arn = aws_lb_target_group.rtmp.arn
    container_port   = local.rtmp_port
  }]
  health_check_grace_period_seconds = 30

  desired_count          = var.gateway.desired_count
  min_capacity           = var.gateway.min_capacity
  max_capacity           = var.gateway.max_capacity
  cpu_target_utilization = var.gateway.cpu_target_utilization
  scale_in_cooldown      = var.gateway.scale_in_cooldown
}

################################################################################
# Push domain
################################################################################

# One latency record per region under the same name: encoders publish to the nearest
# healthy region.
resource "aws_route53_record" "push" {
  count = var.route53_zone_id != null && var.push_domain_name != null ? 1 : 0

  zone_id        = var.route53_zone_id
  name           = var.push_domain_name
  type           = "A"
  set_identifier = local.region

  latency_routing_policy {
    region = local.region
  }

  alias {
    name                   = aws_lb.this.dns_name
    zone_id                = aws_lb.this.zone_id
    evaluate_target_health = true
  }
}
