provider "aws" {
  region = "cn-northwest-1"

  default_tags {
    tags = {
      Application = "livestack"
      ManagedBy   = "terraform"
      Root        = "global-cn"
    }
  }
}

module "global" {
  source = "../modules/global"

  region = "cn-northwest-1"

  # aws-cn is its own partition: its table, registry and secrets are separate from the
  # aws partition's. Add cn-north-1 here when a regions/cn-north-1 root is added.
  # Every region root of this partition other than the primary region.
  replica_regions = []

  push_key_version = var.push_key_version
}
