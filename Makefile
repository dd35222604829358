# 清朗校园 — `make run` serves the app on the embedded default; `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
FLASK  := FLASK_APP=wsgi $(VENV)/bin/flask
STAMP  := $(VENV)/.installed-$(shell sha1sum requirements.txt | cut -c1-12)
PORT   ?= 8000

.PHONY: run test venv lint migrate seed clean

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
run: seed
	PORT=$(PORT) $(VENV)/bin/gunicorn -c gunicorn.conf.py wsgi:app

test: venv
	$(PY) -m pytest

lint: venv
	$(VENV)/bin/ruff check app tests config wsgi.py gunicorn.conf.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
