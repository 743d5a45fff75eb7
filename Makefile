# esteira: `make demo` and `make test` are all a new machine needs (Debian, Python 3.11, Java 17).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ESTEIRA := $(VENV)/bin/esteira
JARS := .esteira/jars
DEMO := .esteira/demo
# the demo's traffic has an SMS share too; code defaults price only Whatsapp (the seed's R$ 0,04),
# and a channel without a price stops the bill: the demo states an SMS price of its own
BILLING_DEMO := ESTEIRA_BILLING__ROOT=$(DEMO)/billing ESTEIRA_BILLING__PRICES='[{"channel": "Whatsapp", "unit_price": "0.04"}, {"channel": "SMS", "unit_price": "0.07"}]'
WAREHOUSE_DEMO := ESTEIRA_WAREHOUSE__FLAT_FILE=$(DEMO)/warehouse/movimento_flat.csv
NOTIF_DEMO := ESTEIRA_NOTIFICATIONS__ROOT=$(DEMO)/notifications ESTEIRA_NOTIFICATIONS__TOPIC=demo-notificacoes-$(shell date +%s)
ORDERS_RUN := $(shell date +%s)
ORDERS_DEMO := ESTEIRA_ORDERS__ROOT=$(DEMO)/orders-$(ORDERS_RUN) ESTEIRA_ORDERS__TOPIC=demo-pedidos-$(ORDERS_RUN) ESTEIRA_ORDERS__DLQ_TOPIC=demo-pedidos-$(ORDERS_RUN).dlq ESTEIRA_ORDERS__PG_SCHEMA=demo_pedidos_$(ORDERS_RUN)

.PHONY: setup venv airflow jars jvm-archive services-deps web-deps demo test test-cluster lint bench clean

setup: venv jars jvm-archive services-deps web-deps airflow

