output "vonage_answer_url" {
  description = "Vonage application > Voice > Answer URL (HTTP POST; GET only while no vonage_signature_secret is set)."
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

output "telnyx_answer_url" {
  description = "Telnyx TeXML application > Voice URL (HTTP POST)."
  value       = "${local.function_url}/telnyx/answer"
}

output "plivo_answer_url" {
  description = "Plivo application > Answer URL (HTTP POST)."
  value       = "${local.function_url}/plivo/answer"
}

output "jambonz_answer_url" {
  description = "jambonz application > Calling webhook (HTTP POST)."
  value       = "${local.function_url}/jambonz/answer"
}

output "audiohook_url" {
  description = "Genesys AudioHook Monitor integration > Connection URI."
  value       = "${local.recorder_url}/ws/audiohook"
}

output "asterisk_url" {
  description = "Asterisk websocket_client.conf > uri."
  value       = "${local.recorder_url}/ws/asterisk"
}

output "function_url" {
  description = "The answer function's base URL (make smoke places its calls against it)."
  value       = local.function_url
}

output "verified_providers" {
  description = "Providers whose webhooks the function verifies (their signing secret is set)."
  value       = local.verified_providers
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
