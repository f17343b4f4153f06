# evalkit — every target installs what it needs into .venv on first use.
#   make eval TASK=kmmlu_pro [MODEL=…] [RUNNER=…] [MODE=reasoning|non-reasoning] [LIMIT=…] [N=…]
#             [MAX_NEW_TOKENS=…] [DATA=sample|hub|local|/copy] [SEED=…] [RUN_ID=…] [ALLOW_ERRORS=1]
#             [JUDGE=profile [JUDGE_MODEL=…]] [USER_SIM=profile [USER_SIM_MODEL=…]] [RUNNER_ARGS="k=v …"]
#             [GPUS=n [DP=threads|processes]]
#   make card CARD=exaone-4.0-32b [RUNNER=…] [MODEL=…] [LIMIT=…] [N=…] [MODES=…] [BENCHMARKS=…] [JUDGE=…]
#             [USER_SIM=…] [SKIP_MISSING=1] [PLAN=1] [GATE=policy] [GPUS=n [DP=threads|processes]]
#                    a whole model card (docs/cards.md; GPUS/DP: docs/scale-out.md §5)
#   make test        the test suite (what CI runs, with make lint)
#   make lint        ruff + mypy
#   make check-data  real-data and long checks (pytest -m slow), not part of make test
#   make gate | report | fidelity | gate-smoke    quantization gates, comparison reports (see docs/)
#   make report-deps  chromium and fonts-noto-cjk for the report's checks and Korean plot labels (apt, root)
#   make bench-math | bench-mmlu-pro | bench-client | bench-sandbox | bench-long   benchmarks (BENCHMARKS.md)
#   make bench-int4 [OUT=dir] | bench-int4-check   the int4 runner on a CUDA GPU (docs/int4-runner.md)
#   make bench-eval MODEL=ckpt [EVAL_RUNNER=ours|vllm|both] [SCALE=…] [OUT=file]   int4 runner vs vLLM, eval workloads
#   make bench-bfcl-mt GORILLA=/path/to/gorilla/clone   BFCL multi-turn against gorilla's own code
#   make gpu-triton  .venv-gpu-triton: the GPU image's Triton (3.6), for make test's sm_90 builds
#                    of the Gluon kernels (EVALKIT_SM90_PYTHONS=.venv-gpu-triton/bin/python; CI sets it)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.evalkit-installed

TASK   ?= kmmlu_pro
RUNNER ?= torch-int4
MODE   ?= non-reasoning

.PHONY: help setup eval card test lint list check-data gate gate-smoke report report-deps fidelity bench-math bench-mmlu-pro bench-client bench-sandbox bench-long bench-int4 bench-int4-check bench-eval bench-engine-host bench-bfcl-mt gpu-triton clean
.DEFAULT_GOAL := help

help:
	@sed -n '1,15p' Makefile

$(STAMP): pyproject.toml constraints.txt
	@echo "setting up $(VENV) (log: $(VENV)/install.log)"
	$(PYTHON) -m venv $(VENV)
	@# constraints.txt keeps torch on the local CPU build (no multi-GB CUDA download)
	@( $(BIN)/pip install --upgrade pip && $(BIN)/pip install -c constraints.txt -e '.[dev]' ) \
	  > $(VENV)/install.log 2>&1 || { tail -40 $(VENV)/install.log; exit 1; }
	@touch $(STAMP)

setup: $(STAMP)

# One command line, built here so that make echoes it on one line (no stray `\` lines);
# EVALKIT_INTERFACE=make makes evalkit's messages name DATA= rather than --data.
EVAL_ARGS = --runner $(RUNNER) --mode $(MODE) $(if $(MODEL),--model "$(MODEL)") \
  $(if $(LIMIT),--limit $(LIMIT)) $(if $(N),--n $(N)) $(if $(MAX_NEW_TOKENS),--max-new-tokens $(MAX_NEW_TOKENS)) \
  $(if $(DATA),--data "$(DATA)") $(if $(SEED),--seed $(SEED)) $(if $(RUN_ID),--run-id $(RUN_ID)) \
  $(if $(JUDGE),--judge $(JUDGE)) $(if $(JUDGE_MODEL),--judge-model "$(JUDGE_MODEL)") \
  $(if $(USER_SIM),--user-sim $(USER_SIM)) $(if $(USER_SIM_MODEL),--user-sim-model "$(USER_SIM_MODEL)") \
  $(foreach a,$(RUNNER_ARGS),--runner-arg "$(a)") $(if $(filter 1,$(ALLOW_ERRORS)),--allow-errors) \
  $(if $(GPUS),--gpus $(GPUS)) $(if $(DP),--dp $(DP))
eval: setup
	EVALKIT_INTERFACE=make $(BIN)/evalkit run $(TASK) $(strip $(EVAL_ARGS))

# The whole card: plan (results/cards/<id>/plan.md), one runner for every cell, card.md/html/csv.
# GATE= is passed only when given (its default above is `make gate`'s policy).
CARD ?= exaone-4.0-32b
CARD_ARGS = --runner $(RUNNER) $(if $(MODEL),--model "$(MODEL)") $(if $(LIMIT),--limit $(LIMIT)) $(if $(N),--n $(N)) \
  $(if $(MAX_NEW_TOKENS),--max-new-tokens $(MAX_NEW_TOKENS)) $(if $(MODES),--modes "$(MODES)") \
  $(if $(BENCHMARKS),--benchmarks "$(BENCHMARKS)") $(if $(DATA),--data "$(DATA)") $(if $(SEED),--seed $(SEED)) \
  $(if $(JUDGE),--judge $(JUDGE)) $(if $(JUDGE_MODEL),--judge-model "$(JUDGE_MODEL)") \
  $(if $(USER_SIM),--user-sim $(USER_SIM)) $(if $(USER_SIM_MODEL),--user-sim-model "$(USER_SIM_MODEL)") \
  $(foreach a,$(RUNNER_ARGS),--runner-arg "$(a)") $(if $(filter 1,$(SKIP_MISSING)),--skip-missing) \
  $(if $(filter 1,$(PLAN)),--plan) $(if $(filter-out file default undefined,$(origin GATE)),--gate $(GATE)) \
  $(if $(GPUS),--gpus $(GPUS)) $(if $(DP),--dp $(DP))
