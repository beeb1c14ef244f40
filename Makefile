# cmsim: the two quick-start commands are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: pkcs11-deps syslog-deps demo test seal bench soak docs fuzz lab typecheck clean mutate

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Seal the module's code (HMAC-SHA-256 over module/*.py), as OpenSSL's fipsinstall does.
seal: $(STAMP)
	$(VENV)/bin/cmsim-seal

demo: seal
	$(VENV)/bin/cmsim-demo

# The Debian packages the PKCS#11 tests drive (p11-kit's client module, pkcs11-tool, the OpenSSL engine,
# SoftHSM2 for the benchmark): installed only when one is missing, so a second run costs a dpkg query.
PKCS11_DEBS := p11-kit-modules opensc libengine-pkcs11-openssl softhsm2
pkcs11-deps:
	@missing=$$(for p in $(PKCS11_DEBS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing $$missing"; \
		apt-get install -y --no-install-recommends $$missing || { apt-get update && apt-get install -y --no-install-recommends $$missing; }; \
	fi

# The syslog server the `cmsim audit forward --syslog` tests start on loopback (rsyslogd), likewise.
SYSLOG_DEBS := rsyslog
syslog-deps:
	@missing=$$(for p in $(SYSLOG_DEBS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing $$missing"; \
		apt-get install -y --no-install-recommends $$missing || { apt-get update && apt-get install -y --no-install-recommends $$missing; }; \
	fi

test: $(STAMP) pkcs11-deps syslog-deps
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest -q -m "not soak"

soak: $(STAMP)
	$(PY) -m pytest -q -m soak

# Regenerate docs/protocol.md's tables and examples and the security policy's tables, diagram and
# JSON from the code (tests check them).
docs: $(STAMP)
	$(PY) docs/generate.py
	$(PY) docs/security_policy/generate.py

SECONDS ?= 60

# Coverage-guided fuzzing (atheris): both targets in fuzz/ for SECONDS each; prints executions and findings.
fuzz: $(STAMP)
	$(PY) -c "import atheris" 2>/dev/null || $(PY) -m pip install --quiet -e '.[fuzz]'
	$(PY) fuzz/run.py $(SECONDS)

# The validation-lab battery against a fresh lab-mode device; the report goes to lab-report/.
lab: seal
	$(VENV)/bin/cmsim lab run --plan full --report lab-report

bench: seal
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) module/integrity.seal lab-report

# Mutation testing over the hand-written list in mutate/mutations.toml (not part of `make test`: it
# runs the suite once per surviving mutant). Prints the score, the survivors and any stale entry.
mutate: $(STAMP)
	$(PY) mutate/run.py

# docs/cmsim.1, the man page, from the click commands themselves (tests/test_cli_man.py checks it is current).
.PHONY: man
man: $(STAMP)
	$(PY) docs/man.py
