//! MODE B decoding of arbitrary bytes: no panic, the same result for any split of input and
//! output buffers, and re-encoding what was decoded round-trips.

#![no_main]

use ftp_proto::transfer::{BlockDecoder, BlockEncoder};
use libfuzzer_sys::fuzz_target;

mod transfer_common;
use transfer_common::{check_event_codec, Setup};

fuzz_target!(|data: &[u8]| {
    if let Some(setup) = Setup::new(data) {
        check_event_codec(&setup, BlockDecoder::new, BlockEncoder::new);
    }
});
