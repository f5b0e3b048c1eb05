# netpol-lab: `make lab-up` builds the lab, `make test` runs the offline suite.
# The first target that needs Python creates .venv/ and installs the project into it.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
LAB    := PATH="$(CURDIR)/bin:$$PATH" $(BIN)/netpol-lab
CNI    ?= calico
IPFAMILY ?= ipv4
STAGE  ?= seed
IMAGES ?= lab-images.tar
BUNDLE ?=
PLATFORMS ?=
KUBECTL := PATH="$(CURDIR)/bin:$$PATH" kubectl --context kind-netpol-lab
STAMP  := $(VENV)/.installed
BUNDLE_STAMP := $(VENV)/.installed-from-bundle

.DEFAULT_GOAL := help
.PHONY: help lab-up lab-down lab-status test e2e lint doctor probe stage-list stage-apply stage-next stage-reset lab-report lab-ui images-save images-load tools offline-bundle

help: ## show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-z0-9-]+:.*## / {printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "netpol-lab needs Python 3.10 or newer: install it and rerun make")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { echo "error: could not create $(VENV): install python3-venv (Debian/Ubuntu: sudo apt install python3-venv) and rerun make"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,lint]'
	@touch $@

# BUNDLE=DIR (from `make offline-bundle`): no network; the wheels, kind, kubectl, images and Calico
# come from DIR, each checked again against the checkout's pins. It marks $(STAMP) done too, so the
# other lab targets run offline (without the test and lint tools: `rm $(STAMP)` online to add them).
$(BUNDLE_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { echo "error: could not create $(VENV): install python3-venv and rerun make"; exit 1; }
	$(BIN)/python -m pip install --quiet --no-index --find-links $(BUNDLE)/wheels -e .
	@touch $@ $(STAMP)

lab-up: $(if $(BUNDLE),$(BUNDLE_STAMP),$(STAMP)) ## build the lab (CNI=calico, kindnet or plain; IPFAMILY=dual; BUNDLE=DIR offline); safe to rerun
ifdef BUNDLE
	scripts/install-tools.sh --from $(BUNDLE)/tools
	$(LAB) bundle load $(BUNDLE)
	$(LAB) up --cni $(CNI) --ip-family $(IPFAMILY) --calico-dir $(BUNDLE)/calico
else
	$(LAB) up --cni $(CNI) --ip-family $(IPFAMILY)
endif

lab-down: $(STAMP) ## delete the lab's kind cluster
	$(LAB) down

lab-status: $(STAMP) ## show nodes, Calico and where each pod runs
	$(LAB) status

doctor: $(STAMP) ## check Docker, kind, kubectl and host limits
	$(LAB) doctor

probe: $(STAMP) ## probe every flow, compare with STAGE=N (default seed), save under reports/
	$(LAB) probe --stage $(STAGE) --save

lab-report: $(STAMP) ## write reports/report.html from the saved probe results
	$(LAB) report --html reports/report.html

stage-list: $(STAMP) ## list the workshop stages
	$(LAB) stage list

stage-apply: $(STAMP) ## apply stage STAGE=N (0-7 or seed) declaratively, then probe
	$(LAB) stage apply $(STAGE)

stage-next: $(STAMP) ## apply the next stage, then probe
	$(LAB) stage next

stage-reset: $(STAMP) ## back to stage 0 (no lab policy)
	$(LAB) stage reset

images-save: $(STAMP) ## pull every lab image and save them to IMAGES=FILE (default lab-images.tar)
	$(LAB) images pull
	$(LAB) images save $(IMAGES)

images-load: $(STAMP) ## load IMAGES=FILE into Docker and the lab's nodes
	$(LAB) images load $(IMAGES)

lab-ui: ## Calico's Whisker flow UI on http://localhost:8081 (Ctrl-C stops it)
	@$(KUBECTL) get service whisker -n calico-system >/dev/null 2>&1 || { echo "error: no Whisker service in the lab: build it with Calico and its flow UI (make lab-up CNI=calico), then retry"; exit 1; }
	@echo "Whisker: open http://localhost:8081 (Ctrl-C to stop)"
	$(KUBECTL) port-forward -n calico-system service/whisker 8081:8081

test: $(STAMP) ## run the offline test suite (no cluster needed)
	$(BIN)/python -m pytest tests/unit -q

e2e: $(STAMP) ## run the live tests against the lab (skips without one)
	PATH="$(CURDIR)/bin:$$PATH" $(BIN)/python -m pytest tests/e2e -v

lint: $(STAMP) ## ruff, mypy and the import layers
	$(BIN)/ruff check lab tests scripts
	$(BIN)/ruff format --check lab tests scripts
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

tools: ## install pinned kind and kubectl into ./bin (checked against the sha256 in lab/pins.py)
	scripts/install-tools.sh

offline-bundle: $(STAMP) ## gather an offline lab into BUNDLE=DIR (default dist/offline-bundle); PLATFORMS="linux/amd64 darwin/arm64"
	$(LAB) bundle save $(or $(BUNDLE),dist/offline-bundle) $(foreach p,$(PLATFORMS),--platform $(p))
