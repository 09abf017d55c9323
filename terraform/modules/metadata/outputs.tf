output "table_name" {
  description = "Name of the table"
  value       = aws_dynamodb_table.this.name
}

output "table_arn" {
  description = "ARN of the table in the primary region"
  value       = aws_dynamodb_table.this.arn
}

output "stream_arn" {
  description = "ARN of the table's stream in the primary region"
  value       = aws_dynamodb_table.this.stream_arn
}

output "primary_region" {
  description = "Region of the primary table"
  value       = data.aws_region.current.region
}

output "replica_regions" {
  description = "Regions holding a replica"
  value       = var.replica_regions
}

output "index_names" {
  description = "Names of the global secondary indexes"
  value       = ["gsi1", "gsi2"]
}
