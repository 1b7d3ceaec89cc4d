"""One module per control (test_<control>.py): its rule, pack, live and logs cases.

A module may define `LOG_CASES` [(label, CloudTrail record, {(control, status)})]; the audit-log
table test (tests/test_logs_detections.py) counts them when it checks that every declared
detection has a case.
"""
