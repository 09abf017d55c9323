data "aws_region" "current" {
  region = var.region
}

data "aws_service_principal" "events" {
  region = var.region

  service_name = "events"
}

locals {
  region = data.aws_region.current.region

  metric_namespace = "Livestack/${var.name}"
}

################################################################################
# Log groups
################################################################################

resource "aws_cloudwatch_log_group" "this" {
  for_each = var.log_group_names

  region = var.region

  name              = each.value
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn

  tags = var.tags
}

################################################################################
# Alarm topic
################################################################################

resource "aws_sns_topic" "alarms" {
  region = var.region

  # Not encrypted with the AWS managed SNS key: CloudWatch alarms cannot publish to a
  # topic under that key (its policy cannot be changed). Alarm texts hold no secrets.
  name = "${var.name}-alarms"

  tags = var.tags
}

resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.alarm_email_addresses)

  region = var.region

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

################################################################################
# Task failures
################################################################################

# ECS reports stopped tasks as events, not metrics. Failed ones (could not start, or an
# essential container exited non-zero) go to a log group, and a metric filter counts them.
resource "aws_cloudwatch_log_group" "task_failures" {
  region = var.region

  name              = "/aws/events/${var.name}-task-failures"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn

  tags = var.tags
}

data "aws_iam_policy_document" "task_failures_logs" {
  statement {
    sid     = "EventBridgeWritesTaskFailures"
    actions = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [
      "${aws_cloudwatch_log_group.task_failures.arn}:*",
    ]

    principals {
      type        = "Service"
      identifiers = [data.aws_service_principal.events.name]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.task_failures.arn]
    }
  }
}

resource "aws_cloudwatch_log_resource_policy" "task_failures" {
  region = var.region

  policy_name     = "${var.name}-task-failures"
  policy_document = data.aws_iam_policy_document.task_failures_logs.json
}

resource "aws_cloudwatch_event_rule" "task_failures" {
  region = var.region

  name        = "${var.name}-task-failures"
  description = "ECS tasks of ${var.name} that failed to start or whose essential container exited non-zero"

  event_pattern = jsonencode({
    source        = ["aws.ecs"]
    "detail-type" = ["ECS Task State Change"]
    detail = {
      clusterArn = [var.ecs_cluster_arn]
      lastStatus = ["STOPPED"]
      "$or" = [
        { stopCode = ["TaskFailedToStart"] },
        { stopCode = ["EssentialContainerExited"], containers = { exitCode = [{ "anything-but" = 0 }] } },
      ]
    }
  })

  tags = var.tags
}

resource "aws_cloudwatch_event_target" "task_failures" {
  region = var.region

  rule      = aws_cloudwatch_event_rule.task_failures.name
  target_id = "logs"
  arn       = aws_cloudwatch_log_group.task_failures.arn

  depends_on = [aws_cloudwatch_log_resource_policy.task_failures]
}

resource "aws_cloudwatch_log_metric_filter" "task_failures" {
  region = var.region

  name           = "${var.name}-task-failures"
  log_group_name = aws_cloudwatch_log_group.task_failures.name
  pattern        = "{ $.detail.lastStatus = \"STOPPED\" }"

  metric_transformation {
    name          = "TaskFailures"
    namespace     = local.metric_namespace
    value         = "1"
    default_value = "0"
  }
}

################################################################################
# Alarms
################################################################################

