# HuleEdu Mesh — every target that needs the virtualenv depends on `install`.
VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
PROTOS  := $(shell find proto -name '*.proto' | sort)
PYTEST_ARGS ?=

.PHONY: install lock check-lock proto check-proto lint docs format test test-unit test-integration test-e2e certs

install: $(STAMP)

# Everything comes from the lock files (exact versions and their hashes); the project itself is
# then installed without resolving anything.
$(STAMP): pyproject.toml requirements-dev.lock
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r requirements-dev.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# The lock files from pyproject.toml: requirements.lock (what the services need: the Docker image)
# and requirements-dev.lock (that plus tests, lint, benchmarks). Versions already locked are kept;
# `make lock LOCK_ARGS=--upgrade` moves everything to the newest allowed.
LOCK_ARGS ?=
LOCK := $(VENV)/bin/uv pip compile pyproject.toml --quiet --universal --python-version 3.11 \
	--generate-hashes --custom-compile-command "make lock"
lock: install
	$(LOCK) $(LOCK_ARGS) -o requirements.lock
	$(LOCK) $(LOCK_ARGS) --extra dev -o requirements-dev.lock

# The lock files still satisfy pyproject.toml: locking again from them changes nothing.
check-lock: install
	@tmp=$$(mktemp -d) && cp requirements.lock requirements-dev.lock $$tmp/ \
	&& $(LOCK) -o $$tmp/requirements.lock && $(LOCK) --extra dev -o $$tmp/requirements-dev.lock \
	&& diff -u requirements.lock $$tmp/requirements.lock && diff -u requirements-dev.lock $$tmp/requirements-dev.lock \
	|| (echo "the lock files do not match pyproject.toml: run 'make lock' and commit them"; exit 1)

proto: install
	rm -rf gen
	mkdir -p gen
	$(PY) -m grpc_tools.protoc -Iproto \
		--plugin=protoc-gen-mypy=$(VENV)/bin/protoc-gen-mypy \
		--plugin=protoc-gen-mypy_grpc=$(VENV)/bin/protoc-gen-mypy_grpc \
		--python_out=gen --grpc_python_out=gen \
		--mypy_out=gen --mypy_grpc_out=gen \
		$(PROTOS)

check-proto: proto
	@git diff --exit-code --stat -- gen/ && test -z "$$(git ls-files --others --exclude-standard gen/)" \
		|| (echo "gen/ does not match proto/: run 'make proto' and commit gen/"; exit 1)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy services devstack
	$(VENV)/bin/lint-imports
	$(VENV)/bin/buf lint
	$(VENV)/bin/buf breaking --against '.git#branch=main'
	$(VENV)/bin/mkdocs build --strict --quiet --site-dir $$(mktemp -d)

# The documentation site (docs/, mkdocs.yml) into site/, its settings tables written first from
# the settings modules.
docs: install
	$(PY) -m devstack.settings_docs
	$(VENV)/bin/mkdocs build --strict

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# `make test` is every tier in one run; each tier also runs alone. Per-test timeouts by tier are
# set in tests/conftest.py.
TIERED = $(VENV)/bin/pytest -m "not slow and not compose"
test: install
	$(TIERED) $(PYTEST_ARGS)

# Pure logic: no processes, no network, seconds.
test-unit: install
	$(TIERED) tests/unit $(PYTEST_ARGS)

# Real nats-server, real gRPC servers on port 0, service processes, the corpus.
test-integration: install
	$(TIERED) tests/integration $(PYTEST_ARGS)

# Whole stacks of processes: the local stack, the local cluster.
test-e2e: install
	$(TIERED) tests/e2e tests/cluster $(PYTEST_ARGS)

certs: install
	$(PY) -m devstack.certs .certs

# ------------------------------------------------------------------------------------------------
# The product end to end: the local stack, the sample class, docker compose (issue 6).
# ------------------------------------------------------------------------------------------------
RUN_DIR ?= .run
COMPOSE ?= docker compose
DEVSTACK = $(PY) -m devstack --run-dir $(RUN_DIR)

.PHONY: run up down status logs e2e sample-class compose-up compose-down compose-logs compose-e2e
.PHONY: compose-cluster-up compose-cluster-down compose-cluster-e2e test-compose

# Start nats-server and the five services, submit examples/essays, print the results, stop.
run: install
	@$(DEVSTACK) --auth run

