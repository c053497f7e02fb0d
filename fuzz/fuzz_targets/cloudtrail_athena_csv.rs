//! Fuzz the Athena CSV result reader: arbitrary bytes after the header of
//! the `kms-trail sql --athena-table` query (so the fuzzer spends its time
//! in rows: quoting, line ends, field counts, JSON text columns), and the
//! record accessors. Seed corpus: `testvectors/cloudtrail/athena-query-results.csv`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cloudtrail::fuzz_read_athena_csv(data);
});
