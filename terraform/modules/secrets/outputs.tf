output "push_key_secret_name" {
  description = "Name of the push key secret (the same in every replica region)"
  value       = aws_secretsmanager_secret.push_key.name
}

output "push_key_secret_arn" {
  description = "ARN of the push key secret in the primary region"
  value       = aws_secretsmanager_secret.push_key.arn
}

output "playback_private_key_secret_name" {
  description = "Name of the playback private key secret (the same in every replica region)"
  value       = aws_secretsmanager_secret.playback_private_key.name
}

output "playback_private_key_secret_arn" {
  description = "ARN of the playback private key secret in the primary region"
  value       = aws_secretsmanager_secret.playback_private_key.arn
}
