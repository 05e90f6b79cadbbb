//! Kasa's browser end-to-end suite; the tests live in `tests/` and share `tests/common`.
