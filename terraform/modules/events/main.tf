data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}
data "aws_region" "current" {
  region = var.region
}

data "aws_service_principal" "this" {
  for_each = toset(["events", "lambda", "ecs-tasks"])

  region = var.region

  service_name = each.key
}

locals {
  partition  = data.aws_partition.current.partition
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.region

  events_principal    = data.aws_service_principal.this["events"].name
  lambda_principal    = data.aws_service_principal.this["lambda"].name
  ecs_tasks_principal = data.aws_service_principal.this["ecs-tasks"].name

  zip_exists = fileexists(var.lambda_zip_path)
}

################################################################################
# Bus
################################################################################

resource "aws_cloudwatch_event_bus" "this" {
  region = var.region

  name = var.event_bus_name

  tags = var.tags
}

resource "aws_cloudwatch_event_archive" "this" {
  count = var.archive_retention_days == null ? 0 : 1

  region = var.region

  name             = "${var.name}-events"
  description      = "Replay of livestack events"
  event_source_arn = aws_cloudwatch_event_bus.this.arn
  retention_days   = var.archive_retention_days
}

################################################################################
# Dead-letter queue
################################################################################

resource "aws_sqs_queue" "dlq" {
  region = var.region

  name                      = "${var.name}-events-dlq"
  message_retention_seconds = var.dlq_message_retention_seconds
  sqs_managed_sse_enabled   = true

  tags = var.tags
}

data "aws_iam_policy_document" "dlq" {
  statement {
    sid       = "EventBridgeDeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dlq.arn]

    principals {
      type        = "Service"
      identifiers = [local.events_principal]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.stream.arn, aws_cloudwatch_event_rule.worker_state.arn]
    }
  }
}

resource "aws_sqs_queue_policy" "dlq" {
  region = var.region

  queue_url = aws_sqs_queue.dlq.id
  policy    = data.aws_iam_policy_document.dlq.json
}

################################################################################
# Rules
################################################################################

resource "aws_cloudwatch_event_rule" "stream" {
  region = var.region

  name           = "${var.name}-stream-events"
  description    = "A stream started or stopped: start or stop its worker"
  event_bus_name = aws_cloudwatch_event_bus.this.name

  event_pattern = jsonencode({
    source        = [{ prefix = var.event_source_prefix }]
    "detail-type" = ["Stream Started", "Stream Stopped"]
  })

  tags = var.tags
}

# ECS publishes task state changes on the default bus only.
resource "aws_cloudwatch_event_rule" "worker_state" {
  region = var.region

  name        = "${var.name}-worker-state"
  description = "A worker task changed state: record it, restart it if its stream is still live"

  event_pattern = jsonencode({
    source        = ["aws.ecs"]
    "detail-type" = ["ECS Task State Change"]
    detail = {
      clusterArn = [var.cluster_arn]
      group      = [for family in values(var.worker_task_definition_families) : "family:${family}"]
    }
  })

  tags = var.tags
}

locals {
  rules = {
    stream       = aws_cloudwatch_event_rule.stream
    worker_state = aws_cloudwatch_event_rule.worker_state
  }
}

resource "aws_cloudwatch_event_target" "scheduler" {
  for_each = local.rules

  region = var.region

  rule           = each.value.name
  event_bus_name = each.value.event_bus_name
  target_id      = "scheduler"
  arn            = aws_lambda_function.scheduler.arn

  retry_policy {
    maximum_retry_attempts       = var.maximum_retry_attempts
    maximum_event_age_in_seconds = var.maximum_event_age_seconds
  }

  dead_letter_config {
    arn = aws_sqs_queue.dlq.arn
  }
}

resource "aws_lambda_permission" "scheduler" {
  for_each = local.rules

  region = var.region

  statement_id  = "events-${each.key}"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.scheduler.function_name
  principal     = local.events_principal
  source_arn    = each.value.arn
}

################################################################################
# Scheduler function
################################################################################

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = [local.lambda_principal]
    }
  }
}

