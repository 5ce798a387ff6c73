#!/usr/bin/env python3
"""Runs moto's server (all services, in memory) on 127.0.0.1 for the integration tests.

This is moto's own WSGI application and request handler, as `moto_server` runs them, with two
differences the tests need:

* it can bind port 0 and reports the port it got on one "ready <url>" line on stdout, so a test
  never races another test for a port;
* it fixes two moto 5.2.5 CloudWatch bugs that would make tierwatch's tests wrong (see
  `fix_cloudwatch_dimension_bugs`).

Usage: moto_standin.py --port 0 [--exit-on-stdin-eof] [--verbose]
"""

import argparse
import logging
import os
import sys
import threading

from moto.cloudwatch import models as cloudwatch_models
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server


def fix_cloudwatch_dimension_bugs() -> None:
    """Patches moto's CloudWatch metric identity so it matches AWS.

    1. ListMetrics lists one entry per *datapoint* for any metric with two or more dimensions
       (ModelId + ServiceTier, say) and for metrics without dimensions: moto's
       `are_dimensions_same` compares every dimension with every other one, so two different
       dimensions never look "the same". AWS lists each metric (namespace, name, dimension set)
       once. The replacement dedupes on that identity in one pass.
    2. GetMetricData finds no data when the query names the dimensions in another order than
       PutMetricData did: moto compares `sorted()` lists, but `Dimension.__lt__` is not an
       ordering. AWS ignores dimension order; a real ordering makes `sorted()` canonical.
    """

    def get_filtered_metrics(self, metric_name, namespace, dimensions):
        seen = set()
        metrics = []
        for datum in self.get_all_metrics():
            if not datum.filter(namespace=namespace, name=metric_name, dimensions=dimensions):
                continue
            identity = (
                datum.namespace,
                datum.name,
                frozenset((d.name, d.value) for d in datum.dimensions),
            )
            if identity not in seen:
                seen.add(identity)
                metrics.append(datum)
        return metrics

    def dimension_less_than(self, other):
        return (self.name or "", self.value or "") < (other.name or "", other.value or "")

    cloudwatch_models.CloudWatchBackend.get_filtered_metrics = get_filtered_metrics
    cloudwatch_models.Dimension.__lt__ = dimension_less_than


def exit_when_stdin_closes() -> None:
    """Ends this process when the test process that started it goes away, even by SIGKILL:
    the test holds the write end of our stdin, and the kernel closes it when the test dies."""
    sys.stdin.buffer.read()
    os._exit(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="0 picks a free port")
    parser.add_argument("--exit-on-stdin-eof", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args()

    if not args.verbose:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    fix_cloudwatch_dimension_bugs()

    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(
        "127.0.0.1", args.port, app, threaded=True, request_handler=MotoRequestHandler
    )
    if args.exit_on_stdin_eof:
        threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    # The socket is listening once make_server returns: connections queue until serve_forever.
    print(f"ready http://127.0.0.1:{server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
