//! Feeds arbitrary bytes, cut at arbitrary points, to the daemon protocol
//! decoder. It must never panic or allocate without bound, and every frame
//! it accepts must encode back to bytes that decode to the same frame.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wsgi_core::protocol::{Decoder, decode_all, encode};

fuzz_target!(|data: &[u8]| {
    // The first byte chooses how the rest is sliced into reads.
    let Some((&step, bytes)) = data.split_first() else {
        return;
    };
    let step = usize::from(step).max(1);
    let mut decoder = Decoder::new();
    let mut frames = Vec::new();
    'feed: for piece in bytes.chunks(step) {
        decoder.feed(piece);
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(_) => break 'feed,
            }
        }
    }
    for frame in frames {
        let mut encoded = Vec::new();
        encode(&frame, &mut encoded);
        let again = decode_all(&encoded).expect("an accepted frame re-encodes to valid bytes");
        assert_eq!(again, vec![frame]);
    }
});
