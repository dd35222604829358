# 清朗校园 — `make run` serves the app on the embedded default; `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
FLASK  := FLASK_APP=wsgi $(VENV)/bin/flask
STAMP  := $(VENV)/.installed-$(shell sha1sum requirements.txt | cut -c1-12)
PORT   ?= 8000

.PHONY: run test venv lint migrate seed clean fontcheck bench

venv: $(STAMP)

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

migrate: venv
	@mkdir -p var
	$(FLASK) db upgrade

seed: migrate
	$(FLASK) demo seed

# Migrate, seed the demo data once, start the WeChat stand-in (unless WECHAT_APPID is set)
# and serve with gunicorn on $(PORT). Honours DATABASE_URL, STORAGE_URL and PORT.
run: fontcheck seed
	PORT=$(PORT) $(VENV)/bin/gunicorn -c gunicorn.conf.py wsgi:app

# Certificate posters (app/common/poster.py) need a Chinese system font. Without one the app
# still runs; only the poster endpoints answer 503, so this warns instead of stopping.
fontcheck:
	@test -n "$$CERTIFICATE_FONT" || fc-list :lang=zh 2>/dev/null | grep -q . || { \
	  echo "warning: no Chinese font for certificate posters; install one: apt-get install -y fonts-noto-cjk" >&2; \
	  echo "         (or set CERTIFICATE_FONT=/path/to/font.ttc#index)" >&2; }

# Signing vs health with wrk against gunicorn as `make run` starts it; prints the ratio (bench/bench.py).
bench: venv fontcheck
	@command -v wrk >/dev/null || { echo "error: wrk is missing: apt-get install -y wrk" >&2; exit 1; }
	$(PY) bench/bench.py

# The mini-program's jest suite; dependencies from the committed lockfile.
MP_STAMP := miniprogram/node_modules/.installed-$(shell sha1sum miniprogram/package-lock.json | cut -c1-12)

$(MP_STAMP): miniprogram/package-lock.json
	cd miniprogram && npm ci --no-audit --no-fund
	@touch $@

test: venv $(MP_STAMP)
	$(PY) -m pytest
	cd miniprogram && npm test -- --ci

lint: venv
	$(VENV)/bin/ruff check app tests config wsgi.py gunicorn.conf.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache miniprogram/node_modules
