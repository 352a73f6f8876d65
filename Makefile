# The one front door. `make help` lists the targets.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

FUNCTION_PORT ?= 8080
RECORDER_PORT ?= 8000
export FUNCTION_PORT RECORDER_PORT

# make deploy PROJECT=my-project REGION=us-central1 [NAME_PREFIX=callrec] [AUTO_APPROVE=1]
PROJECT     ?=
REGION      ?= us-central1
NAME_PREFIX ?= callrec
TERRAFORM   ?= terraform
GCLOUD      ?= gcloud
TF          := $(TERRAFORM) -chdir=infra
# The recorder image is tagged with the commit it was built from (-dirty when the tree has changes), and deployed
# by the digest the build produced: a rebuilt -dirty tag is then a new image to Terraform too.
GIT_REV     := $(shell git describe --always --dirty --abbrev=12 2>/dev/null || echo unversioned)
IMAGE_REPO  := $(REGION)-docker.pkg.dev/$(PROJECT)/$(NAME_PREFIX)/recorder
IMAGE       := $(IMAGE_REPO):$(GIT_REV)
TF_VARS     := -var project=$(PROJECT) -var region=$(REGION) -var name_prefix=$(NAME_PREFIX)
# As infra/ names them (iam.tf, storage.tf): the build runs as this account, staging into and logging to this bucket.
BUILD_SA    := projects/$(PROJECT)/serviceAccounts/$(NAME_PREFIX)-build@$(PROJECT).iam.gserviceaccount.com
SOURCES     := gs://$(PROJECT)-$(NAME_PREFIX)-sources
# The same list as infra/main.tf's local.apis.
APIS        := artifactregistry.googleapis.com cloudbuild.googleapis.com cloudfunctions.googleapis.com \
               cloudresourcemanager.googleapis.com iam.googleapis.com run.googleapis.com \
               secretmanager.googleapis.com storage.googleapis.com
# What the first, targeted apply creates before the image build: the registry, and the build account with its
# grants, after they have propagated (time_sleep.build_grants depends on all of them).
BOOTSTRAP   := -target=google_artifact_registry_repository.recorder -target=time_sleep.build_grants

CHECKOV_VENV  := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help venv run demo call test lint bench clean deploy destroy urls smoke recordings deploy-prerequisites

help:
	@echo "make demo    start the local stack, place one simulated Vonage call, show the recording"
	@echo "make run     run the answer function (:$(FUNCTION_PORT)) and the recorder (:$(RECORDER_PORT)) until Ctrl-C"
	@echo "make call    place a simulated call against 'make run' (ARGS='--help' for options)"
	@echo "make test    run every test (unit, integration with real processes, infra checks)"
	@echo "make lint    ruff and mypy"
	@echo "make bench   concurrent calls against one recorder worker; prints CPU, lag, memory, store time"
	@echo "make deploy PROJECT=... REGION=...   build and deploy to Google Cloud with Terraform; prints the URLs"
	@echo "make urls    the deployed answer URLs again;  make destroy  removes the deployment (not the recordings)"
	@echo "make smoke   one simulated call per provider against the deployment; shows where each recording landed"
	@echo "make recordings ARGS='--since 2026-11-01 --number +15550100'   list (and --download) deployed recordings"

# A virtualenv from the pinned requirements, rebuilt when they change.
$(STAMP): requirements-dev.txt recorder/requirements.txt functions/requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11 or newer is needed (PYTHON=$(PYTHON) is older)"; exit 1; }
	@echo "Setting up $(VENV) from the pinned requirements (first run, or they changed): a minute or more..."
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@echo "$(VENV) is ready."
	@touch $@

venv: $(STAMP)

run: venv
	@$(BIN)/python -m devstack run

demo: venv
	@$(BIN)/python -m devstack demo

call: venv
	@$(BIN)/python -m callsim $(ARGS)

# checkov gets a virtualenv of its own: it pins packaging<24, which pytest cannot use.
$(CHECKOV_STAMP):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet checkov==3.3.30
	@touch $@

