# Differential test: our daemon against Debian's C xenstored 4.17.
#
#   make diff-test       replay tests/diff/corpus/*.xs against a fresh C
#                        xenstored and a fresh xenstored-rs per entry (socket
#                        clients and simring guests), compare every reply and
#                        watch event byte for byte; only the differences listed
#                        in tests/diff/differences.toml are accepted.
#                        oxenstored's transcripts are recorded too, for
#                        information only. Transcripts: build/diff/<daemon>/.
#   make diff-selfcheck  C against C: the corpus and its normalisations must be
#                        deterministic.
#
# Options: DIFF_ARGS="-k watch/" runs only matching entries; DIFF_OX= (empty)
# skips oxenstored.

DIFF_OX ?= --ox
DIFF_ARGS ?=
DIFF_RUN = timeout 900 python3 tests/diff/xsdiff.py --peers $(PEERS) --ours $(HOST_BIN) --out $(BUILD)/diff

.PHONY: diff-test diff-selfcheck

diff-test: host host-deps
	$(DIFF_RUN) $(DIFF_OX) $(DIFF_ARGS)

diff-selfcheck: host-deps
	$(DIFF_RUN) --a c --b c $(DIFF_ARGS)
