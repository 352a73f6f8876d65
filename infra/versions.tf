terraform {
  required_version = ">= 1.5"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.7"
    }
    time = {
      source  = "hashicorp/time"
      version = "~> 0.12"
    }
  }

  # State stays local (infra/terraform.tfstate) unless you copy backend.tf.example to backend.tf:
  # see README.md, "Terraform state".
}

provider "google" {
  project = var.project
  region  = var.region
}
