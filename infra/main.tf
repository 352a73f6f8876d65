locals {
  bucket_name = var.bucket_name != "" ? var.bucket_name : "${var.project}-${var.name_prefix}-recordings"

  # Each call's WAV grows in /tmp, which is memory on Cloud Run: 16-bit samples, two channels at 8 kHz (Twilio,
  # Voxology) or one at var.sample_rate (Vonage), for up to max_call_seconds.
  spool_bytes_per_second = max(var.sample_rate, 16000) * 2
  spool_mib_per_call     = ceil(local.spool_bytes_per_second * var.max_call_seconds / 1048576)
  recorder_memory_needed = 512 + var.recorder_concurrency * local.spool_mib_per_call
  recorder_memory_mib    = ceil(local.recorder_memory_needed / 256) * 256
  # The fewest CPUs Cloud Run allows with that much memory; one CPU already carries 500 calls (README, Performance).
  recorder_cpu = (local.recorder_memory_mib > 24576 ? 8 : local.recorder_memory_mib > 16384 ? 6 :
  local.recorder_memory_mib > 8192 ? 4 : local.recorder_memory_mib > 4096 ? 2 : 1)

  recorder_url = replace(google_cloud_run_v2_service.recorder.uri, "https://", "wss://")
  function_url = google_cloudfunctions2_function.webhook.url

  apis = [
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ]
}

resource "google_project_service" "enabled" {
  for_each = toset(local.apis)

  service            = each.value
  disable_on_destroy = false # other things in the project may use them
}
