provider "aws" {
  region = "eu-west-1"

  default_tags {
    tags = {
      Application = "livestack"
      ManagedBy   = "terraform"
      Root        = "regions/eu-west-1"
    }
  }
}

module "region" {
  source = "../../modules/region"

  region    = "eu-west-1"
  image_tag = var.image_tag
}
