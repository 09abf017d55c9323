data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}
data "aws_region" "current" {
  region = var.region
}

data "aws_service_principal" "ecs_tasks" {
  region = var.region

  service_name = "ecs-tasks"
}

locals {
  partition  = data.aws_partition.current.partition
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.region

  # Prefixes the workers write: snapshots, motion clips, transcoded VOD.
  worker_write_prefixes = ["snapshots/", "motion/", "vod/", "recordings/"]
}

################################################################################
# Cluster
################################################################################

resource "aws_ecs_cluster" "this" {
  region = var.region

  name = var.name

  setting {
    name  = "containerInsights"
    value = var.container_insights
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = contains(keys(var.worker_task_sizes), var.record_task_size) && contains(keys(var.worker_task_sizes), var.transcode_task_size)
      error_message = "record_task_size and transcode_task_size must both be keys of worker_task_sizes."
    }
  }
}

resource "aws_ecs_cluster_capacity_providers" "this" {
  region = var.region

  cluster_name       = aws_ecs_cluster.this.name
  capacity_providers = ["FARGATE", "FARGATE_SPOT"]

  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    base              = 1
    weight            = 1
  }
}

################################################################################
# Worker network
################################################################################

resource "aws_security_group" "worker" {
  region = var.region

  name_prefix = "${var.name}-worker-"
  description = "Workers: no inbound; outbound to the gateways, AWS APIs and watermark image hosts"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-worker" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_egress_rule" "worker_all" {
  region = var.region

  security_group_id = aws_security_group.worker.id
  description       = "All outbound"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
}

################################################################################
# Worker IAM
################################################################################

# ECS assumes the execution role to pull the image and create log streams.
data "aws_iam_policy_document" "execution_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = [data.aws_service_principal.ecs_tasks.name]
    }
  }
}

# The task role is assumed on behalf of tasks of this account and region only
# (the confused-deputy conditions ECS documents for task roles).
data "aws_iam_policy_document" "task_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = [data.aws_service_principal.ecs_tasks.name]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:*"]
    }
  }
}

resource "aws_iam_role" "worker_execution" {
  name                 = "${var.name}-worker-execution-${local.region}"
  description          = "ECS pulls the worker image and ships its logs"
  assume_role_policy   = data.aws_iam_policy_document.execution_assume.json
  max_session_duration = 3600

  tags = var.tags
}

data "aws_iam_policy_document" "worker_execution" {
  statement {
    sid = "PullWorkerImage"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:GetDownloadUrlForLayer",
    ]
    resources = [var.worker_repository_arn]
  }

  # GetAuthorizationToken has no resource-level permissions.
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${var.worker_log_group_arn}:log-stream:*"]
  }
}

resource "aws_iam_role_policy" "worker_execution" {
  name   = "execution"
  role   = aws_iam_role.worker_execution.id
  policy = data.aws_iam_policy_document.worker_execution.json
}

resource "aws_iam_role" "worker_task" {
  name                 = "${var.name}-worker-task-${local.region}"
  description          = "What a worker may do: read and write media objects, index them, announce them"
  assume_role_policy   = data.aws_iam_policy_document.task_assume.json
  max_session_duration = 3600

  tags = var.tags
}

data "aws_iam_policy_document" "worker_task" {
  statement {
    sid = "MediaObjects"
    actions = [
      "s3:AbortMultipartUpload",
      "s3:GetObject",
      "s3:PutObject",
    ]
    resources = [for prefix in local.worker_write_prefixes : "${var.bucket_arn}/${prefix}*"]
  }

  statement {
    sid = "IndexMedia"
    actions = [
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:Query",
      "dynamodb:UpdateItem",
    ]
    resources = [var.table_arn, "${var.table_arn}/index/*"]
  }

  statement {
    sid       = "AnnounceMedia"
    actions   = ["events:PutEvents"]
    resources = [var.event_bus_arn]
  }

  # The worker signs the push URLs of its renditions with the platform push key.
  statement {
    sid       = "PushKey"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.push_key_secret_arn]
  }
}

resource "aws_iam_role_policy" "worker_task" {
  name   = "worker"
  role   = aws_iam_role.worker_task.id
  policy = data.aws_iam_policy_document.worker_task.json
}

################################################################################
# Worker task definitions, one per size
################################################################################

locals {
  worker_environment = merge({
    AWS_REGION                   = local.region
    LIVESTACK_TABLE              = var.table_name
    LIVESTACK_BUCKET             = var.bucket_name
    LIVESTACK_EVENT_BUS          = var.event_bus_name
    LIVESTACK_DEFAULT_CODEC      = var.default_codec
    LIVESTACK_DEFAULT_RENDITIONS = join(",", var.default_renditions)
    LIVESTACK_PUSH_KEY_SECRET    = var.push_key_secret_arn
  }, var.worker_environment)
}

resource "aws_ecs_task_definition" "worker" {
  for_each = var.worker_task_sizes

  region = var.region

  family                   = "${var.name}-worker-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = each.value.cpu
  memory                   = each.value.memory
  execution_role_arn       = aws_iam_role.worker_execution.arn
  task_role_arn            = aws_iam_role.worker_task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  ephemeral_storage {
    size_in_gib = var.worker_ephemeral_storage_gib
  }

  # The scheduler passes the stream (channel id, gateway address, job) as container
  # overrides on RunTask; everything static is here.
  container_definitions = jsonencode([{
    name        = "worker"
    image       = var.worker_image
    essential   = true
    stopTimeout = 30
    environment = [for key in sort(keys(local.worker_environment)) : { name = key, value = local.worker_environment[key] }]
    linuxParameters = {
      initProcessEnabled = true
    }
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = var.worker_log_group_name
        awslogs-region        = local.region
        awslogs-stream-prefix = each.key
      }
    }
  }])

  tags = merge(var.tags, { TaskSize = each.key })
}
