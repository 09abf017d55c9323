output "event_bus_name" {
  description = "Name of the event bus"
  value       = aws_cloudwatch_event_bus.this.name
}

output "event_bus_arn" {
  description = "ARN of the event bus"
  value       = aws_cloudwatch_event_bus.this.arn
}

output "dlq_arn" {
  description = "ARN of the dead-letter queue"
  value       = aws_sqs_queue.dlq.arn
}

output "dlq_name" {
  description = "Name of the dead-letter queue"
  value       = aws_sqs_queue.dlq.name
}

output "scheduler_function_name" {
  description = "Name of the scheduler function"
  value       = aws_lambda_function.scheduler.function_name
}

output "scheduler_function_arn" {
  description = "ARN of the scheduler function"
  value       = aws_lambda_function.scheduler.arn
}
