# lctw — latent consistency training workbench.
#   make              build bin/lctw (prints what it found)
#   make test         build and run every test (ends with "N passed, N failed, N skipped")
#   make bench        benchmarks (see bench/RESULTS.md)
#   make demo         the main job on built-in data
#   make clean
# Knobs: CUDA=auto|0|1  BLAS=auto|openblas|none  DEBUG=1 (ASan+UBSan)  NATIVE=1 (-march=native)

CUDA   ?= auto
BLAS   ?= auto
DEBUG  ?= 0
NATIVE ?= 0
CC     ?= cc
CUDA_HOME ?= /usr/local/cuda
NVCC   ?= $(shell command -v nvcc 2>/dev/null || { test -x $(CUDA_HOME)/bin/nvcc && echo $(CUDA_HOME)/bin/nvcc; })
CUDA_ARCHS ?= 80 90

ifeq ($(DEBUG),1)
BUILD ?= build/debug
BIN   ?= build/debug/lctw
else
BUILD ?= build
BIN   ?= bin/lctw
endif

# ---- detection -------------------------------------------------------------------------------
ifeq ($(CUDA),auto)
  USE_CUDA := $(if $(NVCC),1,0)
else
  USE_CUDA := $(CUDA)
endif
ifeq ($(USE_CUDA),1)
  ifeq ($(NVCC),)
    $(error CUDA=1 but nvcc was not found (install the CUDA toolkit in $(CUDA_HOME)))
  endif
endif

OPENBLAS_FOUND := $(shell test -f /usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h -o -f /usr/include/openblas/cblas.h -o -f /usr/include/x86_64-linux-gnu/cblas.h && echo 1)
ifeq ($(BLAS),auto)
  USE_BLAS := $(if $(OPENBLAS_FOUND),openblas,none)
else
  USE_BLAS := $(BLAS)
endif

# ---- flags -----------------------------------------------------------------------------------
WARN    := -Wall -Wextra -Wshadow -Wno-unused-parameter -Wstrict-prototypes -Wmissing-prototypes
CSTD    := -std=gnu11
OPT     := -O3 -fno-strict-aliasing
ifeq ($(NATIVE),1)
  OPT += -march=native
endif
ifeq ($(DEBUG),1)
  OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
  LDSAN := -fsanitize=address,undefined
endif
CPPFLAGS := -Isrc -Ikernels -I/usr/include/lua5.4 -D_GNU_SOURCE
CFLAGS   := $(CSTD) $(OPT) $(WARN) -MMD -MP
LDLIBS   := -llua5.4 -lreadline -lncursesw -ltinfo -lpng -ljpeg -lm -lpthread -ldl
LDFLAGS  := $(LDSAN)

ifeq ($(USE_BLAS),openblas)
  CPPFLAGS += -DLCTW_OPENBLAS -I/usr/include/x86_64-linux-gnu/openblas-pthread
  LDLIBS   += -lopenblas
endif

ifeq ($(USE_CUDA),1)
  CPPFLAGS += -DLCTW_CUDA
  NVFLAGS  := -O3 -std=c++17 -Isrc -Ikernels -DLCTW_CUDA -Xcompiler -Wall,-Wextra,-Wno-unused-parameter \
              $(foreach a,$(CUDA_ARCHS),-gencode arch=compute_$(a),code=sm_$(a)) \
              -gencode arch=compute_$(lastword $(CUDA_ARCHS)),code=compute_$(lastword $(CUDA_ARCHS)) \
              -MMD -MP
  ifeq ($(DEBUG),1)
    NVFLAGS += -g
  endif
  LDLIBS   += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublas -lcudart -lstdc++
endif

# ---- sources ---------------------------------------------------------------------------------
CORE_SRC := $(filter-out src/main.c src/core/cuda_stub.c,$(wildcard src/*.c src/*/*.c src/*/*/*.c))
ifeq ($(USE_CUDA),1)
  CU_SRC := $(wildcard kernels/*.cu)
else
  CORE_SRC += src/core/cuda_stub.c
  CU_SRC :=
endif
LUA_SRC  := $(sort $(wildcard lua/lctw/*.lua))
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/%.o) $(CU_SRC:%.cu=$(BUILD)/%.cu.o) $(BUILD)/gen/embedded_lua.o
LIB      := $(BUILD)/liblctw.a
TEST_SRC := $(wildcard tests/unit/test_*.c)
OPS_TEST_SRC := $(wildcard tests/ops/test_*.c)
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%) $(OPS_TEST_SRC:tests/ops/%.c=$(BUILD)/tests/%)
BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
DEPS_OK  := build/.deps-ok

.PHONY: all test bench demo clean deps info
all: info $(BIN)

info:
	@printf '%s\n' "lctw build configuration:" \
	  "  $(if $(filter 1,$(USE_CUDA)),✓ CUDA   nvcc at $(NVCC) (archs $(CUDA_ARCHS)),✗ CUDA   $(if $(NVCC),disabled (CUDA=$(CUDA)),nvcc not found: CPU only))" \
	  "  $(if $(filter openblas,$(USE_BLAS)),✓ BLAS   OpenBLAS,✗ BLAS   none: reference loops for matmul (slow))" \
	  "  ✓ Lua 5.4, GNU Readline$(if $(filter 1,$(DEBUG)),,)" \
	  "  $(if $(filter 1,$(DEBUG)),✓ DEBUG  ASan+UBSan,  release -O3)"

deps: $(DEPS_OK)
$(DEPS_OK): scripts/install-deps.sh
	@scripts/install-deps.sh
	@mkdir -p $(dir $@) && touch $@

$(BIN): $(BUILD)/src/main.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(LIB): $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/%.o: %.c | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/%.cu.o: %.cu | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVFLAGS) -c -o $@ $<

# Lua library files are compiled into the binary (lua/lctw/*.lua -> embedded_lua.c).
$(BUILD)/tools/embed: scripts/embed.c
	@mkdir -p $(dir $@)
	$(CC) -O1 -o $@ $<
$(BUILD)/gen/embedded_lua.c: $(LUA_SRC) $(BUILD)/tools/embed
	@mkdir -p $(dir $@)
	$(BUILD)/tools/embed $@ $(LUA_SRC)
$(BUILD)/gen/embedded_lua.o: $(BUILD)/gen/embedded_lua.c
	$(CC) $(CPPFLAGS) $(CSTD) -O1 -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(LIB) tests/unit/test.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)
# op parity tests (CUDA twins against the CPU reference): built and run like tests/unit
$(BUILD)/tests/%: tests/ops/%.c $(LIB) tests/unit/test.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

test: all $(TEST_BIN)
	@BUILD=$(BUILD) LCTW=$(abspath $(BIN)) bash tests/run.sh

$(BUILD)/bench/%: bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

bench: all $(BENCH_BIN)
	@BUILD=$(BUILD) LCTW=$(abspath $(BIN)) bash bench/run.sh

demo: all
	@$(BIN) examples/demo.lua

clean:
	rm -rf build bin

-include $(CORE_OBJ:.o=.d) $(BUILD)/src/main.d
