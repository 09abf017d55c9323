terraform {
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }

  # Local state: this root creates the state bucket the others use. Keep
  # terraform.tfstate safe (or migrate it into the bucket afterwards, docs/deploy-aws.md).
}
