//! MODE C decoding of arbitrary bytes under TYPE A, E or I: no panic, the same result for any
//! split of input and output buffers, and re-encoding what was decoded round-trips.

#![no_main]

use ftp_proto::transfer::{CompressedDecoder, CompressedEncoder, DataType, FormatControl};
use libfuzzer_sys::fuzz_target;

mod transfer_common;
use transfer_common::{check_event_codec, Setup};

fuzz_target!(|data: &[u8]| {
    let Some(setup) = Setup::new(data) else {
        return;
    };
    let data_type = match setup.selector % 3 {
        0 => DataType::Ascii(FormatControl::NonPrint),
        1 => DataType::Ebcdic(FormatControl::NonPrint),
        _ => DataType::Image,
    };
    check_event_codec(
        &setup,
        || CompressedDecoder::new(data_type),
        || CompressedEncoder::new(data_type),
    );
});
