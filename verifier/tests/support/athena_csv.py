#!/usr/bin/env python3
"""Write CloudTrail records as Athena delivers the result of the query of
`proofpack kms-trail sql --athena-table` (docs/notes/cloudtrail.md §8).

An independent producer for the reader's tests: Python's csv module, not
proofpack's code. Input: CloudTrail log files ({"Records": [...]}, gzip or
plain) or directories of them. Output (stdout or -o FILE): the CSV result
object Athena writes to the OutputLocation: a header row of the selected
columns' (lowercase) names, every value in double quotes, SQL NULL as an
empty unquoted field, rows in eventtime order (the query's ORDER BY).

Columns as the documented CloudTrail table holds them: requestparameters,
responseelements and additionaleventdata are the record's JSON text;
useridentity and resources are structures of that table, selected as
json_format(CAST(... AS JSON)): objects with the table's lowercase field
names, every declared field present (null when the record lacks it).

usage: athena_csv.py [-o OUT] PATH...
"""
import csv
import gzip
import io
import json
import os
import sys

COLUMNS = ["eventversion", "eventtime", "eventsource", "eventname", "awsregion",
           "sourceipaddress", "useragent", "errorcode", "errormessage", "requestid",
           "eventid", "eventtype", "recipientaccountid", "useridentity",
           "requestparameters", "responseelements", "additionaleventdata", "resources"]
TEXT = {"eventversion": "eventVersion", "eventtime": "eventTime", "eventsource": "eventSource",
        "eventname": "eventName", "awsregion": "awsRegion",
        "sourceipaddress": "sourceIPAddress", "useragent": "userAgent",
        "errorcode": "errorCode", "errormessage": "errorMessage", "requestid": "requestID",
        "eventid": "eventID", "eventtype": "eventType",
        "recipientaccountid": "recipientAccountId"}
JSON_TEXT = {"requestparameters": "requestParameters",
             "responseelements": "responseElements",
             "additionaleventdata": "additionalEventData"}
# The struct fields of the documented table (useridentity abridged to the
# scalar fields and sessioncontext).
IDENTITY = ["type", "principalId", "arn", "accountId", "invokedBy", "accessKeyId", "userName"]
RESOURCE = ["ARN", "accountId", "type"]


def compact(v):
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def struct(obj, fields):
    return {f.lower(): obj.get(f) for f in fields}


def row(r):
    out = []
    for c in COLUMNS:
        if c in TEXT:
            out.append(r.get(TEXT[c]))
        elif c in JSON_TEXT:
            v = r.get(JSON_TEXT[c])
            out.append(None if v is None else compact(v))
        elif c == "useridentity":
            u = r.get("userIdentity")
            if u is None:
                out.append(None)
            else:
                s = struct(u, IDENTITY)
                s["sessioncontext"] = u.get("sessionContext")
                out.append(compact(s))
        elif c == "resources":
            rs = r.get("resources")
            out.append(None if rs is None else compact([struct(x, RESOURCE) for x in rs]))
    return out


def records(path):
    if os.path.isdir(path):
        for d, _, files in sorted(os.walk(path)):
            for f in sorted(files):
                if f.endswith(".json") or f.endswith(".json.gz"):
                    yield from records(os.path.join(d, f))
        return
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    yield from json.loads(data)["Records"]


def main(argv):
    out = None
    if len(argv) >= 2 and argv[0] == "-o":
        out, argv = argv[1], argv[2:]
    rows = [row(r) for p in argv for r in records(p)]
    rows.sort(key=lambda x: x[COLUMNS.index("eventtime")] or "")
    buf = io.StringIO()
    # Every value quoted; NULL (None) becomes a marker, then an empty
    # unquoted field, as Athena writes it (csv.QUOTE_NOTNULL is Python 3.12+).
    null = "\x00NULL\x00"
    w = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n")
    w.writerow(COLUMNS)
    w.writerows([[null if v is None else v for v in r] for r in rows])
    text = buf.getvalue().replace('"' + null + '"', "")
    if out:
        with open(out, "w", encoding="utf-8", newline="") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main(sys.argv[1:])
