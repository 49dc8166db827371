#![no_main]
//! C2SP signed notes and checkpoints: round-trip byte for byte.
use libfuzzer_sys::fuzz_target;
use signet_tlog::checkpoint::Checkpoint;
use signet_tlog::note::Note;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(note) = Note::parse(text) {
        assert_eq!(note.serialize(), text);
        if let Ok(checkpoint) = Checkpoint::from_note(&note) {
            assert_eq!(checkpoint.to_text(), note.text());
        }
    }
});
