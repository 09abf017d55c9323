provider "aws" {
  region = "us-east-1"

  default_tags {
    tags = {
      Application = "livestack"
      ManagedBy   = "terraform"
      Root        = "regions/us-east-1"
    }
  }
}

module "region" {
  source = "../../modules/region"

  region    = "us-east-1"
  image_tag = var.image_tag
}
