provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Application = "livestack"
      ManagedBy   = "terraform"
      Root        = "bootstrap"
    }
  }
}

module "deploy_access" {
  source = "../modules/deploy-access"

  name   = "livestack"
  region = var.region

  github_repository  = var.github_repository
  apply_environments = var.apply_environments
  create_lock_table  = var.create_lock_table
}
