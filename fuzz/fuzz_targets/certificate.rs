#![no_main]
//! Certificates, Fulcio identities and SCT lists from arbitrary DER.
use libfuzzer_sys::fuzz_target;
use signet_pki::cert::Certificate;

fuzz_target!(|data: &[u8]| {
    if let Ok(cert) = Certificate::from_der(data) {
        let _ = signet_pki::fulcio::identity(&cert);
        if let Some((_, value)) = cert.extension(&signet_pki::sct::SCT_LIST_OID) {
            let _ = signet_pki::sct::parse_sct_list(value);
        }
        let _ = cert.tbs_der_without_extension(&signet_pki::sct::SCT_LIST_OID);
    }
    let _ = signet_pki::sct::parse_sct_list(data);
});