# Apache Airflow in a virtualenv of its own (its FastAPI/SQLAlchemy pins clash with the
# dashboard's), from the complete lock in deploy/airflow: remade only when the lock changes.
AIRFLOW_VENV := .esteira/airflow-venv
airflow: $(AIRFLOW_VENV)/.installed
$(AIRFLOW_VENV)/.installed: deploy/airflow/requirements.lock
	rm -rf $(AIRFLOW_VENV)
	$(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/pip install --quiet --no-deps -r deploy/airflow/requirements.lock
	@touch $@

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	@touch $@

jars: $(JARS)/spark/.done $(JARS)/kafka/.done
$(JARS)/spark/.done: pom.xml
	@command -v mvn >/dev/null || { echo "mvn (Maven) is needed: apt-get install maven"; exit 1; }
	rm -rf $(JARS)/spark
	mvn -q -B -P spark-jars dependency:copy-dependencies
	@touch $@
# The JVM engine's class-data sharing archive (esteira/jvm_archive.py): a cold session
# starts ~30% faster. Built once per pyspark/jars/venv; a failure only warns.
jvm-archive: venv jars
	$(VENV)/bin/python -m esteira.jvm_archive
$(JARS)/kafka/.done: pom.xml
	rm -rf $(JARS)/kafka
	mvn -q -B -P kafka-broker dependency:copy-dependencies
	@touch $@

# Debian packages the set-up installs with apt-get where missing (deploy/setup/debian-package):
# the local PostgreSQL (Kafka needs only Java 17 and the jars), npm for the dashboard's
# front-end libraries, and chromium for the browser test.
DEBIAN := deploy/setup/debian-package
services-deps:
	@$(DEBIAN) '/usr/lib/postgresql/*/bin/initdb' postgresql "the local PostgreSQL; or set postgres.host to use your own server"

# The dashboard: its front-end libraries (htmx, uPlot) from npm, pinned by
# src/esteira/web/package-lock.json and served by the app itself (no CDN); the browser
# test drives Debian's chromium.
WEB := src/esteira/web
web-deps: $(WEB)/node_modules/.package-lock.json
	@$(DEBIAN) chromium chromium "the browser test (tests/web)"
$(WEB)/node_modules/.package-lock.json: $(WEB)/package.json $(WEB)/package-lock.json
	@$(DEBIAN) npm npm "the dashboard's front-end libraries"
	@command -v npm >/dev/null || { echo "npm is needed for the dashboard's libraries: apt-get install npm"; exit 1; }
	cd $(WEB) && npm ci --no-audit --no-fund --loglevel=error

demo: setup
	$(ESTEIRA) services up
	$(ESTEIRA) datagen portfolio --clients 200000 --managers 1500 --keys 40 --out $(DEMO)/portfolio
	$(ESTEIRA) portfolio assign --clients $(DEMO)/portfolio/clients --managers $(DEMO)/portfolio/managers --out $(DEMO)/portfolio/out
	$(ESTEIRA) datagen quarantine --rows 200000 --date 2024-05-28 --out $(DEMO)/quarantine
	$(ESTEIRA) quarantine build --date 2024-05-28 --sources $(DEMO)/quarantine
	$(ESTEIRA) quarantine check --id 1000025970 --date 2024-05-28
	$(ESTEIRA) quarantine filter --audience $(DEMO)/quarantine/campanha.csv --channel Marketing --date 2024-05-28 --out $(DEMO)/quarantine/liberados.csv --suppressed $(DEMO)/quarantine/suprimidos.csv
	$(ESTEIRA) datagen invoices --rows 200000 --accounts 20000 --out $(DEMO)/invoices/in
	$(ESTEIRA) invoices averages --input $(DEMO)/invoices/in --reference 2020-01 --windows 3,6 --out $(DEMO)/invoices/averages.csv
	$(ESTEIRA) datagen chatbot --events 100000 --sessions 10000 --out $(DEMO)/chatbot/lake
	$(ESTEIRA) chatbot answers --input $(DEMO)/chatbot/lake --hours 13,14 --date 2019-12-16 --out $(DEMO)/chatbot/out
	@# warehouse (SiCooperative): PostgreSQL source -> star schema with SCD2 + flat file; one day of changes; incremental
	$(ESTEIRA) datagen warehouse --associados 20000 --movimentos 500000
	$(WAREHOUSE_DEMO) $(ESTEIRA) warehouse reset --yes
	$(WAREHOUSE_DEMO) $(ESTEIRA) warehouse run
	$(ESTEIRA) datagen warehouse --mutate
	$(WAREHOUSE_DEMO) $(ESTEIRA) warehouse run
	$(WAREHOUSE_DEMO) $(ESTEIRA) warehouse status
	head -n 6 $(DEMO)/warehouse/movimento_flat.csv
	$(WAREHOUSE_DEMO) $(ESTEIRA) warehouse history --associado 146
	@# notifications: 3 minutes of back-dated traffic on a fresh topic, streamed until idle
	rm -rf $(DEMO)/notifications
	$(NOTIF_DEMO) $(ESTEIRA) notifications produce --rate 1000 --duration 3m --customers 200 --start 2020-02-03T14:00 --expected $(DEMO)/notifications-expected.json
	$(NOTIF_DEMO) $(ESTEIRA) --engine spark notifications stream --until-idle 15s
	@# the detailed report of Acme's day and the day's bill (final: its grace is long over)
	$(NOTIF_DEMO) $(ESTEIRA) notifications report --customer 7494212 --from 2020-02-03 --to 2020-02-03 --out $(DEMO)/notifications/relatorio_7494212_2020-02-03.txt
	$(NOTIF_DEMO) $(BILLING_DEMO) $(ESTEIRA) notifications billing --date 2020-02-03
	@# orders: 50,000 orders with status changes -> Kafka -> PostgreSQL (fresh topic and schema), then the top 10s
	$(ESTEIRA) datagen orders --rows 50000 --updates --out $(DEMO)/pedidos.csv
	$(ORDERS_DEMO) $(ESTEIRA) orders produce --csv $(DEMO)/pedidos.csv
	$(ORDERS_DEMO) $(ESTEIRA) --engine spark orders consume --until-idle 15s
	$(ORDERS_DEMO) $(ESTEIRA) orders report top-products --limit 10 --out $(DEMO)/top10_produtos.csv
	$(ORDERS_DEMO) $(ESTEIRA) orders report top-cities --limit 10 --out $(DEMO)/top10_cidades.csv --chart $(DEMO)/top10_cidades.png
	@# every batch system of one day in order, one table of what ran (docs/operations.md); the demo's
	@# data sets are of different days: the bill is pinned to the traffic's day, the warehouse waits for its source
	$(NOTIF_DEMO) $(BILLING_DEMO) ESTEIRA_RUN__STEPS__WAREHOUSE__ENABLED=false \
	  ESTEIRA_RUN__STEPS__BILLING__COMMAND='["notifications","billing","--date","2020-02-03"]' \
	  $(ESTEIRA) run all --date 2024-05-28
	@echo ""
	@echo "Painel de Notificações on the demo's data (Ctrl+C stops it):"
	@echo "  ESTEIRA_NOTIFICATIONS__ROOT=$(DEMO)/notifications ESTEIRA_BILLING__ROOT=$(DEMO)/billing $(ESTEIRA) serve"
	@echo "  then open http://127.0.0.1:8000/ (API: http://127.0.0.1:8000/docs)"

# Two passes, run at once (deploy/setup/test-both-engines): pyspark holds either Connect
# sessions (sail) or one JVM session per process. The services the suite needs are started
# first; at the end (pass or fail) only those this run started are stopped: servers that
# were already running are left alone.
TEST_STARTED := .esteira/test-started-services.json
test: setup
	$(VENV)/bin/ruff check src tests bench
	$(ESTEIRA) services up --record $(TEST_STARTED)
	VENV=$(VENV) deploy/setup/test-both-engines; \
	  status=$$?; $(ESTEIRA) services down --only-started $(TEST_STARTED); exit $$status

# The jobs on a real local cluster (standalone master, two workers, Spark Connect), compared
# with Sail: minutes and ~3 GB, so a target of its own, which .ci/run also runs. PostgreSQL
# (the warehouse's source) is started if needed and then stopped again, as in `test`.
TEST_CLUSTER_STARTED := .esteira/test-cluster-started-services.json
test-cluster: setup
	$(ESTEIRA) services up postgres --record $(TEST_CLUSTER_STARTED)
	ESTEIRA_TEST_CLUSTER=1 ESTEIRA_TEST_ENGINE=sail $(VENV)/bin/pytest tests/cluster; \
	  status=$$?; $(ESTEIRA) services down postgres --only-started $(TEST_CLUSTER_STARTED); \
	  exit $$status

lint: venv
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

# Every benchmark checks its own output; quick sizes by default (`make bench FULL=1`: the
# issue's sizes; REPEAT=n warm runs after the cold one, default 3).
BENCH_FLAGS = $(if $(FULL),--full) --repeat $(or $(REPEAT),3)
BENCH_LATER := notifications_report web_dashboard billing_day warehouse_load orders_consumer
bench: setup
	$(ESTEIRA) services up
	$(PY) bench/portfolio_assign.py $(BENCH_FLAGS)
	$(PY) bench/quarantine_build.py $(BENCH_FLAGS)
	$(PY) bench/invoices_averages.py $(BENCH_FLAGS)
	$(PY) bench/chatbot_answers.py $(BENCH_FLAGS)
	$(PY) bench/notifications_stream.py $(BENCH_FLAGS)
	$(PY) bench/notifications_revisions.py $(BENCH_FLAGS)
	$(PY) bench/services_startup.py $(BENCH_FLAGS)
	@# benchmarks of the systems built later, once they exist (same flags)
	@for name in $(BENCH_LATER); do \
	  if [ -f bench/$$name.py ]; then echo "$(PY) bench/$$name.py $(BENCH_FLAGS)"; \
	    $(PY) bench/$$name.py $(BENCH_FLAGS) || exit 1; fi; \
	done

clean:
	-@test -x $(ESTEIRA) && $(ESTEIRA) services down  # stop them before their data goes
	rm -rf $(VENV) .esteira
