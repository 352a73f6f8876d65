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
# The recorder image is tagged with the commit it was built from (-dirty when the tree has changes).
GIT_REV     := $(shell git describe --always --dirty --abbrev=12 2>/dev/null || echo unversioned)
IMAGE       := $(REGION)-docker.pkg.dev/$(PROJECT)/$(NAME_PREFIX)/recorder:$(GIT_REV)
TF_VARS     := -var project=$(PROJECT) -var region=$(REGION) -var name_prefix=$(NAME_PREFIX) -var image=$(IMAGE)
APIS        := artifactregistry.googleapis.com cloudbuild.googleapis.com cloudfunctions.googleapis.com \
               run.googleapis.com secretmanager.googleapis.com storage.googleapis.com

CHECKOV_VENV  := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help venv run demo call test lint bench clean deploy destroy urls deploy-prerequisites

help:
	@echo "make demo    start the local stack, place one simulated Vonage call, show the recording"
	@echo "make run     run the answer function (:$(FUNCTION_PORT)) and the recorder (:$(RECORDER_PORT)) until Ctrl-C"
	@echo "make call    place a simulated call against 'make run' (ARGS='--help' for options)"
	@echo "make test    run every test (unit, integration with real processes, infra checks)"
	@echo "make lint    ruff and mypy"
	@echo "make bench   concurrent calls against one recorder worker; prints CPU, lag, memory, store time"
	@echo "make deploy PROJECT=... REGION=...   build and deploy to Google Cloud with Terraform; prints the URLs"
	@echo "make urls    the deployed answer URLs again;  make destroy  removes the deployment (not the recordings)"

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

deploy: deploy-prerequisites
	$(GCLOUD) services enable $(APIS) --project $(PROJECT)
	$(TF) init -input=false
	@# The image needs its registry before the rest can be planned.
	$(TF) apply -input=false -auto-approve $(TF_VARS) -target=google_artifact_registry_repository.recorder
	$(GCLOUD) builds submit recorder --project $(PROJECT) --tag $(IMAGE)
	$(TF) apply -input=false $(if $(AUTO_APPROVE),-auto-approve) $(TF_VARS)
	@$(MAKE) --no-print-directory urls
	@echo
	@echo "Next: paste the answer URL for your provider into its console (README.md, Deploy), then call your number."

urls:
	@$(TF) output

destroy: deploy-prerequisites
	$(TF) destroy -input=false $(TF_VARS)

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) recordings .pytest_cache .mypy_cache .ruff_cache infra/build
