resource "google_artifact_registry_repository" "recorder" {
  # checkov:skip=CKV_GCP_84: the image holds only this project's public code and pinned packages, no data
  location      = var.region
  repository_id = var.name_prefix
  description   = "Call recorder images, tagged with the git commit they were built from"
  format        = "DOCKER"

  depends_on = [google_project_service.enabled]
}

resource "google_cloud_run_v2_service" "recorder" {
  # Providers connect from the internet and cannot present Google credentials: the per-call token is the gate.
  name                = "${var.name_prefix}-recorder"
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_ALL"
  deletion_protection = false

  template {
    service_account                  = google_service_account.recorder.email
    timeout                          = "3600s" # a WebSocket is one request: the call lives as long as Cloud Run allows
    max_instance_request_concurrency = var.recorder_concurrency
    execution_environment            = "EXECUTION_ENVIRONMENT_GEN2"

    scaling {
      min_instance_count = var.recorder_min_instances
      max_instance_count = var.recorder_max_instances
    }

    containers {
      image = var.image

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = tostring(local.recorder_cpu)
          memory = "${local.recorder_memory_mib}Mi"
        }
        cpu_idle          = true # billed per request; the recorder uploads before the request ends
        startup_cpu_boost = true
      }

      dynamic "env" {
        for_each = local.recorder_env
        content {
          name  = env.key
          value = env.value
        }
      }
      env {
        name = "RECORDER_SECRET"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.recorder.secret_id
            version = "latest"
          }
        }
      }

      startup_probe {
        http_get {
          path = "/healthz"
        }
        period_seconds    = 2
        timeout_seconds   = 2
        failure_threshold = 30
      }

      liveness_probe {
        http_get {
          path = "/healthz"
        }
        # Generous: a restart would cut every call in flight.
        period_seconds    = 30
        timeout_seconds   = 10
        failure_threshold = 6
      }
    }
  }

  lifecycle {
    precondition {
      condition     = local.recorder_memory_needed <= 32768
      error_message = "recorder_concurrency x max_call_seconds needs ${local.recorder_memory_needed} MiB of /tmp, above Cloud Run's 32 GiB: lower one of them."
    }
  }

  depends_on = [google_project_service.enabled, google_secret_manager_secret_iam_member.accessors]
}
