# One least-privilege service account per service.

resource "google_service_account" "recorder" {
  account_id   = "${var.name_prefix}-recorder"
  display_name = "Call recorder (Cloud Run): creates recording objects"
}

resource "google_service_account" "function" {
  account_id   = "${var.name_prefix}-webhook"
  display_name = "Call recorder answer function: signs per-call tokens, no storage access"
}

resource "google_service_account" "build" {
  account_id   = "${var.name_prefix}-build"
  display_name = "Call recorder function builds (Cloud Build)"
}

# The recorder may create objects in the recordings bucket, and nothing else: not read, list, replace or delete.
resource "google_storage_bucket_iam_member" "recorder_creates_recordings" {
  bucket = google_storage_bucket.recordings.name
  role   = "roles/storage.objectCreator"
  member = google_service_account.recorder.member
}

# Only the two services read the signing secret.
resource "google_secret_manager_secret_iam_member" "accessors" {
  for_each = {
    recorder = google_service_account.recorder.member
    function = google_service_account.function.member
  }

  secret_id = google_secret_manager_secret.recorder.id
  role      = "roles/secretmanager.secretAccessor"
  member    = each.value
}

# The provider signing secrets, if any, are the function's alone.
resource "google_secret_manager_secret_iam_member" "function_reads_webhook_secrets" {
  for_each  = local.webhook_secret_names
  secret_id = google_secret_manager_secret.webhook[each.key].id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.function.member
}

# What Cloud Build needs to turn the function's source into its container (new projects grant the default
# build account nothing).
resource "google_project_iam_member" "build" {
  for_each = toset(["roles/logging.logWriter", "roles/artifactregistry.writer"])

  project = var.project
  role    = each.value
  member  = google_service_account.build.member
}

resource "google_storage_bucket_iam_member" "build_reads_sources" {
  bucket = google_storage_bucket.sources.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.build.member
}

# Phone providers call both services from the internet without Google credentials. The function only issues
# tokens for the call it is asked about; the recorder only records a call whose token it can verify.
resource "google_cloud_run_v2_service_iam_member" "recorder_public" {
  location = google_cloud_run_v2_service.recorder.location
  name     = google_cloud_run_v2_service.recorder.name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# A gen2 function runs as a Cloud Run service of the same name; the function IAM resources reject this role.
resource "google_cloud_run_v2_service_iam_member" "function_public" {
  location = google_cloudfunctions2_function.webhook.location
  name     = google_cloudfunctions2_function.webhook.name
  role     = "roles/run.invoker"
  member   = "allUsers"
}