locals {
  lambda_alarms = {
    for key, function_name in var.lambda_function_names : "lambda-${key}-errors" => {
      description = "Lambda ${function_name} returned errors"
      namespace   = "AWS/Lambda"
      metric_name = "Errors"
      dimensions  = { FunctionName = function_name }
      statistic   = "Sum"
      threshold   = var.alarm_thresholds.lambda_errors
      comparison  = "GreaterThanOrEqualToThreshold"
    }
  }

  service_alarms = {
    for key, service_name in var.ecs_service_names : "ecs-${key}-no-running-task" => {
      description = "ECS service ${service_name} has no running task"
      namespace   = "ECS/ContainerInsights"
      metric_name = "RunningTaskCount"
      dimensions  = { ClusterName = var.ecs_cluster_name, ServiceName = service_name }
      statistic   = "Minimum"
      threshold   = 1
      comparison  = "LessThanThreshold"
    }
  }

  fixed_alarms = {
    "alb-target-5xx" = {
      description = "Edge tasks answered 5xx through the playback ALB"
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_Target_5XX_Count"
      dimensions  = { LoadBalancer = var.alb_arn_suffix }
      statistic   = "Sum"
      threshold   = var.alarm_thresholds.alb_5xx
      comparison  = "GreaterThanOrEqualToThreshold"
    }
    "alb-elb-5xx" = {
      description = "The playback ALB itself answered 5xx (no healthy edge task, timeouts)"
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_ELB_5XX_Count"
      dimensions  = { LoadBalancer = var.alb_arn_suffix }
      statistic   = "Sum"
      threshold   = var.alarm_thresholds.alb_5xx
      comparison  = "GreaterThanOrEqualToThreshold"
    }
    "api-5xx" = {
      description = "The REST API answered 5xx"
      namespace   = "AWS/ApiGateway"
      metric_name = "5XXError"
      dimensions  = { ApiName = var.api_gateway_name, Stage = var.api_gateway_stage_name }
      statistic   = "Sum"
      threshold   = var.alarm_thresholds.api_5xx
      comparison  = "GreaterThanOrEqualToThreshold"
    }
    "ingest-unhealthy-gateway" = {
      description = "A gateway task behind the ingest NLB is unhealthy"
      namespace   = "AWS/NetworkELB"
      metric_name = "UnHealthyHostCount"
      dimensions  = { LoadBalancer = var.nlb_arn_suffix, TargetGroup = var.nlb_target_group_arn_suffix }
      statistic   = "Maximum"
      threshold   = 1
      comparison  = "GreaterThanOrEqualToThreshold"
    }
    "ecs-task-failures" = {
      description = "ECS tasks failed to start or exited with an error"
      namespace   = local.metric_namespace
      metric_name = "TaskFailures"
      dimensions  = {}
      statistic   = "Sum"
      threshold   = var.alarm_thresholds.task_failures
      comparison  = "GreaterThanOrEqualToThreshold"
    }
    "events-dlq-not-empty" = {
      description = "Stream or task events could not be delivered to the scheduler"
      namespace   = "AWS/SQS"
      metric_name = "ApproximateNumberOfMessagesVisible"
      dimensions  = { QueueName = var.dlq_queue_name }
      statistic   = "Maximum"
      threshold   = 1
      comparison  = "GreaterThanOrEqualToThreshold"
    }
    "dynamodb-throttles" = {
      description = "Requests to the metadata table were throttled"
      namespace   = "AWS/DynamoDB"
      metric_name = "ThrottledRequests"
      dimensions  = { TableName = var.dynamodb_table_name }
      statistic   = "Sum"
      threshold   = var.alarm_thresholds.dynamodb_throttles
      comparison  = "GreaterThanOrEqualToThreshold"
    }
  }

  alarms = merge(local.fixed_alarms, local.lambda_alarms, local.service_alarms)
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = local.alarms

  region = var.region

  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric_name
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  period              = 300
  evaluation_periods  = 1
  threshold           = each.value.threshold
  comparison_operator = each.value.comparison
  treat_missing_data  = "notBreaching"

  alarm_actions = [aws_sns_topic.alarms.arn]
  ok_actions    = [aws_sns_topic.alarms.arn]

  tags = var.tags
}

################################################################################
# Dashboard
################################################################################

locals {
  ecs_service_metrics = flatten([
    for service_name in values(var.ecs_service_names) : [
      ["AWS/ECS", "CPUUtilization", "ClusterName", var.ecs_cluster_name, "ServiceName", service_name],
      ["AWS/ECS", "MemoryUtilization", "ClusterName", var.ecs_cluster_name, "ServiceName", service_name],
    ]
  ])

  dashboard_widgets = [
    {
      type = "metric", x = 0, y = 0, width = 12, height = 6
      properties = {
        title  = "Ingest: RTMP connections"
        region = local.region
        stat   = "Sum"
        period = 60
        metrics = [
          ["AWS/NetworkELB", "ActiveFlowCount", "LoadBalancer", var.nlb_arn_suffix],
          ["AWS/NetworkELB", "NewFlowCount", "LoadBalancer", var.nlb_arn_suffix],
          ["AWS/NetworkELB", "ProcessedBytes", "LoadBalancer", var.nlb_arn_suffix, { yAxis = "right" }],
        ]
      }
    },
    {
      type = "metric", x = 12, y = 0, width = 12, height = 6
      properties = {
        title  = "Playback: ALB requests and errors"
        region = local.region
        stat   = "Sum"
        period = 60
        metrics = [
          ["AWS/ApplicationELB", "RequestCount", "LoadBalancer", var.alb_arn_suffix],
          ["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "LoadBalancer", var.alb_arn_suffix],
          ["AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", "LoadBalancer", var.alb_arn_suffix],
        ]
      }
    },
    {
      type = "metric", x = 0, y = 6, width = 12, height = 6
      properties = {
        title   = "ECS services: CPU and memory"
        region  = local.region
        stat    = "Average"
        period  = 60
        metrics = local.ecs_service_metrics
      }
    },
    {
      type = "metric", x = 12, y = 6, width = 12, height = 6
      properties = {
        title  = "Workers: failed tasks"
        region = local.region
        stat   = "Sum"
        period = 300
        metrics = [
          [local.metric_namespace, "TaskFailures"],
        ]
      }
    },
    {
      type = "metric", x = 0, y = 12, width = 12, height = 6
      properties = {
        title   = "Lambda: errors"
        region  = local.region
        stat    = "Sum"
        period  = 300
        metrics = [for function_name in values(var.lambda_function_names) : ["AWS/Lambda", "Errors", "FunctionName", function_name]]
      }
    },
    {
      type = "metric", x = 12, y = 12, width = 12, height = 6
      properties = {
        title  = "API and metadata table"
        region = local.region
        stat   = "Sum"
        period = 300
        metrics = [
          ["AWS/ApiGateway", "5XXError", "ApiName", var.api_gateway_name, "Stage", var.api_gateway_stage_name],
          ["AWS/ApiGateway", "4XXError", "ApiName", var.api_gateway_name, "Stage", var.api_gateway_stage_name],
          ["AWS/DynamoDB", "ThrottledRequests", "TableName", var.dynamodb_table_name],
          ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", var.dlq_queue_name],
        ]
      }
    },
  ]
}

resource "aws_cloudwatch_dashboard" "this" {
  region = var.region

  dashboard_name = var.name
  dashboard_body = jsonencode({ widgets = local.dashboard_widgets })
}
