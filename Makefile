# The two commands of the README: `make demo` and `make test`. Each does all the set-up a
# fresh machine needs: Debian packages (as root; otherwise it says what to install), the
# virtualenv and the Python packages. Nothing downloads at run time.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Debian packages: a command or data file to look for, and the package that brings it.
APT_NEEDS := tesseract:tesseract-ocr \
             /usr/share/tesseract-ocr/5/tessdata/eng.traineddata:tesseract-ocr-eng \
             /usr/share/tesseract-ocr/5/tessdata/osd.traineddata:tesseract-ocr-osd \
             npm:npm \
             chromium:chromium \
             mdb-json:mdbtools \
             mysql:mariadb-client \
             psql:postgresql-client \
             nginx:nginx \
             /usr/include/mariadb/mysql.h:libmariadb-dev \
             pkg-config:pkg-config \
             wrk:wrk \
             /usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf:fonts-dejavu-core \
             /usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf:fonts-liberation \
             /usr/share/fonts/truetype/fifthhorseman/dkg.ttf:fonts-dkg-handwriting \
             /usr/share/fonts/truetype/breip/Breip.ttf:fonts-breip \
             /usr/share/fonts/truetype/rufscript/Rufscript010.ttf:fonts-rufscript \
             /usr/share/fonts/truetype/humor-sans/Humor-Sans.ttf:fonts-humor-sans \
             /usr/share/fonts/truetype/klee/KleeOne-Regular.ttf:fonts-klee \
             /usr/share/fonts/opentype/bwht/BecauseWeLearn-Regular.otf:fonts-bwht \
             /usr/share/fonts/truetype/femkeklaver/femkeklaver.ttf:fonts-femkeklaver \
             /usr/share/fonts/opentype/comic-neue/ComicNeue-Regular.otf:fonts-comic-neue \
             /usr/share/fonts/truetype/cabinsketch/CabinSketch-Regular.ttf:fonts-cabinsketch \
             /usr/share/fonts/truetype/tomsontalks/TomsonTalks.ttf:fonts-tomsontalks \
             /usr/share/fonts/opentype/dancingscript/DancingScript-Regular.otf:fonts-dancingscript \
             /usr/share/fonts/opentype/kaushanscript/KaushanScript-Regular.otf:fonts-kaushanscript \
             /usr/sbin/dovecot:dovecot-imapd

.PHONY: demo test lint typecheck unit docs system-deps venv web-assets clean

demo: system-deps venv web-assets
	$(BIN)/switchover demo

test: system-deps venv web-assets lint typecheck unit

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

unit: venv
	$(BIN)/pytest -ra --durations=20 $(PYTEST_ARGS)

# docs/cli.md is the command's own help; a test fails when it is out of date.
docs: venv
	$(BIN)/python -m switchover.cli_docs docs/cli.md

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# The GOV.UK and MOJ design systems, served from node_modules (never copied into the repo).
web-assets: node_modules/.installed

node_modules/.installed: package-lock.json
	npm ci --no-audit --no-fund
	touch $@

system-deps:
	@missing=""; \
	for need in $(APT_NEEDS); do \
	  what=$${need%%:*}; pkg=$${need##*:}; \
	  if [ "$${what#/}" != "$$what" ]; then test -e "$$what" || missing="$$missing $$pkg"; \
	  else command -v "$$what" >/dev/null 2>&1 || missing="$$missing $$pkg"; fi; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else \
	    echo "Switchover needs these Debian packages; install them with:"; \
	    echo "  sudo apt-get install -y$$missing"; \
	    exit 1; \
	  fi; \
	fi

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .pytest_cache
