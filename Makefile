# HuleEdu Mesh — every target that needs the virtualenv depends on `install`.
VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
PROTOS  := $(shell find proto -name '*.proto' | sort)
PYTEST_ARGS ?=

.PHONY: install proto check-proto lint format test certs

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

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
	$(VENV)/bin/mypy services
	$(VENV)/bin/buf lint

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: install
	$(VENV)/bin/pytest $(PYTEST_ARGS)

certs: install
	$(PY) -m services.devstack.certs .certs