test: venv $(CHECKOV_STAMP)
	CHECKOV=$(CHECKOV_VENV)/bin/checkov $(BIN)/python -m pytest

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: venv
	$(BIN)/python -m bench $(ARGS)

deploy-prerequisites:
	@command -v $(GCLOUD) >/dev/null || { echo "gcloud is not installed: see https://cloud.google.com/sdk/docs/install"; exit 1; }
	@command -v $(TERRAFORM) >/dev/null || { echo "terraform is not installed: see https://developer.hashicorp.com/terraform/install"; exit 1; }
	@test -n "$(PROJECT)" || { echo "PROJECT is not set: make deploy PROJECT=your-project-id REGION=us-central1"; exit 1; }
	@$(GCLOUD) auth print-access-token >/dev/null 2>&1 || { echo "gcloud is not logged in: run 'gcloud auth login'"; exit 1; }
	@$(GCLOUD) auth application-default print-access-token >/dev/null 2>&1 || \
		{ echo "Terraform has no credentials: run 'gcloud auth application-default login'"; exit 1; }
	@$(GCLOUD) projects describe $(PROJECT) --format='value(projectId)' >/dev/null 2>&1 || \
		{ echo "project $(PROJECT) does not exist or your account cannot see it: check 'gcloud projects list'"; exit 1; }
	@billing=$$($(GCLOUD) billing projects describe $(PROJECT) --format='value(billingEnabled)' 2>/dev/null) || \
		billing=unknown; \
	case "$$billing" in \
		True) ;; \
		unknown) echo "warning: could not read the billing status of $(PROJECT); continuing (README, Prerequisites)";; \
		*) echo "billing is not enabled on project $(PROJECT): link a billing account with" \
			"'gcloud billing projects link $(PROJECT) --billing-account=ACCOUNT_ID'"; exit 1;; \
	esac

deploy: deploy-prerequisites
	$(GCLOUD) services enable $(APIS) --project $(PROJECT)
	$(TF) init -input=false
	@# Creates only the build prerequisites, so it does not ask (README, Deploy).
	$(TF) apply -input=false -auto-approve $(TF_VARS) -var image=$(IMAGE) $(BOOTSTRAP)
	@# As the build account (new projects give Cloud Build's default one no roles). A build with its own account
	@# must keep its logs in a bucket of ours or in Cloud Logging: ours, so that gcloud can stream them.
	$(GCLOUD) builds submit recorder --project $(PROJECT) --tag $(IMAGE) --service-account $(BUILD_SA) \
		--gcs-source-staging-dir $(SOURCES)/staging --gcs-log-dir $(SOURCES)/build-logs
	digest=$$($(GCLOUD) artifacts docker images describe $(IMAGE) --project $(PROJECT) \
		--format='value(image_summary.digest)') && test -n "$$digest" && \
	$(TF) apply -input=false $(if $(AUTO_APPROVE),-auto-approve) $(TF_VARS) -var image=$(IMAGE_REPO)@$$digest
	@$(MAKE) --no-print-directory urls
	@echo
	@echo "Next: paste the answer URL for your provider into its console (README.md, Deploy), then call your number;"
	@echo "'make smoke' places one simulated call per provider and shows where each recording landed."

urls:
	@$(TF) output

destroy: deploy-prerequisites
	$(TF) destroy -input=false $(TF_VARS) -var image=$(IMAGE)

# Against what `make deploy` created: the function URL and bucket come from Terraform's outputs, the credentials
# from `gcloud auth application-default login`. PROVIDERS=vonage,twilio limits the calls.
smoke: venv
	@url=$$($(TF) output -raw function_url) && bucket=$$($(TF) output -raw bucket) && \
	verified=$$($(TF) output -json verified_providers) && \
	$(BIN)/python -m ops.smoke --function-url "$$url" --bucket "$$bucket" --verified "$$verified" \
		$(if $(PROVIDERS),--providers $(PROVIDERS)) $(ARGS)

recordings: venv
	@bucket=$$($(TF) output -raw bucket) && $(BIN)/python -m ops.recordings --bucket "$$bucket" $(ARGS)

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) recordings .pytest_cache .mypy_cache .ruff_cache infra/build
