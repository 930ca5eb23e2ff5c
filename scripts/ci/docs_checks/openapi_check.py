"""Step 3: openapi.yaml is a valid OpenAPI 3.1 document, a copied binary serves both API documents,
and schemathesis finds no failure against the running server."""

import os
import subprocess

from .support import ADMIN_KEY, ROOT, fail, http, log

# ---------------------------------------------------------------------------------------------
# 3. openapi.yaml with schemathesis

def step_openapi(args, server, directory):
    # The document itself first: OpenAPI 3.1 structure and references.
    from openapi_spec_validator import validate
    from openapi_spec_validator.readers import read_from_filename
    validate(read_from_filename(os.path.join(ROOT, "openapi.yaml"))[0])
    log("openapi.yaml is a valid OpenAPI 3.1 document")
    for name in ("openapi.yaml", "asyncapi.yaml"):
        status, served, headers = http("GET", f"{server.base}/{name}")
        with open(os.path.join(ROOT, name), "rb") as f:
            if status != 200 or served != f.read() or headers.get("Content-Type") != "application/yaml":
                fail(f"GET /{name} from a copied binary is not the repository's {name}")
    log("a copied binary serves openapi.yaml and asyncapi.yaml byte for byte")
    # Every check, every phase (examples, coverage, fuzzing, stateful), schemathesis' own defaults: the
    # run a new user makes against the served document (issue 16). No config file, nothing switched off.
    command = [
        os.path.join(args.venv, "bin", "schemathesis"),
        "run", os.path.join(ROOT, "openapi.yaml"),
        "--url", server.base, "--header", f"Authorization: Bearer {ADMIN_KEY}",
        "--checks", "all", "--max-examples", str(args.max_examples), "--seed", "8",
        "--request-timeout", "10", "--no-color",
    ]
    log("schemathesis: " + " ".join(command))
    # Run in the temporary directory: schemathesis keeps a cache of past failures in its working directory.
    result = subprocess.run(command, timeout=300, cwd=directory)
    if result.returncode != 0:
        fail(f"schemathesis found failures (exit {result.returncode})")
    log("openapi: schemathesis found no failure")
