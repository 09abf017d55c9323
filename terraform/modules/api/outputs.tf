output "api_url" {
  description = "Invoke URL of the API stage (for example `https://ID.execute-api.REGION.amazonaws.com/Prod`)"
  value       = aws_api_gateway_stage.this.invoke_url
}

output "rest_api_id" {
  description = "ID of the REST API"
  value       = aws_api_gateway_rest_api.this.id
}

output "rest_api_name" {
  description = "Name of the REST API"
  value       = aws_api_gateway_rest_api.this.name
}

output "stage_name" {
  description = "Stage of the REST API"
  value       = aws_api_gateway_stage.this.stage_name
}

output "function_names" {
  description = "Names of the functions, by function (`api`, `ingestauth`)"
  value       = { for function, lambda in aws_lambda_function.this : function => lambda.function_name }
}

output "ingestauth_function_arn" {
  description = "ARN of the ingestauth function"
  value       = aws_lambda_function.this["ingestauth"].arn
}

output "ingestauth_function_url" {
  description = "IAM-authenticated URL of the ingestauth function, or null"
  value       = try(aws_lambda_function_url.ingestauth[0].function_url, null)
}

output "cognito_user_pool_id" {
  description = "ID of the Cognito user pool of console users, or null with AWS_IAM auth"
  value       = try(aws_cognito_user_pool.this[0].id, null)
}

output "cognito_client_id" {
  description = "ID of the console's Cognito app client, or null"
  value       = try(aws_cognito_user_pool_client.console[0].id, null)
}

output "cognito_domain" {
  description = "Cognito hosted sign-in domain prefix, or null"
  value       = try(aws_cognito_user_pool_domain.this[0].domain, null)
}

output "api_key_ids" {
  description = "IDs of the API keys by name (read a value with `aws apigateway get-api-key --include-value`)"
  value       = { for key_name, key in aws_api_gateway_api_key.this : key_name => key.id }
}
