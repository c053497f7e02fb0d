#!/usr/bin/env python3
"""Independent validation of proofpack report outputs, used by report_render.rs.

  validate_report.py schema SCHEMA.json DOC.json   -> validates DOC against SCHEMA (jsonschema,
                                                      draft picked from the schema's $schema)
  validate_report.py junit FILE.xml                -> parses with junitparser, prints
                                                      {"tests": n, "failures": n, "skipped": n, "cases": [...]}

Exit status 0 on success; on a validation error prints it and exits 1.
"""
import json
import sys


def schema(schema_path, doc_path):
    import jsonschema

    with open(schema_path, encoding="utf-8") as f:
        sch = json.load(f)
    with open(doc_path, encoding="utf-8") as f:
        doc = json.load(f)
    cls = jsonschema.validators.validator_for(sch)
    cls.check_schema(sch)
    errors = sorted(cls(sch).iter_errors(doc), key=lambda e: list(e.path))
    for e in errors:
        print(f"{list(e.path)}: {e.message}")
    if errors:
        sys.exit(1)
    print(json.dumps({"valid": True, "validator": cls.__name__}))


def junit(path):
    from junitparser import JUnitXml, Failure, Skipped

    xml = JUnitXml.fromfile(path)
    tests = failures = skipped = 0
    cases = []
    for suite in xml:
        for case in suite:
            tests += 1
            kinds = [type(r).__name__ for r in case.result]
            if any(isinstance(r, Failure) for r in case.result):
                failures += 1
            if any(isinstance(r, Skipped) for r in case.result):
                skipped += 1
            cases.append({"suite": suite.name, "class": case.classname, "name": case.name, "results": kinds})
    # The totals the file declares (read, not recomputed) are returned so the
    # caller can check they agree with what the file contains.
    print(json.dumps({"tests": tests, "failures": failures, "skipped": skipped,
                      "declared_tests": xml.tests, "declared_failures": xml.failures,
                      "cases": cases}))


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "schema":
        schema(sys.argv[2], sys.argv[3])
    elif mode == "junit":
        junit(sys.argv[2])
    else:
        sys.exit(f"unknown mode {mode}")
