provider "aws" {
  region = "us-east-1"

  default_tags {
    tags = {
      Application = "livestack"
      ManagedBy   = "terraform"
      Root        = "global"
    }
  }
}

module "global" {
  source = "../modules/global"

  region = "us-east-1"

  # Every region root of this partition other than the primary region.
  replica_regions = ["eu-west-1", "ap-southeast-1"]

  push_key_version = var.push_key_version
}
