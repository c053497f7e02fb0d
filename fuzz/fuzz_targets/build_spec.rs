//! Fuzzes the TOML build-spec parser and validator: any input must yield a
//! spec or a typed error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(spec) = build_spec::spec::Spec::parse(data) {
        for name in spec.profiles.keys() {
            if let Ok(p) = spec.profile(name) {
                let _ = spec.target_for(p);
            }
        }
        let _ = spec.fixed_epoch();
        let _ = spec.app_source();
    }
});
