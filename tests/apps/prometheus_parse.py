# Parses a Prometheus text page on stdin with prometheus_client's own
# parser (a malformed line raises) and prints each family and sample as
# JSON, one per line.
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

for family in text_string_to_metric_families(sys.stdin.read()):
    for sample in family.samples:
        print(json.dumps({
            "family": family.name,
            "type": family.type,
            "name": sample.name,
            "labels": sample.labels,
            "value": sample.value,
        }))
