# Fuzzing (cargo-fuzz, libFuzzer + AddressSanitizer, nightly Rust).
#
#   make fuzz-test             each target for FUZZ_TIME seconds; fails on any
#                              crash, assertion, leak or stall (part of `make test`)
#   make fuzz-run T=decode     one target until stopped (extra args: FUZZ_ARGS=...)
#
# Targets live in fuzz/fuzz_targets (their own workspace, excluded from the
# main one); their logic is in `ring::fuzzing` and the engine's public API.
# Findings land in fuzz/artifacts/<target>/; replay one with
# `cd fuzz && cargo +nightly fuzz run <target> <file>`. The inputs of fixed
# findings are kept in fuzz/findings/<target>/ and replayed first.

FUZZ_TARGETS ?= decode ring_page serve_race engine_ops engine_bytes engine_heap stream_decode
FUZZ_TIME ?= 25
# A stalled input (over 10 s) is a finding too, as is going over 2 GiB.
FUZZ_FLAGS := -max_total_time=$(FUZZ_TIME) -max_len=8192 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
# cargo-fuzz needs nightly flags (-Zsanitizer). Use the nightly toolchain
# when there is one; otherwise the stable one with RUSTC_BOOTSTRAP=1, which
# unlocks the same flags (a machine may offer only one toolchain).
FUZZ_CARGO = $$(rustup toolchain list 2>/dev/null | grep -q '^nightly' \
	&& echo 'cargo +nightly' || echo 'env RUSTC_BOOTSTRAP=1 cargo') fuzz

.PHONY: fuzz-setup fuzz-seeds fuzz-test fuzz-run

## cargo-fuzz, and a nightly toolchain if one can be had (idempotent).
fuzz-setup:
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal \
		|| echo "fuzz-setup: no nightly toolchain; fuzzing with stable and RUSTC_BOOTSTRAP=1"
	@command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked

## Seed corpora (written by fuzz/seeds.py; the fuzzer adds its own finds).
fuzz-seeds:
	python3 fuzz/seeds.py fuzz/corpus

fuzz-test: fuzz-setup fuzz-seeds
	cargo fmt --manifest-path fuzz/Cargo.toml -- --check
	cd fuzz && timeout 900 $(FUZZ_CARGO) build
	mkdir -p fuzz/artifacts
	@cd fuzz && for t in $(FUZZ_TARGETS); do \
		if [ -d findings/$$t ]; then \
			echo "fuzz-test: $$t replays the inputs of its fixed findings (fuzz/findings/$$t)"; \
			timeout 600 $(FUZZ_CARGO) run $$t findings/$$t/* -- -runs=1 -rss_limit_mb=2048 \
				>artifacts/$$t-findings.log 2>&1 \
				|| { tail -n 80 artifacts/$$t-findings.log; echo "fuzz-test: $$t FAILED on a fixed finding"; exit 1; }; \
		fi; \
		echo "fuzz-test: $$t for $(FUZZ_TIME) s"; \
		timeout $$(( $(FUZZ_TIME) + 120 )) $(FUZZ_CARGO) run $$t -- $(FUZZ_FLAGS) >artifacts/$$t.log 2>&1; \
		rc=$$?; \
		if [ $$rc -ne 0 ]; then tail -n 80 artifacts/$$t.log; echo "fuzz-test: $$t FAILED ($$rc), see fuzz/artifacts/$$t"; exit 1; fi; \
		grep -E '^#[0-9]+[[:space:]]+DONE' artifacts/$$t.log | tail -n 1; \
	done
	@echo "fuzz-test: all targets ran clean"

fuzz-run: fuzz-setup fuzz-seeds
	cd fuzz && $(FUZZ_CARGO) run $(T) -- -max_len=8192 -timeout=10 $(FUZZ_ARGS)
