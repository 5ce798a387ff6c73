"""Keeps writing Bedrock invocation-log records into a CloudWatch Logs stand-in, for the soak
run (scripts/soak): `rate` records a second, stamped with the current time, taken in turn from
the JSON-lines files given (gzipped or not), through the real PutLogEvents API. Each second it
also puts AWS/Bedrock metrics (Invocations, InputTokenCount) for one model per tier form, so
the daemon's metrics poll has series to discover and fetch.

Usage: seed_logs.py --endpoint URL --group NAME --rate N --seconds S FILE...
Prints the number of records written when done.
"""

import argparse
import gzip
import itertools
import sys
import time

import boto3


def read_lines(paths):
    for path in paths:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as handle:
            for line in handle:
                line = line.strip()
                if line:
                    yield line


def metric_data(rate):
    """One second of traffic in each tier form the daemon reads."""
    model = "openai.gpt-oss-120b-1:0"
    forms = [
        [{"Name": "ModelId", "Value": model}],
        [{"Name": "ModelId", "Value": model}, {"Name": "ResolvedServiceTier", "Value": "flex"}],
        [{"Name": "ModelId", "Value": model + "+priority"}],
    ]
    return [
        {"MetricName": name, "Dimensions": dimensions, "Value": float(value)}
        for dimensions in forms
        for name, value in (("Invocations", rate), ("InputTokenCount", rate * 500))
    ]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--stream", default="aws/bedrock/modelinvocations")
    parser.add_argument("--rate", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=600)
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()

    logs = boto3.client(
        "logs",
        endpoint_url=args.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    cloudwatch = boto3.client(
        "cloudwatch",
        endpoint_url=args.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    logs.create_log_group(logGroupName=args.group)
    logs.create_log_stream(logGroupName=args.group, logStreamName=args.stream)

    lines = itertools.cycle(list(read_lines(args.files)))
    written = 0
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        started = time.monotonic()
        now_ms = int(time.time() * 1000)
        events = [{"timestamp": now_ms, "message": next(lines)} for _ in range(args.rate)]
        logs.put_log_events(logGroupName=args.group, logStreamName=args.stream, logEvents=events)
        written += len(events)
        cloudwatch.put_metric_data(Namespace="AWS/Bedrock", MetricData=metric_data(args.rate))
        time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
    print(written)
    return 0


if __name__ == "__main__":
    sys.exit(main())
