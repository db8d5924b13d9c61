"""Matching policy: thresholds, exemplar selection, staff filter — pure logic, no I/O."""
