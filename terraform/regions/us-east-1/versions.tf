terraform {
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.7"
    }
  }

  # bucket and region come from -backend-config (see docs/deploy-aws.md).
  backend "s3" {
    key          = "livestack/regions/us-east-1.tfstate"
    encrypt      = true
    use_lockfile = true
  }
}
