"""The worked example's claims as pytest tests (docs/writing-claims.md): ``pytest docs/examples/test_prefix_claims.py``."""
from pathlib import Path

from proofs import assert_claim, claim_tests

CLAIMS_FILE = Path(__file__).with_name("prefix_claims.py")

# one test item per claim of the file: test_prefix_claims[example.prefix_shift], ...
test_prefix_claims = claim_tests(CLAIMS_FILE)


def test_catalogue_claim_still_holds():
    assert_claim("prefix.relative_attention")


def test_one_claim_of_the_file_with_more_instances():
    result = assert_claim("example.prefix_never_adds_attention", claims=CLAIMS_FILE, instances=4000)
    assert result.layers["smt"].status.value == "PROVED"
