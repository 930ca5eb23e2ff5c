"""Runs the documentation checks of scripts/ci/docs.sh against a real server (see that script).

Steps, each fatal on failure:
  examples  - every `example:` block of docs/clients.md against the server, then a server restart
              the Python, browser and Swift examples must resume across (no gap, no duplicate);
  asyncapi  - a scripted WebSocket session; every message sent and received validates against
              the asyncapi.yaml message it should be;
  openapi   - schemathesis against openapi.yaml with the admin key.
"""

import argparse
import os
import sys
import tempfile
import warnings

# websockets 17 prefers `with connect(...)`; these sessions are closed explicitly.
warnings.filterwarnings("ignore", category=DeprecationWarning, module="websockets")
warnings.filterwarnings("ignore", message="connect\\(\\) must be used as a context manager")

from docs_checks.asyncapi_check import step_asyncapi  # noqa: E402
from docs_checks.examples import example_blocks, step_examples  # noqa: E402
from docs_checks.openapi_check import step_openapi  # noqa: E402
from docs_checks.support import CHILDREN, ROOT, Server, log  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True, help="SwiftPM bin path (blobhub-realtime, blobhub-realtime-example)")
    parser.add_argument("--venv", required=True)
    parser.add_argument("--max-examples", type=int, default=20)
    parser.add_argument("--only", choices=["examples", "asyncapi", "openapi"],
                        help="run one step (asyncapi needs the objects the examples create, so it runs them first)")
    args = parser.parse_args()
    args.venv = os.path.abspath(args.venv)

    with open(os.path.join(ROOT, "docs", "clients.md")) as f:
        blocks = example_blocks(f.read())
    with tempfile.TemporaryDirectory(prefix="blobhub-docs-") as directory:
        server = Server(os.path.join(args.bin, "blobhub-realtime"), directory)
        try:
            server.start()
            if args.only in (None, "examples", "asyncapi"):
                step_examples(args, server, directory, blocks)
            if args.only in (None, "asyncapi"):
                step_asyncapi(server)
            if args.only in (None, "openapi"):
                step_openapi(args, server, directory)
        except BaseException:
            with open(os.path.join(directory, "server.log"), "rb") as f:
                sys.stderr.write("---- server log (tail) ----\n" + f.read()[-4000:].decode(errors="replace") + "\n")
            raise
        finally:
            for child in CHILDREN:
                if child.poll() is None:
                    child.kill()
            server.stop()
    log("all documentation checks passed")


if __name__ == "__main__":
    main()
