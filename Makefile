# metrics_ex: PGXS build.  The source follows the extension's three paths
# (src/write, src/maintenance, src/read) and its sketch types (src/sketch);
# each feature's SQL sits beside its C.  The install script is those SQL
# files concatenated in the order below: each after what it builds on.

EXTENSION = metrics_ex
EXTVERSION = $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" metrics_ex.control)

MODULE_big = metrics_ex
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c src/*/*.c)))
DATA_built = metrics_ex--$(EXTVERSION).sql

SQL_FILES = \
	src/write/storage.sql \
	src/write/distributed.sql \
	src/write/series_dict.sql \
	src/write/ingest.sql \
	src/read/points.sql \
	src/sketch/fsum.sql \
	src/sketch/xsum.sql \
	src/sketch/stats.sql \
	src/sketch/tdigest.sql \
	src/sketch/ddsketch.sql \
	src/sketch/percentile.sql \
	src/sketch/bucket_counts.sql \
	src/read/query.sql \
	src/read/charts.sql \
	src/maintenance/rollups.sql \
	src/maintenance/retention.sql \
	src/maintenance/distribute.sql \
	src/maintenance/jobs.sql \
	src/maintenance/workers.sql \
	src/read/experiments.sql \
	src/read/export.sql \
	src/write/attach.sql \
	src/write/telemetry.sql \
	src/read/runs.sql \
	src/read/prometheus.sql \
	src/maintenance/alerts.sql \
	src/read/page.sql \
	src/maintenance/start.sql

REGRESS = $(sort $(basename $(notdir $(wildcard sql/*.sql))))
REGRESS_OPTS = --load-extension=metrics_ex

# Our code is -Wall -Wextra clean.  PostgreSQL's fmgr convention leaves
# fcinfo unused in many functions, so that one warning stays off.
# -MMD: the compiler records which headers each object includes, so that
# changing a header rebuilds what uses it (PGXS does not track them).
PG_CPPFLAGS = -I$(CURDIR)/src -MMD -MP
# the scrape endpoint gzips with zlib, which PostgreSQL itself links
SHLIB_LINK = -lz
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers $(if $(WERROR),-Werror)

# Prefer the PostgreSQL 15 toolchain when several versions are installed.
PG_CONFIG ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config)
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(PGXS),)
include $(PGXS)
endif
-include $(OBJS:.o=.d)
EXTRA_CLEAN = $(OBJS:.o=.d)

# every SQL file must be listed: an unlisted one would silently not install
metrics_ex--$(EXTVERSION).sql: $(SQL_FILES) metrics_ex.control Makefile
	@unlisted="$(filter-out $(SQL_FILES),$(wildcard src/*/*.sql))"; \
	if [ -n "$$unlisted" ]; then echo "Makefile: add $$unlisted to SQL_FILES" >&2; exit 1; fi
	cat $(SQL_FILES) > $@

# The three entry points of the README.  Each installs what it needs first,
# so they work on a fresh Debian 12 machine as root.
.PHONY: test demo bench deps
deps:
	bash test/setup.sh

test:
	bash test/run

demo:
	bash test/demo.sh

bench:
	bash bench/run