# The same stack in the background (pids, logs and stack.env under $(RUN_DIR)/).
up: install
	@$(DEVSTACK) --auth up

down:
	@if [ -x $(PY) ]; then $(DEVSTACK) down; fi

status:
	@$(DEVSTACK) status

logs:
	tail -n 20 -F $(RUN_DIR)/logs/*.log

e2e: install
	$(VENV)/bin/pytest tests/e2e $(PYTEST_ARGS)

# Rewrite examples/essays/ from examples/sample_class.py.
sample-class: install
	$(PY) -m examples.make_sample_class

compose-up:
	$(COMPOSE) up --build --detach --wait

compose-down:
	$(COMPOSE) down

compose-logs:
	$(COMPOSE) logs --follow

# A development token for a teacher of the tenant demo, signed with the compose stack's issuer key
# (the `auth-keys` volume), on stdout: what the E2E suite against compose sends.
COMPOSE_TOKEN = $(COMPOSE) run --rm -T cli huleedu login --tenant demo --print

# The E2E suite against the compose stack (published on the default ports) instead of its own.
compose-e2e: install compose-up
	token=$$($(COMPOSE_TOKEN)) && HULEEDU_TOKEN=$$token HULEEDU_E2E_STACK=external \
		NATS_URL=nats://huleedu:$${NATS_PASSWORD:-huleedu-local-dev}@127.0.0.1:4222 \
		$(VENV)/bin/pytest tests/e2e $(PYTEST_ARGS)

# The compose `cluster` profile alone: three NATS nodes and instances a and b of every service
# (NATS on host ports 14222-14224, instance a on 51051-51055, b on 51061-51065).
COMPOSE_CLUSTER = nats-1 nats-2 nats-3 $(foreach service,content-service file-service \
	batch-orchestrator essay-lifecycle spell-checker,$(service)-a $(service)-b)
COMPOSE_NATS_LOGIN = huleedu:$${NATS_PASSWORD:-huleedu-local-dev}
COMPOSE_CLUSTER_NATS = nats://$(COMPOSE_NATS_LOGIN)@127.0.0.1:14222,nats://$(COMPOSE_NATS_LOGIN)@127.0.0.1:14223,nats://$(COMPOSE_NATS_LOGIN)@127.0.0.1:14224

compose-cluster-up:
	$(COMPOSE) --profile cluster up --build --detach --wait $(COMPOSE_CLUSTER)

compose-cluster-down:
	$(COMPOSE) --profile cluster rm --stop --force $(COMPOSE_CLUSTER)

# The E2E suite against the compose cluster, through instance a of each service.
compose-cluster-e2e: install compose-cluster-up
	token=$$($(COMPOSE_TOKEN)) && HULEEDU_TOKEN=$$token \
		HULEEDU_E2E_STACK=external NATS_URL=$(COMPOSE_CLUSTER_NATS) NATS_MAX_DELIVER=30 \
		CONTENT_SERVICE_ADDR=127.0.0.1:51051 FILE_SERVICE_ADDR=127.0.0.1:51052 \
		BATCH_ORCHESTRATOR_ADDR=127.0.0.1:51053 ESSAY_LIFECYCLE_ADDR=127.0.0.1:51054 \
		SPELL_CHECKER_ADDR=127.0.0.1:51055 $(VENV)/bin/pytest tests/e2e -m "not compose" $(PYTEST_ARGS)

# Build the image, bring the single-node stack up, run the E2E suite (and the `compose` tests of
# the containers themselves) against it with a token of the stack's issuer, and take it down again,
# volumes (and keys) too, pass or fail.
test-compose: install
	$(COMPOSE) up --build --detach --wait; up=$$?; \
	if [ $$up -eq 0 ]; then token=$$($(COMPOSE_TOKEN)); up=$$?; fi; \
	if [ $$up -eq 0 ]; then \
		HULEEDU_TOKEN=$$token HULEEDU_E2E_STACK=external \
			NATS_URL=nats://huleedu:$${NATS_PASSWORD:-huleedu-local-dev}@127.0.0.1:4222 \
			$(VENV)/bin/pytest tests/e2e -m "not slow" $(PYTEST_ARGS); up=$$?; \
	fi; \
	$(COMPOSE) down --volumes; exit $$up

# ------------------------------------------------------------------------------------------------
# Benchmarks (issue 8): the whole stack on corpus essays → bench/results/latest.{json,md,png};
# then ours and the Celery + Redis peer, alternating (issue 15) → bench/results/peer.{json,md,png};
# then the per-essay budget → bench/results/budget.{json,md}.
# ------------------------------------------------------------------------------------------------
.PHONY: bench bench-budget
bench: install
	$(PY) -m bench.e2e $(BENCH_ARGS)

# The per-essay budget alone (issue 15) → bench/results/budget.{json,md}, beside the before figures.
bench-budget: install
	$(PY) -m bench.e2e_budget $(if $(wildcard bench/results/budget_before.json),--before \
		bench/results/budget_before.json) $(BENCH_ARGS)

# Spelling quality (issue 19). The whole report, through the running service: fix precision and
# recall on ../shared/corpus/spelling_gold per English tag, Swedish on SweLL, the old engine on a
# sample, the misspelling lists, speed per word, CPU per essay, memory per worker, each target met
# or not → bench/results/spellcheck_quality.{json,md} (about 20 minutes).
.PHONY: bench-spelling-quality bench-spelling-gold bench-spelling-swedish
bench-spelling-quality: install
	$(PY) -m bench.spellcheck_quality $(BENCH_ARGS)

# The engine alone, in this process, on the same annotated essays (quick, for tuning).
bench-spelling-gold: install
	$(PY) -m bench.spellcheck_gold

# Swedish (`sv`) on SweLL learner text in ../shared/corpus/swedish, in this process: changes to
# tokens annotated correct, flags on those annotated wrong, the index and a worker's memory.
bench-spelling-swedish: install
	$(PY) -m bench.spellcheck_swedish

# What the `huleedu` CLI itself costs (issue 15): `huleedu --help` start-up, and CPU per essay and
# time to the first RPC of 8 parallel `huleedu submit` of 25 essays → bench/results/cli_submit.json.
.PHONY: bench-cli
bench-cli: install
	$(PY) -m bench.cli_submit

# ELS's cost per essay against the batch size: its real handlers on a fresh nats-server, batches
# of 25, 100 and 500 essays; CPU and tracker bytes written per essay → bench/results/els_batch_size.json.
.PHONY: bench-els-batch-size
bench-els-batch-size: install
	$(PY) -m bench.els_batch_size $(BENCH_ARGS)

# ------------------------------------------------------------------------------------------------
# Faults and load (issue 7): the whole chaos suite (CHAOS_SEED=<seed> replays a run's schedule)
# and 200 batches × 25 essays through a local stack, then 200 more for the check that the services'
# RSS does not grow with the batches served → bench/results/load.json.
# ------------------------------------------------------------------------------------------------
.PHONY: test-chaos bench-load

test-chaos: install
	$(VENV)/bin/pytest -s tests/e2e/test_chaos.py tests/e2e/test_sigterm.py \
		tests/e2e/test_instances.py $(PYTEST_ARGS)

bench-load: install
	$(PY) -m bench.load

# Hostile input in full: 10,000 uploads to a batch of five (make test runs 500).
.PHONY: test-hostile
test-hostile: install
	$(VENV)/bin/pytest -m slow tests/integration/test_hostile_grpc_abuse.py $(PYTEST_ARGS)

# ------------------------------------------------------------------------------------------------
# Scale out (issue 9): three nats-server nodes with routes (R3 streams, KV, Object Store) and two
# instances of every service under .run/cluster/; the node-loss suite; the scaling benchmark.
# ------------------------------------------------------------------------------------------------
.PHONY: cluster-up cluster-down cluster-status cluster-e2e test-cluster bench-scaling

cluster-up: install
	$(PY) -m devstack.cluster --auth up

cluster-down:
	@if [ -x $(PY) ]; then $(PY) -m devstack.cluster down; fi

cluster-status: install
	$(PY) -m devstack.cluster status

# The E2E suite against the running local cluster (make cluster-up), through instance 1 of each
# service; its services run with NATS_MAX_DELIVER=30.
cluster-e2e: install
	set -a; . .run/cluster/stack.env; set +a; HULEEDU_E2E_STACK=external NATS_MAX_DELIVER=30 \
		$(VENV)/bin/pytest -m "not slow" tests/e2e $(PYTEST_ARGS)

test-cluster: install
	$(VENV)/bin/pytest -m cluster tests/cluster $(PYTEST_ARGS)

bench-scaling: install
	$(PY) -m bench.scaling
