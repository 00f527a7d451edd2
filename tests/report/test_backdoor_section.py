"""The backdoor section's verdict: only the agreement of the calibrated scans fails a model."""
import pytest

from nnsafety.report.sections_backdoor import severity


@pytest.mark.parametrize("free, with_samples, expected", [
    (True, None, "fail"), (False, None, "pass"),  # no clean samples: the data-free scan decides
    (True, True, "fail"), (False, False, "pass"),
    (True, False, "warn"), (False, True, "warn"),  # one scan alone: a warning, never a FAIL
])
def test_severity_fails_only_when_every_scan_flags(free, with_samples, expected):
    assert severity(free, with_samples) == expected


def test_audit_backdoor_finding_records_both_scans(full_audit):
    m = full_audit.card["metrics"]["backdoor"]
    free = m["data_free"]
    assert set(free) == {"verdict", "score", "threshold", "fpr", "suspected_target"}
    finding = next(f for f in full_audit.card["findings"] if f["id"] == "backdoor")
    with_samples = m["verdict"] == "backdoored"
    assert finding["severity"] == severity(free["verdict"] == "backdoored", with_samples)
    assert "data-free scan" in finding["reason"]  # the audit hands the scan its clean samples by default
