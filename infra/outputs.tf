output "vonage_answer_url" {
  description = "Vonage application > Voice > Answer URL (HTTP GET or POST)."
  value       = "${local.function_url}/vonage/answer"
}

output "vonage_event_url" {
  description = "Vonage application > Voice > Event URL (HTTP POST)."
  value       = "${local.function_url}/vonage/event"
}

output "twilio_answer_url" {
  description = "Twilio or SignalWire phone number > A call comes in > Webhook (HTTP POST)."
  value       = "${local.function_url}/twilio/answer"
}

output "voxology_answer_url" {
  description = "Voxology: the URL your call flow is fetched from (HTTP POST, JSON)."
  value       = "${local.function_url}/voxology/answer"
}

output "recorder_url" {
  description = "The recorder's WebSocket base URL (the answer documents point providers at it)."
  value       = local.recorder_url
}

output "bucket" {
  description = "The recordings bucket."
  value       = google_storage_bucket.recordings.name
}

output "bucket_console_url" {
  description = "Browse recordings in the Cloud console."
  value       = "https://console.cloud.google.com/storage/browser/${google_storage_bucket.recordings.name}?project=${var.project}"
}

output "image_repository" {
  description = "Artifact Registry path that make deploy pushes the recorder image to."
  value       = "${var.region}-docker.pkg.dev/${var.project}/${google_artifact_registry_repository.recorder.repository_id}"
}
