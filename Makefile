# mvm: the two commands of the README are `make up` and `make test`.
VENV ?= .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: setup up down up-pyinfra down-pyinfra test test-fast sanity lint clean bench mutation record-outputs schema docs changelog molecule

setup:
	bash scripts/setup.sh

## Boot the embedded example microVM with Ansible (set-up included).
## BACKEND=qemu (or firecracker, docker...) overrides the example's backend: auto.
up: setup
	$(BIN)/ansible-playbook playbooks/up.yml $(if $(BACKEND),-e mvm_backend=$(BACKEND))

down: setup
	$(BIN)/ansible-playbook playbooks/down.yml

up-pyinfra: setup
	cd playbooks && $(CURDIR)/$(BIN)/pyinfra ../inventory/inventory.py deploy.py -y $(if $(BACKEND),--data mvm_backend=$(BACKEND))

down-pyinfra: setup
	cd playbooks && $(CURDIR)/$(BIN)/pyinfra ../inventory/inventory.py down.py -y

## The whole test suite (set-up included); CI runs exactly this.
test: setup
	bash scripts/dockerd.sh start
	$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; bash scripts/dockerd.sh stop; exit $$rc

test-fast: setup
	$(BIN)/python -m pytest -m "not real" $(PYTEST_ARGS)

sanity: setup
	$(BIN)/python tests/support/run_ansible_test.py sanity

## The host role's Molecule scenario: a fresh Debian container (built here by mmdebstrap), the role, then
## mvm.microvm.up inside it, idempotence, verify, destroy. The test suite runs the same (tests/real/test_molecule_docker.py).
molecule: setup
	bash scripts/dockerd.sh start
	bash scripts/molecule-image.sh build && molecule test -s docker; rc=$$?; bash scripts/dockerd.sh stop; exit $$rc

## The collection's documentation site (antsibull-docs + Sphinx, offline, warnings are errors): HTML in build/docs/build/html.
docs: setup
	rm -rf build/docs && mkdir -p build && cp -r docs/site build/docs
	cd build/docs && ANSIBLE_COLLECTIONS_PATH=$(CURDIR) ./build.sh
	@echo "docs: build/docs/build/html/index.html"

## The collection's CHANGELOG.md from changelogs/changelog.yaml (fragments go in changelogs/fragments/).
changelog: setup
	cd ansible_collections/mvm/microvm && $(CURDIR)/$(BIN)/antsibull-changelog lint && $(CURDIR)/$(BIN)/antsibull-changelog generate

## The fleet file's JSON Schema, for editors (a test checks that the committed file is current).
schema: setup
	$(BIN)/python -m mvm_pyinfra.fleet schema > schemas/fleet.schema.json

clean:
	rm -rf $(VENV) .pytest_cache

## Benchmarks: writes bench/results/latest.json and latest.md (under 10 minutes here).
bench: setup
	bash scripts/dockerd.sh start
	$(BIN)/python bench/run.py; rc=$$?; bash scripts/dockerd.sh stop; exit $$rc

## Record what the real tools print (iptables, nft, ip, QMP, docker, the probe) as the unit tests' fixtures.
## Root; runs in its own namespaces. Only on purpose: review the diff of tests/fixtures/recorded and tests/golden.
record-outputs: setup
	bash scripts/dockerd.sh start
	$(BIN)/python tests/support/record_outputs.py; rc=$$?; bash scripts/dockerd.sh stop; exit $$rc

## Mutation testing of the engine (setup.cfg [mutmut]); too slow for CI. Writes bench/results/mutation.json.
mutation: setup
	$(BIN)/python bench/mutation.py