resource "aws_iam_role" "scheduler" {
  name               = "${var.name}-scheduler-${local.region}"
  description        = "The scheduler starts and stops worker tasks"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json

  tags = var.tags
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    sid       = "StartWorkers"
    actions   = ["ecs:RunTask"]
    resources = [for family in values(var.worker_task_definition_families) : "arn:${local.partition}:ecs:${local.region}:${local.account_id}:task-definition/${family}:*"]

    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [var.cluster_arn]
    }
  }

  statement {
    sid       = "ManageWorkers"
    actions   = ["ecs:DescribeTasks", "ecs:StopTask"]
    resources = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:task/${var.cluster_name}/*"]
  }

  # RunTask with tags (channel id, stream session) needs TagResource on the new task.
  statement {
    sid       = "TagWorkersOnStart"
    actions   = ["ecs:TagResource"]
    resources = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:task/${var.cluster_name}/*"]

    condition {
      test     = "StringEquals"
      variable = "ecs:CreateAction"
      values   = ["RunTask"]
    }
  }

  statement {
    sid       = "PassWorkerRoles"
    actions   = ["iam:PassRole"]
    resources = [var.worker_task_role_arn, var.worker_execution_role_arn]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = [local.ecs_tasks_principal]
    }
  }

  statement {
    sid = "WorkerState"
    actions = [
      "dynamodb:DeleteItem",
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:Query",
      "dynamodb:UpdateItem",
    ]
    resources = [var.table_arn, "${var.table_arn}/index/*"]
  }

  statement {
    sid       = "FailedInvocations"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dlq.arn]
  }

  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${var.log_group_arn}:log-stream:*"]
  }
}

resource "aws_iam_role_policy" "scheduler" {
  name   = "scheduler"
  role   = aws_iam_role.scheduler.id
  policy = data.aws_iam_policy_document.scheduler.json
}

resource "aws_lambda_function" "scheduler" {
  region = var.region

  function_name    = "${var.name}-scheduler"
  description      = "Stream events and worker task state changes -> ECS RunTask / StopTask"
  role             = aws_iam_role.scheduler.arn
  filename         = var.lambda_zip_path
  source_code_hash = local.zip_exists ? filebase64sha256(var.lambda_zip_path) : null
  handler          = "bootstrap"
  runtime          = "provided.al2023"
  architectures    = ["arm64"]
  memory_size      = var.memory_size
  timeout          = var.timeout

  logging_config {
    log_format = "JSON"
    log_group  = var.log_group_name
  }

  environment {
    variables = {
      LIVESTACK_TABLE                    = var.table_name
      LIVESTACK_CLUSTER                  = var.cluster_arn
      LIVESTACK_WORKER_TASK_DEFINITIONS  = jsonencode(var.worker_task_definition_arns)
      LIVESTACK_WORKER_SUBNETS           = join(",", var.worker_subnet_ids)
      LIVESTACK_WORKER_SECURITY_GROUPS   = var.worker_security_group_id
      LIVESTACK_WORKER_CAPACITY_PROVIDER = var.worker_capacity_provider
      LIVESTACK_RECORD_TASK_SIZE         = var.record_task_size
      LIVESTACK_TRANSCODE_TASK_SIZE      = var.transcode_task_size
    }
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy.scheduler]
}

# Failures inside the function (after EventBridge handed the event over) land in the same queue.
resource "aws_lambda_function_event_invoke_config" "scheduler" {
  region = var.region

  function_name                = aws_lambda_function.scheduler.function_name
  maximum_retry_attempts       = 2
  maximum_event_age_in_seconds = var.maximum_event_age_seconds

  destination_config {
    on_failure {
      destination = aws_sqs_queue.dlq.arn
    }
  }
}

check "scheduler_artifact" {
  assert {
    condition     = local.zip_exists
    error_message = "${var.lambda_zip_path} does not exist: run `make lambdas` before plan or apply."
  }
}
