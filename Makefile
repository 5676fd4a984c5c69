# sellocli: build, test, benchmark. Run `make help` for the list.
SWIFT      ?= swift
BIN        := .build/release/sellocli
DEBIAN_PKGS := zlib1g-dev libsqlite3-dev libisal-dev libssl-dev sqlite3 python3 gzip
SAMPLE     := SampleData/generated-2019-10-01.csv.gz

.PHONY: build test bench demo sample clean deps help unit e2e kaggle

build: deps ## Build the release binary (.build/release/sellocli)
	$(SWIFT) build -c release --product sellocli

test: deps build ## Run every test: unit tests (swift test), then end-to-end tests of the real binary
	$(SWIFT) test
	SELLOCLI=$(BIN) bash Tests/cli/run.sh

unit: deps ## Only the Swift unit tests
	$(SWIFT) test

e2e: build ## Only the end-to-end tests of the built binary
	SELLOCLI=$(BIN) bash Tests/cli/run.sh

bench: build ## Benchmark ingest against gzip, igzip and DuckDB on 5M generated rows, cron ticks, and catalog ingest on 2M clickstream rows (see BENCHMARKS.md)
	SELLOCLI=$(BIN) bash scripts/bench.sh
	SELLOCLI=$(BIN) bash scripts/bench_ticks.sh
	SELLOCLI=$(BIN) bash scripts/bench_catalog.sh

kaggle: build ## Reproduce Sellometer's run: concentrate 30:1, split per minute, one tick per window (KAGGLE_DIR=dir of the REES46 files; else generated)
	SELLOCLI=$(BIN) KAGGLE_DIR="$(KAGGLE_DIR)" bash scripts/kaggle.sh

demo: build ## Ingest the bundled sample data into demo.db and show GMV by brand
	@rm -f demo.db demo.db-wal demo.db-shm demo.rejects.csv.gz
	$(BIN) ingest --db demo.db SampleData/rees46-2019-oct-head17k.csv SampleData/generated-2019-10-01.csv.gz SampleData/generated-2019-10-02.jsonl
	$(BIN) top --db demo.db --event purchase --dim brand --limit 10 --format table

sample: build ## Regenerate the committed synthetic sample in SampleData/
	$(BIN) gen --rows 5000 --start 2019-10-01T00:00:00Z --hours 24 --seed 7 --gzip -o $(SAMPLE)
	$(BIN) gen --rows 2000 --start 2019-10-02T00:00:00Z --hours 24 --seed 8 --jsonl -o SampleData/generated-2019-10-02.jsonl
	$(BIN) gen --clickstream --rows 5000 --start 2019-10-01T00:00:00Z --hours 24 --seed 1 --gzip -o SampleData/clickstream-2019-10-01.jsonl.gz

clean: ## Remove build products and demo/bench outputs
	rm -rf .build bench/work bench/kaggle demo.db demo.db-wal demo.db-shm demo.rejects.csv.gz

deps: ## Install missing Debian packages when root, else say what to install
	@missing=""; for p in $(DEBIAN_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then echo "installing:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) >/dev/null || exit 1; \
	  else echo "missing Debian packages:$$missing"; echo "install them with: sudo apt-get install$$missing"; exit 1; fi; \
	fi

help: ## List the targets
	@grep -E '^[a-z]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'