card: setup
	EVALKIT_INTERFACE=make $(BIN)/evalkit card $(CARD) $(strip $(CARD_ARGS))

list: setup
	$(BIN)/evalkit list

test: setup
	$(BIN)/pytest -q

# The Triton of the GPU machine's image (3.6; dev and CI have 3.9) in a venv of its own, so that
# make test also builds the Gluon kernels for sm_90 with it (tests/runners/test_gluon_gemm.py):
# the two versions accept different Gluon code.
GPU_TRITON_VENV := .venv-gpu-triton
$(GPU_TRITON_VENV)/.installed: constraints.txt
	$(PYTHON) -m venv $(GPU_TRITON_VENV)
	@( $(GPU_TRITON_VENV)/bin/pip install -c constraints.txt triton==3.6.0 torch numpy pyyaml pydantic \
	    safetensors pytest ) > $(GPU_TRITON_VENV)/install.log 2>&1 || { tail -20 $(GPU_TRITON_VENV)/install.log; exit 1; }
	@touch $@

gpu-triton: $(GPU_TRITON_VENV)/.installed

# Real-data and long checks (pytest -m slow): run before resolving an issue, not in `make test`.
check-data: setup
	$(BIN)/pytest -q -m slow

GATE ?= gates/exaone-4.0-32b-gptq.yaml
GATE_ARGS = $(if $(RUNS),--runs $(RUNS)) $(if $(REFERENCE),--reference $(REFERENCE)) \
  $(if $(FIDELITY),--fidelity $(FIDELITY)) \
  $(if $(SEQUENTIAL),--sequential --runner $(RUNNER) $(if $(MODEL),--model "$(MODEL)") $(if $(DATA),--data "$(DATA)"))
gate: setup   ## make gate [GATE=…] [RUNS=…] [REFERENCE=…] [FIDELITY=f.json] [SEQUENTIAL=1 RUNNER=… MODEL=…]
	EVALKIT_INTERFACE=make $(BIN)/evalkit gate $(GATE) $(strip $(GATE_ARGS))

gate-smoke: setup
	$(BIN)/evalkit fidelity --model tiny --out results/runs/fidelity-smoke/fidelity.json
	$(BIN)/evalkit gate gates/tiny-smoke.yaml --fidelity results/runs/fidelity-smoke/fidelity.json

report: setup
	$(BIN)/evalkit report $(or $(RUNS),results/runs) --out $(or $(OUT),results/report) --html --plots $(if $(BASELINE),--baseline $(BASELINE))

# What the HTML/plot checks and Korean plot labels need (Debian/Ubuntu, as root; .ci/run does the same).
report-deps:
	@command -v apt-get >/dev/null || { echo "install chromium and a CJK font (Noto Sans CJK) with your package manager"; exit 1; }
	apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk

fidelity: setup
	$(BIN)/evalkit fidelity --runner $(RUNNER) $(strip $(if $(MODEL),--model "$(MODEL)") $(if $(REFERENCE_MODEL),--reference-model "$(REFERENCE_MODEL)"))

bench-sandbox: setup
	$(BIN)/python bench/bench_sandbox_grading.py

bench-long: setup
	$(BIN)/python bench/long_prompt_gpu.py

INT4_OUT = $(or $(OUT),results/bench-int4)
INT4_RESULTS = $(wildcard $(addprefix $(INT4_OUT)/,torch_int4.json bf16.json dequant_matmul.json vllm_*.json))
bench-int4: setup
	$(BIN)/python bench/int4_engine.py --out $(INT4_OUT)
	$(BIN)/python bench/int4_report.py --hw $(INT4_OUT)/ceilings.json --ours torch_int4 --engine $(INT4_RESULTS)

bench-int4-check: setup
	$(BIN)/python bench/int4_gpu_check.py --out $(INT4_OUT)

# W1-W3 of issue 14 on one GPU; ours and vLLM merge into one JSON (bench/results/<date>/bench_eval.json)
bench-eval: setup
	$(BIN)/python bench/bench_eval.py --runner $(or $(EVAL_RUNNER),both) $(if $(MODEL),--model "$(MODEL)") \
	  $(if $(SCALE),--scale $(SCALE)) $(if $(OUT),--out "$(OUT)")

# the fast engine's own host time per decode step (CPU; the model's passes faked out)
bench-engine-host: setup
	$(BIN)/python bench/engine_host.py --batch $(or $(BATCH),256)

bench-mmlu-pro: setup
	$(BIN)/python bench/bench_score_mmlu_pro.py

bench-math: setup
	$(BIN)/python bench/math_agreement.py
	$(BIN)/python bench/math_checker.py

bench-bfcl-mt: setup
	@test -n "$(GORILLA)" || { echo "GORILLA=<clone of github.com/ShishirPatil/gorilla> is required"; exit 2; }
	TZ=UTC $(BIN)/python bench/bfcl_multi_turn_diff.py $(GORILLA)

bench-client: setup
	$(BIN)/python bench/bench_openai_client.py

lint: setup
	$(BIN)/ruff check evalkit tests
	$(BIN)/mypy evalkit

clean:
	rm -rf $(VENV) $(GPU_TRITON_VENV) results/runs .pytest_cache .mypy_cache .ruff_cache
