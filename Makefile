# metrics_ex: PGXS build.  The install script is generated from src/sql/*.sql
# (numbered so that each feature's SQL is loaded after what it builds on).

EXTENSION = metrics_ex
EXTVERSION = $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" metrics_ex.control)

MODULE_big = metrics_ex
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
DATA_built = metrics_ex--$(EXTVERSION).sql

REGRESS = $(sort $(basename $(notdir $(wildcard sql/*.sql))))
REGRESS_OPTS = --load-extension=metrics_ex

# Our code is -Wall -Wextra clean.  PostgreSQL's fmgr convention leaves
# fcinfo unused in many functions, so that one warning stays off.
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers $(if $(WERROR),-Werror)

# Prefer the PostgreSQL 15 toolchain when several versions are installed.
PG_CONFIG ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config)
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(PGXS),)
include $(PGXS)
endif

metrics_ex--$(EXTVERSION).sql: $(sort $(wildcard src/sql/*.sql)) metrics_ex.control
	cat $(sort $(wildcard src/sql/*.sql)) > $@

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
