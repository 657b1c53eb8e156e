//! Arbitrary bytes, as a hostile or corrupt store could return them, fed to
//! `codec::decode` for several types.
//!
//! Properties: decoding never panics (nor aborts on a huge allocation); a
//! value that decodes re-encodes (with every codec) and decodes back to the
//! same value.

#![no_main]

use std::collections::HashMap;
use std::fmt::Debug;

use cache_core::codec::{decode, encode};
use cache_core::Codec;
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Profile {
    name: String,
    scores: Vec<u32>,
    manager: Option<u64>,
}

fn round_trips<T>(data: &[u8])
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let Ok(value) = decode::<T>(data) else {
        return;
    };
    for codec in [Codec::Bincode, Codec::Json] {
        let bytes = encode(&value, codec).unwrap_or_else(|e| {
            panic!("{value:?} decoded but does not encode with {codec:?}: {e}")
        });
        let again = decode::<T>(&bytes).unwrap_or_else(|e| {
            panic!("{value:?} encoded with {codec:?} as {bytes:?} does not decode: {e}")
        });
        assert_eq!(again, value, "{codec:?} round trip changed the value");
    }
}

fuzz_target!(|data: &[u8]| {
    round_trips::<u64>(data);
    round_trips::<i64>(data);
    round_trips::<u8>(data);
    round_trips::<String>(data);
    round_trips::<Vec<u8>>(data);
    round_trips::<Profile>(data);
    round_trips::<Option<Profile>>(data);
    round_trips::<HashMap<String, u64>>(data);
    round_trips::<(bool, char, Vec<String>)>(data);
});
