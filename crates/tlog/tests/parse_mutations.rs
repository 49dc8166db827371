//! A cheap stand-in for fuzzing: every single-byte deletion, duplication and
//! substitution (from a set of structurally interesting bytes) of real notes
//! must parse without panicking, and whatever parses must serialize back to
//! exactly the input.

use signet_tlog::{Checkpoint, Note};

const SEEDS: &[&str] = &[
    "rekor.sigstore.dev - 2605736670972794746\n23083062\ndauhleYK4YyAdxwwDtR0l0KnSOWZdG2bwqHftlanvcI=\nTimestamp: 1689177396617352539\n\n— rekor.sigstore.dev wNI9ajBFAiBxaGyEtxkzFLkaCSEJqFuSS3dJjEZCNiyByVs1CNVQ8gIhAOoNnXtmMtTctV2oRnSRUZAo4EWUYPK/vBsqOzAU6TMs\n",
    "log2025-alpha1.rekor.sigstage.dev\n736\nrs1YPY0ydAV0lxgfrq5pE4oRpUJwo3syeps5+eGUTDI=\n\n— log2025-alpha1.rekor.sigstage.dev 8w1amdbj1mjNN674dHAkD92+QZoEgBC7o0mXYSTRluDjQrOPjrps3zQB9ut+ShLepyZPsWBDi5IB3yXyjgjQT6OG9A8=\n— witness.example O8PH5AAAAABopO8+4O9uzScQrNEnGdKLYXSPoUjH1Se4n92W+wT/j5Kel/4J2XWE4bEe9bpIVUD6EGOeUDFkSWz/rbDhvVcJ/2OrDw==\n",
    "a\n\nb\n\n\n— k AAAAAAA=\n",
];

const INTERESTING: &[u8] = b"\n \t\r+=0/aA-\xe2\x80\x94";

fn check(bytes: &[u8]) -> usize {
    let Ok(s) = std::str::from_utf8(bytes) else {
        return 0;
    };
    let mut parsed = 0;
    if let Ok(note) = Note::parse(s) {
        assert_eq!(note.serialize(), s);
        parsed += 1;
    }
    if let Ok(cp) = Checkpoint::from_text(s) {
        assert_eq!(cp.to_text(), s);
        parsed += 1;
    }
    parsed
}

#[test]
fn single_byte_mutations_round_trip_or_fail() {
    let mut parsed = 0;
    for seed in SEEDS {
        let b = seed.as_bytes();
        parsed += check(b);
        for i in 0..b.len() {
            let mut del = b.to_vec();
            del.remove(i);
            parsed += check(&del);
            let mut dup = b.to_vec();
            dup.insert(i, b[i]);
            parsed += check(&dup);
            for &c in INTERESTING {
                let mut sub = b.to_vec();
                sub[i] = c;
                parsed += check(&sub);
            }
        }
        // Every prefix, as a truncated download would give.
        for end in 0..b.len() {
            parsed += check(&b[..end]);
        }
    }
    // Many mutations (e.g. inside the origin) still parse; the round trip is
    // what matters.
    assert!(parsed > 100, "{parsed}");
}
