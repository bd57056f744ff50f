# smack-operators. `make demo` runs the main job, `make test` runs the tests.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
KUBE_BIN := $(shell bash -c '. hack/lib.sh && echo $$KUBE_BIN')
KUBECTL := $(KUBE_BIN)/kubectl
HELM := $(shell bash -c '. hack/lib.sh && echo $$HELM_BIN')/helm
IMAGE ?= smack-operators:dev
BASE_IMAGE ?= python:3.11.14-slim-bookworm
# The caller's KUBECONFIG, else the local control plane's.
KUBECONFIG_OR_LOCAL = $${KUBECONFIG:-$(CURDIR)/.cluster/kubeconfig}

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

.PHONY: venv
venv: $(VENV)/.installed ## Python environment with the operators and dev tools

.PHONY: binaries
binaries: ## build and cache kube-apiserver, controller-manager, scheduler, kubectl, etcd, kwok; kubelet, kube-proxy, CoreDNS
	hack/build-binaries.sh
	[ "$${SMACK_REAL_NODES:-auto}" = 0 ] || hack/build-node-binaries.sh

.PHONY: cluster-up
cluster-up: ## start the local control plane with kwok and real nodes (SMACK_REAL_NODES=0: kwok only); prints export KUBECONFIG=...
	hack/cluster-up.sh

.PHONY: cluster-down
cluster-down: ## stop the demo operator, the real nodes and the local control plane, delete .cluster/; the host as it was
	hack/demo.sh stop || true
	hack/cluster-down.sh

.PHONY: crds
crds: venv ## regenerate crds/ from the pydantic models
	$(PY) -m operators.crds

.PHONY: install-crds
install-crds: ## apply crds/ to the cluster in KUBECONFIG
	KUBECONFIG=$(KUBECONFIG_OR_LOCAL) $(KUBECTL) apply --server-side -f crds/
	KUBECONFIG=$(KUBECONFIG_OR_LOCAL) $(KUBECTL) wait --for=condition=Established crd --all --timeout=60s

.PHONY: run
run: venv ## run every operator in the foreground against KUBECONFIG
	KUBECONFIG=$(KUBECONFIG_OR_LOCAL) $(PY) -m operators run $(ARGS)

.PHONY: demo
demo: venv binaries ## local cluster, CRDs, operators, examples/kafka.yaml, and a Ready KafkaCluster
	hack/demo.sh start

.PHONY: helm
helm: ## build and cache helm (HELM_VERSION) through the Go module proxy
	hack/build-helm.sh

.PHONY: chart
chart: venv ## regenerate the chart's RBAC rules (operators/rbac.py) and CRDs (crds/)
	$(PY) -m operators.rbac

.PHONY: docs
docs: venv ## regenerate docs/reference/ from the pydantic models
	$(PY) -m operators.docs

.PHONY: generate
generate: crds chart docs ## every generated file: crds/, the chart's rules and CRDs, docs/reference/

.PHONY: helm-lint
helm-lint: helm ## helm lint and helm template of charts/smack-operators
	$(HELM) lint charts/smack-operators
	$(HELM) template smack charts/smack-operators --namespace smack-system >/dev/null

.PHONY: image-lock
image-lock: venv ## pin the image's Python dependencies (requirements-image.txt) to those of .venv
	$(PY) hack/image-lock.py requirements-image.txt

.PHONY: base-image
base-image: ## build the base smack-operators/python:3.11-bookworm from Debian's archive (no registry needed; root, debootstrap, docker)
	hack/base-image.sh

.PHONY: image
image: ## build the operator image $(IMAGE) (docker; BASE_IMAGE overrides the base)
	docker build --build-arg BASE_IMAGE=$(BASE_IMAGE) -t $(IMAGE) .

.PHONY: images
images: ## build the services' images here (no registry, no docker): hack/images.sh build; IMAGES=names for some
	hack/images.sh build $(IMAGES)

.PHONY: images-load
images-load: ## import the built images into every real node's containerd (/run/smack/real-*/containerd.sock)
	hack/images.sh load $(IMAGES)

.PHONY: images-check
images-check: ## run each built image once on a private containerd (Kafka produce/consume, Cassandra CQL, SparkPi)
	hack/images-check.sh $(IMAGES)

.PHONY: kind-load
kind-load: image ## load $(IMAGE) into the kind cluster KIND_CLUSTER (default kind)
	kind load docker-image $(IMAGE) --name $${KIND_CLUSTER:-kind}

.PHONY: test
test: venv binaries helm ## unit tests, then e2e: the simulated suite, then the real-pod suite in its own session (hack/e2e.sh)
	$(PY) -m pytest tests/unit -q
	hack/e2e.sh

.PHONY: test-full
test-full: venv binaries helm ## make test, plus the tests marked `full` (further proofs of claims make test proves once)
	$(PY) -m pytest tests/unit -q
	SMACK_TEST_FULL=1 hack/e2e.sh

# The spec fuzzer (tests/fuzz_specs.py) with more cases than make test gives it; kwok nodes only.
FUZZ_EXAMPLES ?= 1000
FUZZ_CASES ?= 200
.PHONY: fuzz
fuzz: venv binaries ## fuzz every kind: FUZZ_EXAMPLES specs per kind built (unit), FUZZ_CASES applied and reconciled (e2e)
	SMACK_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest tests/unit/test_fuzz.py -q -s
	SMACK_REAL_NODES=0 SMACK_FUZZ_CASES=$(FUZZ_CASES) $(PY) -m pytest tests/e2e/test_fuzz.py -q -s -m "not real" \
		-k fuzzed_specs

.PHONY: chaos
chaos: venv binaries ## chaos suite on the simulated cluster: operator SIGKILLs during upgrades (CHAOS_RUNS, default 20), API server and etcd restarts, a claim burst
	SMACK_REAL_NODES=0 SMACK_CHAOS_RUNS=$${CHAOS_RUNS:-20} $(PY) -m pytest tests/e2e/chaos -q -m "not real" $(ARGS)

.PHONY: unit
unit: venv helm ## unit tests only (no cluster; helm lint/template included)
	$(PY) -m pytest tests/unit -q

.PHONY: lint
lint: venv ## ruff
	$(VENV)/bin/ruff check operators tests bench

.PHONY: bench
bench: venv ## benchmarks of the pure code; they print figures
	$(PY) bench/reconcile_bench.py
	$(PY) bench/allocator_bench.py

.PHONY: bench-e2e
bench-e2e: venv binaries ## admission throughput on the local control plane (or KUBECONFIG)
	$(PY) bench/admission_e2e_bench.py

.PHONY: bench-kafka
bench-kafka: venv binaries ## Kafka upgrades of 3/9/27 brokers, writes at rest, memory of 50 clusters (local control plane or KUBECONFIG)
	$(PY) bench/kafka_rollout_bench.py $(ARGS)

.PHONY: bench-cassandra
bench-cassandra: venv binaries ## Cassandra bring-up and upgrade times on the local control plane (or KUBECONFIG)
	$(PY) bench/cassandra_e2e_bench.py

.PHONY: bench-spark
bench-spark: venv binaries ## Spark submissions per minute on the local control plane (or KUBECONFIG)
	$(PY) bench/spark_submit_bench.py
